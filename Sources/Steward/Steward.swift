import Foundation
public import StewardCore
import StewardCrash
import StewardDevice
import StewardMedia
import StewardHTTP
import StewardPermissions
import StewardTelemetry
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one entry point: starts every module over one data folder, wires them together, and
/// gives the host the user's data rights and the generated disclosure.
///
/// ```swift
/// import Steward
///
/// var configuration = Steward.Configuration(appID: "org.example.scanner", manifest: try .decode(json: manifestBytes))
/// configuration.otlpEndpoint = URL(string: "https://collector.example.com:4318")
/// let steward = try Steward.start(configuration)
/// try steward.consent.grant([.analytics])
/// steward.telemetry.record("screen_view", attributes: ["screen": .string("scan")])
/// _ = try await steward.permissions.request(.camera)
/// await steward.send()
/// ```
///
/// What start does, in order: checks the configuration (every problem at once), claims the
/// process (one instance per process), opens the vault, the consent ledger, the audit ledger
/// and the consent gate, the permission gate (with the age gate), the device identifiers
/// (raw identifiers follow the `deviceIdentity` permission), telemetry and metrics (consent
/// at record and send time, deletion requests after a withdrawal), the crash reporter (its
/// handler follows crash-reporting consent), processes crash records left by an earlier run,
/// makes one uploader per recipient, and starts the automatic delivery
/// (`Configuration.automaticDelivery`). Modules left out of
/// `Configuration.modules` are inert.
public final class Steward: Sendable {
    /// The configuration it started with.
    public let configuration: Configuration
    /// The data folder.
    public let dataDirectory: String
    /// The manifest it enforces.
    public var manifest: PrivacyManifest { configuration.manifest }
    /// The encrypted vault every module keeps its data in.
    public let vault: Vault
    /// Where the vault key is kept: the store chosen for the data folder (and recorded there),
    /// or `KeyStore/host` for ``Configuration/keyProvider``. See ``Configuration/keyProvider``.
    ///
    /// ```swift
    /// print("vault key in \(steward.keyStore)")  // "secret-service", "systemd-credential steward.vault-key", "file"
    /// ```
    public var keyStore: KeyStore { keys.store }
    /// The user's consent per purpose, with receipts and the age gate.
    public let consent: ConsentLedger
    /// Stores data under its purpose's consent (and pending policy).
    public let consentGate: ConsentGate
    /// What was collected, dropped and disclosed, per day, category and purpose.
    public let audit: AuditLedger
    /// The generated disclosure of what the SDK enforces.
    public let disclosure: Disclosure
    /// One uploader per recipient Steward delivers to (crash and telemetry recipients).
    public var uploaders: [RecipientID: Uploader] { delivery.uploaders }
    /// Whether this instance still runs (false after ``stop()`` or an erase).
    public var isRunning: Bool { running.load(ordering: .acquiring) }

    /// The user's data rights: access report, export, erase.
    public var rights: DataRights { DataRights(steward: self) }

    // The feature modules (permissions, device, telemetry, metrics, media, crashes) have their
    // public accessors in their files under Modules/.
    /// The feature modules, in the one list the facade walks.
    let modules: Modules
    /// The vault key's store and provider (erase makes the new vault with it).
    let keys: KeyChoice
    /// The uploaders, their transports and the consent observer that links them to the ledger.
    let delivery: Delivery
    /// The transport behind each uploader that has one.
    var transports: [RecipientID: any Transport] { delivery.transports }
    /// The plaintext outbox, when the host asked for one.
    var outbox: FileTransport? { delivery.outbox }
    /// The checked configuration it started from (service name and resource attributes
    /// included).
    let plan: Plan
    let running = Atomic<Bool>(true)
    /// The automatic delivery's task, while it runs.
    let automaticDeliveryTask = Mutex<Task<Void, Never>?>(nil)
    /// Queueing passes done (the automatic delivery's and send()'s), for tests.
    let queuePasses = Atomic<Int>(0)
    /// Serialises the queueing of what the modules hold (the host's send and the automatic
    /// delivery may ask at once).
    let queueing = Mutex(())
    let resourceCache = Mutex<TelemetryResource?>(nil)

    /// Whether an instance runs in this process.
    private static let processClaim = Atomic<Bool>(false)

    private init(_ context: FacadeContext, modules: Modules, delivery: Delivery) {
        self.configuration = context.configuration
        self.dataDirectory = context.dataDirectory
        self.vault = context.vault
        self.keys = context.keys
        self.consent = context.consent
        self.consentGate = context.gate
        self.audit = context.audit
        self.disclosure = context.plan.disclosure
        self.plan = context.plan
        self.modules = modules
        self.delivery = delivery
    }

