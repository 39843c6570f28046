import Testing
import Foundation
@testable import StewardCore
import StewardTesting
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The vault against an in-memory model: seeded random sequences of appends, commits, removals,
// purges, compactions, reopenings and crashes (a vault dropped without `close`). After every
// operation the vault's records must equal the model's. A failure names its seed and step;
// rerun that one seed to reproduce it exactly.
//
// Model semantics (Vault.md, "Guarantees"): `append` and `remove` are staged and visible at
// once; `commit`, `close`, `compact`, `purgeExpired` and `purge(purpose:)` make everything
// staged durable; a crash reverts to the last durable state.

@Suite struct VaultModelTests {
    @Test(
        "Random operation sequences keep the vault equal to the model, across reopens and crashes",
        arguments: 0..<40 as Range<UInt64>)
    func randomOperationsMatchTheModel(seed: UInt64) throws {
        var run = try ModelRun(seed: seed, options: ModelRun.options(forSeed: seed), enforceQuota: false)
        defer { run.cleanUp() }
        try run.run(steps: 150)
    }

    @Test(
        "With a quota, commits evict the oldest records first and count them",
        arguments: 1_000..<1_012 as Range<UInt64>)
    func quotaEvictsTheOldestRecords(seed: UInt64) throws {
        var options = VaultOptions()
        options.segmentSize = 4 << 10
        options.stagingLimit = 1 << 10
        options.quota = 6 << 10
        var run = try ModelRun(seed: seed, options: options, enforceQuota: true)
        defer { run.cleanUp() }
        try run.run(steps: 150)
        #expect(run.totalEvicted > 0, "seed \(seed): the quota never evicted anything, so this run proved nothing")
    }

    /// What a purge that finds nothing to remove is asked to do.
    enum EmptyPurge: String, CaseIterable, CustomTestStringConvertible {
        case expiredWithNothingExpired, purposeNeverUsed, purposeWithNoLiveRecord
        var testDescription: String { rawValue }
    }

    @Test(
        "A purge that removes nothing still commits what was staged (it \"commits\", says the doc)",
        arguments: EmptyPurge.allCases)
    func emptyPurgeCommits(_ kind: EmptyPurge) throws {
        let dir = scratchPath("empty-purge")
        defer { removeScratch(dir) }
        let keys = InMemoryKeyProvider()
        var vault: Vault? = try Vault.open(directory: dir, keyProvider: keys)
        let gone = try vault!.append([9], to: "notes", category: .usageEvents, purpose: .advertising)
        try vault!.commit()
        #expect(try vault!.remove(gone, from: "notes"))
        try vault!.commit()
        let staged = try vault!.append(
            [1, 2, 3], to: "notes", category: .usageEvents, purpose: .analytics, retention: .seconds(3_600))
        switch kind {
        case .expiredWithNothingExpired: #expect(try vault!.purgeExpired() == 0)
        case .purposeNeverUsed: #expect(try vault!.purge(purpose: "neverUsed") == 0)
        case .purposeWithNoLiveRecord: #expect(try vault!.purge(purpose: .advertising) == 0)
        }
        vault = nil  // a crash
        let reopened = try reopenVault { try Vault.open(directory: dir, keyProvider: keys) }
        #expect(
            try reopened.records(in: "notes").map(\.id) == [staged], "the staged record was not committed by the purge")
    }

    @Test("After every commit the segment files fit within the quota, removed records included")
    func quotaIsAnUpperBoundAfterEachCommit() throws {
        let dir = scratchPath("quota-bound")
        defer { removeScratch(dir) }
        var options = VaultOptions()
        options.quota = 4 << 10
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider(), options: options)
        var rng = SplitMix64(seed: 7)
        var ids: [RecordID] = []
        for round in 0..<30 {
            for _ in 0..<3 {
                ids.append(try vault.append(rng.bytes(200), to: "notes", category: .usageEvents, purpose: .analytics))
            }
            if round % 3 == 2 {
                for _ in 0..<4 where !ids.isEmpty {
                    try vault.remove(ids.remove(at: rng.int(in: 0..<ids.count)), from: "notes")
                }
            }
            try vault.commit()
            let bytes = try vault.summary().fileBytes
            #expect(
                bytes <= 4 << 10,
                "round \(round): the segment files hold \(bytes) bytes after a commit; the quota (an \"upper bound\") is 4096"
            )
        }
        #expect(try vault.summary().evicted > 0)
    }

    @Test("Dropping a vault without close releases its lock and discards only what was staged")
    func droppingAVaultReleasesTheLock() throws {
        let dir = scratchPath("drop")
        defer { removeScratch(dir) }
        let keys = InMemoryKeyProvider()
        var vault: Vault? = try Vault.open(directory: dir, keyProvider: keys)
        let kept = try vault!.append([1, 2, 3], to: "notes", category: .usageEvents, purpose: .analytics)
        try vault!.commit()
        try vault!.append([4, 5, 6], to: "notes", category: .usageEvents, purpose: .analytics)
        #expect(throws: VaultError.self) { try Vault.open(directory: dir, keyProvider: keys) }
        vault = nil
        let reopened = try reopenVault { try Vault.open(directory: dir, keyProvider: keys) }
        #expect(try reopened.records(in: "notes").map(\.id) == [kept])
    }
}

