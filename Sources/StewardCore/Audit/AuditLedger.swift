import Foundation
import Synchronization

/// Why an item of data was not kept or not sent.
public struct DropReason: StringIdentifier {
    /// The identifier's spelling.
    public let rawValue: String
    /// Creates the identifier with the spelling `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The purpose was not granted (denied, or pending under the `drop` policy).
    public static let consent: DropReason = "consent"
    /// The user is below the age threshold and no guardian consented.
    public static let ageGate: DropReason = "ageGate"
    /// Not declared in the manifest (strict mode).
    public static let undeclared: DropReason = "undeclared"
    /// Evicted to stay under a storage quota or a buffer limit.
    public static let quota: DropReason = "quota"
    /// Retention ended.
    public static let retention: DropReason = "retention"
    /// Left out by sampling.
    public static let sampling: DropReason = "sampling"
    /// Over a rate limit.
    public static let rateLimit: DropReason = "rateLimit"
    /// Given up after the uploader's maximum age or attempts.
    public static let deliveryExpired: DropReason = "deliveryExpired"
    /// Refused for good by the recipient.
    public static let rejected: DropReason = "rejected"
    /// Dropped by the host's own filter (such as `CrashReporter.Configuration.beforeQueueing`).
    public static let filtered: DropReason = "filtered"
    /// Its time is not one Steward can store or send: a date passed in that is NaN, infinite,
    /// or outside what the format holds (OTLP: 1970-01-01 to 2554-07-21).
    public static let invalidTimestamp: DropReason = "invalidTimestamp"
}

/// One day's accounting for one data category and purpose.
public struct AuditEntry: Codable, Hashable, Sendable {
    /// The UTC day, `YYYY-MM-DD`.
    public var day: String
    /// The data category.
    public var category: DataCategory
    /// The purpose.
    public var purpose: Purpose
    /// Items collected (kept).
    public var collected: Int
    /// Items dropped, by reason.
    public var dropped: [DropReason: Int]
    /// Items disclosed, by recipient and legal basis.
    public var disclosed: [AuditDisclosure]

    /// Creates an entry.
    public init(
        day: String, category: DataCategory, purpose: Purpose, collected: Int = 0, dropped: [DropReason: Int] = [:],
        disclosed: [AuditDisclosure] = []
    ) {
        self.day = day
        self.category = category
        self.purpose = purpose
        self.collected = collected
        self.dropped = dropped
        self.disclosed = disclosed
    }
}

/// A count of items disclosed to one recipient on one legal basis.
public struct AuditDisclosure: Codable, Hashable, Sendable {
    /// Who received them.
    public var recipient: RecipientID
    /// On what basis.
    public var legalBasis: LegalBasis
    /// How many.
    public var count: Int

    /// Creates a disclosure count.
    public init(recipient: RecipientID, legalBasis: LegalBasis, count: Int) {
        self.recipient = recipient
        self.legalBasis = legalBasis
        self.count = count
    }
}

/// Accounts, per day and per data category × purpose, for what was collected, what was dropped
/// and why, and what was disclosed to whom on which legal basis. Persisted in the vault.
///
/// Counting takes a short lock; ``flush()`` writes what was counted since the last flush to
/// the vault as one record and commits. On opening, the ledger sums the records it finds and,
/// when there are many, rewrites them as one.
///
/// ```swift
/// let audit = try AuditLedger(vault: vault)
/// audit.recordDisclosed(.crashDiagnostics, purpose: .crashReporting, recipient: "sentry", legalBasis: .consent)
/// try audit.flush()
/// ```
public final class AuditLedger: Sendable {
    /// The vault collection the ledger keeps its records in.
    public static let collection = "steward.audit"
    private struct Key: Hashable {
        var day: String
        var category: DataCategory
        var purpose: Purpose
    }
    private struct DisclosureKey: Hashable {
        var recipient: RecipientID
        var basis: LegalBasis
    }
    private struct Counters {
        var collected = 0
        var dropped: [DropReason: Int] = [:]
        var disclosed: [DisclosureKey: Int] = [:]

        /// Adds `other`, saturating: counts read back from disk are not trusted not to overflow.
        mutating func add(_ other: Counters) {
            collected = Self.sum(collected, other.collected)
            for (k, v) in other.dropped { dropped[k] = Self.sum(dropped[k] ?? 0, v) }
            for (k, v) in other.disclosed { disclosed[k] = Self.sum(disclosed[k] ?? 0, v) }
        }

        static func sum(_ a: Int, _ b: Int) -> Int {
            let (value, overflow) = a.addingReportingOverflow(b)
            return overflow ? (b > 0 ? .max : .min) : value
        }
    }
    private struct State {
        var totals: [Key: Counters] = [:]
        var unflushed: [Key: Counters] = [:]
    }

    private let state = Mutex(State())
    private let vault: Vault?
    private let clock: any WallClock
    private let retention: Duration

