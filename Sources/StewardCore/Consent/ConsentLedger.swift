public import Foundation
public import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The user's consent, per purpose of the manifest: pending, granted or denied.
///
/// - Purposes whose legal basis is not consent are always granted and cannot be denied.
/// - A new policy version (the manifest's `policyVersion` differs from the last receipt's)
///   sets every consent-based purpose back to pending.
/// - Every change is a ``ConsentReceipt`` kept in the vault, hash-chained, exportable.
/// - Denying a purpose purges the data the vault holds for it.
/// - The age gate denies every consent-based purpose for a user below the minimum age until
///   a guardian consents.
/// - Reading a purpose's state is one atomic load (``isGranted(_:)-(ConsentLedger.ConsentHandle)``), no lock,
///   no actor hop: safe on any hot path.
///
/// ```swift
/// let consent = try ConsentLedger(manifest: manifest, vault: vault, jurisdiction: .eu)
/// try consent.grant([.analytics])
/// let analytics = consent.handle(for: .analytics)!
/// if consent.isGranted(analytics) { /* record */ }
/// for await change in consent.changes() { print(change.purpose, change.state) }
/// ```
public final class ConsentLedger: ConsentChecking, Sendable {
    /// The vault collection receipts are kept in.
    public static let collection = "steward.consent"

    /// The manifest whose purposes the ledger tracks.
    public let manifest: PrivacyManifest
    /// The age thresholds in force.
    public let ageGate: AgeGate
    private let vault: Vault
    private let clock: any WallClock
    private let bits: [Purpose: UInt64]
    // Hot-path state: one bit per purpose. Written only under `state`'s lock; read lock-free.
    private let grantedMask = Atomic<UInt64>(0)
    @usableFromInline let deniedMask = Atomic<UInt64>(0)
    /// The age signal as a number (see `publishMasks`), for lock-free reads.
    private let ageSignalCode = Atomic<UInt8>(0)
    private let state: Mutex<State>
    /// Serialises whole changes — receipt, state, masks, purge, observers — so observers see
    /// changes in the order they were made and a purge never overtakes a later grant.
    private let changeLock = Mutex(())
    /// The thread that holds `changeLock`, so a change made from inside an observer is refused
    /// with an error instead of trapping on the lock.
    private let changeOwner = Atomic<UInt>(0)

    private struct State {
        var states: [Purpose: ConsentState] = [:]
        var lastHash = ConsentReceipt.genesisHash
        var nextSequence = 0
        var jurisdiction: Jurisdiction?
        var ageSignal: AgeSignal = .unknown
        var integrity: ReceiptChainCheck = .valid(count: 0)
        var streams: [UUID: AsyncStream<ConsentChange>.Continuation] = [:]
        var observers: [UUID: @Sendable ([ConsentChange]) -> Void] = [:]
    }

    /// A stored receipt: Steward's own parser for the form the ledger writes, `JSONDecoder`
    /// for anything else.
    static func decodeReceipt(_ bytes: [UInt8]) -> ConsentReceipt? {
        ConsentReceipt.decodeStored(bytes) ?? (try? JSONDecoder().decode(ConsentReceipt.self, from: Data(bytes)))
    }

