import Foundation
import Testing
import StewardCore
@testable import StewardPermissions
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libc's `socket(AF_UNIX, SOCK_STREAM)`, by a name the fixture's `socket(at:)` cannot shadow.
private func unixStreamSocket() -> Int32 { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0) }

/// Whether fixture files can be given other owners (chown to another uid needs root).
let fixturesCanChangeOwners = geteuid() == 0

/// A directory tree that stands for `/` in one probe test, removed when the test ends.
///
/// Device nodes are regular files with the mode and owners a test gives them (the tests run as
/// root, so `chown` works); the probe decides from `stat`, so the file type does not matter.
final class ProbeFixture {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("steward-probe-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `text` at `systemPath` (`/sys/...`) under the fixture, creating folders on the way.
    func write(_ systemPath: String, _ text: String) throws {
        let url = URL(fileURLWithPath: path + systemPath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: url)
    }

    /// Creates a folder at `systemPath` under the fixture.
    func directory(_ systemPath: String) throws {
        try FileManager.default.createDirectory(atPath: path + systemPath, withIntermediateDirectories: true)
    }

    /// Sets the mode and owners of `systemPath` under the fixture.
    func own(_ systemPath: String, mode: mode_t, uid: uid_t = 0, gid: gid_t = 0) throws {
        let full = path + systemPath
        try #require(chown(full, uid, gid) == 0, "chown \(full): errno \(errno)")
        try #require(chmod(full, mode) == 0, "chmod \(full): errno \(errno)")
    }

    /// Creates a device node stand-in at `systemPath` with the given mode and owners.
    func node(_ systemPath: String, mode: mode_t = 0o660, uid: uid_t = 0, gid: gid_t) throws {
        try write(systemPath, "")
        try own(systemPath, mode: mode, uid: uid, gid: gid)
    }

    /// Describes a video4linux device: sysfs entry, optional udev entry, and its node.
    ///
    /// - Parameter capabilities: `ID_V4L_CAPABILITIES` for the udev database; `nil` writes no
    ///   udev entry, so the probe falls back to the `index` file.
    func camera(
        _ number: Int, name: String, index: Int = 0, capabilities: String? = ":capture:",
        mode: mode_t = 0o660, gid: gid_t = 44, node: Bool = true
    ) throws {
        let base = "/sys/class/video4linux/video\(number)"
        try write("\(base)/name", name + "\n")
        try write("\(base)/dev", "81:\(number)\n")
        try write("\(base)/index", "\(index)\n")
        if let capabilities {
            try write(
                "/run/udev/data/c81:\(number)",
                "S:v4l/by-id/usb-Test\nE:ID_V4L_VERSION=2\nE:ID_V4L_CAPABILITIES=\(capabilities)\nG:uaccess\n")
        }
        if node { try self.node("/dev/video\(number)", mode: mode, gid: gid) }
    }

    /// Binds a Unix socket at an absolute path (a sound server or gpsd stand-in), then closes it;
    /// the socket file stays.
    func socket(at fullPath: String, mode: mode_t = 0o666) throws {
        try FileManager.default.createDirectory(
            atPath: (fullPath as NSString).deletingLastPathComponent,
            withIntermediateDirectories: true)
        let fd = unixStreamSocket()
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(fullPath.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(fullPath)")
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (offset, byte) in bytes.enumerated() { raw[offset] = byte }
        }
        let bound = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0, "bind \(fullPath): errno \(errno)")
        try #require(chmod(fullPath, mode) == 0)
    }

    /// A probe reading this fixture for `credentials`.
    func probe(
        credentials: LinuxPermissionProbe.Credentials? = ProbeFixture.stranger,
        environment: [String: String] = [:], locationSources: [String] = []
    ) -> LinuxPermissionProbe {
        LinuxPermissionProbe(
            .init(
                root: path, environment: environment, credentials: credentials,
                locationSources: locationSources))
    }

    /// A user in no group that any fixture node belongs to.
    static let stranger = LinuxPermissionProbe.Credentials(uid: 4242, gid: 4242, groups: [])
    /// A user in group `video` (gid 44).
    static let videoUser = LinuxPermissionProbe.Credentials(uid: 4242, gid: 4242, groups: [44])
    /// A user in group `audio` (gid 29).
    static let audioUser = LinuxPermissionProbe.Credentials(uid: 4242, gid: 4242, groups: [29])
}