    // MARK: - Start

    /// Starts Steward: see the type's discussion for what it does.
    ///
    /// - Throws: ``StewardError`` — ``StewardError/Code/invalidConfiguration`` listing every
    ///   problem of the configuration at once; ``StewardError/Code/alreadyStarted`` when an
    ///   instance runs in this process (no second set of signal handlers);
    ///   ``StewardError/Code/startFailed`` when the data cannot be opened (a vault locked by
    ///   another process, a wrong key).
    public static func start(_ configuration: Configuration) throws(StewardError) -> Steward {
        let plan = try Plan.check(configuration)
        guard processClaim.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else {
            throw StewardError(
                .alreadyStarted,
                problems: [
                    "Steward runs already in this process; use that instance, or call stop() on it before starting another"
                ])
        }
        do {
            return try open(configuration, plan: plan)
        } catch {
            if configuration.logger != nil { StewardDiagnostics.handler = nil }
            processClaim.store(false, ordering: .releasing)
            throw StewardError(.startFailed, problems: ["\(error)"], underlying: error)
        }
    }

    private static func open(_ configuration: Configuration, plan: Plan) throws -> Steward {
        // From the first step on, so the opening itself (a quarantined record) is told too.
        if let logger = configuration.logger { StewardDiagnostics.handler = StewardDiagnostics.writing(to: logger) }
        let manifest = configuration.manifest
        let clock = configuration.wallClock
        let directory = plan.dataDirectory
        let keys = try KeyChoice(configuration, dataDirectory: directory)
        let vault = try Vault.open(directory: directory + "/vault", keyProvider: keys.provider, clock: clock)
        do {
            let consent = try ConsentLedger(
                manifest: manifest, vault: vault, jurisdiction: configuration.jurisdiction, clock: clock)
            let audit = try AuditLedger(vault: vault, clock: clock)
            let gate = ConsentGate(
                ledger: consent, vault: vault, audit: audit, policies: configuration.pendingPolicies,
                defaultPolicy: configuration.defaultPendingPolicy, clock: clock)
            let context = FacadeContext(
                configuration: configuration, plan: plan, dataDirectory: directory, keys: keys, vault: vault,
                consent: consent, gate: gate, audit: audit)
            let modules = try Modules.open(context)
            do {
                let delivery = try Delivery.open(context, modules: modules)
                let steward = Steward(context, modules: modules, delivery: delivery)
                if let schedule = configuration.automaticDelivery { steward.startAutomaticDelivery(schedule) }
                return steward
            } catch {
                // The crash handlers a module installed go with the failed start.
                for module in modules.all { module.release() }
                throw error
            }
        } catch {
            try? vault.close()
            throw error
        }
    }

    // MARK: - Delivery

    /// What one ``send(timeout:)`` did, per recipient.
    public struct SendReport: Sendable {
        /// Telemetry events queued for their recipient.
        public var eventsQueued = 0
        /// Metric points queued.
        public var metricPointsQueued = 0
        /// Crash reports queued.
        public var crashReportsQueued = 0
        /// Each uploader's report.
        public var uploads: [RecipientID: UploadReport] = [:]
        /// What went wrong on the way (the data stays queued for the next send).
        public var problems: [String] = []
    }

    /// Queues what is ready — stored telemetry events (and deletion requests), the metrics of
    /// the interval, crash reports — for their recipients, then delivers every queue, each
    /// uploader until it is idle or `timeout` passes. Consent is checked again at send time.
    /// Blocking work runs off the concurrency pool.
    ///
    /// `timeout` is clamped to 0…2^31 s: zero or negative stops the delivery almost at once
    /// (what is queued stays queued), and an absurd one (`Duration(attoseconds: .max)`) does
    /// not trap.
    @discardableResult
    public func send(timeout: Duration = .seconds(30)) async -> SendReport {
        await send(within: timeout, countingQueueing: false)
    }

    /// Queues what is ready, then drains every uploader for `bound`, from the end of the
    /// queueing or, with `countingQueueing`, from the call (what the queueing took is then
    /// taken from the delivery's share).
    private func send(within bound: Duration, countingQueueing: Bool) async -> SendReport {
        guard isRunning else { return SendReport(problems: ["Steward was stopped"]) }
        let clock = ContinuousClock()
        let started = clock.now
        var report = await Self.offPool { [self] in queueAll() }
        let timeout =
            countingQueueing
            ? bound.clamped(to: .zero...CheckedTime.maximumWait) - started.duration(to: clock.now) : bound
        await withTaskGroup(of: (RecipientID, UploadReport).self) { group in
            for (recipient, uploader) in uploaders {
                group.addTask { (recipient, await Self.drain(uploader, within: timeout)) }
            }
            for await (recipient, upload) in group { report.uploads[recipient] = upload }
        }
        try? audit.flush()
        return report
    }

