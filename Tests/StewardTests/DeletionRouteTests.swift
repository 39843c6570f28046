import Foundation
@testable import Steward
import StewardCore
import StewardTesting
import Testing

/// How deletion reaches each recipient: requests where the manifest says so, named contacts
/// where it does not, after an erase and after a withdrawal. Part of the facade suite.
extension StewardFacadeTests {
    @Test func aWithdrawalAsksEveryRecipientThatReceivedDataOfThePurposeNotOnlyTelemetrys() async throws {
        let f = FacadeFixture()
        let steward = try Steward.start(try f.configuration())
        defer { steward.stop() }
        try steward.consent.grant([.crashReporting, .analytics])
        steward.crashes.report(error: CocoaError(.fileReadCorruptFile), message: "scan failed")
        let sent = await steward.send(timeout: .seconds(5))
        #expect(sent.uploads["crashBackend"]?.accepted ?? 0 >= 1)
        let before = f.crashTransport.payloads.count

        try steward.consent.deny([.crashReporting])
        #expect(
            try steward.rights.accessReport().pendingDeletionRequests["crashBackend"] == 1,
            "pending from the moment of the withdrawal")
        let after = await steward.send(timeout: .seconds(5))
        #expect(after.uploads["crashBackend"]?.accepted == 1)
        let request = try #require(f.crashTransport.payloads.dropFirst(before).first)
        #expect(request.purpose == .privacyCompliance)
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(
            body.contains(#""type":"steward.deletion_request""#) && body.contains(#""scope":"purposes""#)
                && body.contains("crashReporting"),
            "\(body)")
        #expect(!body.contains("analytics"), "only the withdrawn purpose")
        #expect(try steward.rights.accessReport().pendingDeletionRequests["crashBackend"] == nil)
    }

    @Test func telemetrysRequestAfterAWithdrawalIsPendingInTheAccessReportBeforeTheNextSend() async throws {
        let f = FacadeFixture()
        let steward = try Steward.start(try f.configuration())
        defer { steward.stop() }
        try steward.consent.grant([.analytics])
        steward.telemetry.record("login", attributes: ["device_id": .string("abc")])
        _ = await steward.send(timeout: .seconds(5))
        try steward.consent.deny([.analytics])
        #expect(try steward.rights.accessReport().pendingDeletionRequests["telemetryBackend"] == 1)
        _ = await steward.send(timeout: .seconds(5))
        #expect(try steward.rights.accessReport().pendingDeletionRequests["telemetryBackend"] == nil, "delivered")
    }

    @Test func eraseNamesTheContactOfARecipientWhoseDeletionIsManualAndSendsItNothing() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        if let index = configuration.manifest.recipients.firstIndex(where: { $0.id == "crashBackend" }) {
            configuration.manifest.recipients[index].deletion = .manual(contact: "privacy@crash.example")
        }
        let steward = try Steward.start(configuration)
        steward.audit.recordDisclosed(
            .crashDiagnostics, purpose: .crashReporting, recipient: "crashBackend", legalBasis: .consent)
        steward.audit.recordDisclosed(
            .usageEvents, purpose: .analytics, recipient: "telemetryBackend", legalBasis: .consent)
        try steward.audit.flush()
        let report = try await steward.rights.erase(deliverWithin: .seconds(5))
        #expect(report.deletionRequests == ["telemetryBackend"])
        #expect(report.notRequested["crashBackend"]?.contains("privacy@crash.example") == true)
        #expect(f.crashTransport.payloads.isEmpty, "nothing is sent to a recipient whose deletion is manual")

        let disclosure = String(
            decoding: try Disclosure(manifest: configuration.manifest, now: f.clock.now).markdown().utf8, as: UTF8.self)
        #expect(
            disclosure.contains("ask for deletion at `privacy@crash.example`"),
            "the disclosure says how deletion reaches it")
        #expect(disclosure.contains("the app sends it a deletion request and retries until it is accepted"))
    }

    @Test func eraseSucceedsAfterADeclaredEventExpiredWhileTheAppRan() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.manifest.events[0].expires = f.clock.now.addingTimeInterval(2 * 86_400)
        let steward = try Steward.start(configuration)
        steward.audit.recordDisclosed(
            .usageEvents, purpose: .analytics, recipient: "telemetryBackend", legalBasis: .consent)
        try steward.audit.flush()
        // The event's expiry passes while the instance runs; the erase opens a new ledger.
        f.clock.advance(by: .seconds(5 * 86_400))
        let report = try await steward.rights.erase(deliverWithin: .seconds(5))
        #expect(report.deletionRequests.contains("telemetryBackend"), "the erase still asks the recipient to delete")
    }
}
