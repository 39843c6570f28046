import Testing
import Foundation
import Synchronization
@testable import StewardCore
import StewardTesting

/// Everything about the upload pipeline: `swift test --filter Upload` runs it all.
@Suite struct UploadTests {}

// MARK: - Retry-After

extension UploadTests {
    @Suite struct RetryAfterTests {
        /// 2015-10-21 07:27:00 UTC, one minute before the RFC's example date.
        static let now = Date(timeIntervalSince1970: 1_445_412_420)

        @Test(arguments: [("120", 120), ("0", 0), (" 7\t", 7), ("0030", 30)])
        func delaySecondsAreReadAsSeconds(value: String, seconds: Int) {
            #expect(RetryAfter.delay(fromHeader: value, now: Self.now) == .seconds(seconds))
        }

        @Test func anAbsurdlyLargeDelayIsCappedNotOverflowed() {
            #expect(
                RetryAfter.delay(fromHeader: "99999999999999999999999999", now: Self.now)
                    == .seconds(RetryAfter.maximumSeconds))
        }

        @Test(arguments: [
            "Wed, 21 Oct 2015 07:28:00 GMT",  // IMF-fixdate
            "Wednesday, 21-Oct-15 07:28:00 GMT",  // RFC 850
            "Wed Oct 21 07:28:00 2015",  // asctime
            "wed, 21 oct 2015 07:28:00 GMT",  // names in any case
        ])
        func anHTTPDateInAnyOfTheThreeFormsIsTheTimeUntilThen(value: String) {
            #expect(RetryAfter.delay(fromHeader: value, now: Self.now) == .seconds(60))
        }

        @Test func theDelayUntilADateIsRoundedUpToTheMillisecond() {
            let now = Self.now.addingTimeInterval(0.0004)
            #expect(RetryAfter.delay(fromHeader: "Wed, 21 Oct 2015 07:28:00 GMT", now: now) == .milliseconds(60_000))
            let later = Self.now.addingTimeInterval(0.25)
            #expect(RetryAfter.delay(fromHeader: "Wed, 21 Oct 2015 07:28:00 GMT", now: later) == .milliseconds(59_750))
        }

        @Test func aDateInThePastMeansNoWait() {
            #expect(RetryAfter.delay(fromHeader: "Sun, 06 Nov 1994 08:49:37 GMT", now: Self.now) == .zero)
            #expect(RetryAfter.delay(fromHeader: "Wed, 21 Oct 2015 07:27:00 GMT", now: Self.now) == .zero)
        }

        @Test func theRFCExamplesParseToTheSameInstant() throws {
            let expected = Date(timeIntervalSince1970: 784_111_777)
            for value in [
                "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
            ] {
                #expect(RetryAfter.parseHTTPDate(value, now: Self.now) == expected, "\(value)")
            }
        }

        @Test func aTwoDigitYearMoreThanFiftyYearsAheadIsTheLastCentury() throws {
            let now = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01
            let y2060 = try #require(RetryAfter.parseHTTPDate("Thursday, 01-Jan-60 00:00:00 GMT", now: now))
            #expect(CivilTime.components(of: y2060).year == 2060)
            let y1999 = try #require(RetryAfter.parseHTTPDate("Friday, 01-Jan-99 00:00:00 GMT", now: now))
            #expect(CivilTime.components(of: y1999).year == 1999)
        }

        @Test func dateOutsideTheYears0001To9999AreNotDates() {
            // Found by the FuzzRetryAfter target: with `now` in year 1 a two-digit year went back a
            // century, to year -6; a year 0000 parsed too. Both lie outside what CivilTime prints.
            let yearOne = Date(timeIntervalSince1970: -62_135_596_800)
            #expect(RetryAfter.parseHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT", now: yearOne) == nil)
            #expect(RetryAfter.parseHTTPDate("Sun, 06 Nov 0000 08:49:37 GMT", now: Self.now) == nil)
            #expect(RetryAfter.parseHTTPDate("Sun Nov  6 08:49:37 0000", now: Self.now) == nil)
            let lastYear = Date(timeIntervalSince1970: 253_402_300_799)
            #expect(RetryAfter.parseHTTPDate("Saturday, 01-Jan-00 00:00:00 GMT", now: lastYear) == nil)
            #expect(RetryAfter.delay(fromHeader: "Sunday, 06-Nov-94 08:49:37 GMT", now: yearOne) == nil)
        }

        @Test func aTimeReadWithMillisecondsIsWrittenBackWithTheSameMilliseconds() throws {
            // Found by FuzzRetryAfter: .982 is 0.98199999… in binary, and was written as .981.
            let text = "2026-11-06T06:30:14.982Z"
            let time = try #require(CivilTime.date(rfc3339: text))
            #expect(CivilTime.iso8601(time) == text)
            for millisecond in 0..<1000 {
                let written =
                    "2026-11-06T06:30:14.\(String(repeating: "0", count: 3 - String(millisecond).count))\(millisecond)Z"
                #expect(CivilTime.iso8601(try #require(CivilTime.date(rfc3339: written))) == written)
            }
        }

        @Test(arguments: [
            ("2026-12-06T06:30:14Z", 1_796_538_614.0),
            ("2026-12-06T06:30:14.5Z", 1_796_538_614.5),
            ("2026-12-06t06:30:14.000000001z", 1_796_538_614.000_000_001),
            ("2026-12-06T06:30:14." + String(repeating: "9", count: 40) + "Z", 1_796_538_614.999_999_999),
            ("0001-01-01T00:00:00Z", -62_135_596_800.0),
        ])
        func rfc3339TimesWithAnyFractionAreRead(text: String, seconds: Double) throws {
            let date = try #require(CivilTime.date(rfc3339: text))
            #expect(abs(date.timeIntervalSince1970 - seconds) < 1e-6)
        }

        @Test(arguments: [
            "", "2026-12-06T06:30:14", "2026-12-06T06:30:14+00:00", "2026-12-06 06:30:14Z", "2026-13-06T06:30:14Z",
            "2026-02-30T06:30:14Z", "2026-12-06T24:00:00Z", "2026-12-06T06:30:14.Z", "2026-12-06T06:30:14.5x5Z",
            "0000-01-01T00:00:00Z", "2026-12-06T06:30:14." + String(repeating: "6", count: 60) + "Z",
            "２０２６-12-06T06:30:14Z",
        ])
        func anythingElseIsNotAnRFC3339Time(text: String) {
            #expect(CivilTime.date(rfc3339: text) == nil)
        }

        @Test func leapDaysExistOnlyInLeapYears() {
            #expect(
                RetryAfter.parseHTTPDate("Thu, 29 Feb 2024 00:00:00 GMT", now: Self.now)
                    == Date(timeIntervalSince1970: 1_709_164_800))
            #expect(RetryAfter.parseHTTPDate("Wed, 29 Feb 2023 00:00:00 GMT", now: Self.now) == nil)
            #expect(RetryAfter.parseHTTPDate("Tue, 29 Feb 2000 00:00:00 GMT", now: Self.now) != nil)
            #expect(RetryAfter.parseHTTPDate("Thu, 29 Feb 1900 00:00:00 GMT", now: Self.now) == nil)
        }

        @Test(arguments: [
            "", "   ", "soon", "-5", "+5", "1.5", "12 s", "1e3", "١٢٠",
            "Wed, 21 Oct 2015 07:28:00 UTC", "Wed, 21 Oct 2015 07:28:00 gmt", "Wed, 21 Oct 2015 07:28:00",
            "Wed, 31 Apr 2015 07:28:00 GMT", "Wed, 21 Oct 2015 24:00:00 GMT", "Wed, 21 Oct 2015 07:60:00 GMT",
            "Wed, 21 Oct 15 07:28:00 GMT", "Wed, 21 Okt 2015 07:28:00 GMT", "Wed,21 Oct 2015 07:28:00 GMT",
            "Wed, 21 Oct 2015 07:28:00 GMT extra", "Wed, 1 Oct 2015 07:28:00 GMT", "Xyz, 21 Oct 2015 07:28:00 GMT",
            "Funday, 21-Oct-15 07:28:00 GMT", "Wednesday, 21-Oct-2015 07:28:00 GMT",
            "Wednesday, 21 Oct 2015 07:28:00 GMT",
            "Wed Oct 21 07:28:00 15", "Wed Oct 21 07:28 2015", "Wed Oct 6 07:28:00 2015",
            "Wed Oct 21 07:28:00 2015 GMT",
            "Wed, 00 Oct 2015 07:28:00 GMT", "Wed, 21 Oct 2015 7:28:00 GMT", "Wed, 21 Oct 2015 07:28:00 GMT\r\n",
        ])
        func garbageIsNil(value: String) {
            #expect(RetryAfter.delay(fromHeader: value, now: Self.now) == nil)
        }

        @Test func isoTimestampsAreWrittenInUTCWithMilliseconds() {
            #expect(CivilTime.iso8601(Date(timeIntervalSince1970: 1_445_412_480.042)) == "2015-10-21T07:28:00.042Z")
            #expect(CivilTime.iso8601(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
            #expect(CivilTime.iso8601(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59.000Z")
        }
    }
}

