import Testing
import StewardTesting
import Foundation
@testable import StewardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// A writer killed with SIGKILL at a random moment, a hundred times over the same data
// directory. The child appends batches (and now and then removes records), commits, and only
// after `commit()` returns writes what it did to an "ack" file: SIGKILL keeps the page cache, so
// every line there describes a commit that returned. The parent then reopens the vault and
// checks that every acknowledged change holds, that nothing appears beyond the single batch in
// flight at the kill, and that a kill never looks like damage.

@Suite struct VaultKillTests {
    static let rounds = 100
    static let collections = ["events", "crash.log"]

    /// Small segments and staging buffer: kills land in rotations, flushes before commit and
    /// compactions (removals make old segments mostly dead).
    static var options: VaultOptions {
        var o = VaultOptions()
        o.segmentSize = 16 << 10
        o.stagingLimit = 2 << 10
        return o
    }

    @Test("A writer SIGKILLed at random moments loses no acknowledged commit and leaves no damage", .tags(.slow))
    func killedWriterLosesNothingAcknowledged() async throws {
        let root = scratchPath("kill")
        defer { removeScratch(root) }
        #expect(mkdir(root, 0o700) == 0)
        let dataDirectory = root + "/data"
        let ackPath = root + "/ack"
        var rng = SplitMix64(seed: 0x4B11_4B11)
        var ledger = KillLedger()
        var roundsWithCommits = 0
        for round in 0..<Self.rounds {
            try createFile(ackPath, bytes: [], mode: 0o600)
            // Every fifth round the kill may land while the vault is opening (recovering).
            let duringOpen = round % 5 == 4
            // Every other round the clock starts at the first acknowledged commit, so the test
            // keeps its power on a loaded machine, where a child may not commit within 30 ms.
            let afterFirstCommit = !duringOpen && round % 2 == 0
            let delay = duringOpen ? rng.int(in: 0...5_000) : rng.int(in: 0...30_000)
            await #expect(
                processExitsWith: .signal(SIGKILL), "round \(round): the child must die by SIGKILL, not by an error"
            ) {
                [
                    dataDirectory = dataDirectory as String, ackPath = ackPath as String, round = round as Int,
                    delay = delay as Int, duringOpen = duringOpen as Bool, afterFirstCommit = afterFirstCommit as Bool
                ] in
                try KillChild.run(
                    dataDirectory: dataDirectory, ackPath: ackPath, round: round,
                    killAfterMicroseconds: delay, duringOpen: duringOpen, afterFirstCommit: afterFirstCommit)
            }
            let acks = try AckLog(fileBytes(ackPath) ?? [])
            if !acks.appended.isEmpty { roundsWithCommits += 1 }
            try ledger.verify(round: round, acks: acks, dataDirectory: dataDirectory)
        }
        // The test proves something only if the children got work done before dying.
        #expect(
            roundsWithCommits >= Self.rounds * 2 / 5,
            "only \(roundsWithCommits) of \(Self.rounds) children acknowledged a commit")
        #expect(ledger.removedCount > 0, "no removal was ever acknowledged")
    }
}

// MARK: - Record contents

/// The record with sequence number `seq`: its number (8 bytes, little-endian), then 0-119 bytes
/// derived from it, so any record found on disk can be checked without the ack file.
func killPayload(_ seq: UInt64) -> [UInt8] {
    var rng = SplitMix64(seed: seq ^ 0xA5A5_A5A5_0000_0000)
    var bytes: [UInt8] = []
    withUnsafeBytes(of: seq.littleEndian) { bytes.append(contentsOf: $0) }
    return bytes + rng.bytes(Int(rng.next() % 120))
}

func killSequence(of data: [UInt8]) -> UInt64? {
    guard data.count >= 8 else { return nil }
    let seq = (0..<8).reduce(UInt64(0)) { $0 | UInt64(data[$1]) << (8 * $1) }
    return killPayload(seq) == data ? seq : nil
}

// MARK: - The child

