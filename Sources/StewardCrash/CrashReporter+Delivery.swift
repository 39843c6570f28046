import Foundation
public import StewardCore
import Synchronization

extension CrashReporter {
    /// Queues every kept report that is not queued yet, as a Sentry envelope (event, plus a
    /// `crashed` session update for fatal crashes), for `uploader`'s recipient.
    ///
    /// The uploader checks consent again at send time, retries with backoff and records each
    /// disclosure in the audit ledger; reports stay in the vault (for `list`, export and
    /// erase) until their retention ends.
    ///
    /// - Parameters:
    ///   - uploader: Delivers to the crash backend (its transport: HTTPS to Sentry, GlitchTip,
    ///     or the outbox folder).
    ///   - dsn: The project's DSN: its key goes into `X-Sentry-Auth`, the envelope header
    ///     names it. Nil for a transport that does not need it (the outbox).
    /// - Returns: How many reports were queued.
    /// - Throws: What the vault or the uploader throws (a recipient the manifest does not
    ///   declare for crash diagnostics).
    @discardableResult
    public func submit(to uploader: Uploader, dsn: SentryDSN? = nil) throws -> Int {
        try persistedStateLock.withLock { _ in try submitLocked(to: uploader, dsn: dsn) }
    }

    private func submitLocked(to uploader: Uploader, dsn: SentryDSN?) throws -> Int {
        var state = try Self.loadLaunchState(vault)
        var submitted = Set(state.submitted ?? [])
        let reports = try storedReports().filter { !submitted.contains($0.id) }
        var sessions = try Self.loadSessions(vault)
        if reports.isEmpty && sessions.updates.isEmpty && sessions.crashed.isEmpty { return 0 }
        let encoder = SentryEventEncoder()
        var queued = 0
        let rate = configuration.sampleRate.isNaN ? 1 : min(1, max(0, configuration.sampleRate))
        for original in reports {
            // Sampling and the host's filter decide once per report: one left out is marked
            // offered and never comes back.
            if rate < 1, Double.random(in: 0..<1) >= rate {
                submitted.insert(original.id)
                consent.auditLedger?.recordDropped(.crashDiagnostics, purpose: .crashReporting, reason: .sampling)
                continue
            }
            guard let report = configuration.beforeQueueing.map({ $0(original) }) ?? original else {
                submitted.insert(original.id)
                consent.auditLedger?.recordDropped(.crashDiagnostics, purpose: .crashReporting, reason: .filtered)
                continue
            }
            // A `crashed` update only for a session recorded under consent, from its recorded
            // start: none for a crash of a process whose session was never started.
            var session: SentrySession?
            if !original.handled, let id = original.context.sessionID,
                let recorded = sessions.crashed.first(where: { $0.id == id })
            {
                session = SentrySession.crashed(for: report, started: recorded.started, isInitial: false)
            }
            // No sent_at: it would be the queueing time, and Sentry corrects clock drift with it
            // (the field is optional; a transport that can stamp it at send time may add it).
            let envelope = encoder.envelope(for: report, dsn: dsn, sentAt: nil, session: session)
            let payload = Payload(
                recipient: uploader.recipient, purpose: .crashReporting, categories: [.crashDiagnostics],
                contentType: "application/x-sentry-envelope", headers: dsn?.headers() ?? [:],
                body: envelope.encode(), idempotencyKey: "crash-\(original.id)", created: original.timestamp)
            switch try uploader.submit(payload) {
            case .queued, .heldForConsent:
                queued += 1
                submitted.insert(original.id)
            case .dropped:
                // Denied or undeclared: counted by the uploader; not offered again.
                submitted.insert(original.id)
            }
        }
        // Session updates (start, exited, abnormal) go as envelopes of their own, after the
        // reports; crashed updates ride with their crash's event.
        for update in sessions.updates {
            guard let session = update.sentrySession else { continue }
            let envelope = SentryEnvelope(eventID: nil, dsn: dsn, sentAt: nil, items: [session.envelopeItem])
            let payload = Payload(
                recipient: uploader.recipient, purpose: .crashReporting, categories: [.crashDiagnostics],
                contentType: "application/x-sentry-envelope", headers: dsn?.headers() ?? [:], body: envelope.encode(),
                idempotencyKey: "session-\(update.id)-\(update.status)", created: update.timestamp)
            // Queued, held for consent, or dropped (counted by the uploader): offered once.
            _ = try uploader.submit(payload)
        }
        if !sessions.updates.isEmpty || !sessions.crashed.isEmpty {
            // Crashed sessions whose report is still to come stay for the next submit.
            let pending = Set(try storedReports().filter { !submitted.contains($0.id) }.compactMap(\.context.sessionID))
            sessions.updates = []
            sessions.crashed.removeAll { !pending.contains($0.id) }
            try saveSessions(sessions)
        }
        // Ids of reports the vault no longer holds are forgotten.
        let kept = Set(try storedReports().map(\.id))
        state.submitted = submitted.filter(kept.contains).sorted()
        try saveState(state)
        return queued
    }
}

extension CrashReporter {
    /// Writes a raw record as the handler would for `signal`, from the calling thread, without
    /// crashing: for benchmarks and tests of the next-launch path. Needs ``install()`` first.
    @_spi(Testing)
    public func writeRecordForTesting(signal: Int32 = 11) throws {
        try CrashHandler.testWriteRecord(signal: signal)
    }
}

extension CrashReporter {
    /// Queues the kept reports and sends them now, waiting at most `timeout`: what a host does
    /// when ``crashedOnLaunch`` is set, before it goes on (in a safe mode), so that a crash
    /// loop still reaches the backend. Consent is checked as always.
    ///
    /// - Parameters:
    ///   - uploader: Delivers to the crash backend (see ``submit(to:dsn:)``).
    ///   - dsn: The project's DSN, or nil for a transport that does not need it.
    ///   - timeout: How long to wait, clamped to 0…2^31 s: zero or negative returns nil almost
    ///     at once, and an absurd duration (`Duration(attoseconds: .max)`) does not trap.
    /// - Returns: What the uploader did, or nil when `timeout` passed first (the rest is sent
    ///   later by the uploader's normal run).
    public func sendNow(through uploader: Uploader, dsn: SentryDSN? = nil, timeout: Duration = .seconds(5)) async throws
        -> UploadReport?
    {
        try submit(to: uploader, dsn: dsn)
        return await withTaskGroup(of: UploadReport?.self) { group in
            group.addTask { await uploader.drain() }
            group.addTask {
                try? await checkedSleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }
}
