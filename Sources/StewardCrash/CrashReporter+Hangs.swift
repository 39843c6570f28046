import CStewardCrash
import Foundation
import StewardCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Hangs: a watchdog thread reports, as a non-fatal report with the stuck thread's stack, a
/// host thread that misses its heartbeat, a main actor that does not run a probe job, or a
/// Swift concurrency pool that does not start one, for longer than a threshold. See Crash.md,
/// "Hangs".
extension CrashReporter {
    /// The most pool threads a starvation report samples.
    static let hangPoolThreadLimit = 32

    /// Watches the calling thread for hangs: when it calls ``HangWatch/heartbeat()`` no more for
    /// longer than `threshold`, the watchdog samples its stack and stores a report (once per
    /// hang: the next needs a heartbeat first), under crash-reporting consent like every report.
    ///
    /// The stack is sampled by the thread itself: the watchdog sends it a realtime signal (one
    /// nobody handles, taken while a watch is active), whose handler walks the frame pointers
    /// into a preallocated buffer. Blocking calls the signal interrupts go on (`SA_RESTART`),
    /// except those that never restart (`nanosleep`, `poll`, `epoll_wait`…), which return
    /// `EINTR` once, as with any signal.
    ///
    /// - Parameters:
    ///   - name: What the thread is (`main`, `render loop`), for the report.
    ///   - threshold: How long without a heartbeat is a hang (default 2 s, as Sentry's);
    ///     clamped to 100 ms…1 hour. The hang is seen when the last heartbeat turns that old (the
    ///     watchdog sleeps until then), plus the time to sample the stack.
    /// - Returns: The watch: keep it, call its `heartbeat()` from this thread once per
    ///   iteration of the loop, `pause()` before waiting for input on purpose; watching ends
    ///   with `cancel()`, its release, or ``uninstall()``. Cancel it before the thread ends (a
    ///   watched thread found gone is not reported, but its id could be reused meanwhile).
    /// - Throws: ``CrashReporterError`` `hangWatch` when no realtime signal is free.
    ///
    /// ```swift
    /// let watch = try crashes.watchForHangs(name: "main", threshold: .seconds(2))
    /// while running {
    ///     watch.heartbeat()
    ///     handleNextEvent()
    /// }
    /// ```
    public func watchForHangs(name: String, threshold: Duration = .seconds(2)) throws -> HangWatch {
        let watch = try startWatch(.thread(steward_crash_thread_id()), name: name, threshold: threshold)
        // A thread started from a libdispatch worker inherits its mask, which blocks the signal.
        _ = steward_crash_hang_prepare_thread()
        return watch
    }

    /// Watches the main actor for hangs: the watchdog schedules a tiny job on the `MainActor`
    /// every fifth of the threshold (the next once the last ran); one that has not run within
    /// `threshold` is a hang of the thread that runs the main actor (the main thread), whose
    /// stack is sampled as for ``watchForHangs(name:threshold:)``. Once per hang: the next report
    /// needs the probe to have run first.
    ///
    /// Use it only where a main actor runs (an `async` `main`, `dispatchMain()`, a run loop
    /// that drains the main queue): elsewhere no probe ever runs and the first is reported.
    ///
    /// - Parameter threshold: How late a probe may run (default 2 s); clamped to 100 ms…1 hour.
    /// - Returns: The watch (see ``HangWatch``); `heartbeat()` does nothing on it.
    /// - Throws: ``CrashReporterError`` `hangWatch` when no realtime signal is free.
    ///
    /// ```swift
    /// let mainWatch = try crashes.watchMainActorForHangs(threshold: .seconds(2))
    /// ```
    public func watchMainActorForHangs(threshold: Duration = .seconds(2)) throws -> HangWatch {
        try startWatch(.mainActor, name: "main actor", threshold: threshold)
    }

    /// Watches the Swift concurrency pool for starvation: the watchdog starts a tiny detached
    /// task every fifth of the threshold (the next once the last ran); one that has not started
    /// within `threshold` means every pool thread is busy or blocked. The report carries the
    /// stacks of the pool's threads (libdispatch's workers, at most 32; the first is the
    /// exception's), sampled with `SIGPROF`, the one asynchronous signal those threads do not
    /// block, taken only while nobody else handles it (a profiler), else without stacks.
    /// Once per starvation: the next report needs the probe to have run first.
    ///
    /// - Parameter threshold: How late a probe may start (default 2 s); clamped to 100 ms…1 hour.
    /// - Returns: The watch (see ``HangWatch``); `heartbeat()` does nothing on it.
    /// - Throws: ``CrashReporterError`` `hangWatch` when no realtime signal is free.
    ///
    /// ```swift
    /// let poolWatch = try crashes.watchConcurrencyPoolForHangs(threshold: .seconds(2))
    /// ```
    public func watchConcurrencyPoolForHangs(threshold: Duration = .seconds(2)) throws -> HangWatch {
        try startWatch(.pool, name: "concurrency pool", threshold: threshold)
    }

    private func startWatch(_ target: HangWatchState.Target, name: String, threshold: Duration) throws -> HangWatch {
        let state = HangWatchState(
            target: target, name: name, thresholdNanoseconds: HangClock.clampedNanoseconds(threshold))
        try hangWatchdog.add(state, reporter: self)
        return HangWatch(state: state, watchdog: hangWatchdog)
    }

