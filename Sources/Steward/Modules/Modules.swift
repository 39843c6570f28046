import StewardCrash
import StewardDevice
import StewardMedia
import StewardPermissions
import StewardTelemetry

extension Steward {
    /// The feature modules, opened in dependency order over the shared core. The one list the
    /// facade walks (``all``) for delivery, periodic work, stop, the access report, export and
    /// erase: adding a module is a field here, a line in ``open(_:)`` and ``all``, and a file of
    /// its own (see ``FacadeModule``).
    struct Modules: Sendable {
        let permissions: PermissionGate
        let device: DeviceIdentifiers
        let telemetry: Telemetry
        let metrics: TelemetryMetrics
        let media: MediaStore
        let crashes: CrashReporter
        /// What start made of the crash records an earlier run left.
        let pendingCrashes: CrashReporter.PendingResult

        /// Every module, in the order they opened.
        var all: [any FacadeModule] { [permissions, device, telemetry, metrics, media, crashes] }

        /// Opens every module; a module's `open` is in its own file. When one fails, those
        /// opened before it are released (crash handlers removed), in reverse order, whatever
        /// the order of the list.
        static func open(_ context: FacadeContext) throws -> Modules {
            var opened: [any FacadeModule] = []
            func track<M: FacadeModule>(_ module: M) -> M {
                opened.append(module)
                return module
            }
            do {
                let permissions = track(try PermissionGate.open(context))
                let device = track(try DeviceIdentifiers.open(context, permissions: permissions))
                let telemetry = track(try Telemetry.open(context, permissions: permissions))
                let metrics = track(TelemetryMetrics.open(context))
                let media = track(try MediaStore.open(context, permissions: permissions))
                let (crashes, pending) = try CrashReporter.open(context)
                _ = track(crashes)
                return Modules(
                    permissions: permissions, device: device, telemetry: telemetry, metrics: metrics, media: media,
                    crashes: crashes, pendingCrashes: pending)
            } catch {
                for module in opened.reversed() { module.release() }
                throw error
            }
        }
    }
}
