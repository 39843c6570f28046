import Foundation
import StewardCore
@testable import StewardTelemetry
import StewardTesting
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Two purposes that need consent, with declared events.
func telemetryTestManifest() -> PrivacyManifest {
    PrivacyManifest(
        policyVersion: "2026-11",
        purposes: [
            .init(id: .serviceProvision, description: "Run the app", legalBasis: .necessaryForService),
            .init(id: .analytics, description: "Usage statistics", legalBasis: .consent),
            .init(id: .personalization, description: "Tailor the app", legalBasis: .consent),
        ],
        dataCategories: [
            .init(
                id: .usageEvents, description: "Screens", purposes: [.analytics, .personalization], retentionDays: 30,
                sensitivity: .personal, leavesDevice: true, recipients: ["telemetryBackend"])
        ],
        recipients: [.init(id: "telemetryBackend", name: "Collector", role: .processor, region: "DE")],
        events: [
            .init(
                name: "screen_view", purpose: .analytics, category: .usageEvents,
                attributes: [
                    .init(name: "screen", type: .string, classification: .plain, maxLength: 8),
                    .init(name: "duration_ms", type: .int, classification: .plain),
                    .init(name: "account", type: .string, classification: .identifier),
                    .init(name: "where", type: .location, classification: .quasiIdentifier),
                ]),
            .init(
                name: "theme_changed", purpose: .personalization, category: .usageEvents,
                attributes: [
                    .init(name: "theme", type: .string, classification: .plain)
                ]),
        ])
}

final class TelemetryFixture: @unchecked Sendable {  // Used by one test at a time.
    let dir = NSTemporaryDirectory() + "steward-telemetry-\(UUID().uuidString)"
    let clock = ManualWallClock()
    let vault: Vault
    let ledger: ConsentLedger
    let gate: ConsentGate
    let audit: AuditLedger
    let telemetry: Telemetry