// MARK: - The model run

/// One record as the model knows it, and as the vault must return it.
struct ModelRecord: Equatable, CustomStringConvertible {
    var id: UInt64
    var collection: String
    var data: [UInt8]
    var category: String
    var purpose: String
    /// Milliseconds since 1970.
    var created: Int64
    /// Milliseconds since 1970; Int64.max when the record never expires.
    var expires: Int64

    init(
        id: UInt64, collection: String, data: [UInt8], category: String, purpose: String, created: Int64, expires: Int64
    ) {
        self.id = id
        self.collection = collection
        self.data = data
        self.category = category
        self.purpose = purpose
        self.created = created
        self.expires = expires
    }

    init(_ record: VaultRecord) {
        self.init(
            id: record.id.rawValue, collection: record.collection, data: record.data,
            category: record.category.rawValue, purpose: record.purpose.rawValue,
            created: epochMilliseconds(record.created), expires: record.expires.map(epochMilliseconds) ?? .max)
    }

    var description: String {
        "#\(id) \(collection) \(data.count)B \(category)/\(purpose) created \(created) expires \(expires == .max ? "never" : String(expires))"
    }
}

/// A date as whole milliseconds since 1970 (the vault's resolution).
func epochMilliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

struct ModelRun {
    static let collections = ["events", "crash.reports", "img_1"]
    static let categories: [DataCategory] = [.usageEvents, .crashDiagnostics, .images, "custom-category"]
    static let purposes: [Purpose] = [.analytics, .crashReporting, .serviceProvision, "warrantyClaims"]

    /// Some seeds use tiny segments and staging buffers so rotation, flushes before commit and
    /// compaction happen often.
    static func options(forSeed seed: UInt64) -> VaultOptions {
        var o = VaultOptions()
        switch seed % 4 {
        case 0: break
        case 1: o.segmentSize = 4 << 10; o.stagingLimit = 1 << 10
        case 2: o.segmentSize = 4 << 10; o.stagingLimit = 1 << 10; o.compactionThreshold = 0.25
        default: o.segmentSize = 16 << 10; o.stagingLimit = 512
        }
        return o
    }

    let seed: UInt64
    let options: VaultOptions
    /// Quota seeds check eviction instead of exact equality at commits.
    let enforceQuota: Bool
    let directory: String
    let keys = InMemoryKeyProvider()
    let clock = ManualWallClock()
    var rng: SplitMix64
    var vault: Vault?