// MARK: - Backoff

/// Always the same fraction.
private struct FixedJitter: JitterSource {
    let fraction: Double
    func nextFraction() -> Double { fraction }
}

extension UploadTests {
    @Suite struct BackoffTests {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(60))

        @Test func ceilingsDoubleUntilTheCap() {
            let ceilings = (0..<9).map { backoff.ceiling(forAttempt: $0) }
            #expect(ceilings == [1, 2, 4, 8, 16, 32, 60, 60, 60].map { Duration.seconds($0) })
        }

        @Test func hugeAttemptNumbersStayAtTheCapWithoutOverflow() {
            #expect(backoff.ceiling(forAttempt: 10_000) == .seconds(60))
            #expect(backoff.ceiling(forAttempt: .max) == .seconds(60))
            #expect(backoff.ceiling(forAttempt: -3) == .seconds(1))
            #expect(
                Backoff(initial: .seconds(1), maximum: .seconds(Int64.max)).ceiling(forAttempt: .max)
                    == .seconds(Int64.max))
            #expect(Backoff(initial: .zero, maximum: .seconds(60)).ceiling(forAttempt: 5) == .zero)
            #expect(Backoff(initial: .seconds(90), maximum: .seconds(60)).ceiling(forAttempt: 0) == .seconds(60))
        }

        @Test func fullJitterScalesTheCeilingByTheRandomFraction() {
            #expect(backoff.delay(forAttempt: 3, random: FixedJitter(fraction: 0)) == .zero)
            #expect(backoff.delay(forAttempt: 3, random: FixedJitter(fraction: 0.25)) == .seconds(2))
            #expect(backoff.delay(forAttempt: 3, random: FixedJitter(fraction: 1)) == .seconds(8))
            #expect(backoff.delay(forAttempt: 9, random: FixedJitter(fraction: 0.5)) == .seconds(30))
        }

        @Test func outOfRangeFractionsAreClamped() {
            #expect(backoff.delay(forAttempt: 2, random: FixedJitter(fraction: 7)) == .seconds(4))
            #expect(backoff.delay(forAttempt: 2, random: FixedJitter(fraction: -1)) == .zero)
            #expect(backoff.delay(forAttempt: 2, random: FixedJitter(fraction: .nan)) == .zero)
        }

        @Test func systemJitterStaysWithinZeroAndTheCeilingAndSpreads() {
            var seen = Set<Duration>()
            for attempt in 0..<2_000 {
                let delay = backoff.delay(forAttempt: attempt % 8, random: SystemJitterSource())
                #expect(delay >= .zero && delay <= backoff.ceiling(forAttempt: attempt % 8))
                seen.insert(delay)
            }
            #expect(seen.count > 1_000, "full jitter draws from the whole window")
        }
    }
}

// MARK: - Uploader

/// A vault, clocks, consent and a recording transport for one uploader test.
private final class Fixture: Sendable {
    static let recipient: RecipientID = "backend"
    static let manifest = PrivacyManifest(
        policyVersion: "1",
        purposes: [
            .init(id: .crashReporting, description: "Stability", legalBasis: .consent),
            .init(id: .analytics, description: "Statistics", legalBasis: .consent),
            .init(id: .serviceProvision, description: "The service", legalBasis: .necessaryForService),
        ],
        dataCategories: [
            .init(
                id: .crashDiagnostics, description: "Crashes", purposes: [.crashReporting], sensitivity: .personal,
                leavesDevice: true, recipients: [recipient]),
            .init(
                id: .deviceModel, description: "Model", purposes: [.crashReporting, .analytics, .serviceProvision],
                sensitivity: .low, leavesDevice: true, recipients: [recipient]),
            .init(
                id: .usageEvents, description: "Usage", purposes: [.analytics], sensitivity: .personal,
                leavesDevice: true, recipients: [recipient]),
            .init(
                id: .images, description: "Images", purposes: [.serviceProvision], sensitivity: .sensitive,
                leavesDevice: false),
        ],
        recipients: [.init(id: recipient, name: "Backend", role: .processor, region: "DE")])

    let directory = NSTemporaryDirectory() + "steward-upload-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()
    let clock = ManualClock()
    let wall: ManualWallClock
    let consent: FixedConsent
    let audit: AuditLedger
    let transport: RecordingTransport
    let vault: Mutex<Vault?>

    init(
        consent: [Purpose: ConsentState] = [
            .crashReporting: .granted, .analytics: .granted, .serviceProvision: .granted,
        ],
        answers: [Delivery] = [], respond: (@Sendable (Payload, Int) -> Delivery)? = nil,
        now: Date = Date(timeIntervalSince1970: 1_767_225_600)
    ) throws {
        wall = ManualWallClock(now: now)
        self.consent = FixedConsent(consent)
        audit = try AuditLedger(vault: nil, clock: wall)
        transport = RecordingTransport(clock: clock, answers: answers, respond: respond ?? { _, _ in .accepted })
        vault = Mutex(try Vault.open(directory: directory + "/vault", keyProvider: keys, clock: wall))
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    var openVault: Vault {
        get throws { try #require(vault.withLock { $0 }) }
    }

    /// Drops the vault without closing it (as a crash would) and opens it again.
    func crashAndReopen() throws {
        vault.withLock { $0 = nil }
        let reopened = try Vault.open(directory: directory + "/vault", keyProvider: keys, clock: wall)
        vault.withLock { $0 = reopened }
    }

    func uploader(
        policy: UploadPolicy = UploadPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(60)), jitter: Double = 1
    ) throws -> Uploader {
        try Uploader(
            recipient: Self.recipient, transport: transport, vault: openVault, consent: consent,
            manifest: Self.manifest,
            audit: audit, policy: policy, clock: clock, wallClock: wall, random: FixedJitter(fraction: jitter))
    }

    func payload(_ n: Int, purpose: Purpose = .crashReporting, categories: [DataCategory]? = nil) -> Payload {
        Payload(
            recipient: Self.recipient, purpose: purpose,
            categories: categories
                ?? (purpose == .crashReporting
                    ? [.crashDiagnostics, .deviceModel] : purpose == .analytics ? [.usageEvents] : [.deviceModel]),
            contentType: "application/json", headers: ["X-Sequence": String(n)],
            body: Array("{\"n\":\(n)}".utf8) + [0, 255],
            idempotencyKey: "key-\(n)", created: wall.now.addingTimeInterval(0.000123))
    }

    /// Payloads of the outbox collection in the vault.
    func stored() throws -> [Payload] {
        try openVault.records(in: Uploader.collection(for: Self.recipient)).compactMap {
            Payload(outboxRecord: $0.data)
        }
    }

    /// Waits for the code under test to sleep, then moves both clocks to its deadline.
    @discardableResult
    func step() async throws -> Duration {
        // A sleeper can go between the two reads (a wait cancelled by a submission): wait again.
        var next: ManualClock.Instant?
        while next == nil {
            await clock.waitForSleepers(1)
            next = clock.nextDeadline
        }
        let deadline = try #require(next)
        wall.advance(by: deadline.offset - clock.now.offset)
        clock.advance(to: deadline)
        return deadline.offset
    }

    func dropped(_ reason: DropReason, _ category: DataCategory, _ purpose: Purpose) -> Int {
        audit.entries().filter { $0.category == category && $0.purpose == purpose }.reduce(0) {
            $0 + ($1.dropped[reason] ?? 0)
        }
    }

    func disclosed(_ category: DataCategory, _ purpose: Purpose) -> [AuditDisclosure] {
        audit.entries().filter { $0.category == category && $0.purpose == purpose }.flatMap(\.disclosed)
    }
}

/// Counts how many sends run at the same time; each send yields so an overlap would show.
private final class OverlapDetectingTransport: Transport {
    let running = Mutex(0)
    let overlaps = Observations<Int>()
    let keys = Observations<String>()

