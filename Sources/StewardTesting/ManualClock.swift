import Synchronization

/// A `Clock` that stands still until a test moves it: code that sleeps on it (an uploader's
/// backoff, a Retry-After wait) resumes only when ``advance(by:)`` or ``advance(to:)`` passes
/// its deadline, so time-dependent behaviour is tested exactly and without real waiting.
///
/// Sleepers resume in deadline order once their deadline is reached; a sleep whose task is
/// cancelled ends at once with `CancellationError`. Safe to use from any number of tasks.
///
/// Moving the clock happens at once: a task woken by an advance that sleeps again measures
/// from the new time. To step through a schedule, wait for the sleeper and move to its
/// deadline, one step at a time:
///
/// ```swift
/// let clock = ManualClock()
/// let work = Task { try await clock.sleep(for: .seconds(30)) }
/// await clock.waitForSleepers(1)
/// #expect(clock.nextDeadline == ManualClock.Instant(offset: .seconds(30)))
/// clock.advance(by: .seconds(30))
/// try await work.value
/// ```
public final class ManualClock: Clock, Sendable {
    /// A point on a ``ManualClock``: the time since the clock's zero.
    public struct Instant: InstantProtocol, CustomStringConvertible {
        /// The time since the clock's zero.
        public var offset: Duration

        /// Creates the instant `offset` after the clock's zero.
        public init(offset: Duration) { self.offset = offset }

        /// The clock's zero.
        public static let zero = Instant(offset: .zero)

        /// The instant `duration` later.
        public func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }

        /// The time from this instant to `other`.
        public func duration(to other: Instant) -> Duration { other.offset - offset }

        /// Orders by offset.
        public static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }

        /// The offset, such as `30.0 seconds`.
        public var description: String { offset.description }
    }

    private struct Sleeper {
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct Watcher {
        var count: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var now: Instant
        var sleepers: [UInt64: Sleeper] = [:]
        var watchers: [UInt64: Watcher] = [:]
        var nextID: UInt64 = 0

        /// Takes the watchers whose count of sleepers is reached.
        mutating func satisfiedWatchers() -> [CheckedContinuation<Void, Never>] {
            let ready = watchers.filter { $0.value.count <= sleepers.count }
            for id in ready.keys { watchers[id] = nil }
            return ready.values.map(\.continuation)
        }
    }

    private let state: Mutex<State>

    /// Creates a clock showing `now` (default: its zero).
    public init(now: Instant = .zero) {
        state = Mutex(State(now: now))
    }

    /// The instant the clock shows.
    public var now: Instant { state.withLock { $0.now } }

    /// Zero: the clock moves only in the steps a test makes.
    public var minimumResolution: Duration { .zero }

    /// Tasks currently sleeping on the clock.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline of a sleeping task, or nil when none sleeps.
    public var nextDeadline: Instant? { state.withLock { $0.sleepers.values.map(\.deadline).min() } }

    /// Suspends until the clock reaches `deadline` (returns at once if it has).
    ///
    /// - Throws: `CancellationError` when the task is cancelled before or while sleeping.
    public func sleep(until deadline: Instant, tolerance: Duration? = nil) async throws {
        try Task.checkCancellation()
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case cancelled, due, sleeping([CheckedContinuation<Void, Never>]) }
                let outcome = state.withLock { s -> Outcome in
                    // Cancellation is flagged before handlers run: a cancel that raced ahead of
                    // this registration is seen here.
                    if Task.isCancelled { return .cancelled }
                    if deadline <= s.now { return .due }
                    s.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    return .sleeping(s.satisfiedWatchers())
                }
                switch outcome {
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .due: continuation.resume()
                case .sleeping(let watchers): for watcher in watchers { watcher.resume() }
                }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock forward by `duration` (a negative one is ignored: a clock never goes
    /// back) and resumes every sleeper whose deadline has come, earliest first.
    public func advance(by duration: Duration) {
        let due = state.withLock { s -> [Sleeper] in
            s.now = s.now.advanced(by: max(duration, .zero))
            return takeDue(&s)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Moves the clock to `instant` (never backwards) and resumes every sleeper whose deadline
    /// has come, earliest first.
    public func advance(to instant: Instant) {
        let due = state.withLock { s -> [Sleeper] in
            s.now = max(s.now, instant)
            return takeDue(&s)
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Suspends until at least `count` tasks sleep on the clock: the way to know that the code
    /// under test has reached its wait before moving the clock.
    public func waitForSleepers(_ count: Int = 1) async {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if Task.isCancelled || s.sleepers.count >= count { return true }
                    s.watchers[id] = Watcher(count: count, continuation: continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.watchers.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    private func takeDue(_ s: inout State) -> [Sleeper] {
        let due = s.sleepers.filter { $0.value.deadline <= s.now }
        for id in due.keys { s.sleepers[id] = nil }
        return due.values.sorted { $0.deadline < $1.deadline }
    }
}