    /// Records as they are now (staged included) and as they were at the last durable point.
    var current: [UInt64: ModelRecord] = [:]
    var committed: [UInt64: ModelRecord] = [:]
    /// Every id handed out, with its collection, for removals of live, dead and unknown ids.
    var issued: [(id: UInt64, collection: String)] = []
    /// The highest id handed out since the last open, and the highest made durable.
    var maxIssued: UInt64 = 0
    var maxDurable: UInt64 = 0
    var evictedSoFar = 0
    var totalEvicted = 0
    var step = 0
    var history: [String] = []

    init(seed: UInt64, options: VaultOptions, enforceQuota: Bool) throws {
        self.seed = seed
        self.options = options
        self.enforceQuota = enforceQuota
        self.rng = SplitMix64(seed: seed)
        self.directory = scratchPath("model-\(seed)")
        self.vault = try Vault.open(directory: directory, keyProvider: keys, options: options, clock: clock)
    }

    func cleanUp() { removeScratch(directory) }

    /// "seed 7, step 42: …" plus the last operations, so a failure can be replayed and read.
    func context(_ message: String) -> Comment {
        Comment(
            rawValue: "seed \(seed), step \(step): \(message)\n  last operations:\n    "
                + history.suffix(12).joined(separator: "\n    "))
    }

    enum Operation: CaseIterable {
        case append, commit, remove, purgeExpired, purgePurpose, compact, reopen, crash, advanceClock, summary,
            pointReads
    }

    /// How often each operation is drawn, in percent. Quota runs append more and purge less,
    /// so the quota is actually reached.
    var weights: [(Operation, Int)] {
        enforceQuota
            ? [
                (.append, 55), (.commit, 12), (.remove, 6), (.purgeExpired, 2), (.purgePurpose, 1), (.compact, 3),
                (.reopen, 5), (.crash, 5), (.advanceClock, 6), (.summary, 3), (.pointReads, 2),
            ]
            : [
                (.append, 40), (.commit, 10), (.remove, 13), (.purgeExpired, 5), (.purgePurpose, 3), (.compact, 4),
                (.reopen, 4), (.crash, 4), (.advanceClock, 8), (.summary, 4), (.pointReads, 5),
            ]
    }

    mutating func run(steps: Int) throws {
        let table = weights
        let total = table.reduce(0) { $0 + $1.1 }
        while step < steps {
            step += 1
            var roll = rng.int(in: 0..<total)
            let operation = table.first {
                roll -= $0.1; return roll < 0
            }!.0
            switch operation {
            case .append: try append()
            case .commit:
                try commitLike("commit") {
                    try $0.commit(); return nil
                }
            case .remove: try remove()
            case .purgeExpired: try purgeExpired()
            case .purgePurpose: try purgePurpose()
            case .compact:
                try commitLike("compact") {
                    try $0.compact(); return nil
                }
            case .reopen: try reopen()
            case .crash: try crash()
            case .advanceClock:
                let ms = rng.int(in: 0...3_000)
                clock.advance(by: .milliseconds(ms))
                history.append("advance clock \(ms) ms")
            case .summary: try checkSummary()
            case .pointReads: try checkPointReads()
            }
            try checkRecords("after \(history.last ?? "?")")
        }
        try reopen()
        try checkSummary()
    }

    var openVault: Vault {
        get throws { try #require(vault, context("no vault open")) }
    }

    // MARK: Operations

    mutating func append() throws {
        let collection = Self.collections[rng.int(in: 0..<Self.collections.count)]
        let size = rng.int(in: 0..<10) == 0 ? 0 : rng.int(in: 0...300)
        let data = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let category = Self.categories[rng.int(in: 0..<Self.categories.count)]
        let purpose = Self.purposes[rng.int(in: 0..<Self.purposes.count)]
        let retention: Int? = rng.int(in: 0..<2) == 0 ? nil : rng.int(in: 0...20_000)
        let now = clock.checkedUnixMilliseconds
        let id = try openVault.append(
            data, to: collection, category: category, purpose: purpose,
            retention: retention.map { .milliseconds($0) }
        ).rawValue
        history.append(
            "append #\(id) to \(collection): \(size) B, \(category)/\(purpose), retention \(retention.map { "\($0) ms" } ?? "none")"
        )
        try #require(
            id > maxIssued,
            context("append returned id \(id), but \(maxIssued) was already handed out: ids must never be reused"))
        maxIssued = id
        issued.append((id, collection))
        current[id] = ModelRecord(
            id: id, collection: collection, data: data, category: category.rawValue, purpose: purpose.rawValue,
            created: now, expires: retention.map { now + Int64($0) } ?? .max)
    }

