import Foundation
public import StewardCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The app's run-time permissions: ask with a reason, remember the answer, let the user take
/// it back, and never grant what the manifest, the age gate or the operating system forbids.
///
/// - Only permissions the manifest declares exist: any other is restricted, and
///   ``request(_:rationale:)`` throws an error showing the manifest entry to add.
/// - The user answers through the host's ``PermissionPrompter``: allow, allow once (this
///   process only), deny (the app may ask again, with its rationale; a second denial is final)
///   or deny always. ``PermissionHistory`` is the state machine.
/// - Decisions are kept in the vault (collection `steward.permissions`) and survive restarts;
///   every decision stays in the history, for export.
/// - The operating system's answer (``PermissionProbing``) wins: a permission it would refuse
///   is restricted with its reason, and is not asked for. Checks run once after the gate opens
///   (on a thread of their own, or at the first read if it comes sooner), on each request, and
///   on ``refresh()``. A probe must not read this gate: the first check holds its lock.
/// - While the user is below the minimum age and no guardian has consented, the age gate
///   restricts precise location and every permission that serves only purposes needing consent.
/// - ``status(of:)`` and ``isGranted(_:)`` read memory only: no disk, no actor hop (a read
///   that comes before the first check has finished waits for it).
///
/// ```swift
/// let gate = try PermissionGate(manifest: manifest, vault: vault, prompter: TerminalPrompter())
/// if try await gate.request(.camera).allowsAccess { openCamera() }
/// try gate.require(.deviceIdentity)        // throws a PermissionError saying why and how
/// for await change in gate.changes() { print(change.permission, change.status) }
/// ```
public final class PermissionGate: PermissionChecking, Sendable {
    /// The vault collection decisions are kept in.
    public static let collection = "steward.permissions"

    /// An identifier of this process, kept with each decision so an allow-once answer holds
    /// in the process that gave it and in no later one.
    public static let processSession: String = {
        guard let bytes = try? SecureRandom.bytes(count: 16) else {
            return "pid-\(getpid())-\(Date().timeIntervalSince1970)"
        }
        return Hex.encode(bytes)
    }()

    /// The manifest whose permissions the gate knows.
    public let manifest: PrivacyManifest
    private let vault: Vault
    private let probe: any PermissionProbing
    private let prompter: any PermissionPrompter
    private let consent: ConsentLedger?
    private let clock: any WallClock
    private let session: String
    private let state: Mutex<State>
    private let promptLine = PromptLine()
    /// Serialises decisions: stored in the order they take effect, without holding `state`
    /// (which readers take) during the vault's fsync.
    private let writeLock = Mutex(())
    private let consentObserver = Mutex<UUID?>(nil)
    /// Whether the operating system was checked for every declared permission: by a thread
    /// the gate starts when it opens, or by the first read if it comes sooner; not inside
    /// `init` (the probe reads device nodes and folders, and was a tenth of a fresh process's
    /// `Steward.start`).
    private let probed = Atomic<Bool>(false)
    /// Held while the first check runs.
    private let probeLock = Mutex(())
    /// The age gate's rules, fixed at opening: read without a lock.
    private let minorRules: [Permission: MinorRule]

    /// When the age gate withholds a permission from a minor.
    private struct MinorRule: Sendable {
        /// The status while it applies.
        var restricted: PermissionStatus
        /// Purposes whose consent lifts it; empty: it applies to every minor.
        var unlessGranted: [ConsentLedger.ConsentHandle]
    }

    private struct Entry {
        var history = PermissionHistory()
        var system: SystemAccess = .available(detail: "not checked yet")
        /// Whether the age gate withholds it from a minor.
        var minorRule: MinorRule?
        /// History and system combined; the age gate is applied on reading.
        var status: PermissionStatus = .notDetermined
        /// The effective status last published to observers.
        var published: PermissionStatus = .notDetermined
    }

    private struct State {
        var entries: [Permission: Entry] = [:]
        /// What ``status(of:)`` reads: history and system combined, so a read copies one
        /// small enum and nothing else.
        var hot: [Permission: PermissionStatus] = [:]
        var streams: [UUID: AsyncStream<PermissionChange>.Continuation] = [:]
        /// Whether the first check applied (with `published` set from it), under the same lock
        /// an age-signal change reads it.
        var probed = false

