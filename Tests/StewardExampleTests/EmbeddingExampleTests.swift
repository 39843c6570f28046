import Foundation
import StewardTesting
import Testing

/// The embedding example (Examples/embedding): a host app with its own Transport and
/// PermissionPrompter, built with the package and run here as a user runs it.
@Suite struct EmbeddingExampleTests {
    @Test func theEmbeddingExampleRunsWithItsOwnTransportAndPrompter() throws {
        let binary = CLITests.binary.deletingLastPathComponent().appendingPathComponent("steward-embedding-example")
        #expect(FileManager.default.isExecutableFile(atPath: binary.path), "expected the example at \(binary.path)")
        let manifest = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Examples/steward/example-manifest.json").path
        let dir = NSTemporaryDirectory() + "steward-embedding-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outcome = try ChildProcess.run(binary.path, arguments: [manifest, dir])
        let output = String(decoding: outcome.standardOutput, as: UTF8.self)
        #expect(outcome.termination == .exited(0), "\(output)")
        // Its prompter answered (the OS never restricts notifications), its transport carried the OTLP request.
        #expect(output.contains("prompt: notifications"))
        #expect(output.contains("notifications: granted"))
        #expect(output.contains("record: recorded"))
        #expect(output.contains("record: held"), "push notifications are pending: held, not sent")
        #expect(output.contains("uplink: telemetryBackend/v1/logs analytics"))
        #expect(output.contains("sent: 1 event(s), accepted 1"))
        #expect(output.contains("disclosure: # Privacy disclosure"))
    }
}
