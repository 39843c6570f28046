import CStewardCrash
import Foundation
@_spi(Testing) @testable import StewardCrash
import StewardCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The monotonic clock, in nanoseconds.
private func monotonicNow() -> UInt64 { CrashReporter.monotonicNanoseconds() }

/// A known function of the tests: stays on the stack while `stuck` holds (sleeping in short
/// steps: the sampling signal may interrupt a sleep).
@inline(never)
func hangTestStuckFunction(while stuck: () -> Bool) {
    while stuck() { usleep(10_000) }
}

/// A flag threads share.
final class HangTestFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// The largest value threads reported.
final class HangTestMaximum: Sendable {
    let value = Atomic<UInt64>(0)

    func note(_ candidate: UInt64) {
        var current = value.load(ordering: .relaxed)
        while candidate > current {
            let (exchanged, original) = value.compareExchange(
                expected: current, desired: candidate, ordering: .relaxed)
            if exchanged { return }
            current = original
        }
    }
}

/// A known function on the pool's threads while they are blocked.
@inline(never)
func hangTestPoolBlocker(_ released: HangTestFlag, deadline: UInt64) {
    while !released.value.load(ordering: .acquiring) && monotonicNow() < deadline { usleep(5_000) }
}

/// Runs `body` on a thread of its own (not the concurrency pool, which a test may starve), and
/// returns its result once it ends.
private func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    let result: Result<T, any Error> = await withCheckedContinuation { continuation in
        let thread = Thread { continuation.resume(returning: Result { try body() }) }
        thread.name = "hang-test"
        thread.start()
    }
    return try result.get()
}

/// Waits (polling, on the calling thread) until `condition` holds or `seconds` pass.
@discardableResult
private func waitUntil(seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = monotonicNow() + UInt64(seconds * 1e9)
    while !condition() {
        if monotonicNow() >= deadline { return false }
        usleep(10_000)
    }
    return true
}

/// The stored hang reports, once the worker stored what waits: read on a thread of its own, not
/// on the concurrency pool (symbolicating against the debug test binary takes seconds on a
/// loaded machine, and the pool's few threads serve every other test of the process).
private func hangReports(_ f: ReporterFixture) async throws -> [CrashReport] {
    try await onThread {
        f.reporter.flushHandledErrors()
        return try f.reporter.storedReports().filter { $0.hang != nil }
    }
}

/// Real threads, real signals, real clocks: every wait is on an event (the watchdog saw the
/// hang; the probe ran again), bounded by a generous deadline, never on how fast the machine
/// is. The tests that need the concurrency pool or the main actor to themselves run in a child
/// process; serialized all the same (the sampler's signals are process-wide).
///
/// The threshold is a second: the tests that count exactly one report per hang would see a second
/// one if the OS kept the watched thread off a core for a threshold while it beats (the watchdog
/// is right to report that), which at 300 ms is within reach on a loaded 2-core machine.
@Suite(.serialized) struct HangWatchTests {
    static let threshold = Duration.seconds(1)
    static let thresholdNanoseconds: UInt64 = 1_000_000_000