    init(configuration: Telemetry.Configuration = Telemetry.Configuration(batchSize: 4)) throws {
        vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider(), clock: clock)
        ledger = try ConsentLedger(manifest: telemetryTestManifest(), vault: vault, clock: clock)
        audit = try AuditLedger(vault: vault)
        gate = ConsentGate(
            ledger: ledger, vault: vault, audit: audit, policies: [.analytics: .memory(limit: 100)], clock: clock)
        telemetry = try Telemetry(
            manifest: telemetryTestManifest(), vault: vault, consent: ledger, gate: gate, audit: audit,
            configuration: configuration, clock: clock)
    }

    /// Every event stored in the vault.
    func stored() throws -> [TelemetryEventRecord] {
        try vault.records(in: Telemetry.collection).flatMap { try #require(BatchCoding.decode($0.data)) }
    }

    deinit {
        try? vault.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite struct TelemetryRecordingTests {
    @Test func aGrantedPurposeIsRecordedAndStoredInBatches() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        for screen in ["home", "scan", "results"] {
            #expect(
                f.telemetry.record("screen_view", attributes: ["screen": .string(screen), "duration_ms": .int(12)])
                    == .recorded)
        }
        #expect(try f.stored().isEmpty, "a batch is stored when full or flushed")
        try f.telemetry.flush()
        #expect(
            try f.stored().map { $0.attributes["screen"] } == [.string("home"), .string("scan"), .string("results")])
    }

    @Test func aDeniedPurposeIsDroppedAndCountedAndAPendingOneHeld() throws {
        let f = try TelemetryFixture()
        #expect(f.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .held)
        try f.ledger.deny([.analytics])
        #expect(f.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .dropped(.consent))
        #expect(f.telemetry.droppedForConsent == 1)
        try f.ledger.deny([.personalization])
        f.telemetry.record("theme_changed", attributes: ["theme": .string("dark")])
        try f.telemetry.flush()
        #expect(try f.stored().isEmpty)
        // Counted under each event's own purpose and category.
        let drops = f.audit.entries().filter { ($0.dropped[.consent] ?? 0) > 0 }.map(\.purpose)
        #expect(Set(drops) == [.analytics, .personalization], "\(drops)")
        #expect(f.telemetry.droppedForConsent == 0, "flushed into the audit ledger")
    }

    @Test func theAttributesAreNotEvenBuiltForADeniedPurposeOrAnUndeclaredEvent() throws {
        let f = try TelemetryFixture()
        let built = Atomic<Int>(0)
        func attributes() -> [String: AttributeValue] {
            built.add(1, ordering: .relaxed)
            return ["screen": .string("home")]
        }
        try f.ledger.deny([.analytics])
        let handle = try #require(f.telemetry.handle(for: "screen_view"))
        #expect(f.telemetry.record(handle, attributes: attributes()) == .dropped(.consent))
        #expect(f.telemetry.record("screen_view", attributes: attributes()) == .dropped(.consent))
        #expect(f.telemetry.record("purchase", attributes: attributes()) == .dropped(.undeclared))
        #expect(built.load(ordering: .relaxed) == 0, "written at the call site, never built")
        try f.ledger.grant([.analytics])
        #expect(f.telemetry.record(handle, attributes: attributes()) == .recorded)
        #expect(built.load(ordering: .relaxed) == 1, "built once when the event is recorded")
    }

    @Test func strictModeRefusesUndeclaredEventsAttributesAndWrongTypes() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        #expect(f.telemetry.record("purchase") == .dropped(.undeclared))
        #expect(f.telemetry.record("screen_view", attributes: ["email": .string("a@b.c")]) == .dropped(.undeclared))
        #expect(f.telemetry.record("screen_view", attributes: ["duration_ms": .string("12")]) == .dropped(.undeclared))
        let permissive = try TelemetryFixture(configuration: .init(mode: .permissive, batchSize: 4))
        try permissive.ledger.grant([.analytics])
        #expect(
            permissive.telemetry.record("screen_view", attributes: ["email": .string("a@b.c"), "screen": .string("x")])
                == .recorded)
        try permissive.telemetry.flush()
        #expect(
            try permissive.stored().first?.attributes.keys.sorted() == ["screen"], "undeclared attributes are left out")
    }

    @Test func identifiersAreKeyedHashesAndNeverStoredRaw() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        f.telemetry.record("screen_view", attributes: ["account": .string("ana@example.com")])
        f.telemetry.record("screen_view", attributes: ["account": .string("ana@example.com")])
        try f.telemetry.flush()
        let values = try f.stored().compactMap { $0.attributes["account"] }
        #expect(values.count == 2)
        #expect(values[0] == values[1], "the same value gives the same pseudonym")
        guard case .string(let pseudonym) = values[0] else { Issue.record("not a string"); return }
        #expect(pseudonym.count == 32 && !pseudonym.contains("ana"))
        try f.vault.close()
        for file in FileManager.default.enumerator(atPath: f.dir)?.compactMap({ $0 as? String }) ?? [] {
            let bytes = FileManager.default.contents(atPath: f.dir + "/" + file) ?? Data()
            #expect(bytes.range(of: Data("ana@example.com".utf8)) == nil, "\(file) holds the raw identifier")
        }
    }

    @Test func ipAddressesHostNamesTruncationAndCoarseLocation() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        #expect(
            f.telemetry.record("screen_view", attributes: ["screen": .string("10.1.2.3")]) == .dropped(.undeclared),
            "an IP address is never kept")
        #expect(f.telemetry.record("screen_view", attributes: ["screen": .string("fe80::1")]) == .dropped(.undeclared))
        var name = [CChar](repeating: 0, count: 256)
        #expect(gethostname(&name, name.count) == 0)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        #expect(
            f.telemetry.record("screen_view", attributes: ["screen": .string(host)]) == .dropped(.undeclared),
            "this host's name")
        #expect(
            f.telemetry.record("screen_view", attributes: ["screen": .string("10.0.0.1:8080")])
                == .dropped(.undeclared), "an address with a port")
        f.telemetry.record(
            "screen_view",
            attributes: ["screen": .string("a-very-long-screen-name"), "where": .string("48.13743,11.57549")])
        try f.telemetry.flush()
        let stored = try #require(try f.stored().first)
        #expect(stored.attributes["screen"] == .string("a-very-l"), "cut to the declared 8 characters")
        #expect(stored.attributes["where"] == .string("48.15,11.60"), "about 5 km")
    }

    @Test func eventAttributesLoseEveryIdentifierAndSecretTheOneFilterFinds() throws {
        let path = NSTemporaryDirectory() + "machine-id-\(UUID().uuidString)"
        try "99998888777766665555444433332222\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        IdentifierFilter.include(machineIDPath: path)
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        for value in ["99998888-7777-6666-5555-444433332222", "3c:22:fb:01:02:03", "4111111111111111", "token=abc"] {
            #expect(
                f.telemetry.record("screen_view", attributes: ["screen": .string(value)]) == .dropped(.undeclared),
                "\(value)")
        }
    }

    /// Values found clean are remembered (issue 18): a value kept before the filter learned an
    /// identifier is refused after, and the memory never lets an identifier through.
    @Test func aValueRememberedAsCleanIsRefusedOnceTheFilterKnowsItsIdentifier() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        let id = (0..<4).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined()
        let value = "id-" + id
        for _ in 0..<3 {
            #expect(f.telemetry.record("screen_view", attributes: ["screen": .string(value)]) == .recorded)
        }
        let path = NSTemporaryDirectory() + "machine-id-\(UUID().uuidString)"
        try (id + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        IdentifierFilter.include(machineIDPath: path)
        #expect(
            f.telemetry.record("screen_view", attributes: ["screen": .string(value)]) == .dropped(.undeclared),
            "the remembered value is checked against the new filter")
        // More clean values than the memory holds: each is still checked and kept.
        for n in 0..<(Anonymiser.memoCapacity + 10) {
            #expect(f.telemetry.record("screen_view", attributes: ["screen": .string("s\(n)")]) == .recorded)
        }
        #expect(
            f.telemetry.record("screen_view", attributes: ["screen": .string(value)]) == .dropped(.undeclared))
    }

    /// The memory compares bytes, as the filter does, not Swift's canonical equivalence: a
    /// decomposed "é" after 31 hex digits spells a machine ID's 32 digits in bytes, though the
    /// string equals the clean composed one.
    @Test func aCanonicallyEqualValueIsNotTakenForARememberedCleanOne() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        let id =
            (0..<4).map { _ in String(format: "%08x", UInt32.random(in: 0...UInt32.max)) }.joined().dropLast() + "e"
        let path = NSTemporaryDirectory() + "machine-id-\(UUID().uuidString)"
        try (id + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        IdentifierFilter.include(machineIDPath: path)
        let composed = String(id.dropLast()) + "\u{E9}"
        let decomposed = String(id.dropLast()) + "e\u{301}"
        #expect(composed == decomposed, "equal as Swift strings")
        #expect(f.telemetry.record("screen_view", attributes: ["screen": .string(composed)]) == .recorded)
        #expect(
            f.telemetry.record("screen_view", attributes: ["screen": .string(decomposed)]) == .dropped(.undeclared),
            "its bytes hold the machine ID")
    }

    /// The bridges' path: values that come with their event's declarations pass the same
    /// anonymiser (pseudonyms, truncation, the filter) and keep the same strictness.
    @Test func declaredValuesPassTheAnonymiserAndOnlyTheirOwnEventsDeclarationsCount() throws {
        let f = try TelemetryFixture(configuration: Telemetry.Configuration(batchSize: 1))
        try f.ledger.grant([.analytics, .personalization])
        let screenView = try #require(f.telemetry.handle(for: "screen_view"))
        let themeChanged = try #require(f.telemetry.handle(for: "theme_changed"))
        let declared = f.telemetry.declarations(of: screenView)
        let screen = try #require(declared["screen"]), account = try #require(declared["account"])
        let duration = try #require(declared["duration_ms"])
        #expect(
            f.telemetry.record(
                screenView, severityNumber: 13,
                declared: [
                    .init(screen, .string("settings-page")), .init(account, .string("ana@example.org")),
                    .init(duration, .int(40)),
                ]) == .recorded)
        try f.telemetry.flush()
        let record = try #require(try f.stored().last)
        #expect(record.severityNumber == 13)
        #expect(record.attributes["screen"] == .string("settings"), "cut to maxLength 8")
        #expect(record.attributes["duration_ms"] == .int(40))
        #expect(record.attributes["account"] != .string("ana@example.org"), "an identifier is pseudonymised")
        #expect(
            record.attributes["account"].map { if case .string(let s) = $0 { s.count == 32 } else { false } } == true)

        // The same shape again: written into a copy of the last dictionary, with the same rules.
        for (screenName, minutes) in [("home", 7), ("about-this-app", 9)] {
            #expect(
                f.telemetry.record(
                    screenView, severityNumber: 9,
                    declared: [
                        .init(screen, .string(screenName)), .init(account, .string("ana@example.org")),
                        .init(duration, .int(Int64(minutes))),
                    ]) == .recorded)
        }
        #expect(
            f.telemetry.record(
                screenView, severityNumber: 9,
                declared: [
                    .init(screen, .string("10.1.2.3")), .init(account, .string("ana@example.org")),
                    .init(duration, .int(1)),
                ]) == .dropped(.undeclared), "a value the filter finds still drops the record (strict)")
        try f.telemetry.flush()
        let again = try f.stored().suffix(2).map(\.attributes)
        #expect(again.map { $0["screen"] } == [.string("home"), .string("about-th")])
        #expect(again.map { $0["duration_ms"] } == [.int(7), .int(9)])
        #expect(again.allSatisfy { $0["account"] == record.attributes["account"] && $0.count == 3 })

        #expect(
            f.telemetry.record(themeChanged, severityNumber: 9, declared: [.init(screen, .string("a"))])
                == .dropped(.undeclared), "another event's declaration is not this event's")
        #expect(
            f.telemetry.record(screenView, severityNumber: 9, declared: [.init(duration, .string("forty"))])
                == .dropped(.undeclared), "not the declared type")
        try f.ledger.deny([.analytics])
        #expect(
            f.telemetry.record(screenView, severityNumber: 9, declared: [.init(screen, .string("a"))])
                == .droppedForConsent)
    }

    @Test func withdrawalQueuesADeletionRequestAndRotatesTheSalt() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        f.telemetry.record("screen_view", attributes: ["account": .string("ana")])
        try f.telemetry.flush()
        let before = try #require(try f.stored().first?.attributes["account"])
        try f.ledger.deny([.analytics])
        #expect(try f.stored().isEmpty, "the purpose's data is purged")
        let requests = f.telemetry.anonymiser.pendingDeletionRequests
        #expect(requests.count == 1)
        #expect(requests.first.map { .string($0.pseudonyms[0]) } == before, "the request carries the pseudonym used")
        try f.ledger.grant([.analytics])
        f.telemetry.record("screen_view", attributes: ["account": .string("ana")])
        try f.telemetry.flush()
        #expect(try f.stored().first?.attributes["account"] != before, "a new grant gets new pseudonyms")
    }

    @Test func aWithdrawalBetweenTheStoresConsentCheckAndItsAppendLeavesNothingStored() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        f.telemetry.record("screen_view", attributes: ["screen": .string("home")])
        let ledger = f.ledger
        f.telemetry.betweenCheckAndAppend.withLock { hook in
            hook = { purpose in
                // The ledger purges the purpose now, before the batch is in the vault.
                if ledger.consentState(for: purpose) == .granted { try? ledger.deny([purpose]) }
            }
        }
        try f.telemetry.flush()
        #expect(f.ledger.consentState(for: .analytics) == .denied, "the hook ran")
        #expect(try f.stored().isEmpty, "the batch appended after the purge is removed")
        #expect(try f.vault.records(in: Telemetry.collection).isEmpty)
    }

    @Test func afterAWithdrawalTheDeletionRequestIsSentWithoutConsentOnce() async throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        f.telemetry.record("screen_view", attributes: ["account": .string("ana.raw@example.com")])
        try f.telemetry.flush()
        guard case .string(let pseudonym)? = try f.stored().first?.attributes["account"] else {
            Issue.record("no pseudonym stored")
            return
        }
        try f.ledger.deny([.analytics])
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: telemetryTestManifest(), audit: f.audit, wallClock: f.clock)
        try f.telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "test"))
        try f.telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "test"))
        let report = await uploader.drain()
        #expect(report.accepted == 1, "one deletion request, sent although analytics is denied")
        let payload = try #require(transport.payloads.first)
        #expect(payload.purpose == .privacyCompliance)
        let body = String(decoding: payload.body, as: UTF8.self)
        #expect(body.contains("\"eventName\":\"steward.deletion_request\""))
        #expect(body.contains(pseudonym), "it carries the pseudonymous id used under the purpose")
        #expect(!body.contains("ana.raw@example.com"))
        #expect(f.telemetry.anonymiser.pendingDeletionRequests.isEmpty)
        // A host cannot use the obligation's purpose to send anything without consent.
        let forged = Payload(
            recipient: "telemetryBackend", purpose: .privacyCompliance, categories: [.usageEvents],
            contentType: "application/json", body: Array("anything".utf8), idempotencyKey: "forged",
            created: f.clock.now)
        #expect(try uploader.submit(forged) == .dropped(.undeclared))
        #expect(
            f.audit.entries().contains { $0.purpose == .privacyCompliance && !$0.disclosed.isEmpty },
            "the disclosure is accounted for")
    }

    @Test func aDeletionRequestIsRetriedPastTheUploadersLimitsUntilAccepted() async throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        f.telemetry.record("screen_view", attributes: ["account": .string("ana.raw@example.com")])
        try f.telemetry.flush()
        try f.ledger.deny([.analytics])
        let busy = Array(repeating: Delivery.retry(after: .milliseconds(1)), count: 4)
        let transport = RecordingTransport(clock: ContinuousClock(), answers: busy)
        var policy = UploadPolicy(initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(2))
        policy.maxAttempts = 2
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: telemetryTestManifest(), audit: f.audit, policy: policy, wallClock: f.clock)
        try f.telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "test"))
        let report = await uploader.drain()
        #expect(report.accepted == 1, "accepted on the fifth try although maxAttempts is 2")
        #expect(transport.payloads.count == 5)
    }

    @Test func heldEventsAreStoredByTimeAsWellAsBySize() async throws {
        let f = try TelemetryFixture(configuration: .init(batchSize: 1_000))
        try f.ledger.grant([.analytics])
        f.telemetry.record("screen_view", attributes: ["screen": .string("home")])
        #expect(try f.stored().isEmpty, "the batch is far from full")
        let flusher = Task { await f.telemetry.run(flushingEvery: .milliseconds(20)) }
        defer { flusher.cancel() }
        // Bounded wait for the periodic flush (no timing assertion: only that it happens).
        for _ in 0..<500 where try f.stored().isEmpty { try await Task.sleep(for: .milliseconds(20)) }
        #expect(try f.stored().count == 1)
    }

    @Test func memoryIsBoundedUnderABurst() throws {
        let f = try TelemetryFixture(configuration: .init(batchSize: 10_000, memoryLimit: 500))
        try f.ledger.grant([.analytics])
        var most = 0
        for i in 0..<5_000 {
            #expect(f.telemetry.record("screen_view", attributes: ["duration_ms": .int(Int64(i))]) == .recorded)
            most = max(most, f.telemetry.eventsInMemory)
        }
        // The batch being filled, plus full batches waiting for the storer thread: each bounded.
        #expect(most <= 1_000, "at most twice the memory limit in memory, saw \(most)")
        try f.telemetry.flush()
        #expect(f.telemetry.eventsInMemory == 0)
        #expect(try f.stored().count == 5_000, "nothing lost on the way")
    }

    @Test func aBatchHandedToTheOutboxBeforeACrashIsNotQueuedTwice() async throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        f.telemetry.record("screen_view", attributes: ["screen": .string("home")])
        try f.telemetry.flush()
        let batch = try #require(try f.vault.records(in: Telemetry.collection).first)
        // The state a crash leaves between the outbox's commit and the batch's removal: the
        // outbox holds the batch's payload (its key names the batch), the batch is still stored.
        let before = try Uploader(
            recipient: "telemetryBackend", transport: RecordingTransport(clock: ContinuousClock()), vault: f.vault,
            consent: f.ledger, manifest: telemetryTestManifest(), audit: f.audit, wallClock: f.clock)
        try before.submit(
            Payload(
                recipient: "telemetryBackend", purpose: .analytics, categories: [.usageEvents],
                contentType: OTLPHTTP.contentType, body: Array("{}".utf8), idempotencyKey: "telemetry-\(batch.id)",
                created: f.clock.now))
        // The next launch: a new uploader reads the outbox; submitting finds the batch queued.
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: telemetryTestManifest(), audit: f.audit, wallClock: f.clock)
        #expect(try f.telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "test")) == 0)
        #expect(try f.stored().isEmpty, "the stored copy is removed")
        let report = await uploader.drain()
        #expect(report.accepted == 1)
        #expect(transport.payloads.count == 1, "sent once")
    }

    @Test func samplingAndRateLimitsAreCounted() throws {
        let f = try TelemetryFixture(
            configuration: .init(batchSize: 4, sampling: ["theme_changed": 0], rateLimits: ["screen_view": 2]))
        try f.ledger.grant([.analytics, .personalization])
        #expect(f.telemetry.record("theme_changed", attributes: ["theme": .string("dark")]) == .dropped(.sampling))
        let outcomes = (0..<5).map { _ in f.telemetry.record("screen_view") }
        #expect(outcomes.filter { $0 == .dropped(.rateLimit) }.count == 3, "two per second at the same instant")
    }
}

