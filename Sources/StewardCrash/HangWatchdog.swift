import CStewardCrash
import Dispatch
import Foundation
import StewardCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One reporter's hang watchdog: a thread of its own (started through ``StewardThread`` with
/// the first watch, ended with the last) that sleeps between checks, checks each watch, and
/// reports a hang once: a thread watch again only after a new heartbeat, a probe again only
/// after the probe ran.
///
/// A thread watch is checked when its last heartbeat turns a threshold old (so a hang is seen on
/// time, and a thread that keeps beating costs one wake-up per threshold); a probe watch every
/// fifth of its threshold (20 ms to 1 s), so a hang is seen between the threshold and 1.2 times
/// it, as sentry-cocoa's tracker does. Between checks the thread waits on a semaphore: no
/// polling; a new or cancelled watch wakes it.
final class HangWatchdog: Sendable {
    private struct State {
        var watches: [HangWatchState] = []
        var running = false
        weak var reporter: CrashReporter?
    }
    private let state = Mutex(State())
    private let wake = DispatchSemaphore(value: 0)
    /// How many times the watchdog thread woke up (for the measurements in Performance.md).
    let wakeUps = Atomic<UInt64>(0)

    /// The watchdog thread's kernel id while it runs (0 otherwise).
    let threadID = Atomic<Int64>(0)
    /// Hangs seen so far (each reported, or dropped while crash reporting is denied), counted
    /// once the report is queued: tests wait on it instead of on the clock.
    let hangsSeen = Atomic<Int>(0)

    /// Starts watching `watch` (the sampler's signal handlers are installed first).
    func add(_ watch: HangWatchState, reporter: CrashReporter) throws {
        try HangSampler.acquire(profiling: watch.needsProfilingSignal)
        let start = state.withLock { s -> Bool in
            s.reporter = reporter
            s.watches.append(watch)
            if s.running { return false }
            s.running = true
            return true
        }
        if start {
            StewardThread.start(name: "steward-hangs") { [self] in run() }
        } else {
            wake.signal()
        }
    }

    /// Stops watching `watch` (idempotent); the sampler's handlers go with the last watch.
    func remove(_ watch: HangWatchState) {
        guard
            watch.cancelled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { return }
        state.withLock { s in s.watches.removeAll { $0 === watch } }
        HangSampler.release(profiling: watch.needsProfilingSignal)
        wake.signal()
    }

    /// Stops every watch (the reporter's uninstall and deinit).
    func stop() {
        for watch in state.withLock({ $0.watches }) { remove(watch) }
    }

    private func run() {
        threadID.store(steward_crash_thread_id(), ordering: .relaxed)
        defer { threadID.store(0, ordering: .relaxed) }
        while true {
            let snapshot = state.withLock { s -> ([HangWatchState], CrashReporter?)? in
                guard !s.watches.isEmpty else {
                    s.running = false
                    return nil
                }
                return (s.watches, s.reporter)
            }
            guard let (watches, reporter) = snapshot else { return }
            let now = HangClock.now()
            let wait = watches.map { Self.wait(for: $0, now: now) }.min() ?? 1_000_000_000
            _ = wake.wait(timeout: .now() + .nanoseconds(Int(clamping: max(wait, 1_000_000))))
            wakeUps.add(1, ordering: .relaxed)
            for watch in watches where !watch.cancelled.load(ordering: .acquiring) {
                check(watch, reporter: reporter)
            }
        }
    }

    /// How long the watchdog may sleep for `watch`'s sake. A beating thread watch: until its
    /// last heartbeat is a threshold old (a heartbeat since only moves that later: one wake-up
    /// per threshold, a hang seen on time). A paused or reported one: a threshold, to notice
    /// the next heartbeat in time (heartbeats do not wake the watchdog: they cost a store).
    /// A probe: a fifth of the threshold (20 ms to 1 s), the next probe's spacing.
    static func wait(for watch: HangWatchState, now: UInt64) -> UInt64 {
        let threshold = watch.thresholdNanoseconds
        switch watch.target {
        case .thread:
            let beat = watch.lastBeat.load(ordering: .relaxed)
            guard beat != 0, watch.reportedBeat.load(ordering: .relaxed) != beat else { return threshold }
            let deadline = beat &+ threshold
            return deadline > now ? deadline - now : 0
        case .mainActor, .pool:
            return min(max(threshold / 5, 20_000_000), 1_000_000_000)
        }
    }

    private func check(_ watch: HangWatchState, reporter: CrashReporter?) {
        let now = HangClock.now()
        switch watch.target {
        case .thread:
            let beat = watch.lastBeat.load(ordering: .relaxed)
            guard beat != 0, now > beat, now - beat >= watch.thresholdNanoseconds,
                watch.reportedBeat.load(ordering: .relaxed) != beat
            else { return }
            // At most one report per hang: the next one needs a new heartbeat first.
            watch.reportedBeat.store(beat, ordering: .relaxed)
            reporter?.reportHang(watch, durationNanoseconds: now - beat)
            hangsSeen.add(1, ordering: .releasing)
        case .mainActor, .pool:
            let sent = watch.probeSent.load(ordering: .acquiring)
            guard sent != 0 else {
                // The last probe ran: the hang (if any) is over; send the next.
                watch.probeReported.store(false, ordering: .relaxed)
                sendProbe(watch, at: now)
                return
            }
            guard now > sent, now - sent >= watch.thresholdNanoseconds,
                !watch.probeReported.load(ordering: .relaxed)
            else { return }
            watch.probeReported.store(true, ordering: .relaxed)
            reporter?.reportHang(watch, durationNanoseconds: now - sent)
            hangsSeen.add(1, ordering: .releasing)
        }
    }

