public import StewardCore
import Synchronization

/// A `Transport` that keeps every payload it is given, with the time and the answer, and
/// answers from a script: for tests of code that sends, and of what it sends.
///
/// Answers come from a queue of `Delivery` values (``enqueue(_:)``), then from a closure, or
/// `.accepted` when neither is given. Times are measured on the clock passed in (a
/// ``ManualClock`` in most tests) from the moment the transport was created.
///
/// ```swift
/// let clock = ManualClock()
/// let transport = RecordingTransport(clock: clock, answers: [.retry(after: nil), .retry(after: nil)])
/// // ... run the code under test ...
/// #expect(transport.deliveries.map(\.answer) == [.retry(after: nil), .retry(after: nil), .accepted])
/// #expect(transport.acceptedPayloads.count == 1)
/// ```
public final class RecordingTransport: Transport {
    /// One call of ``send(_:)``.
    public struct Delivered: Hashable, Sendable {
        /// What was sent.
        public let payload: Payload
        /// When, on the transport's clock, since the transport was created.
        public let elapsed: Duration
        /// What the transport answered.
        public let answer: Delivery
    }

    private struct State {
        var deliveries: [Delivered] = []
        var answers: [Delivery]
        var watchers: [UInt64: (count: Int, continuation: CheckedContinuation<Void, Never>)] = [:]
        var nextID: UInt64 = 0
        var networkNeed: NetworkNeed = .none
    }

    private let state: Mutex<State>
    private let elapsed: @Sendable () -> Duration
    private let respond: @Sendable (Payload, Int) -> Delivery

    /// Creates a transport that answers `answers` in turn, then `otherwise`.
    ///
    /// - Parameters:
    ///   - clock: Times each delivery (default: a continuous clock).
    ///   - answers: The first answers, in order.
    ///   - otherwise: The answer once `answers` is used up (default `.accepted`).
    public convenience init<C: Clock>(clock: C, answers: [Delivery] = [], otherwise: Delivery = .accepted)
    where C.Duration == Duration {
        self.init(clock: clock, answers: answers) { _, _ in otherwise }
    }

    /// Creates a transport on a continuous clock that answers `answers` in turn, then `otherwise`.
    public convenience init(answers: [Delivery] = [], otherwise: Delivery = .accepted) {
        self.init(clock: ContinuousClock(), answers: answers) { _, _ in otherwise }
    }

    /// Creates a transport that answers `answers` in turn, then what `respond` says.
    ///
    /// - Parameters:
    ///   - clock: Times each delivery.
    ///   - answers: The first answers, in order.
    ///   - respond: Called with the payload and the number of deliveries recorded before it,
    ///     once `answers` is used up; may be called from any task, and may use the transport.
    public init<C: Clock>(clock: C, answers: [Delivery] = [], respond: @escaping @Sendable (Payload, Int) -> Delivery)
    where C.Duration == Duration {
        let origin = clock.now
        self.elapsed = { origin.duration(to: clock.now) }
        self.respond = respond
        self.state = Mutex(State(answers: answers))
    }

    /// What the transport says it needs of the network (default `NetworkNeed/none`: never
    /// paused); set it to test how an uploader with a `NetworkMonitor` pauses.
    public var networkNeed: NetworkNeed {
        get { state.withLock { $0.networkNeed } }
        set { state.withLock { $0.networkNeed = newValue } }
    }

    /// Adds answers to the end of the script.
    public func enqueue(_ answers: Delivery...) {
        state.withLock { $0.answers += answers }
    }

    /// Records the payload and returns the next scripted answer.
    public func send(_ payload: Payload) async -> Delivery {
        let now = elapsed()
        let (scripted, index) = state.withLock { s in
            (s.answers.isEmpty ? nil : s.answers.removeFirst(), s.deliveries.count)
        }
        // Outside the lock, so the closure may use the transport (its deliveries, enqueue).
        let answer = scripted ?? respond(payload, index)
        let ready = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.deliveries.append(Delivered(payload: payload, elapsed: now, answer: answer))
            let ready = s.watchers.filter { $0.value.count <= s.deliveries.count }
            for id in ready.keys { s.watchers[id] = nil }
            return ready.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume() }
        return answer
    }

    /// Every call so far, in order.
    public var deliveries: [Delivered] { state.withLock { $0.deliveries } }

    /// Every payload sent so far, in order (retried ones as often as they were sent).
    public var payloads: [Payload] { deliveries.map(\.payload) }

    /// The payloads answered with `.accepted`, in order.
    public var acceptedPayloads: [Payload] { deliveries.filter { $0.answer == .accepted }.map(\.payload) }

    /// Suspends until at least `count` payloads were sent in total (or the task is cancelled):
    /// for tests of code that sends in the background.
    public func waitForDeliveries(_ count: Int) async {
        let id = state.withLock { s in
            s.nextID += 1
            return s.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if Task.isCancelled || s.deliveries.count >= count { return true }
                    s.watchers[id] = (count, continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.watchers.removeValue(forKey: id) }?.continuation.resume()
        }
    }
}
