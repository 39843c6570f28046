public import struct Foundation.Date
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The only place Steward writes personal data: named collections of encrypted records.
///
/// Every record carries its data category, purpose, creation time and expiry, and is sealed
/// with AES-256-GCM under the vault key with its header as associated data. Records go to
/// append-only segment files (format: Documentation/VaultFormat.md).
///
/// ```swift
/// let vault = try Vault.open(dataDirectory: dataDir)
/// let id = try vault.append(Array("hello".utf8), to: "notes", category: .usageEvents,
///                           purpose: .analytics, retention: .seconds(86_400 * 30))
/// try vault.commit()
/// for record in try vault.records(in: "notes") { print(record.id, record.data.count) }
/// ```
///
/// **Durability.** ``append(_:to:category:purpose:retention:created:)`` stages a record; ``commit()``
/// writes the staged records of each collection followed by a commit frame and `fdatasync`s
/// the segment file. A new segment file is created under a temporary name, fsynced, renamed
/// into place and its directory fsynced; rewritten segments are replaced the same way. After
/// `commit` returns, the records survive a crash or power loss. A batch is atomic per
/// collection: on opening, frames after a collection's last commit frame are cut off.
///
/// **Damage.** A torn tail is cut off. A frame whose checksum fails, or a record that fails
/// authentication when read, is moved to the `quarantine` folder and counted; the rest stays
/// readable and the host never crashes. A file in the vault's folders that is not this
/// vault's is left untouched and listed in ``summary()``'s `problems`; a file written by a
/// newer format version stops ``open(directory:keyProvider:options:clock:)`` with
/// ``VaultError/Code/unsupportedVersion``, leaving everything as it was.
///
/// **Concurrency.** A vault may be shared by any number of tasks and threads: every operation
/// runs under one lock. Only one `Vault` may have a directory open at a time, across
/// processes too (`flock`); a second gets ``VaultError/Code/locked``.
public final class Vault: Sendable {
    private let state: Mutex<VaultState>
    /// The vault's directory.
    public let directory: String
    /// The vault's options.
    public let options: VaultOptions

    private init(directory: String, options: VaultOptions, state: sending VaultState) {
        self.directory = directory
        self.options = options
        self.state = Mutex(state)
    }

    /// Opens the vault in `directory`, creating it (and its key) when the directory holds none.
    ///
    /// - Parameters:
    ///   - directory: The vault's folder; created 0700 when missing.
    ///   - keyProvider: Where the vault key lives. The key is created only for a new vault: an
    ///     existing vault whose key is missing is an error, not a reason to start over.
    ///   - options: Tuning.
    ///   - clock: The wall clock for creation and expiry times. A date it returns that is not
    ///     finite is replaced by the system's; one outside years 0001–9999 is clamped to them.
    /// - Throws: ``VaultError`` (locked, wrong key, newer format, not a vault,
    ///   ``VaultError/Code/invalidOptions`` for a negative ``VaultOptions/quota``),
    ///   ``KeyProviderError`` or ``InsecurePathError``.
    public static func open(
        directory: String, keyProvider: any KeyProvider, options: VaultOptions = VaultOptions(),
        clock: any WallClock = SystemWallClock()
    ) throws -> Vault {
        let state = try VaultState.open(directory: directory, keyProvider: keyProvider, options: options, clock: clock)
        return Vault(directory: directory, options: options, state: state)
    }

    /// Opens the vault of a Steward data directory: the vault in `DIR/vault`, its key in the
    /// store recorded for the folder (``KeyStore/recorded(inDataDirectory:)``: the keyring, a
    /// systemd credential of the process's environment) or, without a record, in a
    /// ``FileKeyProvider`` over `DIR/keys`. It never chooses a store itself (the facade does):
    /// a new folder gets key files.
    public static func open(
        dataDirectory: String, options: VaultOptions = VaultOptions(), clock: any WallClock = SystemWallClock()
    ) throws -> Vault {
        try FileSystem.ensurePrivateDirectory(dataDirectory)
        let store = try KeyStore.recorded(inDataDirectory: dataDirectory) ?? .file
        let keys = try store.provider(
            dataDirectory: dataDirectory, application: FileSystem.lastComponent(dataDirectory),
            environment: KeyStore.processEnvironment)
        return try open(directory: dataDirectory + "/vault", keyProvider: keys, options: options, clock: clock)
    }