    /// What the watchdog captured of a hang, for the handled-report worker.
    struct HangCapture: Sendable {
        var hang: AppHang
        var threads: [HangSampler.Sample]
    }

    /// On the watchdog thread: samples the stuck thread(s) and queues the report (nothing at all
    /// while crash reporting is denied: no thread is even signalled).
    func reportHang(_ watch: HangWatchState, durationNanoseconds: UInt64) {
        guard consent.ledger.consentState(for: .crashReporting) != .denied else { return }
        let timestamp = clock.checkedNow
        let position = steward_crash_breadcrumb_position()
        let samples: [HangSampler.Sample]
        switch watch.target {
        case .thread(let id):
            let sample = HangSampler.sample(threadID: id, timeoutMilliseconds: 250)
            // A thread that ended without cancelling its watch stopped beating: not a hang.
            guard !sample.gone else { return }
            samples = [sample]
        case .mainActor:
            let ran = watch.probeThread.load(ordering: .relaxed)
            let main = Int64(getpid())
            if ran == 0 || ran == main {
                samples = [HangSampler.sample(threadID: main, timeoutMilliseconds: 250)]
            } else {
                // The main queue is drained by libdispatch's workers (the main thread called
                // dispatchMain()): any of them may be running the main actor's job now.
                let workers = HangSampler.dispatchWorkers(
                    excluding: steward_crash_thread_id(), limit: Self.hangPoolThreadLimit)
                let sampled = workers.map { HangSampler.sample(threadID: $0, timeoutMilliseconds: 100) }
                samples = sampled.filter { !$0.addresses.isEmpty } + sampled.filter { $0.addresses.isEmpty }
            }
        case .pool:
            let workers = HangSampler.dispatchWorkers(
                excluding: steward_crash_thread_id(), limit: Self.hangPoolThreadLimit)
            let sampled = workers.map { HangSampler.sample(threadID: $0, timeoutMilliseconds: 100) }
            // Threads with a stack first: the first is the exception's.
            samples = sampled.filter { !$0.addresses.isEmpty } + sampled.filter { $0.addresses.isEmpty }
        }
        let hang = AppHang(
            kind: watch.kind, name: watch.name,
            thresholdMilliseconds: Int64(clamping: watch.thresholdNanoseconds / 1_000_000),
            durationMilliseconds: Int64(clamping: durationNanoseconds / 1_000_000))
        let first = samples.first
        enqueue(
            CapturedError(
                id: Self.eventID(), timestamp: timestamp, error: HangDetected(), message: nil, addresses: [],
                threadID: first?.threadID ?? 0, threadName: (0, 0), breadcrumbPosition: position, trace: nil,
                hang: HangCapture(hang: hang, threads: samples)))
    }

    /// The report of a captured hang: every sampled thread symbolicated, scrubbed.
    func makeHangReport(_ captured: CapturedError, _ capture: HangCapture) -> CrashReport {
        var threads: [CrashThread] = []
        var images: [BinaryImage] = []
        var seen = Set<UInt64>()
        let maps = configuration.symbolication != .none ? loadedImages() : ""
        for sample in capture.threads {
            var frames = sample.addresses.map { StackFrame(instructionAddress: $0) }
            if configuration.symbolication != .none, !sample.addresses.isEmpty {
                // The first address is the interrupted instruction, the rest return addresses.
                let output = symbolicator.symbolicate(
                    addresses: sample.addresses, maps: maps, firstIsReturnAddress: false)
                frames = output.frames
                for image in output.images where seen.insert(image.start).inserted { images.append(image) }
            }
            threads.append(CrashThread(id: sample.threadID, name: sample.name, frames: frames, crashed: false))
        }
        if capture.hang.kind != .thread {
            // The exception's thread: one running a Swift job (`swift_job_run` on its stack);
            // for the main actor drained by workers, one draining a serial queue (libdispatch's
            // overcommit workers, `…-qos.overcommit`), where the main queue's jobs run. Stable.
            func rank(_ thread: CrashThread) -> Int {
                let runsJob = thread.frames.contains { $0.function == "swift_job_run" }
                let overcommit = thread.name?.hasSuffix("overcommit") == true
                if runsJob && (capture.hang.kind != .mainActor || overcommit) { return 0 }
                if runsJob { return 1 }
                return thread.frames.isEmpty ? 3 : 2
            }
            threads = threads.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }
                .map(\.element)
        }
        var context = configuration.context
        context.sessionID = context.sessionID ?? sessionID
        let report = CrashReport(
            id: captured.id, timestamp: captured.timestamp, handled: true,
            error: CrashError(type: AppHang.exceptionType, message: capture.hang.message),
            crashedThread: threads.first ?? CrashThread(id: captured.threadID, crashed: false),
            otherThreads: Array(threads.dropFirst()), images: images,
            breadcrumbs: CrashHandler.breadcrumbs(before: captured.breadcrumbPosition), context: context,
            salvageNotes: capture.threads.compactMap(\.note), hang: capture.hang)
        return processScrubber.scrub(report: report)
    }
}

/// The error a hang's capture carries (unused: the hang describes itself).
struct HangDetected: Error {}
