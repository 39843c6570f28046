import Foundation
import Testing
@testable import StewardCore
import StewardTesting

/// Files an attacker or a broken disk could leave behind: each gets a clear error or is set
/// aside, and none crashes the host.
@Suite struct VaultHostileInputTests {
    let dir = NSTemporaryDirectory() + "steward-hostile-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()

    func openVault() throws -> Vault { try Vault.open(directory: dir, keyProvider: keys) }
    func segmentPath(_ collection: String, _ number: UInt32 = 1) -> String {
        dir + "/collections/\(collection)/" + SegmentFormat.segmentFileName(number)
    }

    /// A frame with a correct CRC but a seal made of random bytes: what someone without the
    /// key can forge.
    func forgedFrame(kind: SegmentFormat.Kind, id: UInt64) -> [UInt8] {
        var frame = SegmentFormat.frameMagic + [kind.rawValue, 0]
        SegmentFormat.put(UInt16(44), into: &frame)
        SegmentFormat.put(UInt32(28), into: &frame)
        SegmentFormat.put(UInt32(0), into: &frame)
        SegmentFormat.put(id, into: &frame)
        SegmentFormat.put(Int64(0), into: &frame)
        SegmentFormat.put(Int64.max, into: &frame)
        SegmentFormat.put(UInt16(0), into: &frame)
        SegmentFormat.put(UInt16(0), into: &frame)
        frame += (0..<28).map { _ in UInt8.random(in: 0...255) }
        let crc = frame.withUnsafeBytes { CRC32C.frame($0) }
        frame.withUnsafeMutableBytes { $0.storeBytes(of: crc.littleEndian, toByteOffset: 12, as: UInt32.self) }
        return frame
    }

