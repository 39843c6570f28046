import Foundation
import Synchronization

/// What happens to data collected for a purpose whose consent is still pending.
public enum PendingPolicy: Hashable, Sendable {
    /// Drop it (and count it). Nothing is kept before the user answers.
    case drop
    /// Hold up to `limit` items in memory, oldest dropped first (counted as `quota`); lost
    /// when the process ends.
    case memory(limit: Int)
    /// Hold items encrypted in the vault for at most `maxAge`; they survive restarts. Any
    /// duration is safe: one reaching past the year 9999 (up to `Duration(attoseconds: .max)`)
    /// holds them until consent is answered; zero or negative lets the next purge remove them.
    case encryptedDisk(maxAge: Duration)
}

/// What ``ConsentGate/store(_:in:category:purpose:retention:)`` did with an item.
public enum GateOutcome: Hashable, Sendable {
    /// Stored in the vault (staged: commit the vault to make it durable).
    case stored(RecordID)
    /// Held until consent is given or refused.
    case held
    /// Not kept, for the reason given (counted in the audit ledger).
    case dropped(DropReason)
}

/// Stores data only for purposes the user granted, holds it while consent is pending
/// according to each purpose's ``PendingPolicy``, and drops it when consent is refused.
///
/// When a pending purpose is granted, held items are stored with their original creation
/// time; when it is denied, they are purged. An item stored while the answer changes is
/// neither lost nor stored twice: items that find consent pending are held under the gate's
/// lock, and the gate promotes or purges under the same lock, right after the ledger changes.
///
/// A granted purpose costs one atomic load before the vault append.
///
/// ```swift
/// let gate = ConsentGate(ledger: consent, vault: vault, audit: audit,
///                        policies: [.analytics: .memory(limit: 500)])
/// try gate.store(bytes, in: "events", category: .usageEvents, purpose: .analytics)
/// ```
public final class ConsentGate: Sendable {
    /// The vault collection that holds items under the `encryptedDisk` policy.
    public static let pendingCollection = "steward.pending"

    private struct Held: Sendable {
        var data: [UInt8]
        var collection: String
        var category: DataCategory
        var retention: Duration?
        var created: Date
    }
    /// What `encryptedDisk` keeps: the item and where it goes once granted.
    private struct Envelope: Codable {
        var collection: String
        var category: DataCategory
        var retentionMilliseconds: Int64?
        var created: Date
        var data: [UInt8]
    }
    private struct State {
        var memory: [Purpose: [Held]] = [:]
    }

    /// The consent ledger whose answers decide.
    public let ledger: ConsentLedger
    private let vault: Vault
    private let audit: AuditLedger?
    /// The audit ledger the gate counts into, for modules that drop data themselves.
    package var auditLedger: AuditLedger? { audit }
    private let clock: any WallClock
    private let policies: [Purpose: PendingPolicy]
    private let defaultPolicy: PendingPolicy
    private let state = Mutex(State())
    private let handles: [Purpose: ConsentLedger.ConsentHandle]

    /// Creates a gate.
    ///
    /// - Parameters:
    ///   - ledger: Whose answers decide.
    ///   - vault: Where data is stored.
    ///   - audit: Where collected and dropped items are counted.
    ///   - policies: The pending policy per purpose.
    ///   - defaultPolicy: For purposes not in `policies` (default: 1,000 items in memory).
    ///   - clock: For creation times.
    public init(
        ledger: ConsentLedger, vault: Vault, audit: AuditLedger? = nil, policies: [Purpose: PendingPolicy] = [:],
        defaultPolicy: PendingPolicy = .memory(limit: 1_000), clock: any WallClock = SystemWallClock()
    ) {
        self.ledger = ledger
        self.vault = vault
        self.audit = audit
        self.clock = clock
        self.policies = policies
        self.defaultPolicy = defaultPolicy
        var handles: [Purpose: ConsentLedger.ConsentHandle] = [:]
        for declaration in ledger.manifest.purposes { handles[declaration.id] = ledger.handle(for: declaration.id) }
        self.handles = handles
        ledger.addObserver { [weak self] changes in self?.consentChanged(changes) }
        // Items held on disk by an earlier run whose purpose was answered without a gate (from
        // the CLI, or a crash between the answer and the promotion).
        try? reconcile()
    }