    /// Opens the ledger kept in `vault` for `manifest`.
    ///
    /// On first use every consent-based purpose is pending and every other purpose granted, and
    /// a receipt says so. On later starts the receipts are replayed; if their chain is broken
    /// (a receipt lost to disk damage), consent-based purposes go back to pending — the safe
    /// side — and ``integrity`` says where the chain broke.
    ///
    /// - Parameters:
    ///   - manifest: A valid manifest (see ``PrivacyManifest/validate(now:)``).
    ///   - vault: Where receipts are kept.
    ///   - jurisdiction: The user's jurisdiction when the host knows it; kept with the receipts.
    ///   - clock: For receipt timestamps.
    public init(
        manifest: PrivacyManifest, vault: Vault, jurisdiction: Jurisdiction? = nil,
        clock: any WallClock = SystemWallClock()
    ) throws {
        guard manifest.purposes.count <= PrivacyManifest.maximumPurposeCount else {
            throw ConsentError(
                .invalidManifest,
                "the manifest declares \(manifest.purposes.count) purposes; the ledger tracks at most \(PrivacyManifest.maximumPurposeCount)"
            )
        }
        // Every path to consent goes through validation: a manifest built in Swift is checked
        // here as `decode(json:)` checks one read from JSON. Its meaning, not the calendar: an
        // event that expired while the app runs must not stop consent (nor an erase, which opens
        // a new ledger); `Steward.start` and telemetry refuse expired events themselves.
        let problems = manifest.validate(now: .distantPast)
        guard problems.isEmpty else {
            throw ConsentError(
                .invalidManifest,
                "the manifest is not valid: " + problems.map { "\($0.path): \($0.message)" }.joined(separator: "; "))
        }
        self.manifest = manifest
        self.ageGate = AgeGate(manifest: manifest)
        self.vault = vault
        self.clock = clock
        var bits: [Purpose: UInt64] = [:]
        for (index, declaration) in manifest.purposes.prefix(64).enumerated() {
            bits[declaration.id] = 1 << UInt64(index)
        }
        self.bits = bits
        self.state = Mutex(State())

        // Replay the receipts.
        var receipts: [ConsentReceipt] = []
        // Where unreadable records sit: after how many readable receipts.
        var undecodableAfter: [Int] = []
        try vault.forEachRecord(in: Self.collection) { record in
            if let receipt = Self.decodeReceipt(record.data) {
                receipts.append(receipt)
            } else {
                undecodableAfter.append(receipts.count)
            }
        }
        // Only the current chain counts: after damage the ledger starts a new chain, and the old
        // receipts stay for the record (an export shows where the history broke). Unreadable
        // records before the current chain belong to the old history.
        let current = ConsentReceipt.currentChain(receipts)
        let currentStart = receipts.count - current.count
        let unreadable = undecodableAfter.filter { $0 > currentStart || (currentStart == 0 && $0 == 0) }.count
        let check =
            unreadable > 0
            ? .broken(at: receipts.count, reason: "\(unreadable) receipt(s) could not be read")
            : ConsentReceipt.verifyChain(current)
        // The age signal and jurisdiction come from every readable receipt, even across a break:
        // forgetting that the user is a child would be the unsafe side.
        var age = AgeSignal.unknown
        var storedJurisdiction: Jurisdiction?
        for receipt in receipts {
            age = receipt.ageSignal
            storedJurisdiction = receipt.jurisdiction ?? storedJurisdiction
        }
        receipts = check.isValid ? current : []
        var replayed: [Purpose: ConsentState] = [:]
        for receipt in receipts {
            for p in receipt.purposes { replayed[p.purpose] = p.state }
        }
        let lastPolicy = receipts.last?.policyVersion
        try state.withLock { s in
            s.integrity = check
            // A broken chain is not continued: the reset receipt below starts a new one.
            s.lastHash = receipts.last?.hash ?? ConsentReceipt.genesisHash
            s.nextSequence = receipts.count
            s.ageSignal = age
            s.jurisdiction = jurisdiction ?? storedJurisdiction
            var reason: String?
            if !check.isValid, case .broken(let index, let why) = check {
                reason =
                    "the receipt chain was broken at receipt \(index) (\(why)); a new chain starts here and consent is asked again"
            } else if receipts.isEmpty {
                reason = "first start: purposes that need consent are pending"
            } else if lastPolicy != manifest.policyVersion {
                reason =
                    "new policy version \(manifest.policyVersion) (was \(lastPolicy ?? "none")); consent is asked again"
            }
            var entries: [ReceiptPurpose] = []
            for declaration in manifest.purposes {
                let before = replayed[declaration.id] ?? .pending
                let after: ConsentState
                if !declaration.requiresConsent {
                    after = .granted
                } else if reason != nil {
                    // A child's purposes stay denied under a new policy: asking again is for
                    // the guardian, and nothing may be collected or held meanwhile.
                    after = s.ageSignal == .below ? .denied : .pending
                } else {
                    after = before
                }
                s.states[declaration.id] = after
                if reason != nil || before != after || replayed[declaration.id] == nil {
                    entries.append(
                        ReceiptPurpose(
                            purpose: declaration.id, legalBasis: declaration.legalBasis, previous: before, state: after)
                    )
                }
            }
            publishMasks(s.states, age: s.ageSignal)
            if !entries.isEmpty {
                _ = try appendReceipt(
                    &s, actor: .systemDefault, purposes: entries, reason: reason ?? "the manifest declares new purposes"
                )
            }
            s.integrity = check.isValid ? .valid(count: s.nextSequence) : check
        }
    }

