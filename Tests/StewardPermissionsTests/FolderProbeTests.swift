import Foundation
import Testing
import StewardCore
@testable import StewardPermissions

@Suite(.enabled(if: fixturesCanChangeOwners, "fixture files get other owners with chown, which needs root (as in CI)"))
struct StorageProbeTests {
    private func probe(
        _ fixture: ProbeFixture, dataDirectory: String?, environment: [String: String] = [:],
        minimumFreeBytes: UInt64 = 1
    ) -> LinuxPermissionProbe {
        LinuxPermissionProbe(
            .init(
                root: fixture.path, environment: environment, credentials: ProbeFixture.stranger,
                dataDirectory: dataDirectory, minimumFreeBytes: minimumFreeBytes))
    }

    @Test func folderOwnedAndWritableByTheUserIsAvailable() throws {
        let fixture = try ProbeFixture()
        try fixture.directory("/data")
        try fixture.own("/data", mode: 0o755, uid: 4242, gid: 4242)
        let access = probe(fixture, dataDirectory: fixture.path + "/data").check(.storage)
        #expect(access.probeIsAvailable)
        #expect(access.probeText.contains("the data folder \(fixture.path)/data is writable"))
        #expect(access.probeText.contains("free"))
    }

    @Test func folderWithMode0555IsUnavailableForANonRootUser() throws {
        let fixture = try ProbeFixture()
        try fixture.directory("/data")
        try fixture.own("/data", mode: 0o555, uid: 4242, gid: 4242)
        let access = probe(fixture, dataDirectory: fixture.path + "/data").check(.storage)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("is not writable"))
        #expect(access.probeText.contains("dr-xr-xr-x"))
        #expect(access.probeText.contains("do not grant write"))
    }

    @Test func missingFolderIsCheckedOnItsNearestExistingAncestor() throws {
        let fixture = try ProbeFixture()
        try fixture.directory("/home/user")
        try fixture.own("/home/user", mode: 0o700, uid: 4242, gid: 4242)
        let folder = fixture.path + "/home/user/.local/share"
        let access = probe(fixture, dataDirectory: nil, environment: ["HOME": fixture.path + "/home/user"]).check(
            .storage)
        #expect(access.probeIsAvailable)
        #expect(
            access.probeText.contains(
                "\(fixture.path)/home/user (the nearest existing folder above the data folder \(folder)"))
    }

    @Test func xdgDataHomeIsTheDefaultDataFolder() throws {
        let fixture = try ProbeFixture()
        try fixture.directory("/xdg-data")
        try fixture.own("/xdg-data", mode: 0o555, uid: 4242, gid: 4242)
        let access = probe(
            fixture, dataDirectory: nil,
            environment: ["XDG_DATA_HOME": fixture.path + "/xdg-data", "HOME": "/nonexistent"]
        ).check(.storage)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("\(fixture.path)/xdg-data"))
    }

    @Test func tooLittleFreeSpaceIsUnavailableWithTheSizes() throws {
        let fixture = try ProbeFixture()
        try fixture.directory("/data")
        try fixture.own("/data", mode: 0o755, uid: 4242, gid: 4242)
        let access = probe(fixture, dataDirectory: fixture.path + "/data", minimumFreeBytes: .max).check(.storage)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("free"))
        #expect(access.probeText.contains("needs at least 16 EiB (\(UInt64.max) bytes)"))
    }

    @Test func noDataFolderAtAllIsUnavailable() throws {
        let fixture = try ProbeFixture()
        let access = probe(fixture, dataDirectory: nil).check(.storage)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("HOME"))
    }

    @Test(arguments: [
        (UInt64(0), "0 bytes"), (1, "1 byte"), (1023, "1023 bytes"), (1024, "1 KiB"),
        (1536, "1.5 KiB"), (64 << 20, "64 MiB"), (UInt64.max, "16 EiB"),
    ])
    func byteCountsAreHumanReadable(bytes: UInt64, text: String) {
        #expect(LinuxPermissionProbe.byteCount(bytes) == text)
    }

    @Test(arguments: [("/a/b", "/a"), ("/a", "/"), ("/a/b/", "/a"), ("/", "/")])
    func parentFolder(path: String, parent: String) {
        #expect(LinuxPermissionProbe.parent(of: path) == parent)
    }
}

@Suite(.enabled(if: fixturesCanChangeOwners, "fixture files get other owners with chown, which needs root (as in CI)"))
struct PhotosProbeTests {
    private func probe(_ fixture: ProbeFixture, environment: [String: String]) -> LinuxPermissionProbe {
        LinuxPermissionProbe(.init(root: fixture.path, environment: environment, credentials: ProbeFixture.stranger))
    }

    @Test func picturesFolderFromUserDirsIsAvailable() throws {
        let fixture = try ProbeFixture()
        let home = fixture.path + "/home/user"
        try fixture.write(
            "/home/user/.config/user-dirs.dirs",
            """
            # This file is written by xdg-user-dirs-update
            XDG_DESKTOP_DIR="$HOME/Desktop"
            XDG_PICTURES_DIR="$HOME/Bilder"

            """)
        try fixture.directory("/home/user/Bilder")
        try fixture.own("/home/user/Bilder", mode: 0o750, uid: 4242, gid: 4242)
        let access = probe(fixture, environment: ["HOME": home]).check(.photos)
        #expect(access == .available(detail: "pictures folder \(home)/Bilder (from \(home)/.config/user-dirs.dirs)"))
    }

