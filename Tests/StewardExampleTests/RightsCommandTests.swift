import Foundation
import Testing

/// `steward access`, `export` and `erase`, run as a user runs them.
extension CLITests {
    @Test func accessExportAndEraseWorkOnTheCommandLine() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["consent", "grant", "analytics", "--data-dir", dir]).status == 0)
        #expect(try run(["track", "screen_view", "--attr", "screen=home", "--data-dir", dir]).status == 0)
        #expect(try run(["flush", "--plaintext-outbox", "--data-dir", dir]).status == 0)

        let access = try run(["access", "--json", "--data-dir", dir])
        #expect(access.status == 0, "\(access.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(access.stdout.utf8)) as? [String: Any])
        let categories = try #require(report["categories"] as? [[String: Any]])
        let usage = try #require(categories.first { $0["category"] as? String == "usageEvents" })
        #expect(usage["disclosedTo"] as? [String] == ["telemetryBackend"])

        let archive = dir + "-export.zip"
        defer { try? FileManager.default.removeItem(atPath: archive) }
        let export = try run(["export", archive, "--data-dir", dir])
        #expect(export.status == 0, "\(export.stderr)")
        #expect(export.stdout.contains("consentReceipts: "))
        #expect(export.stdout.contains("auditEntries: 1"))
        #expect(FileManager.default.fileExists(atPath: archive))
        let again = try run(["export", archive, "--data-dir", dir])
        #expect(again.status != 0, "an existing archive is not overwritten")
        #expect(again.stderr.contains("exists"))

        // Without --yes it asks; anything but yes erases nothing.
        let declined = try run(["erase", "--data-dir", dir], stdin: "no\n")
        #expect(declined.status == 1)
        #expect(declined.stdout.contains("Nothing was erased."))
        #expect(try analyticsState(dir) == "granted")

        let erased = try run(["erase", "--yes", "--plaintext-outbox", "--data-dir", dir])
        #expect(erased.status == 0, "\(erased.stderr)")
        #expect(erased.stdout.contains("Deletion requests: telemetryBackend"))
        #expect(try analyticsState(dir) == "pending", "consents are back to pending")
        #expect(try run(["access", "--data-dir", dir]).status == 0, "the data folder works again")
    }

    /// The consent state of analytics in `dir`, per `steward consent show --json`.
    func analyticsState(_ dir: String) throws -> String? {
        let shown = try run(["consent", "show", "--json", "--data-dir", dir])
        let json = try JSONSerialization.jsonObject(with: Data(shown.stdout.utf8)) as? [String: Any]
        let purposes = json?["purposes"] as? [[String: Any]] ?? []
        return purposes.first { $0["purpose"] as? String == "analytics" }?["state"] as? String
    }
}