    func send(_ payload: Payload) async -> Delivery {
        let now = running.withLock {
            $0 += 1; return $0
        }
        if now > 1 { overlaps.append(now) }
        for _ in 0..<3 { await Task.yield() }
        keys.append(payload.idempotencyKey)
        running.withLock { $0 -= 1 }
        return .accepted
    }
}

/// Collects values from a transport's closure.
private final class Observations<T: Sendable>: Sendable {
    private let values = Mutex<[T]>([])
    func append(_ value: T) { values.withLock { $0.append(value) } }
    var all: [T] { values.withLock { $0 } }
}

extension UploadTests {
    @Suite(.timeLimit(.minutes(1))) struct UploaderTests {
        @Test func theHourlyByteBudgetHoldsSendsUntilTheHourHasPassed() async throws {
            let f = try Fixture()
            var policy = UploadPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(60))
            // Two of the fixture's payloads fit; a third waits for the hour to pass.
            policy.maxBytesPerHour = 2 * f.payload(1).body.count
            let uploader = try Uploader(
                recipient: Fixture.recipient, transport: f.transport, vault: f.openVault, consent: f.consent,
                manifest: Fixture.manifest, audit: f.audit, policy: policy, clock: f.clock, wallClock: f.wall)
            for n in 1...3 { #expect(try uploader.submit(f.payload(n)) == .queued) }
            // A drain (send(), shutdown) does not sit out the hour: it says what waits.
            let flush = await uploader.drain()
            #expect(f.transport.payloads.count == 2)
            #expect(flush.accepted == 2 && flush.awaitingBudget == 1 && flush.remaining == 1, "\(flush)")
            #expect(flush.retries == 0, "waiting for the budget is no attempt")
            // The running loop sleeps until the hour is over, then sends the third.
            let worker = Task { await uploader.run() }
            defer { worker.cancel() }
            let waited = try await f.step()
            #expect(waited == .seconds(3_600), "the first send ages out of the hour at t = 1 h")
            await f.transport.waitForDeliveries(3)
            #expect(f.transport.deliveries.map(\.answer) == [.accepted, .accepted, .accepted])
        }

        @Test func anUploaderRefusesAManifestThatDoesNotValidate() throws {
            let f = try Fixture()
            var manifest = Fixture.manifest
            // A category for a purpose the manifest never declares.
            manifest.dataCategories[0].purposes = ["neverDeclared"]
            let error = try #require(throws: ManifestError.self) {
                try Uploader(
                    recipient: Fixture.recipient, transport: f.transport, vault: f.openVault, consent: f.consent,
                    manifest: manifest, audit: f.audit, clock: f.clock, wallClock: f.wall)
            }
            #expect(error.problems.contains { $0.message.contains("neverDeclared") }, "\(error)")
            _ = try f.uploader()
        }

