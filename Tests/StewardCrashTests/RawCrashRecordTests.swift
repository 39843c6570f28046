import Foundation
import StewardTesting
import Testing
@testable import StewardCrash

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A record written once by the handler's test hook, shared by the parser tests.
private let sampleRecord: Result<[UInt8], any Error> = Result {
    try writeSampleRecord(
        breadcrumbs: [
            Breadcrumb(timestamp: Date(timeIntervalSince1970: 1), category: "a", message: "first", data: ["k": "v"]),
            Breadcrumb(timestamp: Date(timeIntervalSince1970: 2), level: .fatal, category: "b", message: "second"),
        ], signal: 11
    ).bytes
}

private func header(version: UInt32 = 1) -> [UInt8] {
    Array("STWDCRSH".utf8) + le(version) + le(UInt32(0))
}

private func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

private func section(_ tag: UInt32, _ payload: [UInt8]) -> [UInt8] {
    le(tag) + le(UInt32(payload.count)) + payload
}

@Suite("Raw crash record parsing")
struct RawCrashRecordTests {
    @Test("A record from the handler parses complete, with every section")
    func wholeRecord() throws {
        let bytes = try sampleRecord.get()
        let record = RawCrashRecord.parse(bytes)
        #expect(record.complete)
        #expect(!record.partial, "\(record.notes)")
        #expect(record.notes.isEmpty)
        #expect(record.formatVersion == 1)
        #expect(record.signalNumber == 11)
        #expect(record.signalCode == 0)
        #expect(record.pid == getpid())
        #expect(record.tid != nil)
        #expect(record.threadName != nil)
        #expect(!record.registerList.isEmpty)
        #if arch(x86_64)
        #expect(record.registerList.map(\.name).prefix(4) == ["rax", "rbx", "rcx", "rdx"])
        #expect(record.registerList.map(\.name).suffix(3) == ["cs", "fs", "gs"])
        #endif
        #expect(!record.dwarfFrames.isEmpty)
        #expect(!record.framePointerFrames.isEmpty)
        #expect(record.maps?.isEmpty == false)
        #expect(record.breadcrumbs.suffix(2).map(\.message) == ["first", "second"])
        #expect(record.breadcrumbs.last?.level == .fatal)
        #expect(record.context == Array(#"{"context":{"release":"tests@1"}}"#.utf8))
        #expect(record.installRealtimeNs != nil && record.installMonotonicNs != nil)
        #expect((record.timingNs ?? 0) > 0)
        #expect(record.nestedSignal == nil)
    }

