// What the bridge benchmarks (BridgeBenchmarks) and the bridge profile driver (BridgeProfile)
// share: the manifest and the configuration of the Steward they start.

import Foundation
public import Steward
public import StewardCore
import StewardTelemetry

/// The bridge benchmarks' manifest and configuration.
public enum BridgeShared {
    /// The example manifest with the `app_log` event and two metrics declared for analytics.
    public static func manifest() throws -> PrivacyManifest {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Examples/steward/example-manifest.json"))
        guard var json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        var events = json["events"] as? [[String: Any]] ?? []
        events.append([
            "name": "app_log", "purpose": "analytics", "category": "usageEvents", "expires": "2099-12-31",
            "attributes": [
                ["name": "message", "type": "string", "classification": "plain", "maxLength": 200],
                ["name": "level", "type": "string", "classification": "plain", "maxLength": 16],
                ["name": "route", "type": "string", "classification": "plain", "maxLength": 64],
                ["name": "status", "type": "int", "classification": "plain"],
            ],
        ])
        json["events"] = events
        json["metrics"] = [
            [
                "name": "http.server.requests", "purpose": "analytics", "category": "usageEvents",
                "dimensions": ["route", "status"],
            ],
            [
                "name": "http.server.duration", "purpose": "analytics", "category": "usageEvents", "unit": "ms",
                "dimensions": ["route", "status"],
            ],
        ]
        return try PrivacyManifest.decode(json: Array(try JSONSerialization.data(withJSONObject: json)))
    }

    /// A configuration over `directory`: no crash handler, no automatic delivery, keys in files,
    /// batches of 256 (`memoryLimit`: held records before the caller stores its own batch).
    public static func configuration(directory: String, memoryLimit: Int = 10_000) throws -> Steward.Configuration {
        var configuration = Steward.Configuration(
            appID: "org.steward.bridge-bench", manifest: try manifest(), dataDirectory: directory)
        configuration.installsCrashHandler = false
        configuration.automaticDelivery = nil
        configuration.otelEnvironment = [:]
        configuration.keyStoreEnvironment = [:]
        configuration.telemetry = Telemetry.Configuration(batchSize: 256, memoryLimit: memoryLimit)
        return configuration
    }
}
