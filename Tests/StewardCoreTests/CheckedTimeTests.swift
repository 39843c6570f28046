import Foundation
import Testing
@testable import StewardCore
import StewardTesting

/// The checked conversions every outside date, duration and count goes through, at their edges.
@Suite struct CheckedTimeTests {
    static let nan = Date(timeIntervalSince1970: .nan)
    static let plusInfinity = Date(timeIntervalSince1970: .infinity)
    static let minusInfinity = Date(timeIntervalSince1970: -.infinity)
    /// 1e17 s: finite, but `Int64(t * 1000)` traps for it.
    static let beyondInt64Milliseconds = Date(timeIntervalSince1970: 1e17)

    // MARK: Dates

    @Test func aCalendarDayIsWhatISO8601DateFormatterWritesInUTC() {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withFullDate]
        formatter.timeZone = TimeZone(identifier: "UTC")
        var random = SplitMix64(seed: 18)
        for _ in 0..<2_000 {
            // Years 1970-2200, any second, and the edges of days.
            let seconds = Double(random.int(in: 0...7_258_118_400))
            for date in [
                Date(timeIntervalSince1970: seconds),
                Date(timeIntervalSince1970: (seconds / 86_400).rounded(.down) * 86_400 - 0.001),
            ] {
                #expect(CivilTime.day(date) == formatter.string(from: date), "\(date)")
            }
        }
        #expect(CivilTime.day(CheckedTime.earliest) == "0001-01-01")
    }

    @Test func checkedIsNilForNaNAndClampsEverythingElseToYears0001Through9999() throws {
        #expect(Self.nan.checked == nil)
        #expect(Self.plusInfinity.checked == CheckedTime.latest)
        #expect(Self.minusInfinity.checked == CheckedTime.earliest)
        #expect(Self.beyondInt64Milliseconds.checked == CheckedTime.latest)
        #expect(Date(timeIntervalSince1970: -1e17).checked == CheckedTime.earliest)
        // .distantFuture (year 4001) is inside the range; .distantPast is 0001-01-01 in the
        // Julian calendar, two days before the proleptic Gregorian 0001-01-01.
        #expect(Date.distantFuture.checked == .distantFuture)
        #expect(Date.distantPast.checked == CheckedTime.earliest)
        let now = Date(timeIntervalSince1970: 1_767_225_600.25)
        #expect(now.checked == now)
        #expect(CivilTime.iso8601(CheckedTime.earliest) == "0001-01-01T00:00:00.000Z")
        #expect(CivilTime.iso8601(CheckedTime.latest) == "9999-12-31T23:59:59.999Z")
    }

    @Test func unixMillisecondsNeverTrapsAndStaysBelowTheVaultsNeverMarker() {
        #expect(Self.nan.unixMilliseconds == nil)
        #expect(Self.plusInfinity.unixMilliseconds == 253_402_300_799_999)
        #expect(Self.minusInfinity.unixMilliseconds == -62_135_596_800_000)
        #expect(Self.beyondInt64Milliseconds.unixMilliseconds == 253_402_300_799_999)
        #expect(Date.distantFuture.unixMilliseconds == 64_092_211_200_000)
        #expect(Date.distantPast.unixMilliseconds == -62_135_596_800_000)
        #expect(Date(timeIntervalSince1970: 1.0009).unixMilliseconds == 1_000, "rounded down")
        #expect(Date(timeIntervalSince1970: -0.0005).unixMilliseconds == -1, "rounded down, not toward zero")
        #expect(Self.plusInfinity.unixMilliseconds != SegmentFormat.never)
    }

    @Test func unixNanosecondsSaturatesAtTheOTLPRangeAndIsNilWhenNotFinite() throws {
        #expect(Self.nan.unixNanoseconds == nil)
        #expect(Self.plusInfinity.unixNanoseconds == nil)
        #expect(Self.minusInfinity.unixNanoseconds == nil)
        #expect(Date.distantFuture.unixNanoseconds == .max, ".distantFuture is 6.4e19 ns, past UInt64.max")
        #expect(Self.beyondInt64Milliseconds.unixNanoseconds == .max)
        #expect(Date.distantPast.unixNanoseconds == 0)
        #expect(Date(timeIntervalSince1970: 0).unixNanoseconds == 0)
        #expect(Date(timeIntervalSince1970: 1.5).unixNanoseconds == 1_500_000_000)
        // 2554-07-21T23:34:33Z is the last whole second OTLP's fixed64 holds.
        let last = try #require(Date(timeIntervalSince1970: 18_446_744_073).unixNanoseconds)
        #expect(last > 18_446_744_072_000_000_000 && last < .max, "exact up to Double's precision, not saturated")
        #expect(Date(timeIntervalSince1970: 18_446_744_074).unixNanoseconds == .max)
    }

    @Test func exactUnixNanosecondsIsNilForEveryDateOTLPCannotHoldAsItIs() {
        for date in [
            Self.nan, Self.plusInfinity, Self.minusInfinity, .distantFuture, .distantPast, Self.beyondInt64Milliseconds,
            Date(timeIntervalSince1970: -1), Date(timeIntervalSince1970: 18_446_744_074),
        ] {
            #expect(date.exactUnixNanoseconds == nil, "\(date.timeIntervalSince1970)")
        }
        #expect(Date(timeIntervalSince1970: 0).exactUnixNanoseconds == 0)
        #expect(Date(timeIntervalSince1970: 1_767_225_600).exactUnixNanoseconds == 1_767_225_600_000_000_000)
    }

    /// Seconds since 1970 the clock shows, and what `checkedNow` gives (nil: the system's
    /// date). Seconds rather than dates: `Date.description`, which names test arguments,
    /// traps for NaN.
    @Test(
        arguments: [
            (Double.nan, nil), (.infinity, nil), (-.infinity, nil),
            (Date.distantFuture.timeIntervalSince1970, Date.distantFuture.timeIntervalSince1970),
            (1e17, CheckedTime.latest.timeIntervalSince1970), (-1e17, CheckedTime.earliest.timeIntervalSince1970),
        ] as [(Double, Double?)])
    func checkedNowReplacesANonFiniteClockAndClampsTheRest(shown: Double, expected: Double?) {
        let before = Date()
        let clock = ManualWallClock(now: Date(timeIntervalSince1970: shown))
        let now = clock.checkedNow
        if let expected {
            #expect(now.timeIntervalSince1970 == expected)
        } else {
            // A broken clock is replaced by the system's.
            #expect(now >= before.addingTimeInterval(-1) && now <= Date().addingTimeInterval(1))
        }
        #expect(now.timeIntervalSince1970.isFinite)
        #expect(abs(Double(clock.checkedUnixMilliseconds) - now.timeIntervalSince1970 * 1000) < 1_000)
    }

    // MARK: Durations

    static let absurd = Duration(attoseconds: .max)

    @Test func saturatingMillisecondsNeverGoesThroughComponents() {
        #expect(Self.absurd.saturatingMilliseconds == .max)
        #expect(Duration(attoseconds: .min).saturatingMilliseconds == .min)
        #expect(Duration.seconds(Int64.max).saturatingMilliseconds == .max)
        #expect((Duration.seconds(Int64.max) + .seconds(1)).saturatingMilliseconds == .max)
        #expect(Duration.seconds(Int64.min).saturatingMilliseconds == .min)
        #expect(Duration.milliseconds(-1_500).saturatingMilliseconds == -1_500)
        #expect(Duration.microseconds(1_999).saturatingMilliseconds == 1, "toward zero")
        #expect(Duration.microseconds(-1_999).saturatingMilliseconds == -1, "toward zero")
        #expect(Duration.zero.saturatingMilliseconds == 0)
        // The sum that once wrapped to Int64.min (a "keep forever" record purged at once).
        #expect((Duration.seconds(9_223_372_036_854_775) + .milliseconds(999)).saturatingMilliseconds == .max)
    }

    @Test func secondsDoubleIsFiniteForEveryDuration() {
        #expect(Self.absurd.secondsDouble.isFinite)
        #expect(Self.absurd.secondsDouble > 1.7e20)
        #expect(Duration(attoseconds: .min).secondsDouble < -1.7e20)
        #expect(Duration.seconds(Int64.max).secondsDouble == Double(Int64.max))
        #expect(Duration.milliseconds(-1_500).secondsDouble == -1.5)
        #expect(Duration.zero.secondsDouble == 0)
    }

    @Test func clampedAndPeriodicIntervalKeepDurationsInRange() {
        let range = Duration.seconds(1)...Duration.seconds(10)
        #expect(Self.absurd.clamped(to: range) == .seconds(10))
        #expect(Duration(attoseconds: .min).clamped(to: range) == .seconds(1))
        #expect(Duration.seconds(5).clamped(to: range) == .seconds(5))
        #expect(Duration.zero.periodicInterval == .seconds(1), "zero does not spin")
        #expect(Duration.seconds(-30).periodicInterval == .seconds(1), "negative does not spin")
        #expect(Self.absurd.periodicInterval == CheckedTime.maximumWait)
        #expect(Duration.seconds(Int64.max).periodicInterval == CheckedTime.maximumWait)
        #expect(Duration.seconds(30).periodicInterval == .seconds(30))
    }

    @Test func checkedSleepClampsAnAbsurdDurationAndReturnsAtOnceForZeroOrNegative() async throws {
        let clock = ManualClock()
        let absurd = Task { try await checkedSleep(for: Self.absurd, on: clock) }
        await clock.waitForSleepers(1)
        #expect(clock.nextDeadline == ManualClock.Instant(offset: CheckedTime.maximumWait))
        clock.advance(by: CheckedTime.maximumWait)
        try await absurd.value

        try await checkedSleep(for: .zero, on: clock)
        try await checkedSleep(for: .seconds(-5), on: clock)
        try await checkedSleep(for: Duration(attoseconds: .min), on: clock)
        #expect(clock.nextDeadline == nil, "no sleeper was registered")

        // The real clock too: a sleep of 2^31 s is cancellable, never a trap.
        let real = Task { try await checkedSleep(for: Self.absurd) }
        real.cancel()
        await #expect(throws: CancellationError.self) { try await real.value }
    }

    // MARK: Counts

    @Test func saturatingArithmeticStopsAtTheBounds() {
        #expect(Int.max.saturatingAdding(1) == .max)
        #expect(Int.min.saturatingAdding(-1) == .min)
        #expect(Int.min.saturatingSubtracting(1) == .min)
        #expect(Int.max.saturatingSubtracting(-1) == .max)
        #expect(Int64(0).saturatingSubtracting(.min) == .max)
        #expect(UInt64.max.saturatingAdding(1) == .max)
        #expect(UInt64(0).saturatingSubtracting(1) == 0)
        #expect(UInt32(7).saturatingAdding(3) == 10)
        #expect(Int(-7).saturatingSubtracting(3) == -10)
    }
}