    mutating func remove() throws {
        guard !issued.isEmpty else { return }
        let (id, home) = issued[rng.int(in: 0..<issued.count)]
        // Now and then ask the wrong collection: nothing may happen.
        let collection = rng.int(in: 0..<10) == 0 ? Self.collections.first { $0 != home }! : home
        let expected = current[id]?.collection == collection
        let removed = try openVault.remove(RecordID(rawValue: id), from: collection)
        history.append("remove #\(id) from \(collection) -> \(removed)")
        try #require(
            removed == expected,
            context("remove(#\(id), from: \(collection)) returned \(removed); the model says \(expected)"))
        if removed { current[id] = nil }
    }

    mutating func purgeExpired() throws {
        let now = clock.checkedUnixMilliseconds
        let expired = current.values.filter { $0.expires <= now }.map(\.id)
        try commitLike("purgeExpired (\(expired.count) expired)", removing: expired) { try $0.purgeExpired() }
    }

    mutating func purgePurpose() throws {
        let purpose = Self.purposes[rng.int(in: 0..<Self.purposes.count)]
        let matching = current.values.filter { $0.purpose == purpose.rawValue }.map(\.id)
        try commitLike("purge(purpose: \(purpose)) (\(matching.count) records)", removing: matching) {
            try $0.purge(purpose: purpose)
        }
    }

    mutating func reopen() throws {
        history.append("close and reopen")
        let before = current
        let closing = try openVault
        try closing.close()
        #expect(throws: VaultError.self, context("a closed vault must refuse use")) {
            try closing.records(in: "events")
        }
        vault = try reopenVault {
            try Vault.open(directory: directory, keyProvider: keys, options: options, clock: clock)
        }
        if enforceQuota { try checkEviction(before: before) }
        committed = current
        maxDurable = maxIssued
    }

    mutating func crash() throws {
        history.append("crash (drop the vault without close)")
        vault = nil
        do {
            vault = try reopenVault {
                try Vault.open(directory: directory, keyProvider: keys, options: options, clock: clock)
            }
        } catch let error as VaultError where error.code == .locked {
            Issue.record(context("the dropped vault still holds its lock: \(error)"))
            throw error
        }
        current = committed
        maxIssued = maxDurable
        // Ids of records lost with the crash may be handed out again; forget them.
        issued.removeAll { $0.id > maxDurable }
        if enforceQuota {
            let evicted = try openVault.summary().evicted
            try #require(
                evicted == evictedSoFar,
                context("summary().evicted is \(evicted) after a crash; \(evictedSoFar) were evicted and committed"))
        }
    }

    /// Runs an operation that makes everything staged durable, after removing `removing` from
    /// the model; `body` returns the count the operation reports, which must be the number
    /// removed. With a quota, the vault may then evict: the evicted records must be the oldest
    /// of the model's, and counted.
    mutating func commitLike(_ name: String, removing: [UInt64]? = nil, _ body: (Vault) throws -> Int?) throws {
        history.append(name)
        for id in removing ?? [] { current[id] = nil }
        let before = current
        let count = try body(try openVault)
        if let removing {
            try #require(
                count == removing.count,
                context(
                    "\(name) reported \(count.map(String.init) ?? "nil") removed; the model removed \(removing.count)"))
        }
        if enforceQuota {
            try checkEviction(before: before)
        }
        committed = current
        maxDurable = maxIssued
    }

    // MARK: Checks

    func vaultRecords() throws -> [UInt64: ModelRecord] {
        var all: [UInt64: ModelRecord] = [:]
        let vault = try openVault
        for collection in Self.collections {
            let records = try vault.records(in: collection)
            let ids = records.map(\.id.rawValue)
            try #require(
                ids == ids.sorted() && Set(ids).count == ids.count,
                context("records(in: \(collection)) is not in ascending id order without duplicates: \(ids)"))
            for record in records {
                try #require(
                    record.collection == collection,
                    context("records(in: \(collection)) returned a record of \(record.collection)"))
                all[record.id.rawValue] = ModelRecord(record)
            }
        }
        return all
    }

    mutating func checkEviction(before: [UInt64: ModelRecord]) throws {
        let vault = try openVault
        let after = try vaultRecords()
        for (id, record) in after {
            try #require(
                before[id] == record,
                context(
                    "after a commit the vault holds \(record), which the model has as \(before[id]?.description ?? "nothing")"
                ))
        }
        let oldestFirst = before.values.sorted { ($0.created, $0.id) < ($1.created, $1.id) }
        let evicted = oldestFirst.filter { after[$0.id] == nil }
        try #require(
            evicted.map(\.id) == oldestFirst.prefix(evicted.count).map(\.id),
            context(
                "evicted \(evicted.map(\.id)), but the oldest live records were \(oldestFirst.prefix(evicted.count).map(\.id))"
            ))
        let summary = try vault.summary()
        try #require(
            summary.evicted == evictedSoFar + evicted.count,
            context(
                "summary().evicted is \(summary.evicted); it was \(evictedSoFar) and \(evicted.count) records were evicted"
            ))
        evictedSoFar = summary.evicted
        totalEvicted += evicted.count
        if !evicted.isEmpty { history.append("  (evicted \(evicted.map(\.id)))") }
        // Near the quota: one segment of slack for dead frames, tombstones and commit frames not
        // yet rewritten. (The strict bound has its own test, below.)
        let limit = options.quota! + options.segmentSize
        try #require(
            summary.fileBytes <= limit,
            context("segment files hold \(summary.fileBytes) bytes after a commit; the quota is \(options.quota!)"))
        current = after
    }

    func checkRecords(_ when: String) throws {
        let actual = try vaultRecords()
        guard actual != current else { return }
        let missing = current.keys.filter { actual[$0] == nil }.sorted()
        let extra = actual.keys.filter { current[$0] == nil }.sorted()
        let differing = actual.keys.filter { current[$0] != nil && current[$0] != actual[$0] }.sorted()
        var lines = ["\(when): the vault differs from the model"]
        if !missing.isEmpty {
            lines.append("missing from the vault: " + missing.map { current[$0]!.description }.joined(separator: "; "))
        }
        if !extra.isEmpty {
            lines.append(
                "in the vault but not the model: " + extra.map { actual[$0]!.description }.joined(separator: "; "))
        }
        for id in differing { lines.append("#\(id): vault \(actual[id]!) / model \(current[id]!)") }
        try #require(Bool(false), context(lines.joined(separator: "\n  ")))
    }

    mutating func checkSummary() throws {
        history.append("summary")
        let summary = try openVault.summary()
        let now = clock.checkedUnixMilliseconds
        try #require(
            summary.records == current.count,
            context("summary().records is \(summary.records); the model has \(current.count)"))
        for collection in summary.collections {
            let mine = current.values.filter { $0.collection == collection.name }
            try #require(
                collection.records == mine.count,
                context("summary of \(collection.name): \(collection.records) records; the model has \(mine.count)"))
            let expired = mine.filter { $0.expires <= now }.count
            try #require(
                collection.expired == expired,
                context("summary of \(collection.name): \(collection.expired) expired; the model has \(expired)"))
            if let oldest = mine.map(\.created).min() {
                try #require(
                    collection.oldest.map(epochMilliseconds) == oldest,
                    context("summary of \(collection.name): oldest \(String(describing: collection.oldest))"))
            }
        }
        try #require(
            summary.quarantined == 0, context("summary().quarantined is \(summary.quarantined) in an undamaged vault"))
        try #require(summary.problems.isEmpty, context("summary().problems: \(summary.problems)"))
        if !enforceQuota { try #require(summary.evicted == 0, context("evictions without a quota")) }
        let names = try openVault.collections()
        for name in Set(current.values.map(\.collection)) {
            try #require(names.contains(name), context("collections() \(names) lacks \(name), which has live records"))
        }
        try #require(try openVault.verify() == 0, context("verify() quarantined records of an undamaged vault"))
    }

    mutating func checkPointReads() throws {
        history.append("point reads")
        for _ in 0..<3 where !issued.isEmpty {
            let (id, collection) = issued[rng.int(in: 0..<issued.count)]
            let record = try openVault.record(RecordID(rawValue: id), in: collection)
            let expected = current[id].flatMap { $0.collection == collection ? $0 : nil }
            try #require(
                record.map(ModelRecord.init) == expected,
                context(
                    "record(#\(id), in: \(collection)) is \(record.map { ModelRecord($0).description } ?? "nil"); the model has \(expected?.description ?? "nothing")"
                ))
        }
    }
}