    /// Stages a record; ``commit()`` makes it durable.
    ///
    /// - Parameters:
    ///   - data: The plaintext; at most 64 MiB.
    ///   - collection: 1-64 letters, digits, `.`, `-` or `_`, not starting with `.`.
    ///   - category: The kind of data.
    ///   - purpose: Why it is kept.
    ///   - retention: How long to keep it, counted from `created`; nil keeps it until removed.
    ///     Saturating: a retention that reaches past 9999-12-31 (up to
    ///     `Duration(attoseconds: .max)`) keeps it until removed; zero or a negative one makes
    ///     it expire at once (the next ``purgeExpired()`` removes it).
    ///   - created: When the data was collected; nil means now (the vault's clock). Data held
    ///     back while consent was pending keeps its original time when it is finally stored.
    ///     A finite date outside years 0001–9999 (`.distantPast`, `.distantFuture` fit) is
    ///     clamped to that range.
    /// - Returns: The new record's id.
    /// - Throws: ``VaultError`` — ``VaultError/Code/invalidTime`` when `created` is NaN or
    ///   infinite (nothing is staged); `recordTooLarge`, `invalidCollectionName`, `io`.
    @discardableResult
    public func append(
        _ data: [UInt8], to collection: String, category: DataCategory, purpose: Purpose,
        retention: Duration? = nil, created: Date? = nil
    ) throws -> RecordID {
        try state.withLock { s in
            try s.append(
                data, collection: collection, category: category, purpose: purpose, retention: retention,
                created: created)
        }
    }

    /// The size of ``forEachRecord(in:_:)``'s batches.
    static let iterationBatch = (records: 256, bytes: 1 << 20)

    /// Makes every staged append and removal durable (see the type's discussion), then applies
    /// the quota and rewrites segments that are mostly dead.
    public func commit() throws {
        try state.withLock { s in try s.commit() }
    }

    /// The live records of `collection`, oldest first, decrypted. A record that fails
    /// authentication is quarantined and left out.
    public func records(in collection: String) throws -> [VaultRecord] {
        var result: [VaultRecord] = []
        try forEachRecord(in: collection) { result.append($0) }
        return result
    }

    /// Calls `body` with each live record of `collection`, oldest first. Records are decrypted
    /// in small batches under the lock (256 records or 1 MiB of frames, whichever comes first;
    /// a larger record alone); `body` runs outside it and may use the vault.
    public func forEachRecord(in collection: String, _ body: (VaultRecord) throws -> Void) throws {
        try forEachBatch(in: collection) { batch in
            for record in batch { try body(record) }
        }
    }

    /// ``forEachRecord(in:_:)``'s batches: what one batch may hold is bounded in bytes too, so
    /// an outbox of 50 KB payloads is not decrypted 13 MB at a time.
    func forEachBatch(in collection: String, _ body: ([VaultRecord]) throws -> Void) throws {
        var after: UInt64? = nil
        while true {
            let batch = try state.withLock { s in
                try s.readBatch(
                    collection: collection, after: after, limit: Self.iterationBatch.records,
                    byteLimit: Self.iterationBatch.bytes)
            }
            guard let last = batch.last else { return }
            try body(batch)
            after = last.id.rawValue
        }
    }

    /// The live record `id` of `collection`, or nil when there is none (or it was quarantined).
    public func record(_ id: RecordID, in collection: String) throws -> VaultRecord? {
        try state.withLock { s in try s.read(id: id.rawValue, collection: collection) }
    }