    @Test("A record cut at any byte parses without trapping: partial, with the sections before the cut")
    func truncatedAtEveryOffset() throws {
        let bytes = try sampleRecord.get()
        let whole = RawCrashRecord.parse(bytes)
        // Section boundaries, to know which sections a cut keeps.
        var ends: [(tag: UInt32, end: Int)] = []
        var offset = 16
        while offset + 8 <= bytes.count {
            let tag = bytes[offset..<(offset + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            let length = bytes[(offset + 4)..<(offset + 8)].reversed().reduce(0) { $0 << 8 | Int($1) }
            offset += 8 + length
            ends.append((tag, offset))
        }
        #expect(offset == bytes.count)
        for cut in 0..<bytes.count {
            let record = RawCrashRecord.parse(Array(bytes[0..<cut]))
            #expect(!record.complete)
            #expect(record.partial)
            if cut >= (ends.first { $0.tag == 1 }?.end ?? .max) {
                #expect(record.signalNumber == whole.signalNumber, "cut \(cut)")
            }
            if cut >= (ends.first { $0.tag == 7 }?.end ?? .max) {
                #expect(record.context == whole.context, "cut \(cut)")
            }
            if cut >= (ends.first { $0.tag == 6 }?.end ?? .max) {
                #expect(record.breadcrumbs == whole.breadcrumbs, "cut \(cut)")
            }
            if cut < (ends.first { $0.tag == 1 }?.end ?? 0) {
                #expect(record.signalNumber == nil, "cut \(cut)")
            }
        }
    }

    @Test("Random bit flips never trap the parser (2,000 seeds)")
    func bitFlips() throws {
        let bytes = try sampleRecord.get()
        for seed in 0..<2_000 {
            var generator = SplitMix64(seed: UInt64(seed))
            var damaged = bytes
            let flips = Int.random(in: 1...16, using: &generator)
            for _ in 0..<flips {
                // Bias towards the headers, where damage matters most.
                let index =
                    Bool.random(using: &generator)
                    ? Int.random(in: 0..<min(512, damaged.count), using: &generator)
                    : Int.random(in: 0..<damaged.count, using: &generator)
                damaged[index] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &generator)
            }
            let record = RawCrashRecord.parse(damaged)
            if !record.complete { #expect(record.partial, "seed \(seed)") }
        }
    }

    @Test(
        "Hostile section lengths are dropped, not followed", arguments: [UInt32.max, UInt32.max - 7, 0x8000_0000, 41])
    func hostileLength(length: UInt32) {
        let signal = section(1, [UInt8](repeating: 0, count: 40))
        let bytes = header() + signal + le(UInt32(7)) + le(length) + [1, 2, 3] + section(0xFFFF, [])
        let record = RawCrashRecord.parse(bytes)
        #expect(record.signalNumber == 0)
        #expect(record.partial)
        #expect(!record.complete)
        #expect(record.context.isEmpty)
    }

    @Test("Malformed known sections are dropped and noted; unknown ones are skipped")
    func malformedSections() {
        let bytes =
            header()
            + section(1, [1, 2, 3])  // SIGNAL too short
            + section(4, le(UInt32(1)) + le(UInt32(1000)))  // FRAMES count beyond the payload
            + section(4, le(UInt32(9)) + le(UInt32(0)))  // FRAMES of an unknown method
            + section(6, le(UInt32(2)) + [0, 0])  // BREADCRUMBS count beyond the payload
            + section(3, [UInt8](repeating: 0x41, count: 17))  // REGISTERS not a multiple of 16
            + section(77, [9, 9, 9])  // unknown
            + section(8, le(UInt64(42)))
            + section(0xFFFF, [])
        let record = RawCrashRecord.parse(bytes)
        #expect(record.complete)
        #expect(record.partial)
        #expect(record.signalNumber == nil)
        #expect(record.dwarfFrames.isEmpty && record.framePointerFrames.isEmpty)
        #expect(record.breadcrumbs.isEmpty && record.registerList.isEmpty)
        #expect(record.timingNs == 42)
        #expect(record.notes.count == 6, "\(record.notes)")
    }

    @Test(
        "Sections larger than the handler writes are dropped: 129 frames, maps over 1 MiB, 101 breadcrumbs, a context over 16 KiB"
    )
    func oversizedSectionsAreDropped() {
        // The FuzzCrashRecord target's bound: a record holds what the handler can write, no more.
        let frames = section(4, le(UInt32(1)) + le(UInt32(129)) + [UInt8](repeating: 1, count: 129 * 8))
        let maps = section(5, [UInt8](repeating: 0x61, count: (1 << 20) + 1))
        let crumbs = section(6, le(UInt32(101)) + [UInt8](repeating: 0, count: 101 * RawCrashRecord.breadcrumbSize))
        let context = section(7, [UInt8](repeating: 0x7B, count: 16_385))
        let record = RawCrashRecord.parse(header() + frames + maps + crumbs + context + section(0xFFFF, []))
        #expect(record.complete && record.partial)
        #expect(
            record.dwarfFrames.isEmpty && record.maps == nil && record.breadcrumbs.isEmpty && record.context.isEmpty)
        for name in ["FRAMES", "MAPS", "BREADCRUMBS", "CONTEXT"] {
            #expect(record.notes.contains { $0.contains(name) && $0.contains("more than") }, "\(name): \(record.notes)")
        }
        let atTheLimit = RawCrashRecord.parse(
            header() + section(4, le(UInt32(2)) + le(UInt32(128)) + [UInt8](repeating: 2, count: 128 * 8))
                + section(5, [UInt8](repeating: 0x61, count: 1 << 20)) + section(0xFFFF, []))
        #expect(
            atTheLimit.framePointerFrames.count == 128 && atTheLimit.maps?.utf8.count == 1 << 20 && !atTheLimit.partial)
    }

    @Test("A breadcrumb with lengths past its fields is dropped alone")
    func malformedBreadcrumb() {
        var good = [UInt8](repeating: 0, count: RawCrashRecord.breadcrumbSize)
        good[8] = 2
        good[14] = 2  // message length 2
        good[RawCrashRecord.messageOffset] = UInt8(ascii: "h")
        good[RawCrashRecord.messageOffset + 1] = UInt8(ascii: "i")
        var bad = good
        bad[14] = 0xFF
        bad[15] = 0xFF
        let bytes = header() + section(6, le(UInt32(2)) + bad + good) + section(0xFFFF, [])
        let record = RawCrashRecord.parse(bytes)
        #expect(record.breadcrumbs.map(\.message) == ["hi"])
        #expect(record.breadcrumbs.first?.level == .warning)
        #expect(record.partial)
    }