// MARK: - Helpers shared by the vault suites

/// A fresh path under the temporary directory (not created).
func scratchPath(_ label: String) -> String {
    NSTemporaryDirectory() + "steward-\(label)-\(UUID().uuidString)"
}

func removeScratch(_ path: String) {
    try? FileManager.default.removeItem(atPath: path)
}

/// Opens a vault this process has just closed or dropped. Tests run in parallel with exit
/// tests, which spawn child processes; until such a child execs it holds copies of this
/// process's descriptors, the vault's lock descriptor included, and a `flock` is not released
/// while a copy exists (VaultConcurrencyTests has the deterministic test of that). A lock that
/// is never released still fails here, after the grace period.
func reopenVault(_ open: () throws -> Vault) throws -> Vault {
    let deadline = Date().addingTimeInterval(3)
    while true {
        do {
            return try open()
        } catch let error as VaultError where error.code == .locked && Date() < deadline {
            usleep(5_000)
        }
    }
}

/// The bytes of a file (nil when it cannot be read).
func fileBytes(_ path: String) -> [UInt8]? {
    FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

/// Replaces a file's contents in place, keeping its inode and mode.
func overwrite(_ path: String, with bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC)
    guard fd >= 0 else { throw SystemError(call: "open", path: path, errno: errno) }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        guard n > 0 else { throw SystemError(call: "write", path: path, errno: errno) }
        done += n
    }
}

