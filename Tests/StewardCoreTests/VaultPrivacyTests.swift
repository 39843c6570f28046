import Testing
import Foundation
import Synchronization
@testable import StewardCore
import StewardTesting
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Privacy invariants that hold whatever the code path: no plaintext on disk, private modes
// whatever the umask, erase destroys the key before anything else, and purges take the
// ciphertext off the disk.

@Suite struct VaultPrivacyTests {
    // MARK: (a) No plaintext on disk

    @Test("A canary written through the vault appears in no file, as UTF-8 or as hex")
    func canaryNeverReachesTheDiskInPlaintext() throws {
        let dir = scratchPath("canary")
        defer { removeScratch(dir) }
        let canary = "CANARY-\(UUID().uuidString)"
        var options = VaultOptions()
        options.stagingLimit = 512
        options.segmentSize = 8 << 10
        do {
            let vault = try Vault.open(dataDirectory: dir, options: options)
            // Committed batches in two collections, with the canary at different offsets.
            for i in 0..<40 {
                let text = String(repeating: "·", count: i % 7) + canary + " record \(i)"
                try vault.append(
                    Array(text.utf8), to: i % 2 == 0 ? "notes" : "crash.reports", category: .usageEvents,
                    purpose: .analytics)
                if i % 10 == 9 { try vault.commit() }
            }
            // A removed record, committed and removed: its frame stays until a rewrite.
            let removed = try vault.append(
                Array("removed: \(canary)".utf8), to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.commit()
            try vault.remove(removed, from: "notes")
            try vault.commit()
            // Staged records past the staging limit are written to the file before any commit.
            for i in 0..<10 {
                try vault.append(
                    Array("staged \(i) \(canary) \(String(repeating: "x", count: 80))".utf8), to: "notes",
                    category: .usageEvents, purpose: .analytics)
            }
            let whileStaged = filesHolding(canary, under: dir)
            #expect(whileStaged.isEmpty, "plaintext canary in \(whileStaged) while records were staged")
            try vault.close()
        }
        // A record that fails authentication is copied to quarantine.
        let segment = try #require(segmentPaths(vault: dir + "/vault", collection: "notes").first)
        var bytes = try #require(fileBytes(segment))
        let frame = try #require(try parseFrames(bytes).first { $0.kind == .record })
        bytes[frame.body.lowerBound + 13] ^= 0x01
        recomputeCRC(&bytes, frame)
        try overwrite(segment, with: bytes)
        do {
            let vault = try reopenVault { try Vault.open(dataDirectory: dir, options: options) }
            _ = try vault.records(in: "notes")
            #expect(try vault.summary().quarantined == 1)
            try vault.close()
        }

        let found = filesHolding(canary, under: dir)
        #expect(found.isEmpty, "plaintext canary in \(found)")
        // The scan covered every kind of file the vault writes.
        let paths = allPaths(under: dir)
        for suffix in [".seg", "vault.meta", "vault.key", "/lock", ".bad"] {
            #expect(paths.contains { $0.hasSuffix(suffix) }, "no \(suffix) file was scanned: \(paths)")
        }
        // And the scan does find a canary where there is one.
        let hex = canary.utf8.map { String(format: "%02x", $0) }.joined()
        try createFile(dir + "/control", bytes: Array("x\(hex)y".utf8), mode: 0o600)
        #expect(filesHolding(canary, under: dir) == ["control"])
    }

    // MARK: (b) Modes

    @Test("Every folder the vault makes is 0700 and every file 0600, even under umask 0")
    func modesArePrivateWhateverTheUmask() async throws {
        let dir = scratchPath("modes")
        defer { removeScratch(dir) }
        // umask is per process: change it in a child, not under the tests running beside this one.
        // Beside the data folder (whose modes are checked), named after it: no other test, and
        // no other test process, can take it for its own.
        let probe = dir + "-umask-probe"
        defer { _ = unlink(probe) }
        await #expect(processExitsWith: .success) { [dir = dir as String, probe = probe as String] in
            umask(0)
            // Proof that the umask really is 0 here: a file asked for as 0666 gets 0666.
            close(open(probe, O_CREAT | O_WRONLY, 0o666))
            var options = VaultOptions()
            options.quota = 3 << 10  // evictions write vault.stats
            let vault = try Vault.open(dataDirectory: dir, options: options)
            for i in 0..<40 {
                try vault.append(
                    [UInt8](repeating: UInt8(i), count: 100), to: i % 2 == 0 ? "notes" : "crash.reports",
                    category: .usageEvents, purpose: .analytics)
            }
            try vault.commit()
            try vault.close()
            // A record that fails authentication writes a quarantine file.
            let segment = try #require(segmentPaths(vault: dir + "/vault", collection: "notes").last)
            var bytes = try #require(fileBytes(segment))
            let frame = try #require(try parseFrames(bytes).last { $0.kind == .record })
            bytes[frame.end - 1] ^= 0x01
            recomputeCRC(&bytes, frame)
            try overwrite(segment, with: bytes)
            let reopened = try Vault.open(dataDirectory: dir, options: options)
            _ = try reopened.records(in: "notes")
            try reopened.close()
        }
        #expect(fileMode(probe).map { $0 & 0o777 } == 0o666, "the child did not run under umask 0")

        #expect(fileMode(dir) == S_IFDIR | 0o700, "the data folder")
        let paths = allPaths(under: dir)
        for path in paths {
            let mode = try #require(fileMode(dir + "/" + path))
            switch mode & S_IFMT {
            case S_IFDIR: #expect(mode & 0o7777 == 0o700, "\(path) has mode \(String(mode & 0o7777, radix: 8))")
            case S_IFREG: #expect(mode & 0o7777 == 0o600, "\(path) has mode \(String(mode & 0o7777, radix: 8))")
            default: Issue.record("\(path) is neither a file nor a folder")
            }
        }
        for expected in [
            "keys", "keys/vault.key", "vault", "vault/lock", "vault/vault.meta", "vault/vault.stats",
            "vault/collections", "vault/collections/notes", "vault/quarantine",
        ] {
            #expect(paths.contains(expected), "\(expected) was not created, so its mode went unchecked")
        }
        #expect(paths.contains { $0.hasSuffix(".seg") } && paths.contains { $0.hasSuffix(".bad") })
    }