    // MARK: - Reading (hot path)

    /// A precomputed reference to one purpose, for checks that cost one atomic load.
    public struct ConsentHandle: Hashable, Sendable {
        @usableFromInline let bit: UInt64
    }

    /// The handle of `purpose`, or nil when the manifest does not declare it.
    public func handle(for purpose: Purpose) -> ConsentHandle? {
        bits[purpose].map(ConsentHandle.init(bit:))
    }

    /// Whether the purpose behind `handle` is granted: one atomic load and a bit test.
    @inline(__always)
    public func isGranted(_ handle: ConsentHandle) -> Bool {
        grantedMask.load(ordering: .acquiring) & handle.bit != 0
    }

    /// Whether the purpose behind `handle` is denied: one atomic load and a bit test.
    @inlinable
    public func isDenied(_ handle: ConsentHandle) -> Bool {
        deniedMask.load(ordering: .acquiring) & handle.bit != 0
    }

    /// Whether `purpose` is granted. An undeclared purpose never is. Costs a dictionary lookup
    /// more than the handle form.
    public func isGranted(_ purpose: Purpose) -> Bool {
        guard let bit = bits[purpose] else { return false }
        return grantedMask.load(ordering: .acquiring) & bit != 0
    }

    /// The state of `purpose`; an undeclared purpose is `.denied`.
    public func consentState(for purpose: Purpose) -> ConsentState {
        guard let bit = bits[purpose] else { return .denied }
        // Grants set the granted bit before clearing the denied one and denials clear the
        // granted bit before setting the denied one, so a reader between the two stores sees
        // granted or pending, never a state that was not allowed.
        if grantedMask.load(ordering: .acquiring) & bit != 0 { return .granted }
        return deniedMask.load(ordering: .acquiring) & bit != 0 ? .denied : .pending
    }

    /// Every declared purpose's state.
    public var states: [Purpose: ConsentState] { state.withLock { $0.states } }
    /// The user's jurisdiction, when known.
    public var jurisdiction: Jurisdiction? { state.withLock { $0.jurisdiction } }
    /// The age signal in force.
    public var ageSignal: AgeSignal { state.withLock { $0.ageSignal } }
    /// Whether the user is below the minimum age and no guardian has consented (the age
    /// signal is ``AgeSignal/below``): one atomic load, for hot paths such as permission checks.
    public var isBelowMinimumAge: Bool { ageSignalCode.load(ordering: .acquiring) == Self.code(of: .below) }
    /// Whether the user is known to be below the minimum age, with or without a guardian's
    /// consent (the age signal is ``AgeSignal/below`` or ``AgeSignal/guardianConsent``): one
    /// atomic load.
    public var isMinor: Bool {
        let code = ageSignalCode.load(ordering: .acquiring)
        return code == Self.code(of: .below) || code == Self.code(of: .guardianConsent)
    }

    private static func code(of signal: AgeSignal) -> UInt8 {
        switch signal {
        case .unknown: 0
        case .below: 1
        case .atOrAbove: 2
        case .guardianConsent: 3
        }
    }
    /// Whether the receipt chain was intact when the ledger opened.
    public var integrity: ReceiptChainCheck { state.withLock { $0.integrity } }

    // MARK: - Changing

    /// Grants `purposes`.
    ///
    /// - Parameters:
    ///   - purposes: Declared purposes. Those that do not need consent are granted already.
    ///   - actor: Who grants. While the age signal is `.below`, only `.guardian` may grant
    ///     (and the signal becomes `.guardianConsent`).
    /// - Throws: ``ConsentError`` for an undeclared purpose or a grant the age gate forbids.
    public func grant(_ purposes: [Purpose], by actor: ConsentActor = .user) throws {
        try change(purposes, to: .granted, by: actor, reason: nil)
    }

    /// Denies (withdraws) `purposes` and purges the data the vault holds for them.
    ///
    /// - Throws: ``ConsentError`` for an undeclared purpose, or for a purpose whose legal basis
    ///   is not consent (it cannot be denied; the message names its basis).
    public func deny(_ purposes: [Purpose], by actor: ConsentActor = .user) throws {
        try change(purposes, to: .denied, by: actor, reason: nil)
    }