        @Test(arguments: [0, 1, 3, 5])
        func aTransportThatFailsNTimesThenAcceptsDeliversExactlyOnceOnTheBackoffSchedule(failures: Int) async throws {
            let f = try Fixture(answers: Array(repeating: .retry(after: nil), count: failures))
            let uploader = try f.uploader()
            let payload = f.payload(1)
            #expect(try uploader.submit(payload) == .queued)
            let drain = Task { await uploader.drain() }
            for _ in 0..<failures { try await f.step() }
            let report = await drain.value

            // Full jitter at its maximum: waits of 1, 2, 4, 8... seconds after each failure.
            let expected = (0...failures).map { Duration.seconds((1 << $0) - 1) }
            #expect(f.transport.deliveries.map(\.elapsed) == expected)
            #expect(f.transport.acceptedPayloads == [payload])
            #expect(f.transport.payloads.allSatisfy { $0 == payload })
            #expect(
                report.accepted == 1 && report.retries == failures && report.sends == failures + 1
                    && report.remaining == 0)
            #expect(try f.stored().isEmpty)
            #expect(uploader.pendingCount == 0)
            for category in [DataCategory.crashDiagnostics, .deviceModel] {
                #expect(
                    f.disclosed(category, .crashReporting) == [
                        AuditDisclosure(recipient: Fixture.recipient, legalBasis: .consent, count: 1)
                    ])
            }
        }

        @Test func backoffIsCappedAndJittered() async throws {
            let f = try Fixture(answers: Array(repeating: .retry(after: nil), count: 5))
            let uploader = try f.uploader(
                policy: UploadPolicy(initialBackoff: .seconds(10), maxBackoff: .seconds(25)), jitter: 0.5)
            try uploader.submit(f.payload(1))
            let drain = Task { await uploader.drain() }
            for _ in 0..<5 { try await f.step() }
            _ = await drain.value
            // Ceilings 10, 20, 25, 25, 25 seconds, halved by the jitter.
            #expect(
                f.transport.deliveries.map(\.elapsed)
                    == [0, 5, 15, 27.5, 40, 52.5].map { Duration.milliseconds(Int64($0 * 1000)) })
        }

        @Test func retryAfterThirtySecondsWaitsExactlyThirtySeconds() async throws {
            let f = try Fixture(answers: [.retry(after: .seconds(30))])
            let uploader = try f.uploader()
            try uploader.submit(f.payload(1))
            let drain = Task { await uploader.drain() }
            await f.clock.waitForSleepers(1)
            #expect(f.clock.nextDeadline == ManualClock.Instant(offset: .seconds(30)))
            f.clock.advance(by: .milliseconds(29_999))
            #expect(f.transport.deliveries.count == 1, "not a millisecond early")
            f.clock.advance(by: .milliseconds(1))
            let report = await drain.value
            #expect(f.transport.deliveries.map(\.elapsed) == [.zero, .seconds(30)])
            #expect(report.accepted == 1)
        }

        @Test func retryAfterAsAnHTTPDateIsHonoured() async throws {
            // The wall clock reads 07:27:00; the recipient says to come back at 07:28:00.
            let wallNow = Date(timeIntervalSince1970: 1_445_412_420)
            let f = try Fixture(
                respond: { _, index in
                    index == 0
                        ? .retry(after: RetryAfter.delay(fromHeader: "Wed, 21 Oct 2015 07:28:00 GMT", now: wallNow))
                        : .accepted
                }, now: wallNow)
            let uploader = try f.uploader()
            try uploader.submit(f.payload(1))
            let drain = Task { await uploader.drain() }
            #expect(try await f.step() == .seconds(60))
            _ = await drain.value
            #expect(f.transport.deliveries.map(\.elapsed) == [.zero, .seconds(60)])
        }

        @Test func aRejectedPayloadIsDroppedCountedAndNeverRetried() async throws {
            let f = try Fixture(answers: [.rejected(reason: "malformed")])
            let uploader = try f.uploader()
            try uploader.submit(f.payload(1))
            try uploader.submit(f.payload(2))
            let report = await uploader.drain()
            #expect(f.transport.deliveries.map(\.answer) == [.rejected(reason: "malformed"), .accepted])
            #expect(report.dropped == [.rejected: 1] && report.accepted == 1)
            #expect(try f.stored().isEmpty)
            #expect(f.dropped(.rejected, .crashDiagnostics, .crashReporting) == 1)
            #expect(f.dropped(.rejected, .deviceModel, .crashReporting) == 1)
        }

        @Test func aDeletionRequestIsRetriedWithBackoffOnRejectionsEvenPastTheMaximumAgeUntilAccepted() async throws {
            let f = try Fixture(answers: [
                .rejected(reason: "captive portal"), .rejected(reason: "403 from a proxy"), .retry(after: nil),
            ])
            let uploader = try f.uploader(
                policy: UploadPolicy(initialBackoff: .seconds(1), maxBackoff: .seconds(60), maxAge: .seconds(60)))
            // Queued a month ago: far older than maxAge, which deletion requests ignore.
            let request = Payload(
                recipient: Fixture.recipient, purpose: .privacyCompliance, categories: [.usageEvents],
                contentType: "application/json", headers: [:], body: Array("{\"delete\":true}".utf8),
                idempotencyKey: "deletion-1", created: f.wall.now.addingTimeInterval(-30 * 86_400))
            try uploader.submitObligation(request)
            #expect(uploader.pendingDeletionRequests == 1, "visible as pending")
            let drain = Task { await uploader.drain() }
            // After each failure the next try is a backoff step away, never a millisecond.
            #expect(try await f.step() == .seconds(1))
            #expect(try await f.step() == .seconds(3))
            #expect(try await f.step() == .seconds(7))
            let report = await drain.value
            #expect(
                f.transport.deliveries.map(\.answer) == [
                    .rejected(reason: "captive portal"), .rejected(reason: "403 from a proxy"), .retry(after: nil),
                    .accepted,
                ])
            #expect(report.accepted == 1 && report.dropped.isEmpty)
            #expect(try f.stored().isEmpty, "gone once accepted, not before")
            #expect(uploader.pendingDeletionRequests == 0)
        }

        @Test func tooManyAttemptsDropsAndCountsAndTheVaultKeepsThePayloadUntilThen() async throws {
            let held = Observations<Int>()
            let collection = Uploader.collection(for: Fixture.recipient)
            let vaultBox = Mutex<Vault?>(nil)
            let f = try Fixture(respond: { _, _ in
                held.append((try? vaultBox.withLock { try $0?.records(in: collection).count }) ?? -1)
                return .retry(after: nil)
            })
            vaultBox.withLock { $0 = try? f.openVault }
            // Zero jitter: every retry is immediate, so no clock needs to move.
            let uploader = try f.uploader(policy: UploadPolicy(maxAttempts: 4), jitter: 0)
            try uploader.submit(f.payload(1))
            let report = await uploader.drain()
            #expect(f.transport.deliveries.count == 4)
            #expect(held.all == [1, 1, 1, 1], "stored at every attempt")
            #expect(report.dropped == [.deliveryExpired: 1] && report.accepted == 0)
            #expect(try f.stored().isEmpty)
            #expect(f.dropped(.deliveryExpired, .crashDiagnostics, .crashReporting) == 1)
            #expect(f.disclosed(.crashDiagnostics, .crashReporting).isEmpty)
        }

        @Test func aPayloadOlderThanTheMaximumAgeIsDroppedAtThatAgeAndNotBefore() async throws {
            let f = try Fixture(respond: { _, _ in .retry(after: .seconds(25 * 60)) })
            let uploader = try f.uploader(policy: UploadPolicy(maxAge: .seconds(3_600)))
            try uploader.submit(f.payload(1))
            let drain = Task { await uploader.drain() }
            #expect(try await f.step() == .seconds(25 * 60))
            #expect(try f.stored().count == 1)
            #expect(try await f.step() == .seconds(50 * 60))
            #expect(try f.stored().count == 1)
            // The next retry would be at 75 minutes; the payload expires at 60 minutes (plus 1 ms).
            let expiry = try await f.step()
            #expect(expiry > .seconds(3_600) && expiry <= .seconds(3_600) + .milliseconds(2))
            let report = await drain.value
            #expect(f.transport.deliveries.map(\.elapsed) == [0, 25, 50].map { Duration.seconds($0 * 60) })
            #expect(report.dropped == [.deliveryExpired: 1])
            #expect(try f.stored().isEmpty)
            #expect(f.dropped(.deliveryExpired, .crashDiagnostics, .crashReporting) == 1)
        }

        @Test func aPayloadAlreadyTooOldWhenLoadedIsDroppedWithoutSending() async throws {
            let f = try Fixture(consent: [.crashReporting: .pending])
            let uploader = try f.uploader(policy: UploadPolicy(maxAge: .seconds(60)))
            #expect(try uploader.submit(f.payload(1)) == .heldForConsent)
            f.wall.advance(by: .seconds(61))
            let report = await uploader.drain()
            #expect(report.dropped == [.deliveryExpired: 1])
            #expect(f.transport.deliveries.isEmpty)
            #expect(try f.stored().isEmpty)
        }

        @Test func nothingIsDeletedWhileTheTransportKeepsAskingToRetry() async throws {
            let f = try Fixture(answers: Array(repeating: .retry(after: .seconds(5)), count: 6))
            let uploader = try f.uploader()
            let payload = f.payload(1)
            try uploader.submit(payload)
            let drain = Task { await uploader.drain() }
            for _ in 0..<6 {
                await f.clock.waitForSleepers(1)
                #expect(try f.stored() == [payload])
                #expect(uploader.pendingCount == 1)
                try await f.step()
            }
            _ = await drain.value
            #expect(f.transport.deliveries.count == 7)
            #expect(try f.stored().isEmpty)
        }

        @Test func pendingConsentHoldsThePayloadAndSendsItAfterTheGrant() async throws {
            let f = try Fixture(consent: [.analytics: .pending])
            let uploader = try f.uploader()
            let payload = f.payload(1, purpose: .analytics)
            #expect(try uploader.submit(payload) == .heldForConsent)
            let first = await uploader.drain()
            #expect(first.held == 1 && first.remaining == 1 && first.sends == 0)
            #expect(f.transport.deliveries.isEmpty)
            #expect(try f.stored() == [payload], "held, not dropped")

            let worker = Task { await uploader.run() }
            f.consent.set(.granted, for: .analytics)
            uploader.wake()
            await f.transport.waitForDeliveries(1)
            worker.cancel()
            await worker.value
            #expect(f.transport.acceptedPayloads == [payload])
            #expect(uploader.pendingCount == 0)
            #expect(try f.stored().isEmpty)
            #expect(
                f.disclosed(.usageEvents, .analytics) == [
                    AuditDisclosure(recipient: Fixture.recipient, legalBasis: .consent, count: 1)
                ])
        }

        @Test func aHeldPayloadDoesNotBlockGrantedOnesAndKeepsItsOwnOrder() async throws {
            let f = try Fixture(consent: [.analytics: .pending, .crashReporting: .granted, .serviceProvision: .granted])
            let uploader = try f.uploader()
            let payloads = [
                f.payload(1, purpose: .analytics), f.payload(2, purpose: .crashReporting),
                f.payload(3, purpose: .analytics),
                f.payload(4, purpose: .serviceProvision),
            ]
            for p in payloads { try uploader.submit(p) }
            _ = await uploader.drain()
            #expect(f.transport.payloads.map(\.idempotencyKey) == ["key-2", "key-4"])
            f.consent.set(.granted, for: .analytics)
            _ = await uploader.drain()
            #expect(f.transport.payloads.map(\.idempotencyKey) == ["key-2", "key-4", "key-1", "key-3"])
        }

        @Test func aDeniedPurposeIsDroppedAndCountedAtSubmissionAndAtSendTime() async throws {
            let f = try Fixture(consent: [.crashReporting: .denied, .analytics: .pending])
            let uploader = try f.uploader()
            #expect(try uploader.submit(f.payload(1)) == .dropped(.consent))
            #expect(try f.stored().isEmpty, "denied data is never written")
            #expect(f.dropped(.consent, .crashDiagnostics, .crashReporting) == 1)

            #expect(try uploader.submit(f.payload(2, purpose: .analytics)) == .heldForConsent)
            #expect(try uploader.submit(f.payload(3, purpose: .analytics)) == .heldForConsent)
            f.consent.set(.denied, for: .analytics)
            let report = await uploader.drain()
            #expect(report.dropped == [.consent: 2] && report.sends == 0)
            #expect(f.transport.deliveries.isEmpty)
            #expect(try f.stored().isEmpty)
            #expect(f.dropped(.consent, .usageEvents, .analytics) == 2)
        }

        @Test func consentWithdrawnDuringABackoffDropsThePayloadOnWake() async throws {
            let f = try Fixture(answers: [.retry(after: .seconds(600))])
            let uploader = try f.uploader()
            try uploader.submit(f.payload(1))
            let drain = Task { await uploader.drain() }
            await f.clock.waitForSleepers(1)
            f.consent.set(.denied, for: .crashReporting)
            uploader.wake()
            let report = await drain.value
            #expect(report.dropped == [.consent: 1])
            #expect(f.transport.deliveries.count == 1)
            #expect(try f.stored().isEmpty)
        }

        @Test func payloadsGoOutInSubmissionOrderEvenWhenOneIsRetried() async throws {
            let f = try Fixture(answers: [.accepted, .retry(after: .seconds(1)), .retry(after: .seconds(1))])
            let uploader = try f.uploader()
            let purposes: [Purpose] = [.crashReporting, .analytics, .serviceProvision]
            let payloads = (0..<30).map { f.payload($0, purpose: purposes[$0 % 3]) }
            for p in payloads { try uploader.submit(p) }
            let drain = Task { await uploader.drain() }
            try await f.step()
            try await f.step()
            let report = await drain.value
            #expect(f.transport.acceptedPayloads == payloads)
            #expect(f.transport.payloads.map(\.idempotencyKey).prefix(4) == ["key-0", "key-1", "key-1", "key-1"])
            #expect(report.accepted == 30)
        }

        @Test func aPayloadSubmittedBeforeACrashIsSentByTheNextUploaderInOrder() async throws {
            let f = try Fixture()
            let payloads = (0..<5).map { f.payload($0, purpose: $0 % 2 == 0 ? .crashReporting : .analytics) }
            do {
                let uploader = try f.uploader()
                for p in payloads { try uploader.submit(p) }
                // Dropped without sending anything.
            }
            try f.crashAndReopen()
            let restarted = try f.uploader()
            #expect(restarted.pendingCount == 5)
            let extra = f.payload(5)
            try restarted.submit(extra)
            let report = await restarted.drain()
            #expect(report.accepted == 6)
            #expect(
                f.transport.acceptedPayloads == payloads + [extra], "equal payloads, original order, new ones after")
            #expect(try f.stored().isEmpty)
        }

        @Test func aPurgeOfThePurposeRemovesQueuedPayloadsAndTheyAreNeverSent() async throws {
            let f = try Fixture(consent: [.analytics: .pending, .crashReporting: .granted])
            let uploader = try f.uploader()
            try uploader.submit(f.payload(1, purpose: .analytics))
            try uploader.submit(f.payload(2, purpose: .crashReporting))
            #expect(try f.openVault.purge(purpose: .analytics) == 1)
            #expect(try f.openVault.purge(purpose: .crashReporting) == 1)
            f.consent.set(.granted, for: .analytics)
            let report = await uploader.drain()
            #expect(f.transport.deliveries.isEmpty)
            #expect(report.sends == 0 && report.remaining == 0)
        }

        @Test func undeclaredPayloadsAreRefusedAndCounted() throws {
            let f = try Fixture()
            let uploader = try f.uploader()
            // Images do not leave the device; usage events are not collected for crash reporting.
            #expect(
                try uploader.submit(f.payload(1, purpose: .serviceProvision, categories: [.images]))
                    == .dropped(.undeclared))
            #expect(
                try uploader.submit(f.payload(2, purpose: .crashReporting, categories: [.usageEvents]))
                    == .dropped(.undeclared))
            #expect(
                try uploader.submit(f.payload(3, purpose: "marketing", categories: [.deviceModel]))
                    == .dropped(.undeclared))
            #expect(f.dropped(.undeclared, .images, .serviceProvision) == 1)
            #expect(f.dropped(.undeclared, .usageEvents, .crashReporting) == 1)
            #expect(try f.stored().isEmpty)

            var other = f.payload(4)
            other.recipient = "somewhereElse"
            #expect { try uploader.submit(other) } throws: { ($0 as? UploadError)?.code == .wrongRecipient }
            #expect { try uploader.submit(f.payload(5, categories: [])) } throws: {
                ($0 as? UploadError)?.code == .noCategories
            }
            #expect(uploader.pendingCount == 0)
        }

        @Test func theNecessaryPurposeIsDisclosedOnItsOwnLegalBasis() async throws {
            let f = try Fixture()
            let uploader = try f.uploader()
            try uploader.submit(f.payload(1, purpose: .serviceProvision))
            _ = await uploader.drain()
            #expect(
                f.disclosed(.deviceModel, .serviceProvision) == [
                    AuditDisclosure(recipient: Fixture.recipient, legalBasis: .necessaryForService, count: 1)
                ])
        }

        @Test func runSendsInTheBackgroundAndStopsWhenCancelled() async throws {
            let f = try Fixture(answers: [.retry(after: .seconds(2))])
            let uploader = try f.uploader()
            let worker = Task { await uploader.run() }
            try uploader.submit(f.payload(1))
            try uploader.submit(f.payload(2))
            await f.transport.waitForDeliveries(1)
            #expect(try await f.step() == .seconds(2))
            await f.transport.waitForDeliveries(3)
            #expect(f.transport.payloads.map(\.idempotencyKey) == ["key-1", "key-1", "key-2"])
            worker.cancel()
            await worker.value
            #expect(uploader.pendingCount == 0)
        }

        @Test func theStoredFormRoundTripsAndRefusesDamage() throws {
            let f = try Fixture()
            let payload = Payload(
                recipient: "r", purpose: .analytics, categories: [.usageEvents, .deviceModel],
                contentType: "application/x-sentry-envelope",
                headers: ["b": "2", "a": "ü"], body: Array(0...255), idempotencyKey: "k",
                created: f.wall.now.addingTimeInterval(0.123456789))
            let bytes = payload.outboxRecord()
            #expect(Payload(outboxRecord: bytes) == payload)
            for cut in 0..<bytes.count { #expect(Payload(outboxRecord: Array(bytes.prefix(cut))) == nil) }
            #expect(Payload(outboxRecord: bytes + [0]) == nil)
            var wrongMagic = bytes
            wrongMagic[3] = 2
            #expect(Payload(outboxRecord: wrongMagic) == nil)
            var hugeCount = bytes
            hugeCount.replaceSubrange(4..<8, with: [0xFF, 0xFF, 0xFF, 0xFF])
            #expect(Payload(outboxRecord: hugeCount) == nil)
        }

        @Test func anUnusualRecipientGetsAValidCollectionName() {
            #expect(Uploader.collection(for: "crashBackend") == "steward.outbox.crashBackend")
            let odd = Uploader.collection(for: "https://sentry.example.com/api/1")
            #expect(VaultState.isValidCollectionName(odd) && odd.hasPrefix("steward.outbox-"))
            #expect(odd != Uploader.collection(for: "https://sentry.example.com/api/2"))
        }
    }
}

