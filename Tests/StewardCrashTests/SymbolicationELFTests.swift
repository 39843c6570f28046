#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import StewardTesting
import Testing
@testable import StewardCrash

/// A tiny ELF64 little-endian file built in memory: one PT_LOAD, one PT_NOTE with a GNU build
/// ID, and sections .note.gnu.build-id, .symtab, .strtab, .shstrtab.
struct SyntheticELF {
    var bytes: [UInt8] = []
    static let buildID: [UInt8] = [
        0xf1, 0xc3, 0xbc, 0xc0, 0x27, 0x98, 0x65, 0xfe, 0x30, 0x58,
        0x40, 0x4b, 0x28, 0x31, 0xd9, 0xe6, 0x41, 0x35, 0x38, 0x6c,
    ]
    /// Offsets of interesting fields, for tests that corrupt them.
    var shnumOffset = 60
    var sectionHeadersOffset = 0
    var symtabHeaderOffset = 0

    init() {
        func put16(_ v: UInt16, _ out: inout [UInt8]) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func put32(_ v: UInt32, _ out: inout [UInt8]) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }
        func put64(_ v: UInt64, _ out: inout [UInt8]) { out += withUnsafeBytes(of: v.littleEndian, Array.init) }

        // Note: namesz 4, descsz 20, type 3, "GNU\0", build ID.
        var note: [UInt8] = []
        put32(4, &note); put32(UInt32(Self.buildID.count), &note); put32(3, &note)
        note += Array("GNU\0".utf8) + Self.buildID
        // Strings and symbols.
        let strtab = Array("\0alpha\0beta\0gamma\0_$s4Test5outeryyF\0data\0undefined\0".utf8)
        func nameOffset(_ name: String) -> UInt32 {
            let needle = Array(name.utf8) + [0]
            for i in 0..<strtab.count
            where Array(strtab[i..<min(strtab.count, i + needle.count)]) == needle && strtab[i - 1] == 0 {
                return UInt32(i)
            }
            return 0
        }
        var symtab = [UInt8](repeating: 0, count: 24)  // the null symbol
        func symbol(_ name: String, info: UInt8, shndx: UInt16, value: UInt64, size: UInt64) {
            put32(nameOffset(name), &symtab); symtab += [info, 0]; put16(shndx, &symtab)
            put64(value, &symtab); put64(size, &symtab)
        }
        symbol("alpha", info: 0x12, shndx: 1, value: 0x1000, size: 0x20)  // global func
        symbol("beta", info: 0x12, shndx: 1, value: 0x1020, size: 0x10)
        symbol("gamma", info: 0x02, shndx: 1, value: 0x1100, size: 0)  // local func, no size
        symbol("_$s4Test5outeryyF", info: 0x12, shndx: 1, value: 0x1200, size: 0x40)
        symbol("data", info: 0x11, shndx: 1, value: 0x1300, size: 8)  // an object: ignored
        symbol("undefined", info: 0x12, shndx: 0, value: 0, size: 0)  // undefined: ignored
        let shstrtab = Array("\0.note.gnu.build-id\0.symtab\0.strtab\0.shstrtab\0".utf8)

        let phoff = 64
        let noteOffset = phoff + 2 * 56
        let symtabOffset = noteOffset + note.count + (8 - note.count % 8) % 8
        let strtabOffset = symtabOffset + symtab.count
        let shstrtabOffset = strtabOffset + strtab.count
        let shoff = (shstrtabOffset + shstrtab.count + 7) / 8 * 8

        var out: [UInt8] = [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0] + [UInt8](repeating: 0, count: 8)
        put16(3, &out); put16(62, &out); put32(1, &out)  // ET_DYN, x86_64
        put64(0x1000, &out); put64(UInt64(phoff), &out); put64(UInt64(shoff), &out)
        put32(0, &out); put16(64, &out); put16(56, &out); put16(2, &out)
        put16(64, &out); put16(5, &out); put16(4, &out)
        // PT_LOAD covering the whole file at vaddr 0, memsz 0x2000.
        put32(1, &out); put32(5, &out); put64(0, &out); put64(0, &out); put64(0, &out)
        put64(0x2000, &out); put64(0x2000, &out); put64(0x1000, &out)
        // PT_NOTE.
        put32(4, &out); put32(4, &out); put64(UInt64(noteOffset), &out); put64(UInt64(noteOffset), &out)
        put64(0, &out); put64(UInt64(note.count), &out); put64(UInt64(note.count), &out); put64(4, &out)
        out += note
        out += [UInt8](repeating: 0, count: symtabOffset - out.count)
        out += symtab + strtab + shstrtab
        out += [UInt8](repeating: 0, count: shoff - out.count)
        func section(name: UInt32, type: UInt32, offset: Int, size: Int, link: UInt32, entsize: UInt64) {
            put32(name, &out); put32(type, &out); put64(0, &out); put64(0, &out)
            put64(UInt64(offset), &out); put64(UInt64(size), &out); put32(link, &out); put32(0, &out)
            put64(1, &out); put64(entsize, &out)
        }
        section(name: 0, type: 0, offset: 0, size: 0, link: 0, entsize: 0)
        section(name: 1, type: 7, offset: noteOffset, size: note.count, link: 0, entsize: 0)
        section(name: 20, type: 2, offset: symtabOffset, size: symtab.count, link: 3, entsize: 24)
        section(name: 28, type: 3, offset: strtabOffset, size: strtab.count, link: 0, entsize: 0)
        section(name: 36, type: 3, offset: shstrtabOffset, size: shstrtab.count, link: 0, entsize: 0)
        bytes = out
        sectionHeadersOffset = shoff
        symtabHeaderOffset = shoff + 2 * 64
    }

    mutating func set64(_ value: UInt64, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    mutating func set16(_ value: UInt16, at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }
}

