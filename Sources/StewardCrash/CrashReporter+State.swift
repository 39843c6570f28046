import Foundation
import StewardCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the reporter keeps in the vault between launches: the launch-crash count and the sessions.
extension CrashReporter {
    struct LaunchState: Codable {
        var consecutive: Int
        /// Reports already queued for delivery (by id).
        var submitted: [String]?
    }

    /// The sessions, kept apart from ``LaunchState`` under `crashReporting`: recorded only
    /// while crash reporting is granted, purged with the purpose's data when it is denied.
    /// (Earlier versions kept them in the launch state under `privacyCompliance`; those are
    /// ignored and go with the next save.)
    struct SessionState: Codable {
        /// Sessions of processes that installed and have not ended yet: this process's, and
        /// earlier ones until a launch closes them (crashed or abnormal).
        var open: [StoredSession] = []
        /// Session updates not sent yet.
        var updates: [StoredSession] = []
        /// Sessions that ended in a crash, recorded under consent: their `crashed` update rides
        /// with the crash's report when it is submitted (and starts at the session's recorded
        /// start, the grant's time at the earliest).
        var crashed: [StoredSession] = []

        init() {}

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            open = try container.decodeIfPresent([StoredSession].self, forKey: .open) ?? []
            updates = try container.decodeIfPresent([StoredSession].self, forKey: .updates) ?? []
            crashed = try container.decodeIfPresent([StoredSession].self, forKey: .crashed) ?? []
        }
    }

    /// A session update as kept in the vault.
    struct StoredSession: Codable, Hashable {
        var id: String
        var started: Date
        var timestamp: Date
        var status: String
        var isInitial: Bool
        var errors: Int
        var release: String?
        var environment: String?
        var deviceID: String?
        /// The process's memory cgroup and its counters at the session's start: on the open
        /// session only, so a launch that finds it vanished can tell an OOM kill (nil in updates,
        /// and in sessions kept by earlier versions).
        var cgroup: MemoryCgroup?
        /// The process's pid and boot id: on the open session only, so a launch that finds it
        /// vanished can look for its core among systemd-coredump's (nil in updates, and in
        /// sessions kept by earlier versions).
        var process: CoreDump.Process?
        /// Why an `abnormal` session ended, as far as the next launch could tell (see
        /// ``CrashReporter/VanishedReason``); nil for other statuses.
        var reason: String?
    }

    static func loadLaunchState(_ vault: Vault) throws -> LaunchState {
        var state = LaunchState(consecutive: 0)
        try vault.forEachRecord(in: stateCollection) { record in
            if let decoded = try? JSONDecoder().decode(LaunchState.self, from: Data(record.data)) { state = decoded }
        }
        return state
    }

    func saveLaunchState(_ consecutive: Int) throws {
        try updateState { $0.consecutive = consecutive }
    }

    /// Loads, changes and saves the persisted state, serialised within the process.
    func updateState(_ change: (inout LaunchState) -> Void) throws {
        try persistedStateLock.withLock { _ in
            var state = try Self.loadLaunchState(vault)
            change(&state)
            try saveState(state)
        }
    }

    static func loadSessions(_ vault: Vault) throws -> SessionState {
        var sessions = SessionState()
        try vault.forEachRecord(in: sessionsCollection) { record in
            if let decoded = try? JSONDecoder().decode(SessionState.self, from: Data(record.data)) {
                sessions = decoded
            }
        }
        return sessions
    }

    /// Loads, changes and saves the sessions, serialised within the process; only while crash
    /// reporting is granted (otherwise nothing is read or written).
    func updateSessions(_ change: (inout SessionState) -> Void) throws {
        try persistedStateLock.withLock { _ in
            guard consent.ledger.consentState(for: .crashReporting) == .granted else { return }
            var sessions = try Self.loadSessions(vault)
            change(&sessions)
            try saveSessions(sessions)
        }
    }

    /// The most unsent session updates (and crashed sessions) kept: the newest. Without a
    /// send they would pile up at every launch, and the record holding them is rewritten at
    /// every start: start would grow with history.
    static let maximumUnsentSessions = 64

    func saveSessions(_ sessions: SessionState) throws {
        var sessions = sessions
        let limit = Self.maximumUnsentSessions
        if sessions.updates.count > limit { sessions.updates.removeFirst(sessions.updates.count - limit) }
        if sessions.crashed.count > limit { sessions.crashed.removeFirst(sessions.crashed.count - limit) }
        var old: [RecordID] = []
        try vault.forEachRecord(in: Self.sessionsCollection) { old.append($0.id) }
        let id = try vault.append(
            Array(try JSONEncoder().encode(sessions)), to: Self.sessionsCollection,
            category: .crashDiagnostics, purpose: .crashReporting)
        for id in old { try vault.remove(id, from: Self.sessionsCollection) }
        // A withdrawal may have purged the purpose between the check and the append (the ledger
        // publishes the denial first, then purges): then this record goes too.
        if consent.ledger.consentState(for: .crashReporting) != .granted {
            _ = try vault.remove(id, from: Self.sessionsCollection)
        }
        try vault.commit(collections: [Self.sessionsCollection])
    }

    func saveState(_ state: LaunchState) throws {
        var old: [RecordID] = []
        try vault.forEachRecord(in: Self.stateCollection) { old.append($0.id) }
        try vault.append(
            Array(try JSONEncoder().encode(state)), to: Self.stateCollection,
            category: .crashDiagnostics, purpose: .privacyCompliance)
        for id in old { try vault.remove(id, from: Self.stateCollection) }
        try vault.commit(collections: [Self.stateCollection])
    }
}