extension SystemAccess {
    /// The text of any case (detail, scope or reason), for `contains` checks.
    var probeText: String {
        switch self {
        case .available(let detail): detail
        case .limited(let scope): scope
        case .unavailable(let reason): reason
        }
    }

    var probeIsAvailable: Bool { if case .available = self { true } else { false } }
    var probeIsLimited: Bool { if case .limited = self { true } else { false } }
    var probeIsUnavailable: Bool { if case .unavailable = self { true } else { false } }
}

@Suite(.enabled(if: fixturesCanChangeOwners, "fixture files get other owners with chown, which needs root (as in CI)"))
struct CameraProbeTests {
    @Test func cameraNodeWithoutAccessIsUnavailableAndNamesNodeModeAndMissingGroup() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera")
        let access = fixture.probe().check(.camera)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("\(fixture.path)/dev/video0"))
        #expect(access.probeText.contains("-rw-rw----"))
        #expect(access.probeText.contains("group 'video' (gid 44)"))
        #expect(access.probeText.contains("uid 4242"))
        #expect(access.probeText.contains("usermod -aG video"))
        #expect(access.probeText.contains("uaccess"))
    }

    @Test func cameraNodeAccessibleThroughGroupMembershipIsAvailable() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera")
        let access = fixture.probe(credentials: ProbeFixture.videoUser).check(.camera)
        #expect(access == .available(detail: "\(fixture.path)/dev/video0 (Test Camera)"))
    }

    @Test func cameraNodeOwnedByTheUserIsAvailable() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera", mode: 0o600, gid: 44)
        try fixture.own("/dev/video0", mode: 0o600, uid: 4242, gid: 44)
        #expect(fixture.probe().check(.camera).probeIsAvailable)
    }

    @Test func cameraNodeReadableButNotWritableIsUnavailableAndNamesWrite() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera", mode: 0o640)
        let access = fixture.probe(credentials: ProbeFixture.videoUser).check(.camera)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("do not grant write"))
        #expect(access.probeText.contains("udev rule"))
    }

    @Test func twoCaptureNodesWithOneInaccessibleAreLimited() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Front Camera")
        try fixture.camera(2, name: "Rear Camera", gid: 4343)
        let access = fixture.probe(credentials: ProbeFixture.videoUser).check(.camera)
        #expect(access.probeIsLimited)
        #expect(access.probeText.hasPrefix("\(fixture.path)/dev/video0 (Front Camera)"))
        #expect(access.probeText.contains("not \(fixture.path)/dev/video2 (Rear Camera)"))
        #expect(access.probeText.contains("gid 4343"))
    }

    @Test func metadataNodeWithoutCaptureCapabilityIsIgnored() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera")
        // The metadata node is not accessible at all; it must not make camera limited.
        try fixture.camera(1, name: "Test Camera", index: 1, capabilities: ":", mode: 0o600)
        let access = fixture.probe(credentials: ProbeFixture.videoUser).check(.camera)
        #expect(access == .available(detail: "\(fixture.path)/dev/video0 (Test Camera)"))
    }

    @Test func withoutUdevDatabaseTheNodeWithIndexZeroIsTheCaptureNode() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera", capabilities: nil)
        try fixture.camera(1, name: "Test Camera", index: 1, capabilities: nil, mode: 0o600)
        let access = fixture.probe(credentials: ProbeFixture.videoUser).check(.camera)
        #expect(access == .available(detail: "\(fixture.path)/dev/video0 (Test Camera)"))
    }

    @Test func onlyMetadataNodesMeansNoCaptureDevice() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(1, name: "Test Camera", index: 1, capabilities: ":")
        let access = fixture.probe(credentials: ProbeFixture.videoUser).check(.camera)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("no video4linux capture device"))
        #expect(access.probeText.contains("video1"))
    }

    @Test func missingDeviceNodeIsUnavailableAndSaysSo() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera", node: false)
        let access = fixture.probe(credentials: ProbeFixture.videoUser).check(.camera)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("\(fixture.path)/dev/video0 does not exist"))
        #expect(access.probeText.contains("udev"))
    }

    @Test(arguments: [
        ([String: String](), "connect a camera", nil as String?),
        (["FLATPAK_ID": "org.example.Steward"], "--device=all", "org.example.Steward"),
        (["SNAP_NAME": "steward"], "snap connect steward:camera", nil),
    ])
    func noVideoDevicesIsUnavailableWithTheSandboxHint(environment: [String: String], hint: String, appID: String?)
        throws
    {
        let fixture = try ProbeFixture()
        try fixture.directory("/sys/class/video4linux")
        let access = fixture.probe(environment: environment).check(.camera)
        #expect(access == .unavailable(reason: access.probeText))
        #expect(
            access.probeText.contains("no video4linux capture device (\(fixture.path)/sys/class/video4linux is empty)"))
        #expect(access.probeText.contains(hint))
        if let appID { #expect(access.probeText.contains(appID)) }
    }

    @Test func rootIsGrantedWhatTheKernelGrantsWhateverTheMode() throws {
        // The tests run as root: mode 0000 still opens, and the kernel agrees.
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera", mode: 0o000)
        #expect(fixture.probe(credentials: nil).check(.camera).probeIsAvailable)
    }

    @Test(
        .enabled(if: canMakeFilesImmutable(), "needs root and a file system with the immutable attribute (ext4, xfs)"))
    func aRefusalTheModeBitsDoNotExplainIsReportedAsTheKernels() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera", mode: 0o666)
        let node = fixture.path + "/dev/video0"
        // Immutable: the mode bits (and root) would allow writing; the kernel does not.
        try #require(setImmutable(node, true))
        defer { _ = setImmutable(node, false) }
        let access = fixture.probe(credentials: nil).check(.camera)
        #expect(access.probeIsUnavailable, "\(access)")
        #expect(access.probeText.contains("the kernel refuses it"))
        #expect(access.probeText.contains("not permitted"))
    }

    @Test(.enabled(if: aclSupportInTemporaryFolder(), "needs a temporary folder whose file system stores POSIX ACLs"))
    func namedUserACLOnTheNodeGrantsAccess() throws {
        let fixture = try ProbeFixture()
        try fixture.camera(0, name: "Test Camera")
        // What logind's uaccess rule writes: user:4242:rw- beside the group entry, mask rw-.
        let acl = POSIXACL(entries: [
            .init(tag: .userObject, permissions: [.read, .write]),
            .init(tag: .user, permissions: [.read, .write], id: 4242),
            .init(tag: .groupObject, permissions: [.read, .write]),
            .init(tag: .mask, permissions: [.read, .write]),
            .init(tag: .other, permissions: []),
        ])
        try setACL(acl.xattrValue, on: "\(fixture.path)/dev/video0")
        #expect(FileAccess.readACL("\(fixture.path)/dev/video0") == acl)
        #expect(fixture.probe().check(.camera).probeIsAvailable)
    }

    private func setACL(_ value: [UInt8], on path: String) throws {
        let error = writeACLForTest(value, on: path)
        try #require(error == 0, "setxattr: errno \(error)")
    }
}