    /// Appends forged frames followed by a copy of the segment's last (commit) frame, so the
    /// forgery sits inside the committed prefix.
    func appendCommitted(_ frames: [UInt8], to path: String) throws {
        var bytes = try #require(FileManager.default.contents(atPath: path).map { Array($0) })
        let commitFrame = Array(bytes.suffix(72))
        #expect(commitFrame.count == 72 && commitFrame[4] == SegmentFormat.Kind.commit.rawValue)
        bytes += frames + commitFrame
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func aForgedTombstoneIsQuarantinedOnceAndRemovesNothing() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let id: RecordID
        do {
            let vault = try openVault()
            id = try vault.append(Array("keep me".utf8), to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        try appendCommitted(forgedFrame(kind: .tombstone, id: id.rawValue), to: segmentPath("notes"))
        for _ in 0..<2 {
            let vault = try openVault()
            #expect(try vault.record(id, in: "notes")?.data == Array("keep me".utf8))
            #expect(try vault.summary().quarantined == 1, "counted once, however often the vault is opened")
            try vault.close()
        }
    }

    @Test func aForgedFrameClaimingTheLastIDMakesAppendFailClearlyNotTrap() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let vault = try openVault()
            try vault.append([1], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        try appendCommitted(forgedFrame(kind: .record, id: .max), to: segmentPath("notes"))
        let vault = try openVault()
        #expect { try vault.append([2], to: "notes", category: .usageEvents, purpose: .analytics) } throws: {
            ($0 as? VaultError)?.message.contains("exhausted") == true
        }
        // Reading finds the forgery and quarantines it; the sound record stays.
        #expect(try vault.records(in: "notes").map(\.data) == [[1]])
        #expect(try vault.summary().quarantined == 1)
    }

    @Test func aRecordWithAnEmptyCategoryAndPurposeReadsBackAfterReopening() throws {
        // Found by the FuzzVaultRoundTrip target: the name table's last-lookup cache started out
        // matching the empty name, so an empty purpose read from disk got a number the table never
        // gave, and reading the record trapped (index out of range).
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let vault = try openVault()
            try vault.append([1], to: "notes", category: DataCategory(rawValue: ""), purpose: Purpose(rawValue: ""))
            try vault.append([2], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        let records = try openVault().records(in: "notes")
        #expect(records.map(\.data) == [[1], [2]])
        #expect(records.map(\.purpose) == [Purpose(rawValue: ""), .analytics])
        #expect(records.map(\.category) == [DataCategory(rawValue: ""), .usageEvents])
    }

    @Test func aSecondSpellingOfASegmentNumberIsNotReadTwice() throws {
        // `000000001.seg` parsed as segment 1 too, and loading it read `00000001.seg` a second
        // time: every record of the segment was indexed twice.
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let vault = try openVault()
            try vault.append([1], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.append([2], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        let planted = dir + "/collections/notes/000000001.seg"
        try FileManager.default.copyItem(atPath: segmentPath("notes"), toPath: planted)
        let before = try #require(FileManager.default.contents(atPath: planted))
        let vault = try openVault()
        #expect(try vault.records(in: "notes").map(\.data) == [[1], [2]])
        #expect(try vault.summary().collections.first { $0.name == "notes" }?.records == 2)
        #expect(try vault.summary().problems.contains { $0.contains("000000001.seg: not a segment file") })
        try vault.close()
        #expect(
            FileManager.default.contents(atPath: planted) == before, "a file that is not the vault's is left untouched")
        #expect(SegmentFormat.segmentNumber(fromFileName: "100000000.seg") == 100_000_000)
        #expect(SegmentFormat.segmentNumber(fromFileName: "0100000000.seg") == nil)
    }

    @Test func anImpossibleEvictionCountIsReportedNotATrap() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try openVault().close()
        try Data(repeating: 0xFF, count: 8).write(to: URL(fileURLWithPath: dir + "/vault.stats"))
        let summary = try openVault().summary()
        #expect(summary.evicted == 0)
        #expect(summary.problems.contains { $0.contains("vault.stats") })
    }

    @Test func aDirectoryNamedLikeASegmentIsReportedAndTheRestStaysReadable() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let vault = try openVault()
            try vault.append([7], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        try FileManager.default.createDirectory(atPath: segmentPath("notes", 9), withIntermediateDirectories: false)
        let vault = try openVault()
        #expect(try vault.records(in: "notes").map(\.data) == [[7]])
        #expect(try vault.summary().problems.contains { $0.contains("00000009.seg") })
        // New segments never take the number of a file left untouched.
        var options = VaultOptions()
        options.segmentSize = 1
        try vault.close()
        let small = try Vault.open(directory: dir, keyProvider: keys, options: options)
        try small.append([8], to: "notes", category: .usageEvents, purpose: .analytics)
        try small.commit()
        try small.append([9], to: "notes", category: .usageEvents, purpose: .analytics)
        try small.commit()
        var isDirectory: ObjCBool = false
        #expect(
            FileManager.default.fileExists(atPath: segmentPath("notes", 9), isDirectory: &isDirectory)
                && isDirectory.boolValue)
        #expect(FileManager.default.fileExists(atPath: segmentPath("notes", 10)))
    }

    @Test func aSegmentFullOfFakeFrameMagicOpensInBoundedTime() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let vault = try openVault()
            try vault.append([1], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        // 2 MiB of plausible frame headers (sane kind and lengths, wrong CRC), each claiming a
        // 1 MiB body: without a budget, resynchronising would checksum 1 MiB at each of ~22,000
        // candidates, about 22 GB.
        var unit = SegmentFormat.frameMagic + [1, 0]
        SegmentFormat.put(UInt16(44), into: &unit)
        SegmentFormat.put(UInt32((1 << 20) - 1), into: &unit)
        unit += [UInt8](repeating: 0, count: 48 - unit.count)
        var fake: [UInt8] = []
        while fake.count < 2 << 20 { fake += unit }
        try appendCommitted(fake, to: segmentPath("notes"))
        let vault = try openVault()  // finishes: the test would time out otherwise
        #expect(try vault.summary().quarantined >= 1)
    }

    @Test func aRetentionTooLongToRepresentMeansNeverExpires() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vault = try openVault()
        let id = try vault.append(
            [1], to: "notes", category: .usageEvents, purpose: .analytics, retention: .seconds(Int64.max))
        try vault.commit()
        #expect(try vault.record(id, in: "notes")?.expires == nil)
        #expect(try vault.purgeExpired() == 0)
    }
}