    /// The pending policy that applies to `purpose` (its own, or the gate's default).
    public func pendingPolicy(for purpose: Purpose) -> PendingPolicy {
        policies[purpose] ?? defaultPolicy
    }

    /// Promotes disk-held items whose purpose is granted and deletes everything kept for a
    /// denied purpose. The gate does this when it is created and after every change; call it after
    /// changing consent where no gate was listening.
    public func reconcile() throws {
        try state.withLock { _ in
            for declaration in ledger.manifest.purposes {
                switch ledger.consentState(for: declaration.id) {
                case .granted: promoteFromDisk(declaration.id)
                case .denied: try vault.purge(purpose: declaration.id)
                case .pending: break
                }
            }
        }
        try vault.commit()
    }

    /// Stores `data` if `purpose` is granted, holds it if pending, drops it if denied or
    /// undeclared.
    ///
    /// - Parameters:
    ///   - data: The item.
    ///   - collection: The vault collection it belongs in.
    ///   - category: Its data category; must be declared with `purpose` among its purposes.
    ///   - purpose: Why it is kept.
    ///   - retention: How long to keep it from its creation (nil: the category's retention).
    ///     Saturating, as in ``Vault/append(_:to:category:purpose:retention:created:)``.
    /// - Returns: What happened to it.
    /// - Throws: ``VaultError`` with ``VaultError/Code/invalidCollectionName`` for a collection
    ///   whose name starts with `steward.` (reserved for Steward's own records), or when the
    ///   vault cannot store the item.
    @discardableResult
    public func store(
        _ data: [UInt8], in collection: String, category: DataCategory, purpose: Purpose, retention: Duration? = nil
    ) throws -> GateOutcome {
        guard !collection.hasPrefix("steward.") else {
            throw VaultError(
                .invalidCollectionName,
                "collections named steward.* are Steward's own (consent receipts, audit, outbox); store app data under another name"
            )
        }
        guard let handle = handles[purpose], let declaration = ledger.manifest.declaration(of: category),
            declaration.purposes.contains(purpose)
        else {
            audit?.recordDropped(category, purpose: purpose, reason: .undeclared)
            return .dropped(.undeclared)
        }
        let keep = retention ?? declaration.retention
        let created = clock.checkedNow
        if ledger.isGranted(handle) {
            return try storeGranted(
                data, collection: collection, category: category, purpose: purpose, retention: keep, created: created)
        }
        // Not granted at first sight: decide under the gate's lock, which the promotion after a
        // grant also takes, so the item is either held and then promoted, or stored now.
        let minor = [.below, .guardianConsent].contains(ledger.ageSignal)
        let decision: (GateOutcome?, Bool) = try state.withLock { s in
            switch ledger.consentState(for: purpose) {
            case .granted:
                return (nil, true)
            case .denied:
                return (.dropped(minor ? .ageGate : .consent), false)
            case .pending:
                // Nothing of a child's is held while the guardian has not answered.
                if minor { return (.dropped(.ageGate), false) }
                switch policies[purpose] ?? defaultPolicy {
                case .drop:
                    return (.dropped(.consent), false)
                case .memory(let limit):
                    guard limit > 0 else { return (.dropped(.quota), false) }
                    s.memory[purpose, default: []].append(
                        Held(data: data, collection: collection, category: category, retention: keep, created: created))
                    let overflow = (s.memory[purpose]?.count ?? 0) - limit
                    if overflow > 0 {
                        let evicted = s.memory[purpose]!.prefix(overflow)
                        for item in evicted { audit?.recordDropped(item.category, purpose: purpose, reason: .quota) }
                        s.memory[purpose]!.removeFirst(overflow)
                    }
                    return (.held, false)
                case .encryptedDisk(let maxAge):
                    let envelope = Envelope(
                        collection: collection, category: category,
                        retentionMilliseconds: keep.map(\.saturatingMilliseconds), created: created, data: data)
                    try vault.append(
                        Array(try JSONEncoder().encode(envelope)), to: Self.pendingCollection, category: category,
                        purpose: purpose, retention: maxAge, created: created)
                    return (.held, false)
                }
            }
        }
        if decision.1 {
            return try storeGranted(
                data, collection: collection, category: category, purpose: purpose, retention: keep, created: created)
        }
        if case .dropped(let reason)? = decision.0 { audit?.recordDropped(category, purpose: purpose, reason: reason) }
        return decision.0 ?? .held
    }