    /// A tiny job on the main actor or the pool that notes it ran.
    private func sendProbe(_ watch: HangWatchState, at now: UInt64) {
        watch.probeSent.store(now, ordering: .releasing)
        if watch.target == .mainActor {
            Task { @MainActor in watch.probeRan(sentAt: now) }
        } else {
            Task.detached { watch.probeRan(sentAt: now) }
        }
    }
}

/// The process-wide side of hang sampling: the signal handlers (installed while any watch of
/// any reporter is active; SIGPROF only while a pool watch is), and one sample at a time.
enum HangSampler {
    private struct Users {
        var all = 0
        var profiling = 0
    }
    private static let users = Mutex(Users())

    /// Installs the handlers for one more watch.
    static func acquire(profiling: Bool) throws {
        try users.withLock { u in
            u.all += 1
            if profiling { u.profiling += 1 }
            let result = steward_crash_hang_install(u.profiling > 0 ? 1 : 0)
            guard result == 0 else {
                u.all -= 1
                if profiling { u.profiling -= 1 }
                if u.all == 0 { steward_crash_hang_uninstall() }
                throw CrashReporterError(
                    .hangWatch,
                    "no free realtime signal to sample a hung thread's stack with (every one from SIGRTMAX-4 down to SIGRTMIN+4 has a handler); hangs cannot be watched"
                )
            }
        }
    }

    /// Gives the handlers back with the last watch.
    static func release(profiling: Bool) {
        users.withLock { u in
            u.all = max(0, u.all - 1)
            if profiling { u.profiling = max(0, u.profiling - 1) }
            if u.all == 0 {
                steward_crash_hang_uninstall()
            } else {
                _ = steward_crash_hang_install(u.profiling > 0 ? 1 : 0)
            }
        }
    }

    /// One thread's sampled stack: the interrupted instruction first, then return addresses.
    struct Sample: Sendable {
        var threadID: Int64
        var name: String?
        var addresses: [UInt64]
        /// Why there is no stack, when there is none.
        var note: String?
        /// Whether the thread no longer exists.
        var gone = false
    }

    /// What `/proc/self/task/TID/status` says of a thread: its name and blocked signals.
    struct ThreadStatus {
        var name: String?
        var blocked: UInt64

        func blocks(_ signal: Int32) -> Bool {
            signal >= 1 && signal <= 64 && blocked & (1 << UInt64(signal - 1)) != 0
        }

        /// libdispatch's workers (the Swift concurrency pool on Linux) block every
        /// asynchronous signal but SIGPROF (`_dispatch_sigmask`).
        var isDispatchWorker: Bool {
            blocks(SIGUSR1) && blocks(SIGTERM) && blocks(SIGALRM) && !blocks(SIGPROF)
        }

        init?(threadID: Int64) {
            guard let bytes = readRegularFile("/proc/self/task/\(threadID)/status", limit: 16 << 10) else {
                return nil
            }
            self.init(parsing: String(decoding: bytes, as: UTF8.self))
        }

        init(parsing text: String) {
            name = nil
            blocked = 0
            for line in text.split(separator: "\n") {
                if line.hasPrefix("Name:") {
                    let value = line.dropFirst(5).trimmingCharacters(in: .whitespaces)
                    name = value.isEmpty ? nil : String(value.prefix(64))
                } else if line.hasPrefix("SigBlk:") {
                    blocked = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) ?? 0
                }
            }
        }
    }

    /// Samples thread `threadID`: with the realtime signal, or with SIGPROF where the thread
    /// blocks the realtime one (libdispatch's workers) and SIGPROF is ours.
    static func sample(threadID: Int64, timeoutMilliseconds: Int32) -> Sample {
        let status = ThreadStatus(threadID: threadID)
        var sample = Sample(threadID: threadID, name: status?.name, addresses: [])
        guard let status else {
            sample.note = "thread \(threadID): gone before its stack could be sampled"
            sample.gone = true
            return sample
        }
        return users.withLock { u in
            guard u.all > 0 else {
                sample.note = "thread \(threadID): the watch ended before its stack could be sampled"
                return sample
            }
            let realtime = steward_crash_hang_signal(0)
            let profiling = steward_crash_hang_signal(1)
            let useProfiling: Int32
            if realtime != 0 && !status.blocks(realtime) {
                useProfiling = 0
            } else if profiling != 0 && !status.blocks(profiling) {
                useProfiling = 1
            } else {
                sample.note = "thread \(threadID): blocks the sampling signals; no stack"
                return sample
            }
            var buffer = [UInt64](repeating: 0, count: Int(STEWARD_CRASH_HANG_FRAMES_MAX))
            let count = buffer.withUnsafeMutableBufferPointer { out in
                steward_crash_hang_sample(
                    threadID, useProfiling, out.baseAddress, Int32(out.count), timeoutMilliseconds)
            }
            if count >= 0 {
                sample.addresses = Array(buffer.prefix(min(Int(count), buffer.count)))
            } else if -count == ETIMEDOUT {
                sample.note =
                    "thread \(threadID): did not answer the stack request within \(timeoutMilliseconds) ms (uninterruptible sleep, or the signal blocked)"
            } else {
                sample.note = "thread \(threadID): stack not sampled (errno \(-count))"
            }
            return sample
        }
    }

    /// The threads of this process that are libdispatch workers, but `excluding`; at most
    /// `limit`, lowest ids first.
    static func dispatchWorkers(excluding: Int64, limit: Int) -> [Int64] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task") else { return [] }
        let ids = entries.compactMap { Int64($0) }.filter { $0 != excluding }.sorted()
        var workers: [Int64] = []
        for id in ids where workers.count < limit {
            if let status = ThreadStatus(threadID: id), status.isDispatchWorker { workers.append(id) }
        }
        return workers
    }
}
