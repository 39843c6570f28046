import Foundation
import StewardCore
@testable import StewardTelemetry
import StewardTesting
import Testing

/// Dates, durations and manifest numbers from outside telemetry at their most hostile: a typed
/// drop or a clamped value, never a trap. `swift test --filter StewardTelemetryTests.OutsideValueTests`.
@Suite struct OutsideValueTests {
    /// Seconds since 1970 of dates OTLP cannot hold as they are: NaN, ±infinity, `.distantFuture`,
    /// `.distantPast`, before 1970, after 2554-07-21T23:34:33Z. (Seconds rather than dates:
    /// `Date.description`, which names test arguments, traps for NaN.)
    static let unrepresentable: [Double] = [
        .nan, .infinity, -.infinity, Date.distantFuture.timeIntervalSince1970, Date.distantPast.timeIntervalSince1970,
        -1, 18_446_744_074, 1e17,
    ]

    static func dropped(_ f: TelemetryFixture, _ reason: DropReason) -> Int {
        f.audit.entries().filter { $0.purpose == .analytics }.reduce(0) { $0 + ($1.dropped[reason] ?? 0) }
    }

    @Test(arguments: unrepresentable)
    func recordingAtADateOTLPCannotHoldIsDroppedAsInvalidTimestampAndCounted(_ seconds: Double) throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        let date = Date(timeIntervalSince1970: seconds)
        #expect(f.telemetry.record("screen_view", at: date) == .dropped(.invalidTimestamp))
        let handle = try #require(f.telemetry.handle(for: "screen_view"))
        #expect(f.telemetry.record(handle, at: date) == .dropped(.invalidTimestamp))
        #expect(Self.dropped(f, .invalidTimestamp) == 2)
        try f.telemetry.flush()
        #expect(try f.stored().isEmpty)
    }

    @Test(arguments: unrepresentable)
    func anInvalidTimestampIsDroppedBeforeTheRateLimitReadsIt(_ seconds: Double) throws {
        let f = try TelemetryFixture(
            configuration: .init(batchSize: 4, sampling: ["screen_view": 1], rateLimits: ["screen_view": 10]))
        try f.ledger.grant([.analytics])
        #expect(
            f.telemetry.record("screen_view", at: Date(timeIntervalSince1970: seconds)) == .dropped(.invalidTimestamp))
        #expect(f.telemetry.record("screen_view") == .recorded, "the bucket was not touched")
    }

    @Test func aDateInsideTheRangeIsRecordedExactly() throws {
        let f = try TelemetryFixture()
        try f.ledger.grant([.analytics])
        #expect(f.telemetry.record("screen_view", at: Date(timeIntervalSince1970: 1_767_225_600.5)) == .recorded)
        #expect(f.telemetry.record("screen_view", at: Date(timeIntervalSince1970: 0)) == .recorded)
        try f.telemetry.flush()
        #expect(try f.stored().map(\.timeUnixNano) == [1_767_225_600_500_000_000, 0])
    }

    @Test func theInvalidTimestampOutcomeNamesItsReason() {
        let outcome = Telemetry.Outcome.dropped(.invalidTimestamp)
        #expect(outcome.droppedReason == .invalidTimestamp)
        #expect(outcome.description == "dropped(invalidTimestamp)")
        #expect(outcome != .dropped(.rejected) && outcome != .dropped(DropReason(rawValue: "other")))
    }

    /// What the clock shows, and the event time recorded (nil: the system's time now).
    @Test(
        arguments: [
            (Double.nan, nil), (.infinity, nil), (-.infinity, nil),
            (Date.distantFuture.timeIntervalSince1970, UInt64.max), (1e17, UInt64.max),
            (Date.distantPast.timeIntervalSince1970, 0),
        ] as [(Double, UInt64?)])
    func aClockShowingAnyDateStillRecordsWithTheTimeClamped(shown: Double, expected: UInt64?) throws {
        let f = try TelemetryFixture(configuration: .init(batchSize: 4, rateLimits: ["screen_view": 10]))
        try f.ledger.grant([.analytics])
        f.clock.set(Date(timeIntervalSince1970: shown))
        let before = Date().unixNanoseconds ?? 0
        #expect(f.telemetry.record("screen_view") == .recorded)
        try f.telemetry.flush()
        let record = try #require(try f.stored().first)
        if let expected {
            #expect(record.timeUnixNano == expected && record.observedTimeUnixNano == expected)
        } else {
            #expect(record.timeUnixNano >= before && record.timeUnixNano <= (Date().unixNanoseconds ?? 0))
        }
    }

    /// Telemetry runs only on a manifest that was checked: the ledger's own (validated when it
    /// opened), or one that validates. An unchecked one with absurd values is refused, with every
    /// problem named, before anything is recorded.
    @Test(
        arguments: [
            { (m: inout PrivacyManifest) in m.dataCategories[0].retentionDays = 200_000_000_000_000 },
            { (m: inout PrivacyManifest) in m.events[0].attributes[0].maxLength = -1 },
            { (m: inout PrivacyManifest) in m.events[0].attributes[0].maxLength = Int.min },
        ] as [@Sendable (inout PrivacyManifest) -> Void])
    func anUncheckedManifestThatDoesNotValidateIsRefused(_ damage: @Sendable (inout PrivacyManifest) -> Void) throws {
        let dir = NSTemporaryDirectory() + "steward-telemetry-outside-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var manifest = telemetryTestManifest()
        damage(&manifest)
        let clock = ManualWallClock()
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider(), clock: clock)
        // The ledger validates its manifest; Telemetry is handed the unchecked one directly.
        let ledger = try ConsentLedger(manifest: telemetryTestManifest(), vault: vault, clock: clock)
        let error = try #require(throws: ManifestError.self) {
            try Telemetry(manifest: manifest, vault: vault, consent: ledger, clock: clock)
        }
        #expect(!error.problems.isEmpty)
        #expect(try vault.records(in: Telemetry.collection).isEmpty)
        // The ledger's own manifest, and an equal copy, are accepted.
        _ = try Telemetry(manifest: telemetryTestManifest(), vault: vault, consent: ledger, clock: clock)
    }

    @Test func aDeletionRequestWithdrawnFarInTheFutureIsSentWithTheTimeSaturated() async throws {
        let dir = NSTemporaryDirectory() + "steward-telemetry-outside-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = ManualWallClock()
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider(), clock: clock)
        // What Telemetry reads back from the vault: `withdrawn` is JSON (seconds since 2001),
        // here in the year 2634, past what OTLP's nanoseconds hold.
        let state =
            #"{"salts":{},"pseudonyms":{},"deletionRequests":[{"purpose":"analytics","pseudonyms":["p1"],"withdrawn":2e10}]}"#
        try vault.append(
            Array(state.utf8), to: Telemetry.stateCollection, category: .consentRecords, purpose: .privacyCompliance)
        try vault.commit()
        let ledger = try ConsentLedger(manifest: telemetryTestManifest(), vault: vault, clock: clock)
        let audit = try AuditLedger(vault: vault, clock: clock)
        let telemetry = try Telemetry(
            manifest: telemetryTestManifest(), vault: vault, consent: ledger, audit: audit, clock: clock)
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: vault, consent: ledger,
            manifest: telemetryTestManifest(), audit: audit, wallClock: clock)
        try telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "test"))
        #expect(await uploader.drain().accepted == 1)
        let body = String(decoding: try #require(transport.payloads.first).body, as: UTF8.self)
        #expect(body.contains(#""timeUnixNano":"18446744073709551615""#), "\(body)")
        #expect(
            transport.payloads.first?.idempotencyKey
                == "deletion-purposes-analytics-usageEvents-\(Int64(2e10 + 978_307_200) * 1000)")
    }

    @Test func runWithAZeroIntervalFlushesOncePerSecondInsteadOfSpinning() async throws {
        let f = try TelemetryFixture(configuration: .init(batchSize: 1_000))
        try f.ledger.grant([.analytics])
        #expect(f.telemetry.record("screen_view") == .recorded)
        let started = ContinuousClock.now
        let flusher = Task { await f.telemetry.run(flushingEvery: .zero) }
        try await Task.sleep(for: .milliseconds(300))
        let inMemory = f.telemetry.eventsInMemory
        // A spinning loop flushes within microseconds; a one-second interval not before 1 s
        // (checked only when this machine did not stall the test for that long).
        if ContinuousClock.now - started < .milliseconds(900) {
            #expect(inMemory == 1, "a zero interval is one second: nothing was flushed yet")
        }
        flusher.cancel()
        await flusher.value
        #expect(try f.stored().count == 1, "the last flush on the way out")
    }

    @Test func runCancelledBeforeItBeganStillFlushesOnTheWayOut() async throws {
        // Found under ThreadSanitizer's slowdown: the flusher task had not started when it was
        // cancelled, and the loop ended without its last flush.
        let f = try TelemetryFixture(configuration: .init(batchSize: 1_000))
        try f.ledger.grant([.analytics])
        #expect(f.telemetry.record("screen_view") == .recorded)
        let flusher = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            await f.telemetry.run(flushingEvery: .seconds(3_600))
        }
        await flusher.value
        #expect(try f.stored().count == 1)
        #expect(f.telemetry.eventsInMemory == 0)
    }

    @Test(arguments: [Duration(attoseconds: .max), .seconds(Int64.max), .seconds(-1)])
    func runWithAnyIntervalStopsWhenCancelled(_ interval: Duration) async throws {
        let f = try TelemetryFixture(configuration: .init(batchSize: 1_000))
        try f.ledger.grant([.analytics])
        #expect(f.telemetry.record("screen_view") == .recorded)
        let flusher = Task { await f.telemetry.run(flushingEvery: interval) }
        try await Task.sleep(for: .milliseconds(50))
        flusher.cancel()
        await flusher.value
        #expect(try f.stored().count == 1)
    }
}