    @Test("Packed breadcrumbs: lengths past the payload, a bad level or trailing bytes are noted, never trusted")
    func packedBreadcrumbs() {
        func packed(_ level: UInt8, _ message: String, lengths: (UInt16, UInt16, UInt16)? = nil) -> [UInt8] {
            let text = Array(message.utf8)
            let (c, m, d) = lengths ?? (1, UInt16(text.count), 3)
            return le(UInt64(1_000)) + [level] + le(c) + le(m) + le(d) + Array("n".utf8) + text + Array("k=v".utf8)
        }
        let good = RawCrashRecord.parse(
            header() + section(11, le(UInt32(2)) + packed(1, "first") + packed(9, "bad level"))
                + section(0xFFFF, []))
        #expect(good.breadcrumbs.map(\.message) == ["first"] && good.breadcrumbs.first?.data == ["k": "v"])
        #expect(good.breadcrumbs.first?.category == "n" && good.partial, "the bad level is dropped alone")

        for payload in [
            le(UInt32(1)) + packed(1, "x", lengths: (1, 60_000, 3)),  // texts past the payload
            le(UInt32(2)) + packed(1, "only one"),  // count past the payload
            le(UInt32(1)) + packed(1, "trailing") + [0, 0],  // bytes after the last one
            le(UInt32(101)),  // more than the ring keeps
            [1, 0],  // shorter than its count
        ] {
            let record = RawCrashRecord.parse(header() + section(11, payload) + section(0xFFFF, []))
            #expect(record.breadcrumbs.isEmpty && record.partial, "\(record.notes)")
            #expect(record.notes.contains { $0.contains("BREADCRUMBS_PACKED") }, "\(record.notes)")
        }
    }

    @Test(
        "Empty, short, foreign and newer files are refused with a note",
        arguments: [
            [UInt8](),
            Array("STWD".utf8),
            Array("NOTACRSH".utf8) + [UInt8](repeating: 0, count: 32),
            Array("STWDCRSH".utf8) + [2, 0, 0, 0, 0, 0, 0, 0] + [0xFF, 0xFF, 0, 0, 0, 0, 0, 0],
        ])
    func refusedFiles(bytes: [UInt8]) {
        let record = RawCrashRecord.parse(bytes)
        #expect(!record.complete)
        #expect(record.partial)
        #expect(record.signalNumber == nil)
        #expect(record.notes.count == 1)
    }

    @Test("A minimal nested record (SIGNAL, NESTED, END) parses")
    func nestedRecord() {
        let signal =
            le(Int32(11)) + le(Int32(1)) + le(UInt64(0)) + le(Int32(5)) + le(Int32(6)) + le(Int64(7)) + le(Int64(8))
        let record = RawCrashRecord.parse(
            header() + section(1, signal) + section(9, le(Int32(7))) + section(0xFFFF, []))
        #expect(record.complete && !record.partial)
        #expect(record.nestedSignal == 7)
        #expect(record.signalNumber == 11 && record.pid == 5 && record.tid == 6)
    }

    @Test("read(path:) refuses directories, symbolic links, FIFOs and oversized files")
    func readRefusesNonRecords() throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let record = folder + "/crash-1-1-1.stewardcrash"
        let sealed = SealedCrashRecord.seal(
            header() + section(0xFFFF, []), key: testRecordKey, salt: testRecordSalt, pid: 1, number: 0)
        #expect(FileManager.default.createFile(atPath: record, contents: Data(sealed)))
        #expect(try RawCrashRecord.read(path: record, key: testRecordKey).complete)
        // Unsealed bytes (a format 1 record, as earlier versions wrote) are not read.
        let plain = folder + "/plain.stewardcrash"
        #expect(FileManager.default.createFile(atPath: plain, contents: Data(header() + section(0xFFFF, []))))
        #expect { try RawCrashRecord.read(path: plain, key: testRecordKey) } throws: {
            ($0 as? RawCrashRecord.ReadError)?.code == .notSealed
        }
        // Another key opens nothing.
        #expect { try RawCrashRecord.read(path: record, key: Array(repeating: 1, count: 32)) } throws: {
            ($0 as? RawCrashRecord.ReadError)?.code == .unauthenticated
        }

        let link = folder + "/link.stewardcrash"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: record)
        #expect { try RawCrashRecord.read(path: link, key: testRecordKey) } throws: {
            ($0 as? RawCrashRecord.ReadError)?.code == .notARegularFile
        }
        #expect { try RawCrashRecord.read(path: folder, key: testRecordKey) } throws: {
            ($0 as? RawCrashRecord.ReadError)?.code == .notARegularFile
        }
        let fifo = folder + "/fifo.stewardcrash"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect { try RawCrashRecord.read(path: fifo, key: testRecordKey) } throws: {
            ($0 as? RawCrashRecord.ReadError)?.code == .notARegularFile
        }

        let big = folder + "/big.stewardcrash"
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        #expect(truncate(big, off_t(RawCrashRecord.maximumSize + 1)) == 0)
        #expect { try RawCrashRecord.read(path: big, key: testRecordKey) } throws: {
            ($0 as? RawCrashRecord.ReadError)?.code == .tooLarge
        }
    }
}
