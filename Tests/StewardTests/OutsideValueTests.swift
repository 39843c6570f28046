import Foundation
@testable import Steward
import StewardTesting
import Synchronization
import Testing

/// A wall clock showing a settable date that counts how often it is read.
private final class CountingWallClock: WallClock {
    private let state: Mutex<(date: Date, reads: Int)>
    init(now: Date) { state = Mutex((now, 0)) }
    var now: Date {
        state.withLock {
            $0.reads += 1; return $0.date
        }
    }
    var reads: Int { state.withLock { $0.reads } }
}

extension StewardFacadeTests {
    /// A host's clock, durations and dates at their most hostile: Steward starts, records,
    /// sends and stops without trapping. Inside the serialized facade suite (one instance per
    /// process). `swift test --filter StewardFacadeTests.OutsideValueTests`.
    @Suite struct OutsideValueTests {
        /// Seconds since 1970 a broken host clock may show. (Seconds rather than dates:
        /// `Date.description`, which names test arguments, traps for NaN.)
        @Test(arguments: [
            Double.nan, .infinity, -.infinity, Date.distantFuture.timeIntervalSince1970,
            Date.distantPast.timeIntervalSince1970, 1e17,
        ])
        func stewardStartsRecordsSendsAndStopsWhateverTheWallClockShows(_ seconds: Double) async throws {
            let f = FacadeFixture()
            f.clock.set(Date(timeIntervalSince1970: seconds))
            var configuration = try f.configuration()
            // The example manifest's events expire in 2099: a clock past that is told so.
            for index in configuration.manifest.events.indices { configuration.manifest.events[index].expires = nil }
            let steward = try Steward.start(configuration)
            defer { steward.stop() }
            try steward.consent.grant([.analytics])
            #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .recorded)
            // A date the caller passes that OTLP cannot hold is refused, not clamped.
            #expect(
                steward.telemetry.record("screen_view", at: Date(timeIntervalSince1970: seconds))
                    == .dropped(.invalidTimestamp))
            _ = steward.metrics.collect(now: Date(timeIntervalSince1970: seconds))
            let report = await steward.send(timeout: .seconds(10))
            #expect(report.eventsQueued == 1, "\(report.problems)")
            #expect(f.telemetryTransport.payloads.count == 1)
            _ = try steward.rights.accessReport()
        }

        /// `.distantFuture` and dates clamped to 9999 are past the example manifest's event
        /// expiry (+infinity is not: a non-finite clock is replaced by the system's).
        @Test(arguments: [Date.distantFuture.timeIntervalSince1970, 1e17])
        func aClockPastTheManifestsEventExpiryIsATypedConfigurationError(_ seconds: Double) throws {
            let f = FacadeFixture()
            f.clock.set(Date(timeIntervalSince1970: seconds))
            do {
                let steward = try Steward.start(try f.configuration())
                steward.stop()
                Issue.record("started with every event expired")
            } catch let error as StewardError {
                #expect(error.code == .invalidConfiguration)
                #expect(error.problems.allSatisfy { $0.contains("expired on 2099-12-31") })
            }
        }

        @Test(arguments: [Duration(attoseconds: .max), .seconds(Int64.max)])
        func sendWithAnAbsurdTimeoutDeliversInsteadOfTrapping(_ timeout: Duration) async throws {
            let f = FacadeFixture()
            let steward = try Steward.start(try f.configuration())
            defer { steward.stop() }
            try steward.consent.grant([.analytics])
            steward.telemetry.record("screen_view", attributes: ["screen": .string("home")])
            let report = await steward.send(timeout: timeout)
            #expect(report.uploads["telemetryBackend"]?.accepted == 1)
        }

        @Test(arguments: [Duration.zero, .seconds(-1), Duration(attoseconds: .min)])
        func sendWithAZeroOrNegativeTimeoutReturns(_ timeout: Duration) async throws {
            let f = FacadeFixture()
            let steward = try Steward.start(try f.configuration())
            defer { steward.stop() }
            _ = await steward.send(timeout: timeout)
        }

        @Test func periodicWorkWithZeroIntervalsRunsOncePerSecondInsteadOfSpinning() async throws {
            let f = FacadeFixture()
            let clock = CountingWallClock(now: Date())
            var configuration = try f.configuration()
            configuration.wallClock = clock
            let steward = try Steward.start(configuration)
            defer { steward.stop() }
            let before = clock.reads
            let periodic = Task { await steward.runPeriodicWork(flushInterval: .zero, retentionInterval: .seconds(-5)) }
            try await Task.sleep(for: .milliseconds(600))
            let during = clock.reads - before
            periodic.cancel()
            await periodic.value
            // Each retention pass reads the clock (media and vault purges); a spinning loop
            // would read it thousands of times. Clamped to 1 s, no pass has run yet.
            #expect(during < 5, "the clock was read \(during) times in 0.6 s")
        }

        @Test(arguments: [Duration(attoseconds: .max), .seconds(Int64.max)])
        func periodicWorkWithAbsurdIntervalsStopsWhenCancelled(_ interval: Duration) async throws {
            let f = FacadeFixture()
            let steward = try Steward.start(try f.configuration())
            defer { steward.stop() }
            let periodic = Task { await steward.runPeriodicWork(flushInterval: interval, retentionInterval: interval) }
            try await Task.sleep(for: .milliseconds(50))
            periodic.cancel()
            await periodic.value
        }

        @Test(arguments: [Double.nan, .infinity, -.infinity, Date.distantFuture.timeIntervalSince1970, 1e17])
        func theErasureDeletionRequestTakesAnyDate(_ seconds: Double) throws {
            let now = Date(timeIntervalSince1970: seconds)
            for recipient in ["telemetryBackend", "crashBackend"] as [RecipientID] {
                let request = DeletionRequest(
                    scope: .all, purposes: [.analytics], categories: [.usageEvents], requested: now)
                let payload = request.payload(
                    to: recipient,
                    resource: recipient == "telemetryBackend" ? TelemetryResource(serviceName: "org.example") : nil,
                    appID: "org.example", now: now)
                let milliseconds = now.unixMilliseconds ?? 0
                #expect(payload.idempotencyKey == "deletion-all-analytics-usageEvents-\(milliseconds)")
                #expect(!payload.body.isEmpty)
            }
        }
    }
}
