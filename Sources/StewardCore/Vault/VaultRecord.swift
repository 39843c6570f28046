public import struct Foundation.Date

/// The identifier of a record in a ``Vault``, unique within the vault. The id of a committed
/// record is never used again, even after the record is removed; ids handed out for records
/// that a crash lost before their commit may be.
public struct RecordID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The number.
    public let rawValue: UInt64
    /// Creates an id from its number.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Orders ids by number: a later id was handed out later.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    /// The number, in decimal.
    public var description: String { String(rawValue) }
}

/// A record read back from a ``Vault``: the plaintext and what the vault knows about it.
public struct VaultRecord: Hashable, Sendable {
    /// The record's id.
    public let id: RecordID
    /// The collection it belongs to.
    public let collection: String
    /// The kind of data it holds.
    public let category: DataCategory
    /// Why it is kept.
    public let purpose: Purpose
    /// When it was appended.
    public let created: Date
    /// When retention ends, or nil to keep it until removed.
    public let expires: Date?
    /// The decrypted bytes.
    public let data: [UInt8]
}

/// What a vault holds, as `steward inspect` shows it. Holds counts and dates, never contents.
public struct VaultSummary: Hashable, Sendable, Codable {
    /// One collection's figures.
    public struct Collection: Hashable, Sendable, Codable {
        /// The collection's name.
        public var name: String
        /// Live records.
        public var records: Int
        /// Bytes of live record frames (headers, ciphertext, nonce and tag).
        public var bytes: Int
        /// Bytes of the collection's segment files on disk.
        public var fileBytes: Int
        /// Segment files.
        public var segments: Int
        /// Creation date of the oldest live record.
        public var oldest: Date?
        /// Creation date of the newest live record.
        public var newest: Date?
        /// Live records whose retention has ended (removed by the next `purgeExpired`).
        public var expired: Int
    }

    /// The vault's directory.
    public var directory: String
    /// The collections, by name.
    public var collections: [Collection]
    /// Records or damaged spans moved to quarantine since the vault was created.
    public var quarantined: Int
    /// Records evicted to stay under the disk quota since the vault was created.
    public var evicted: Int
    /// Files in the vault's folders that are not this vault's and were left untouched.
    public var problems: [String]

    /// Live records in all collections.
    public var records: Int { collections.reduce(0) { $0 + $1.records } }
    /// Bytes of segment files in all collections.
    public var fileBytes: Int { collections.reduce(0) { $0 + $1.fileBytes } }
}

/// Tuning for a ``Vault``.
public struct VaultOptions: Sendable {
    /// Size at which the active segment file is closed and a new one started. Default 8 MiB.
    public var segmentSize: Int = 8 << 20
    /// Upper bound for the bytes of all segment files, enforced at every commit: segments with
    /// dead bytes are rewritten, then the oldest live records (by creation time) are evicted
    /// down to 90% of the quota and counted in ``VaultSummary/evicted``. Records kept for
    /// ``Purpose/privacyCompliance`` (consent receipts, the audit ledger) are never evicted. Only when nothing is
    /// left to evict can the files exceed it, by the ~100 bytes each collection keeps (its
    /// active segment's header and commit frame). Nil: no quota. A negative quota is refused
    /// by `Vault.open` with ``VaultError/Code/invalidOptions`` (it would evict everything).
    public var quota: Int? = nil
    /// A closed segment is rewritten without its dead records once this fraction of its bytes is
    /// dead. Purges always rewrite the segments they touch, so purged data is physically gone.
    public var compactionThreshold: Double = 0.5
    /// Staged bytes past which appended records are written to the segment file before commit
    /// (still uncommitted), which bounds memory. Default 1 MiB.
    public var stagingLimit: Int = 1 << 20
    /// The name of the vault's key in its ``KeyProvider``.
    public var keyName: String = "vault"

    /// The defaults.
    public init() {}
}

/// How many records of one data category and purpose a purge removed.
public struct PurgedCount: Hashable, Sendable {
    /// The data category.
    public var category: DataCategory
    /// The purpose.
    public var purpose: Purpose
    /// How many records.
    public var count: Int
}
