import Foundation
@testable import StewardCore

/// What a vault target may see thrown: the vault's own error, and the path checks it runs.
let vaultErrors: [any Error.Type] = [VaultError.self, InsecurePathError.self]

/// Opens the vault in `directory` with the fixed key, or nil after a typed error.
func openFuzzVault(_ directory: String) throws(PropertyViolation) -> Vault? {
    try typed("Vault.open", vaultErrors) {
        try Vault.open(directory: directory, keyProvider: FixedKeyProvider(), clock: fuzzClock)
    }
}

/// Everything readable in every collection of `vault`, and what its health checks report.
func readEverything(_ vault: Vault) throws(PropertyViolation) -> [String: [VaultRecord]] {
    var all: [String: [VaultRecord]] = [:]
    for name in try typed("collections()", vaultErrors, { try vault.collections() }) ?? [] {
        all[name] = try typed("records(in:)", vaultErrors) { try vault.records(in: name) } ?? []
    }
    _ = try typed("verify()", vaultErrors) { try vault.verify() }
    _ = try typed("summary()", vaultErrors) { try vault.summary() }
    return all
}

/// Segment files as the fuzzer makes them: a `vault.meta` and one segment of the collection
/// `notes`, opened, read, verified, compacted and reopened.
///
/// Input: one flag byte, the 68 bytes of `vault.meta`, then the segment file. Flag bit 0 repairs
/// the CRC of every frame the harness can delimit, so mutations reach the frame header and the
/// decryption behind the checksum; bit 1 copies the vault id from the meta into the segment
/// header. Seeds are real vaults written with the fixed key (`MakeSeeds`).
///
/// Checks: only typed errors; the vault opens again after its own repair (torn tail cut off,
/// damage quarantined) and then reads exactly what it read the first time, and the same after
/// a compaction.
public enum FuzzVaultSegment: FuzzTarget {
    public static let name = "FuzzVaultSegment"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard input.count >= 1 + SegmentFormat.metaLength else { return }
        let flags = input[0]
        let meta = Array(input[1..<(1 + SegmentFormat.metaLength)])
        var segment = Array(input[(1 + SegmentFormat.metaLength)...])
        if flags & 2 != 0, segment.count >= 32 { segment.replaceSubrange(16..<32, with: meta[16..<32]) }
        if flags & 1 != 0 { repairFrameChecksums(&segment) }
        let directory = Scratch.fresh("vault")
        Scratch.write(meta, to: directory + "/vault.meta")
        Scratch.write(segment, to: directory + "/collections/notes/" + SegmentFormat.segmentFileName(1))

        guard let vault = try openFuzzVault(directory) else { return }
        let first = try readEverything(vault)
        _ = try typed("close()", vaultErrors) { try vault.close() }

        guard let again = try openFuzzVault(directory) else {
            throw PropertyViolation("the vault did not open again after its own repair")
        }
        let second = try readEverything(again)
        try require(
            second == first,
            "reopening changed what is readable: \(first.mapValues(\.count)) then \(second.mapValues(\.count))")
        _ = try typed("compact()", vaultErrors) { try again.compact() }
        let third = try readEverything(again)
        try require(
            third == first,
            "compacting changed what is readable: \(first.mapValues(\.count)) then \(third.mapValues(\.count))")
        _ = try typed("close()", vaultErrors) { try again.close() }
    }

    /// Rewrites the CRC of each frame whose magic, header length and body length delimit it
    /// inside `segment`, scanning byte by byte past anything else.
    static func repairFrameChecksums(_ segment: inout [UInt8]) {
        var position = SegmentFormat.segmentHeaderLength
        while position + SegmentFormat.fixedFrameHeader <= segment.count {
            guard Array(segment[position..<(position + 4)]) == SegmentFormat.frameMagic else {
                position += 1
                continue
            }
            let header = Int(segment[position + 6]) | Int(segment[position + 7]) << 8
            let body =
                Int(segment[position + 8]) | Int(segment[position + 9]) << 8 | Int(segment[position + 10]) << 16 | Int(
                    segment[position + 11]) << 24
            let length = header + body
            guard header >= SegmentFormat.fixedFrameHeader, length <= segment.count - position else {
                position += 1
                continue
            }
            let crc = segment[position..<(position + length)].withUnsafeBytes { CRC32C.frame($0) }
            withUnsafeBytes(of: crc.littleEndian) {
                segment.replaceSubrange((position + 12)..<(position + 16), with: $0)
            }
            position += length
        }
    }
}