@Suite(.enabled(if: fixturesCanChangeOwners, "fixture files get other owners with chown, which needs root (as in CI)"))
struct MicrophoneProbeTests {
    @Test func alsaCaptureNodeInTheAudioGroupIsAvailable() throws {
        let fixture = try ProbeFixture()
        try fixture.node("/dev/snd/pcmC0D0c", gid: 29)
        try fixture.node("/dev/snd/pcmC0D0p", gid: 29)
        try fixture.write("/proc/asound/card0/id", "PCH\n")
        let access = fixture.probe(credentials: ProbeFixture.audioUser).check(.microphone)
        #expect(access == .available(detail: "\(fixture.path)/dev/snd/pcmC0D0c (card 0 'PCH')"))
    }

    @Test func inaccessibleAlsaNodeWithPipeWireSocketIsAvailableThroughTheSoundServer() throws {
        let fixture = try ProbeFixture()
        try fixture.node("/dev/snd/pcmC0D0c", gid: 29)
        let runtime = fixture.path + "/run/user/4242"
        try fixture.socket(at: runtime + "/pipewire-0")
        let access = fixture.probe(environment: ["XDG_RUNTIME_DIR": runtime]).check(.microphone)
        #expect(access == .available(detail: "through the sound server: PipeWire at \(runtime)/pipewire-0"))
    }

    @Test func pulseAudioSocketIsUsedWhenPipeWireIsAbsent() throws {
        let fixture = try ProbeFixture()
        try fixture.node("/dev/snd/pcmC0D0c", gid: 29)
        let runtime = fixture.path + "/run/user/4242"
        try fixture.socket(at: runtime + "/pulse/native")
        let access = fixture.probe(environment: ["XDG_RUNTIME_DIR": runtime]).check(.microphone)
        #expect(access.probeIsAvailable)
        #expect(access.probeText.contains("PulseAudio"))
    }

