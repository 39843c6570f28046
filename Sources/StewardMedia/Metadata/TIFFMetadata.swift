/// The directories of an EXIF (TIFF) block that StewardMedia reads.
enum TIFFDirectory: Hashable, Sendable {
    case ifd0, exif, gps, interop, thumbnail
}

/// One directory entry, with its value's raw bytes (in the block's byte order).
struct TIFFEntry {
    var tag: UInt16
    var type: UInt16
    var count: UInt32
    var value: ArraySlice<UInt8>
}

/// An EXIF block parsed defensively: every directory is bounds-checked, directory offsets are
/// followed at most once (a loop is an error), and every value must lie inside the block.
struct TIFFMetadata {
    var bigEndian: Bool
    var directories: [TIFFDirectory: [TIFFEntry]] = [:]
    /// The size of the parsed block: a rebuilt block is never larger.
    var byteCount: Int
    /// The block's offset in its file, for error messages.
    var base: Int
    /// Entries whose type is unknown: their size cannot be checked, so they are never kept.
    var unknownTypes: [(TIFFDirectory, UInt16)] = []

    /// At most this many directories in the IFD0 → IFD1 → … chain are read.
    static let chainLimit = 16

    /// The size of one value of a TIFF field type, or nil for an unknown type.
    static func size(ofType type: UInt16) -> Int? {
        switch type {
        case 1, 2, 6, 7: 1
        case 3, 8: 2
        case 4, 9, 11, 13: 4
        case 5, 10, 12: 8
        default: nil
        }
    }

    /// Parses a TIFF block (starting with `II*\0` or `MM\0*`).
    ///
    /// - Parameter base: The block's offset in the file, for error messages.
    /// - Throws: ``MediaError`` when a header, directory or value does not fit, a count is too
    ///   large for the block, or directory offsets loop.
    init(_ block: [UInt8], base: Int = 0) throws {
        byteCount = block.count
        self.base = base
        guard block.count >= 8 else {
            throw MediaError(.truncated, "the EXIF block is shorter than its 8-byte header", offset: base)
        }
        if block[0] == 0x49, block[1] == 0x49 {
            bigEndian = false
        } else if block[0] == 0x4D, block[1] == 0x4D {
            bigEndian = true
        } else {
            throw MediaError(.malformed, "the EXIF block has no TIFF byte-order mark (II or MM)", offset: base)
        }
        let reader = MediaReader(bytes: block, bigEndian: bigEndian, base: base)
        guard try reader.u16(2) == 42 else {
            throw MediaError(.malformed, "the EXIF block's TIFF header lacks the number 42", offset: base &+ 2)
        }

        var visited = Set<Int>()
        var valueBytes = 0
        var next = Int(try reader.u32(4))
        var chain = 0
        while next != 0 && chain < Self.chainLimit {
            let directory: TIFFDirectory = chain == 0 ? .ifd0 : .thumbnail
            let (entries, following) = try Self.readDirectory(
                reader, at: next, visited: &visited, valueBytes: &valueBytes)
            if chain == 0 {
                directories[.ifd0] = entries
            } else {
                directories[.thumbnail, default: []].append(contentsOf: entries)
            }
            try collect(entries, of: directory, reader: reader, visited: &visited, valueBytes: &valueBytes)
            next = following
            chain += 1
        }
    }

