import Testing
import Foundation
@testable import StewardCore
import StewardTesting

@Suite struct VaultSmokeTests {
    @Test func appendCommitReopenReadsBack() throws {
        let dir = NSTemporaryDirectory() + "steward-smoke-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var ids: [RecordID] = []
        do {
            let vault = try Vault.open(dataDirectory: dir)
            for i in 0..<100 {
                ids.append(try vault.append(Array("record \(i)".utf8), to: "notes", category: .usageEvents, purpose: .analytics))
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
}