    @Test func inaccessibleAlsaNodeWithoutSoundServerIsUnavailable() throws {
        let fixture = try ProbeFixture()
        try fixture.node("/dev/snd/pcmC0D0c", gid: 29)
        let runtime = fixture.path + "/run/user/4242"
        try fixture.directory("/run/user/4242")
        let access = fixture.probe(environment: ["XDG_RUNTIME_DIR": runtime]).check(.microphone)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("pcmC0D0c"))
        #expect(access.probeText.contains("group 'audio' (gid 29)"))
        #expect(access.probeText.contains("no PipeWire socket at \(runtime)/pipewire-0"))
    }

    @Test func onlyPlaybackNodesMeansNoCaptureDevice() throws {
        let fixture = try ProbeFixture()
        try fixture.node("/dev/snd/pcmC0D0p", gid: 29)
        try fixture.node("/dev/snd/controlC0", gid: 29)
        let access = fixture.probe(credentials: ProbeFixture.audioUser).check(.microphone)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("no ALSA capture device"))
    }

    @Test(arguments: [
        ("pcmC0D0c", 0, 0), ("pcmC1D2c", 1, 2), ("pcmC10D11c", 10, 11),
    ])
    func alsaCaptureNodeNamesAreParsed(name: String, card: Int, device: Int) throws {
        let parsed = try #require(LinuxPermissionProbe.alsaCapture(name))
        #expect(parsed.card == card)
        #expect(parsed.device == device)
    }

    @Test(arguments: ["pcmC0D0p", "controlC0", "pcmCxD0c", "pcmC0c", "midiC0D0"])
    func otherSoundNodesAreNotCaptureNodes(name: String) {
        #expect(LinuxPermissionProbe.alsaCapture(name) == nil)
    }
}

@Suite(.enabled(if: fixturesCanChangeOwners, "fixture files get other owners with chown, which needs root (as in CI)"))
struct LocationProbeTests {
    @Test(arguments: [Permission.location, .locationPrecise])
    func hostRegisteredSourceMakesLocationAvailable(permission: Permission) throws {
        let fixture = try ProbeFixture()
        let access = fixture.probe(locationSources: ["site survey position"]).check(permission)
        #expect(access == .available(detail: "host-registered location source: site survey position"))
    }

    @Test func readableGNSSDeviceMakesLocationAvailable() throws {
        let fixture = try ProbeFixture()
        try fixture.node("/dev/gnss0", mode: 0o644, gid: 0)
        let access = fixture.probe().check(.location)
        #expect(access == .available(detail: "GNSS receiver \(fixture.path)/dev/gnss0"))
    }

    @Test func gpsdSocketMakesLocationAvailable() throws {
        let fixture = try ProbeFixture()
        try fixture.socket(at: fixture.path + "/run/gpsd.sock")
        let access = fixture.probe().check(.locationPrecise)
        #expect(access == .available(detail: "through gpsd (\(fixture.path)/run/gpsd.sock)"))
    }

    @Test func noSourceIsUnavailableAndListsWhatWasLookedFor() throws {
        let fixture = try ProbeFixture()
        try fixture.node("/dev/gnss0", mode: 0o600, gid: 0)
        let access = fixture.probe().check(.location)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("no host-registered source"))
        #expect(access.probeText.contains("\(fixture.path)/dev/gnss0"))
        #expect(access.probeText.contains("\(fixture.path)/run/gpsd.sock"))
        #expect(access.probeText.contains("locationSources"))
    }
}

@Suite struct SandboxProbeTests {
    @Test(arguments: [
        ([String: String](), Sandbox.none),
        (["FLATPAK_ID": "org.example.Steward"], .flatpak(appID: "org.example.Steward")),
        (["SNAP_NAME": "steward", "SNAP": "/snap/steward/12"], .snap(name: "steward")),
        (["SNAP": "/snap/steward/12"], .snap(name: "steward")),
    ])
    func sandboxIsDetectedFromTheEnvironment(environment: [String: String], expected: Sandbox) throws {
        let fixture = try ProbeFixture()
        #expect(fixture.probe(environment: environment).sandbox == expected)
    }

    @Test func flatpakInfoFileNamesTheApplication() throws {
        let fixture = try ProbeFixture()
        try fixture.write(
            "/.flatpak-info",
            "[Application]\nname=org.example.Steward\nruntime=runtime/org.gnome.Platform\n\n[Instance]\nname=other\n")
        #expect(fixture.probe().sandbox == .flatpak(appID: "org.example.Steward"))
    }

