import Foundation
import Synchronization

/// Starts the threads Steward's modules run blocking work on (udev, prompts, fsync, symbolication),
/// and prepares each for the crash handler: once a crash reporter is installed, every such
/// thread gets its own alternate signal stack first, so a stack overflow on it is reported too.
/// Package access: modules share it; hosts use `CrashReporter.prepareCurrentThread()`.
package enum StewardThread {
    /// Run first on every thread Steward starts (set by the crash module while installed).
    private static let preparation = Mutex<(@Sendable () -> Void)?>(nil)

    /// Sets or clears what runs first on every new thread.
    package static func setPreparation(_ body: (@Sendable () -> Void)?) {
        preparation.withLock { $0 = body }
    }

    /// Runs the preparation on the calling thread, if one is set: for threads that outlive
    /// the reporter that was installed when they started, or that started before it
    /// (``ReusableThreads`` calls it before each job; preparing a thread twice does nothing).
    package static func prepareCurrentThread() {
        preparation.withLock { $0 }?()
    }

    /// Starts a thread named `name` running `body`.
    package static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let prepare = preparation.withLock { $0 }
        let thread = Thread {
            prepare?()
            body()
        }
        thread.name = name
        thread.start()
    }
}
