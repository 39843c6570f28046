public import struct Foundation.Date

/// Tells the current date. Steward reads the wall clock only through this protocol, so tests
/// and hosts can substitute their own (see `StewardTesting.ManualWallClock`).
///
/// Implementations must be safe to call from any thread and should be cheap: the SDK calls
/// `now` on every record it stores. They should return a finite date between the years 0001
/// and 9999; Steward never traps on one that is not: a NaN or infinite date is replaced by the
/// system's `Date()`, and a date outside 0001–9999 is clamped to that range before it is
/// stored, sent or compared (see Documentation/OutsideValues.md).
public protocol WallClock: Sendable {
    /// The current date.
    var now: Date { get }
}

/// The system's real-time clock.
public struct SystemWallClock: WallClock {
    /// Creates the system clock.
    public init() {}
    /// `Date()`.
    public var now: Date { Date() }
}

extension WallClock where Self == SystemWallClock {
    /// The system's real-time clock.
    public static var system: SystemWallClock { SystemWallClock() }
}

extension Date {
    /// The date `ms` milliseconds after 1970, as stored in Steward's files (the other way is
    /// `unixMilliseconds` in CheckedTime.swift, which never traps).
    init(millisecondsSince1970 ms: Int64) {
        self.init(timeIntervalSince1970: Double(ms) / 1000)
    }
}
