import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything a ``Vault`` knows, guarded by the vault's lock.
///
/// Its work is spread by phase: `VaultState+Opening.swift` (open, load, recovery, quarantine),
/// `+Writing` (append, commit), `+Reading`, `+Maintenance` (remove, purge, quota, compaction);
/// this file holds the state, the summary, erase and close. `LockFile.swift` holds the lock.
struct VaultState {
    let directory: String
    let options: VaultOptions
    let clock: any WallClock
    let keyProvider: any KeyProvider
    let vaultID: [UInt8]
    var cipher: AESGCM.Cipher?
    /// HMAC-SHA256 of a fixed label under the vault key: the root of ``Vault/derivedKey(label:salt:)``,
    /// so the vault key itself is not kept beyond opening.
    let derivationKey: SymmetricKey
    var lock: LockFile?
    var collections: [String: CollectionStore] = [:]
    var categories = InternTable()
    var purposes = InternTable()
    var nextID: UInt64 = 1
    var quarantined = 0
    var evicted = 0
    var problems: [String] = []
    private(set) var erased = false
    private(set) var closed = false

    var collectionsDirectory: String { directory + "/collections" }
    var quarantineDirectory: String { directory + "/quarantine" }
    var metaPath: String { directory + "/vault.meta" }
    var statsPath: String { directory + "/vault.stats" }

    // MARK: - Summary, erase, close

    func summary() throws -> VaultSummary {
        try checkUsable()
        let now = clock.checkedUnixMilliseconds
        var result: [VaultSummary.Collection] = []
        for name in collections.keys.sorted() {
            let store = collections[name]!
            var records = 0, bytes = 0, expired = 0
            var oldest: Int64?, newest: Int64?
            for entry in store.entries where entry.live {
                records += 1
                bytes += entry.length
                if entry.expires <= now { expired += 1 }
                oldest = min(oldest ?? entry.created, entry.created)
                newest = max(newest ?? entry.created, entry.created)
            }
            result.append(
                VaultSummary.Collection(
                    name: name, records: records, bytes: bytes,
                    fileBytes: store.segments.values.reduce(0) { $0 + $1.size }
                        + (store.active.map { _ in store.pending.count } ?? 0),
                    segments: store.segments.count,
                    oldest: oldest.map(Date.init(millisecondsSince1970:)),
                    newest: newest.map(Date.init(millisecondsSince1970:)),
                    expired: expired))
        }
        return VaultSummary(
            directory: directory, collections: result, quarantined: quarantined, evicted: evicted, problems: problems)
    }

    mutating func erase() throws {
        if erased { return }
        try checkUsable()
        // The marker makes an interrupted erase finish on the next open instead of leaving a
        // vault whose key is gone. It holds nothing.
        try FileSystem.writeAtomically([], to: directory + "/" + Self.erasingMarker)
        // Destroy the key first: from here on nothing the vault wrote can be decrypted.
        cipher = nil
        erased = true
        collections.removeAll()
        try Self.finishErase(directory: directory, keyProvider: keyProvider, keyName: options.keyName)
        // The lock file stays: unlinking it would let one process lock the orphaned inode
        // while another locks a new file of the same name.
        lock = nil
    }

    static let erasingMarker = "erasing"

    /// Destroys the key, then every file of the vault, then the erase marker.
    static func finishErase(directory: String, keyProvider: any KeyProvider, keyName: String) throws {
        try keyProvider.destroyKey(named: keyName)
        try FileSystem.removeTree(directory + "/collections")
        try FileSystem.removeTree(directory + "/quarantine")
        try FileSystem.removeFile(directory + "/vault.stats")
        try FileSystem.removeFile(directory + "/vault.meta")
        try FileSystem.syncDirectory(directory)
        try FileSystem.removeFile(directory + "/" + erasingMarker)
        try FileSystem.syncDirectory(directory)
    }

    mutating func close() throws {
        if closed || erased { return }
        try commit()
        collections.removeAll()
        cipher = nil
        lock = nil
        closed = true
    }
}