    /// Records the user's age in years and applies the age gate for `jurisdiction` (nil: the
    /// ledger's jurisdiction).
    ///
    /// - Parameters:
    ///   - years: The age in years.
    ///   - jurisdiction: Where the user is; nil keeps the ledger's jurisdiction.
    ///   - actor: Who answers. Once the signal is `.below` (or `.guardianConsent`), only
    ///     `.guardian` may report an age at or above the minimum: a child cannot lift the gate
    ///     by answering again with an older age.
    /// - Returns: The resulting signal.
    /// - Throws: ``ConsentError`` with code `guardianRequired` when someone other than a
    ///   guardian reports an age at or above the minimum for a user known to be below it.
    @discardableResult
    public func setAge(_ years: Int, jurisdiction: Jurisdiction? = nil, by actor: ConsentActor = .user) throws
        -> AgeSignal
    {
        let where_ = jurisdiction ?? self.jurisdiction
        let signal = ageGate.signal(forAge: years, in: where_)
        try setAgeSignal(signal, jurisdiction: where_, by: actor)
        return signal
    }

    /// Applies an age signal. `.below` denies every consent-based purpose (actor `.ageGate`) and
    /// purges its data; from then on only a guardian may grant, which moves the signal to
    /// `.guardianConsent`. Reporting `.below` again while a guardian has consented keeps the
    /// guardian's choices. `.below` sticks until a guardian answers: only `.guardian` may report
    /// `.atOrAbove` for a user known to be below the age, which lifts the guardian requirement
    /// but leaves the age gate's denials in place until the user grants again.
    ///
    /// - Throws: ``ConsentError`` with code `guardianRequired` when `actor` is not `.guardian`
    ///   and the signal would go from `.below` or `.guardianConsent` to `.atOrAbove`.
    public func setAgeSignal(_ signal: AgeSignal, jurisdiction: Jurisdiction? = nil, by actor: ConsentActor = .user)
        throws
    {
        try serialized {
            var denied: [Purpose] = []
            let changes: [ConsentChange] = try state.withLock { s in
                let previous = (s.jurisdiction, s.ageSignal)
                if signal == .atOrAbove && (s.ageSignal == .below || s.ageSignal == .guardianConsent)
                    && actor != .guardian
                {
                    throw ConsentError(
                        .guardianRequired,
                        "the user was reported below the minimum age; only a guardian can report an age at or above it (answer by guardian)"
                    )
                }
                if let jurisdiction { s.jurisdiction = jurisdiction }
                // A guardian's consent is not undone by the age being reported again, and an
                // unknown age does not undo what is known about a child.
                let isMinor = s.ageSignal == .below || s.ageSignal == .guardianConsent
                let effective: AgeSignal
                if signal == .below && s.ageSignal == .guardianConsent {
                    effective = .guardianConsent
                } else if signal == .unknown && isMinor {
                    effective = s.ageSignal
                } else {
                    effective = signal
                }
                s.ageSignal = effective
                var newStates = s.states
                var entries: [ReceiptPurpose] = []
                if effective == .below {
                    for declaration in manifest.purposes
                    where declaration.requiresConsent && newStates[declaration.id] != .denied {
                        entries.append(
                            ReceiptPurpose(
                                purpose: declaration.id, legalBasis: declaration.legalBasis,
                                previous: newStates[declaration.id] ?? .pending, state: .denied))
                        newStates[declaration.id] = .denied
                        denied.append(declaration.id)
                    }
                }
                let min = ageGate.minimumAge(in: s.jurisdiction)
                let receipt: ConsentReceipt
                do {
                    receipt = try appendReceipt(
                        &s, actor: .ageGate, purposes: entries,
                        reason:
                            "age signal \(effective.rawValue) (minimum age \(min) in \(s.jurisdiction?.rawValue ?? "an unknown jurisdiction"))"
                    )
                } catch {
                    (s.jurisdiction, s.ageSignal) = previous
                    throw error
                }
                s.states = newStates
                publishMasks(s.states, age: s.ageSignal)
                return entries.map {
                    ConsentChange(
                        purpose: $0.purpose, previous: $0.previous, state: $0.state, actor: .ageGate,
                        receiptID: receipt.receiptID)
                }
            }
            // Observers hear of the change even if a purge fails; the purge error is thrown after.
            defer { publish(changes) }
            try purge(denied)
        }
    }

