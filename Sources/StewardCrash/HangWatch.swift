import CStewardCrash
import StewardCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A watch for hangs, from ``CrashReporter/watchForHangs(name:threshold:)``,
/// ``CrashReporter/watchMainActorForHangs(threshold:)`` or
/// ``CrashReporter/watchConcurrencyPoolForHangs(threshold:)``: watching lasts until
/// ``cancel()``, the watch's release, or the reporter's ``CrashReporter/uninstall()``.
///
/// A thread watch is fed by ``heartbeat()`` from the watched thread, typically once per
/// iteration of its loop; ``pause()`` before the loop waits for input for an unbounded time
/// (waiting for an event is not a hang), and the next heartbeat watches again.
///
/// ```swift
/// let watch = try crashes.watchForHangs(name: "main", threshold: .seconds(2))
/// while running {
///     watch.heartbeat()
///     handleNextEvent()
/// }
/// watch.cancel()
/// ```
public final class HangWatch: Sendable {
    let state: HangWatchState
    let watchdog: HangWatchdog

    init(state: HangWatchState, watchdog: HangWatchdog) {
        self.state = state
        self.watchdog = watchdog
    }

    deinit { cancel() }

    /// The watch's name (the thread watch's, or `main actor`, `concurrency pool`).
    public var name: String { state.name }

    /// The threshold, as clamped when the watch started (100 ms to 1 hour).
    public var threshold: Duration { .nanoseconds(Int64(clamping: state.thresholdNanoseconds)) }

    /// Whether the watch still watches: false after ``cancel()`` or the reporter's uninstall.
    public var isActive: Bool { !state.cancelled.load(ordering: .acquiring) }

    /// Tells the watchdog the watched thread is making progress: one clock read (the coarse
    /// monotonic clock, through the vDSO) and one relaxed atomic store, no lock, no allocation.
    /// Call it from the watched thread (the one that started the watch), once per iteration of
    /// its loop. Does nothing on the main-actor and pool watches (their probes beat for them).
    @inline(__always)
    public func heartbeat() {
        state.lastBeat.store(HangClock.now(), ordering: .relaxed)
    }

    /// Stops watching until the next ``heartbeat()``: call it before the loop blocks for an
    /// unbounded time on purpose (waiting for input, an event, a timer), so the wait is not
    /// reported as a hang.
    public func pause() {
        state.lastBeat.store(0, ordering: .relaxed)
    }

    /// Stops watching for good (idempotent). The watchdog thread ends with the last watch.
    public func cancel() {
        watchdog.remove(state)
    }
}

/// What the watchdog knows of one watch: shared with the watched thread (`lastBeat`) and, for
/// probes, with the probe jobs.
final class HangWatchState: Sendable {
    enum Target: Sendable, Equatable {
        /// A host thread, by kernel thread id.
        case thread(Int64)
        /// The main actor (the thread its last probe ran on; the main thread until one ran).
        case mainActor
        /// The Swift concurrency pool (libdispatch's worker threads on Linux).
        case pool
    }

    let target: Target
    let name: String
    let thresholdNanoseconds: UInt64
    /// Thread watches: the coarse monotonic time of the last heartbeat; 0 while paused.
    let lastBeat: Atomic<UInt64>
    let cancelled = Atomic<Bool>(false)
    /// Probes: when the outstanding probe job was scheduled; 0 when none is outstanding.
    let probeSent = Atomic<UInt64>(0)
    /// Probes: the thread the last probe ran on (0: none yet).
    let probeThread = Atomic<Int64>(0)
    /// The watchdog's own bookkeeping (only its thread touches these): the heartbeat a report
    /// was made for (thread watches), whether the outstanding probe was reported (probes), when
    /// the last probe was scheduled.
    let reportedBeat = Atomic<UInt64>(0)
    let probeReported = Atomic<Bool>(false)

    init(target: Target, name: String, thresholdNanoseconds: UInt64) {
        self.target = target
        self.name = name
        self.thresholdNanoseconds = thresholdNanoseconds
        self.lastBeat = Atomic(target == .mainActor || target == .pool ? 0 : HangClock.now())
    }

    /// Whether the threads to sample may be libdispatch's workers (which block every
    /// asynchronous signal but SIGPROF): the pool's, and the main actor's where the main queue
    /// is drained by workers (after `dispatchMain()`, which ends the main thread on Linux).
    var needsProfilingSignal: Bool { target == .pool || target == .mainActor }

    var kind: AppHang.Kind {
        switch target {
        case .thread: .thread
        case .mainActor: .mainActor
        case .pool: .concurrencyPool
        }
    }

    /// Called by a probe job when it runs: notes its thread, and that it ran.
    func probeRan(sentAt: UInt64) {
        probeThread.store(steward_crash_thread_id(), ordering: .relaxed)
        _ = probeSent.compareExchange(expected: sentAt, desired: 0, ordering: .acquiringAndReleasing)
    }
}

/// The watchdog's clock: CLOCK_MONOTONIC_COARSE in nanoseconds (a few nanoseconds through the
/// vDSO, at the kernel tick's resolution, 1–10 ms: ample for thresholds of 100 ms and more).
/// Monotonic, not boot time: a suspended machine is not a hang.
enum HangClock {
    @inline(__always)
    static func now() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC_COARSE, &now)
        // Never 0 (0 means "paused"); wrapping arithmetic: the kernel's values cannot overflow it.
        return (UInt64(truncatingIfNeeded: now.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: now.tv_nsec)) | 1
    }

    /// `threshold` in nanoseconds, clamped to 100 ms…1 hour (any duration is safe: computed
    /// from the 128-bit attoseconds).
    static func clampedNanoseconds(_ threshold: Duration) -> UInt64 {
        let seconds = threshold.secondsDouble
        guard seconds.isFinite else { return 3_600_000_000_000 }
        let clamped = min(max(seconds, 0.1), 3_600)
        return UInt64(clamped * 1e9)
    }
}
