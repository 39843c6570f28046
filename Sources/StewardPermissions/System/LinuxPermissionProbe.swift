public import StewardCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Checks what Linux allows for each permission, from device nodes, sysfs, the udev database,
/// the data and pictures folders and `/etc/machine-id`.
///
/// The probe never prompts and never opens a device: it reads small files and asks `stat`,
/// the POSIX ACL of the node and (for this process) `faccessat`, then says what works and, when
/// something does not, the concrete problem and its fix ("add the user to group 'video'...").
///
/// | Permission | What is checked |
/// |---|---|
/// | camera | video4linux capture nodes (`/dev/videoN`) for read and write |
/// | microphone | ALSA capture nodes (`/dev/snd/pcmC*D*c`), else a PipeWire or PulseAudio socket |
/// | location, locationPrecise | host-registered sources, `/dev/gnss*`, the gpsd socket |
/// | storage | the data folder is writable, on a writable mount, with enough free space |
/// | photos | the XDG pictures folder exists and is readable |
/// | deviceIdentity | `/etc/machine-id` is readable and initialised |
/// | notifications | never restricted; says whether a session bus is reachable |
///
/// Any other permission is available: only a known obstacle restricts.
///
/// ```swift
/// let probe = LinuxPermissionProbe()
/// if case .unavailable(let reason) = probe.check(.camera) {
///     print(reason)  // "/dev/video0 is owned by ... group 'video' (gid 44) with mode crw-rw----; ..."
/// }
/// ```
///
/// Tests describe a machine as a directory tree and inject credentials:
///
/// ```swift
/// let probe = LinuxPermissionProbe(.init(root: "/tmp/fixture", environment: [:],
///                                        credentials: .init(uid: 4242, gid: 4242)))
/// ```
public struct LinuxPermissionProbe: PermissionProbing {
    /// The identity whose access is decided: an effective uid, gid and supplementary groups.
    public struct Credentials: Hashable, Sendable {
        /// The effective user id.
        public var uid: UInt32
        /// The effective group id.
        public var gid: UInt32
        /// The supplementary group ids.
        public var groups: [UInt32]

        /// Creates credentials.
        ///
        /// - Parameters:
        ///   - uid: The effective user id.
        ///   - gid: The effective group id.
        ///   - groups: The supplementary group ids.
        public init(uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
            self.uid = uid
            self.gid = gid
            self.groups = groups
        }

        /// The credentials of this process (`geteuid`, `getegid`, `getgroups`).
        ///
        /// - Returns: The effective ids and supplementary groups; no supplementary groups when
        ///   `getgroups` fails.
        public static func current() -> Credentials {
            var groups: [UInt32] = []
            let count = getgroups(0, nil)
            if count > 0 {
                var buffer = [gid_t](repeating: 0, count: Int(count))
                let filled = buffer.withUnsafeMutableBufferPointer { storage in
                    getgroups(Int32(storage.count), storage.baseAddress)
                }
                if filled > 0 { groups = buffer.prefix(Int(filled)).map { UInt32($0) } }
            }
            return Credentials(uid: UInt32(geteuid()), gid: UInt32(getegid()), groups: groups)
        }

        /// The effective gid and the supplementary groups together.
        var allGroups: Set<UInt32> { Set(groups).union([gid]) }
    }

    /// Where the probe looks and for whom.
    public struct Configuration: Sendable {
        /// The directory that stands for `/` when reading `/dev`, `/sys`, `/proc`, `/etc`,
        /// `/run` and `/.flatpak-info`; `"/"` reads this machine.
        ///
        /// Folders taken from the environment (data, pictures, runtime) are not prefixed.
        public var root: String
        /// The environment to read `HOME`, `XDG_CONFIG_HOME`, `XDG_DATA_HOME`,
        /// `XDG_PICTURES_DIR`, `XDG_RUNTIME_DIR`, `DBUS_SESSION_BUS_ADDRESS`, `FLATPAK_ID`,
        /// `SNAP` and `SNAP_NAME` from.
        public var environment: [String: String]
        /// Whose access to decide; `nil` for this process.
        ///
        /// With `nil`, a verdict from the mode bits and ACLs is confirmed with
        /// `faccessat(..., AT_EACCESS)`: when the kernel refuses what the bits allow, the
        /// reason says an LSM (AppArmor, SELinux) or a sandbox denies it; when the kernel
        /// grants what the bits refuse (capabilities), the kernel is trusted.
        public var credentials: Credentials?
        /// The folder the app stores its data in; `nil` checks `$XDG_DATA_HOME` or
        /// `~/.local/share`.
        public var dataDirectory: String?
        /// The least free space (for unprivileged users) the storage check accepts, in bytes.
        public var minimumFreeBytes: UInt64
        /// Names of location sources the host registered (for example "site survey position");
        /// any one makes location available.
        public var locationSources: [String]

        /// The environment of this process.
        public static var processEnvironment: [String: String] { ProcessInfo.processInfo.environment }