extension UploadTests {
    /// Fifty sends, each committed to the vault, raced by a worker and two drains: its own
    /// suite, with a limit that holds under AddressSanitizer on two shared cores (the 1-minute
    /// limit of UploaderTests was hit there while the rest of the suite ran in parallel).
    @Suite(.timeLimit(.minutes(4))) struct ConcurrentDrainTests {
        @Test func aConcurrentRunAndDrainStillSendOneAtATime() async throws {
            let f = try Fixture()
            let transport = OverlapDetectingTransport()
            let uploader = try Uploader(
                recipient: Fixture.recipient, transport: transport, vault: f.openVault, consent: f.consent,
                manifest: Fixture.manifest, audit: f.audit, clock: f.clock, wallClock: f.wall)
            let worker = Task { await uploader.run() }
            for i in 0..<50 { try uploader.submit(f.payload(i)) }
            async let second = uploader.drain()
            _ = await uploader.drain()
            _ = await second
            // Polled with a sleep, not Task.yield: a yield loop keeps a pool thread busy, which
            // starves the worker on a 2-core machine under a sanitizer's slowdown.
            while uploader.pendingCount > 0 { try await Task.sleep(for: .milliseconds(5)) }
            worker.cancel()
            await worker.value
            #expect(transport.overlaps.all.isEmpty)
            #expect(transport.keys.all == (0..<50).map { "key-\($0)" })
        }
    }
}

