package import struct Foundation.Date

// Conversions of dates, durations and counts that come from outside Steward: a host clock, a
// public argument, a file. Swift's own conversions trap on such values (`Int64(Double.nan)`,
// `UInt64(1e20)`, `Duration.components` past 2^63 s, `Int128` overflow in `Duration + Duration`,
// `Clock.sleep(for:)` with an absurd duration); every function here is total, so none of these
// values can take the host process down. See Documentation/OutsideValues.md for the rule.

/// The range of instants and waits Steward works with.
package enum CheckedTime {
    /// 0001-01-01T00:00:00Z: the earliest instant Steward stores, prints or sends (the range
    /// `CivilTime`, `CalendarDay` and `SentryFormat` already use).
    package static let earliest = Date(timeIntervalSince1970: -62_135_596_800)
    /// 9999-12-31T23:59:59.999Z: the latest instant Steward stores, prints or sends.
    package static let latest = Date(timeIntervalSince1970: 253_402_300_799.999)
    /// 2^31 s (about 68 years, = `RetryAfter.maximumSeconds`): the longest single wait or
    /// deadline offset Steward uses.
    package static let maximumWait: Duration = .seconds(2_147_483_648)
    /// 1 s: the shortest interval of periodic work, so a zero or negative interval cannot spin.
    package static let minimumInterval: Duration = .seconds(1)
}

extension Date {
    /// The date, clamped to ``CheckedTime/earliest``…``CheckedTime/latest``; nil for NaN.
    /// `±infinity` becomes the nearest bound.
    package var checked: Date? {
        let seconds = timeIntervalSince1970
        if seconds.isNaN { return nil }
        if seconds < CheckedTime.earliest.timeIntervalSince1970 { return CheckedTime.earliest }
        if seconds > CheckedTime.latest.timeIntervalSince1970 { return CheckedTime.latest }
        return self
    }

    /// Milliseconds since 1970 (rounded down) of ``checked``, nil for NaN. Always fits `Int64`
    /// (its magnitude stays below 2.6e14) and never equals the vault's "never" (`Int64.max`).
    package var unixMilliseconds: Int64? {
        guard let date = checked else { return nil }
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.down)
        // Within ±2.6e14 after the clamp, so the conversion is exact and cannot trap.
        return Int64(exactly: milliseconds) ?? 0
    }

    /// Nanoseconds since 1970 for OTLP's `fixed64` times: nil for NaN and `±infinity`; 0 for
    /// any date before 1970; `UInt64.max` for any date after 2554-07-21T23:34:33Z (saturating).
    package var unixNanoseconds: UInt64? {
        let nanoseconds = timeIntervalSince1970 * 1e9
        guard nanoseconds.isFinite else { return nil }
        if nanoseconds <= 0 { return 0 }
        // 2^64 is exactly representable; every Double below it converts without trapping.
        guard nanoseconds < 18_446_744_073_709_551_616.0 else { return .max }
        return UInt64(nanoseconds)
    }

    /// Nanoseconds since 1970 when they are representable as a `UInt64` without clamping:
    /// nil for NaN, `±infinity`, any date before 1970 and any date after
    /// 2554-07-21T23:34:33Z. For dates a caller hands in, where a clamped time would lie.
    package var exactUnixNanoseconds: UInt64? {
        let nanoseconds = timeIntervalSince1970 * 1e9
        guard nanoseconds.isFinite, nanoseconds >= 0, nanoseconds < 18_446_744_073_709_551_616.0 else { return nil }
        return UInt64(nanoseconds)
    }
}

extension WallClock {
    /// ``WallClock/now``, safe to convert: a non-finite date (a broken host clock) is replaced
    /// by the system's `Date()`, then the date is clamped to
    /// ``CheckedTime/earliest``…``CheckedTime/latest``. Every read of a host clock inside the
    /// SDK goes through this.
    package var checkedNow: Date {
        let date = now
        if date.timeIntervalSince1970.isFinite, let checked = date.checked { return checked }
        return Date().checked ?? CheckedTime.earliest
    }

    /// ``checkedNow`` in milliseconds since 1970, as the vault and the consent ledger store it.
    package var checkedUnixMilliseconds: Int64 {
        checkedNow.unixMilliseconds ?? 0
    }
}

extension Duration {
    /// The duration clamped to `range`; comparisons only, never `components`.
    package func clamped(to range: ClosedRange<Duration>) -> Duration {
        Swift.min(Swift.max(self, range.lowerBound), range.upperBound)
    }

    /// Whole milliseconds, rounded toward zero, saturated to `Int64.min…Int64.max`. Computed
    /// from the 128-bit `attoseconds`, so it never traps (unlike `components`, which traps at
    /// 2^63 s and more).
    package var saturatingMilliseconds: Int64 {
        Int64(clamping: attoseconds / 1_000_000_000_000_000)
    }

    /// The duration in seconds as a finite `Double` (at most about 1.7e20 in magnitude),
    /// computed from `attoseconds`.
    package var secondsDouble: Double {
        Double(attoseconds) / 1e18
    }

    /// The duration as the interval of periodic work: clamped to
    /// ``CheckedTime/minimumInterval``…``CheckedTime/maximumWait``, so a zero or negative
    /// interval does not spin and an absurd one does not trap the sleep.
    package var periodicInterval: Duration {
        clamped(to: CheckedTime.minimumInterval...CheckedTime.maximumWait)
    }
}

/// Sleeps on `clock` for `duration` clamped to `0…CheckedTime.maximumWait`. Zero or a negative
/// duration returns at once (after a cancellation check). Use it instead of
/// `Task.sleep(for:)` and `Clock.sleep(for:)`, which trap for durations near
/// `Duration(attoseconds: .max)`.
///
/// - Throws: `CancellationError` when the task is cancelled, or what `clock` throws.
package func checkedSleep<C: Clock>(for duration: Duration, on clock: C = ContinuousClock()) async throws
where C.Duration == Duration {
    let wait = duration.clamped(to: .zero...CheckedTime.maximumWait)
    guard wait > .zero else {
        try Task.checkCancellation()
        return
    }
    try await clock.sleep(for: wait, tolerance: nil)
}

extension FixedWidthInteger {
    /// `self + other`, or the nearest bound on overflow. For counters, ages and sizes; never
    /// for identifiers, which must not repeat (use `addingReportingOverflow` and throw).
    package func saturatingAdding(_ other: Self) -> Self {
        let (sum, overflow) = addingReportingOverflow(other)
        guard overflow else { return sum }
        return other > 0 ? .max : .min
    }

    /// `self - other`, or the nearest bound on overflow.
    package func saturatingSubtracting(_ other: Self) -> Self {
        let (difference, overflow) = subtractingReportingOverflow(other)
        guard overflow else { return difference }
        return other > 0 ? .min : .max
    }
}
