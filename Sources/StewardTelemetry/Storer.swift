import Foundation
import Synchronization

/// Wakes the thread that stores full batches, and tells it to stop.
final class Storer: Sendable {
    private struct Signal {
        var pending = 0
        var stopped = false
    }
    private let signal = Mutex(Signal())
    private let semaphore = DispatchSemaphore(value: 0)

    /// A batch is waiting.
    func wake() {
        signal.withLock { $0.pending += 1 }
        semaphore.signal()
    }

    /// The telemetry is gone: the thread ends.
    func stop() {
        signal.withLock { $0.stopped = true }
        semaphore.signal()
    }

    /// Blocks until there is work (true) or the thread should end (false).
    func waitForWork() -> Bool {
        semaphore.wait()
        return signal.withLock { s in
            if s.stopped { return false }
            s.pending -= 1
            return true
        }
    }
}