    @Test func userDirsInXDGConfigHomeWins() throws {
        let fixture = try ProbeFixture()
        try fixture.write("/config/user-dirs.dirs", "XDG_PICTURES_DIR=\"/srv/photos\"\n")
        let folder = try #require(
            probe(fixture, environment: ["HOME": "/home/user", "XDG_CONFIG_HOME": fixture.path + "/config"])
                .picturesFolder())
        #expect(folder.path == "/srv/photos")
    }

    @Test func missingPicturesFolderIsUnavailableAndNamesThePath() throws {
        let fixture = try ProbeFixture()
        let home = fixture.path + "/home/user"
        try fixture.write("/home/user/.config/user-dirs.dirs", "XDG_PICTURES_DIR=\"$HOME/Bilder\"\n")
        let access = probe(fixture, environment: ["HOME": home]).check(.photos)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("the pictures folder \(home)/Bilder"))
        #expect(access.probeText.contains("does not exist"))
    }

    @Test func unreadablePicturesFolderIsUnavailable() throws {
        let fixture = try ProbeFixture()
        let home = fixture.path + "/home/user"
        try fixture.directory("/home/user/Pictures")
        try fixture.own("/home/user/Pictures", mode: 0o700, uid: 0, gid: 0)
        let access = probe(fixture, environment: ["HOME": home]).check(.photos)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("is not readable"))
        #expect(access.probeText.contains("drwx------"))
    }

    @Test func picturesEnvironmentVariableComesFirst() throws {
        let fixture = try ProbeFixture()
        try fixture.directory("/photos")
        try fixture.own("/photos", mode: 0o755)
        let access = probe(fixture, environment: ["HOME": "/home/user", "XDG_PICTURES_DIR": fixture.path + "/photos"])
            .check(.photos)
        #expect(access == .available(detail: "pictures folder \(fixture.path)/photos (from XDG_PICTURES_DIR)"))
    }

    @Test(arguments: [
        ("XDG_PICTURES_DIR=\"$HOME/Pictures\"", "$HOME/Pictures" as String?),
        ("  XDG_PICTURES_DIR=\"/data/pics\"  ", "/data/pics"),
        ("# XDG_PICTURES_DIR=\"$HOME/Old\"", nil),
        ("XDG_PICTURES_DIR=\"$HOME/A\"\nXDG_PICTURES_DIR=\"$HOME/B\"", "$HOME/B"),
        ("XDG_MUSIC_DIR=\"$HOME/Music\"", nil),
    ])
    func userDirsLinesAreParsed(text: String, value: String?) {
        #expect(LinuxPermissionProbe.userDirsValue(text, key: "XDG_PICTURES_DIR") == value)
    }

    @Test(arguments: [
        ("$HOME/Pictures", "/home/u/Pictures"), ("${HOME}/Pics", "/home/u/Pics"),
        ("/abs/path", "/abs/path"), ("relative", "/home/u/relative"),
    ])
    func homeIsExpanded(value: String, expanded: String) {
        #expect(LinuxPermissionProbe.expandingHome(value, home: "/home/u") == expanded)
    }
}

@Suite(.enabled(if: fixturesCanChangeOwners, "fixture files get other owners with chown, which needs root (as in CI)"))
struct DeviceIdentityProbeTests {
    @Test(arguments: [
        ("0123456789abcdef0123456789abcdef\n", nil as String?),
        ("0123456789abcdef0123456789abcdef", nil),
        ("uninitialized\n", "says 'uninitialized'"),
        ("", "is empty"),
        ("\n", "is empty"),
        ("0123456789ABCDEF0123456789ABCDEF\n", "does not hold a machine ID"),
        ("0123456789abcdef\n", "does not hold a machine ID"),
    ])
    func machineIDContentDecidesDeviceIdentity(content: String, problem: String?) throws {
        let fixture = try ProbeFixture()
        try fixture.write("/etc/machine-id", content)
        try fixture.own("/etc/machine-id", mode: 0o444)
        let access = fixture.probe().check(.deviceIdentity)
        if let problem {
            #expect(access.probeIsUnavailable)
            #expect(access.probeText.contains(problem))
            #expect(access.probeText.contains("systemd-machine-id-setup"))
        } else {
            #expect(access == .available(detail: "machine ID in \(fixture.path)/etc/machine-id"))
        }
    }

    @Test func missingMachineIDIsUnavailable() throws {
        let fixture = try ProbeFixture()
        let access = fixture.probe().check(.deviceIdentity)
        #expect(
            access
                == .unavailable(
                    reason: "\(fixture.path)/etc/machine-id does not exist: "
                        + "run systemd-machine-id-setup (as root) to create it"))
    }

    @Test func aMachineIDThatIsNotARegularFileIsNeverOpened() throws {
        let fixture = try ProbeFixture()
        try FileManager.default.createDirectory(atPath: fixture.path + "/etc", withIntermediateDirectories: true)
        // A FIFO: opening it for reading would block (and a device node could act on open).
        #expect(mkfifo(fixture.path + "/etc/machine-id", 0o444) == 0)
        let access = fixture.probe().check(.deviceIdentity)
        #expect(access.probeText.contains("is not a regular file"), "\(access)")
        #expect(access.probeIsUnavailable)
    }

    @Test func unreadableMachineIDIsUnavailable() throws {
        let fixture = try ProbeFixture()
        try fixture.write("/etc/machine-id", "0123456789abcdef0123456789abcdef\n")
        try fixture.own("/etc/machine-id", mode: 0o400)
        let access = fixture.probe().check(.deviceIdentity)
        #expect(access.probeIsUnavailable)
        #expect(access.probeText.contains("-r--------"))
    }
}