    /// Items held in memory for `purpose`.
    public func heldInMemory(for purpose: Purpose) -> Int {
        state.withLock { $0.memory[purpose]?.count ?? 0 }
    }

    // MARK: - Private

    private func storeGranted(
        _ data: [UInt8], collection: String, category: DataCategory, purpose: Purpose, retention: Duration?,
        created: Date
    ) throws -> GateOutcome {
        let id = try vault.append(
            data, to: collection, category: category, purpose: purpose, retention: retention, created: created)
        // A denial may have landed between the check and the append, after its purge: take
        // the item back so nothing of a denied purpose stays.
        if ledger.consentState(for: purpose) == .denied {
            try vault.remove(id, from: collection)
            audit?.recordDropped(category, purpose: purpose, reason: .consent)
            return .dropped(.consent)
        }
        audit?.recordCollected(category, purpose: purpose)
        return .stored(id)
    }

    private func consentChanged(_ changes: [ConsentChange]) {
        for change in changes {
            state.withLock { s in
                // The ledger's state now, not the change's: it is what later stores see.
                let now = ledger.consentState(for: change.purpose)
                guard now != .pending else { return }
                let held = s.memory.removeValue(forKey: change.purpose) ?? []
                if now == .granted {
                    for item in held {
                        do {
                            try vault.append(
                                item.data, to: item.collection, category: item.category, purpose: change.purpose,
                                retention: item.retention, created: item.created)
                            audit?.recordCollected(item.category, purpose: change.purpose)
                        } catch {
                            audit?.recordDropped(item.category, purpose: change.purpose, reason: .quota)
                        }
                    }
                    promoteFromDisk(change.purpose)
                } else {
                    let reason: DropReason = change.actor == .ageGate ? .ageGate : .consent
                    for item in held { audit?.recordDropped(item.category, purpose: change.purpose, reason: reason) }
                    // The ledger purged the purpose before telling the gate. An item held on disk
                    // may have been written between its consent check and that purge: under the
                    // gate's lock, purge again (only where the policy writes to disk).
                    if case .encryptedDisk = policies[change.purpose] ?? defaultPolicy {
                        _ = try? vault.purge(purpose: change.purpose)
                    }
                }
            }
        }
        try? vault.commit()
    }

    /// Moves `encryptedDisk` items of a newly granted purpose to their collections, keeping
    /// their creation times.
    private func promoteFromDisk(_ purpose: Purpose) {
        let decoder = JSONDecoder()
        var moved: [RecordID] = []
        try? vault.forEachRecord(in: Self.pendingCollection) { record in
            guard record.purpose == purpose else { return }
            if let envelope = try? decoder.decode(Envelope.self, from: Data(record.data)) {
                let retention = envelope.retentionMilliseconds.map { Duration.milliseconds($0) }
                if (try? vault.append(
                    envelope.data, to: envelope.collection, category: envelope.category, purpose: purpose,
                    retention: retention, created: envelope.created)) != nil
                {
                    audit?.recordCollected(envelope.category, purpose: purpose)
                    moved.append(record.id)
                }
            }
        }
        for id in moved { _ = try? vault.remove(id, from: Self.pendingCollection) }
    }
}