/// Creates (or replaces) a file with exactly `mode`, whatever the umask.
func createFile(_ path: String, bytes: [UInt8], mode: mode_t) throws {
    _ = unlink(path)
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
    guard fd >= 0 else { throw SystemError(call: "open", path: path, errno: errno) }
    close(fd)
    try overwrite(path, with: bytes)
    guard chmod(path, mode) == 0 else { throw SystemError(call: "chmod", path: path, errno: errno) }
}

/// The permission bits and type of `path` (not following links), or nil when it is missing.
func fileMode(_ path: String) -> mode_t? {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode : nil
}

/// Every path under `root` (files, folders, links), relative to it, sorted.
func allPaths(under root: String) -> [String] {
    var result: [String] = []
    func walk(_ relative: String) {
        let path = relative.isEmpty ? root : root + "/" + relative
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        for name in names.sorted() {
            let child = relative.isEmpty ? name : relative + "/" + name
            result.append(child)
            if let mode = fileMode(root + "/" + child), mode & S_IFMT == S_IFDIR { walk(child) }
        }
    }
    walk("")
    return result
}

/// What a folder tree holds: each path's type and mode, and each regular file's bytes.
struct TreeSnapshot: Equatable, CustomStringConvertible {
    var entries: [String: String] = [:]