enum KillChild {
    /// Opens the vault and writes until killed. Never returns.
    static func run(
        dataDirectory: String, ackPath: String, round: Int, killAfterMicroseconds delay: Int, duringOpen: Bool,
        afterFirstCommit: Bool
    ) throws {
        // A watchdog, should the killer thread never fire: SIGALRM is not the expected SIGKILL.
        alarm(20)
        if duringOpen { startKiller(afterMicroseconds: delay) }
        let vault = try reopenVault { try Vault.open(dataDirectory: dataDirectory, options: VaultKillTests.options) }
        if !duringOpen && !afterFirstCommit { startKiller(afterMicroseconds: delay) }
        var killerStarted = duringOpen || !afterFirstCommit

        var live: [UInt64] = []
        var home: [UInt64: String] = [:]
        for collection in VaultKillTests.collections {
            for record in try vault.records(in: collection) {
                live.append(record.id.rawValue)
                home[record.id.rawValue] = collection
            }
        }
        let ack = open(ackPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        guard ack >= 0 else { throw SystemError(call: "open", path: ackPath, errno: errno) }
        var rng = SplitMix64(seed: UInt64(round) &* 0x9E37_79B9 &+ 1)
        // Sequence numbers are unique across rounds: round r uses r << 32 + 1, + 2, ...
        var seq = UInt64(round) << 32
        while true {
            if !live.isEmpty && (live.count > 400 || rng.int(in: 0..<4) == 0) {
                // Remove some acknowledged records: many when the vault grows, else a few.
                let count = min(live.count, live.count > 400 ? rng.int(in: 50...150) : rng.int(in: 1...10))
                var victims: [UInt64] = []
                for _ in 0..<count { victims.append(live.remove(at: rng.int(in: 0..<live.count))) }
                appendLines(ack, victims.map { "I \($0)" })
                for id in victims { _ = try vault.remove(RecordID(rawValue: id), from: home[id]!) }
                try vault.commit()
                appendLines(ack, victims.map { "R \($0)" })
            } else {
                let collection = VaultKillTests.collections[rng.int(in: 0..<2)]
                let count = rng.int(in: 1...50)
                appendLines(ack, ["B \(count)"])
                var lines: [String] = []
                for _ in 0..<count {
                    seq += 1
                    let id = try vault.append(
                        killPayload(seq), to: collection, category: .usageEvents, purpose: .analytics
                    ).rawValue
                    lines.append("A \(collection) \(id) \(seq)")
                    live.append(id)
                    home[id] = collection
                }
                try vault.commit()
                appendLines(ack, lines)
            }
            if !killerStarted {
                killerStarted = true
                startKiller(afterMicroseconds: delay)
            }
        }
    }

    static func startKiller(afterMicroseconds delay: Int) {
        let thread = Thread {
            usleep(useconds_t(delay))
            kill(getpid(), SIGKILL)
        }
        thread.start()
    }

    /// One write(2) per acknowledgement. SIGKILL can still cut it short: the kernel copies a
    /// write to a regular file page by page and stops at a page boundary once a fatal signal is
    /// pending, so a kill may leave only the first lines of an acknowledgement. The parser
    /// ignores a torn last line, and the checks allow the batch in flight to be partly
    /// acknowledged (its commit returned; its acknowledgement was cut).
    static func appendLines(_ fd: Int32, _ lines: [String]) {
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
    }
}

// MARK: - The parent's bookkeeping

/// What one child acknowledged ("A collection id seq" per committed record, "R id" per
/// committed removal) and announced before doing it ("B n" before a batch of n appends,
/// "I id" before a removal).
struct AckLog {
    /// Appends, in order: id -> (collection, seq).
    var appended: [(id: UInt64, collection: String, seq: UInt64)] = []
    /// Removals whose commit returned.
    var removed: Set<UInt64> = []
    /// Removals announced but not acknowledged: in flight at the kill.
    var uncertain: Set<UInt64> = []
    /// The size of the last batch of appends announced ("B n" before its first append).
    var lastBatchSize: Int?
    /// How many appends of that batch were acknowledged: all or none, unless the kill cut the
    /// acknowledgement's write short.
    var lastBatchAcknowledged = 0