// MARK: - Manual clock

extension UploadTests {
    @Suite(.timeLimit(.minutes(1))) struct ManualClockTests {
        @Test func sleepersResumeWhenTheirDeadlinePassesInOrder() async throws {
            let clock = ManualClock()
            let woken = Observations<Int>()
            let a = Task {
                try await clock.sleep(for: .seconds(10)); woken.append(10)
            }
            let b = Task {
                try await clock.sleep(for: .seconds(5)); woken.append(5)
            }
            await clock.waitForSleepers(2)
            clock.advance(by: .seconds(4))
            #expect(clock.sleeperCount == 2)
            clock.advance(by: .seconds(1))
            try await b.value
            #expect(woken.all == [5])
            clock.advance(to: ManualClock.Instant(offset: .seconds(10)))
            try await a.value
            #expect(woken.all == [5, 10])
            try await clock.sleep(until: .zero)  // already passed: returns at once
            clock.advance(by: .seconds(-5))
            #expect(clock.now == ManualClock.Instant(offset: .seconds(10)), "a clock never goes back")
        }

        @Test func aCancelledSleeperThrowsAndLeaves() async throws {
            let clock = ManualClock()
            let sleeper = Task { try await clock.sleep(for: .seconds(1)) }
            await clock.waitForSleepers(1)
            sleeper.cancel()
            await #expect(throws: CancellationError.self) { try await sleeper.value }
            #expect(clock.sleeperCount == 0)
        }
    }
}

// MARK: - File transport

extension UploadTests {
    @Suite struct FileTransportTests {
        let directory = NSTemporaryDirectory() + "steward-outbox-\(UUID().uuidString)/outbox"

        func payload(_ n: Int, body: [UInt8]) -> Payload {
            Payload(
                recipient: "crashBackend", purpose: .crashReporting, categories: [.crashDiagnostics],
                contentType: "application/x-sentry-envelope",
                headers: ["X-Sentry-Auth": "Sentry sentry_key=abc", "Content-Encoding": "identity"], body: body,
                idempotencyKey: "event-\(n)", created: Date(timeIntervalSince1970: 1_767_225_600.5))
        }

        func mode(_ path: String) throws -> Int {
            try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        }

        func visibleFiles() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: directory).filter { !$0.hasPrefix(".") }.sorted()
        }

        @Test func writesTheExactBodyAndASidecarPrivately() async throws {
            defer { try? FileManager.default.removeItem(atPath: FileSystem.parentPath(directory)) }
            let transport = try FileTransport(directory: directory)
            let body = Array(0...255) + Array(repeating: UInt8(0x5A), count: 10_000)
            #expect(await transport.send(payload(1, body: body)) == .accepted)
            let files = try visibleFiles()
            #expect(files == ["000000000001-crashBackend.body", "000000000001-crashBackend.json"])
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + files[0]))) == body)
            #expect(try mode(directory) == 0o700)
            for file in files { #expect(try mode(directory + "/" + file) == 0o600) }

            let sidecar = try JSONDecoder().decode(
                FileTransport.Sidecar.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/" + files[1])))
            #expect(sidecar.sequence == 1)
            #expect(
                sidecar.recipient == "crashBackend" && sidecar.purpose == .crashReporting
                    && sidecar.categories == [.crashDiagnostics])
            #expect(sidecar.contentType == "application/x-sentry-envelope")
            #expect(
                sidecar.headers == ["Content-Encoding": "identity"], "the DSN's key (X-Sentry-Auth) is never written")
            #expect(sidecar.idempotencyKey == "event-1")
            #expect(sidecar.created == "2026-01-01T00:00:00.500Z")
            #expect(sidecar.body == files[0] && sidecar.bodyBytes == body.count)
            #expect(sidecar.bodySHA256 == SHA256.hash(body).map { String(format: "%02x", $0) }.joined())
            #expect(try transport.sidecars() == [sidecar])
        }

        @Test func theSequenceContinuesAcrossInstancesAndNamesSortInDeliveryOrder() async throws {
            defer { try? FileManager.default.removeItem(atPath: FileSystem.parentPath(directory)) }
            var sequences: [UInt64] = []
            for round in 0..<3 {
                let transport = try FileTransport(directory: directory)
                for i in 0..<4 { #expect(await transport.send(payload(round * 4 + i, body: [UInt8(i)])) == .accepted) }
                sequences = try transport.sidecars().map(\.sequence)
            }
            #expect(sequences.count == 12)
            #expect(
                zip(sequences, sequences.dropFirst()).allSatisfy { $0 < $1 }, "never repeats or goes back: \(sequences)"
            )
            #expect(sequences.prefix(4) == [1, 2, 3, 4])
            let jsonNames = try visibleFiles().filter { $0.hasSuffix(".json") }
            let keys = try jsonNames.map {
                try JSONDecoder().decode(
                    FileTransport.Sidecar.self, from: Data(contentsOf: URL(fileURLWithPath: directory + "/" + $0))
                ).idempotencyKey
            }
            #expect(keys == (0..<12).map { "event-\($0)" })

            // A reader empties the folder; numbers still never go back.
            for file in try visibleFiles() { try FileManager.default.removeItem(atPath: directory + "/" + file) }
            let after = try FileTransport(directory: directory)
            #expect(await after.send(payload(99, body: [1])) == .accepted)
            let next = try #require(try after.sidecars().first?.sequence)
            #expect(next > 12)
        }

        @Test func leftoversOfAnInterruptedDeliveryAreCleanedUp() async throws {
            defer { try? FileManager.default.removeItem(atPath: FileSystem.parentPath(directory)) }
            do {
                let first = try FileTransport(directory: directory)
                #expect(await first.send(payload(1, body: [1])) == .accepted)
            }
            // A crash after the body was renamed but before the sidecar was, and a temporary file.
            try Data([9]).write(to: URL(fileURLWithPath: directory + "/000000000002-crashBackend.body"))
            try Data([9]).write(to: URL(fileURLWithPath: directory + "/.000000000003-crashBackend.body.tmp"))
            let second = try FileTransport(directory: directory)
            #expect(try visibleFiles() == ["000000000001-crashBackend.body", "000000000001-crashBackend.json"])
            #expect(!(try FileManager.default.contentsOfDirectory(atPath: directory).contains { $0.hasSuffix(".tmp") }))
            #expect(await second.send(payload(2, body: [2])) == .accepted)
            #expect(
                try second.sidecars().map(\.sequence).last.map { $0 > 2 } == true, "an orphan's number is not reused")
        }

        @Test func aSecondTransportOnTheSameFolderIsRefusedUntilTheFirstIsGone() async throws {
            defer { try? FileManager.default.removeItem(atPath: FileSystem.parentPath(directory)) }
            var first: FileTransport? = try FileTransport(directory: directory)
            #expect { try FileTransport(directory: directory) } throws: { ($0 as? UploadError)?.code == .outboxInUse }
            #expect(await first?.send(payload(1, body: [1])) == .accepted)
            first = nil
            let second = try FileTransport(directory: directory)
            #expect(await second.send(payload(2, body: [2])) == .accepted)
            #expect(try second.sidecars().count == 2)
        }

        @Test func anIOFailureAsksForARetryAndLeavesNoPartialFiles() async throws {
            defer { try? FileManager.default.removeItem(atPath: FileSystem.parentPath(directory)) }
            let transport = try FileTransport(directory: directory)
            try FileManager.default.removeItem(atPath: directory)
            #expect(await transport.send(payload(1, body: [1, 2, 3])) == .retry(after: nil))
            #expect(!FileManager.default.fileExists(atPath: directory))
        }

        @Test func anUploaderDeliversIntoTheOutbox() async throws {
            let f = try Fixture()
            defer { try? FileManager.default.removeItem(atPath: FileSystem.parentPath(directory)) }
            let outbox = try FileTransport(directory: directory)
            let uploader = try Uploader(
                recipient: Fixture.recipient, transport: outbox, vault: f.openVault, consent: f.consent,
                manifest: Fixture.manifest,
                audit: f.audit, clock: f.clock, wallClock: f.wall)
            let payloads = (0..<3).map { f.payload($0) }
            for p in payloads { try uploader.submit(p) }
            let report = await uploader.drain()
            #expect(report.accepted == 3)
            let sidecars = try outbox.sidecars()
            #expect(sidecars.map(\.idempotencyKey) == ["key-0", "key-1", "key-2"])
            for (sidecar, payload) in zip(sidecars, payloads) {
                #expect(
                    Array(try Data(contentsOf: URL(fileURLWithPath: directory + "/" + sidecar.body))) == payload.body)
            }
            #expect(try f.stored().isEmpty)
        }
    }
}

