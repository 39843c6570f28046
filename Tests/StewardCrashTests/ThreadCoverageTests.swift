import CStewardCrash
import Dispatch
import Foundation
import StewardCore
import Testing
@testable import StewardCrash

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Which kinds of thread get an alternate signal stack, one stack overflow per kind (issue 20,
// point 4; the table in Crash.md, "Which threads are covered"). Each child installs the handler
// on the thread the exit test runs on (a concurrency pool thread, which stays blocked), then
// overflows the stack on a thread of the kind under test. Before overflowing, the child checks
// that the thread is prepared or not, as the kind promises, and exits with a status of its own
// otherwise: the tests then fail on the exit status instead of passing by luck.

/// Exit statuses of a child whose thread was not what the test meant to overflow on.
let childThreadUnexpectedlyPrepared: Int32 = 97
let childThreadUnexpectedlyUnprepared: Int32 = 98
let childThreadNotMain: Int32 = 96

/// In a crash child: checks the calling thread's preparation, then overflows its stack.
func overflowStack(expectPrepared: Bool) -> Never {
    if CrashHandler.isCurrentThreadPrepared != expectPrepared {
        exit(expectPrepared ? childThreadUnexpectedlyUnprepared : childThreadUnexpectedlyPrepared)
    }
    _ = stewardTestRecurseForever(0)
    exit(95)  // not reached: the recursion never returns
}

/// In a crash child: keeps the calling thread (the exit test's) busy until the process dies,
/// so no other work lands on it.
func blockUntilKilled() -> Never {
    while true { sleep(60) }
}

/// The kinds of thread that have no alternate stack unless their code asks for one.
enum UnpreparedThreadKind: String, Codable, CaseIterable, Sendable, CustomTestStringConvertible {
    case mainThreadInstalledElsewhere, foundationThread, rawPthread, dispatchWorker, concurrencyPool

    var testDescription: String { rawValue }

    /// In a crash child: runs `crash` on a new thread of this kind (checked unprepared); the
    /// calling thread blocks.
    func run(_ crash: @escaping @convention(c) () -> Void) -> Never {
        unpreparedCrash = crash
        let body: @Sendable () -> Void = {
            if CrashHandler.isCurrentThreadPrepared { exit(childThreadUnexpectedlyPrepared) }
            unpreparedCrash?()
        }
        switch self {
        case .mainThreadInstalledElsewhere:
            runOnMainThread { _ in
                if CrashHandler.isCurrentThreadPrepared { exit(childThreadUnexpectedlyPrepared) }
                unpreparedCrash?()
            }
        case .foundationThread: Thread(block: body).start()
        case .rawPthread:
            var thread = pthread_t()
            let started = pthread_create(
                &thread, nil,
                { _ in
                    if CrashHandler.isCurrentThreadPrepared { exit(childThreadUnexpectedlyPrepared) }
                    unpreparedCrash?()
                    return nil
                }, nil)
            if started != 0 { exit(99) }
        case .dispatchWorker: DispatchQueue.global().async(execute: body)
        case .concurrencyPool: Task.detached(operation: body)
        }
        blockUntilKilled()
    }
}

nonisolated(unsafe) var unpreparedCrash: (@convention(c) () -> Void)?
/// The signal the `raiseChildSignal` crash raises.
nonisolated(unsafe) var childSignal: Int32 = 0

/// The folder the main-thread children install into (a signal handler captures nothing).
nonisolated(unsafe) var mainThreadCrashFolder = ""

/// In a crash child: runs `handler` on the process's main thread. swift-testing's child runs
/// its async entry point through libdispatch's `dispatch_main`, which parks the main thread in
/// `sigsuspend` and lets a worker drain the main queue (so `MainActor` code does not run on
/// the main thread here): a SIGUSR1 reaches the main thread, the one thread that does not
/// block it, and its handler runs on the main thread's own stack. The caller's thread blocks.
func runOnMainThread(_ handler: @convention(c) (Int32) -> Void) -> Never {
    var action = sigaction()
    sigemptyset(&action.sa_mask)
    action.__sigaction_handler.sa_handler = { signal in
        if Int64(getpid()) != steward_crash_thread_id() { exit(childThreadNotMain) }
        mainThreadHandler?(signal)
    }
    mainThreadHandler = handler
    sigaction(SIGUSR1, &action, nil)
    kill(getpid(), SIGUSR1)
    blockUntilKilled()
}

nonisolated(unsafe) var mainThreadHandler: (@convention(c) (Int32) -> Void)?

/// A thread that never reaches the alternate stack dies of SIGSEGV without a record.
func expectNoRecord(folder: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let records = try crashRecords(in: folder)
    #expect(records.isEmpty, "an unprepared thread left a record: \(records)", sourceLocation: sourceLocation)
}

/// The record of an overflow on the thread named `name`.
func expectOverflowRecord(
    folder: String, stderr: [UInt8]?, threadName: String?, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let record = try checkCrashRecord(
        folder: folder, signal: SIGSEGV, stderr: stderr, sourceLocation: sourceLocation)
    #expect(record.dwarfFrames.count == CrashHandler.framesCapacity, sourceLocation: sourceLocation)
    if let threadName {
        #expect(record.threadName == threadName, sourceLocation: sourceLocation)
    }
}

/// Serialized: each exit test holds a thread of the (2-thread) concurrency pool while it reads its
/// child's output, and 40-odd of them at once starved the pool other suites' timed tests need.
@Suite("Thread coverage: a stack overflow on each kind of thread", .serialized)
struct ThreadCoverageTests {
    @Test(
        "The six fatal signals are recorded on every kind of thread, even without an alternate stack (the handler runs on the thread's own stack)",
        arguments: UnpreparedThreadKind.allCases, [SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP])
    func fatalSignalsOnUnpreparedThreads(kind: UnpreparedThreadKind, signal: Int32) async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(signal), observing: [\.standardErrorContent]) {
            [folder = folder as String, kind = kind as UnpreparedThreadKind, signal = signal as Int32] in
            prepareCrashChild(folder: folder)
            childSignal = signal
            switch signal {
            case SIGSEGV: kind.run { stewardTestCrashByNullWrite() }
            case SIGABRT: kind.run { abort() }
            default: kind.run { raise(childSignal) }
            }
        }
        _ = try checkCrashRecord(
            folder: folder, signal: signal, stderr: result?.standardErrorContent,
            faultAddress: signal == SIGSEGV ? 8 : nil)
    }

    @Test("The main thread, when the handler was installed on it: recorded")
    func mainThreadInstalledThere() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            mainThreadCrashFolder = folder
            runOnMainThread { _ in
                // Not async-signal-safe, but the main thread is parked in sigsuspend and holds
                // no lock: what an app does at the top of main.
                prepareCrashChild(folder: mainThreadCrashFolder)
                overflowStack(expectPrepared: true)
            }
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: nil)
        let record = try RawCrashRecord.read(path: try crashRecords(in: folder)[0], key: testRecordKey)
        #expect(record.tid != nil && record.tid == record.pid, "the overflow was on the main thread")
    }

    @Test("The main thread, when the handler was installed on another thread: dies without a record")
    func mainThreadInstalledElsewhere() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await #expect(processExitsWith: .signal(SIGSEGV)) { [folder = folder as String] in
            prepareCrashChild(folder: folder)
            runOnMainThread { _ in overflowStack(expectPrepared: false) }
        }
        try expectNoRecord(folder: folder)
    }

    @Test("Main-actor code of an async main (a libdispatch thread drains the main queue): dies without a record")
    func mainActorOfAsyncMain() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await #expect(processExitsWith: .signal(SIGSEGV)) { [folder = folder as String] in
            prepareCrashChild(folder: folder)
            do { try CrashReporter.prepareConcurrencyThreads() } catch { exit(99) }
            Task { @MainActor in
                if Int64(getpid()) == steward_crash_thread_id() { exit(childThreadNotMain) }
                overflowStack(expectPrepared: false)
            }
            blockUntilKilled()
        }
        try expectNoRecord(folder: folder)
    }

    @Test("A thread Steward starts (StewardThread), with the preparation a reporter sets: recorded")
    func stewardThread() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            // What CrashReporter.install() sets.
            StewardThread.setPreparation { try? CrashHandler.prepareCurrentThread() }
            StewardThread.start(name: "st-overflow") { overflowStack(expectPrepared: true) }
            blockUntilKilled()
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: "st-overflow")
    }

    @Test("A ReusableThreads thread, reused for a second job after a reporter was set: recorded")
    func reusableThread() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            // The thread starts before any preparation is set, so only the per-job
            // preparation can give it a stack.
            let threads = ReusableThreads(name: "rt-overflow", maximumIdle: 1)
            let first = DispatchSemaphore(value: 0)
            threads.run {
                if CrashHandler.isCurrentThreadPrepared { exit(childThreadUnexpectedlyPrepared) }
                first.signal()
            }
            first.wait()
            while threads.idleThreads == 0 { usleep(1_000) }
            prepareCrashChild(folder: folder)
            StewardThread.setPreparation { try? CrashHandler.prepareCurrentThread() }
            threads.run { overflowStack(expectPrepared: true) }
            blockUntilKilled()
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: "rt-overflow")
    }

    @Test("A Foundation Thread from CrashReporter.makeThread: recorded")
    func foundationThreadFromSteward() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            CrashReporter.makeThread(name: "ft-steward") { overflowStack(expectPrepared: true) }.start()
            blockUntilKilled()
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: "ft-steward")
    }

    @Test("A Foundation Thread that calls CrashReporter.prepareCurrentThread() first: recorded")
    func foundationThreadPreparedByHost() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            let thread = Thread {
                do { try CrashReporter.prepareCurrentThread() } catch { exit(99) }
                // Set on the running thread: Foundation's Thread.name does not reach the OS.
                nameCurrentThread("ft-host")
                overflowStack(expectPrepared: true)
            }
            thread.start()
            blockUntilKilled()
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: "ft-host")
    }

    @Test("A plain Foundation Thread: dies without a record (Foundation has no thread-start hook)")
    func foundationThreadPlain() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await #expect(processExitsWith: .signal(SIGSEGV)) { [folder = folder as String] in
            prepareCrashChild(folder: folder)
            Thread { overflowStack(expectPrepared: false) }.start()
            blockUntilKilled()
        }
        try expectNoRecord(folder: folder)
    }

    @Test("A raw pthread: dies without a record (Steward does not interpose pthread_create)")
    func rawPthread() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await #expect(processExitsWith: .signal(SIGSEGV)) { [folder = folder as String] in
            prepareCrashChild(folder: folder)
            var thread = pthread_t()
            let started = pthread_create(&thread, nil, { _ in overflowStack(expectPrepared: false) }, nil)
            if started != 0 { exit(99) }
            blockUntilKilled()
        }
        try expectNoRecord(folder: folder)
    }

    @Test("A raw pthread that calls CrashReporter.prepareCurrentThread() first: recorded")
    func rawPthreadPreparedByHost() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            var thread = pthread_t()
            let started = pthread_create(
                &thread, nil,
                { _ in
                    nameCurrentThread("pt-host")
                    do { try CrashReporter.prepareCurrentThread() } catch { exit(99) }
                    overflowStack(expectPrepared: true)
                }, nil)
            if started != 0 { exit(99) }
            blockUntilKilled()
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: "pt-host")
    }

    @Test("A Dispatch global queue worker: dies without a record (libdispatch has no thread-start hook)")
    func dispatchWorker() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await #expect(processExitsWith: .signal(SIGSEGV)) { [folder = folder as String] in
            prepareCrashChild(folder: folder)
            DispatchQueue.global().async { overflowStack(expectPrepared: false) }
            blockUntilKilled()
        }
        try expectNoRecord(folder: folder)
    }

    @Test("A Swift concurrency pool thread, without the opt-in: dies without a record")
    func concurrencyPoolPlain() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        await #expect(processExitsWith: .signal(SIGSEGV)) { [folder = folder as String] in
            prepareCrashChild(folder: folder)
            Task.detached { overflowStack(expectPrepared: false) }
            blockUntilKilled()
        }
        try expectNoRecord(folder: folder)
    }

    @Test("A Swift concurrency pool thread, with CrashReporter.prepareConcurrencyThreads(): recorded")
    func concurrencyPoolPrepared() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            do { try CrashReporter.prepareConcurrencyThreads() } catch { exit(99) }
            Task.detached {
                nameCurrentThread("task-overflow")
                overflowStack(expectPrepared: true)
            }
            blockUntilKilled()
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: "task-overflow")
    }

    @Test("A task resumed after Task.sleep on a prepared pool: recorded")
    func concurrencyPoolAfterSleep() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            do { try CrashReporter.prepareConcurrencyThreads() } catch { exit(99) }
            Task.detached {
                // The timer's resumption reaches the pool through the same hook.
                let before = CrashHandler.concurrencyJobsRouted
                try? await Task.sleep(for: .milliseconds(10))
                if CrashHandler.concurrencyJobsRouted == before { exit(94) }
                nameCurrentThread("task-slept")
                overflowStack(expectPrepared: true)
            }
            blockUntilKilled()
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: "task-slept")
    }

    @Test("A task resumed after an await on a prepared pool: recorded")
    func concurrencyPoolResumedTask() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            do { try CrashReporter.prepareConcurrencyThreads() } catch { exit(99) }
            Task.detached {
                // A resumption from a thread outside the pool: the job is enqueued again.
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    Thread { continuation.resume() }.start()
                }
                nameCurrentThread("task-resumed")
                overflowStack(expectPrepared: true)
            }
            blockUntilKilled()
        }
        try expectOverflowRecord(folder: folder, stderr: result?.standardErrorContent, threadName: "task-resumed")
    }
}
