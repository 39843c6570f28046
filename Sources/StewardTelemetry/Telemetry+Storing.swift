import Foundation
package import StewardCore
import Synchronization

/// Storing: batches held in memory go to the vault (by the storer thread when full, by
/// ``flush()``, or every interval with ``run(flushingEvery:)``), grouped per purpose and
/// category, with consent checked again at the moment of writing.
extension Telemetry {
    /// Stores every event held in memory, or waiting for the storer thread, in the vault
    /// (batched per purpose and category), and commits.
    public func flush() throws {
        try storing.withLock { _ in
            let batches = state.withLock { s in
                defer {
                    for lane in s.batches.indices { s.batches[lane] = [] }
                    s.held = 0
                    s.backlog = []
                    s.backlogCount = 0
                }
                return s.backlog + s.batches.filter { !$0.isEmpty }
            }
            var firstError: (any Error)?
            for batch in batches {
                do {
                    try store(batch)
                } catch {
                    if let first = batch.first {
                        audit?.recordDropped(first.category, purpose: first.purpose, reason: .quota, count: batch.count)
                    }
                    firstError = firstError ?? error
                }
            }
            consentDrops.store(0, ordering: .relaxed)
            for (index, event) in compiled.enumerated() {
                let drops = index < 64 ? dropsPerEvent[index].exchange(0, ordering: .relaxed) : 0
                if drops > 0 {
                    audit?.recordDropped(
                        event.declaration.category, purpose: event.declaration.purpose, reason: .consent, count: drops)
                }
            }
            try vault.commit()
            if let firstError { throw firstError }
        }
    }

    /// Stores `batch`; a failure is counted (the events are not kept after all), never silently
    /// lost. Called with `storing` held.
    func storeCounting(_ batch: [TelemetryEventRecord]) {
        do {
            try store(batch)
        } catch {
            if let first = batch.first {
                audit?.recordDropped(first.category, purpose: first.purpose, reason: .quota, count: batch.count)
            }
        }
    }

    /// Calls `handler` after each full batch is stored (on the thread that stored it), so the
    /// batch can be queued for delivery at once: the facade's automatic delivery, by size.
    package func onBatchStored(_ handler: (@Sendable () -> Void)?) {
        batchStoredHandler.withLock { $0 = handler }
    }

    /// Starts the thread that stores full batches. It holds the telemetry weakly, and stops
    /// when the telemetry goes away.
    func startStorer() {
        let storer = self.storer
        StewardThread.start(name: "steward.telemetry-store") { [weak self] in
            while storer.waitForWork() {
                guard let self else { return }
                self.storing.withLock { _ in
                    let batch: [TelemetryEventRecord]? = self.state.withLock { s in
                        guard !s.backlog.isEmpty else { return nil }
                        let batch = s.backlog.removeFirst()
                        s.backlogCount -= batch.count
                        return batch
                    }
                    if let batch {
                        self.storeCounting(batch)
                        self.batchStoredHandler.withLock { $0 }?()
                    }
                }
            }
        }
    }

    /// Forgets what is held in memory or waiting to be stored and stops the storer thread,
    /// waiting for a batch it is writing: for an erase, which must not race a late write.
    package func discardPending() {
        storing.withLock { _ in
            state.withLock { s in
                for lane in s.batches.indices { s.batches[lane] = [] }
                s.held = 0
                s.backlog = []
                s.backlogCount = 0
            }
        }
        storer.stop()
    }

    func store(_ batch: [TelemetryEventRecord]) throws {
        // One vault record per (purpose, category): purging by purpose stays exact.
        var groups: [GroupKey: [TelemetryEventRecord]] = [:]
        for record in batch {
            groups[GroupKey(purpose: record.purpose, category: record.category), default: []].append(record)
        }
        for (_, group) in groups {
            guard let first = group.first else { continue }
            // Consent may have been withdrawn since the events were recorded: check again.
            guard consent.consentState(for: first.purpose) == .granted else {
                audit?.recordDropped(first.category, purpose: first.purpose, reason: .consent, count: group.count)
                continue
            }
            // Saturating, as a second line behind the manifest check at init.
            let retention = manifest.declaration(of: first.category)?.retention
            if let hook = betweenCheckAndAppend.withLock({ $0 }) { hook(first.purpose) }
            let id = try vault.append(
                BatchCoding.encode(group), to: Self.collection, category: first.category,
                purpose: first.purpose, retention: retention)
            // A withdrawal between the check and the append may have purged the purpose before
            // this record existed. The ledger publishes the denial before it purges, so checking
            // once more here closes the gap: either the purge comes after this append, or this
            // check sees the denial and removes the record itself.
            guard consent.consentState(for: first.purpose) == .granted else {
                _ = try vault.remove(id, from: Self.collection)
                audit?.recordDropped(first.category, purpose: first.purpose, reason: .consent, count: group.count)
                continue
            }
            audit?.recordCollected(first.category, purpose: first.purpose, count: group.count)
        }
    }

    struct GroupKey: Hashable {
        var purpose: Purpose
        var category: DataCategory
    }

    /// Stores what is held in memory every `interval` (batches also go when full), until the
    /// task is cancelled; a last flush runs on the way out, also when the task was cancelled
    /// before it began. The flushes (vault writes, fsync) run on a thread of their own, not on
    /// the concurrency pool.
    ///
    /// `interval` is clamped to 1 s…2^31 s: zero or a negative interval flushes every second
    /// (it does not spin), and an absurd one (`Duration(attoseconds: .max)`) waits 2^31 s.
    ///
    /// ```swift
    /// let flusher = Task { await telemetry.run(flushingEvery: .seconds(30)) }
    /// ```
    public func run(flushingEvery interval: Duration) async {
        let interval = interval.periodicInterval
        // At least once: a task cancelled before it ran still flushes on the way out (the sleep
        // returns at once when cancelled).
        repeat {
            try? await checkedSleep(for: interval)
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                StewardThread.start(name: "steward.telemetry-flush") { [self] in
                    try? flush()
                    continuation.resume()
                }
            }
        } while !Task.isCancelled
    }

    /// The events of a stored batch (a record of ``collection``), for data-rights exports; empty
    /// when the record is not a batch.
    package func storedEvents(in record: VaultRecord) -> [TelemetryEventRecord] {
        BatchCoding.decode(record.data) ?? []
    }
}
