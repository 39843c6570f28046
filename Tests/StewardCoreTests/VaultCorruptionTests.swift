import Testing
import Foundation
@testable import StewardCore
import StewardTesting
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// Damaged files, as VaultFormat.md describes their handling: flipped bits, truncations, empty
// and garbage files, altered ciphertext with a recomputed CRC, a damaged vault.meta, a wrong or
// missing key. Opening never crashes; what is damaged is quarantined, reported or refused, and
// everything else stays readable.

@Suite struct VaultCorruptionTests {
    // MARK: (a) Flipped bits

    @Test("A flipped bit in a segment's frames costs at most the frame it hits", arguments: 0..<8 as Range<UInt64>)
    func flippedBitInFrames(seed: UInt64) async {
        // In a child process, so a crash fails this test instead of ending the run.
        // The parent owns the scratch folder, so it goes even if the child dies.
        let root = scratchPath("flip-\(seed)")
        defer { removeScratch(root) }
        let log = ChildLog()
        let result = await #expect(
            processExitsWith: .success, "seed \(seed): opening damaged copies must never crash the process"
        ) {
            [seed = seed as UInt64, root = root as String, logPath = log.path as String] in
            try VaultCorruptionTests.flipTrials(seed: seed, root: root, log: ChildLog(path: logPath))
        }
        log.report(result)
    }

    static func flipTrials(seed: UInt64, root: String, log: ChildLog) throws {
        let fixture = try DamageFixture(root: root, seed: seed)
        var rng = SplitMix64(seed: seed &+ 0xF11B)
        for _ in 0..<30 {
            let collection = DamageFixture.collections[rng.int(in: 0..<2)]
            let original = try #require(fileBytes(fixture.segmentPath(collection, in: fixture.pristine)))
            let frames = try parseFrames(original)
            // Half of the flips land in a frame header, where the lengths and CRC are parsed.
            let target = frames[rng.int(in: 0..<frames.count)]
            let byte = rng.int(in: 0..<2) == 0 ? target.offset + rng.int(in: 0..<44) : rng.int(in: 32..<original.count)
            let bit = rng.int(in: 0..<8)
            let hit = try #require(frames.first { $0.offset <= byte && byte < $0.end })
            let label =
                "seed \(seed): bit \(bit) of byte \(byte) of \(collection), in the \(hit.kind) frame #\(hit.id) at \(hit.offset)"
            log.step(label)

            let trial = try fixture.makeTrial()
            defer { removeScratch(trial) }
            var damaged = original
            damaged[byte] ^= 1 << UInt8(bit)
            try overwrite(fixture.segmentPath(collection, in: trial), with: damaged)

            let vault = try fixture.open(trial)
            let found = try fixture.contents(of: vault)
            let summary = try vault.summary()
            let batches = fixture.batches[collection]!
            var expected = fixture.records
            switch hit.kind {
            case .record:
                expected[hit.id] = nil
                #expect(found == expected, "\(label): \(fixture.describeDifference(found, expected))")
                #expect(summary.quarantined >= 1, "\(label): the damaged frame was not quarantined")
                #expect(
                    fixture.quarantineHolds(Array(damaged[hit.offset..<hit.end]), in: trial),
                    "\(label): the damaged frame's bytes are not in quarantine")
            case .commit where hit.end == original.count:
                // The last commit frame: its batch is kept or cut as a whole.
                let lastBatch = Set(batches.last!)
                let withoutLast = expected.filter { !lastBatch.contains($0.key) }
                #expect(
                    found == expected || found == withoutLast,
                    "\(label): the last batch is neither whole nor gone: \(fixture.describeDifference(found, expected))"
                )
                expected = found
            case .commit, .tombstone:
                #expect(found == expected, "\(label): \(fixture.describeDifference(found, expected))")
                #expect(summary.quarantined >= 1, "\(label): the damaged frame was not quarantined")
            }
            #expect(summary.problems.isEmpty, "\(label): problems \(summary.problems)")
            try fixture.checkKeepsWorking(vault, trial: trial, expected: expected, appendingTo: collection, label)
        }
    }

    @Test("Records after a damaged frame keep their data, category, purpose and dates")
    func recordsAfterADamagedFrameKeepTheirMetadata() async {
        let root = scratchPath("damaged-middle")
        defer { removeScratch(root) }
        let log = ChildLog()
        let result = await #expect(
            processExitsWith: .success, "opening a segment with a damaged frame must not crash the process"
        ) {
            [root = root as String, logPath = log.path as String] in
            let log = ChildLog(path: logPath)
            let fixture = try DamageFixture(root: root, seed: 11)
            let trial = try fixture.makeTrial()
            let path = fixture.segmentPath("alpha", in: trial)
            var bytes = try #require(fileBytes(path))
            // The second record of the first batch: a CRC mismatch, with intact frames after it.
            let victim = try parseFrames(bytes).filter { $0.kind == .record }[1]
            bytes[victim.end - 1] ^= 0x10
            try overwrite(path, with: bytes)
            var expected = fixture.records
            expected[victim.id] = nil
            log.step("opening alpha with record #\(victim.id) damaged")
            let vault = try fixture.open(trial)
            let found = try fixture.contents(of: vault)
            #expect(found == expected, "\(fixture.describeDifference(found, expected))")
            #expect(try vault.summary().quarantined == 1)
        }
        log.report(result)
    }

    @Test(
        "A flipped bit in a segment header is reported, refused or harmless; the file is never altered",
        arguments: 0..<32)
    func flippedBitInSegmentHeader(byte: Int) throws {
        let fixture = try DamageFixture("flip-header-\(byte)", seed: 1)
        let collection = "alpha", other = "beta"
        let original = try #require(fileBytes(fixture.segmentPath(collection, in: fixture.pristine)))
        for bit in 0..<8 {
            let label = "bit \(bit) of header byte \(byte)"
            let trial = try fixture.makeTrial()
            defer { removeScratch(trial) }
            let path = fixture.segmentPath(collection, in: trial)
            var damaged = original
            damaged[byte] ^= 1 << UInt8(bit)
            try overwrite(path, with: damaged)
            let otherRecords = fixture.records.filter { $0.value.collection == other }

            switch byte {
            case 8..<10:  // format version
                let version = UInt16(damaged[8]) | UInt16(damaged[9]) << 8
                if version > SegmentFormat.version {
                    let before = TreeSnapshot(trial)
                    #expect("\(label): version \(version)") { try fixture.open(trial) } throws: {
                        ($0 as? VaultError)?.code == .unsupportedVersion
                    }
                    let changed = TreeSnapshot(trial).differences(from: before)
                    #expect(changed.isEmpty, "\(label): refusing a newer segment changed \(changed)")
                } else {
                    let vault = try fixture.open(trial)
                    #expect(try fixture.contents(of: vault) == fixture.records, "\(label): version \(version)")
                    try vault.close()
                }
            case 0..<8, 16..<32:  // magic, vault id: not this vault's file
                let vault = try fixture.open(trial)
                let found = try fixture.contents(of: vault)
                #expect(found.filter { $0.value.collection == other } == otherRecords, "\(label)")
                let problems = try vault.summary().problems
                #expect(problems.contains { $0.contains(path) }, "\(label): not reported: \(problems)")
                #expect(unchanged(path, damaged), "\(label): the foreign file was altered by open")
                try fixture.checkKeepsWorking(vault, trial: trial, expected: found, appendingTo: other, label)
                #expect(unchanged(path, damaged), "\(label): the foreign file was altered")
            default:  // header length, segment number: not checked by readers of version 1
                let vault = try fixture.open(trial)
                let found = try fixture.contents(of: vault)
                let reported = try vault.summary().problems.contains { $0.contains(path) }
                #expect(found.filter { $0.value.collection == other } == otherRecords, "\(label)")
                #expect(
                    found == fixture.records || (reported && unchanged(path, damaged)),
                    "\(label): the records of the file are neither readable nor reported: \(fixture.describeDifference(found, fixture.records))"
                )
                try vault.close()
            }
        }
    }

    // MARK: (b) Truncation

    @Test("A segment cut at any frame boundary keeps exactly the batches whose commit frame survived")
    func truncatedAtFrameBoundaries() throws {
        let fixture = try DamageFixture("cut-boundary", seed: 2)
        let original = try #require(fileBytes(fixture.segmentPath("alpha", in: fixture.pristine)))
        let frames = try parseFrames(original)
        for length in [32] + frames.map(\.end) {
            try fixture.checkTruncation(to: length, original: original, frames: frames)
        }
    }

    @Test(
        "A segment cut in the middle of a frame keeps exactly the batches whose commit frame survived",
        arguments: 0..<4 as Range<UInt64>)
    func truncatedMidFrame(seed: UInt64) throws {
        let fixture = try DamageFixture("cut-mid-\(seed)", seed: seed)
        let original = try #require(fileBytes(fixture.segmentPath("alpha", in: fixture.pristine)))
        let frames = try parseFrames(original)
        var rng = SplitMix64(seed: seed &+ 0xC07)
        for _ in 0..<40 {
            let frame = frames[rng.int(in: 0..<frames.count)]
            // Within the first 16 bytes (not even a frame prefix) half of the time.
            let cut = rng.int(in: 0..<2) == 0 ? rng.int(in: 1..<16) : rng.int(in: 1..<frame.length)
            try fixture.checkTruncation(to: frame.offset + cut, original: original, frames: frames)
        }
    }

    @Test("A segment shorter than its header is reported and left untouched", arguments: [0, 1, 8, 16, 31])
    func truncatedInsideTheHeader(length: Int) throws {
        let fixture = try DamageFixture("cut-header-\(length)", seed: 3)
        let trial = try fixture.makeTrial()
        let path = fixture.segmentPath("alpha", in: trial)
        let cut = Array(try #require(fileBytes(path)).prefix(length))
        try overwrite(path, with: cut)
        let vault = try fixture.open(trial)
        let found = try fixture.contents(of: vault)
        #expect(
            found.filter { $0.value.collection == "beta" } == fixture.records.filter { $0.value.collection == "beta" })
        let problems = try vault.summary().problems
        #expect(problems.contains { $0.contains(path) }, "not reported: \(problems)")
        try vault.close()
        #expect(unchanged(path, cut), "the file was altered")
    }

    // MARK: (c) Files that are not the vault's

    enum ForeignFile: String, CaseIterable, CustomTestStringConvertible {
        case emptySegmentAlone, emptySegmentBesideReal, garbageSegmentAlone, garbageSegmentBesideReal
        case otherVaultsSegment, strayFileInCollection, strayFileInCollectionsFolder
        var testDescription: String { rawValue }

        /// Where the file goes, relative to the vault.
        var relativePath: String {
            switch self {
            case .emptySegmentAlone, .garbageSegmentAlone: "collections/gamma/00000001.seg"
            case .emptySegmentBesideReal, .garbageSegmentBesideReal, .otherVaultsSegment:
                "collections/alpha/00000002.seg"
            case .strayFileInCollection: "collections/alpha/notes.txt"
            case .strayFileInCollectionsFolder: "collections/README"
            }
        }

        /// The collection whose folder holds it, if any.
        var collection: String? {
            switch self {
            case .emptySegmentAlone, .garbageSegmentAlone: "gamma"
            case .strayFileInCollectionsFolder: nil
            default: "alpha"
            }
        }

        func bytes(_ fixture: DamageFixture) throws -> [UInt8] {
            var rng = SplitMix64(seed: 99)
            switch self {
            case .emptySegmentAlone, .emptySegmentBesideReal: return []
            case .garbageSegmentAlone, .garbageSegmentBesideReal: return rng.bytes(517)
            case .otherVaultsSegment:
                // A real segment of another vault, under the number this vault would use next.
                let other = fixture.root + "/other-vault"
                let vault = try Vault.open(directory: other, keyProvider: InMemoryKeyProvider())
                try vault.append([1, 2, 3], to: "alpha", category: .usageEvents, purpose: .analytics)
                try vault.close()
                return try #require(fileBytes(other + "/collections/alpha/00000001.seg"))
            case .strayFileInCollection, .strayFileInCollectionsFolder: return Array("a note the user left here\n".utf8)
            }
        }
    }

    @Test(
        "A file that is not the vault's is reported and left untouched; the rest stays readable",
        arguments: ForeignFile.allCases)
    func foreignFileIsReportedAndUntouched(_ kind: ForeignFile) throws {
        let fixture = try DamageFixture("foreign-\(kind)", seed: 4)
        let trial = try fixture.makeTrial()
        let path = trial + "/" + kind.relativePath
        if let collection = kind.collection { _ = mkdir(trial + "/collections/" + collection, 0o700) }
        let planted = try kind.bytes(fixture)
        try createFile(path, bytes: planted, mode: 0o600)
        let vault = try fixture.open(trial)
        #expect(try fixture.contents(of: vault) == fixture.records)
        let problems = try vault.summary().problems
        #expect(problems.contains { $0.contains(path) }, "not reported: \(problems)")
        #expect(try vault.summary().quarantined == 0)
        try vault.close()
        #expect(unchanged(path, planted), "the file was altered")
        #expect(fileMode(path) == S_IFREG | 0o600, "the file's mode was changed")
    }

    @Test(
        "A file named like a segment but not the vault's survives later writes to its collection",
        arguments: [
            ForeignFile.emptySegmentAlone, .emptySegmentBesideReal, .garbageSegmentAlone, .garbageSegmentBesideReal,
            .otherVaultsSegment,
        ])
    func foreignSegmentSurvivesLaterWrites(_ kind: ForeignFile) throws {
        let fixture = try DamageFixture("foreign-writes-\(kind)", seed: 5)
        let trial = try fixture.makeTrial()
        let path = trial + "/" + kind.relativePath
        let collection = try #require(kind.collection)
        _ = mkdir(trial + "/collections/" + collection, 0o700)
        let planted = try kind.bytes(fixture)
        try createFile(path, bytes: planted, mode: 0o600)
        // Small segments, so the writes below start new segment files.
        var options = VaultOptions()
        options.segmentSize = 1 << 10
        var expected = fixture.records
        do {
            let vault = try fixture.open(trial, options: options)
            for round in 0..<4 {
                let (id, record) = try fixture.append(
                    Array("after the damage, round \(round)".utf8), to: collection, in: vault)
                expected[id] = record
                try vault.commit()
            }
            try vault.close()
        }
        #expect(unchanged(path, planted), "the foreign file was overwritten by the vault's own writes")
        let vault = try fixture.open(trial, options: options)
        #expect(try fixture.contents(of: vault, collections: DamageFixture.collections + ["gamma"]) == expected)
        let problems = try vault.summary().problems
        #expect(problems.contains { $0.contains(path) }, "no longer reported: \(problems)")
    }

    // MARK: (d) Altered records with a recomputed CRC

    enum Tamper: String, CaseIterable, CustomTestStringConvertible {
        case ciphertext, tag, nonce, created, expires, category, purpose, idToAnUnusedOne
        var testDescription: String { rawValue }
    }

    @Test(
        "A record altered under a recomputed CRC is quarantined when read, and stays out after reopening",
        arguments: Tamper.allCases)
    func alteredRecordIsQuarantinedWhenRead(_ tamper: Tamper) throws {
        let fixture = try DamageFixture("tamper-\(tamper)", seed: 6)
        let trial = try fixture.makeTrial()
        let (victim, frameBytes) = try fixture.tamper(in: trial, tamper)
        var expected = fixture.records
        expected[victim] = nil

        let vault = try fixture.open(trial)
        #expect(try fixture.contents(of: vault) == expected, "records(in:) must leave the altered record out")
        #expect(try vault.summary().quarantined == 1)
        #expect(try vault.record(RecordID(rawValue: victim), in: "alpha") == nil)
        #expect(try fixture.contents(of: vault) == expected)
        #expect(try vault.summary().quarantined == 1, "reading again must not count the record again")
        #expect(fixture.quarantineHolds(frameBytes, in: trial), "the altered frame is not in quarantine")
        try vault.close()

        let reopened = try fixture.open(trial)
        #expect(try fixture.contents(of: reopened) == expected, "after reopening the altered record must stay out")
        #expect(try reopened.summary().quarantined == 1, "the quarantine count must persist, once")
        #expect(try reopened.verify() == 0)
        #expect(try reopened.summary().quarantined == 1)
        try reopened.close()
    }

    @Test("verify() finds a record altered under a recomputed CRC before anything reads it")
    func verifyFindsAnAlteredRecord() throws {
        let fixture = try DamageFixture("tamper-verify", seed: 7)
        let trial = try fixture.makeTrial()
        let (victim, _) = try fixture.tamper(in: trial, .ciphertext)
        let vault = try fixture.open(trial)
        #expect(try vault.verify() == 1)
        #expect(try vault.summary().quarantined == 1)
        var expected = fixture.records
        expected[victim] = nil
        #expect(try fixture.contents(of: vault) == expected)
        #expect(try vault.verify() == 0)
    }

    @Test("A frame altered to claim another record's id does not take that record down")
    func alteredFrameClaimingAnotherIDLeavesThatRecordAlone() throws {
        let fixture = try DamageFixture("tamper-duplicate", seed: 8)
        let trial = try fixture.makeTrial()
        let path = fixture.segmentPath("alpha", in: trial)
        var bytes = try #require(fileBytes(path))
        let records = try parseFrames(bytes).filter { $0.kind == .record }
        let victim = records[2], bystander = records[3]
        withUnsafeBytes(of: bystander.id.littleEndian) {
            bytes.replaceSubrange((victim.offset + 16)..<(victim.offset + 24), with: $0)
        }
        recomputeCRC(&bytes, victim)
        try overwrite(path, with: bytes)
        var expected = fixture.records
        expected[victim.id] = nil

        let vault = try fixture.open(trial)
        _ = try fixture.contents(of: vault)
        #expect(
            try fixture.contents(of: vault) == expected, "record #\(bystander.id), which is sound, must stay readable")
        #expect(
            try vault.record(RecordID(rawValue: bystander.id), in: "alpha")?.data == fixture.records[bystander.id]?.data
        )
        let count = try vault.summary().quarantined
        _ = try fixture.contents(of: vault)
        #expect(try vault.summary().quarantined == count, "each read must not quarantine the altered frame again")
        try vault.close()
        let reopened = try fixture.open(trial)
        #expect(
            try fixture.contents(of: reopened) == expected,
            "after reopening, record #\(bystander.id) must still be readable")
    }

    // MARK: (e) vault.meta

    enum MetaDamage: String, CaseIterable, CustomTestStringConvertible {
        case wrongMagic, newerVersion, truncated, extended, keyCheckAltered, missingBesideCollections
        var testDescription: String { rawValue }
        var expectedCode: VaultError.Code {
            switch self {
            case .wrongMagic, .truncated, .extended, .missingBesideCollections: .notAVault
            case .newerVersion: .unsupportedVersion
            case .keyCheckAltered: .keyMismatch
            }
        }
    }

    @Test(
        "A damaged or newer vault.meta stops open with a clear error and changes nothing",
        arguments: MetaDamage.allCases)
    func damagedMetaStopsOpen(_ damage: MetaDamage) throws {
        let dir = scratchPath("meta-\(damage)")
        defer { removeScratch(dir) }
        do {
            let vault = try Vault.open(dataDirectory: dir)
            try vault.append([1, 2, 3], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        let metaPath = dir + "/vault/vault.meta"
        var meta = try #require(fileBytes(metaPath))
        switch damage {
        case .wrongMagic: meta[0] ^= 0x20
        case .newerVersion: meta[8] = 2; meta[9] = 0
        case .truncated: meta.removeLast(28)
        case .extended: meta.append(0)
        case .keyCheckAltered: meta[60] ^= 1
        case .missingBesideCollections: break
        }
        if damage == .missingBesideCollections {
            #expect(unlink(metaPath) == 0)
        } else {
            try overwrite(metaPath, with: meta)
        }
        let before = TreeSnapshot(dir)
        #expect { try Vault.open(dataDirectory: dir) } throws: { ($0 as? VaultError)?.code == damage.expectedCode }
        let changed = TreeSnapshot(dir).differences(from: before)
        #expect(changed.isEmpty, "open changed \(changed)")
    }

    @Test("A newer-version segment stops open before any other file is repaired")
    func newerSegmentStopsOpenBeforeRepairs() throws {
        let fixture = try DamageFixture("newer-segment", seed: 9)
        let trial = try fixture.makeTrial()
        // alpha (opened first) has a torn tail, which open would cut off; beta is from a newer Steward.
        let alpha = fixture.segmentPath("alpha", in: trial)
        var torn = try #require(fileBytes(alpha))
        torn += Array(torn[32..<60])  // the start of a frame, cut short
        try overwrite(alpha, with: torn)
        let beta = fixture.segmentPath("beta", in: trial)
        var newer = try #require(fileBytes(beta))
        newer[8] = 2
        try overwrite(beta, with: newer)
        try createFile(trial + "/collections/alpha/00000001.seg.tmp", bytes: [1, 2, 3], mode: 0o600)

        let before = TreeSnapshot(trial)
        #expect { try fixture.open(trial) } throws: { ($0 as? VaultError)?.code == .unsupportedVersion }
        let changed = TreeSnapshot(trial).differences(from: before)
        #expect(changed.isEmpty, "\"Nothing was changed\", but these were: \(changed)")
    }

    // MARK: (f) Keys

    @Test("Another valid key in the key file stops open with keyMismatch and changes nothing")
    func wrongKeyIsRefused() throws {
        let dir = scratchPath("wrong-key")
        defer { removeScratch(dir) }
        do {
            let vault = try Vault.open(dataDirectory: dir)
            try vault.append([1, 2, 3], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        var rng = SplitMix64(seed: 10)
        try createFile(dir + "/keys/vault.key", bytes: rng.bytes(32), mode: 0o600)
        let before = TreeSnapshot(dir)
        #expect { try Vault.open(dataDirectory: dir) } throws: { ($0 as? VaultError)?.code == .keyMismatch }
        let changed = TreeSnapshot(dir).differences(from: before)
        #expect(changed.isEmpty, "open changed \(changed)")
    }

    @Test("An existing vault whose key file is missing stops open with KeyProviderError.missing and gets no new key")
    func missingKeyIsRefused() throws {
        let dir = scratchPath("missing-key")
        defer { removeScratch(dir) }
        do {
            let vault = try Vault.open(dataDirectory: dir)
            try vault.append([1, 2, 3], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.close()
        }
        #expect(unlink(dir + "/keys/vault.key") == 0)
        let before = TreeSnapshot(dir)
        #expect { try Vault.open(dataDirectory: dir) } throws: { ($0 as? KeyProviderError)?.code == .missing }
        let changed = TreeSnapshot(dir).differences(from: before)
        #expect(changed.isEmpty, "open changed \(changed)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/keys/vault.key"))
    }
}

// MARK: - Fixture

struct FixtureRecord: Equatable, CustomStringConvertible {
    var collection: String
    var data: [UInt8]
    var category: String
    var purpose: String
    /// Milliseconds since 1970; expires is Int64.max for no expiry.
    var created: Int64
    var expires: Int64

    init(collection: String, data: [UInt8], category: DataCategory, purpose: Purpose, created: Int64, expires: Int64) {
        self.collection = collection
        self.data = data
        self.category = category.rawValue
        self.purpose = purpose.rawValue
        self.created = created
        self.expires = expires
    }

    init(_ record: VaultRecord) {
        self.init(
            collection: record.collection, data: record.data, category: record.category, purpose: record.purpose,
            created: epochMilliseconds(record.created), expires: record.expires.map(epochMilliseconds) ?? .max)
    }

    var description: String { "\(collection) \(data.count)B \(category)/\(purpose) \(created)-\(expires)" }
}

/// Recomputes a frame's CRC-32C after its bytes were altered, so only authentication can tell.
func recomputeCRC(_ bytes: inout [UInt8], _ frame: ParsedFrame) {
    let crc = bytes.withUnsafeBytes { CRC32C.frame(UnsafeRawBufferPointer(rebasing: $0[frame.offset..<frame.end])) }
    withUnsafeBytes(of: crc.littleEndian) { bytes.replaceSubrange((frame.offset + 12)..<(frame.offset + 16), with: $0) }
}

/// Whether the file at `path` still holds exactly `bytes` (a Bool, so a failure does not print
/// kilobytes of array).
func unchanged(_ path: String, _ bytes: [UInt8]) -> Bool { fileBytes(path) == bytes }

/// A file a child process appends its steps to, so the parent can say where it died.
struct ChildLog {
    let path: String

    init(path: String = scratchPath("child-log")) { self.path = path }

    func step(_ text: String) {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        defer { close(fd) }
        let line = Array((text + "\n").utf8)
        _ = line.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
    }

    /// When the child did not exit as expected (`result` is nil), records its last steps.
    func report(_ result: ExitTest.Result?, sourceLocation: SourceLocation = #_sourceLocation) {
        defer { removeScratch(path) }
        guard result == nil else { return }
        let lines = String(decoding: fileBytes(path) ?? [], as: UTF8.self).split(separator: "\n").suffix(5)
        let text: String = lines.joined(separator: "\n    ")
        Issue.record("the child process's last steps:\n    \(text)", sourceLocation: sourceLocation)
    }
}

/// A closed vault with two collections, each holding 25 records committed in 5 batches of 5
/// (each segment: header, then five times five records and a commit frame), and a scratch
/// folder for damaged copies of it.
final class DamageFixture {
    static let collections = ["alpha", "beta"]
    static let categories: [DataCategory] = [.usageEvents, .crashDiagnostics, "custom"]
    static let purposes: [Purpose] = [.analytics, .crashReporting, "warrantyClaims"]

    let root: String
    let pristine: String
    let keys = InMemoryKeyProvider()
    let clock = ManualWallClock()
    private(set) var records: [UInt64: FixtureRecord] = [:]
    /// Per collection, the ids of each batch.
    private(set) var batches: [String: [[UInt64]]] = [:]
    private var trials = 0

    convenience init(_ label: String, seed: UInt64) throws {
        try self.init(root: scratchPath(label), seed: seed)
    }

    /// Builds the fixture in `root`, which must not exist yet.
    init(root: String, seed: UInt64) throws {
        self.root = root
        pristine = root + "/pristine"
        guard mkdir(root, 0o700) == 0 else { throw SystemError(call: "mkdir", path: root, errno: errno) }
        var rng = SplitMix64(seed: seed)
        let vault = try Vault.open(directory: pristine, keyProvider: keys, clock: clock)
        for _ in 0..<5 {
            for collection in Self.collections {
                var batch: [UInt64] = []
                for _ in 0..<5 {
                    clock.advance(by: .milliseconds(rng.int(in: 1...5_000)))
                    let data = rng.bytes(rng.int(in: 0..<8) == 0 ? 0 : rng.int(in: 1...120))
                    let category = Self.categories[rng.int(in: 0..<3)], purpose = Self.purposes[rng.int(in: 0..<3)]
                    let retention: Int? = rng.int(in: 0..<2) == 0 ? nil : rng.int(in: 1...1_000_000_000)
                    let id = try vault.append(
                        data, to: collection, category: category, purpose: purpose,
                        retention: retention.map { .milliseconds($0) }
                    ).rawValue
                    let created = clock.checkedUnixMilliseconds
                    records[id] = FixtureRecord(
                        collection: collection, data: data, category: category, purpose: purpose,
                        created: created, expires: retention.map { created + Int64($0) } ?? .max)
                    batch.append(id)
                }
                batches[collection, default: []].append(batch)
            }
            try vault.commit()
        }
        try vault.close()
    }

    deinit { removeScratch(root) }

    func segmentPath(_ collection: String, in vault: String) -> String {
        vault + "/collections/" + collection + "/00000001.seg"
    }

    /// A fresh copy of the pristine vault.
    func makeTrial() throws -> String {
        trials += 1
        let path = root + "/trial-\(trials)"
        try copyTree(from: pristine, to: path)
        return path
    }

    func open(_ vault: String, options: VaultOptions = VaultOptions()) throws -> Vault {
        try reopenVault { try Vault.open(directory: vault, keyProvider: keys, options: options, clock: clock) }
    }

    /// Appends a record the fixture can describe.
    func append(_ data: [UInt8], to collection: String, in vault: Vault) throws -> (UInt64, FixtureRecord) {
        let id = try vault.append(data, to: collection, category: .usageEvents, purpose: .analytics).rawValue
        return (
            id,
            FixtureRecord(
                collection: collection, data: data, category: .usageEvents, purpose: .analytics,
                created: clock.checkedUnixMilliseconds, expires: .max)
        )
    }

    func contents(of vault: Vault, collections: [String] = DamageFixture.collections) throws -> [UInt64: FixtureRecord]
    {
        var result: [UInt64: FixtureRecord] = [:]
        for collection in collections {
            for record in try vault.records(in: collection) {
                result[record.id.rawValue] = FixtureRecord(record)
            }
        }
        return result
    }

    func describeDifference(_ found: [UInt64: FixtureRecord], _ expected: [UInt64: FixtureRecord]) -> String {
        let missing = expected.keys.filter { found[$0] == nil }.sorted()
        let extra = found.keys.filter { expected[$0] == nil }.sorted()
        let changed = found.keys.filter { expected[$0] != nil && expected[$0] != found[$0] }.sorted()
        return "missing \(missing), unexpected \(extra), changed \(changed)"
    }

    /// Whether some file in the vault's quarantine folder holds `bytes`.
    func quarantineHolds(_ bytes: [UInt8], in vault: String) -> Bool {
        let folder = vault + "/quarantine"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        return names.contains { name in fileBytes(folder + "/" + name).map { contains($0, bytes) } ?? false }
    }

    /// Appends a record, commits, closes and reopens: the vault must hold `expected` and the new
    /// record, and count the same quarantined items as before.
    func checkKeepsWorking(
        _ vault: Vault, trial: String, expected: [UInt64: FixtureRecord], appendingTo collection: String,
        _ label: String
    ) throws {
        let quarantined = try vault.summary().quarantined
        let (id, record) = try append(Array("written after the damage".utf8), to: collection, in: vault)
        try vault.commit()
        try vault.close()
        var all = expected
        all[id] = record
        let reopened = try open(trial)
        let found = try contents(of: reopened)
        #expect(found == all, "\(label): after a further commit and reopening: \(describeDifference(found, all))")
        #expect(
            try reopened.summary().quarantined == quarantined, "\(label): the quarantine count changed on reopening")
        try reopened.close()
    }

    /// Cuts alpha's segment to `length` bytes and checks what opening keeps.
    func checkTruncation(to length: Int, original: [UInt8], frames: [ParsedFrame]) throws {
        let label = "alpha cut to \(length) of \(original.count) bytes"
        let trial = try makeTrial()
        defer { removeScratch(trial) }
        let path = segmentPath("alpha", in: trial)
        try overwrite(path, with: Array(original.prefix(length)))
        let committedEnd = frames.filter { $0.kind == .commit && $0.end <= length }.map(\.end).max() ?? 32
        let survivingBatches = frames.filter { $0.kind == .commit && $0.end <= length }.count
        let lost = Set(batches["alpha"]!.dropFirst(survivingBatches).joined())
        let expected = records.filter { !lost.contains($0.key) }

        let vault = try open(trial)
        let found = try contents(of: vault)
        #expect(found == expected, "\(label): \(describeDifference(found, expected))")
        let summary = try vault.summary()
        #expect(summary.quarantined == 0, "\(label): a cut tail is not damage, yet \(summary.quarantined) quarantined")
        #expect(summary.problems.isEmpty, "\(label): \(summary.problems)")
        #expect(
            fileBytes(path).map(\.count) == committedEnd,
            "\(label): the uncommitted tail was not cut off at \(committedEnd)")
        try checkKeepsWorking(vault, trial: trial, expected: expected, appendingTo: "alpha", label)
    }

    /// Alters the third record of alpha (one with data) and recomputes its CRC; returns the
    /// record's original id and the altered frame.
    func tamper(in trial: String, _ tamper: VaultCorruptionTests.Tamper) throws -> (UInt64, [UInt8]) {
        let path = segmentPath("alpha", in: trial)
        var bytes = try #require(fileBytes(path))
        let frames = try parseFrames(bytes).filter { $0.kind == .record && $0.body.count > AESGCM.overhead }
        let frame = frames[2]
        let categoryLength = Int(bytes[frame.offset + 40]) | Int(bytes[frame.offset + 41]) << 8
        switch tamper {
        case .ciphertext: bytes[frame.body.lowerBound + 12] ^= 0x01
        case .tag: bytes[frame.end - 1] ^= 0x80
        case .nonce: bytes[frame.body.lowerBound] ^= 0x01
        case .created: bytes[frame.offset + 24] ^= 0x01
        case .expires: bytes[frame.offset + 32] ^= 0x01
        case .category: bytes[frame.offset + 44] ^= 0x01
        case .purpose: bytes[frame.offset + 44 + categoryLength] ^= 0x01
        case .idToAnUnusedOne:
            withUnsafeBytes(of: UInt64(1_000_000).littleEndian) {
                bytes.replaceSubrange((frame.offset + 16)..<(frame.offset + 24), with: $0)
            }
        }
        recomputeCRC(&bytes, frame)
        try overwrite(path, with: bytes)
        return (frame.id, Array(bytes[frame.offset..<frame.end]))
    }
}
