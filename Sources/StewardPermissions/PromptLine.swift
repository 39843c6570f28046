import Synchronization

/// Lets one prompt run at a time; waiting is cancellable.
final class PromptLine: Sendable {
    private struct State {
        var busy = false
        var next: UInt64 = 0
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Bool, Never>)] = []
        var cancelled: Set<UInt64> = []
    }
    private let state = Mutex(State())

    /// Waits for the line; false when the task was cancelled while waiting.
    func enter() async -> Bool {
        let id = state.withLock { s in
            s.next += 1
            return s.next
        }
        let entered = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let now: Bool? = state.withLock { s in
                    if s.cancelled.remove(id) != nil { return false }
                    if !s.busy {
                        s.busy = true
                        return true
                    }
                    s.waiters.append((id, continuation))
                    return nil
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter: CheckedContinuation<Bool, Never>? = state.withLock { s in
                if let index = s.waiters.firstIndex(where: { $0.id == id }) {
                    return s.waiters.remove(at: index).continuation
                }
                s.cancelled.insert(id)
                return nil
            }
            waiter?.resume(returning: false)
        }
        // A cancellation that arrived after entering leaves a mark; clear it.
        _ = state.withLock { $0.cancelled.remove(id) }
        return entered
    }

    /// Leaves the line, handing it to the next waiter.
    func leave() {
        let next: CheckedContinuation<Bool, Never>? = state.withLock { s in
            if s.waiters.isEmpty {
                s.busy = false
                return nil
            }
            return s.waiters.removeFirst().continuation
        }
        next?.resume(returning: true)
    }
}
