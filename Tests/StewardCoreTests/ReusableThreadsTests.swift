import Foundation
@testable import StewardCore
import Synchronization
import Testing

/// Blocking work reuses threads instead of starting one per job (issue 18: 782 transfer threads
/// for one backlog kept memory in many malloc arenas).
@Suite struct ReusableThreadsTests {
    /// Runs `job` on `threads` and waits for it.
    private func runAndWait(_ threads: ReusableThreads, _ job: @escaping @Sendable () -> Void) {
        let done = DispatchSemaphore(value: 0)
        threads.run {
            job()
            done.signal()
        }
        done.wait()
    }

    @Test func jobsOneAfterAnotherRunOnOneThread() {
        let threads = ReusableThreads(name: "test.reuse", maximumIdle: 2, idleLifetime: 30)
        let seen = Mutex<Set<UInt>>([])
        for _ in 0..<50 {
            runAndWait(threads) { _ = seen.withLock { $0.insert(UInt(bitPattern: Int(bitPattern: pthread_self()))) } }
            // The thread parks right after the job's signal: the next job comes once it waits.
            for _ in 0..<10_000 where threads.idleThreads == 0 { usleep(100) }
        }
        #expect(threads.startedThreads == 1, "50 jobs in a row started \(threads.startedThreads) threads")
        #expect(seen.withLock { $0.count } == 1)
    }

    @Test func jobsThatWaitForEachOtherRunAtOnce() {
        let threads = ReusableThreads(name: "test.concurrent", maximumIdle: 1, idleLifetime: 30)
        // Each job waits for all the others: with the jobs serialised, none would finish.
        let count = 6
        let arrived = Atomic<Int>(0)
        let group = DispatchGroup()
        for _ in 0..<count {
            group.enter()
            threads.run {
                arrived.add(1, ordering: .relaxed)
                let deadline = Date().addingTimeInterval(20)
                while arrived.load(ordering: .relaxed) < count, Date() < deadline { usleep(1_000) }
                group.leave()
            }
        }
        #expect(group.wait(timeout: .now() + 30) == .success)
        #expect(arrived.load(ordering: .relaxed) == count)
    }

    @Test func idleThreadsEndAfterTheirLifetimeAndAtMostTheLimitWaits() async throws {
        let threads = ReusableThreads(name: "test.idle", maximumIdle: 1, idleLifetime: 0.2)
        let group = DispatchGroup()
        let release = DispatchSemaphore(value: 0)
        for _ in 0..<3 {
            group.enter()
            threads.run {
                release.wait()
                group.leave()
            }
        }
        for _ in 0..<3 { release.signal() }
        #expect(group.wait(timeout: .now() + 10) == .success)
        // Two end at once (only one may wait), the last after 0.2 s.
        var live = threads.liveThreads
        for _ in 0..<200 where live > 0 {
            try await Task.sleep(for: .milliseconds(20))
            live = threads.liveThreads
        }
        #expect(live == 0, "\(live) threads still alive")
        // Still usable afterwards.
        runAndWait(threads) {}
        #expect(threads.startedThreads == 4)
    }
}