        init(entries: [Permission: Entry]) {
            for (permission, entry) in entries { store(entry, for: permission) }
        }

        mutating func store(_ entry: Entry, for permission: Permission) {
            entries[permission] = entry
            hot[permission] = entry.status
        }
    }

    /// Opens the gate over the decisions kept in `vault`.
    ///
    /// - Parameters:
    ///   - manifest: A valid manifest; its `permissions` are the ones that exist.
    ///   - vault: Where decisions are kept.
    ///   - prompter: Asks the user.
    ///   - probe: Checks what the operating system allows (default: ``LinuxPermissionProbe``).
    ///   - consent: The consent ledger, for the age gate; nil when the host has none.
    ///   - clock: For decision dates.
    ///   - session: The process identity allow-once answers are bound to; tests pass another
    ///     value to act as a new process.
    /// - Throws: `ManifestError` when `manifest` is not `consent`'s and does not validate;
    ///   what the vault throws when the decisions cannot be read.
    public init(
        manifest: PrivacyManifest, vault: Vault, prompter: any PermissionPrompter,
        probe: any PermissionProbing = LinuxPermissionProbe(), consent: ConsentLedger? = nil,
        clock: any WallClock = SystemWallClock(), session: String = PermissionGate.processSession
    ) throws {
        try manifest.checkForUse(with: consent)
        self.manifest = manifest
        self.vault = vault
        self.prompter = prompter
        self.probe = probe
        self.consent = consent
        self.clock = clock
        self.session = session

        var decisions: [Permission: [PermissionDecision]] = [:]
        let decoder = JSONDecoder()
        try vault.forEachRecord(in: Self.collection) { record in
            // A record this version cannot read is skipped: the vault already authenticated
            // it, so it comes from a newer Steward; the history replays without it.
            guard let decision = try? decoder.decode(PermissionDecision.self, from: Data(record.data)) else { return }
            decisions[decision.permission, default: []].append(decision)
        }
        var entries: [Permission: Entry] = [:]
        for declaration in manifest.permissions {
            var entry = Entry()
            entry.history = PermissionHistory(replaying: decisions[declaration.permission] ?? [], session: session)
            entry.minorRule = consent.flatMap { Self.minorRule(declaration, manifest, $0) }
            // The system is checked after opening (ensureProbed, from the thread started below).
            entries[declaration.permission] = entry
        }
        self.minorRules = entries.compactMapValues(\.minorRule)
        self.state = Mutex(State(entries: entries))
        if let consent {
            // Statuses read the age signal and consent directly; the observer only tells this
            // gate's observers when a consent change lifted or imposed an age-gate restriction.
            let token = consent.addObserver { [weak self] _ in self?.ageSignalDidChange() }
            consentObserver.withLock { $0 = token }
        }
        // The first check of the operating system, off the opener's path (a read that comes
        // sooner does it itself, and this thread then finds it done).
        StewardThread.start(name: "steward-permissions") { [weak self] in self?.ensureProbed() }
    }

    deinit {
        if let token = consentObserver.withLock({ $0 }) { consent?.removeObserver(token) }
        for stream in state.withLock({ Array($0.streams.values) }) { stream.finish() }
    }

    // MARK: - Reading (memory only)

    /// The status of `permission` now: memory only, no disk, no actor hop (before the first
    /// check of the operating system has finished, it waits for it).
    ///
    /// An undeclared permission is restricted by the manifest. The operating system's last
    /// check (see ``refresh()``) and the age gate are applied over the user's decisions.
    public func status(of permission: Permission) -> PermissionStatus {
        ensureProbed()
        guard let status = state.withLock({ $0.hot[permission] }) else {
            return .restricted(PermissionRestriction(.manifest, reason: Self.undeclaredReason(permission)))
        }
        // The age gate costs one atomic load for an adult.
        guard let consent, consent.isMinor else { return status }
        return Self.effective(status, minorRules[permission], consent)
    }

    /// Whether `permission` may be used now (granted, or limited by the operating system).
    public func isGranted(_ permission: Permission) -> Bool { status(of: permission).allowsAccess }

