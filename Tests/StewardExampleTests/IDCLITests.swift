import Foundation
import StewardTesting
import Testing

/// `steward id` as a user runs it.
extension CLITests {
    @Test func idShowsTheAppScopedIDThatSystemdID128Computes() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(["id", "--json", "--app-id", "org.example.scanner", "--data-dir", dir])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let application = try #require(json["applicationID"] as? String).replacingOccurrences(of: "-", with: "")
        let appScoped = try #require(json["appScopedID"] as? String).replacingOccurrences(of: "-", with: "")
        let tool = try ChildProcess.run(
            "/usr/bin/systemd-id128", arguments: ["machine-id", "--app-specific=\(application)"],
            standardError: .inherit)
        let expected = String(decoding: tool.standardOutput, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(appScoped == expected)
        // The example manifest declares no advertising purpose: the advertising ID is zeros.
        #expect(json["advertisingID"] as? String == "00000000-0000-0000-0000-000000000000")
    }

    @Test func theInstallationIDIsStableAcrossRunsAndTrackingCanBeLimited() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try run(["id", "--json", "--data-dir", dir])
        let second = try run(["id", "--json", "--data-dir", dir])
        let a = try #require(try JSONSerialization.jsonObject(with: Data(first.stdout.utf8)) as? [String: Any])
        let b = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        #expect(a["installationID"] as? String == b["installationID"] as? String)
        let limited = try run(["id", "limit-tracking", "on", "--json", "--data-dir", dir])
        #expect(limited.stdout.contains("\"trackingLimited\" : true"))
        #expect(try run(["id", "limit-tracking", "maybe", "--data-dir", dir]).status != 0)
    }
}

extension CLITests {
    @Test(
        .enabled(if: CLITests.hasMachineID, "needs /etc/machine-id: without it deviceIdentity is restricted by the OS"))
    func deviceShowsTheProfileAndRawMACsOnlyWithTheDeviceIdentityPermission() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plain = try run(["device", "--json", "--data-dir", dir])
        #expect(plain.status == 0, "\(plain.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir), "reading the device creates no data folder")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(plain.stdout.utf8)) as? [String: Any])
        let profile = try #require(json["profile"] as? [String: Any])
        #expect(profile["operatingSystem"] != nil && profile["kernel"] != nil && profile["hardware"] != nil)
        #expect((json["peripherals"] as? [String: Any])?["cameras"] != nil)
        #expect(plain.stdout.contains("needs the deviceIdentity permission"))
        #expect(
            try run(["permissions", "request", "deviceIdentity", "--answer", "allow", "--data-dir", dir]).status == 0)
        let shown = try run(["device", "--data-dir", dir])
        #expect(shown.status == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("lo "))
        #expect(shown.stdout.contains("00:00:00:00:00:00"), "the loopback MAC is shown once the permission is granted")
        #expect(try run(["permissions", "revoke", "deviceIdentity", "--data-dir", dir]).status == 0)
        #expect(try run(["device", "--data-dir", dir]).stdout.contains("needs the deviceIdentity permission"))
    }
}
