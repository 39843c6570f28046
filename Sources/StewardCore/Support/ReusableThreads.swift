import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Threads for blocking work that comes again and again (HTTP transfers, vault commits off the
/// concurrency pool): a job runs on an idle thread of the set when there is one, on a new
/// thread (``StewardThread``, so prepared for the crash handler) otherwise. A thread that ran
/// its job waits for the next one, up to `idleLifetime`, then ends; at most `maximumIdle` wait.
///
/// A thread per job started 782 threads to deliver a 200,000-event backlog: each new thread
/// may take another malloc arena, and memory freed in one arena stays resident for the others
/// (measured for issue 18: the send's peak was 12 MiB above the process with a thread per
/// transfer, 4.7 MiB with `MALLOC_ARENA_MAX=1`, about 6 MiB with these threads). Jobs do not
/// wait for each other: with no idle thread, a new one starts. Idle threads outlive
/// `Steward.stop()` by up to `idleLifetime`.
///
/// After `fork()`: a child does not inherit its parent's threads, so the idle ones the parent
/// knew are forgotten in the child at its first job (the count of live threads is then the
/// parent's, and a fork while another thread held the set's lock is not handled).
package final class ReusableThreads: Sendable {
    private final class Worker: Sendable {
        let wake = DispatchSemaphore(value: 0)
        let job = Mutex<(@Sendable () -> Void)?>(nil)
    }

    private struct State {
        var idle: [Worker] = []
        var pid: pid_t = getpid()
        var started = 0
    }

    private let name: String
    private let maximumIdle: Int
    private let idleLifetime: Double
    private let state = Mutex(State())
    /// Threads alive now (running a job or idle), for tests.
    package var liveThreads: Int { live.load(ordering: .acquiring) }
    /// Threads waiting for a job, for tests.
    package var idleThreads: Int { state.withLock { $0.idle.count } }
    /// Threads ever started, for tests.
    package var startedThreads: Int { state.withLock { $0.started } }
    private let live = Atomic<Int>(0)

    /// A set of threads named `name`, at most `maximumIdle` of them waiting, each for up to
    /// `idleLifetime` seconds.
    package init(name: String, maximumIdle: Int = 4, idleLifetime: Double = 30) {
        self.name = name
        self.maximumIdle = max(0, maximumIdle)
        self.idleLifetime = idleLifetime.isFinite ? min(max(idleLifetime, 0), 3_600) : 30
    }

    /// Runs `job` on an idle thread, or a new one.
    package func run(_ job: @escaping @Sendable () -> Void) {
        let worker = state.withLock { s -> Worker? in
            let pid = getpid()
            if s.pid != pid {
                s.idle = []
                s.pid = pid
            }
            if let idle = s.idle.popLast() { return idle }
            s.started += 1
            return nil
        }
        if let worker {
            worker.job.withLock { $0 = job }
            worker.wake.signal()
            return
        }
        let fresh = Worker()
        fresh.job.withLock { $0 = job }
        live.add(1, ordering: .releasing)
        StewardThread.start(name: name) { [self] in serve(fresh) }
    }

    private func serve(_ worker: Worker) {
        defer { live.subtract(1, ordering: .releasing) }
        while true {
            let job = worker.job.withLock { job in
                defer { job = nil }
                return job
            }
            if let job {
                // A reporter installed since this thread started gives it its signal stack now.
                StewardThread.prepareCurrentThread()
                job()
            }
            let parked = state.withLock { s -> Bool in
                guard s.idle.count < maximumIdle, s.pid == getpid() else { return false }
                s.idle.append(worker)
                return true
            }
            guard parked else { return }
            let deadline = DispatchTime.now() + .milliseconds(Int(idleLifetime * 1_000))
            if worker.wake.wait(timeout: deadline) == .timedOut {
                let left = state.withLock { s -> Bool in
                    guard let index = s.idle.firstIndex(where: { $0 === worker }) else { return false }
                    s.idle.remove(at: index)
                    return true
                }
                if left { return }
                // Taken for a job at the last moment: its signal comes.
                worker.wake.wait()
            }
        }
    }
}