    /// Whether the app should explain why it needs `permission` before asking again: true
    /// after one denial, false once it is decided for good.
    public func shouldShowRationale(for permission: Permission) -> Bool { status(of: permission) == .denied }

    /// The manifest's rationale for `permission`, nil when undeclared.
    public func rationale(for permission: Permission) -> String? { manifest.declaration(of: permission)?.rationale }

    /// Every declared permission's status, in manifest order.
    public var statuses: [(permission: Permission, status: PermissionStatus)] {
        manifest.permissions.map { ($0.permission, status(of: $0.permission)) }
    }

    /// What the operating system allowed at the last check of `permission`; nil when undeclared.
    public func systemAccess(for permission: Permission) -> SystemAccess? {
        ensureProbed()
        return state.withLock { $0.entries[permission]?.system }
    }

    /// Every decision kept for `permission` (nil: for all), oldest first.
    public func decisions(for permission: Permission? = nil) throws -> [PermissionDecision] {
        let decoder = JSONDecoder()
        var result: [PermissionDecision] = []
        try vault.forEachRecord(in: Self.collection) { record in
            guard let decision = try? decoder.decode(PermissionDecision.self, from: Data(record.data)) else { return }
            if permission == nil || decision.permission == permission { result.append(decision) }
        }
        return result
    }

    // MARK: - Asking

    /// Asks the user for `permission` unless the answer is already known.
    ///
    /// Nothing is asked when the permission is granted, limited, permanently denied or
    /// restricted (the operating system is checked again first): the status is returned as it
    /// is. Otherwise the prompter asks, with `rationale` (default: the manifest's) and
    /// ``PermissionPrompt/showRationale`` set after a denial; the answer is stored in the vault
    /// before it takes effect. Prompts are shown one at a time; a request that waited while
    /// another settled the same permission returns that answer without asking again.
    ///
    /// - Returns: The status after the answer.
    /// - Throws: ``PermissionError`` with code `undeclared` (the message shows the manifest
    ///   entry to add) or `storageFailed`; whatever the prompter throws (nothing is recorded);
    ///   `CancellationError` when cancelled while waiting for another prompt.
    @discardableResult
    public func request(_ permission: Permission, rationale: String? = nil) async throws -> PermissionStatus {
        guard let declaration = manifest.declaration(of: permission) else {
            // Restricted by the manifest whatever the system says: nothing to wait for here.
            throw PermissionError(
                .undeclared, Self.undeclaredReason(permission), permission: permission,
                status: .restricted(PermissionRestriction(.manifest, reason: Self.undeclaredReason(permission))))
        }
        // The first check reads files: off the concurrency pool, as the recheck below.
        if !probed.load(ordering: .acquiring) { await Self.offPool { self.ensureProbed() } }
        let seen = state.withLock { $0.entries[permission]?.history.count ?? 0 }
        guard await promptLine.enter() else { throw CancellationError() }
        defer { promptLine.leave() }
        // The probe reads files and may look up user and group names (NSS: LDAP, SSSD):
        // not on the concurrency pool.
        await Self.offPool { self.recheckSystem([permission], cause: .system) }
        let (current, decidedMeanwhile) = state.withLock { s in
            (
                s.entries[permission].map(effective) ?? .notDetermined,
                (s.entries[permission]?.history.count ?? 0) != seen
            )
        }
        switch current {
        case .notDetermined, .denied:
            if decidedMeanwhile { return current }
        default:
            return current
        }
        let text = rationale ?? declaration.rationale
        let prompt = PermissionPrompt(
            permission: permission, rationale: text,
            purposes: declaration.purposes.compactMap { manifest.declaration(of: $0) },
            showRationale: current == .denied)
        let answer = try await prompter.prompt(prompt)
        // Recorded even if the task was cancelled meanwhile: the user answered, and asking
        // again would be wrong. The vault's fsync runs off the concurrency pool.
        return try await Self.offPool {
            Result {
                try self.record(
                    PermissionDecision.Kind(answer), for: permission, rationale: text, cause: .answer(answer))
            }
        }.get()
    }

