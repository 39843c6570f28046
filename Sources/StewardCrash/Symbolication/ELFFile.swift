import StewardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What Steward needs from an ELF file to symbolicate: its GNU build ID, its `PT_LOAD`
/// segments and its function symbols (from `.symtab` and `.dynsym`), sorted by address.
///
/// Only ELF64 little-endian files are read (the only kind Steward runs on); anything else is
/// refused with an ``ELFError``. Parsing is bounds-checked throughout and never traps on
/// hostile input: every offset, size and count read from the file is checked against the
/// file's size and against fixed caps before it is used, so truncated headers, tables past
/// the end of the file, huge counts and string indices out of range become errors (or a
/// skipped symbol), never a crash or an unbounded allocation.
///
/// Files are read with bounded `pread`s of the ranges needed (headers, notes, symbol and
/// string tables), never whole; at most ``maximumBytesLoaded`` bytes in all.
struct ELFFile: Sendable {
    /// A `PT_LOAD` segment.
    struct Segment: Hashable, Sendable {
        var vaddr: UInt64
        var offset: UInt64
        var fileSize: UInt64
        var memorySize: UInt64
        var align: UInt64
        var flags: UInt32
    }

    /// A function symbol (`STT_FUNC`, defined).
    struct Symbol: Hashable, Sendable {
        /// Its address in the file's virtual address space.
        var value: UInt64
        /// Its size in bytes; 0 when the producer did not say.
        var size: UInt64
        /// Its (mangled) name.
        var name: String
    }

    /// Why a file could not be read.
    struct ELFError: Error, Hashable, Sendable, CustomStringConvertible {
        enum Code: Hashable, Sendable {
            case notELF, unsupportedClass, unsupportedByteOrder, truncated, malformed, tooLarge, notRegularFile, io
        }
        var code: Code
        var message: String
        var description: String { message }

        static func truncated(_ what: String) -> ELFError {
            ELFError(code: .truncated, message: "The ELF file is truncated: \(what) runs past its end.")
        }
        static func malformed(_ what: String) -> ELFError {
            ELFError(code: .malformed, message: "The ELF file is malformed: \(what).")
        }
    }

    /// The caps on what one file may make us load.
    static let maximumBytesLoaded = 512 << 20
    static let maximumTableBytes = 256 << 20
    static let maximumHeaderCount = 65_536
    static let maximumSymbolNameLength = 4_096

    /// The GNU build ID (`NT_GNU_BUILD_ID`), raw bytes; nil when the file has none.
    var buildID: [UInt8]?
    /// The `PT_LOAD` segments, in file order.
    var loadSegments: [Segment]
    /// The function symbols, sorted by address; among symbols at the same address the
    /// preferred name (fewer leading underscores, then global over weak over local) comes first.
    var symbols: [Symbol]
    /// The ELF type (`ET_EXEC` 2, `ET_DYN` 3).
    var type: UInt16

    /// The build ID as lowercase hex.
    var buildIDHex: String? {
        guard let buildID, !buildID.isEmpty else { return nil }
        return Hex.encode(buildID)
    }

    // MARK: - Opening

