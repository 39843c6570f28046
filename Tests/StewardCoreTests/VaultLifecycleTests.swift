import Testing
import Foundation
@testable import StewardCore
import StewardTesting

@Suite struct VaultLifecycleTests {
    @Test func appendCommitReopenReadsBack() throws {
        let dir = NSTemporaryDirectory() + "steward-smoke-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var ids: [RecordID] = []
        do {
            let vault = try Vault.open(dataDirectory: dir)
            for i in 0..<100 {
                ids.append(
                    try vault.append(
                        Array("record \(i)".utf8), to: "notes", category: .usageEvents, purpose: .analytics))
            }
            try vault.commit()
            #expect(try vault.remove(ids[3], from: "notes"))
            try vault.append(Array("uncommitted".utf8), to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        let vault = try Vault.open(dataDirectory: dir)
        let records = try vault.records(in: "notes")
        #expect(records.count == 100)
        #expect(records.first?.data == Array("record 0".utf8))
        #expect(!records.contains { $0.id == ids[3] })
        #expect(try vault.purge(purpose: .analytics) == 100)
        #expect(try vault.records(in: "notes").isEmpty)
        let summary = try vault.summary()
        #expect(summary.records == 0)
        try vault.erase()
        #expect(!FileManager.default.fileExists(atPath: dir + "/keys/vault.key"))
    }

    @Test func anEraseInterruptedByACrashIsFinishedByTheNextOpen() throws {
        let dir = NSTemporaryDirectory() + "steward-erase-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = InMemoryKeyProvider()
        do {
            let vault = try Vault.open(directory: dir, keyProvider: keys)
            try vault.append(Array("old".utf8), to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        // The state a crash right after "marker written, key destroyed" leaves behind.
        #expect(FileManager.default.createFile(atPath: dir + "/erasing", contents: Data()))
        try keys.destroyKey(named: "vault")
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        #expect(try vault.collections().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: dir + "/erasing"))
        #expect(keys.hasKey(named: "vault"), "a new vault gets a new key")
        try vault.append(Array("new".utf8), to: "notes", category: .usageEvents, purpose: .analytics)
        try vault.commit()
        #expect(try vault.records(in: "notes").map(\.data) == [Array("new".utf8)])
    }

    @Test func anExistingVaultWhoseKeyIsMissingIsNotSilentlyReplaced() throws {
        let dir = NSTemporaryDirectory() + "steward-nokey-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = InMemoryKeyProvider()
        try Vault.open(directory: dir, keyProvider: keys).close()
        try keys.destroyKey(named: "vault")
        #expect(throws: InMemoryKeyProviderError.self) { try Vault.open(directory: dir, keyProvider: keys) }
        #expect(!keys.hasKey(named: "vault"))
    }

    @Test func recordsKeepTheirMetadataAndExpiry() throws {
        let dir = NSTemporaryDirectory() + "steward-meta-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = ManualWallClock(now: Date(timeIntervalSince1970: 1_800_000_000))
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider(), clock: clock)
        let id = try vault.append(
            [1, 2, 3], to: "images", category: .images, purpose: .serviceProvision, retention: .seconds(30 * 86_400))
        let forever = try vault.append([4], to: "images", category: .imageMetadata, purpose: .personalization)
        try vault.commit()
        let record = try #require(try vault.record(id, in: "images"))
        #expect(record.category == .images)
        #expect(record.purpose == .serviceProvision)
        #expect(record.created == Date(timeIntervalSince1970: 1_800_000_000))
        #expect(record.expires == Date(timeIntervalSince1970: 1_800_000_000 + 30 * 86_400))
        #expect(try vault.record(forever, in: "images")?.expires == nil)
        clock.advance(by: .seconds(30 * 86_400 - 1))
        #expect(try vault.purgeExpired() == 0)
        clock.advance(by: .seconds(1))
        #expect(try vault.summary().collections.first?.expired == 1)
        #expect(try vault.purgeExpired() == 1)
        #expect(try vault.records(in: "images").map(\.id) == [forever])
    }

    @Test(arguments: ["", ".hidden", "a/b", "x.tmp", String(repeating: "a", count: 65), "ünï"])
    func invalidCollectionNamesAreRefused(_ name: String) throws {
        let dir = NSTemporaryDirectory() + "steward-names-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider())
        #expect { try vault.append([1], to: name, category: .usageEvents, purpose: .analytics) } throws: {
            ($0 as? VaultError)?.code == .invalidCollectionName
        }
    }

    @Test func aClosedOrErasedVaultRefusesUse() throws {
        let dir = NSTemporaryDirectory() + "steward-closed-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = InMemoryKeyProvider()
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        try vault.close()
        #expect { try vault.commit() } throws: { ($0 as? VaultError)?.code == .closed }
        let again = try Vault.open(directory: dir, keyProvider: keys)
        try again.erase()
        #expect { try again.records(in: "x") } throws: { ($0 as? VaultError)?.code == .erased }
    }

    @Test func committingSomeCollectionsLeavesTheOthersStaged() throws {
        let dir = NSTemporaryDirectory() + "steward-partial-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let keys = InMemoryKeyProvider()
        do {
            let vault = try Vault.open(directory: dir, keyProvider: keys)
            try vault.append([1], to: "staged", category: .usageEvents, purpose: .analytics)
            try vault.append([2], to: "receipts", category: .consentRecords, purpose: .privacyCompliance)
            try vault.commit(collections: ["receipts"])
            // Dropped without close: a crash.
        }
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        #expect(try vault.records(in: "receipts").map(\.data) == [[2]])
        #expect(try vault.records(in: "staged").isEmpty)
    }
}
