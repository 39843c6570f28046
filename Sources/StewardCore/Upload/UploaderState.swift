import struct Foundation.Date
import Synchronization

/// What the uploader keeps in memory: its queue, per purpose, and who waits for a change.
extension Uploader {
    typealias Waiter = CheckedContinuation<Void, Never>

    /// A queued payload, as the uploader keeps it in memory: the payload itself stays in the vault.
    struct Entry: Sendable {
        let id: RecordID
        let purpose: Purpose
        let categories: [DataCategory]
        let created: Date
        /// The payload's idempotency key.
        let key: String
        /// The body's size, for the hourly byte budget.
        var bytes = 0
        var attempts = 0
        /// Elapsed-clock time before which it may not be sent again (backoff, Retry-After).
        var notBefore: Duration?
    }

    /// One purpose's queued payloads, oldest (lowest record id) first.
    struct Lane: Sendable {
        var entries: [Entry] = []
        var start = 0

        var isEmpty: Bool { start == entries.count }
        var count: Int { entries.count - start }
        var first: Entry? { isEmpty ? nil : entries[start] }

        mutating func append(_ entry: Entry) { entries.append(entry) }

        func contains(key: String) -> Bool { entries.contains { $0.key == key } }

        /// Inserts by record id (an earlier concurrent submission may commit later).
        mutating func insert(_ entry: Entry) {
            var i = entries.count
            while i > start, entries[i - 1].id > entry.id { i -= 1 }
            entries.insert(entry, at: i)
        }

        mutating func removeFirst() {
            guard !isEmpty else { return }
            start += 1
            if start == entries.count {
                entries.removeAll(keepingCapacity: true)
                start = 0
            } else if start >= 64, start * 2 >= entries.count {
                entries.removeFirst(start)
                start = 0
            }
        }

        mutating func updateFirst(_ change: (inout Entry) -> Void) {
            guard !isEmpty else { return }
            change(&entries[start])
        }

        mutating func removeAll() -> [Entry] {
            let all = Array(entries[start...])
            entries = []
            start = 0
            return all
        }
    }

    struct State: Sendable {
        var lanes: [Purpose: Lane] = [:]
        var count = 0
        var inFlight: RecordID?
        /// The send under way, so a withdrawal of its purpose can cancel it.
        var inFlightSend: (purpose: Purpose, task: Task<Delivery, Never>)?
        var generation: UInt64 = 0
        /// Sends of the last hour (elapsed-clock time and body bytes), for the byte budget.
        var sent: [(at: Duration, bytes: Int)] = []
        var waiters: [UInt64: Waiter] = [:]
        var nextWaiterID: UInt64 = 0
        /// Whether the recipient was reachable at the last step (for the diagnostics of a pause).
        var reachable = true
        /// Whether the hourly byte budget held the next send at the last step.
        var budgetSpent = false
        /// Set by ``Uploader/stopSending(waitingUpTo:)``: nothing more is sent.
        var stopped = false

        /// Records a change and hands back the waiters to resume (outside the lock).
        mutating func bump() -> [Waiter] {
            generation &+= 1
            let all = Array(waiters.values)
            waiters.removeAll()
            return all
        }
    }

    enum Step {
        case drop([(Entry, DropReason)])
        case send(Entry, LegalBasis)
        /// Something is in flight or backing off; wait for a change or the deadline.
        case wait(deadline: Duration?, generation: UInt64)
        /// Nothing can be sent now (queue empty or every payload held); the deadline is the next
        /// held payload's expiry.
        case idle(deadline: Duration?, generation: UInt64)
    }
}
