import Foundation
@testable import Steward
import StewardCore
import StewardTesting
import Synchronization
import Testing

/// Where payloads wait without an endpoint: queued in the vault by default, in the plaintext
/// outbox only when the host asks for it by name. Part of the facade suite (one instance per
/// process).
extension StewardFacadeTests {
    /// The facade fixture's configuration without the host's transports: no DSN, no endpoint.
    private func noDestination(_ f: FacadeFixture) throws -> Steward.Configuration {
        var configuration = try f.configuration()
        configuration.transports = [:]
        return configuration
    }

    /// The files under the data folder whose bytes contain `canary`.
    private func holding(_ canary: String, _ f: FacadeFixture) -> [String] {
        f.files().filter { (try? Data(contentsOf: URL(fileURLWithPath: $0)))?.range(of: Data(canary.utf8)) != nil }
    }

    @Test func withoutAnEndpointPayloadsStayQueuedInTheVaultAndNoFileHoldsThemInPlaintext() async throws {
        let f = FacadeFixture()
        let canary = "CANARY\(UUID().uuidString.prefix(6))"
        let steward = try Steward.start(try noDestination(f))
        defer { steward.stop() }
        try steward.consent.grant([.analytics, .crashReporting])
        steward.telemetry.record("screen_view", attributes: ["screen": .string(canary)])
        steward.crashes.addBreadcrumb(message: canary, category: "test")
        steward.crashes.report(error: CocoaError(.fileReadCorruptFile), message: canary)

        let sent = await steward.send(timeout: .seconds(5))
        let telemetry = try #require(sent.uploads["telemetryBackend"])
        #expect(telemetry.sends == 0 && telemetry.accepted == 0, "nothing is sent without a destination")
        #expect(telemetry.awaitingDestination >= 1 && telemetry.remaining == telemetry.awaitingDestination)
        #expect(sent.uploads["crashBackend"]?.awaitingDestination ?? 0 >= 1)
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/outbox"), "no outbox folder is made")
        #expect(holding(canary, f).isEmpty, "the canary is in no file in plaintext: \(holding(canary, f))")

        // Visible in the access report and the export, like anything else the vault holds.
        let access = try steward.rights.accessReport()
        #expect(access.queued["telemetryBackend"] ?? 0 >= 1)
        #expect(access.queued["crashBackend"] ?? 0 >= 1)
        #expect(access.plaintextOutboxDirectory == nil && access.plaintextOutbox.isEmpty)
        let exported = try steward.rights.collect()
        #expect(exported.queued.contains { $0.recipient == "telemetryBackend" && $0.body.contains(canary) })

        // Purged on withdrawal.
        try steward.consent.deny([.analytics])
        #expect(
            try steward.rights.accessReport().queued["telemetryBackend"] == nil,
            "the withdrawal purges the queued payloads")
        #expect(try steward.rights.collect().queued.allSatisfy { $0.purpose != .analytics })
    }

    @Test func thePlaintextOutboxIsWrittenOnlyWhenAskedForAndAWithdrawalRemovesItsFiles() async throws {
        let f = FacadeFixture()
        let canary = "CANARY\(UUID().uuidString.prefix(6))"
        var configuration = try noDestination(f)
        configuration.plaintextOutbox = .inDataDirectory
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.analytics, .crashReporting])
        steward.telemetry.record("screen_view", attributes: ["screen": .string(canary)])
        steward.crashes.report(error: CocoaError(.fileReadCorruptFile), message: canary)
        let sent = await steward.send(timeout: .seconds(5))
        #expect(sent.uploads["telemetryBackend"]?.accepted ?? 0 >= 1)
        #expect(sent.uploads["crashBackend"]?.accepted ?? 0 >= 1)
        let readable = holding(canary, f)
        #expect(
            !readable.isEmpty && readable.allSatisfy { $0.contains("/outbox/") },
            "asked for: the bodies are there, \(readable)")

        let access = try steward.rights.accessReport()
        #expect(access.plaintextOutboxDirectory == f.directory + "/outbox")
        #expect(
            access.plaintextOutbox["telemetryBackend"] ?? 0 >= 1 && access.plaintextOutbox["crashBackend"] ?? 0 >= 1)

        // Withdrawing analytics removes its files at once; crash reporting's stay.
        try steward.consent.deny([.analytics])
        let sidecars = try #require(steward.outbox).sidecars()
        #expect(!sidecars.isEmpty && sidecars.allSatisfy { $0.purpose == .crashReporting })
        try steward.consent.deny([.crashReporting])
        #expect(holding(canary, f).isEmpty, "after both withdrawals no file holds the canary: \(holding(canary, f))")
        #expect(try steward.rights.accessReport().plaintextOutbox.isEmpty)
    }

    @Test func stopReleasesTheOutboxSoAStartAgainInTheSameProcessWorksWhileTheOldInstanceLives() async throws {
        let f = FacadeFixture()
        var configuration = try noDestination(f)
        configuration.plaintextOutbox = .inDataDirectory
        let first = try Steward.start(configuration)
        first.stop()
        // `first` is still referenced: everything it held must be released by stop() alone.
        let second = try Steward.start(configuration)
        defer { second.stop() }
        try second.consent.grant([.analytics])
        second.telemetry.record("screen_view", attributes: ["screen": .string("again")])
        let sent = await second.send(timeout: .seconds(5))
        #expect(sent.uploads["telemetryBackend"]?.accepted ?? 0 >= 1, "\(sent)")
        // The stopped instance's outbox writes nothing more.
        let stoppedOutbox = try #require(first.outbox)
        let late = await stoppedOutbox.send(
            Payload(
                recipient: "telemetryBackend", purpose: .analytics, categories: [.usageEvents],
                contentType: "application/json", body: [1], idempotencyKey: "late", created: Date()))
        #expect(late == .retry(after: nil))
        withExtendedLifetime(first) {}
    }

    @Test func eraseRemovesThePayloadsOfAHostsOutboxFolderAndNothingElseAndTheDisclosureNamesIt() async throws {
        let f = FacadeFixture()
        let folder = f.directory + "-shipper"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try FileManager.default.createDirectory(
            atPath: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data("the shipper's own notes".utf8).write(to: URL(fileURLWithPath: folder + "/notes.txt"))
        var configuration = try noDestination(f)
        configuration.plaintextOutbox = .directory(folder)
        let steward = try Steward.start(configuration)
        let measures = steward.disclosure.securityMeasures.map(\.id)
        #expect(measures.contains("plaintextOutbox"), "the disclosure says data waits unencrypted for the shipper")
        #expect(steward.disclosure.markdown().contains(folder))
        try steward.consent.grant([.analytics])
        steward.telemetry.record("screen_view", attributes: ["screen": .string("home")])
        _ = await steward.send(timeout: .seconds(5))
        #expect(try steward.rights.accessReport().plaintextOutbox["telemetryBackend"] ?? 0 >= 1)
        _ = try await steward.rights.erase(deliverWithin: .seconds(2))
        let left = try FileManager.default.contentsOfDirectory(atPath: folder).filter { !$0.hasPrefix(".") }
        #expect(
            left.filter { $0.hasSuffix(".json") }.allSatisfy { name in
                // Only the erase's own deletion request may be there now.
                (try? String(contentsOfFile: folder + "/" + name, encoding: .utf8))?.contains("privacyCompliance")
                    == true
            }, "\(left)")
        #expect(left.contains("notes.txt"), "the host's own file stays")
    }

    @Test func withASentryDSNTheDisclosureSaysTheCrashRecipientTakesNoDeletionRequest() throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.transports["crashBackend"] = nil
        configuration.sentryDSN = "http://public@127.0.0.1:9/42"
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        let crash = try #require(steward.disclosure.recipients.first { $0.id == "crashBackend" })
        #expect(crash.deletion.method == .manual, "a Sentry envelope URL takes no deletion request")
        #expect(steward.disclosure.recipients.first { $0.id == "telemetryBackend" }?.deletion.method == .request)
        #expect(!steward.disclosure.securityMeasures.contains { $0.id == "plaintextOutbox" })
    }

    @Test func aPlaintextOutboxLeftByAnEarlierVersionIsTakenBackIntoTheVault() async throws {
        let f = FacadeFixture()
        let canary = "CANARY\(UUID().uuidString.prefix(6))"
        // A plaintext outbox as earlier versions wrote it by default, with a secret header.
        try FileManager.default.createDirectory(
            atPath: f.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        do {
            let legacy = try FileTransport(directory: f.directory + "/outbox")
            let payload = Payload(
                recipient: "telemetryBackend", purpose: .analytics, categories: [.usageEvents],
                contentType: "application/json", headers: ["Authorization": "Bearer s3cr3t"],
                body: Array("{\"screen\":\"\(canary)\"}".utf8), idempotencyKey: "legacy-1", created: f.clock.now)
            #expect(await legacy.send(payload) == .accepted)
        }
        #expect(!holding(canary, f).isEmpty, "the legacy outbox holds the canary in plaintext")

        let steward = try Steward.start(try noDestination(f))
        defer { steward.stop() }
        #expect(holding(canary, f).isEmpty, "taken back into the vault: \(holding(canary, f))")
        #expect(
            steward.uploaders["telemetryBackend"]?.pendingCount == 1, "queued again for its recipient, nothing lost")
        let queued = try steward.rights.collect().queued
        #expect(queued.contains { $0.body.contains(canary) && $0.purpose == .analytics })
    }

    @Test func theFileTransportWritesNoSecretHeaderAndNothingOfAPurposeNoLongerGranted() async throws {
        let f = FacadeFixture()
        try FileManager.default.createDirectory(
            atPath: f.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let consent = Mutex<ConsentState>(.granted)
        struct Fixed: ConsentChecking {
            let state: @Sendable () -> ConsentState
            func consentState(for purpose: Purpose) -> ConsentState { state() }
        }
        let outbox = try FileTransport(directory: f.directory + "/outbox", consent: Fixed { consent.withLock { $0 } })
        let payload = Payload(
            recipient: "crashBackend", purpose: .crashReporting, categories: [.crashDiagnostics],
            contentType: "application/x-sentry-envelope",
            headers: [
                "X-Sentry-Auth": "Sentry sentry_key=abc123", "authorization": "Basic eDp5", "Cookie": "sid=1",
                "X-Api-Key": "k", "Idempotency-Key": "keep-me", "Content-Encoding": "identity",
            ],
            body: Array("body".utf8), idempotencyKey: "p1", created: f.clock.now)
        #expect(await outbox.send(payload) == .accepted)
        let sidecar = try #require(try outbox.sidecars().first)
        #expect(Set(sidecar.headers.keys) == ["Idempotency-Key", "Content-Encoding"], "\(sidecar.headers)")
        let text = f.files().compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
        #expect(!text.contains("abc123") && !text.contains("eDp5"), "no secret reaches a file")

        consent.withLock { $0 = .denied }
        var second = payload
        second.idempotencyKey = "p2"
        #expect(await outbox.send(second) == .retry(after: nil), "withdrawn before the write: nothing is written")
        #expect(try outbox.sidecars().count == 1)
        // Steward's own deletion requests are written whatever the consent.
        second.purpose = .privacyCompliance
        #expect(await outbox.send(second) == .accepted)
        #expect(try outbox.purge(purpose: .crashReporting) == 1)
        #expect(try outbox.sidecars().map(\.purpose) == [.privacyCompliance])
    }
}