@Suite struct TelemetryWithdrawalElsewhereTests {
    @Test func aWithdrawalMadeWhileNoTelemetryWasOpenStillOwesItsDeletionRequest() throws {
        let dir = NSTemporaryDirectory() + "steward-telemetry-elsewhere-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = InMemoryKeyProvider()
        do {
            let vault = try Vault.open(directory: dir, keyProvider: keys)
            let ledger = try ConsentLedger(manifest: telemetryTestManifest(), vault: vault)
            let telemetry = try Telemetry(manifest: telemetryTestManifest(), vault: vault, consent: ledger)
            try ledger.grant([.analytics])
            telemetry.record("screen_view", attributes: ["account": .string("ana@example.com")])
            try telemetry.flush()
            try telemetry.anonymiser.save()
            try vault.close()
        }
        do {
            // Another process (the CLI) withdraws: no Telemetry observes the ledger there.
            let vault = try Vault.open(directory: dir, keyProvider: keys)
            try ConsentLedger(manifest: telemetryTestManifest(), vault: vault).deny([.analytics])
            try vault.close()
        }
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        defer { try? vault.close() }
        let ledger = try ConsentLedger(manifest: telemetryTestManifest(), vault: vault)
        let telemetry = try Telemetry(manifest: telemetryTestManifest(), vault: vault, consent: ledger)
        let requests = telemetry.anonymiser.pendingDeletionRequests
        #expect(requests.map(\.purpose) == [.analytics])
        #expect(requests.first?.pseudonyms.count == 1, "the pseudonym used before the withdrawal is in it")
        #expect(telemetry.pseudonymsInUse[.analytics] == nil, "the salt is gone: a new grant gets new pseudonyms")
    }
}
