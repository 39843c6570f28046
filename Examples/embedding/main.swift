// A host app embedding Steward with its own transport and its own permission prompter: what an
// app on a kiosk or an instrument does. Run it:
//   swift run steward-embedding-example Examples/steward/example-manifest.json DATA-DIR
import Foundation
import Steward

/// The host's transport: here it hands each payload to the app's own uplink (printed, and
/// accepted). A real app posts it over its own channel (MQTT, a fleet agent, a message bus).
final class AppUplink: Transport {
    func send(_ payload: Payload) async -> Delivery {
        let path = payload.headers[Payload.pathHeader] ?? ""
        print("uplink: \(payload.recipient)\(path) \(payload.purpose) \(payload.body.count) bytes")
        return .accepted
    }
}

/// The host's prompter: a kiosk has no dialog, so an operator's policy answers.
final class KioskPolicyPrompter: PermissionPrompter {
    func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer {
        print("prompt: \(prompt.permission) — \(prompt.rationale)")
        return prompt.permission == .notifications ? .allow : .deny
    }
}

@main
struct EmbeddingExample {
    static func main() async {
        do {
            try await run()
        } catch {
            print("error: \(error)")
            exit(1)
        }
    }

    static func run() async throws {
        let arguments = CommandLine.arguments
        guard arguments.count == 3 else {
            print("usage: steward-embedding-example MANIFEST.json DATA-DIR")
            exit(2)
        }
        let manifest = try PrivacyManifest.decode(json: Array(try Data(contentsOf: URL(fileURLWithPath: arguments[1]))))

        // Adopting Steward: these lines.
        var configuration = Steward.Configuration(
            appID: "org.example.kiosk", manifest: manifest,
            dataDirectory: arguments[2], prompter: KioskPolicyPrompter())
        let uplink = AppUplink()
        configuration.transports = ["telemetryBackend": uplink, "crashBackend": uplink]
        configuration.release = "2.4.0"
        configuration.automaticDelivery = nil  // this example sends explicitly, to print what went
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.analytics])
        print("notifications: \(try await steward.permissions.request(.notifications))")
        print("microphone: \(try await steward.permissions.request(.microphone))")
        print("record: \(steward.telemetry.record("screen_view", attributes: ["screen": .string("kiosk-home")]))")
        print("record: \(steward.telemetry.record("push_opened", attributes: [:]))")
        let sent = await steward.send()
        print("sent: \(sent.eventsQueued) event(s), accepted \(sent.uploads["telemetryBackend"]?.accepted ?? 0)")
        let held = try steward.rights.accessReport().categories.filter { $0.records > 0 }.map(\.category.rawValue)
        print("held: \(held.joined(separator: ", "))")
        print("disclosure: \(steward.disclosure.markdown().split(separator: "\n").first ?? "")")
    }
}