    /// Reads the file at `path` (it must be a regular file).
    init(path: String) throws(ELFError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            throw ELFError(code: .io, message: "Could not open \(path): \(String(cString: strerror(errno))).")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw ELFError(code: .io, message: "Could not stat \(path): \(String(cString: strerror(errno))).")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw ELFError(
                code: .notRegularFile, message: "\(path) is not a regular file; only regular files are read.")
        }
        let size = UInt64(max(0, st.st_size))
        var source = Source(size: size) { offset, count in
            var bytes = [UInt8](repeating: 0, count: count)
            var done = 0
            while done < count {
                let n = bytes.withUnsafeMutableBytes { buffer in
                    pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done))
                }
                if n < 0 {
                    if errno == EINTR { continue }
                    return nil
                }
                if n == 0 { break }
                done += n
            }
            return done == count ? bytes : nil
        }
        try self.init(source: &source)
    }

    /// Parses an ELF image held in memory (used by tests and for hostile-input checks).
    init(bytes: [UInt8]) throws(ELFError) {
        var source = Source(size: UInt64(bytes.count)) { offset, count in
            guard let start = Int(exactly: offset), start <= bytes.count, count <= bytes.count - start else {
                return nil
            }
            return Array(bytes[start..<(start + count)])
        }
        try self.init(source: &source)
    }

    /// Bounded random access to the file's bytes.
    struct Source {
        let size: UInt64
        let readRange: (UInt64, Int) -> [UInt8]?
        var loaded = 0

        init(size: UInt64, readRange: @escaping (UInt64, Int) -> [UInt8]?) {
            self.size = size
            self.readRange = readRange
        }

        /// Reads `count` bytes at `offset`, which must lie within the file and the caps.
        mutating func read(_ offset: UInt64, _ count: UInt64, _ what: String) throws(ELFError) -> ByteView {
            let (end, overflow) = offset.addingReportingOverflow(count)
            guard !overflow, end <= size else { throw .truncated(what) }
            guard count <= UInt64(ELFFile.maximumTableBytes),
                loaded + Int(count) <= ELFFile.maximumBytesLoaded
            else {
                throw ELFError(
                    code: .tooLarge, message: "The ELF file's \(what) is larger than Steward reads (\(count) bytes).")
            }
            loaded += Int(count)
            guard let bytes = readRange(offset, Int(count)) else {
                throw ELFError(code: .io, message: "Could not read the ELF file's \(what).")
            }
            return ByteReader(bytes)
        }
    }

    /// The bounds-checked reader of StewardCore (little-endian: Steward reads only ELFCLASS64 LSB).
    typealias ByteView = ByteReader

    private struct SectionHeader {
        var name: UInt32
        var type: UInt32
        var offset: UInt64
        var size: UInt64
        var link: UInt32
        var entrySize: UInt64
    }

    // MARK: - Parsing

    private init(source: inout Source) throws(ELFError) {
        let header = try source.read(0, min(64, source.size), "ELF header")
        guard header.count >= 4, header.bytes[0] == 0x7F, header.bytes[1] == UInt8(ascii: "E"),
            header.bytes[2] == UInt8(ascii: "L"), header.bytes[3] == UInt8(ascii: "F")
        else {
            throw ELFError(code: .notELF, message: "Not an ELF file (no \\x7fELF magic).")
        }
        guard header.count >= 64 else { throw .truncated("the ELF header") }
        guard header.bytes[4] == 2 else {
            throw ELFError(
                code: .unsupportedClass, message: "Only 64-bit ELF files are supported (class \(header.bytes[4])).")
        }
        guard header.bytes[5] == 1 else {
            throw ELFError(code: .unsupportedByteOrder, message: "Only little-endian ELF files are supported.")
        }
        guard let type = header.u16(at: 16), let phoff = header.u64(at: 32), let shoff = header.u64(at: 40),
            let phentsize = header.u16(at: 54), var phnum = header.u16(at: 56).map(Int.init),
            let shentsize = header.u16(at: 58), var shnum = header.u16(at: 60).map(Int.init)
        else {
            throw .truncated("the ELF header")
        }
        self.type = type

        // Section 0 holds the real counts when they do not fit the header (extended numbering).
        // Section names are not needed: notes and symbol tables are found by their types.
        if shoff != 0, shentsize >= 64, shnum == 0 || phnum == 0xFFFF {
            let first = try source.read(shoff, 64, "section header 0")
            if shnum == 0, let count = first.u64(at: 32) { shnum = Int(clamping: count) }
            if phnum == 0xFFFF, let info = first.u32(at: 44) { phnum = Int(info) }
        }

        // Program headers: PT_LOAD segments and PT_NOTE (for the build ID).
        var segments: [Segment] = []
        var buildID: [UInt8]?
        if phoff != 0, phnum > 0 {
            guard phentsize >= 56 else {
                throw .malformed("program header entries are \(phentsize) bytes, fewer than 56")
            }
            guard phnum <= ELFFile.maximumHeaderCount else { throw .malformed("\(phnum) program headers") }
            let table = try source.read(phoff, UInt64(phnum) * UInt64(phentsize), "program header table")
            var notes: [(offset: UInt64, size: UInt64, align: UInt64)] = []
            for index in 0..<phnum {
                let base = index * Int(phentsize)
                guard let pType = table.u32(at: base), let flags = table.u32(at: base + 4),
                    let offset = table.u64(at: base + 8),
                    let vaddr = table.u64(at: base + 16), let fileSize = table.u64(at: base + 32),
                    let memorySize = table.u64(at: base + 40), let align = table.u64(at: base + 48)
                else { continue }
                if pType == 1 {
                    segments.append(
                        Segment(
                            vaddr: vaddr, offset: offset, fileSize: fileSize,
                            memorySize: memorySize, align: align, flags: flags))
                } else if pType == 4 {
                    notes.append((offset, fileSize, align))
                }
            }
            for note in notes where buildID == nil {
                guard note.size <= 1 << 20, let data = try? source.read(note.offset, note.size, "note segment") else {
                    continue
                }
                buildID = ELFFile.findBuildID(in: data, align: note.align == 8 ? 8 : 4)
            }
        }
        self.loadSegments = segments

        // Section headers: symbol tables, and notes when no segment had the build ID.
        var symbols: [RankedSymbol] = []
        if shoff != 0, shnum > 0 {
            guard shentsize >= 64 else {
                throw .malformed("section header entries are \(shentsize) bytes, fewer than 64")
            }
            guard shnum <= ELFFile.maximumHeaderCount else { throw .malformed("\(shnum) section headers") }
            let table = try source.read(shoff, UInt64(shnum) * UInt64(shentsize), "section header table")
            var sections: [SectionHeader] = []
            sections.reserveCapacity(shnum)
            for index in 0..<shnum {
                let base = index * Int(shentsize)
                guard let name = table.u32(at: base), let sType = table.u32(at: base + 4),
                    let offset = table.u64(at: base + 24),
                    let size = table.u64(at: base + 32), let link = table.u32(at: base + 40),
                    let entrySize = table.u64(at: base + 56)
                else { throw .truncated("section header \(index)") }
                sections.append(
                    SectionHeader(
                        name: name, type: sType, offset: offset, size: size,
                        link: link, entrySize: entrySize))
            }
            if buildID == nil {
                for section in sections where section.type == 7 && section.size <= 1 << 20 && buildID == nil {
                    guard let data = try? source.read(section.offset, section.size, "note section") else { continue }
                    buildID = ELFFile.findBuildID(in: data, align: 4)
                }
            }
            for section in sections where section.type == 2 || section.type == 11 {
                // A bad symbol table costs its symbols, not the file: the build ID and the
                // segments are still worth having.
                guard
                    let found = try? ELFFile.readSymbols(
                        section, sections: sections, source: &source,
                        fromSymtab: section.type == 2)
                else { continue }
                symbols.append(contentsOf: found)
            }
        }
        self.buildID = buildID
        self.symbols = ELFFile.sortAndDeduplicate(symbols)
    }

    /// Finds `NT_GNU_BUILD_ID` (type 3, owner "GNU") in a run of notes.
    static func findBuildID(in data: ByteView, align: Int) -> [UInt8]? {
        var position = 0
        var guardCount = 0
        while position + 12 <= data.count, guardCount < 4_096 {
            guardCount += 1
            guard let nameSize = data.u32(at: position).map(Int.init),
                let descSize = data.u32(at: position + 4).map(Int.init),
                let type = data.u32(at: position + 8)
            else { return nil }
            let nameStart = position + 12
            let descStart = nameStart + roundUp(nameSize, align)
            let next = descStart + roundUp(descSize, align)
            guard nameSize <= data.count, descSize <= data.count, descStart <= data.count,
                descStart + descSize <= data.count
            else { return nil }
            if type == 3, nameSize == 4, data.bytes[nameStart..<(nameStart + 4)].elementsEqual([0x47, 0x4E, 0x55, 0]),
                descSize > 0, descSize <= 64
            {
                return Array(data.bytes[descStart..<(descStart + descSize)])
            }
            guard next > position else { return nil }
            position = next
        }
        return nil
    }

    private static func roundUp(_ value: Int, _ align: Int) -> Int { (value + align - 1) / align * align }

    private struct RankedSymbol {
        var symbol: Symbol
        var rank: Int
    }

    private static func readSymbols(
        _ section: SectionHeader, sections: [SectionHeader], source: inout Source,
        fromSymtab: Bool
    ) throws(ELFError) -> [RankedSymbol] {
        guard section.entrySize == 0 || section.entrySize >= 24 else {
            throw .malformed("symbol entries smaller than 24 bytes")
        }
        let entrySize = section.entrySize == 0 ? 24 : Int(clamping: section.entrySize)
        guard Int(section.link) < sections.count else {
            throw .malformed("a symbol table's string table index is out of range")
        }
        let stringSection = sections[Int(section.link)]
        guard stringSection.type == 3 else { throw .malformed("a symbol table's string table is not a string table") }
        let symbolData = try source.read(section.offset, section.size, "symbol table")
        let strings = try source.read(stringSection.offset, stringSection.size, "string table")
        let count = symbolData.count / entrySize
        var result: [RankedSymbol] = []
        for index in 0..<count {
            let base = index * entrySize
            guard let nameOffset = symbolData.u32(at: base), let info = symbolData.u8(at: base + 4),
                let sectionIndex = symbolData.u16(at: base + 6), let value = symbolData.u64(at: base + 8),
                let size = symbolData.u64(at: base + 16)
            else { break }
            // STT_FUNC, defined (not SHN_UNDEF), with an address.
            guard info & 0xF == 2, sectionIndex != 0, value != 0 else { continue }
            guard let name = strings.cString(at: Int(nameOffset), limit: maximumSymbolNameLength), !name.isEmpty else {
                continue
            }
            let binding = info >> 4
            // Fewer leading underscores first (`getpid` over its alias `__getpid`), then global
            // over weak over local, then .symtab over .dynsym.
            var rank = min(63, name.utf8.prefix { $0 == UInt8(ascii: "_") }.count)
            rank = rank * 4 + (binding == 1 ? 0 : binding == 2 ? 1 : 2)
            rank = rank * 2 + (fromSymtab ? 0 : 1)
            result.append(RankedSymbol(symbol: Symbol(value: value, size: size, name: name), rank: rank))
        }
        return result
    }

    private static func sortAndDeduplicate(_ symbols: [RankedSymbol]) -> [Symbol] {
        let sorted = symbols.sorted { a, b in
            if a.symbol.value != b.symbol.value { return a.symbol.value < b.symbol.value }
            if a.rank != b.rank { return a.rank < b.rank }
            return a.symbol.name < b.symbol.name
        }
        var result: [Symbol] = []
        result.reserveCapacity(sorted.count)
        for ranked in sorted {
            // The same symbol in .symtab and .dynsym appears once.
            if let last = result.last, last.value == ranked.symbol.value, last.name == ranked.symbol.name { continue }
            result.append(ranked.symbol)
        }
        return result
    }

    // MARK: - Lookup

    /// The farthest an address may lie past a symbol of unknown size and still count as in it.
    static let maximumUnsizedDistance: UInt64 = 64 << 10

    /// The function symbol containing `address` (in the file's virtual address space): one
    /// whose range holds it, or, when the nearest preceding symbol has no size, that one if
    /// the address is within ``maximumUnsizedDistance`` of it and inside a `PT_LOAD` segment.
    func symbol(containing address: UInt64) -> Symbol? {
        var low = 0
        var high = symbols.count
        while low < high {
            let mid = (low + high) / 2
            if symbols[mid].value <= address { low = mid + 1 } else { high = mid }
        }
        guard low > 0 else { return nil }
        let nearest = symbols[low - 1].value
        var groupStart = low - 1
        while groupStart > 0, symbols[groupStart - 1].value == nearest { groupStart -= 1 }
        // A symbol at the nearest address whose range holds the address (preferred name first).
        for index in groupStart..<low where symbols[index].size > 0 && address - nearest < symbols[index].size {
            return symbols[index]
        }
        // An earlier, larger symbol may enclose it (nested or overlapping symbols).
        var index = groupStart - 1
        var looked = 0
        while index >= 0, looked < 32 {
            let candidate = symbols[index]
            if candidate.size > 0, address - candidate.value < candidate.size { return candidate }
            index -= 1
            looked += 1
        }
        // A symbol of unknown size, near enough and in a loaded segment.
        if symbols[groupStart..<low].allSatisfy({ $0.size == 0 }), address - nearest <= ELFFile.maximumUnsizedDistance,
            loadSegments.contains(where: { address >= $0.vaddr && address - $0.vaddr < $0.memorySize })
        {
            return symbols[groupStart]
        }
        return nil
    }

    /// The segment a mapping at file offset `mappingOffset` maps: the `PT_LOAD` whose file
    /// offset, rounded down to the page size, equals it.
    func loadSegment(forMappingOffset mappingOffset: UInt64, pageSize: UInt64) -> Segment? {
        let mask = ~(max(pageSize, 1) - 1)
        return loadSegments.first { $0.offset & mask == mappingOffset }
    }
}

extension ByteReader {
    /// The NUL-terminated string at `at`, at most `limit` bytes; nil when out of range or
    /// unterminated within the limit.
    func cString(at: Int, limit: Int) -> String? {
        guard at >= 0, at < bytes.count else { return nil }
        let end = limit >= bytes.count - at ? bytes.count : at + Swift.max(limit, 0)
        var index = at
        while index < end {
            if bytes[index] == 0 { return String(decoding: bytes[at..<index], as: UTF8.self) }
            index += 1
        }
        return nil
    }
}
