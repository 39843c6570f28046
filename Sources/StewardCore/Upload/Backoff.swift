/// Exponential backoff with full jitter, capped: the wait before retry number `attempt + 1` is
/// a random duration in `0 ... min(maximum, initial × 2^attempt)`.
///
/// Full jitter (as described in the AWS Architecture Blog's "Exponential Backoff And Jitter")
/// spreads the retries of many devices that failed together over the whole window, so a
/// recovering backend is not hit by all of them at once. The random source is injected, so
/// tests see a fixed schedule.
///
/// ```swift
/// let backoff = Backoff(initial: .seconds(1), maximum: .seconds(300))
/// backoff.ceiling(forAttempt: 0)    // 1 s
/// backoff.ceiling(forAttempt: 3)    // 8 s
/// backoff.ceiling(forAttempt: 20)   // 300 s (the cap)
/// let wait = backoff.delay(forAttempt: 3, random: SystemJitterSource())   // 0 ... 8 s
/// ```
public struct Backoff: Hashable, Sendable {
    /// The ceiling of the first wait (attempt 0). A negative value counts as zero.
    public var initial: Duration
    /// The largest ceiling; the schedule stops growing here.
    public var maximum: Duration

    /// Creates a schedule.
    ///
    /// - Parameters:
    ///   - initial: The ceiling of the first wait.
    ///   - maximum: The cap on every wait.
    public init(initial: Duration, maximum: Duration) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The upper bound of the wait after failed attempt number `attempt` (0 for the first
    /// failure): `min(maximum, initial × 2^attempt)`, never negative, never overflowing.
    public func ceiling(forAttempt attempt: Int) -> Duration {
        let cap = max(maximum, .zero)
        var value = min(max(initial, .zero), cap)
        var doublings = max(attempt, 0)
        // At most ~127 doublings reach any cap from one attosecond, so this loop is short even
        // for a huge attempt number.
        while doublings > 0, value > .zero, value < cap {
            value = value < cap / 2 ? value * 2 : cap
            doublings -= 1
        }
        return value
    }

    /// A random wait after failed attempt number `attempt`: `ceiling(forAttempt:)` times a
    /// fraction drawn from `random`.
    ///
    /// - Parameters:
    ///   - attempt: 0 after the first failure, 1 after the second, and so on.
    ///   - random: The source of the fraction; values outside `0...1` are clamped and NaN
    ///     counts as 0.
    public func delay(forAttempt attempt: Int, random: some JitterSource) -> Duration {
        let ceiling = ceiling(forAttempt: attempt)
        let fraction = random.nextFraction()
        guard fraction > 0 else { return .zero }  // also NaN
        guard fraction < 1 else { return ceiling }
        return ceiling * fraction
    }
}

/// Where a ``Backoff`` draws its jitter from.
///
/// Implementations must return a value in `0...1` (inclusive at both ends) and be safe to call
/// from any task. ``SystemJitterSource`` is the default; tests supply a fixed fraction so the
/// schedule is deterministic:
///
/// ```swift
/// struct Always: JitterSource { let value: Double; func nextFraction() -> Double { value } }
/// Backoff(initial: .seconds(1), maximum: .seconds(60)).delay(forAttempt: 2, random: Always(value: 1))  // 4 s
/// ```
public protocol JitterSource: Sendable {
    /// A fraction in `0...1`.
    func nextFraction() -> Double
}

/// Jitter from the system's random number generator.
public struct SystemJitterSource: JitterSource {
    /// Creates the source.
    public init() {}

    /// A uniformly distributed fraction in `0...1`.
    public func nextFraction() -> Double {
        var generator = SystemRandomNumberGenerator()
        return Double.random(in: 0...1, using: &generator)
    }
}