    // MARK: (c) Erase

    @Test("Erase destroys the key while the data is still there, then leaves no file; the next open has a new key")
    func eraseDestroysTheKeyFirstAndLeavesNothing() throws {
        let dir = scratchPath("erase")
        defer { removeScratch(dir) }
        let keyPath = dir + "/keys/vault.key"
        let provider = WatchingKeyProvider(
            inner: FileKeyProvider(directory: dir + "/keys"), vaultDirectory: dir + "/vault")
        let vault = try Vault.open(directory: dir + "/vault", keyProvider: provider)
        for i in 0..<20 {
            try vault.append(
                Array("record \(i)".utf8), to: i % 2 == 0 ? "notes" : "crash.reports", category: .usageEvents,
                purpose: .analytics)
        }
        try vault.commit()
        let oldKey = try #require(fileBytes(keyPath))
        #expect(oldKey.count == 32)

        try vault.erase()
        let seen = try #require(provider.destroyed, "erase never destroyed the key")
        #expect(seen.segmentFiles > 0 && seen.metaExisted, "the key was destroyed after the data was removed: \(seen)")
        #expect(seen.keyFileExistedBefore && !seen.keyFileExistsAfter, "\(seen)")
        #expect(!FileManager.default.fileExists(atPath: keyPath))
        // Only the lock file stays (it holds a pid, nothing from the vault): unlinking it would
        // let two processes lock different inodes of the same name.
        let left = allPaths(under: dir + "/vault")
        #expect(left == ["lock"], "left behind: \(left)")
        let lockBytes = FileManager.default.contents(atPath: dir + "/vault/lock").map { Array($0) } ?? []
        #expect(lockBytes.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }, "the lock file holds only a pid")
        #expect { try vault.records(in: "notes") } throws: { ($0 as? VaultError)?.code == .erased }

        let fresh = try reopenVault { try Vault.open(dataDirectory: dir) }
        #expect(try fresh.collections().isEmpty)
        #expect(try fresh.records(in: "notes").isEmpty)
        let newKey = try #require(fileBytes(keyPath))
        #expect(newKey.count == 32 && newKey != oldKey, "the new vault must have a new key")
    }

    // MARK: (d) Purges remove the ciphertext

    enum Removal: String, CaseIterable, CustomTestStringConvertible {
        case purgePurpose, purgeExpired, removeThenCompact, quotaEviction
        var testDescription: String { rawValue }
    }