    /// Reads the sub-directories `entries` point to (Exif, GPS, interoperability).
    private mutating func collect(
        _ entries: [TIFFEntry], of directory: TIFFDirectory, reader: MediaReader, visited: inout Set<Int>,
        valueBytes: inout Int
    ) throws {
        for entry in entries {
            if entry.type != 4 && entry.type != 13
                && [ExifTags.exifPointer, ExifTags.gpsPointer, ExifTags.interopPointer].contains(entry.tag)
            {
                throw MediaError(
                    .malformed,
                    "the EXIF directory pointer \(ExifTags.hex(entry.tag)) has type \(entry.type), not LONG",
                    offset: reader.base)
            }
            let target: TIFFDirectory
            switch (directory, entry.tag) {
            case (.ifd0, ExifTags.exifPointer): target = .exif
            case (.ifd0, ExifTags.gpsPointer): target = .gps
            case (.exif, ExifTags.interopPointer): target = .interop
            default:
                if TIFFMetadata.size(ofType: entry.type) == nil { unknownTypes.append((directory, entry.tag)) }
                continue
            }
            guard directories[target] == nil else {
                throw MediaError(
                    .malformed, "the EXIF block points to a second \(target) directory", offset: reader.base)
            }
            guard entry.count == 1, entry.value.count == 4 else {
                throw MediaError(
                    .malformed,
                    "the EXIF directory pointer \(ExifTags.hex(entry.tag)) holds \(entry.count) values, not 1",
                    offset: reader.base)
            }
            let value = MediaReader(bytes: Array(entry.value), bigEndian: bigEndian)
            let offset = Int(try value.u32(0))
            let (sub, _) = try Self.readDirectory(reader, at: offset, visited: &visited, valueBytes: &valueBytes)
            directories[target, default: []].append(contentsOf: sub)
            try collect(sub, of: target, reader: reader, visited: &visited, valueBytes: &valueBytes)
        }
    }

    /// Reads the directory at `offset`: its entries and the offset of the next directory.
    ///
    /// `valueBytes` adds up the out-of-line values of every directory read so far: values that
    /// do not overlap cannot take more room than the block, so a larger sum is a block whose
    /// entries point at the same bytes again and again (a few kilobytes of entries claiming
    /// gigabytes), which is refused.
    private static func readDirectory(
        _ reader: MediaReader, at offset: Int, visited: inout Set<Int>,
        valueBytes: inout Int
    ) throws -> ([TIFFEntry], Int) {
        guard visited.insert(offset).inserted else {
            throw MediaError(
                .offsetLoop, "EXIF directory offsets loop back to offset \(offset)", offset: reader.base &+ offset)
        }
        let count = Int(try reader.u16(offset))
        // 2 bytes of count, 12 per entry; the 4-byte next pointer may be missing in the last one.
        let entriesEnd = try reader.end(
            of: offset, length: 2 &+ 12 &* count, what: "an EXIF directory of \(count) entries")
        var entries: [TIFFEntry] = []
        entries.reserveCapacity(count)
        for i in 0..<count {
            let at = offset &+ 2 &+ 12 &* i
            let tag = try reader.u16(at), type = try reader.u16(at &+ 2), n = try reader.u32(at &+ 4)
            guard let unit = size(ofType: type) else {
                entries.append(TIFFEntry(tag: tag, type: type, count: n, value: []))
                continue
            }
            let (length, overflow) = Int(n).multipliedReportingOverflow(by: unit)
            guard !overflow, length <= reader.count else {
                throw MediaError(
                    .malformed, "EXIF tag \(ExifTags.hex(tag)) claims \(n) values, more than the block holds",
                    offset: reader.base &+ at)
            }
            let start = length <= 4 ? at &+ 8 : Int(try reader.u32(at &+ 8))
            let end = try reader.end(of: start, length: length, what: "the value of EXIF tag \(ExifTags.hex(tag))")
            if length > 4 {
                valueBytes &+= length  // each length is at most the block's size, and so is the sum before it
                guard valueBytes <= reader.count else {
                    throw MediaError(
                        .malformed,
                        "the EXIF values overlap: tag \(ExifTags.hex(tag)) brings them to \(valueBytes) bytes in a block of \(reader.count)",
                        offset: reader.base &+ at)
                }
            }
            entries.append(TIFFEntry(tag: tag, type: type, count: n, value: reader.bytes[start..<end]))
        }
        let next = entriesEnd &+ 4 <= reader.count ? Int(try reader.u32(entriesEnd)) : 0
        return (entries, next)
    }

