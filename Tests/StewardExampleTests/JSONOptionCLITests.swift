import Foundation
import Testing

/// `--json`: every command that accepts it prints one JSON document on standard output; the
/// commands that print no result (`demo`, `crash trigger`) refuse it as a usage error.
extension CLITests {
    /// One step of the walk through every command that takes `--json`: the subcommand's path
    /// (as `steward help` names it) and the arguments after it.
    struct JSONStep: CustomStringConvertible {
        var path: [String]
        var arguments: [String] = []
        var description: String { (path + arguments).joined(separator: " ") }
    }

    /// Every command that accepts `--json`, in an order in which each succeeds on one new data
    /// folder. `crash show` takes the id `crash list` printed.
    func jsonSteps(photo: String, scratch: String) -> [JSONStep] {
        [
            JSONStep(path: ["inspect"]),
            JSONStep(path: ["device"]),
            JSONStep(path: ["id", "show"]),
            JSONStep(path: ["id", "reset-advertising"]),
            JSONStep(path: ["id", "limit-tracking"], arguments: ["on"]),
            JSONStep(path: ["permissions", "list"]),
            JSONStep(path: ["permissions", "request"], arguments: ["camera", "--answer", "deny"]),
            JSONStep(path: ["permissions", "revoke"], arguments: ["camera"]),
            JSONStep(path: ["permissions", "reset"], arguments: ["camera"]),
            JSONStep(path: ["consent", "show"]),
            JSONStep(path: ["consent", "grant"], arguments: ["analytics", "crashReporting"]),
            JSONStep(path: ["consent", "deny"], arguments: ["pushNotifications"]),
            JSONStep(path: ["consent", "age"], arguments: ["30"]),
            JSONStep(path: ["consent", "history"]),
            JSONStep(path: ["track"], arguments: ["screen_view", "--attr", "screen=home"]),
            JSONStep(path: ["flush"]),
            JSONStep(path: ["media", "add"], arguments: [photo]),
            JSONStep(path: ["media", "list"]),
            JSONStep(path: ["media", "export"], arguments: [scratch + "/images"]),
            JSONStep(path: ["media", "delete"], arguments: ["--all"]),
            JSONStep(path: ["crash", "list"]),
            JSONStep(path: ["crash", "show"]),
            JSONStep(path: ["disclose"]),
            JSONStep(path: ["access"]),
            JSONStep(path: ["export"], arguments: [scratch + "/export.zip"]),
            JSONStep(path: ["erase"], arguments: ["--yes"]),
        ]
    }

    /// The leaf subcommands, from `steward help` (each `SUBCOMMANDS:` section, recursively).
    func leafCommands(under path: [String] = []) throws -> [[String]] {
        let help = try run(path + ["--help"])
        #expect(help.status == 0, "\(path): \(help.stderr)")
        guard let section = help.stdout.range(of: "SUBCOMMANDS:\n") else { return [path] }
        var leaves: [[String]] = []
        for line in help.stdout[section.upperBound...].split(separator: "\n", omittingEmptySubsequences: false) {
            // A subcommand's line starts with two spaces and its name; its description may
            // wrap onto lines indented further.
            guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first,
                name.allSatisfy({ ($0.isLetter && $0.isLowercase) || $0 == "-" })
            else { continue }
            leaves += try leafCommands(under: path + [String(name)])
        }
        return leaves
    }

    @Test func everyCommandThatAcceptsJSONPrintsOneJSONDocument() throws {
        let dir = temporaryDirectory()
        let scratch = temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(atPath: dir)
            try? FileManager.default.removeItem(atPath: scratch)
        }
        let photo = try writeSample(scratch)
        let steps = jsonSteps(photo: photo, scratch: scratch)

        // The walk covers exactly the commands whose help offers --json.
        let leaves = try leafCommands()
        #expect(leaves.count > 20, "\(leaves)")
        let offeringJSON = try Set(
            leaves.filter { try run($0 + ["--help"]).stdout.contains("--json") }.map { $0.joined(separator: " ") })
        #expect(offeringJSON == Set(steps.map { $0.path.joined(separator: " ") }))
        #expect(offeringJSON.isDisjoint(with: ["demo", "crash trigger"]))