/// A transport whose sends wait until cancelled, then answer `.retry(after: nil)` (as the
/// HTTPS transport answers an aborted transfer).
private final class HangingTransport: Transport {
    let started = Observations<String>()
    let cancelled = Observations<String>()

    func send(_ payload: Payload) async -> Delivery {
        started.append(payload.idempotencyKey)
        while !Task.isCancelled { try? await Task.sleep(for: .milliseconds(5)) }
        cancelled.append(payload.idempotencyKey)
        return .retry(after: nil)
    }
}

extension UploadTests {
    @Suite(.timeLimit(.minutes(1))) struct WithdrawalAndNoDestinationTests {
        @Test func stopSendingWaitsForTheSendUnderWaySoItsAcceptanceIsRecordedBeforeTheVaultCloses() async throws {
            let f = try Fixture()
            let slow = SlowAcceptingTransport()
            let uploader = try Uploader(
                recipient: Fixture.recipient, transport: slow, vault: f.openVault, consent: f.consent,
                manifest: Fixture.manifest, audit: f.audit, clock: f.clock, wallClock: f.wall)
            try uploader.submit(f.payload(1))
            try uploader.submit(f.payload(2))
            let worker = Task { await uploader.run() }
            defer { worker.cancel() }
            while slow.started.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
            // Off the pool, as the facade's stop() may be called from any thread.
            let finished = await withCheckedContinuation { continuation in
                // A generous bound: the acceptance is recorded on the concurrency pool, which a
                // loaded test run (the sanitizer, exit tests) can hold up for seconds.
                Thread { continuation.resume(returning: uploader.stopSending(waitingUpTo: .seconds(30))) }.start()
            }
            #expect(finished, "the send under way finished within the wait")
            // The recipient took the first one (too late to cancel): recorded, removed; the
            // second was never sent and stays queued for the next start.
            #expect(f.disclosed(.crashDiagnostics, .crashReporting).map(\.count) == [1])
            #expect(uploader.pendingCount == 1)
            #expect(try f.stored().map(\.idempotencyKey) == ["key-2"])
            try await Task.sleep(for: .milliseconds(300))
            #expect(slow.started.all == ["key-1"], "nothing more is sent after stopSending")
        }

        @Test func aSendCancelledByShutdownIsNoAttemptAndThePayloadStaysQueued() async throws {
            let f = try Fixture()
            let hanging = HangingTransport()
            var policy = UploadPolicy()
            policy.maxAttempts = 1  // one counted failure would give the payload up
            let uploader = try Uploader(
                recipient: Fixture.recipient, transport: hanging, vault: f.openVault, consent: f.consent,
                manifest: Fixture.manifest, audit: f.audit, policy: policy, clock: f.clock, wallClock: f.wall)
            try uploader.submit(f.payload(1))
            for round in 1...3 {
                let drain = Task { await uploader.drain() }
                while hanging.started.all.count < round { try await Task.sleep(for: .milliseconds(5)) }
                drain.cancel()
                let report = await drain.value
                #expect(report.retries == 0 && report.dropped.isEmpty, "\(report)")
                #expect(uploader.pendingCount == 1, "still queued after cancelled send \(round)")
            }
            #expect(hanging.cancelled.all == ["key-1", "key-1", "key-1"])
            #expect(f.clock.nextDeadline == nil, "no backoff either: the next drain sends at once")
        }

        @Test func aWithdrawalCancelsTheSendUnderWayAndEmptiesThatPurposesQueueAtOnce() async throws {
            let f = try Fixture()
            let hanging = HangingTransport()
            let uploader = try Uploader(
                recipient: Fixture.recipient, transport: hanging, vault: f.openVault, consent: f.consent,
                manifest: Fixture.manifest, audit: f.audit, clock: f.clock, wallClock: f.wall)
            try uploader.submit(f.payload(1, purpose: .analytics))
            try uploader.submit(f.payload(2, purpose: .analytics))
            let drain = Task { await uploader.drain() }
            while hanging.started.all.isEmpty { try await Task.sleep(for: .milliseconds(5)) }

            f.consent.set(.denied, for: .analytics)
            uploader.consentChanged()
            #expect(
                uploader.pendingCount == 1,
                "the queue of the withdrawn purpose is emptied at once, but for the payload in flight")
            let report = await drain.value
            #expect(hanging.cancelled.all == ["key-1"], "the send under way was cancelled")
            #expect(hanging.started.all == ["key-1"], "nothing more of the purpose was sent")
            #expect(report.accepted == 0 && report.remaining == 0)
            #expect(try f.stored().isEmpty)
            #expect(f.dropped(.consent, .usageEvents, .analytics) == 2)
            #expect(f.disclosed(.usageEvents, .analytics).isEmpty)
        }

        @Test func withoutATransportPayloadsStayQueuedEncryptedAndStillExpire() async throws {
            let f = try Fixture()
            let uploader = try Uploader(
                recipient: Fixture.recipient, transport: nil, vault: f.openVault, consent: f.consent,
                manifest: Fixture.manifest, audit: f.audit, policy: UploadPolicy(maxAge: .seconds(60)),
                clock: f.clock, wallClock: f.wall)
            try uploader.submit(f.payload(1))
            let report = await uploader.drain()
            #expect(report.sends == 0 && report.awaitingDestination == 1 && report.remaining == 1 && report.held == 0)
            #expect(try f.stored().count == 1, "kept in the vault")

            // An uploader with a transport over the same vault sends it.
            let later = try f.uploader()
            #expect(later.pendingCount == 1)
            // Without one, it expires like any payload.
            f.wall.advance(by: .seconds(61))
            let expired = await uploader.drain()
            #expect(expired.dropped[.deliveryExpired] == 1 && expired.remaining == 0)
        }
    }
}