    /// The directories in report order.
    static let order: [TIFFDirectory] = [.ifd0, .exif, .gps, .interop, .thumbnail]

    /// Every tag present, by report name, directory by directory, each name once.
    var tagNames: [String] {
        var seen = Set<String>(), names: [String] = []
        for directory in Self.order {
            for entry in directories[directory] ?? [] {
                let name = ExifTags.name(entry.tag, in: directory)
                if seen.insert(name).inserted { names.append(name) }
            }
        }
        return names
    }

    /// Adds every tag's name to the removed list of `report` (for a block dropped whole).
    func reportRemoved(into report: inout MetadataReportBuilder) {
        for directory in Self.order {
            for entry in directories[directory] ?? [] { report.remove(ExifTags.name(entry.tag, in: directory)) }
        }
    }

    /// A new block with only what `policy` keeps, or nil when nothing is kept; what was kept and
    /// removed goes into `report`.
    ///
    /// Each kept tag has the type and count the EXIF specification gives it (or is removed as
    /// malformed) and appears once per directory (a repeated tag is removed as a duplicate), and
    /// the block is never larger than the one parsed: a block whose kept values overlap so that
    /// they would take more room apart than the whole block is refused.
    ///
    /// - Throws: ``MediaError`` `malformed` when the kept values would not fit in the size of the
    ///   parsed block.
    func rebuilt(policy: MetadataPolicy, into report: inout MetadataReportBuilder) throws -> [UInt8]? {
        var keep: [TIFFDirectory: [TIFFEntry]] = [:]
        for directory in Self.order {
            var seen = Set<UInt16>()
            for entry in directories[directory] ?? [] {
                let pointer =
                    (directory == .ifd0 && (entry.tag == ExifTags.exifPointer || entry.tag == ExifTags.gpsPointer))
                    || (directory == .exif && entry.tag == ExifTags.interopPointer)
                if pointer { continue }
                let name = ExifTags.name(entry.tag, in: directory)
                guard TIFFMetadata.size(ofType: entry.type) != nil,
                    ExifTags.keeps(entry.tag, in: directory, policy: policy)
                else {
                    report.remove(name)
                    continue
                }
                guard ExifTags.hasExpectedShape(entry, in: directory) else {
                    report.remove("Malformed " + name)
                    continue
                }
                guard seen.insert(entry.tag).inserted else {
                    report.remove("Duplicate " + name)
                    continue
                }
                keep[directory, default: []].append(entry)
                report.keep(name)
            }
        }
        if directories[.thumbnail] != nil { report.remove("Thumbnail") }
        if keep.values.allSatisfy(\.isEmpty) { return nil }
        let writer = TIFFWriter(bigEndian: bigEndian)
        let (ifd0, exif, gps) = (keep[.ifd0] ?? [], keep[.exif] ?? [], keep[.gps] ?? [])
        // Values are word-aligned as TIFF asks, unless the padding alone would make the block
        // larger than the original (an original packed without padding).
        for padded in [true, false] {
            if let block = writer.write(ifd0: ifd0, exif: exif, gps: gps, padded: padded, limit: byteCount) {
                return block
            }
        }
        throw MediaError(
            .malformed,
            "the EXIF block's kept values overlap: rebuilt apart they would not fit in the block's \(byteCount) bytes",
            offset: base)
    }
}

/// Writes a minimal TIFF block: IFD0, then the Exif and GPS directories when they have entries.
struct TIFFWriter {
    var bigEndian: Bool

