import Foundation
import StewardTesting
import Testing

/// `steward permissions` as a user runs it.
extension CLITests {
    /// The statuses `permissions list --json` prints, by permission.
    func permissionStatuses(_ dir: String) throws -> [String: [String: Any]] {
        let result = try run(["permissions", "list", "--json", "--data-dir", dir])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let rows = try #require(json["permissions"] as? [[String: Any]])
        return Dictionary(uniqueKeysWithValues: rows.map { ($0["permission"] as? String ?? "", $0) })
    }

    @Test func permissionsListShowsEveryDeclaredPermissionWithItsRationale() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let text = try run(["permissions", "--data-dir", dir])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("Permissions (sandbox: "))
        #expect(text.stdout.contains("why: Lets the app prove at sign-in that this is one of your registered devices."))
        let rows = try permissionStatuses(dir)
        #expect(
            Set(rows.keys) == [
                "deviceIdentity", "storage", "camera", "photos", "location", "locationPrecise", "microphone",
                "notifications",
            ])
        #expect(rows["notifications"]?["status"] as? String == "notDetermined")
        for (name, row) in rows where row["status"] as? String == "restricted" {
            #expect(row["restrictedBy"] as? String == "operatingSystem", "\(name)")
            #expect((row["reason"] as? String)?.isEmpty == false, "\(name) is restricted without a reason")
        }
    }

    @Test func twoDenialsAreFinalUntilReset() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func request(_ answer: String) throws -> String {
            let result = try run(["permissions", "request", "notifications", "--answer", answer, "--data-dir", dir])
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout
        }
        #expect(try request("deny").contains("notifications: denied"))
        #expect(try permissionStatuses(dir)["notifications"]?["shouldShowRationale"] as? Bool == true)
        #expect(try request("deny").contains("notifications: permanentlyDenied"))
        #expect(try request("allow").contains("notifications: permanentlyDenied"), "not asked again")
        let reset = try run(["permissions", "reset", "notifications", "--data-dir", dir])
        #expect(reset.stdout.contains("notifications: notDetermined"))
        #expect(try request("allow").contains("notifications: granted"))
        let revoke = try run(["permissions", "revoke", "notifications", "--data-dir", dir])
        #expect(revoke.status == 0)
        #expect(revoke.stdout.contains("notifications: denied"))
        #expect(
            try permissionStatuses(dir)["notifications"]?["decisions"] as? Int == 5,
            "deny, deny, reset, allow, revoke: the refused third request asked nothing")
    }

    @Test(
        .enabled(if: CLITests.hasMachineID, "needs /etc/machine-id: without it deviceIdentity is restricted by the OS"))
    func allowOnceLastsForTheProcessOnly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let once = try run(["permissions", "request", "deviceIdentity", "--answer", "allow-once", "--data-dir", dir])
        #expect(once.stdout.contains("deviceIdentity: granted"))
        #expect(
            try permissionStatuses(dir)["deviceIdentity"]?["status"] as? String == "notDetermined",
            "the next process asks again")
        let id = try run(["id", "--data-dir", dir])
        #expect(id.stdout.contains("machine ID       withheld"))
    }

    /// Whether this machine has a machine ID the deviceIdentity check accepts.
    static var hasMachineID: Bool {
        guard let text = try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8) else { return false }
        let id = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return id.count == 32 && id.allSatisfy(\.isHexDigit)
    }

    @Test(
        .enabled(if: CLITests.hasMachineID, "needs /etc/machine-id: without it deviceIdentity is restricted by the OS"))
    func theRawMachineIDFollowsThePermission() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(
            try run(["permissions", "request", "deviceIdentity", "--answer", "allow", "--data-dir", dir]).status == 0)
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(try run(["id", "--json", "--data-dir", dir]).stdout.utf8))
                as? [String: Any])
        let machineID = try String(contentsOfFile: "/etc/machine-id", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines)
        #expect(json["machineID"] as? String == machineID)
        #expect(try run(["permissions", "revoke", "deviceIdentity", "--data-dir", dir]).status == 0)
        #expect(try run(["id", "--data-dir", dir]).stdout.contains("withheld"))
    }

    @Test func anUndeclaredPermissionFailsWithTheManifestFix() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(["permissions", "request", "bluetooth", "--answer", "allow", "--data-dir", dir])
        #expect(result.status == 1)
        #expect(result.stderr.contains(#"add to the manifest's "permissions": {"permission": "bluetooth""#))
    }

    @Test func aBadAnswerIsAUsageError() throws {
        let result = try run(["permissions", "request", "camera", "--answer", "perhaps"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--answer is one of allow, allow-once, deny, deny-always"))
    }

    @Test func withoutATerminalOrAnAnswerTheRequestFailsClearly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // setsid: no controlling terminal, as under a service manager or CI.
        let outcome = try ChildProcess.run(
            "/usr/bin/setsid",
            arguments: ["--wait", Self.binary.path, "permissions", "request", "notifications", "--data-dir", dir],
            standardError: .pipe)
        let stderr = String(decoding: outcome.standardError, as: UTF8.self)
        #expect(outcome.termination == .exited(1))
        #expect(stderr.contains("there is no terminal to ask on"))
        #expect(stderr.contains("--answer"))
        #expect(try permissionStatuses(dir)["notifications"]?["status"] as? String == "notDetermined")
    }

    @Test(
        .enabled(if: CLITests.hasMachineID, "needs /etc/machine-id: without it deviceIdentity is restricted by the OS"))
    func anOperatorsAnswersFileAnswersForAKiosk() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let answers = dir + "-answers.json"
        try #"{"notifications": "deny-always", "*": "allow"}"#.write(toFile: answers, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: answers) }
        let denied = try run(["permissions", "request", "notifications", "--answers-file", answers, "--data-dir", dir])
        #expect(denied.stdout.contains("notifications: permanentlyDenied"), "\(denied.stderr)")
        let allowed = try run([
            "permissions", "request", "deviceIdentity", "--answers-file", answers, "--data-dir", dir,
        ])
        #expect(allowed.stdout.contains("deviceIdentity: granted"))
    }
}