    init(_ bytes: [UInt8]) throws {
        let text = String(decoding: bytes, as: UTF8.self)
        // Only whole lines count.
        let whole =
            text.hasSuffix("\n")
            ? text : String(text[..<(text.lastIndex(of: "\n").map { text.index(after: $0) } ?? text.startIndex)])
        var intents: Set<UInt64> = []
        for line in whole.split(separator: "\n") {
            let parts = line.split(separator: " ")
            switch parts.first {
            case "A":
                try #require(parts.count == 4, "bad ack line \(line)")
                appended.append((try #require(UInt64(parts[2])), String(parts[1]), try #require(UInt64(parts[3]))))
                lastBatchAcknowledged += 1
            case "B":
                lastBatchSize = Int(try #require(parts.count == 2 ? parts[1] : nil))
                lastBatchAcknowledged = 0
            case "I": intents.insert(try #require(UInt64(parts[1])))
            case "R": removed.insert(try #require(UInt64(parts[1])))
            default: Issue.record("bad ack line \(line)")
            }
        }
        uncertain = intents.subtracting(removed)
    }
}

struct KillLedger {
    /// Records known present after the last round: id -> (collection, seq).
    var live: [UInt64: (collection: String, seq: UInt64)] = [:]
    /// Ids known removed; they must never come back.
    var removed: Set<UInt64> = []
    var removedCount = 0
    /// The highest id ever seen.
    var maxID: UInt64 = 0

    mutating func verify(round: Int, acks: AckLog, dataDirectory: String) throws {
        let vault: Vault
        do {
            vault = try reopenVault { try Vault.open(dataDirectory: dataDirectory, options: VaultKillTests.options) }
        } catch {
            Issue.record("round \(round): reopening after the kill failed: \(error)")
            throw error
        }
        defer { try? vault.close() }

        var present: [UInt64: (collection: String, seq: UInt64)] = [:]
        for collection in VaultKillTests.collections {
            for record in try vault.records(in: collection) {
                let seq = try #require(
                    killSequence(of: record.data),
                    "round \(round): record #\(record.id) in \(collection) has damaged contents (\(record.data.count) bytes)"
                )
                present[record.id.rawValue] = (collection, seq)
            }
        }
        let summary = try vault.summary()
        #expect(
            summary.quarantined == 0, "round \(round): a kill was taken for damage: \(summary.quarantined) quarantined")
        #expect(summary.problems.isEmpty, "round \(round): problems after a kill: \(summary.problems)")

        // Acknowledged appends: present with their contents, ids increasing and never reused.
        var previous = maxID
        for (id, collection, seq) in acks.appended {
            #expect(
                id > previous,
                "round \(round): id \(id) acknowledged after \(previous): ids must increase and never be reused")
            previous = max(previous, id)
            if acks.removed.contains(id) || acks.uncertain.contains(id) { continue }
            guard let found = present[id] else {
                Issue.record("round \(round): acknowledged record #\(id) (seq \(seq), \(collection)) is missing")
                continue
            }
            #expect(
                found.collection == collection && found.seq == seq,
                "round \(round): record #\(id) is seq \(found.seq) in \(found.collection); acknowledged as seq \(seq) in \(collection)"
            )
        }
        // Records known from earlier rounds stay, unless this round removed them.
        for (id, known) in live where !acks.removed.contains(id) && !acks.uncertain.contains(id) {
            #expect(
                present[id].map { $0.collection == known.collection && $0.seq == known.seq } == true,
                "round \(round): record #\(id) (seq \(known.seq)), present after the last round, is \(present[id] == nil ? "gone" : "changed")"
            )
        }
        // Acknowledged removals hold, and removed records never come back.
        for id in acks.removed.union(removed) where present[id] != nil {
            Issue.record("round \(round): record #\(id) was removed (acknowledged) but is present")
        }
        // Anything else present is the one batch in flight at the kill (or the part of it whose
        // acknowledgement the kill cut off): one collection, ids above every acknowledged one,
        // consecutive sequence numbers right after the last ack.
        let acked = Set(acks.appended.map(\.id))
        let extra = present.filter { live[$0.key] == nil && !acked.contains($0.key) }.sorted { $0.key < $1.key }
        if !extra.isEmpty {
            let description = extra.map { "#\($0.key) seq \($0.value.seq) in \($0.value.collection)" }.joined(
                separator: ", ")
            let lastSeq = acks.appended.last?.seq ?? UInt64(round) << 32
            #expect(
                extra.first!.key > previous,
                "round \(round): unacknowledged records not newer than every acknowledged one: \(description)")
            #expect(
                extra.count + acks.lastBatchAcknowledged == acks.lastBatchSize
                    && Set(extra.map(\.value.collection)).count == 1,
                "round \(round): unacknowledged records are not the rest of the batch of \(acks.lastBatchSize ?? 0) in flight (\(acks.lastBatchAcknowledged) of it acknowledged): \(description)"
            )
            if acks.lastBatchAcknowledged > 0, let last = acks.appended.last {
                #expect(
                    extra.allSatisfy { $0.value.collection == last.collection },
                    "round \(round): the unacknowledged rest of a batch is in another collection than its acknowledged part: \(description)"
                )
            }
            #expect(
                extra.map(\.value.seq) == Array((lastSeq + 1)...(lastSeq + UInt64(extra.count))),
                "round \(round): unacknowledged records are not the batch after the last acknowledged one (seq \(lastSeq)): \(description)"
            )
            #expect(
                extra.map(\.key) == Array(extra.first!.key...(extra.first!.key + UInt64(extra.count - 1))),
                "round \(round): the batch in flight has gaps: \(description)")
        }

        removedCount += acks.removed.count
        removed.formUnion(acks.removed)
        removed.formUnion(acks.uncertain.filter { present[$0] == nil })
        maxID = max(previous, present.keys.max() ?? 0, maxID)
        live = present
    }
}
