import Foundation
@testable import Steward
import StewardTesting
import Testing

extension StewardFacadeTests {
    static func crashOnlyManifest() throws -> PrivacyManifest {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/manifests/crash-only.json")
        return try PrivacyManifest.decode(json: Array(try Data(contentsOf: path)))
    }

    /// Crash reporting alone: a manifest of one purpose, one category and one recipient.
    @Test func crashReportingAloneStartsWithAManifestOfAFewLinesAndReportsUnderConsent() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.manifest = try Self.crashOnlyManifest()
        configuration.transports = ["crashBackend": f.crashTransport]
        #expect(throws: StewardError.self, "every module needs the full manifest") { try Steward.start(configuration) }
        configuration.modules = [.crash]
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.crashReporting])
        struct Failed: Error {}
        steward.crashes.report(error: Failed())
        #expect(await steward.send().crashReportsQueued == 1)
        #expect(f.crashTransport.acceptedPayloads.count == 1)
        // The modules left out keep nothing: no identifiers made for the export, no events.
        #expect(steward.telemetry.record("screen_view") != .recorded)
        let document = try steward.rights.collect()
        #expect(document.identifiers.installationID == nil && document.identifiers.advertisingID == nil)
        #expect(!(try steward.vault.collections().contains(DeviceIdentifiers.collection)))
        #expect(steward.disclosure.markdown().contains("crash"))
    }

    /// Telemetry alone: events, their purpose and recipient; nothing of crash reporting or the
    /// device module in the manifest.
    @Test func telemetryAloneStartsWithItsOwnDeclarationsAndDeliversUnderConsent() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.manifest = PrivacyManifest(
            policyVersion: "2026-12",
            purposes: [.init(id: .analytics, description: "Usage statistics", legalBasis: .consent)],
            dataCategories: [
                .init(
                    id: .usageEvents, description: "Screens opened", purposes: [.analytics], retentionDays: 30,
                    sensitivity: .personal, leavesDevice: true, recipients: ["telemetryBackend"])
            ],
            recipients: [.init(id: "telemetryBackend", name: "Collector", role: .processor, region: "DE")],
            events: [
                .init(
                    name: "screen_view", purpose: .analytics, category: .usageEvents,
                    attributes: [.init(name: "screen", type: .string, classification: .plain)])
            ])
        configuration.transports = ["telemetryBackend": f.telemetryTransport]
        #expect(throws: StewardError.self, "every module needs the full manifest") { try Steward.start(configuration) }
        configuration.modules = [.telemetry]
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.analytics])
        #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .recorded)
        let sent = await steward.send()
        #expect(sent.eventsQueued == 1 && f.telemetryTransport.acceptedPayloads.count == 1, "\(sent)")
        // Crash reporting is left out: a handled error is kept nowhere, nothing goes.
        struct Failed: Error {}
        steward.crashes.report(error: Failed())
        #expect(await steward.send().crashReportsQueued == 0)
        #expect(!(try steward.vault.collections().contains(DeviceIdentifiers.collection)))
    }
}
