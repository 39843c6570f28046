import Testing
import Foundation
@testable import StewardCore
import StewardTesting
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// One vault shared by many tasks, and one vault per directory across instances and processes.

@Suite struct VaultConcurrencyTests {
    /// What one task wrote: id, collection, data.
    struct Written: Sendable, Hashable {
        var id: UInt64
        var collection: String
        var data: [UInt8]
    }

    static func payload(task: Int, index: Int) -> [UInt8] {
        Array("task \(task) record \(index) ".utf8)
            + [UInt8](repeating: UInt8(truncatingIfNeeded: task &* 31 &+ index), count: index % 97)
    }

    @Test("Eight tasks appending, committing and reading at once lose and duplicate nothing")
    func sharedVaultUnderConcurrentTasks() async throws {
        let dir = scratchPath("concurrent")
        defer { removeScratch(dir) }
        let keys = InMemoryKeyProvider()
        var options = VaultOptions()
        options.segmentSize = 32 << 10
        options.stagingLimit = 4 << 10
        let vault = try Vault.open(directory: dir, keyProvider: keys, options: options)
        let collections = ["left", "right"]

        let written = try await withThrowingTaskGroup(of: [Written].self) { group in
            for task in 0..<8 {
                group.addTask {
                    var mine: [Written] = []
                    for index in 0..<200 {
                        let collection = collections[(task + index) % 2]
                        let data = Self.payload(task: task, index: index)
                        let id = try vault.append(data, to: collection, category: .usageEvents, purpose: .analytics)
                            .rawValue
                        mine.append(Written(id: id, collection: collection, data: data))
                        if index % 25 == 24 { try vault.commit() }
                        if index % 40 == 39 {
                            // Every record this task wrote is visible, intact, in its collection.
                            var seen: [UInt64: [UInt8]] = [:]
                            for c in collections {
                                for record in try vault.records(in: c) where record.collection == c {
                                    seen[record.id.rawValue] = record.data
                                }
                            }
                            for w in mine where seen[w.id] != w.data {
                                Issue.record(
                                    "task \(task): record #\(w.id) reads back as \(seen[w.id].map { "\($0.count) other bytes" } ?? "nothing")"
                                )
                            }
                        }
                        if index % 50 == 10, let w = mine.randomElement() {
                            #expect(try vault.record(RecordID(rawValue: w.id), in: w.collection)?.data == w.data)
                        }
                    }
                    return mine
                }
            }
            var all: [Written] = []
            for try await mine in group { all += mine }
            return all
        }
        #expect(written.count == 1_600)
        #expect(Set(written.map(\.id)).count == 1_600, "ids were handed out twice")

        func contents(_ vault: Vault) throws -> Set<Written> {
            var result = Set<Written>()
            for c in collections {
                for record in try vault.records(in: c) {
                    result.insert(Written(id: record.id.rawValue, collection: c, data: record.data))
                }
            }
            return result
        }
        #expect(try contents(vault) == Set(written))
        try vault.close()
        let reopened = try reopenVault { try Vault.open(directory: dir, keyProvider: keys, options: options) }
        #expect(try contents(reopened) == Set(written), "after reopening")
        #expect(try reopened.summary().records == 1_600)
    }

    @Test("forEachRecord's body may use the vault, even to append and remove")
    func forEachRecordBodyMayUseTheVault() throws {
        let dir = scratchPath("reentrant")
        defer { removeScratch(dir) }
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider())
        var ids: [RecordID] = []
        for i in 0..<600 {
            ids.append(try vault.append([UInt8(i % 256)], to: "notes", category: .usageEvents, purpose: .analytics))
        }
        try vault.commit()
        var visited = 0
        try vault.forEachRecord(in: "notes") { record in
            visited += 1
            #expect(try vault.record(record.id, in: "notes") == record)
            if record.id.rawValue % 2 == 0 { #expect(try vault.remove(record.id, from: "notes")) }
            _ = try vault.summary()
        }
        #expect(visited == 600)
        #expect(try vault.records(in: "notes").map(\.id) == ids.filter { $0.rawValue % 2 == 1 })
    }

    @Test("A second open of an open vault throws locked; after close it opens")
    func secondOpenIsLocked() throws {
        let dir = scratchPath("locked")
        defer { removeScratch(dir) }
        let keys = InMemoryKeyProvider()
        let first = try Vault.open(directory: dir, keyProvider: keys)
        try first.append([1], to: "notes", category: .usageEvents, purpose: .analytics)
        for _ in 0..<3 {
            #expect { try Vault.open(directory: dir, keyProvider: keys) } throws: {
                ($0 as? VaultError)?.code == .locked
            }
        }
        #expect(try first.records(in: "notes").count == 1, "a refused open must not disturb the open vault")
        try first.close()
        let second = try reopenVault { try Vault.open(directory: dir, keyProvider: keys) }
        #expect(try second.records(in: "notes").count == 1)
    }

    @Test("Another process cannot open a vault this process has open, and can once it is closed")
    func otherProcessIsLockedOut() async throws {
        let dir = scratchPath("locked-process")
        defer { removeScratch(dir) }
        let vault = try Vault.open(dataDirectory: dir)
        try vault.append([1, 2, 3], to: "notes", category: .usageEvents, purpose: .analytics)
        try vault.commit()
        await #expect(processExitsWith: .success, "the child opened a vault this process holds") {
            [dir = dir as String] in
            #expect { try Vault.open(dataDirectory: dir) } throws: { ($0 as? VaultError)?.code == .locked }
        }
        try vault.close()
        await #expect(processExitsWith: .success, "the child could not open the closed vault") {
            [dir = dir as String] in
            let vault = try reopenVault { try Vault.open(dataDirectory: dir) }
            #expect(try vault.records(in: "notes").map(\.data) == [[1, 2, 3]])
        }
    }

    @Test("close() releases the lock even while a forked child holds a copy of the descriptor")
    func closeReleasesTheLockDespiteAForkedChild() throws {
        let dir = scratchPath("locked-fork")
        defer { removeScratch(dir) }
        let keys = InMemoryKeyProvider()
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        // What any process that spawns helpers looks like between fork and exec: a child with
        // copies of every descriptor. This one only sleeps (async-signal-safe) and exits.
        let child = fork()
        if child == 0 {
            usleep(2_000_000)
            _exit(0)
        }
        #expect(child > 0)
        defer {
            kill(child, SIGKILL)
            var status: Int32 = 0
            waitpid(child, &status, 0)
        }
        try vault.close()
        #expect(throws: Never.self, "close() returned but the vault is still locked") {
            _ = try Vault.open(directory: dir, keyProvider: keys)
        }
    }
}