    /// Every receipt, oldest first.
    public func receipts() throws -> [ConsentReceipt] {
        var result: [ConsentReceipt] = []
        try vault.forEachRecord(in: Self.collection) { record in
            if let receipt = Self.decodeReceipt(record.data) { result.append(receipt) }
        }
        return result
    }

    /// The receipts as a JSON array (pretty, sorted keys), for export and for
    /// ``ConsentReceipt/verifyChain(_:)`` elsewhere.
    public func exportReceipts() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(try receipts()))
    }

    // MARK: - Observing

    /// A stream of changes from now on; it ends when the task iterating it is cancelled.
    /// Each call returns a new stream; slow readers keep the newest 1,024 changes.
    public func changes() -> AsyncStream<ConsentChange> {
        let (stream, continuation) = AsyncStream<ConsentChange>.makeStream(bufferingPolicy: .bufferingNewest(1_024))
        let id = UUID()
        state.withLock { $0.streams[id] = continuation }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.streams.removeValue(forKey: id) }
        }
        return stream
    }

    /// Calls `observer` synchronously after each change, on the thread that made it, once the
    /// change is recorded, its state published and its data purged. Changes are serialised:
    /// observers see them in the order they were made, one at a time. For SDK modules that must
    /// act on a change before anything else is recorded (the pending buffer, deletion
    /// requests). An observer cannot grant or deny consent itself: that throws
    /// ``ConsentError/Code/reentrantChange``; hosts that want to react with a change use
    /// ``changes()``.
    ///
    /// - Returns: A token; pass it to ``removeObserver(_:)`` to stop.
    @discardableResult
    public func addObserver(_ observer: @escaping @Sendable ([ConsentChange]) -> Void) -> UUID {
        let id = UUID()
        state.withLock { $0.observers[id] = observer }
        return id
    }

    /// Stops calling an observer.
    public func removeObserver(_ token: UUID) {
        _ = state.withLock { $0.observers.removeValue(forKey: token) }
    }

    // MARK: - Private

    private func change(_ purposes: [Purpose], to target: ConsentState, by actor: ConsentActor, reason: String?) throws
    {
        try serialized { try changeLocked(purposes, to: target, by: actor, reason: reason) }
    }

    /// Runs one whole change under `changeLock`; a change from inside an observer (same thread)
    /// throws ``ConsentError/Code/reentrantChange``.
    private func serialized(_ body: () throws -> Void) throws {
        let me = UInt(pthread_self())
        if changeOwner.load(ordering: .acquiring) == me {
            throw ConsentError(
                .reentrantChange,
                "consent cannot be changed from inside a consent observer; use changes() to react to a change with another"
            )
        }
        try changeLock.withLock { _ in
            changeOwner.store(me, ordering: .releasing)
            defer { changeOwner.store(0, ordering: .releasing) }
            try body()
        }
    }

    private func changeLocked(_ purposes: [Purpose], to target: ConsentState, by actor: ConsentActor, reason: String?)
        throws
    {
        var problems: [String] = []
        var code = ConsentError.Code.unknownPurpose
        for purpose in purposes {
            guard let declaration = manifest.declaration(of: purpose) else {
                problems.append(
                    "'\(purpose)' is not a purpose the manifest declares (declared: \(manifest.purposes.map(\.id.rawValue).joined(separator: ", ")))"
                )
                continue
            }
            if target == .denied && !declaration.requiresConsent {
                code = .notConsentBased
                problems.append(
                    "'\(purpose)' is processed on the legal basis '\(declaration.legalBasis.rawValue)', not consent, so it is always on and cannot be denied"
                )
            }
        }
        guard problems.isEmpty else { throw ConsentError(code, problems.joined(separator: "; ")) }
        var purged: [Purpose] = []
        let changes: [ConsentChange] = try state.withLock { s in
            if target == .granted && (s.ageSignal == .below || s.ageSignal == .guardianConsent) && actor != .guardian {
                let needing = purposes.filter { manifest.declaration(of: $0)?.requiresConsent == true }
                if !needing.isEmpty {
                    throw ConsentError(
                        .guardianRequired,
                        "the user is below the minimum age (\(ageGate.minimumAge(in: s.jurisdiction)) in \(s.jurisdiction?.rawValue ?? "an unknown jurisdiction")); only a guardian can grant \(needing.map(\.rawValue).joined(separator: ", "))"
                    )
                }
            }
            // Work on copies: the state changes only once its receipt is in the vault.
            var newStates = s.states
            var entries: [ReceiptPurpose] = []
            for purpose in purposes {
                guard let declaration = manifest.declaration(of: purpose), declaration.requiresConsent else { continue }
                let before = newStates[purpose] ?? .pending
                guard before != target else { continue }
                entries.append(
                    ReceiptPurpose(
                        purpose: purpose, legalBasis: declaration.legalBasis, previous: before, state: target))
                newStates[purpose] = target
                if target == .denied { purged.append(purpose) }
            }
            guard !entries.isEmpty else { return [] }
            let previousAge = s.ageSignal
            if target == .granted && actor == .guardian && s.ageSignal == .below { s.ageSignal = .guardianConsent }
            let receipt: ConsentReceipt
            do {
                receipt = try appendReceipt(&s, actor: actor, purposes: entries, reason: reason)
            } catch {
                s.ageSignal = previousAge
                throw error
            }
            s.states = newStates
            publishMasks(s.states, age: s.ageSignal)
            return entries.map {
                ConsentChange(
                    purpose: $0.purpose, previous: $0.previous, state: $0.state, actor: actor,
                    receiptID: receipt.receiptID)
            }
        }
        defer { publish(changes) }
        try purge(purged)
    }

    /// Writes the masks so a concurrent reader never sees a purpose granted that is not.
    private func publishMasks(_ states: [Purpose: ConsentState], age: AgeSignal) {
        ageSignalCode.store(Self.code(of: age), ordering: .releasing)
        var granted: UInt64 = 0, denied: UInt64 = 0
        for (purpose, value) in states {
            guard let bit = bits[purpose] else { continue }
            if value == .granted { granted |= bit }
            if value == .denied { denied |= bit }
        }
        let oldGranted = grantedMask.load(ordering: .relaxed)
        // Withdrawals first (granted bits that go away), then new denials, then new grants,
        // then cleared denials: see consentState(for:).
        grantedMask.store(oldGranted & granted, ordering: .releasing)
        deniedMask.store(deniedMask.load(ordering: .relaxed) | denied, ordering: .releasing)
        grantedMask.store(granted, ordering: .releasing)
        deniedMask.store(denied, ordering: .releasing)
    }

    private func appendReceipt(_ s: inout State, actor: ConsentActor, purposes: [ReceiptPurpose], reason: String?)
        throws -> ConsentReceipt
    {
        var receipt = ConsentReceipt(
            version: ConsentReceipt.currentVersion, receiptID: UUID().uuidString.lowercased(), sequence: s.nextSequence,
            timestamp: clock.checkedUnixMilliseconds, actor: actor, policyVersion: manifest.policyVersion,
            jurisdiction: s.jurisdiction, ageSignal: s.ageSignal, reason: reason, purposes: purposes,
            previousHash: s.lastHash, hash: "")
        receipt.hash = receipt.computedHash
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let id = try vault.append(
            Array(try encoder.encode(receipt)), to: Self.collection, category: .consentRecords,
            purpose: .privacyCompliance)
        do {
            // Only the receipt's collection: whether the change happened must not depend on
            // another collection's write succeeding.
            try vault.commit(collections: [Self.collection])
        } catch {
            // Not durable, so not made: remove it so a later commit or a restart cannot bring
            // back a change that was reported as failed (and fork the chain). A failed commit
            // may already have written the record, so the removal is committed at once.
            _ = try? vault.remove(id, from: Self.collection)
            _ = try? vault.commit(collections: [Self.collection])
            throw error
        }
        s.lastHash = receipt.hash
        s.nextSequence += 1
        return receipt
    }

    private func purge(_ purposes: [Purpose]) throws {
        for purpose in purposes { try vault.purge(purpose: purpose) }
    }

    private func publish(_ changes: [ConsentChange]) {
        guard !changes.isEmpty else { return }
        let (streams, observers) = state.withLock { (Array($0.streams.values), Array($0.observers.values)) }
        for observer in observers { observer(changes) }
        for stream in streams { for change in changes { stream.yield(change) } }
    }
}