    /// Takes back the user's grant of `permission`: it becomes denied (one denial; the app may
    /// ask again with its rationale, and a further denial is final). A permanent denial stays.
    ///
    /// - Returns: The status afterwards.
    /// - Throws: ``PermissionError`` (`undeclared`, `storageFailed`).
    @discardableResult
    public func revoke(_ permission: Permission) throws -> PermissionStatus {
        try requireDeclared(permission)
        ensureProbed()
        return try record(.revoke, for: permission, rationale: nil, cause: .revoked)
    }

    /// Forgets the user's decisions about `permission` — the way out of a permanent denial,
    /// for the app's settings screen: the next request asks again. The history stays in the
    /// vault for the record.
    ///
    /// - Returns: The status afterwards.
    /// - Throws: ``PermissionError`` (`undeclared`, `storageFailed`).
    @discardableResult
    public func reset(_ permission: Permission) throws -> PermissionStatus {
        try requireDeclared(permission)
        ensureProbed()
        return try record(.reset, for: permission, rationale: nil, cause: .reset)
    }

    /// Returns if `permission` may be used now; otherwise throws an error that says which
    /// permission, why the app needs it (the manifest's rationale and purposes) and how it can
    /// be granted.
    ///
    /// - Throws: ``PermissionError`` with code `notGranted` (or `undeclared`).
    public func require(_ permission: Permission) throws {
        let current = status(of: permission)
        if current.allowsAccess { return }
        guard let declaration = manifest.declaration(of: permission) else {
            throw PermissionError(
                .undeclared, Self.undeclaredReason(permission), permission: permission, status: current)
        }
        let why =
            "the app needs it because: \(declaration.rationale) (purposes: \(declaration.purposes.map(\.rawValue).joined(separator: ", ")))"
        let how: String
        switch current {
        case .notDetermined:
            how =
                "it has not been asked for yet: call request(.\(permission)) so the user can allow it (CLI: steward permissions request \(permission))"
        case .denied:
            how =
                "the user denied it once: explain why and request it again (shouldShowRationale is true); a second denial is final"
        case .permanentlyDenied:
            how =
                "the user denied it for good, so the app cannot ask again: only the user can turn it back on in the app's settings (reset(.\(permission)), CLI: steward permissions reset \(permission)), then request it"
        case .restricted(let restriction):
            how = "it cannot be granted now: \(restriction.reason)"
        case .granted, .limited:
            return
        }
        throw PermissionError(
            .notGranted, "permission '\(permission)' is required but is \(current.name): \(why); \(how)",
            permission: permission, status: current)
    }

    /// Checks again what the operating system allows for every declared permission (after a
    /// device was plugged in, a group membership changed, a folder was created) and tells
    /// observers of each status that changed.
    public func refresh() {
        ensureProbed()
        recheckSystem(manifest.permissions.map(\.permission), cause: .system)
    }

    // MARK: - Observing

    /// A stream of status changes from now on: answers, revocations, resets, operating-system
    /// changes found by ``refresh()`` or a request, and age-gate changes. It ends when the task
    /// iterating it is cancelled or the gate is released; slow readers keep the newest 1,024.
    public func changes() -> AsyncStream<PermissionChange> {
        // What observers hear is measured from the checked statuses.
        ensureProbed()
        let (stream, continuation) = AsyncStream<PermissionChange>.makeStream(bufferingPolicy: .bufferingNewest(1_024))
        let id = UUID()
        state.withLock { $0.streams[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.streams.removeValue(forKey: id) }
        }
        return stream
    }

    /// Tells observers about permissions whose age-gate restriction changed. The host (or the
    /// facade) calls it after changing the age signal; statuses themselves read the signal
    /// directly and are never stale.
    public func ageSignalDidChange() {
        // Before the first check nobody was told a status: the check publishes none and
        // reads the age signal as it is then.
        let permissions = manifest.permissions.map(\.permission)
        publish(
            state.withLock { s in
                guard s.probed else { return [] }
                return collectChanges(&s, permissions, cause: .ageGate)
            })
    }

    // MARK: - Private

    /// Checks the operating system for every declared permission, once, before the first read
    /// (one atomic load after that). Call it at the start of every entry point that reads or
    /// changes a status, never under `writeLock` or `state`.
    @inline(__always)
    private func ensureProbed() {
        if probed.load(ordering: .acquiring) { return }
        firstProbe()
    }

