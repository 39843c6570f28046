import Foundation
import Testing

/// `steward track` and `steward flush` as a user runs them.
extension CLITests {
    @Test func trackKeepsEventsOnlyUnderConsentAndFlushWritesOTLPToTheOutbox() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let pending = try run(["track", "screen_view", "--attr", "screen=home", "--data-dir", dir])
        #expect(pending.status == 0, "\(pending.stderr)")
        #expect(pending.stdout.contains("screen_view: held (analytics is pending)"))
        #expect(try run(["consent", "grant", "analytics", "--data-dir", dir]).status == 0)
        let granted = try run([
            "track", "screen_view", "--attr", "screen=scan", "--attr", "duration_ms=420", "--data-dir", dir,
        ])
        #expect(granted.stdout.contains("screen_view: recorded (analytics is granted)"))
        #expect(try run(["consent", "deny", "pushNotifications", "--data-dir", dir]).status == 0)
        #expect(
            try run(["track", "push_opened", "--attr", "campaign=spring", "--data-dir", dir]).stdout.contains(
                "dropped(consent)"))

        // Without an endpoint nothing leaves the vault: queued, encrypted, no outbox folder.
        let kept = try run(["flush", "--data-dir", dir])
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(
            kept.stdout.contains(
                "telemetry: 2 event(s) queued; 0 accepted, 2 queued for a destination → no endpoint: kept in the vault, encrypted"
            ), "\(kept.stdout)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/outbox"))
        #expect(try run(["access", "--data-dir", dir]).stdout.contains("queued for telemetryBackend: 2"))

        let flush = try run(["flush", "--plaintext-outbox", "--data-dir", dir])
        #expect(flush.status == 0, "\(flush.stderr)")
        // The event held while pending was stored when analytics was granted: two batches.
        #expect(
            flush.stdout.contains("telemetry: 0 event(s) queued; 2 accepted → plaintext outbox (DATA/outbox)"),
            "\(flush.stdout)")
        let bodies = try FileManager.default.contentsOfDirectory(atPath: dir + "/outbox").filter {
            $0.hasSuffix("-telemetryBackend.body")
        }
        #expect(bodies.count == 2)
        let body = try bodies.map { try String(contentsOfFile: dir + "/outbox/" + $0, encoding: .utf8) }.joined()
        #expect(body.contains(#""eventName":"screen_view""#))
        #expect(body.contains(#""intValue":"420""#), "64-bit integers as strings, per OTLP JSON")
        #expect(!body.contains("push_opened"))

        // A withdrawal from the CLI removes that purpose's files from the plaintext outbox.
        #expect(
            try run(["access", "--plaintext-outbox", "--data-dir", dir]).stdout.contains(
                "in the plaintext outbox \(dir)/outbox for telemetryBackend: 2"))
        #expect(try run(["consent", "deny", "analytics", "--data-dir", dir]).status == 0)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/outbox").filter { !$0.hasPrefix(".") }
        #expect(left.isEmpty, "\(left)")
    }

    @Test func trackRefusesWhatTheManifestDoesNotDeclare() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let undeclared = try run(["track", "purchase", "--data-dir", dir])
        #expect(undeclared.status == 64)
        #expect(undeclared.stderr.contains("'purchase' is not an event the manifest declares"))
        let wrongType = try run(["track", "app_start", "--attr", "cold_start=maybe", "--data-dir", dir])
        #expect(wrongType.status == 64)
        #expect(wrongType.stderr.contains("cold_start is true or false"))
        let unknown = try run(["track", "screen_view", "--attr", "email=a@b.c", "--data-dir", dir])
        #expect(unknown.stderr.contains("'email' is not an attribute of screen_view"))
    }

    @Test func flushRefusesPlainHTTPToAnotherMachine() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(["flush", "--otlp", "http://collector.example.com/v1/logs", "--data-dir", dir])
        #expect(result.status != 0)
        #expect(result.stderr.lowercased().contains("https"), "\(result.stderr)")
    }
}