    /// Drains `uploader` until it is idle or `timeout` passes; then the drain is cancelled and
    /// returns soon after with what it did.
    static func drain(_ uploader: Uploader, within timeout: Duration) async -> UploadReport {
        await withTaskGroup(of: UploadReport?.self) { race in
            race.addTask { await uploader.drain() }
            race.addTask {
                try? await checkedSleep(for: timeout)
                return nil
            }
            let first = await race.next() ?? nil
            race.cancelAll()
            if let first { return first }
            return await race.next().flatMap { $0 } ?? UploadReport()
        }
    }

    private func queueAll() -> SendReport {
        queueing.withLock { _ in
            var report = SendReport()
            // Checked under the lock stop() takes before it closes the vault: a pass that lost
            // the race to stop() queues nothing.
            guard isRunning else { return report }
            for module in modules.all { module.queue(for: self, into: &report) }
            queuePasses.add(1, ordering: .releasing)
            return report
        }
    }

    /// Starts the automatic delivery: one `run()` per uploader, and the queueing loop. The task
    /// holds the uploaders, and this instance only while it queues.
    private func startAutomaticDelivery(_ schedule: AutomaticDelivery) {
        let uploaders = Array(self.uploaders.values)
        let interval = schedule.interval.periodicInterval
        // By size: a full telemetry batch stored rings the bell, and the loop queues it without
        // waiting for the interval (at most one pass a second, however fast batches fill).
        let bell = Doorbell()
        telemetry.onBatchStored { bell.ring() }
        let task = Task.detached { [weak self] in
            await withTaskGroup(of: Void.self) { group in
                for uploader in uploaders { group.addTask { await uploader.run() } }
                group.addTask { [weak self] in
                    let clock = ContinuousClock()
                    while !Task.isCancelled {
                        let pass = clock.now
                        guard await Self.queueIfRunning(self) else { return }
                        await bell.wait(upTo: interval)
                        let since = clock.now - pass
                        if since < .seconds(1) { try? await checkedSleep(for: .seconds(1) - since) }
                    }
                }
            }
        }
        automaticDeliveryTask.withLock { $0 = task }
    }

    /// Queues what the modules hold when `steward` still exists and runs; false otherwise.
    private static func queueIfRunning(_ steward: Steward?) async -> Bool {
        guard let steward, steward.isRunning else { return false }
        _ = await offPool { steward.queueAll() }
        return true
    }

    /// Ends the automatic delivery (a send under way is cancelled; what it held stays queued).
    private func stopAutomaticDelivery() {
        telemetry.onBatchStored(nil)
        automaticDeliveryTask.withLock { task in
            task?.cancel()
            task = nil
        }
    }

    /// The OTLP resource of this app on this device: `device.id` is the app-scoped ID only,
    /// never the machine ID.
    func telemetryResource() -> TelemetryResource {
        if let cached = resourceCache.withLock({ $0 }) { return cached }
        let profile = DeviceProfile.read()
        // Resource values come from the host and the system: none may carry an identifier of
        // the device or a secret (a model string with a serial, a release with a host name).
        let filter = IdentifierFilter.current
        func safe(_ value: String?) -> String? { value.flatMap { filter.contains($0) ? nil : $0 } }
        var resource = TelemetryResource(
            serviceName: plan.serviceName, serviceVersion: safe(configuration.release), osType: "linux",
            osVersion: safe(profile.operatingSystem.versionID.value ?? profile.kernel.release.value),
            hostArch: Plan.architecture, deviceModelIdentifier: safe(profile.hardware.model.value),
            deviceID: try? device.appScopedID().uuidString)
        resource.attributes = plan.resourceAttributes
        resourceCache.withLock { $0 = resource }
        return resource
    }

    /// The threads ``offPool(_:)`` runs work on: reused from one call to the next.
    static let facadeThreads = ReusableThreads(name: "steward.facade")

