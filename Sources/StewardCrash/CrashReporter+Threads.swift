public import Foundation
import StewardCore

/// Which threads have an alternate signal stack, so that a stack overflow on them is recorded:
/// a thread without one that overflows its stack dies of SIGSEGV before any handler runs (the
/// kernel has nowhere to put the signal frame). See "Which threads are covered" in Crash.md.
extension CrashReporter {
    /// Whether the calling thread has an alternate signal stack of at least 64 KiB, Steward's
    /// or one that the runtime or the app gave it, so that a stack overflow on it is recorded.
    ///
    /// ```swift
    /// if !CrashReporter.isCurrentThreadPrepared { try? CrashReporter.prepareCurrentThread() }
    /// ```
    public static var isCurrentThreadPrepared: Bool { CrashHandler.isCurrentThreadPrepared }

    /// An unstarted Foundation `Thread` that gives itself an alternate signal stack before it
    /// runs `body`, so that a stack overflow in `body` is recorded. The stack is released when
    /// the thread ends. If no stack can be mapped (out of memory), `body` runs all the same.
    ///
    /// A `Thread` created any other way has no alternate stack unless its code calls
    /// `CrashReporter.prepareCurrentThread()` first: Foundation offers no hook at thread start.
    ///
    /// ```swift
    /// let worker = CrashReporter.makeThread(name: "scanner") { /* blocking work */ }
    /// worker.stackSize = 1 << 20
    /// worker.start()
    /// ```
    ///
    /// - Parameters:
    ///   - name: The thread's name (Foundation's `Thread.name`), or nil for none.
    ///   - body: What the thread runs.
    /// - Returns: The thread, not started yet: set its stack size or priority, then `start()`.
    public static func makeThread(name: String? = nil, _ body: @escaping @Sendable () -> Void) -> Thread {
        let thread = Thread {
            try? CrashHandler.prepareCurrentThread()
            // Foundation's name does not reach the OS thread reliably (see StewardThread).
            if let name { StewardThread.nameCurrentThread(name) }
            body()
        }
        thread.name = name
        return thread
    }

    /// Opt-in: gives each thread of the Swift concurrency pool its alternate signal stack
    /// before it runs a job, so that a stack overflow inside a task is recorded.
    ///
    /// Sets the concurrency runtime's global executor hook (`swift_task_enqueueGlobal_hook`):
    /// every job the runtime enqueues on the global concurrent executor (a task's start, its
    /// resumption after an `await` or a `Task.sleep`, a default actor's turn) goes to the
    /// libdispatch global queue of its priority, as without the hook, but through a function
    /// that prepares the worker thread first (once per thread; then one thread-local load per
    /// job). What changes for the host: jobs are enqueued with `dispatch_async_f` instead of
    /// the runtime's private libdispatch entry point (in a release build 120–290 ns more per task
    /// in three runs of four, none measurable in a debug build; see Crash.md),
    /// and nothing else may set the hook meanwhile. Not routed: main-actor jobs (the main
    /// executor), jobs of custom executors, and plain Dispatch work items; a libdispatch
    /// thread that never ran a routed job stays unprepared.
    ///
    /// Process-wide, independent of ``install()``; calling it again does nothing. Main-actor
    /// code of an `async` main runs on a libdispatch thread that this does not prepare: call
    /// `CrashReporter.prepareCurrentThread()` there.
    ///
    /// ```swift
    /// try CrashReporter.prepareConcurrencyThreads()
    /// ```
    ///
    /// - Throws: ``CrashReporterError`` `.threads` when the runtime has no such hook, or when
    ///   another hook is set (a custom global executor): it is left in place.
    public static func prepareConcurrencyThreads() throws {
        do {
            try CrashHandler.prepareConcurrencyThreads(true)
        } catch let error as CrashHandlerError {
            throw CrashReporterError(.threads, error.message)
        }
    }

    /// Stops routing the concurrency pool's jobs (``prepareConcurrencyThreads()``) and clears
    /// the hook if it is still Steward's. Threads prepared so far keep their stacks until
    /// they end.
    public static func stopPreparingConcurrencyThreads() {
        try? CrashHandler.prepareConcurrencyThreads(false)
    }
}