// MARK: - Metrics

extension OutsideValueTests {
    /// The end of the interval `collect(now:)` reports for a date (nil: the clock's).
    @Test(
        arguments: [
            (Double.nan, nil), (.infinity, nil), (-.infinity, nil),
            (Date.distantFuture.timeIntervalSince1970, UInt64.max), (1e17, UInt64.max),
            (Date.distantPast.timeIntervalSince1970, 0), (-1, 0),
        ] as [(Double, UInt64?)])
    func collectTakesAnyDateAndClampsItToOTLPsRange(seconds: Double, expected: UInt64?) throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        f.metrics.counter(name: "scans", purpose: .analytics).add()
        let point = try #require(f.metrics.collect(now: Date(timeIntervalSince1970: seconds)).first)
        #expect(point.timeUnixNano == expected ?? f.nanos)
        #expect(point.startTimeUnixNano <= point.timeUnixNano, "an interval never ends before it starts")
    }

    @Test(arguments: [Double.nan, .infinity, Date.distantFuture.timeIntervalSince1970, 1e17])
    func metricsWorkWhateverTheClockShows(_ seconds: Double) throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        f.clock.set(Date(timeIntervalSince1970: seconds))
        let metrics = TelemetryMetrics(consent: f.ledger, clock: f.clock)
        metrics.counter(name: "scans", purpose: .analytics).add()
        let point = try #require(metrics.collect().first)
        #expect(point.startTimeUnixNano <= point.timeUnixNano)
    }
}
