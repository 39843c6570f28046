import Foundation
import StewardCore
import Synchronization

/// Sessions, for crash-free rates: each process that installs a reporter is a session. It
/// starts `ok` (initial), and ends `exited` (``CrashReporter/endSession()``), `crashed` (its crash
/// report carries the session id) or `abnormal` (it vanished without either: killed, power
/// lost, the OOM killer) — which the next launch finds out.
///
/// Sessions are crash-reporting data: they are recorded only while the user grants crash
/// reporting (a process that starts while consent is pending starts its session when the user
/// grants, never for the time before), kept in the vault under `crashReporting`, and purged with
/// the purpose's other data when it is denied.
extension CrashReporter {
    /// Ends this process's session normally (call at an orderly exit): its `exited` update is
    /// queued for the next ``submit(to:dsn:)``.
    public func endSession() {
        // The session's handled errors are stored before it ends.
        flushHandledErrors()
        let now = clockNow
        try? updateSessions { sessions in
            guard let open = sessions.open.first(where: { $0.id == sessionID }) else { return }
            var update = open.closed(as: "exited", at: now)
            update.errors = sessionErrors.load(ordering: .relaxed)
            sessions.updates.append(update)
            sessions.open.removeAll { $0.id == sessionID }
        }
    }

    /// Records this session's start (and queues its initial `ok` update).
    func recordSessionStart() {
        // Once per reporter: install() starts it on a thread, and a test (or a second install
        // after uninstall) may get there too.
        // Not while crash reporting is pending or denied: the grant starts it then. Checked and
        // saved under sessionStartLock, and marked done only once saved: a caller that returns
        // (the granting thread) finds it saved even when install's thread got there first, and
        // a thread that comes late finds it done.
        sessionStartLock.withLock { _ in recordSessionStartLocked() }
    }

    private func recordSessionStartLocked() {
        guard consent.ledger.consentState(for: .crashReporting) == .granted,
            !sessionStartRecorded.load(ordering: .acquiring)
        else { return }
        let context = configuration.context
        // Started when consent allowed it: the session covers no time before the grant.
        let started = Swift.max(sessionStarted, clockNow)
        let start = StoredSession(
            id: sessionID, started: started, timestamp: started, status: "ok", isInitial: true,
            errors: 0, release: context.release, environment: context.environment, deviceID: context.deviceID)
        do {
            try updateSessions { sessions in
                // Earlier sessions still open are closed by processPending(), which knows which crashed.
                guard !sessions.open.contains(where: { $0.id == sessionID }) else { return }
                sessions.open.append(start)
                sessions.updates.append(start)
            }
            sessionStartRecorded.store(true, ordering: .releasing)
        } catch {
            // Not saved: a later call (a grant, the next install) tries again.
        }
    }

    /// Closes the sessions of earlier processes: crashed ones are reported with their crash
    /// (nothing to queue); one that neither crashed nor ended is `abnormal`.
    func closeEarlierSessions(crashed: Set<String>) {
        try? updateSessions { sessions in
            let earlier = sessions.open.filter { $0.id != sessionID }
            guard !earlier.isEmpty else { return }
            for open in earlier {
                if crashed.contains(open.id) {
                    sessions.crashed.append(open)
                } else {
                    sessions.updates.append(open.closed(as: "abnormal", at: open.timestamp))
                }
            }
            sessions.open.removeAll { $0.id != sessionID }
        }
    }
}

extension CrashReporter.StoredSession {
    /// The update that closes this session with `status`.
    func closed(as status: String, at timestamp: Date) -> Self {
        var update = self
        update.status = status
        update.isInitial = false
        update.timestamp = timestamp
        return update
    }

    /// As Sentry's session payload; nil without a release (Sentry requires one).
    var sentrySession: SentrySession? {
        guard let release, let status = SentrySession.Status(rawValue: status) else { return nil }
        return SentrySession(
            id: id, distinctID: deviceID, isInitial: isInitial, started: started, timestamp: timestamp,
            status: status, errors: errors, duration: max(0, timestamp.timeIntervalSince(started)),
            release: release, environment: environment)
    }
}