    /// The block, or nil when it would take more than `limit` bytes (its size is computed, with
    /// overflow checks, before anything is written) or a directory has more than 65,535 entries.
    func write(ifd0: [TIFFEntry], exif: [TIFFEntry], gps: [TIFFEntry], padded: Bool, limit: Int) -> [UInt8]? {
        var main = ifd0
        let placeholder: ArraySlice<UInt8> = [0, 0, 0, 0]
        if !exif.isEmpty { main.append(TIFFEntry(tag: ExifTags.exifPointer, type: 4, count: 1, value: placeholder)) }
        if !gps.isEmpty { main.append(TIFFEntry(tag: ExifTags.gpsPointer, type: 4, count: 1, value: placeholder)) }
        let mainOffset = 8
        guard let mainSize = Self.size(of: main, padded: padded),
            let exifSize = exif.isEmpty ? 0 : Self.size(of: exif, padded: padded),
            let gpsSize = gps.isEmpty ? 0 : Self.size(of: gps, padded: padded)
        else { return nil }
        // With each size at most `limit` (an array's count), the sums cannot overflow.
        guard mainSize <= limit, exifSize <= limit, gpsSize <= limit else { return nil }
        let exifOffset = mainOffset + mainSize
        let gpsOffset = exifOffset + exifSize
        let total = gpsOffset + gpsSize
        guard total <= limit, let exifOffset32 = UInt32(exactly: exifOffset),
            let gpsOffset32 = UInt32(exactly: gpsOffset)
        else { return nil }
        for i in main.indices {
            var w = ByteWriter(bigEndian: bigEndian)
            if main[i].tag == ExifTags.exifPointer { w.u32(exifOffset32); main[i].value = w.bytes[...] }
            if main[i].tag == ExifTags.gpsPointer { w.u32(gpsOffset32); main[i].value = w.bytes[...] }
        }
        var out = ByteWriter(bigEndian: bigEndian)
        out.bytes.reserveCapacity(total)
        out.bytes.append(contentsOf: bigEndian ? [0x4D, 0x4D] : [0x49, 0x49])
        out.u16(42)
        out.u32(UInt32(mainOffset))
        append(main, at: mainOffset, padded: padded, to: &out)
        if !exif.isEmpty { append(exif, at: exifOffset, padded: padded, to: &out) }
        if !gps.isEmpty { append(gps, at: gpsOffset, padded: padded, to: &out) }
        return out.bytes
    }

    /// Bytes a directory takes with its out-of-line values, or nil past 65,535 entries or
    /// `Int.max` bytes.
    static func size(of entries: [TIFFEntry], padded: Bool) -> Int? {
        guard entries.count <= 0xFFFF else { return nil }
        var total = 2 + 12 * entries.count + 4
        for entry in entries where entry.value.count > 4 {
            let (sum, overflow) = total.addingReportingOverflow(length(of: entry, padded: padded))
            guard !overflow else { return nil }
            total = sum
        }
        return total
    }

    /// The room an out-of-line value takes.
    private static func length(of entry: TIFFEntry, padded: Bool) -> Int {
        padded ? entry.value.count + (entry.value.count & 1) : entry.value.count
    }

    /// Writes a directory whose size ``size(of:padded:)`` accepted (so every count and offset
    /// fits its field).
    private func append(_ unsorted: [TIFFEntry], at offset: Int, padded: Bool, to out: inout ByteWriter) {
        let entries = unsorted.sorted { $0.tag < $1.tag }
        var dataOffset = offset + 2 + 12 * entries.count + 4
        var data: [UInt8] = []
        out.u16(UInt16(truncatingIfNeeded: entries.count))
        for entry in entries {
            out.u16(entry.tag)
            out.u16(entry.type)
            out.u32(entry.count)
            if entry.value.count <= 4 {
                out.bytes.append(contentsOf: entry.value)
                out.bytes.append(contentsOf: repeatElement(0, count: 4 - entry.value.count))
            } else {
                out.u32(UInt32(truncatingIfNeeded: dataOffset))
                data.append(contentsOf: entry.value)
                if padded && entry.value.count & 1 == 1 { data.append(0) }
                dataOffset += Self.length(of: entry, padded: padded)
            }
        }
        out.u32(0)
        out.bytes.append(contentsOf: data)
    }
}