    init(_ root: String) {
        for path in allPaths(under: root) {
            let full = root + "/" + path
            let mode = fileMode(full) ?? 0
            var entry = "mode \(String(mode, radix: 8))"
            if mode & S_IFMT == S_IFREG, let bytes = fileBytes(full) {
                entry += " \(bytes.count) bytes, fnv \(String(fnv1a(bytes), radix: 16))"
            }
            entries[path] = entry
        }
    }

    var description: String { entries.keys.sorted().map { "\($0): \(entries[$0]!)" }.joined(separator: "\n") }

    /// The paths whose presence, mode or bytes differ.
    func differences(from other: TreeSnapshot) -> [String] {
        Set(entries.keys).union(other.entries.keys).sorted().filter { entries[$0] != other.entries[$0] }
    }
}

func fnv1a(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return hash
}

/// Copies a folder tree, keeping every mode (folders 0700, files 0600 stay so).
func copyTree(from source: String, to destination: String) throws {
    guard let mode = fileMode(source) else { throw SystemError(call: "lstat", path: source, errno: ENOENT) }
    if mode & S_IFMT == S_IFDIR {
        guard mkdir(destination, 0o700) == 0 || errno == EEXIST else {
            throw SystemError(call: "mkdir", path: destination, errno: errno)
        }
        for name in try FileManager.default.contentsOfDirectory(atPath: source) {
            try copyTree(from: source + "/" + name, to: destination + "/" + name)
        }
        guard chmod(destination, mode & 0o7777) == 0 else {
            throw SystemError(call: "chmod", path: destination, errno: errno)
        }
    } else {
        try createFile(destination, bytes: fileBytes(source) ?? [], mode: mode & 0o7777)
    }
}

/// Whether `needle` occurs in `haystack`.
func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
    let first = needle[0]
    var i = 0
    let last = haystack.count - needle.count
    while i <= last {
        if haystack[i] == first && haystack[i..<(i + needle.count)].elementsEqual(needle) { return true }
        i += 1
    }
    return false
}

/// A frame of a segment file, as VaultFormat.md lays it out.
struct ParsedFrame: Equatable {
    enum Kind: UInt8 { case record = 1, tombstone = 2, commit = 3 }
    var offset: Int
    var length: Int
    var headerLength: Int
    var kind: Kind
    var id: UInt64
    var end: Int { offset + length }
    /// The sealed body: nonce ‖ ciphertext ‖ tag.
    var body: Range<Int> { (offset + headerLength)..<end }
}

/// The frames of an intact segment file, in order.
func parseFrames(_ bytes: [UInt8]) throws -> [ParsedFrame] {
    func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
    func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
    func u64(_ at: Int) -> UInt64 { (0..<8).reduce(0) { $0 | UInt64(bytes[at + $1]) << (8 * $1) } }
    try #require(bytes.count >= 32 && Array(bytes[0..<8]) == Array("STEWSEG".utf8) + [0], "not a segment file")
    var frames: [ParsedFrame] = []
    var offset = 32
    while offset < bytes.count {
        try #require(
            bytes.count - offset >= 44 && Array(bytes[offset..<(offset + 4)]) == [0x46, 0x52, 0x4D, 0xA7],
            "no frame at \(offset)")
        let headerLength = u16(offset + 6), bodyLength = u32(offset + 8)
        let kind = try #require(ParsedFrame.Kind(rawValue: bytes[offset + 4]))
        try #require(offset + headerLength + bodyLength <= bytes.count, "frame at \(offset) runs past the end")
        frames.append(
            ParsedFrame(
                offset: offset, length: headerLength + bodyLength, headerLength: headerLength, kind: kind,
                id: u64(offset + 16)))
        offset += headerLength + bodyLength
    }
    return frames
}

/// The segment files of a collection, sorted.
func segmentPaths(vault: String, collection: String) -> [String] {
    let folder = vault + "/collections/" + collection
    return ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
        .filter { $0.hasSuffix(".seg") }.sorted().map { folder + "/" + $0 }
}