extension UploadTests.WithdrawalAndNoDestinationTests {
    @Test func aSendAcceptedAfterItsPurposeWasWithdrawnIsADisclosureAndCallsForADeletionRequest() async throws {
        let consent = FixedConsent([.analytics: .granted])
        let f = try Fixture()
        // The recipient takes the payload while the user withdraws (too late to cancel).
        let late = LateAcceptingTransport(consent: consent)
        let uploader = try Uploader(
            recipient: Fixture.recipient, transport: late, vault: f.openVault, consent: consent,
            manifest: Fixture.manifest, audit: f.audit, clock: f.clock, wallClock: f.wall)
        let called = Observations<String>()
        uploader.onAcceptedAfterWithdrawal { purpose, categories in
            called.append("\(purpose.rawValue):\(categories.map(\.rawValue))")
        }
        try uploader.submit(f.payload(1, purpose: .analytics))
        let report = await uploader.drain()
        #expect(report.accepted == 1)
        #expect(called.all == ["analytics:[\"usageEvents\"]"])
        #expect(f.disclosed(.usageEvents, .analytics).count == 1, "recorded as the disclosure it was")
        #expect(f.dropped(.consent, .usageEvents, .analytics) == 0, "and not also as a drop")
    }
}

/// Withdraws analytics while "sending", then accepts.
/// Takes 200 ms to accept, cancelled or not (the recipient had it before the abort arrived).
private final class SlowAcceptingTransport: Transport {
    let started = Observations<String>()
    func send(_ payload: Payload) async -> Delivery {
        started.append(payload.idempotencyKey)
        usleep(200_000)
        return .accepted
    }
}

private final class LateAcceptingTransport: Transport {
    let consent: FixedConsent
    init(consent: FixedConsent) { self.consent = consent }
    func send(_ payload: Payload) async -> Delivery {
        consent.set(.denied, for: payload.purpose)
        return .accepted
    }
}

// MARK: - Offline pause

extension UploadTests {
    /// The network's state as a test replays it: interfaces and the kernel's route answer.
    final class ReplayedNetwork: Sendable {
        struct State {
            var interfaces: [NetworkMonitor.Interface]?
            var route: [UInt8]?
        }
        final class Box: Sendable {
            let state: Mutex<State>
            init(_ state: State) { self.state = Mutex(state) }
        }
        let box: Box
        /// Changes the replayed state (seen after the next ``NetworkMonitor/noteChange()``).
        func change(_ body: (inout State) -> Void) { box.state.withLock { body(&$0) } }
        let monitor: NetworkMonitor
        static let local: [UInt8] = [10, 9, 8, 1]

        init(linkUp: Bool) {
            let box = Box(State(interfaces: Self.interfaces(linkUp: linkUp), route: Self.local))
            self.box = box
            monitor = NetworkMonitor(
                replaying: .init(
                    interfaces: { box.state.withLock { $0.interfaces } },
                    sourceAddress: { _ in box.state.withLock { $0.route } }))
        }

        static func interfaces(linkUp: Bool) -> [NetworkMonitor.Interface] {
            [
                .init(name: "lo", isUsable: true, isLoopback: true, addresses: [[127, 0, 0, 1]]),
                .init(name: "veth0", isUsable: linkUp, isLoopback: false, addresses: [local]),
            ]
        }

        /// Sets the link's carrier and reports the change as the netlink thread does.
        func setLink(up: Bool) {
            change { $0.interfaces = Self.interfaces(linkUp: up) }
            monitor.noteChange()
        }
    }

    @Suite(.timeLimit(.minutes(1))) struct OfflinePauseTests {
        @Test func nothingIsSentWhileTheLinkToTheRecipientIsDownAndItGoesOutWhenTheLinkComesBack() async throws {
            let f = try Fixture()
            f.transport.networkNeed = .hosts(["10.9.8.2"])
            let network = ReplayedNetwork(linkUp: false)
            let uploader = try Uploader(
                recipient: Fixture.recipient, transport: f.transport, vault: f.openVault, consent: f.consent,
                manifest: Fixture.manifest, audit: f.audit, clock: f.clock, wallClock: f.wall,
                network: network.monitor)
            try uploader.submit(f.payload(1))

            // An explicit flush sends nothing and says why; no attempt is counted.
            let report = await uploader.drain()
            #expect(report.sends == 0 && report.awaitingNetwork == 1 && report.remaining == 1, "\(report)")
            #expect(f.transport.deliveries.isEmpty)

            // The running loop sleeps without a timer: only the link event wakes it.
            let worker = Task { await uploader.run() }
            defer { worker.cancel() }
            try await Task.sleep(for: .milliseconds(100))
            // No timer while offline but the payload's expiry (the policy's maximum age).
            let wake = f.clock.nextDeadline?.offset
            #expect(wake == nil || wake! >= UploadPolicy().maxAge, "\(String(describing: wake))")
            #expect(f.transport.deliveries.isEmpty)

            network.setLink(up: true)
            await f.transport.waitForDeliveries(1)
            #expect(f.transport.deliveries.map(\.answer) == [.accepted])
            // The answer is recorded just after the transport returns.
            while uploader.pendingCount != 0 { try await Task.sleep(for: .milliseconds(5)) }
        }

        @Test func aLostRouteAlsoPausesAndAnUnrelatedRecipientIsNotHeldBack() {
            let network = ReplayedNetwork(linkUp: true)
            #expect(network.monitor.canReach(.hosts(["10.9.8.2"])))
            network.change { $0.route = nil }
            #expect(network.monitor.canReach(.hosts(["10.9.8.2"])), "answers are kept until an event")
            network.monitor.noteChange()
            #expect(!network.monitor.canReach(.hosts(["10.9.8.2"])), "no route: unreachable")
            #expect(network.monitor.canReach(.hosts(["127.0.0.1"])), "loopback never waits for a link")
            #expect(network.monitor.canReach(.hosts(["[::1]"])))
            #expect(network.monitor.canReach(.hosts(["localhost"])))
            #expect(network.monitor.canReach(.hosts(["10.9.8.2", "127.0.0.1"])), "either host will do")
            #expect(network.monitor.canReach(.none))
        }

        @Test func aNameNeedsSomeNetworkAndLinkLocalOrLoopbackAddressesAreNone() {
            let network = ReplayedNetwork(linkUp: true)
            #expect(network.monitor.canReach(.anyNetwork))
            #expect(network.monitor.canReach(.hosts(["collector.example"])))
            network.change {
                $0.interfaces = [
                    .init(name: "lo", isUsable: true, isLoopback: true, addresses: [[127, 0, 0, 1]]),
                    .init(
                        name: "eth0", isUsable: true, isLoopback: false,
                        addresses: [[169, 254, 3, 4], [0xfe, 0x80] + Array(repeating: 0, count: 13) + [1]]),
                ]
            }
            network.monitor.noteChange()
            #expect(!network.monitor.canReach(.anyNetwork), "link-local addresses lead nowhere")
            #expect(!network.monitor.canReach(.hosts(["collector.example"])))
            #expect(network.monitor.canReach(.hosts(["localhost"])))

            // Interfaces that cannot be read never hold data back.
            network.change { $0.interfaces = nil }
            network.monitor.noteChange()
            #expect(network.monitor.canReach(.anyNetwork))
        }

        @Test func aTransportOfFilesIsNeverPausedAndIPLiteralsAreRead() throws {
            let folder = NSTemporaryDirectory() + "steward-files-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: folder) }
            #expect(try FileTransport(directory: folder).networkNeed == .none)
            #expect(NetworkMonitor.literal("[2001:db8::1]")?.count == 16)
            #expect(NetworkMonitor.literal("10.0.0.1") == [10, 0, 0, 1])
            #expect(NetworkMonitor.literal("collector.example") == nil)
        }

        @Test func theSystemMonitorOpensAndAnswersForThisMachine() throws {
            let monitor = try NetworkMonitor()
            defer { monitor.close() }
            #expect(monitor.canReach(.hosts(["127.0.0.1"])))
            #expect(monitor.canReach(.none))
        }
    }
}