    @Test func aHungHostThreadIsReportedOnceWithItsStack() async throws {
        let f = try ReporterFixture()
        let watchdog = f.reporter.hangWatchdog
        let threadID = try await onThread {
            Thread.current.name = "hang-test"
            let watch = try f.reporter.watchForHangs(name: "worker", threshold: Self.threshold)
            defer { watch.cancel() }
            for _ in 0..<10 {
                watch.heartbeat()
                usleep(10_000)
            }
            // Stuck: no heartbeat until the watchdog has reported, then two thresholds more, so
            // it looks again while the same hang goes on (at most 30 s on a machine too loaded to
            // run the watchdog).
            let start = monotonicNow()
            var reportedAt: UInt64?
            hangTestStuckFunction {
                let now = monotonicNow()
                if reportedAt == nil && watchdog.hangsSeen.load(ordering: .acquiring) > 0 { reportedAt = now }
                return now - start < 30_000_000_000
                    && reportedAt.map { now - $0 < 2 * Self.thresholdNanoseconds } ?? true
            }
            // Recovered: beating again for two thresholds, no new report.
            let recovered = monotonicNow()
            while monotonicNow() - recovered < 2 * Self.thresholdNanoseconds {
                watch.heartbeat()
                usleep(10_000)
            }
            return steward_crash_thread_id()
        }
        #expect(watchdog.hangsSeen.load(ordering: .acquiring) == 1)
        let reports = try await hangReports(f)
        #expect(reports.count == 1, "one report per hang")
        let report = try #require(reports.first)
        let hang = try #require(report.hang)
        #expect(hang.kind == .thread)
        #expect(hang.name == "worker")
        #expect(hang.thresholdMilliseconds == 1_000)
        #expect(hang.durationMilliseconds >= 1_000)
        #expect(report.handled && report.signal == nil)
        #expect(report.error == CrashError(type: "App Hanging", message: "App hanging for at least 1000 ms."))
        #expect(report.crashedThread.id == threadID, "the stuck thread's stack, not the watchdog's")
        #expect(report.crashedThread.name == "hang-test")
        let functions = report.crashedThread.frames.compactMap(\.function)
        #expect(
            functions.contains { $0.contains("hangTestStuckFunction") },
            "the stuck thread walked its own stack: \(functions)")
        // Innermost first: libc's sleep (scanned: it keeps no frame record), the stuck function,
        // then its callers by the frame pointers, down to the thread's start.
        // (A release build's specialised name of the stuck function names the test too.)
        let stuckAt = functions.firstIndex { $0.contains("hangTestStuckFunction") } ?? functions.endIndex
        #expect(
            functions[stuckAt...].dropFirst().contains { $0.contains("aHungHostThreadIsReportedOnceWithItsStack") },
            "\(functions)")
        // (Under the address sanitizer its thread-start wrapper comes after.)
        #expect(
            functions.suffix(2).contains { $0.contains("NSThreadStart") },
            "the walk reaches the thread's start: \(functions)")
        #expect(report.salvageNotes.isEmpty, "\(report.salvageNotes)")
    }

    @Test func aStarvedConcurrencyPoolIsReportedOnceThenRecovers() async {
        // In a child process, where the pool is this test's alone: in the test process, other
        // suites' synchronous tests hold pool threads for seconds (a real starvation).
        await #expect(processExitsWith: .success) { try await HangWatchTests.starvedPool() }
    }

    static func starvedPool() async throws {
        let f = try ReporterFixture()
        let watchdog = f.reporter.hangWatchdog
        let watch = try f.reporter.watchConcurrencyPoolForHangs(threshold: Self.threshold)
        defer { watch.cancel() }
        let released = HangTestFlag()
        let start = monotonicNow()
        let deadline = start + 30_000_000_000
        // More blockers than the pool has threads, and than libdispatch adds when it sees its
        // threads blocked: the probes queue behind them.
        let blockers = 4 * ProcessInfo.processInfo.activeProcessorCount + 8
        let (recovered, seen) = try await onThread {
            // The pool ran a probe before it is starved.
            waitUntil(seconds: 30) { watch.state.probeThread.load(ordering: .relaxed) != 0 }
            for _ in 0..<blockers {
                Task.detached { hangTestPoolBlocker(released, deadline: deadline) }
            }
            waitUntil(seconds: 30) {
                watchdog.hangsSeen.load(ordering: .acquiring) > 0
                    && monotonicNow() - start >= 2 * Self.thresholdNanoseconds
            }
            released.value.store(true, ordering: .releasing)
            // Recovered: a probe ran again, and the watchdog noticed.
            let recovered = waitUntil(seconds: 30) {
                watch.state.probeSent.load(ordering: .acquiring) == 0
                    && !watch.state.probeReported.load(ordering: .relaxed)
            }
            return (recovered, watchdog.hangsSeen.load(ordering: .acquiring))
        }
        watch.cancel()
        #expect(recovered, "the pool runs jobs again once the blockers are released")
        #expect(seen == 1, "one report for one starvation")
        let reports = try await hangReports(f)
        #expect(reports.count == 1)
        let report = try #require(reports.first)
        #expect(report.hang?.kind == .concurrencyPool)
        #expect(report.error?.type == "App Hanging")
        let threads = [report.crashedThread] + report.otherThreads
        #expect(!report.crashedThread.frames.isEmpty, "pool threads answer SIGPROF: \(report.salvageNotes)")
        #expect(
            report.crashedThread.frames.contains { $0.function == "swift_job_run" },
            "the exception's thread runs a Swift job")
        let functions = threads.flatMap(\.frames).compactMap(\.function)
        #expect(
            functions.contains { $0.contains("hangTestPoolBlocker") },
            "the blocked pool threads' own stacks: \(functions.prefix(40))")
        #expect(!threads.contains { $0.id == watchdog.threadID.load(ordering: .relaxed) })
    }

    @Test func aBusyButHealthyThreadAndPoolAreNotReported() async {
        // In a child process, where the pool is this test's alone: in the test process, other
        // suites' synchronous tests hold pool threads for seconds (a real starvation).
        await #expect(processExitsWith: .success) { try await HangWatchTests.busyButHealthy() }
    }

    static func busyButHealthy() async throws {
        let f = try ReporterFixture()
        let threshold = Duration.milliseconds(500)
        let thresholdNanoseconds: UInt64 = 500_000_000
        let poolWatch = try f.reporter.watchConcurrencyPoolForHangs(threshold: threshold)
        defer { poolWatch.cancel() }
        let stop = HangTestFlag()
        // The pool: short jobs, a few more in flight than it has threads, for 2 s; a control
        // measures how late a job of ours starts, independently of the watchdog.
        let controlWorstDelay = HangTestMaximum()
        let control = Thread {
            while !stop.value.load(ordering: .acquiring) {
                let sent = monotonicNow()
                Task.detached { controlWorstDelay.note(monotonicNow() - sent) }
                usleep(20_000)
            }
        }
        control.start()
        async let poolLoad: Void = {
            let end = monotonicNow() + 2_000_000_000
            let width = 2 * ProcessInfo.processInfo.activeProcessorCount
            await withTaskGroup(of: Void.self) { group in
                var inFlight = 0
                while monotonicNow() < end {
                    if inFlight == width {
                        await group.next()
                        inFlight -= 1
                    }
                    group.addTask {
                        // About a millisecond of work.
                        let until = monotonicNow() + 1_000_000
                        var x: UInt64 = 0
                        while monotonicNow() < until { x &+= 1 }
                        _ = x
                    }
                    inFlight += 1
                }
            }
        }()
        // The thread: CPU-busy, beating between slices of work; it measures its own longest
        // gap between two heartbeats (a gap the OS imposed would be a real stall).
        let worstGap = try await onThread {
            let watch = try f.reporter.watchForHangs(name: "busy", threshold: threshold)
            defer { watch.cancel() }
            let end = monotonicNow() + 2_000_000_000
            var last = monotonicNow()
            var worst: UInt64 = 0
            var x: UInt64 = 0
            while last < end {
                watch.heartbeat()
                let until = last + 2_000_000  // 2 ms of work
                while monotonicNow() < until { x &+= 1 }
                let now = monotonicNow()
                worst = max(worst, now - last)
                last = now
            }
            _ = x
            return worst
        }
        await poolLoad
        stop.value.store(true, ordering: .releasing)
        poolWatch.cancel()
        let reports = try await hangReports(f)
        let threadReports = reports.filter { $0.hang?.kind == .thread }
        let poolReports = reports.filter { $0.hang?.kind == .concurrencyPool }
        // On an idle machine both are empty. On a loaded one, a report is allowed only where the
        // stall was real, as measured without the watchdog (the coarse clock's tick as margin).
        #expect(
            threadReports.isEmpty || worstGap + 20_000_000 >= thresholdNanoseconds,
            "a report without a missed heartbeat: longest gap \(worstGap / 1_000_000) ms")
        #expect(
            poolReports.isEmpty || controlWorstDelay.value.load(ordering: .relaxed) >= thresholdNanoseconds / 2,
            "a starvation report while jobs started within \(controlWorstDelay.value.load(ordering: .relaxed) / 1_000_000) ms"
        )
    }

    @Test func nothingIsStoredWhileCrashReportingIsDenied() async throws {
        let f = try ReporterFixture(consent: .denied)
        let watchdog = f.reporter.hangWatchdog
        try await onThread {
            let watch = try f.reporter.watchForHangs(name: "worker", threshold: Self.threshold)
            defer { watch.cancel() }
            watch.heartbeat()
            let start = monotonicNow()
            hangTestStuckFunction {
                let elapsed = monotonicNow() - start
                return elapsed < 30_000_000_000
                    && (watchdog.hangsSeen.load(ordering: .acquiring) == 0 || elapsed < 2 * Self.thresholdNanoseconds)
            }
        }
        #expect(watchdog.hangsSeen.load(ordering: .acquiring) == 1, "the hang was seen")
        #expect(try await hangReports(f).isEmpty, "and nothing of it stored")
        #expect(try f.vault.records(in: CrashReporter.collection).isEmpty)
    }

    @Test func aBlockedMainActorIsReportedWithTheMainThreadsStack() async {
        // In a child process, where the pool is this test's alone: in the test process, other
        // suites' synchronous tests hold pool threads for seconds (a real starvation).
        await #expect(processExitsWith: .success) { try await HangWatchTests.blockedMainActor() }
    }

    static func blockedMainActor() async throws {
        let f = try ReporterFixture()
        let watchdog = f.reporter.hangWatchdog
        let watch = try f.reporter.watchMainActorForHangs(threshold: Self.threshold)
        defer { watch.cancel() }
        // The main actor runs here: a probe ran on the main thread.
        let ran = try await onThread {
            waitUntil(seconds: 30) { watch.state.probeThread.load(ordering: .relaxed) != 0 }
        }
        try #require(ran, "no main actor runs in this process")
        let stuckThread = await MainActor.run {
            let start = monotonicNow()
            hangTestStuckFunction {
                let elapsed = monotonicNow() - start
                return elapsed < 30_000_000_000
                    && (watchdog.hangsSeen.load(ordering: .acquiring) == 0 || elapsed < 2 * Self.thresholdNanoseconds)
            }
            return steward_crash_thread_id()
        }
        watch.cancel()
        let reports = try await hangReports(f)
        #expect(reports.count == 1)
        let report = try #require(reports.first)
        #expect(report.hang?.kind == .mainActor)
        let threads = [report.crashedThread] + report.otherThreads
        let stuck = try #require(
            threads.first { $0.id == stuckThread }, "the thread running the main actor was sampled")
        let functions = stuck.frames.compactMap(\.function)
        #expect(functions.contains { $0.contains("hangTestStuckFunction") }, "\(functions)")
        #expect(report.crashedThread.id == stuckThread, "the exception's thread is the one running the main actor")
    }

    @Test func aWatchedThreadThatEndedIsNotReportedAsHung() async throws {
        let f = try ReporterFixture()
        let watchdog = f.reporter.hangWatchdog
        // The watch outlives its thread (the host forgot to cancel it).
        let watch = try await onThread { try f.reporter.watchForHangs(name: "ended", threshold: Self.threshold) }
        defer { watch.cancel() }
        let seen = try await onThread {
            waitUntil(seconds: 30) { watchdog.hangsSeen.load(ordering: .acquiring) > 0 }
        }
        #expect(seen, "the missed heartbeat was seen")
        #expect(try await hangReports(f).isEmpty, "a thread that no longer exists is not hung")
    }

    @Test func aCancelledWatchEndsTheWatchdogAndGivesTheSignalsBack() async throws {
        let f = try ReporterFixture()
        let watch = try f.reporter.watchForHangs(name: "short", threshold: .seconds(1))
        #expect(steward_crash_hang_signal(0) != 0)
        #expect(watch.isActive)
        watch.cancel()
        watch.cancel()
        #expect(!watch.isActive)
        let ended = try await onThread {
            waitUntil(seconds: 30) { f.reporter.hangWatchdog.threadID.load(ordering: .relaxed) == 0 }
        }
        #expect(ended, "the watchdog thread ends with the last watch")
        let pool = try f.reporter.watchConcurrencyPoolForHangs(threshold: .seconds(1))
        f.reporter.uninstall()
        #expect(!pool.isActive, "uninstall stops every watch")
    }

    static let clampedThresholds: [(Duration, UInt64)] = [
        (.zero, 100_000_000), (.milliseconds(-5), 100_000_000), (.milliseconds(250), 250_000_000),
        (.seconds(7_200), 3_600_000_000_000),
        (Duration(secondsComponent: .max, attosecondsComponent: 0), 3_600_000_000_000),
        (Duration(secondsComponent: .min, attosecondsComponent: 0), 100_000_000),
    ]

    @Test(arguments: clampedThresholds)
    func thresholdsAreClampedWithoutTrapping(_ threshold: Duration, _ expected: UInt64) {
        #expect(HangClock.clampedNanoseconds(threshold) == expected)
    }

    @Test func threadStatusTellsDispatchWorkersByTheirSignalMask() {
        // _dispatch_sigmask: everything blocked but SIGILL, SIGTRAP, SIGFPE, SIGBUS, SIGSEGV,
        // SIGSYS, SIGPIPE and SIGPROF.
        var mask = UInt64.max
        for signal in [SIGILL, SIGTRAP, SIGFPE, SIGBUS, SIGSEGV, SIGSYS, SIGPIPE, SIGPROF] {
            mask &= ~(1 << UInt64(signal - 1))
        }
        let worker = HangSampler.ThreadStatus(
            parsing: "Name:\tworker\nState:\tS (sleeping)\nSigBlk:\t\(String(mask, radix: 16))\n")
        #expect(worker.name == "worker")
        #expect(worker.isDispatchWorker)
        #expect(worker.blocks(Int32(64 - 4)) && !worker.blocks(SIGPROF))
        let host = HangSampler.ThreadStatus(parsing: "Name:\tmain\nSigBlk:\t0000000000000000\n")
        #expect(!host.isDispatchWorker && !host.blocks(Int32(64 - 4)))
        let garbage = HangSampler.ThreadStatus(parsing: "SigBlk:\tzz\u{0}\nName:")
        #expect(garbage.blocked == 0 && garbage.name == nil)
    }

    @Test func aHangBecomesASentryAppHangEvent() throws {
        let report = CrashReport(
            id: CrashReporter.makeSessionID(), timestamp: Date(timeIntervalSince1970: 1_800_000_000), handled: true,
            error: CrashError(type: AppHang.exceptionType, message: "App hanging for at least 2000 ms."),
            crashedThread: CrashThread(
                id: 42, name: "main", frames: [StackFrame(instructionAddress: 0x1000)], crashed: false),
            hang: AppHang(kind: .thread, name: "main", thresholdMilliseconds: 2_000, durationMilliseconds: 2_250))
        let event = SentryEventEncoder().event(for: report)
        let exception = try #require(event["exception"]?["values"]?[0])
        #expect(exception["type"] == "App Hanging")
        #expect(exception["value"] == "App hanging for at least 2000 ms.")
        #expect(exception["mechanism"]?["type"] == "AppHang")
        #expect(exception["mechanism"]?["handled"] == true)
        #expect(exception["mechanism"]?["data"]?["threshold_ms"] == "2000")
        #expect(exception["mechanism"]?["data"]?["kind"] == "thread")
        #expect(exception["stacktrace"]?["snapshot"] == true)
        #expect(event["level"] == "error")
        #expect(event["threads"]?["values"]?[0]?["crashed"] == false)
    }
}