    @Test(
        "Purging, compacting after removal and quota eviction take the sealed bytes off the disk",
        arguments: Removal.allCases)
    func removalTakesTheCiphertextOffTheDisk(_ removal: Removal) throws {
        let dir = scratchPath("purge-\(removal)")
        defer { removeScratch(dir) }
        let keys = InMemoryKeyProvider()
        let clock = ManualWallClock()
        var options = VaultOptions()
        options.segmentSize = 4 << 10  // several segments per collection
        var rng = SplitMix64(seed: 12)
        var data: [UInt64: [UInt8]] = [:]
        var targets: Set<UInt64> = []
        do {
            let vault = try Vault.open(directory: dir, keyProvider: keys, options: options, clock: clock)
            for i in 0..<90 {
                let target = i % 3 == 1
                let bytes = rng.bytes(rng.int(in: 1...150))
                let id = try vault.append(
                    bytes, to: i % 2 == 0 ? "notes" : "crash.reports", category: .usageEvents,
                    purpose: target ? .advertising : .analytics,
                    retention: target ? .seconds(60) : nil
                ).rawValue
                data[id] = bytes
                if target { targets.insert(id) }
                clock.advance(by: .seconds(1))
                if i % 10 == 9 { try vault.commit() }
            }
            try vault.close()
        }
        let bodies = try sealedBodies(under: dir)
        #expect(Set(bodies.keys) == Set(data.keys), "every record's frame is on disk")
        for id in targets {
            #expect(filesHolding(bodies[id]!, under: dir).count == 1, "#\(id)'s sealed bytes are on disk once")
        }

        options.quota = removal == .quotaEviction ? 6 << 10 : nil
        let vault = try reopenVault {
            try Vault.open(directory: dir, keyProvider: keys, options: options, clock: clock)
        }
        switch removal {
        case .purgePurpose:
            #expect(try vault.purge(purpose: .advertising) == targets.count)
        case .purgeExpired:
            clock.advance(by: .seconds(3_600))
            #expect(try vault.purgeExpired() == targets.count)
        case .removeThenCompact:
            for id in targets {
                let collection = bodies[id]!.collection
                #expect(try vault.remove(RecordID(rawValue: id), from: collection))
            }
            try vault.compact()
        case .quotaEviction:
            try vault.commit()
        }
        var remaining: [UInt64: [UInt8]] = [:]
        for collection in ["notes", "crash.reports"] {
            for record in try vault.records(in: collection) { remaining[record.id.rawValue] = record.data }
        }
        if removal == .quotaEviction {
            targets = Set(data.keys).subtracting(remaining.keys)
            #expect(!targets.isEmpty, "the quota evicted nothing")
        }
        #expect(remaining == data.filter { !targets.contains($0.key) }, "the records that were not removed are intact")
        for id in targets.sorted() {
            let holders = filesHolding(bodies[id]!, under: dir)
            #expect(holders.isEmpty, "the sealed bytes of removed record #\(id) are still in \(holders)")
        }
    }
}

// MARK: - Helpers

/// A key provider that notes what the vault folder held when the key was destroyed.
final class WatchingKeyProvider: KeyProvider {
    struct Destruction: CustomStringConvertible {
        var segmentFiles: Int
        var metaExisted: Bool
        var keyFileExistedBefore: Bool
        var keyFileExistsAfter: Bool
        var description: String {
            "segments \(segmentFiles), meta \(metaExisted), key file before \(keyFileExistedBefore), after \(keyFileExistsAfter)"
        }
    }

    let inner: FileKeyProvider
    let vaultDirectory: String
    private let seen = Mutex<Destruction?>(nil)

    init(inner: FileKeyProvider, vaultDirectory: String) {
        self.inner = inner
        self.vaultDirectory = vaultDirectory
    }

    var destroyed: Destruction? { seen.withLock { $0 } }

    func key(named name: String, createIfMissing: Bool) throws -> SymmetricKey {
        try inner.key(named: name, createIfMissing: createIfMissing)
    }

    func destroyKey(named name: String) throws {
        let keyPath = inner.path(forKeyNamed: name)
        let segments = allPaths(under: vaultDirectory).filter { $0.hasSuffix(".seg") }.count
        let meta = FileManager.default.fileExists(atPath: vaultDirectory + "/vault.meta")
        let before = FileManager.default.fileExists(atPath: keyPath)
        try inner.destroyKey(named: name)
        let after = FileManager.default.fileExists(atPath: keyPath)
        seen.withLock {
            $0 = Destruction(
                segmentFiles: segments, metaExisted: meta, keyFileExistedBefore: before, keyFileExistsAfter: after)
        }
    }
}

/// The files under `root` (relative paths) holding `canary` as UTF-8, or its UTF-8 bytes in
/// lower- or uppercase hex.
func filesHolding(_ canary: String, under root: String) -> [String] {
    let utf8 = Array(canary.utf8)
    let hex = utf8.map { String(format: "%02x", $0) }.joined()
    let needles = [utf8, Array(hex.utf8), Array(hex.uppercased().utf8)]
    return allPaths(under: root).filter { path in
        guard let bytes = fileBytes(root + "/" + path),
            fileMode(root + "/" + path).map({ $0 & S_IFMT == S_IFREG }) == true
        else { return false }
        return needles.contains { contains(bytes, $0) }
    }
}

/// The files under `root` holding `bytes`.
func filesHolding(_ bytes: [UInt8], under root: String) -> [String] {
    allPaths(under: root).filter { path in
        fileMode(root + "/" + path).map { $0 & S_IFMT == S_IFREG } == true
            && (fileBytes(root + "/" + path).map { contains($0, bytes) } ?? false)
    }
}

/// A record's sealed body as found in a segment file.
struct SealedBody {
    var collection: String
    var bytes: [UInt8]
}

/// The sealed body (nonce ‖ ciphertext ‖ tag) of every record frame in a vault's segments.
func sealedBodies(under vault: String) throws -> [UInt64: SealedBody] {
    var result: [UInt64: SealedBody] = [:]
    for collection in (try? FileManager.default.contentsOfDirectory(atPath: vault + "/collections")) ?? [] {
        for path in segmentPaths(vault: vault, collection: collection) {
            let bytes = try #require(fileBytes(path))
            for frame in try parseFrames(bytes) where frame.kind == .record {
                result[frame.id] = SealedBody(collection: collection, bytes: Array(bytes[frame.body]))
            }
        }
    }
    return result
}

func filesHolding(_ body: SealedBody, under root: String) -> [String] { filesHolding(body.bytes, under: root) }