    /// A 32-byte key derived from the vault's key for `label` and `salt` (HMAC-SHA256 under the
    /// vault key): for what Steward must seal outside the vault, such as raw crash records,
    /// which a signal handler writes without the vault. Erasing the vault replaces its key, so
    /// what was sealed under the old one can no longer be opened.
    ///
    /// - Throws: ``VaultError`` when the vault is closed or unusable; `CryptoError`.
    package func derivedKey(label: String, salt: [UInt8]) throws -> [UInt8] {
        try state.withLock { s in
            try s.checkUsable()
            return try HMACSHA256.authenticationCode(for: Array(label.utf8) + [0] + salt, using: s.derivationKey)
        }
    }

    /// The names of the collections that have segment files or staged records.
    public func collections() throws -> [String] {
        try state.withLock { s in
            try s.checkUsable(); return s.collections.keys.sorted()
        }
    }

    /// Removes a record; durable at the next ``commit()``. The ciphertext leaves the disk when
    /// its segment is rewritten (``compact()``, a purge, or the compaction threshold).
    ///
    /// - Returns: Whether a live record was removed.
    @discardableResult
    public func remove(_ id: RecordID, from collection: String) throws -> Bool {
        try state.withLock { s in try s.remove(id: id.rawValue, collection: collection, reason: .removed) }
    }

    /// Removes every record whose retention has ended, commits, and rewrites the segments that
    /// held them so the data is physically gone.
    ///
    /// - Returns: How many records were removed.
    @discardableResult
    public func purgeExpired() throws -> Int {
        try state.withLock { s in
            let now = s.clock.checkedUnixMilliseconds
            return try s.purge(reason: .expired) { entry, _ in entry.expires <= now }
        }
    }

    /// Like ``purgeExpired()``, and says what was removed per data category and purpose (for
    /// the audit ledger: see ``AuditLedger/purgeExpired(in:)``).
    public func purgeExpiredCounted() throws -> [PurgedCount] {
        try state.withLock { s in
            let now = s.clock.checkedUnixMilliseconds
            return try s.purgeCounted(reason: .expired) { entry, _ in entry.expires <= now }
        }
    }

    /// Removes every record kept for `purpose` (consent withdrawn), commits, and rewrites the
    /// segments that held them so the data is physically gone.
    ///
    /// - Returns: How many records were removed.
    @discardableResult
    public func purge(purpose: Purpose) throws -> Int {
        try state.withLock { s in
            // A purpose never seen matches nothing; the purge still commits what is staged.
            let number = s.purposes.existingNumber(for: purpose.rawValue)
            return try s.purge(reason: .purposePurged) { entry, _ in entry.purpose == number }
        }
    }

    /// Commits, then rewrites every segment that holds dead records, so removed data is
    /// physically gone.
    public func compact() throws {
        try state.withLock { s in
            try s.commit()
            try s.compactAll(threshold: 0)
        }
    }

    /// Decrypts every committed record to check its authentication, quarantining failures.
    ///
    /// - Returns: How many records were quarantined.
    @discardableResult
    public func verify() throws -> Int {
        try state.withLock { s in try s.verifyAll() }
    }

    /// What the vault holds: collections, records, bytes, dates, quarantined and evicted counts.
    public func summary() throws -> VaultSummary {
        try state.withLock { s in try s.summary() }
    }

    /// Crypto-erase: destroys the vault key first, so nothing written can be decrypted even if
    /// a later step fails, then removes every file of the vault. The vault cannot be used
    /// afterwards; opening the directory again creates a new, empty vault with a new key.
    public func erase() throws {
        try state.withLock { s in try s.erase() }
    }

    /// Makes the staged appends and removals of `collections` durable, and nothing else: no
    /// other collection is written, and the quota and compaction wait for the next full
    /// ``commit()``. For records that must be durable on their own, such as a consent receipt
    /// whose failure must not depend on another collection's write.
    public func commit(collections names: [String]) throws {
        try state.withLock { s in try s.commit(only: Set(names)) }
    }

    /// Commits staged records and releases the vault's files and lock. Further use throws
    /// ``VaultError/Code/closed``. Dropping a vault without closing it discards staged records,
    /// as a crash would.
    public func close() throws {
        try state.withLock { s in try s.close() }
    }
}