        // A report for `crash show`: a real crash in a child, processed by the next command.
        #expect(try run(["consent", "grant", "crashReporting", "--data-dir", dir]).status == 0)
        #expect(try run(["crash", "trigger", "abort", "--data-dir", dir]).signaled)

        var reportID: String?
        for step in steps {
            var arguments = step.path + step.arguments
            if step.path == ["crash", "show"] {
                arguments.append(try #require(reportID, "crash list named no report"))
            }
            let result = try run(arguments + ["--json", "--data-dir", dir])
            #expect(result.status == 0, "\(step): \(result.stderr)")
            let document = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))
            #expect(document != nil, "\(step) printed no JSON document: \(result.stdout)")
            if step.path == ["crash", "list"] {
                let reports = (document as? [String: Any])?["reports"] as? [[String: Any]]
                reportID = reports?.first?["id"] as? String
            }
        }
    }

    @Test func trackJSONSaysWhatBecameOfTheEventUnderEachConsent() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func track(_ arguments: [String]) throws -> [String: Any] {
            let result = try run(["track"] + arguments + ["--json", "--data-dir", dir])
            #expect(result.status == 0, "\(result.stderr)")
            return try #require(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        }
        let held = try track(["screen_view", "--attr", "screen=home"])
        #expect(held["event"] as? String == "screen_view")
        #expect(held["outcome"] as? String == "held")
        #expect(held["purpose"] as? String == "analytics")
        #expect(held["consent"] as? String == "pending")
        #expect(held["droppedReason"] == nil)

        #expect(try run(["consent", "grant", "analytics", "--data-dir", dir]).status == 0)
        let recorded = try track(["screen_view", "--attr", "screen=scan"])
        #expect(recorded["outcome"] as? String == "recorded")
        #expect(recorded["consent"] as? String == "granted")

        #expect(try run(["consent", "deny", "pushNotifications", "--data-dir", dir]).status == 0)
        let dropped = try track(["push_opened", "--attr", "campaign=spring"])
        #expect(dropped["outcome"] as? String == "dropped")
        #expect(dropped["droppedReason"] as? String == "consent")
        #expect(dropped["purpose"] as? String == "pushNotifications")
        #expect(dropped["consent"] as? String == "denied")
    }

    @Test func flushJSONReportsEachRecipientsDeliveryAndDestination() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["consent", "grant", "analytics", "--data-dir", dir]).status == 0)
        #expect(try run(["track", "screen_view", "--attr", "screen=home", "--data-dir", dir]).status == 0)
        func flush(_ extra: [String]) throws -> [String: Any] {
            let result = try run(["flush", "--json", "--data-dir", dir] + extra)
            #expect(result.status == 0, "\(result.stderr)")
            return try #require(
                try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any], "\(result.stdout)")
        }

        // No endpoint: queued in the vault, encrypted.
        let kept = try flush([])
        let telemetry = try #require(kept["telemetry"] as? [String: Any])
        #expect(telemetry["recipient"] as? String == "telemetryBackend")
        #expect(telemetry["queued"] as? Int == 1)
        #expect(telemetry["accepted"] as? Int == 0)
        #expect(telemetry["awaitingDestination"] as? Int == 1)
        #expect(telemetry["destination"] as? String == "vault")
        let crashes = try #require(kept["crashes"] as? [String: Any])
        #expect(crashes["recipient"] as? String == "crashBackend")
        #expect(crashes["queued"] as? Int == 0)
        #expect((kept["problems"] as? [String])?.isEmpty == true)

        // The plaintext outbox takes what was queued.
        let written = try flush(["--plaintext-outbox"])
        let delivered = try #require(written["telemetry"] as? [String: Any])
        #expect(delivered["queued"] as? Int == 0)
        #expect(delivered["accepted"] as? Int == 1)
        #expect(delivered["awaitingDestination"] as? Int == 0)
        #expect(delivered["destination"] as? String == "plaintextOutbox")
    }

    @Test(arguments: [["demo"], ["crash", "trigger", "segv"]])
    func aCommandThatPrintsNoResultRefusesJSON(_ command: [String]) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(command + ["--json", "--data-dir", dir])
        #expect(!result.signaled, "\(command) ran instead of refusing --json")
        #expect(result.status == 64, "\(command): \(result.status) \(result.stderr)")
        #expect(result.stderr.contains("Unknown option '--json'"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir), "\(command) did something before refusing")
    }
}
