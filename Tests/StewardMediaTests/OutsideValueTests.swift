import Foundation
import StewardCore
import StewardMedia
import StewardTesting
import Testing

/// Retention intervals and dates from outside the media store at their most hostile: clamped,
/// never a trap or a busy loop. `swift test --filter StewardMediaTests.OutsideValueTests`.
@Suite struct OutsideValueTests {
    @Test(.timeLimit(.minutes(1)), arguments: [Duration.zero, .seconds(-1), Duration(attoseconds: .min)])
    func aZeroOrNegativeRetentionIntervalPurgesOncePerSecondInsteadOfSpinning(_ interval: Duration) async throws {
        let harness = try MediaHarness()
        let ticks = ManualClock()
        let store = harness.store
        let task = Task { await store.runRetention(every: interval, clock: ticks) }
        await ticks.waitForSleepers(1)
        #expect(ticks.nextDeadline == ManualClock.Instant(offset: .seconds(1)))
        task.cancel()
        await task.value
    }

    @Test(.timeLimit(.minutes(1)), arguments: [Duration(attoseconds: .max), .seconds(Int64.max)])
    func anAbsurdRetentionIntervalWaitsTwoToThe31SecondsAndStopsWhenCancelled(_ interval: Duration) async throws {
        let harness = try MediaHarness()
        let ticks = ManualClock()
        let store = harness.store
        let manual = Task { await store.runRetention(every: interval, clock: ticks) }
        await ticks.waitForSleepers(1)
        #expect(ticks.nextDeadline == ManualClock.Instant(offset: CheckedTime.maximumWait))
        manual.cancel()
        await manual.value
        // The default clock too: its sleep would trap on such a deadline.
        let real = Task { await store.runRetention(every: interval) }
        try await Task.sleep(for: .milliseconds(50))
        real.cancel()
        await real.value
    }

    @Test func purgeExpiredJudgesByAnyDateWithoutTrapping() throws {
        let harness = try MediaHarness()
        let item = try #require(
            try harness.store.put(TestImages.jpeg().file, source: .camera, purpose: .serviceProvision).item)
        #expect(try harness.store.purgeExpired(now: Date(timeIntervalSince1970: .nan)).isEmpty, "NaN expires nothing")
        #expect(try harness.store.purgeExpired(now: .distantPast).isEmpty)
        #expect(
            try harness.store.purgeExpired(now: Date(timeIntervalSince1970: .infinity)) == [item.id],
            "infinity is after every expiry")
    }
}