@Suite struct SymbolicationELFTests {
    @Test func readsTheBuildIDSegmentsAndFunctionSymbolsOfAWellFormedFile() throws {
        let file = try ELFFile(bytes: SyntheticELF().bytes)
        #expect(file.buildID == SyntheticELF.buildID)
        #expect(file.buildIDHex == "f1c3bcc0279865fe3058404b2831d9e64135386c")
        #expect(
            file.loadSegments == [
                ELFFile.Segment(vaddr: 0, offset: 0, fileSize: 0x2000, memorySize: 0x2000, align: 0x1000, flags: 5)
            ])
        #expect(file.symbols.map(\.name) == ["alpha", "beta", "gamma", "_$s4Test5outeryyF"])
        #expect(file.type == 3)
    }

    @Test func findsTheSymbolContainingAnAddress() throws {
        let file = try ELFFile(bytes: SyntheticELF().bytes)
        #expect(file.symbol(containing: 0xfff) == nil)
        #expect(file.symbol(containing: 0x1000)?.name == "alpha")
        #expect(file.symbol(containing: 0x101f)?.name == "alpha")
        #expect(file.symbol(containing: 0x1020)?.name == "beta")
        #expect(file.symbol(containing: 0x1030) == nil)  // past beta's end, before gamma
        #expect(file.symbol(containing: 0x1150)?.name == "gamma")  // no size: nearest preceding
        #expect(file.symbol(containing: 0x1210)?.name == "_$s4Test5outeryyF")
        #expect(file.symbol(containing: 0x1240) == nil)
        #expect(file.symbol(containing: 0x3000) == nil)
    }

    @Test func findsTheBuildIDInSectionsWhenNoSegmentHasIt() throws {
        var elf = SyntheticELF()
        elf.set16(0, at: 56)  // no program headers
        let file = try ELFFile(bytes: elf.bytes)
        #expect(file.buildIDHex == "f1c3bcc0279865fe3058404b2831d9e64135386c")
        #expect(file.loadSegments.isEmpty)
    }

    @Test(arguments: [
        ([UInt8](), ELFFile.ELFError.Code.notELF),
        (Array("#!/bin/sh\n".utf8), .notELF),
        ([0x7f, 0x45, 0x4c, 0x46, 1, 1, 1, 0] + [UInt8](repeating: 0, count: 56), .unsupportedClass),
        ([0x7f, 0x45, 0x4c, 0x46, 2, 2, 1, 0] + [UInt8](repeating: 0, count: 56), .unsupportedByteOrder),
        ([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], .truncated),
    ])
    func refusesWhatIsNotA64BitLittleEndianELF(bytes: [UInt8], code: ELFFile.ELFError.Code) {
        #expect { try ELFFile(bytes: bytes) } throws: { ($0 as? ELFFile.ELFError)?.code == code }
    }

    @Test func refusesNonRegularFiles() {
        #expect { try ELFFile(path: "/dev/null") } throws: { ($0 as? ELFFile.ELFError)?.code == .notRegularFile }
        #expect { try ELFFile(path: "/proc/self") } throws: { ($0 as? ELFFile.ELFError)?.code == .notRegularFile }
        #expect { try ELFFile(path: "/nonexistent/steward") } throws: { ($0 as? ELFFile.ELFError)?.code == .io }
    }

    @Test func everyTruncationOfAWellFormedFileFailsOrParsesWithoutTrapping() {
        let bytes = SyntheticELF().bytes
        var failures = 0
        for length in 0..<bytes.count {
            do { _ = try ELFFile(bytes: Array(bytes.prefix(length))) } catch { failures += 1 }
        }
        #expect(failures > bytes.count / 2)
    }

    @Test func truncationsOfARealBinaryNeverTrap() throws {
        let fd = open("/proc/self/exe", O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        var prefix = [UInt8](repeating: 0, count: 256 << 10)
        let count = prefix.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        try #require(count > 0)
        prefix = Array(prefix.prefix(count))
        for length in stride(from: 0, to: prefix.count, by: 509) {
            _ = try? ELFFile(bytes: Array(prefix.prefix(length)))
        }
    }

    @Test func randomBytesAndRandomCorruptionsNeverTrap() {
        let good = SyntheticELF().bytes
        for seed in UInt64(0)..<1_000 {
            var random = SplitMix64(seed: seed)
            // Random bytes behind a valid ELF64 LE identification.
            var noise =
                [0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]
                + (0..<Int(random.next() % 1_024)).map { _ in UInt8.random(in: 0...255, using: &random) }
            _ = try? ELFFile(bytes: noise)
            noise[4] = UInt8.random(in: 0...3, using: &random)
            _ = try? ELFFile(bytes: noise)
            // A well-formed file with a few bytes, or whole fields, overwritten.
            var corrupted = good
            for _ in 0..<Int(1 + random.next() % 8) {
                let index = Int(random.next() % UInt64(corrupted.count))
                corrupted[index] = UInt8.random(in: 0...255, using: &random)
            }
            if random.next() % 2 == 0 {
                let index = Int(random.next() % UInt64(corrupted.count - 8))
                let value: UInt64 =
                    [UInt64.max, 1 << 63, 0xFFFF_FFFF, UInt64(corrupted.count)].randomElement(using: &random) ?? 0
                withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { corrupted[index + i] = b } }
            }
            if let file = try? ELFFile(bytes: corrupted) {
                for address in stride(from: UInt64(0), to: 0x3000, by: 0x80) { _ = file.symbol(containing: address) }
            }
        }
    }

    @Test func hugeCountsAndSizesAreErrorsNotAllocations() {
        var manySections = SyntheticELF()
        manySections.set16(0xFFFF, at: 60)
        #expect(throws: ELFFile.ELFError.self) { try ELFFile(bytes: manySections.bytes) }

        var wideEntries = SyntheticELF()
        wideEntries.set16(0xFFFF, at: 58)
        #expect(throws: ELFFile.ELFError.self) { try ELFFile(bytes: wideEntries.bytes) }

        var manySegments = SyntheticELF()
        manySegments.set16(0xFFFE, at: 56)
        #expect(throws: ELFFile.ELFError.self) { try ELFFile(bytes: manySegments.bytes) }

        // Extended numbering pointing at a huge count in section 0.
        var extended = SyntheticELF()
        extended.set16(0, at: 60)
        extended.set64(UInt64.max, at: extended.sectionHeadersOffset + 32)
        #expect(throws: ELFFile.ELFError.self) { try ELFFile(bytes: extended.bytes) }

        // A symbol table whose size and string-table link are absurd: its symbols are lost,
        // the rest of the file is still read.
        var hugeTable = SyntheticELF()
        hugeTable.set64(UInt64.max - 7, at: hugeTable.symtabHeaderOffset + 32)
        let file = try? ELFFile(bytes: hugeTable.bytes)
        #expect(file?.symbols.isEmpty == true)
        #expect(file?.buildID == SyntheticELF.buildID)

        var badLink = SyntheticELF()
        badLink.bytes[badLink.symtabHeaderOffset + 40] = 0xFF
        #expect((try? ELFFile(bytes: badLink.bytes))?.symbols.isEmpty == true)

        var hugeOffsets = SyntheticELF()
        hugeOffsets.set64(UInt64.max, at: 32)  // e_phoff
        #expect(throws: ELFFile.ELFError.self) { try ELFFile(bytes: hugeOffsets.bytes) }
    }

    @Test func readsThisTestBinary() throws {
        let file = try ELFFile(path: "/proc/self/exe")
        #expect(!file.loadSegments.isEmpty)
        #expect(!file.symbols.isEmpty)
        #expect(zip(file.symbols, file.symbols.dropFirst()).allSatisfy { $0.value <= $1.value })
    }

    @Test(.enabled(if: SymbolicationTestSupport.readelf != nil, "needs readelf, llvm-readelf or llvm-readobj"))
    func theBuildIDOfThisExecutableMatchesReadelf() throws {
        let tool = try #require(SymbolicationTestSupport.readelf)
        // The tool's own /proc/self/exe would be the tool: name this executable by its path.
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let output = try #require(SymbolicationTestSupport.run([tool, "--notes", executable]))
        let line = try #require(output.split(separator: "\n").first { $0.contains("Build ID:") })
        let expected = String(line.split(separator: ":").last ?? "").trimmingCharacters(in: .whitespaces)
        let file = try ELFFile(path: executable)
        #expect(file.buildIDHex == expected)
        #expect(!expected.isEmpty)
    }

    @Test func debugIDFollowsSentrysDocumentedExample() {
        let image = BinaryImage(path: "/x", start: 0, end: 1, buildID: "f1c3bcc0279865fe3058404b2831d9e64135386c")
        #expect(image.debugID == "c0bcc3f1-9827-fe65-3058-404b2831d9e6")
    }
}