    /// Runs `work` on a thread off the Swift concurrency pool and waits for it: vault commits
    /// (fsync) stay off the pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            facadeThreads.run { continuation.resume(returning: work()) }
        }
    }

    // MARK: - Periodic work

    /// Runs the periodic work until the calling task is cancelled: telemetry held in memory is
    /// stored every `flushInterval` (batches also go when full), and expired images are
    /// removed every `retentionInterval` (expired vault records go with `vault.purgeExpired()`,
    /// run at the same pace). Start it once, in a task of the host's.
    ///
    /// Both intervals are clamped to 1 s…2^31 s: zero or a negative interval runs the work
    /// every second (it does not spin), and an absurd one (`Duration(attoseconds: .max)`)
    /// waits 2^31 s instead of trapping.
    ///
    /// ```swift
    /// let periodic = Task { await steward.runPeriodicWork() }
    /// // ...
    /// periodic.cancel()
    /// ```
    public func runPeriodicWork(flushInterval: Duration = .seconds(30), retentionInterval: Duration = .seconds(3_600))
        async
    {
        let intervals = PeriodicIntervals(
            flush: flushInterval.periodicInterval, retention: retentionInterval.periodicInterval)
        await withTaskGroup(of: Void.self) { group in
            for module in modules.all {
                group.addTask { [self] in await module.runPeriodicWork(intervals, steward: self) }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    try? await checkedSleep(for: intervals.retention)
                    guard !Task.isCancelled, isRunning else { return }
                    _ = await Self.offPool { [vault] in try? vault.purgeExpired() }
                }
            }
        }
    }

    // MARK: - Stop

    /// Shuts down gracefully, within `bound`: stores what telemetry holds in memory, queues
    /// what is ready and delivers it, under consent, until every queue is empty or `bound`
    /// (counted from the call) has passed; then ends the crash session as a clean exit, removes
    /// the crash handlers, closes the vault and releases the process, as ``stop()`` does.
    ///
    /// Nothing is lost when the bound expires first: a send under way is cancelled, and what
    /// was not delivered stays queued, encrypted in the vault, for the next start. The vault
    /// work runs on a thread of its own, not on the concurrency pool. A transfer that is
    /// cancelled takes up to about a second to stop, so the call may return that much after
    /// `bound`. `bound` is clamped to 0…2^31 s, as ``send(timeout:)``'s is.
    ///
    /// ``stop()`` keeps its meaning: it stores and closes at once, synchronously, and sends
    /// nothing. Call `shutdown(within:)` where the host can wait (an app's quit path, a
    /// server's graceful shutdown); `stop()` where it cannot.
    ///
    /// ```swift
    /// let report = await steward.shutdown(within: .seconds(3))
    /// // report.uploads: what each recipient accepted; the rest waits for the next start
    /// ```
    ///
    /// - Returns: What the delivery did; on an instance already stopped, a report with the
    ///   problem "Steward was stopped" (and nothing else is done).
    @discardableResult
    public func shutdown(within bound: Duration = .seconds(5)) async -> SendReport {
        guard isRunning else { return SendReport(problems: ["Steward was stopped"]) }
        // The background delivery ends first: from here on, the bounded drain sends.
        stopAutomaticDelivery()
        let report = await send(within: bound, countingQueueing: true)
        await Self.offPool { [self] in stop() }
        return report
    }

    /// Stores what telemetry holds in memory, ends the crash session as a clean exit, removes
    /// the crash handlers, closes the vault and releases the process, so ``start(_:)`` may run
    /// again. Safe to call twice.
    public func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        stopAutomaticDelivery()
        // A queueing pass under way finishes before the vault closes (no new one starts: the
        // instance no longer runs).
        queueing.withLock { _ in }
        // A send under way is cancelled and its answer recorded before the vault closes, so an
        // acceptance is neither lost from the audit ledger nor sent again at the next start.
        for uploader in delivery.uploaders.values { uploader.stopSending() }
        for module in modules.all { module.stop() }
        try? audit.flush()
        consent.removeObserver(delivery.consentObserver)
        delivery.network?.close()
        // The plaintext outbox's folder lock: a start again in this process opens it anew.
        delivery.outbox?.close()
        try? vault.close()
        if configuration.logger != nil { StewardDiagnostics.handler = nil }
        Self.processClaim.store(false, ordering: .releasing)
    }

    /// Ends this instance without writing anything more (the erase path): the handlers go, the
    /// process is released.
    func release() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        stopAutomaticDelivery()
        for module in modules.all { module.release() }
        consent.removeObserver(delivery.consentObserver)
        delivery.network?.close()
        delivery.outbox?.close()
        if configuration.logger != nil { StewardDiagnostics.handler = nil }
        Self.processClaim.store(false, ordering: .releasing)
    }
}