    /// Opens the ledger kept in `vault` (nil: in memory only, for tests and previews).
    ///
    /// - Parameters:
    ///   - vault: Where records are kept.
    ///   - clock: Tells the day of each count.
    ///   - retention: How long each flushed record is kept (default 400 days, so a full year
    ///     can always be reported). Saturating: a retention past the year 9999 keeps records
    ///     until removed.
    /// - Throws: a vault error when the records cannot be read.
    public init(vault: Vault?, clock: any WallClock = SystemWallClock(), retention: Duration = .seconds(400 * 86_400))
        throws
    {
        self.vault = vault
        self.clock = clock
        self.retention = retention
        guard let vault else { return }
        var totals: [Key: Counters] = [:]
        var ids: [RecordID] = []
        let decoder = JSONDecoder()
        try vault.forEachRecord(in: Self.collection) { record in
            ids.append(record.id)
            // A record that does not decode is skipped, not fatal: the ledger is an account,
            // and the vault already authenticated what it returned.
            guard let entries = try? decoder.decode([AuditEntry].self, from: Data(record.data)) else { return }
            for entry in entries {
                totals[Key(day: entry.day, category: entry.category, purpose: entry.purpose), default: Counters()].add(
                    Self.counters(entry))
            }
        }
        state.withLock { $0.totals = totals }
        if ids.count > 16 {
            // Many small flushes: keep one record with the sums instead.
            let merged = try JSONEncoder().encode(Self.entries(totals))
            try vault.append(
                Array(merged), to: Self.collection, category: .consentRecords, purpose: .privacyCompliance,
                retention: retention)
            for id in ids { try vault.remove(id, from: Self.collection) }
            try vault.commit()
        }
    }

    /// Counts `count` items of `category` collected for `purpose`.
    public func recordCollected(_ category: DataCategory, purpose: Purpose, count: Int = 1) {
        update(category, purpose) { $0.collected = Counters.sum($0.collected, count) }
    }

    /// Counts `count` items of `category` for `purpose` dropped for `reason`.
    public func recordDropped(_ category: DataCategory, purpose: Purpose, reason: DropReason, count: Int = 1) {
        update(category, purpose) { $0.dropped[reason] = Counters.sum($0.dropped[reason] ?? 0, count) }
    }

    /// Counts `count` items of `category` for `purpose` disclosed to `recipient` on `legalBasis`.
    public func recordDisclosed(
        _ category: DataCategory, purpose: Purpose, recipient: RecipientID, legalBasis: LegalBasis, count: Int = 1
    ) {
        let key = DisclosureKey(recipient: recipient, basis: legalBasis)
        update(category, purpose) { $0.disclosed[key] = Counters.sum($0.disclosed[key] ?? 0, count) }
    }

    /// Removes every record of `vault` whose retention has ended and counts each as dropped
    /// for ``DropReason/retention``.
    ///
    /// - Returns: How many records were removed.
    @discardableResult
    public func purgeExpired(in vault: Vault) throws -> Int {
        let counts = try vault.purgeExpiredCounted()
        for c in counts { recordDropped(c.category, purpose: c.purpose, reason: .retention, count: c.count) }
        return counts.reduce(0) { $0 + $1.count }
    }

    /// Everything counted, flushed or not, by day, category and purpose.
    public func entries() -> [AuditEntry] {
        state.withLock { Self.entries($0.totals) }
    }

    /// Writes what was counted since the last flush to the vault as one record and commits.
    /// Does nothing without a vault or without new counts.
    public func flush() throws {
        guard let vault else { return }
        let delta = state.withLock { s -> [Key: Counters] in
            let d = s.unflushed
            s.unflushed = [:]
            return d
        }
        guard !delta.isEmpty else { return }
        do {
            let bytes = try JSONEncoder().encode(Self.entries(delta))
            try vault.append(
                Array(bytes), to: Self.collection, category: .consentRecords, purpose: .privacyCompliance,
                retention: retention)
            try vault.commit()
        } catch {
            // Keep the counts for the next flush.
            state.withLock { s in for (k, v) in delta { s.unflushed[k, default: Counters()].add(v) } }
            throw error
        }
    }

    // MARK: - Private

    private func update(_ category: DataCategory, _ purpose: Purpose, _ change: (inout Counters) -> Void) {
        let key = Key(day: Self.day(clock.checkedNow), category: category, purpose: purpose)
        state.withLock { s in
            change(&s.totals[key, default: Counters()])
            change(&s.unflushed[key, default: Counters()])
        }
    }

    /// The UTC day of `date`, `YYYY-MM-DD` (a clock outside years 0001–9999 is not a real
    /// clock; its counts go under "0000-00-00").
    static func day(_ date: Date) -> String {
        CalendarDay.string(from: date) ?? "0000-00-00"
    }

    private static func counters(_ entry: AuditEntry) -> Counters {
        var c = Counters()
        c.collected = entry.collected
        c.dropped = entry.dropped
        for d in entry.disclosed {
            let key = DisclosureKey(recipient: d.recipient, basis: d.legalBasis)
            c.disclosed[key] = Counters.sum(c.disclosed[key] ?? 0, d.count)
        }
        return c
    }

    private static func entries(_ counters: [Key: Counters]) -> [AuditEntry] {
        counters.map { key, c in
            AuditEntry(
                day: key.day, category: key.category, purpose: key.purpose, collected: c.collected, dropped: c.dropped,
                disclosed: c.disclosed.map {
                    AuditDisclosure(recipient: $0.key.recipient, legalBasis: $0.key.basis, count: $0.value)
                }
                .sorted { ($0.recipient, $0.legalBasis.rawValue) < ($1.recipient, $1.legalBasis.rawValue) })
        }.sorted { ($0.day, $0.category, $0.purpose) < ($1.day, $1.category, $1.purpose) }
    }
}
