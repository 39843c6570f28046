public import struct Foundation.Date

/// Tells the current date. Steward reads the wall clock only through this protocol, so tests
/// and hosts can substitute their own (see `StewardTesting.ManualWallClock`).
///
/// Implementations must be safe to call from any thread and should be cheap: the SDK calls
/// `now` on every record it stores.
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
    /// Milliseconds since 1970, as stored in Steward's files.
    var millisecondsSince1970: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }

    init(millisecondsSince1970 ms: Int64) {
        self.init(timeIntervalSince1970: Double(ms) / 1000)
    }
}
