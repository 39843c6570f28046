public import StewardCore
import Foundation

/// What device the host app runs on: OS, kernel, hardware, runtime environment and network.
///
/// Reading a profile never fails as a whole: each value is a ``Field`` that is either read or
/// unavailable with the reason (missing file, not UTF-8, unsupported by the driver...). All
/// files are read through ``SystemFiles``, so tests can describe a device as a directory tree.
/// Cameras, audio capture and GNSS receivers need udev and are described elsewhere.
///
/// The profile carries raw hardware addresses: treat it as identifying, and hand it on only
/// behind the device-identity permission.
///
/// ```swift
/// let profile = DeviceProfile.read()
/// print(profile.operatingSystem.prettyName.value ?? "unknown OS", profile.connectivity)
/// ```
public struct DeviceProfile: Codable, Sendable, Hashable {
    /// The operating system from os-release.
    public var operatingSystem: OperatingSystem
    /// The running kernel.
    public var kernel: Kernel
    /// Vendor, model, CPU and memory.
    public var hardware: Hardware
    /// Containers, sandboxes and virtual machines the process runs in; empty on bare metal.
    public var runtimeEnvironments: [RuntimeEnvironment]
    /// The network interfaces, sorted by name.
    public var networkInterfaces: Field<[NetworkInterface]>
    /// Whether the device is offline, on local links only, or online.
    public var connectivity: Field<Connectivity>

    /// Creates a profile from its parts.
    public init(
        operatingSystem: OperatingSystem, kernel: Kernel, hardware: Hardware,
        runtimeEnvironments: [RuntimeEnvironment], networkInterfaces: Field<[NetworkInterface]>,
        connectivity: Field<Connectivity>
    ) {
        self.operatingSystem = operatingSystem
        self.kernel = kernel
        self.hardware = hardware
        self.runtimeEnvironments = runtimeEnvironments
        self.networkInterfaces = networkInterfaces
        self.connectivity = connectivity
    }

    /// Reads the profile.
    ///
    /// Raw MAC addresses are device identifiers: without the `Permission.deviceIdentity` (StewardPermissions)
    /// permission the interfaces' `currentMAC` and `permanentMAC` are unavailable (their kind
    /// is still reported); use ``DeviceIdentifiers/pseudonymousMAC(_:)`` for a value that
    /// may be kept or sent.
    ///
    /// - Parameters:
    ///   - files: Where to read from; the real root by default.
    ///   - environment: The process environment; the real one by default.
    ///   - permissions: Whether raw identifiers may be read (default: nothing granted).
    /// - Returns: The profile; what cannot be read is unavailable with a reason.
    public static func read(
        files: SystemFiles = SystemFiles(),
        environment: [String: String] = currentEnvironment(),
        permissions: any PermissionChecking = StaticPermissions()
    ) -> DeviceProfile {
        let cpuinfo = files.text("/proc/cpuinfo")
        var interfaces = NetworkInterface.readAll(files: files)
        // Decided on the real names: the route table names interfaces as the kernel does.
        let connectivity = interfaces.flatMap { Connectivity.decide(interfaces: $0, files: files) }
        if !permissions.isGranted(.deviceIdentity) {
            interfaces = interfaces.map { list in
                list.map { interface in
                    var redacted = interface
                    let reason = "a raw MAC address needs the deviceIdentity permission"
                    if redacted.currentMAC.value != nil { redacted.currentMAC = .unavailable(reason: reason) }
                    if redacted.permanentMAC.value != nil { redacted.permanentMAC = .unavailable(reason: reason) }
                    let name = NetworkInterface.nameWithoutMAC(interface.name)
                    if name != interface.name {
                        // The reasons name the interface too ("no permanent address given for enx…").
                        func hide<T>(_ field: inout Field<T>) {
                            if let reason = field.unavailableReason {
                                field = .unavailable(
                                    reason: reason.replacingOccurrences(of: interface.name, with: name))
                            }
                        }
                        redacted.name = name
                        hide(&redacted.currentMAC)
                        hide(&redacted.permanentMAC)
                        hide(&redacted.macKind)
                        hide(&redacted.operationalState)
                        hide(&redacted.carrier)
                    }
                    return redacted
                }
            }
        }
        return DeviceProfile(
            operatingSystem: OperatingSystem.read(files: files),
            kernel: Kernel.read(),
            hardware: Hardware.read(files: files, cpuinfo: cpuinfo),
            runtimeEnvironments: RuntimeEnvironment.detect(files: files, environment: environment, cpuinfo: cpuinfo),
            networkInterfaces: interfaces,
            connectivity: connectivity)
    }

    /// The environment of the current process.
    public static func currentEnvironment() -> [String: String] {
        ProcessInfo.processInfo.environment
    }
}
