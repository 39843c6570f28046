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

/// The figures of Performance.md, "Issue 20: hangs": opt-in (they take about 40 s and print
/// rather than assert, beyond sanity), with
/// `STEWARD_MEASURE_HANGS=1 swift test --skip-build --filter HangMeasurementTests`.
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["STEWARD_MEASURE_HANGS"] != nil))
struct HangMeasurementTests {
    /// CPU time a thread of this process has used, in nanoseconds (`schedstat`'s first field).
    static func cpuNanoseconds(thread: Int64) -> UInt64? {
        guard let bytes = readRegularFile("/proc/self/task/\(thread)/schedstat", limit: 4096) else { return nil }
        return String(decoding: bytes, as: UTF8.self).split(separator: " ").first.flatMap { UInt64($0) }
    }

    static func now() -> UInt64 { CrashReporter.monotonicNanoseconds() }

    @Test func heartbeatCost() throws {
        let f = try ReporterFixture()
        let watch = try f.reporter.watchForHangs(name: "bench", threshold: .seconds(2))
        defer { watch.cancel() }
        var medians: [Double] = []
        for _ in 0..<7 {
            let count = 10_000_000
            let start = Self.now()
            for _ in 0..<count { watch.heartbeat() }
            medians.append(Double(Self.now() - start) / Double(count))
        }
        medians.sort()
        print(
            "[hang-measure] heartbeat: median of 7 runs of 10M calls: \(medians[3]) ns (min \(medians[0]), max \(medians[6]))"
        )
    }

    @Test(arguments: [2_000, 300])
    func idleWatchdogCost(thresholdMilliseconds: Int) async throws {
        let f = try ReporterFixture()
        let watchdog = f.reporter.hangWatchdog
        let seconds: UInt64 = 10
        let result = try await Task.detached {
            let watch = try f.reporter.watchForHangs(
                name: "idle", threshold: .milliseconds(thresholdMilliseconds))
            defer { watch.cancel() }
            var thread: Int64 = 0
            while thread == 0 {
                usleep(1_000)
                thread = watchdog.threadID.load(ordering: .relaxed)
            }
            let wakeUpsBefore = watchdog.wakeUps.load(ordering: .relaxed)
            let cpuBefore = Self.cpuNanoseconds(thread: thread) ?? 0
            let end = Self.now() + seconds * 1_000_000_000
            while Self.now() < end {
                watch.heartbeat()
                usleep(10_000)
            }
            let cpu = (Self.cpuNanoseconds(thread: thread) ?? 0) - cpuBefore
            return (watchdog.wakeUps.load(ordering: .relaxed) - wakeUpsBefore, cpu)
        }.value
        print(
            "[hang-measure] idle, threshold \(thresholdMilliseconds) ms: \(result.0) wake-ups in \(seconds) s, watchdog CPU \(result.1 / 1_000) µs (\(Double(result.1) / Double(seconds * 10_000_000)) % of one core)"
        )
        #expect(result.0 > 0)
    }

    @Test func idlePoolWatchCost() async throws {
        let f = try ReporterFixture()
        let watchdog = f.reporter.hangWatchdog
        let seconds: UInt64 = 10
        let watch = try f.reporter.watchConcurrencyPoolForHangs(threshold: .seconds(2))
        defer { watch.cancel() }
        let result = await Task.detached {
            var thread: Int64 = 0
            while thread == 0 {
                usleep(1_000)
                thread = watchdog.threadID.load(ordering: .relaxed)
            }
            var usage = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            let processBefore = Self.microseconds(usage)
            let wakeUpsBefore = watchdog.wakeUps.load(ordering: .relaxed)
            let cpuBefore = Self.cpuNanoseconds(thread: thread) ?? 0
            usleep(UInt32(seconds * 1_000_000))
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
            return (
                watchdog.wakeUps.load(ordering: .relaxed) - wakeUpsBefore,
                (Self.cpuNanoseconds(thread: thread) ?? 0) - cpuBefore, Self.microseconds(usage) - processBefore
            )
        }.value
        print(
            "[hang-measure] idle pool watch, threshold 2 s: \(result.0) wake-ups (probes) in \(seconds) s, watchdog CPU \(result.1 / 1_000) µs, whole process CPU \(result.2) µs"
        )
    }

    static func microseconds(_ usage: rusage) -> UInt64 {
        let user = UInt64(clamping: usage.ru_utime.tv_sec) * 1_000_000 + UInt64(clamping: usage.ru_utime.tv_usec)
        let system = UInt64(clamping: usage.ru_stime.tv_sec) * 1_000_000 + UInt64(clamping: usage.ru_stime.tv_usec)
        return user + system
    }

    @Test func detectionLatencyAndSamplingTime() async throws {
        let f = try ReporterFixture()
        let watchdog = f.reporter.hangWatchdog
        let rounds = 20
        try await Task.detached {
            let watch = try f.reporter.watchForHangs(name: "measured", threshold: .milliseconds(300))
            defer { watch.cancel() }
            for round in 1...rounds {
                watch.heartbeat()
                hangTestStuckFunction { watchdog.hangsSeen.load(ordering: .acquiring) < round }
                watch.heartbeat()
                // A random phase against the watchdog's checks (every 60 ms here).
                usleep(UInt32.random(in: 20_000...120_000))
                watch.heartbeat()
            }
        }.value
        f.reporter.flushHandledErrors()
        let reports = try f.reporter.storedReports().compactMap(\.hang).sorted {
            $0.durationMilliseconds < $1.durationMilliseconds
        }
        let late = reports.map { $0.durationMilliseconds - $0.thresholdMilliseconds }
        print(
            "[hang-measure] detection, threshold 300 ms, \(reports.count) hangs: ms past the threshold when seen: \(late)"
        )
        // The sampling itself: one thread, by signal, until its answer is back.
        var times: [UInt64] = []
        let stuck = HangTestFlag()
        let id = HangTestMaximum()
        let thread = Thread {
            _ = steward_crash_hang_prepare_thread()
            id.note(UInt64(steward_crash_thread_id()))
            hangTestStuckFunction { !stuck.value.load(ordering: .acquiring) }
        }
        let watch = try f.reporter.watchForHangs(name: "sampler", threshold: .seconds(60))
        defer { watch.cancel() }
        thread.start()
        while id.value.load(ordering: .relaxed) == 0 { usleep(1_000) }
        usleep(20_000)
        for _ in 0..<100 {
            let start = Self.now()
            let sample = HangSampler.sample(
                threadID: Int64(id.value.load(ordering: .relaxed)), timeoutMilliseconds: 250)
            times.append(Self.now() - start)
            #expect(!sample.addresses.isEmpty)
        }
        stuck.value.store(true, ordering: .releasing)
        times.sort()
        print(
            "[hang-measure] sampling one sleeping thread (status read, signal, walk, answer): p50 \(times[50] / 1_000) µs, p90 \(times[90] / 1_000) µs, max \(times[99] / 1_000) µs"
        )
    }
}