        /// Creates a configuration; the defaults check this process on this machine.
        ///
        /// - Parameters:
        ///   - root: The directory that stands for `/`; `"/"` by default.
        ///   - environment: The environment to read; this process's by default.
        ///   - credentials: Whose access to decide; `nil` (this process) by default.
        ///   - dataDirectory: The app's data folder; `nil` checks `$XDG_DATA_HOME` or
        ///     `~/.local/share`.
        ///   - minimumFreeBytes: The least free space storage needs; 64 MiB by default.
        ///   - locationSources: Host-registered location sources; none by default.
        public init(
            root: String = "/",
            environment: [String: String] = Configuration.processEnvironment,
            credentials: Credentials? = nil,
            dataDirectory: String? = nil,
            minimumFreeBytes: UInt64 = 64 << 20,
            locationSources: [String] = []
        ) {
            self.root = root
            self.environment = environment
            self.credentials = credentials
            self.dataDirectory = dataDirectory
            self.minimumFreeBytes = minimumFreeBytes
            self.locationSources = locationSources
        }
    }

    /// Where the probe looks and for whom.
    public let configuration: Configuration

    /// Creates a probe.
    ///
    /// - Parameter configuration: Where to look and for whom; this process on this machine by
    ///   default.
    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The sandbox this process runs in, from the environment and `/.flatpak-info`.
    ///
    /// Flatpak is recognised by `FLATPAK_ID` or by `/.flatpak-info` (whose `[Application]`
    /// section names the app); Snap by `SNAP_NAME` or `SNAP` (`/snap/NAME/REVISION`).
    public var sandbox: Sandbox {
        let environment = configuration.environment
        if let id = environment["FLATPAK_ID"], !id.isEmpty { return .flatpak(appID: id) }
        let info = systemPath("/.flatpak-info")
        if POSIXCall.exists(info) {
            return .flatpak(appID: POSIXCall.readText(info).flatMap(Self.flatpakApplicationName))
        }
        if let name = environment["SNAP_NAME"], !name.isEmpty { return .snap(name: name) }
        if let snap = environment["SNAP"], !snap.isEmpty {
            let parts = snap.split(separator: "/").map(String.init)
            let name = parts.firstIndex(of: "snap").flatMap { $0 + 1 < parts.count ? parts[$0 + 1] : nil }
            return .snap(name: name)
        }
        return .none
    }

    /// What the OS allows for `permission` right now.
    ///
    /// - Parameter permission: The permission to check; one without an OS check is available.
    /// - Returns: Available (with what makes it so), limited (with the part that works) or
    ///   unavailable (with the problem and its fix).
    public func check(_ permission: Permission) -> SystemAccess {
        switch permission {
        case .camera: checkCamera()
        case .microphone: checkMicrophone()
        case .location, .locationPrecise: checkLocation()
        case .storage: checkStorage()
        case .photos: checkPhotos()
        case .deviceIdentity: checkDeviceIdentity()
        case .notifications: checkNotifications()
        default: .available(detail: "no operating-system check for this permission")
        }
    }

    // MARK: - Shared helpers

    /// The real path of a system path such as `/dev/video0` under ``Configuration/root``.
    func systemPath(_ path: String) -> String {
        var base = configuration.root
        if base.isEmpty || base == "/" { return path }
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        return base + path
    }

    /// An environment variable, `nil` when unset or empty.
    func environment(_ name: String) -> String? {
        guard let value = configuration.environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// Checks a file for the configured credentials.
    func access(_ path: String, _ wanted: AccessRights) -> FileAccessVerdict {
        FileAccess.check(path, wanted: wanted, credentials: configuration.credentials)
    }

    /// The login name to put in commands (`usermod -aG video NAME`), or `USER`.
    var userName: String {
        POSIXCall.userName(configuration.credentials?.uid ?? UInt32(geteuid())) ?? "USER"
    }

    /// What a sandboxed app must be granted, or `nil` outside a sandbox.
    ///
    /// - Parameters:
    ///   - flatpak: The Flatpak permission (`--device=all`).
    ///   - snap: The snap interface (`camera`).
    func sandboxHint(flatpak: String, snap: String) -> String? {
        switch sandbox {
        case .none:
            return nil
        case .flatpak(let appID):
            return "this Flatpak app needs \(flatpak) (flatpak override --user \(flatpak) \(appID ?? "APPID"))"
        case .snap(let name):
            return "this snap needs the \(snap) interface (snap connect \(name ?? "NAME"):\(snap))"
        }
    }

    /// The application name in a `.flatpak-info` file (`[Application]` `name=`).
    static func flatpakApplicationName(_ text: String) -> String? {
        var section = ""
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = String(rawLine).trimmedOfWhitespace()
            if line.hasPrefix("[") { section = line; continue }
            guard section == "[Application]", line.hasPrefix("name=") else { continue }
            let name = String(line.dropFirst("name=".count)).trimmedOfWhitespace()
            return name.isEmpty ? nil : name
        }
        return nil
    }

    // MARK: - Notifications

    /// Never restricts: notifications are the host's delivery, not an OS permission.
    func checkNotifications() -> SystemAccess {
        if environment("DBUS_SESSION_BUS_ADDRESS") != nil {
            // Not the address itself: it carries the bus's guid.
            return .available(detail: "a session bus is configured (DBUS_SESSION_BUS_ADDRESS)")
        }
        if let runtime = environment("XDG_RUNTIME_DIR"), POSIXCall.exists(runtime + "/bus") {
            return .available(detail: "session bus at \(runtime)/bus")
        }
        return .available(
            detail: "no session bus found (DBUS_SESSION_BUS_ADDRESS is unset and there is no "
                + "$XDG_RUNTIME_DIR/bus): desktop notifications need a session bus; notifications are the "
                + "host's delivery, not an operating-system permission")
    }
}
