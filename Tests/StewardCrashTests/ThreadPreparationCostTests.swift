import CStewardCrash
import CStewardMallocProbe
import Dispatch
import Foundation
import Synchronization
import Testing
@testable import StewardCrash

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// What an alternate stack costs, whether it is given back, and what routing the concurrency
// pool's jobs costs (Crash.md, "Which threads are covered"). Each runs in a child of its own:
// nothing else maps memory or enqueues jobs there, and the hook stays out of this process.

/// The calling thread's alternate stack: its start and size (nil: none).
func currentAltstack() -> (start: UInt, size: Int)? {
    var current = stack_t()
    guard sigaltstack(nil, &current) == 0, current.ss_flags & Int32(SS_DISABLE) == 0,
        let start = current.ss_sp
    else { return nil }
    return (UInt(bitPattern: start), current.ss_size)
}

/// The mapping of /proc/self/smaps that holds `address`: its range, permissions and
/// resident kilobytes.
func smapsEntry(holding address: UInt) -> (start: UInt, end: UInt, permissions: String, rssKB: Int)? {
    // Read to the end with read(2): /proc files report a size of 0.
    let fd = open("/proc/self/smaps", O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65_536)
    while true {
        let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { break }
        bytes += chunk[0..<count]
    }
    let text = String(decoding: bytes, as: UTF8.self)
    var found: (start: UInt, end: UInt, permissions: String, rssKB: Int)?
    for line in text.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        let range = fields.first?.split(separator: "-").compactMap { UInt($0, radix: 16) } ?? []
        if range.count == 2, fields.count >= 2 {
            if found != nil { return found }
            if address >= range[0] && address < range[1] {
                found = (range[0], range[1], String(fields[1]), 0)
            }
        } else if found != nil, fields.first == "Rss:", fields.count >= 2 {
            found?.rssKB = Int(fields[1]) ?? -1
        }
    }
    return found
}

/// Seconds since an arbitrary start (monotonic).
func monotonicSeconds() -> Double {
    Double(DispatchTime.now().uptimeNanoseconds) / 1e9
}

