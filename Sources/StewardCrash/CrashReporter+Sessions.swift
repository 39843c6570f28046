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
        // The memory cgroup's OOM kill count now: the next launch compares (a few small reads).
        var open = start
        open.cgroup = MemoryCgroup.current(configuration.memoryCgroupFiles)
        // Who this process is, for its core among systemd-coredump's (a pid and a boot id).
        open.process = CoreDump.current()
        do {
            try updateSessions { sessions in
                // Earlier sessions still open are closed by processPending(), which knows which crashed.
                guard !sessions.open.contains(where: { $0.id == sessionID }) else { return }
                sessions.open.append(open)
                sessions.updates.append(start)
            }
            sessionStartRecorded.store(true, ordering: .releasing)
        } catch {
            // Not saved: a later call (a grant, the next install) tries again.
        }
    }

    /// Closes the sessions of earlier processes: crashed ones are reported with their crash
    /// (nothing to queue); one that neither crashed nor ended is `abnormal`, with the reason the
    /// next launch can tell (``VanishedReason``), and an OOM kill becomes a report of its own.
    func closeEarlierSessions(crashed: Set<String>) {
        var killed: [(session: StoredSession, evidence: OutOfMemoryKill)] = []
        try? updateSessions { sessions in
            let earlier = sessions.open.filter { $0.id != sessionID }
            guard !earlier.isEmpty else { return }
            for open in earlier {
                if crashed.contains(open.id) {
                    var session = open
                    session.cgroup = nil
                    sessions.crashed.append(session)
                } else {
                    let reason = Self.classifyVanished(
                        open, files: configuration.memoryCgroupFiles, coreDumps: configuration.coreDumpDirectory)
                    var update = open.closed(as: "abnormal", at: open.timestamp)
                    update.cgroup = nil
                    update.reason = reason.description
                    sessions.updates.append(update)
                    if case .outOfMemory(let evidence) = reason { killed.append((open, evidence)) }
                    StewardDiagnostics.emit(
                        DiagnosticEvent(
                            .info, "crash.sessionAbnormal",
                            "An earlier session ended without a crash or an orderly end",
                            ["reason": reason.description]))
                }
            }
            sessions.open.removeAll { $0.id != sessionID }
        }
        guard !killed.isEmpty else { return }
        // Breadcrumbs live in memory (the handler's ring): of a process killed outright only
        // those copied into a report it stored survive. The newest such report's are the last
        // the session is known to have left.
        let stored = (try? storedReports()) ?? []
        var any = false
        for (session, evidence) in killed {
            let breadcrumbs =
                stored.last { $0.context.sessionID == session.id && !$0.breadcrumbs.isEmpty }?.breadcrumbs ?? []
            let report = outOfMemoryReport(session: session, evidence: evidence, breadcrumbs: breadcrumbs)
            if (try? store(report)) != nil { any = true }
        }
        if any { try? vault.commit() }
    }

    /// Why a session ended without a crash or an orderly end, as far as the next launch can tell.
    enum VanishedReason: Hashable, Sendable, CustomStringConvertible {
        /// Its memory cgroup counted an OOM kill since the session started.
        case outOfMemory(OutOfMemoryKill)
        /// systemd-coredump kept a core of its process: it died of a signal Steward does not
        /// catch (SIGQUIT, SIGSYS, SIGXCPU, SIGXFSZ), or before its handler could write.
        case dumpedCore(CoreDump)
        /// Nothing Linux kept says why: `kill -9`, power lost, a kill the counters do not show.
        case unknown

        var description: String {
            switch self {
            case .outOfMemory: "out of memory: killed by the kernel's OOM killer"
            case .dumpedCore(let dump):
                "dumped core: killed by \(dump.signal.map { SignalNames.name($0) } ?? "a signal") (systemd-coredump kept its core, pid \(dump.pid))"
            case .unknown: "killed, reason unknown"
            }
        }
    }

    /// Reads the vanished session's memory cgroup again: a rise of its OOM kill count since the
    /// session started is an OOM kill; else a core systemd-coredump kept of its process tells the
    /// signal; otherwise the reason is unknown.
    static func classifyVanished(
        _ session: StoredSession, files: MemoryCgroup.Files, coreDumps: String = CoreDump.defaultDirectory
    ) -> VanishedReason {
        guard let then = session.cgroup,
            let now = MemoryCgroup.read(version: then.version, path: then.path, files: files),
            let kills = now.oomKills(since: then), kills > 0
        else {
            if let process = session.process,
                let dump = CoreDump.find(for: process, since: session.started, directory: coreDumps)
            {
                return .dumpedCore(dump)
            }
            return .unknown
        }
        return .outOfMemory(
            OutOfMemoryKill(
                cgroup: then.path, cgroupVersion: then.version, limit: now.limit ?? then.limit,
                peak: now.peak ?? then.peak, kills: kills))
    }

    /// The report of an OOM kill: no signal, no stack (nothing of the process ran at the kill),
    /// the session's context, its last known breadcrumbs, and the cgroup's evidence.
    func outOfMemoryReport(session: StoredSession, evidence: OutOfMemoryKill, breadcrumbs: [Breadcrumb])
        -> CrashReport
    {
        var context = configuration.context
        context.sessionID = session.id
        context.release = session.release ?? context.release
        context.environment = session.environment ?? context.environment
        context.deviceID = session.deviceID ?? context.deviceID
        var message = "Killed by the kernel's OOM killer in memory cgroup \(evidence.cgroup)"
        var figures: [String] = []
        if let limit = evidence.limit { figures.append("limit \(MemoryCgroup.describe(bytes: limit))") }
        if let peak = evidence.peak { figures.append("peak \(MemoryCgroup.describe(bytes: peak))") }
        if !figures.isEmpty { message += " (" + figures.joined(separator: ", ") + ")" }
        // The kill's time is unknown: the last the session is known to have been alive.
        let seen = Swift.max(session.timestamp, breadcrumbs.last?.timestamp ?? session.timestamp)
        var notes = ["found at the next launch: the time is the last the session was seen alive, not the kill's"]
        if evidence.kills > 1 {
            notes.append("the cgroup counted \(evidence.kills) OOM kills while the session was open")
        }
        let report = CrashReport(
            id: Self.eventID(), timestamp: seen, handled: false,
            error: CrashError(type: "OutOfMemory", message: message), crashedThread: CrashThread(id: 0),
            breadcrumbs: breadcrumbs, context: context, salvageNotes: notes, outOfMemory: evidence)
        return processScrubber.scrub(report: report)
    }
}

extension CrashReporter.StoredSession {
    /// The update that closes this session with `status`.
    func closed(as status: String, at timestamp: Date) -> Self {
        var update = self
        update.process = nil
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
