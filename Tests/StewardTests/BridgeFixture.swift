import Foundation
import Steward
import StewardCore
import StewardTelemetry
import StewardTesting
import Testing

/// A started instance over a data folder of its own, with the example manifest plus what the
/// bridges need declared: the `app_log` event (log lines as records).
final class BridgeFixture: @unchecked Sendable {  // Used by one test at a time.
    let directory = NSTemporaryDirectory() + "steward-bridge-\(UUID().uuidString)"
    let telemetryTransport = RecordingTransport(clock: ContinuousClock())
    let crashTransport = RecordingTransport(clock: ContinuousClock())
    let steward: Steward
    let configuration: Steward.Configuration

    init() throws {
        var configuration = Steward.Configuration(
            appID: "org.steward.bridge-tests", manifest: try Self.manifest(), dataDirectory: directory,
            prompter: ScriptedPrompter())
        configuration.permissionProbe = ManualPermissionProbe()
        configuration.transports = ["telemetryBackend": telemetryTransport, "crashBackend": crashTransport]
        // One process with other suites: the crash tests own the signal handlers.
        configuration.installsCrashHandler = false
        configuration.automaticDelivery = nil
        configuration.otelEnvironment = [:]
        // Key files: never the keyring or a credential of the machine running the tests.
        configuration.keyStoreEnvironment = [:]
        self.configuration = configuration
        steward = try Steward.start(configuration)
    }

    deinit {
        steward.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The example manifest with `app_log` and six metrics declared for analytics.
    static func manifest() throws -> PrivacyManifest {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Examples/steward/example-manifest.json"))
        var json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var events = json["events"] as? [[String: Any]] ?? []
        events.append([
            "name": "app_log", "purpose": "analytics", "category": "usageEvents", "expires": "2099-12-31",
            "attributes": [
                ["name": "message", "type": "string", "classification": "plain", "maxLength": 200],
                ["name": "level", "type": "string", "classification": "plain", "maxLength": 16],
                ["name": "logger", "type": "string", "classification": "plain", "maxLength": 64],
                ["name": "route", "type": "string", "classification": "plain", "maxLength": 64],
                ["name": "status", "type": "int", "classification": "plain"],
            ],
        ])
        json["events"] = events
        json["metrics"] = [
            [
                "name": "http.server.requests", "purpose": "analytics", "category": "usageEvents",
                "unit": "{request}", "dimensions": ["route", "status"],
            ],
            ["name": "http.server.duration", "purpose": "analytics", "category": "usageEvents", "unit": "ms"],
            ["name": "queue.depth", "purpose": "analytics", "category": "usageEvents", "dimensions": ["queue"]],
            [
                "name": "payload.size", "purpose": "analytics", "category": "usageEvents", "unit": "By",
                "bounds": [100, 1_000, 10_000],
            ],
            ["name": "bytes.sent", "purpose": "analytics", "category": "usageEvents", "unit": "By"],
            ["name": "temperature", "purpose": "analytics", "category": "usageEvents", "unit": "Cel"],
        ]
        return try PrivacyManifest.decode(json: Array(try JSONSerialization.data(withJSONObject: json)))
    }

    /// The OTLP bodies sent to the telemetry recipient, as text.
    var telemetryBodies: [String] {
        telemetryTransport.payloads.map { String(decoding: $0.body, as: UTF8.self) }
    }
}