    private func firstProbe() {
        probeLock.withLock { _ in
            guard !probed.load(ordering: .acquiring) else { return }
            var results: [(Permission, SystemAccess)] = []
            for declaration in manifest.permissions {
                results.append((declaration.permission, probe.check(declaration.permission)))
            }
            state.withLock { s in
                for (permission, access) in results {
                    guard var entry = s.entries[permission] else { continue }
                    entry.system = access
                    entry.status = Self.combine(entry.history.status, access)
                    entry.published = effective(entry)
                    s.store(entry, for: permission)
                }
                s.probed = true
            }
            probed.store(true, ordering: .releasing)
        }
    }

    private func requireDeclared(_ permission: Permission) throws {
        guard manifest.declaration(of: permission) != nil else {
            throw PermissionError(
                .undeclared, Self.undeclaredReason(permission), permission: permission, status: status(of: permission))
        }
    }

    private func record(
        _ kind: PermissionDecision.Kind, for permission: Permission, rationale: String?, cause: PermissionChange.Cause
    ) throws -> PermissionStatus {
        let decision = PermissionDecision(
            permission: permission, kind: kind, date: clock.checkedNow, session: session,
            policyVersion: manifest.policyVersion, rationale: rationale)
        let changes: [PermissionChange] = try writeLock.withLock { _ in
            guard state.withLock({ $0.entries[permission] }) != nil else { return [] }
            do {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys]
                let id = try vault.append(
                    Array(try encoder.encode(decision)), to: Self.collection,
                    category: .permissionDecisions, purpose: .privacyCompliance)
                do {
                    try vault.commit(collections: [Self.collection])
                } catch {
                    // Not durable, so not made. A failed commit may already have written the
                    // record, so its removal is committed at once; if that fails too, a
                    // restart could still find the decision, and the error says so.
                    _ = try? vault.remove(id, from: Self.collection)
                    let removed = (try? vault.commit(collections: [Self.collection])) != nil
                    throw StoreFailure(underlying: error, removalConfirmed: removed)
                }
            } catch let failure as StoreFailure {
                let after =
                    failure.removalConfirmed
                    ? ""
                    : "; the vault could not confirm its removal either, so it may still take effect after a restart"
                throw PermissionError(
                    .storageFailed,
                    "the decision '\(kind.rawValue)' about '\(permission)' could not be stored, so it was not made: \(failure.underlying)\(after)",
                    permission: permission, status: status(of: permission))
            } catch {
                throw PermissionError(
                    .storageFailed,
                    "the decision '\(kind.rawValue)' about '\(permission)' could not be stored, so it was not made: \(error)",
                    permission: permission, status: status(of: permission))
            }
            let changes = state.withLock { s in
                guard var entry = s.entries[permission] else { return [PermissionChange]() }
                entry.history.apply(decision, session: session)
                entry.status = Self.combine(entry.history.status, entry.system)
                s.store(entry, for: permission)
                return collectChanges(&s, [permission], cause: cause)
            }
            // Still serialised, so observers hear of decisions in the order they were made.
            publish(changes)
            return changes
        }
        _ = changes
        return status(of: permission)
    }

    private func recheckSystem(_ permissions: [Permission], cause: PermissionChange.Cause) {
        // Probe outside the lock: it reads files.
        var results: [(Permission, SystemAccess)] = []
        for permission in permissions where manifest.declaration(of: permission) != nil {
            results.append((permission, probe.check(permission)))
        }
        // Under `writeLock`, so its events cannot interleave with a decision's.
        writeLock.withLock { _ in
            let changes = state.withLock { s in
                for (permission, access) in results {
                    guard var entry = s.entries[permission] else { continue }
                    entry.system = access
                    entry.status = Self.combine(entry.history.status, access)
                    s.store(entry, for: permission)
                }
                return collectChanges(&s, permissions, cause: cause)
            }
            publish(changes)
        }
    }

    private func publishChanges(of permissions: [Permission], cause: PermissionChange.Cause) {
        publish(state.withLock { collectChanges(&$0, permissions, cause: cause) })
    }

    private func collectChanges(_ s: inout State, _ permissions: [Permission], cause: PermissionChange.Cause)
        -> [PermissionChange]
    {
        var changes: [PermissionChange] = []
        for permission in permissions {
            guard var entry = s.entries[permission] else { continue }
            let now = effective(entry)
            // A reason whose figures moved (free space) is the same status to observers;
            // status(of:) has the new text.
            if !Self.sameKind(now, entry.published) {
                changes.append(
                    PermissionChange(permission: permission, previous: entry.published, status: now, cause: cause))
                entry.published = now
                s.entries[permission] = entry
            }
        }
        return changes
    }

    private func publish(_ changes: [PermissionChange]) {
        guard !changes.isEmpty else { return }
        let streams = state.withLock { Array($0.streams.values) }
        for stream in streams { for change in changes { stream.yield(change) } }
    }

    private func effective(_ entry: Entry) -> PermissionStatus {
        Self.effective(entry.status, entry.minorRule, consent)
    }

    /// `status` with the age gate applied: a rule applies to a minor unless one of its
    /// purposes is granted (by a guardian: a minor cannot grant).
    @inline(__always)
    private static func effective(_ status: PermissionStatus, _ rule: MinorRule?, _ consent: ConsentLedger?)
        -> PermissionStatus
    {
        guard let rule, let consent, consent.isMinor else { return status }
        for handle in rule.unlessGranted where consent.isGranted(handle) { return status }
        return rule.restricted
    }

    private static func sameKind(_ a: PermissionStatus, _ b: PermissionStatus) -> Bool {
        switch (a, b) {
        case (.restricted(let x), .restricted(let y)): x.source == y.source
        case (.limited, .limited): true
        default: a == b
        }
    }

    /// Runs blocking work (file reads, name lookups, fsync) on a thread of its own.
    private static func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            StewardThread.start(name: "steward-permissions") { continuation.resume(returning: body()) }
        }
    }

    private static func combine(_ user: PermissionStatus, _ system: SystemAccess) -> PermissionStatus {
        switch system {
        case .unavailable(let reason):
            return .restricted(PermissionRestriction(.operatingSystem, reason: reason))
        case .limited(let scope):
            return user == .granted ? .limited(scope: scope) : user
        case .available:
            return user
        }
    }

    /// When the age gate withholds `declaration` from a minor, or nil when it does not.
    ///
    /// - Precise location: from every minor, guardian or not (a child's precise location is
    ///   off; see the UK Age Appropriate Design Code, standard 10, and COPPA's treatment of
    ///   geolocation). Coarse location stays available.
    /// - A permission that serves only purposes needing consent: until a guardian consents to
    ///   one of them (below the minimum age, only a guardian can).
    private static func minorRule(
        _ declaration: PermissionDeclaration, _ manifest: PrivacyManifest, _ consent: ConsentLedger
    ) -> MinorRule? {
        if declaration.permission == .locationPrecise {
            let reason =
                "the user is below the minimum age: Steward keeps a child's precise location off (coarse location remains available)"
            return MinorRule(
                restricted: .restricted(PermissionRestriction(.ageGate, reason: reason)), unlessGranted: [])
        }
        let needsConsent = declaration.purposes.allSatisfy { manifest.declaration(of: $0)?.requiresConsent ?? true }
        guard needsConsent, !declaration.purposes.isEmpty else { return nil }
        let purposes = declaration.purposes.map(\.rawValue).joined(separator: " or ")
        let reason =
            "the user is below the minimum age and no guardian has consented to \(purposes), the purposes '\(declaration.permission)' serves; a guardian must consent first (CLI: steward consent grant --by guardian \(declaration.purposes[0]))"
        return MinorRule(
            restricted: .restricted(PermissionRestriction(.ageGate, reason: reason)),
            unlessGranted: declaration.purposes.compactMap { consent.handle(for: $0) })
    }

    private static func undeclaredReason(_ permission: Permission) -> String {
        """
        permission '\(permission)' is not declared in the privacy manifest, so it cannot be asked for or granted; \
        to use it, add to the manifest's "permissions": {"permission": "\(permission)", "rationale": "<why the app needs it, shown to the user>", "purposes": ["<a declared purpose>"]}
        """
    }
}

/// A commit that failed, and whether the record's removal was then made durable.
private struct StoreFailure: Error {
    var underlying: any Error
    var removalConfirmed: Bool
}