    @Test func flatpakInfoWithoutApplicationNameIsStillFlatpak() throws {
        let fixture = try ProbeFixture()
        try fixture.write("/.flatpak-info", "[Instance]\nname=other\n")
        #expect(fixture.probe().sandbox == .flatpak(appID: nil))
    }
}

@Suite struct SessionProbeTests {
    @Test func notificationsAreAvailableWithASessionBusAddress() throws {
        let fixture = try ProbeFixture()
        let access = fixture.probe(environment: ["DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/4242/bus"]).check(
            .notifications)
        #expect(
            access == .available(detail: "a session bus is configured (DBUS_SESSION_BUS_ADDRESS)"),
            "the address itself carries the bus guid and is not repeated")
    }

    @Test func notificationsAreAvailableWithTheRuntimeBusSocket() throws {
        let fixture = try ProbeFixture()
        let runtime = fixture.path + "/run/user/4242"
        try fixture.socket(at: runtime + "/bus")
        let access = fixture.probe(environment: ["XDG_RUNTIME_DIR": runtime]).check(.notifications)
        #expect(access == .available(detail: "session bus at \(runtime)/bus"))
    }

    @Test func notificationsAreNotRestrictedWithoutASessionBus() throws {
        let fixture = try ProbeFixture()
        let access = fixture.probe().check(.notifications)
        #expect(access.probeIsAvailable)
        #expect(access.probeText.contains("need a session bus"))
    }

    @Test func permissionWithoutAnOSCheckIsAvailable() throws {
        let fixture = try ProbeFixture()
        let access = fixture.probe().check(Permission(rawValue: "bluetooth"))
        #expect(access == .available(detail: "no operating-system check for this permission"))
    }

    @Test func currentCredentialsAreThisProcess() {
        let credentials = LinuxPermissionProbe.Credentials.current()
        #expect(credentials.uid == geteuid())
        #expect(credentials.gid == getegid())
    }
}

/// Writes `system.posix_acl_access` with `setxattr` (found like the probe finds `getxattr`):
/// 0, or the errno.
func writeACLForTest(_ value: [UInt8], on path: String) -> Int32 {
    typealias SetFunction =
        @convention(c) (UnsafePointer<CChar>?, UnsafePointer<CChar>?, UnsafeRawPointer?, Int, Int32) -> Int32
    guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "setxattr") else { return ENOSYS }
    let setxattr = unsafeBitCast(symbol, to: SetFunction.self)
    let code = value.withUnsafeBytes { setxattr(path, POSIXACL.xattrName, $0.baseAddress, $0.count, 0) }
    return code == 0 ? 0 : errno
}

/// Whether the temporary folder's file system stores POSIX ACLs (ext4 and xfs do; some
/// overlay and tmpfs set-ups do not).
func aclSupportInTemporaryFolder() -> Bool {
    let path = NSTemporaryDirectory() + "steward-acl-probe-\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: path, contents: Data()) else { return false }
    defer { try? FileManager.default.removeItem(atPath: path) }
    let acl = POSIXACL(entries: [
        .init(tag: .userObject, permissions: [.read, .write]),
        .init(tag: .user, permissions: [.read], id: 4242),
        .init(tag: .groupObject, permissions: [.read]),
        .init(tag: .mask, permissions: [.read]),
        .init(tag: .other, permissions: []),
    ])
    return writeACLForTest(acl.xattrValue, on: path) == 0
}

/// Sets or clears the immutable attribute (FS_IOC_SETFLAGS, FS_IMMUTABLE_FL); false when the
/// file system or the process cannot.
func setImmutable(_ path: String, _ on: Bool) -> Bool {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var flags: Int32 = 0
    guard ioctl(fd, 0x8008_6601 /* FS_IOC_GETFLAGS */, &flags) == 0 else { return false }
    flags = on ? flags | 0x10 : flags & ~0x10
    return ioctl(fd, 0x4008_6602 /* FS_IOC_SETFLAGS */, &flags) == 0
}

/// Whether a file in the temporary folder can be made immutable here.
func canMakeFilesImmutable() -> Bool {
    let path = NSTemporaryDirectory() + "steward-immutable-probe-\(UUID().uuidString)"
    guard FileManager.default.createFile(atPath: path, contents: Data()) else { return false }
    defer { try? FileManager.default.removeItem(atPath: path) }
    guard setImmutable(path, true) else { return false }
    return setImmutable(path, false)
}