@Suite("Thread preparation: memory, release at exit, and cost")
struct ThreadPreparationCostTests {
    @Test("A prepared thread maps 64 KiB over a guard page, none of it resident, and gives it back when it ends")
    func altstackMemoryAndRelease() async throws {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            let seen = Mutex<(start: UInt, size: Int, below: String, rssKB: Int)?>(nil)
            let done = DispatchSemaphore(value: 0)
            CrashReporter.makeThread(name: "altstack-probe") {
                if let stack = currentAltstack(), let entry = smapsEntry(holding: stack.start),
                    let guardPage = smapsEntry(holding: stack.start - 1)
                {
                    seen.withLock { $0 = (stack.start, stack.size, guardPage.permissions, entry.rssKB) }
                }
                done.signal()
            }.start()
            done.wait()
            guard let stack = seen.withLock({ $0 }) else { exit(10) }
            guard stack.size == 64 * 1024 else { exit(11) }
            guard stack.below == "---p" else { exit(12) }
            print("[thread-cost] altstack \(stack.size / 1024) KiB + guard page, resident \(stack.rssKB) KiB")
            guard stack.rssKB == 0 else { exit(13) }
            // The thread's key destructor unmaps it at exit: wait for the mapping to go.
            let deadline = monotonicSeconds() + 5
            while smapsEntry(holding: stack.start)?.start == stack.start, monotonicSeconds() < deadline {
                usleep(10_000)
            }
            guard smapsEntry(holding: stack.start)?.start != stack.start else { exit(14) }
            exit(0)
        }
        let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
        print(output, terminator: "")
    }

    @Test("A pool thread prepared by the hook gives its stack back when libdispatch retires it")
    func poolThreadReleasedWhenIdle() async throws {
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            do { try CrashReporter.prepareConcurrencyThreads() } catch { exit(10) }
            // This thread waits without awaiting, so the task runs on another pool thread,
            // which then has nothing to do.
            let box = Mutex<(tid: Int64, start: UInt)?>(nil)
            let done = DispatchSemaphore(value: 0)
            Task.detached {
                if let stack = currentAltstack() { box.withLock { $0 = (steward_crash_thread_id(), stack.start) } }
                done.signal()
            }
            done.wait()
            guard let seen = box.withLock({ $0 }), seen.tid != steward_crash_thread_id() else { exit(11) }
            // Nothing else runs in this child: the worker goes idle and libdispatch ends it.
            let started = monotonicSeconds()
            while FileManager.default.fileExists(atPath: "/proc/self/task/\(seen.tid)"),
                monotonicSeconds() < started + 30
            {
                usleep(50_000)
            }
            let lifetime = monotonicSeconds() - started
            guard !FileManager.default.fileExists(atPath: "/proc/self/task/\(seen.tid)") else { exit(12) }
            guard smapsEntry(holding: seen.start)?.start != seen.start else { exit(13) }
            print(
                "[thread-cost] idle pool thread ended after \(String(format: "%.1f", lifetime)) s; its stack was unmapped"
            )
            exit(0)
        }
        let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
        print(output, terminator: "")
    }

    @Test("Preparing the pool twice is harmless, and stopping ends the routing")
    func prepareTwiceThenStop() async throws {
        await #expect(processExitsWith: .success) {
            let done = DispatchSemaphore(value: 0)
            func runTask() {
                Task.detached { done.signal() }
                done.wait()
            }
            do {
                try CrashReporter.prepareConcurrencyThreads()
                try CrashReporter.prepareConcurrencyThreads()
            } catch { exit(10) }
            let before = CrashHandler.concurrencyJobsRouted
            runTask()
            if CrashHandler.concurrencyJobsRouted == before { exit(11) }
            CrashReporter.stopPreparingConcurrencyThreads()
            let stopped = CrashHandler.concurrencyJobsRouted
            runTask()
            if CrashHandler.concurrencyJobsRouted != stopped { exit(12) }
            exit(0)
        }
    }

    @Test("Another party's global executor hook is left in place: preparing the pool is refused with .threads")
    func foreignHookStays() async throws {
        await #expect(processExitsWith: .success) {
            let done = DispatchSemaphore(value: 0)
            func runTask() {
                Task.detached { done.signal() }
                done.wait()
            }
            if steward_test_set_foreign_enqueue_hook() != 0 { exit(10) }
            do {
                try CrashReporter.prepareConcurrencyThreads()
                exit(11)
            } catch let error as CrashReporterError {
                if error.code != .threads || !error.message.contains("someone else") { exit(12) }
            } catch {
                exit(13)
            }
            CrashReporter.stopPreparingConcurrencyThreads()
            let before = steward_test_foreign_hook_jobs()
            runTask()
            if steward_test_foreign_hook_jobs() == before || CrashHandler.concurrencyJobsRouted != 0 { exit(14) }
            exit(0)
        }
    }

    @Test("Routing the pool's jobs: every job goes through the hook, and what it costs per job")
    func routingCost() async throws {
        // The full measurement (50,000 tasks a round, 11 rounds, for Crash.md's figures) only with
        // STEWARD_MEASURE_THREADS=1; otherwise a small run that checks every job is routed.
        let measuring = ProcessInfo.processInfo.environment["STEWARD_MEASURE_THREADS"] != nil
        let result = await #expect(processExitsWith: .success, observing: [\.standardOutputContent]) {
            let measuring = ProcessInfo.processInfo.environment["STEWARD_MEASURE_THREADS"] != nil
            let jobs = measuring ? 50_000 : 2_000
            func round() async -> Double {
                let start = monotonicSeconds()
                await withTaskGroup(of: Void.self) { group in
                    for _ in 0..<jobs { group.addTask {} }
                }
                return (monotonicSeconds() - start) / Double(jobs) * 1e9
            }
            _ = await round()  // warm-up: threads started, caches filled
            var plain: [Double] = [], routed: [Double] = []
            for _ in 0..<(measuring ? 5 : 1) {
                plain.append(await round())
                do { try CrashReporter.prepareConcurrencyThreads() } catch { exit(10) }
                let before = CrashHandler.concurrencyJobsRouted
                routed.append(await round())
                if CrashHandler.concurrencyJobsRouted - before < UInt64(jobs) { exit(11) }
                CrashReporter.stopPreparingConcurrencyThreads()
            }
            // The prepared fast path: one thread-local load.
            let calls = measuring ? 10_000_000 : 1_000
            let start = monotonicSeconds()
            for _ in 0..<calls { _ = steward_crash_prepare_thread() }
            let prepareNs = (monotonicSeconds() - start) / Double(calls) * 1e9
            func median(_ values: [Double]) -> String { String(format: "%.0f", values.sorted()[values.count / 2]) }
            print(
                "[thread-cost] task start and end: \(median(plain)) ns per task plain, \(median(routed)) ns routed (median of 5 rounds of \(jobs)); prepare on a prepared thread \(String(format: "%.1f", prepareNs)) ns"
            )
            exit(0)
        }
        let output = String(decoding: result?.standardOutputContent ?? [], as: UTF8.self)
        if measuring { print(output, terminator: "") }
    }
}