/// `vault.meta` (and `vault.stats`) as the fuzzer makes them.
///
/// Input: a flag byte (bit 0: also write the following 8 bytes as `vault.stats`), then the
/// meta file. Checks: only typed errors; a vault that opens takes a record, commits, and reads
/// it back after reopening.
public enum FuzzVaultMeta: FuzzTarget {
    public static let name = "FuzzVaultMeta"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        var reader = FuzzReader(input)
        let flags = reader.byte()
        let directory = Scratch.fresh("vault")
        if flags & 1 != 0 {
            Scratch.write((0..<8).map { _ in reader.byte() }, to: directory + "/vault.stats")
        }
        Scratch.write(reader.rest, to: directory + "/vault.meta")
        guard let vault = try openFuzzVault(directory) else { return }
        guard
            let id = try typed(
                "append", vaultErrors,
                {
                    let id = try vault.append([1, 2, 3], to: "notes", category: .usageEvents, purpose: .analytics)
                    try vault.commit()
                    return id
                })
        else { return }
        _ = try typed("close()", vaultErrors) { try vault.close() }
        guard let again = try openFuzzVault(directory) else {
            throw PropertyViolation("a vault that opened and committed did not open again")
        }
        let record = try typed("record(_:in:)", vaultErrors) { try again.record(id, in: "notes") }
        try require(record??.data == [1, 2, 3], "the committed record did not read back")
        _ = try typed("close()", vaultErrors) { try again.close() }
    }
}

/// Vault frames round trip: records described by the input are appended, some removed, and
/// committed; after reopening, the vault reads back exactly what was kept, with the creation
/// and expiry times to the millisecond (decode(encode(x)) == x for frames).
public enum FuzzVaultRoundTrip: FuzzTarget {
    public static let name = "FuzzVaultRoundTrip"

    static let collections = ["notes", "events", "steward.x", "a", String(repeating: "n", count: 64)]
    static let categories: [DataCategory] = [
        .usageEvents, .crashDiagnostics, "c", DataCategory(rawValue: String(repeating: "é", count: 40)),
    ]
    static let purposes: [Purpose] = [.analytics, .crashReporting, "p", Purpose(rawValue: "")]

    /// What a record must read back as; times in milliseconds since 1970.
    struct Expected: Equatable {
        var id: RecordID
        var data: [UInt8]
        var category: DataCategory
        var purpose: Purpose
        var created: Double
        var expires: Double?

        /// Whether `record` is this one, its times within the millisecond the format keeps.
        func matches(_ record: VaultRecord) -> Bool {
            guard record.id == id, record.data == data, record.category == category, record.purpose == purpose,
                abs(record.created.timeIntervalSince1970 * 1000 - created) < 1
            else { return false }
            switch (record.expires, expires) {
            case (nil, nil): return true
            case (let read?, let want?): return abs(read.timeIntervalSince1970 * 1000 - want) < 1
            default: return false
            }
        }
    }

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        var reader = FuzzReader(input)
        let directory = Scratch.fresh("vault")
        guard let vault = try openFuzzVault(directory) else { throw PropertyViolation("a new vault did not open") }
        var expected: [String: [Expected]] = [:]
        var operations = 0
        while !reader.isEmpty && operations < 64 {
            operations += 1
            switch reader.byte() % 8 {
            case 0...4:
                let collection = reader.pick(collections), category = reader.pick(categories),
                    purpose = reader.pick(purposes)
                let data = reader.bytes(upTo: 4096)
                let retention: Int64? = reader.bool() ? Int64(reader.u32()) : nil
                let created: Date? =
                    reader.bool() ? Date(timeIntervalSince1970: Double(Int32(bitPattern: reader.u32())) / 1000) : nil
                guard
                    let id = try typed(
                        "append", vaultErrors,
                        {
                            try vault.append(
                                data, to: collection, category: category, purpose: purpose,
                                retention: retention.map { .milliseconds($0) }, created: created)
                        })
                else { continue }
                let createdMs = ((created ?? fuzzNow).timeIntervalSince1970 * 1000).rounded(.down)
                expected[collection, default: []].append(
                    Expected(
                        id: id, data: data, category: category, purpose: purpose, created: createdMs,
                        expires: retention.map { createdMs + Double($0) }))
            case 5:
                let collection = reader.pick(collections)
                guard var records = expected[collection], !records.isEmpty else { continue }
                let index = Int(reader.byte()) % records.count
                let removed = try typed("remove", vaultErrors) { try vault.remove(records[index].id, from: collection) }
                try require(removed != false, "removing a live record said it was not there")
                records.remove(at: index)
                expected[collection] = records
            case 6:
                _ = try typed("commit", vaultErrors) { try vault.commit() }
            default:
                _ = try typed("compact", vaultErrors) { try vault.compact() }
            }
        }
        _ = try typed("commit", vaultErrors) { try vault.commit() }
        _ = try typed("close", vaultErrors) { try vault.close() }
        guard let again = try openFuzzVault(directory) else { throw PropertyViolation("the vault did not reopen") }
        for collection in collections {
            let read = try typed("records(in:)", vaultErrors) { try again.records(in: collection) } ?? []
            let want = expected[collection] ?? []
            try require(
                read.count == want.count && zip(want, read).allSatisfy { $0.matches($1) },
                "\(collection): read back \(read.count) records, expected \(want.count); first difference at \(zip(want, read).enumerated().first { !$0.element.0.matches($0.element.1) }?.offset ?? min(read.count, want.count))"
            )
        }
        _ = try typed("close", vaultErrors) { try again.close() }
    }
}
