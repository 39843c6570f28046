/// A PNG file walked chunk by chunk, every CRC checked, nothing decompressed; the chunks are
/// visited as they are found and never collected.
struct PNGFile {
    struct Chunk {
        /// The four-letter type.
        var type: String
        /// The whole chunk: length, type, data and CRC.
        var range: Range<Int>
        /// The data.
        var data: Range<Int>
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    /// Chunks copied byte for byte: the critical ones and those that say how to show the pixels.
    static let kept: Set<String> = [
        "IHDR", "PLTE", "IDAT", "IEND", "tRNS", "gAMA", "cHRM", "sRGB", "iCCP", "sBIT", "bKGD", "pHYs",
        "hIST", "cICP", "mDCV", "cLLI", "acTL", "fcTL", "fdAT",
    ]

    let bytes: [UInt8]

    init(_ bytes: [UInt8]) throws {
        guard hasPrefix(bytes, Self.signature, at: 0) else {
            throw MediaError(.unsupportedFormat, "the data does not start with the PNG signature", offset: 0)
        }
        self.bytes = bytes
    }

    /// Visits every chunk up to and including IEND, in file order, checking each as it goes.
    ///
    /// - Returns: The range after IEND (empty when nothing follows it).
    /// - Throws: ``MediaError`` for a chunk that does not hold, possibly after `body` has seen
    ///   the chunks before it.
    @discardableResult
    func walk(_ body: (Chunk) throws -> Void) throws -> Range<Int> {
        let reader = MediaReader(bytes: bytes, bigEndian: true)
        var pos = Self.signature.count
        var sawHeader = false, sawData = false
        while true {
            guard pos <= bytes.count &- 12 else {
                throw MediaError(.truncated, "the PNG ends without an IEND chunk", offset: pos)
            }
            let length = Int(try reader.u32(pos))
            guard length <= 0x7FFF_FFFF else {
                throw MediaError(
                    .malformed, "a PNG chunk claims \(length) bytes, more than the format allows", offset: pos)
            }
            let dataStart = pos &+ 8
            guard length <= bytes.count &- dataStart &- 4 else {
                throw MediaError(
                    .truncated, "a PNG chunk of \(length) bytes runs past the end of the file", offset: pos)
            }
            let dataEnd = dataStart &+ length
            let typeBytes = bytes[(pos &+ 4)..<dataStart]
            guard typeBytes.allSatisfy({ (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }) else {
                throw MediaError(.malformed, "a PNG chunk type is not four letters", offset: pos &+ 4)
            }
            let type = String(decoding: typeBytes, as: UTF8.self)
            let stored = try reader.u32(dataEnd)
            guard CRC32.checksum(bytes[(pos &+ 4)..<dataEnd]) == stored else {
                throw MediaError(.malformed, "the CRC of PNG chunk \(type) does not match its contents", offset: pos)
            }
            if !sawHeader && type != "IHDR" {
                throw MediaError(.malformed, "a PNG must start with IHDR, not \(type)", offset: pos)
            }
            sawHeader = true
            if type == "IDAT" { sawData = true }
            let chunk = Chunk(type: type, range: pos..<(dataEnd &+ 4), data: dataStart..<dataEnd)
            pos = dataEnd &+ 4
            if type == "IEND" && !sawData {
                throw MediaError(.malformed, "the PNG has no image data (IDAT)", offset: pos)
            }
            try body(chunk)
            if type == "IEND" { return pos..<bytes.count }
        }
    }

    /// Whether a chunk type is critical (its first letter is upper case).
    private static func isCritical(_ type: String) -> Bool { type.utf8.first.map { $0 < 0x61 } ?? true }

    /// The keyword of a text chunk, for reports.
    private func keyword(_ chunk: Chunk) -> String {
        printable(bytes[chunk.data].prefix { $0 != 0 })
    }

    func sanitized(policy: MetadataPolicy) throws -> SanitizedImage {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        out.append(contentsOf: Self.signature)
        var report = MetadataReportBuilder(format: .png)
        var exifDone = false
        let trailing = try walk { chunk in
            switch chunk.type {
            case _ where Self.kept.contains(chunk.type):
                out.append(contentsOf: bytes[chunk.range])
                if chunk.type == "iCCP" { report.keep("ICC profile") }
            case "tIME":
                if policy.keepCaptureTime {
                    out.append(contentsOf: bytes[chunk.range])
                    report.keep("tIME")
                } else {
                    report.remove("tIME")
                }
            case "eXIf":
                let tiff = try TIFFMetadata(Array(bytes[chunk.data]), base: chunk.data.lowerBound)
                if exifDone {
                    report.remove("Second EXIF chunk")
                    tiff.reportRemoved(into: &report)
                    return
                }
                exifDone = true
                // The rebuilt block is never larger than the original chunk's data.
                if let block = try tiff.rebuilt(policy: policy, into: &report) {
                    Self.appendChunk("eXIf", block, to: &out)
                }
            case "tEXt", "zTXt", "iTXt":
                let name = keyword(chunk)
                if name == "XML:com.adobe.xmp" {
                    report.remove("XMP")
                    report.remove(XMPProperties.found(in: bytes[chunk.data]))
                } else {
                    report.remove("\(chunk.type) \(name)")
                }
            default:
                guard !Self.isCritical(chunk.type) else {
                    throw MediaError(
                        .unsupportedFormat, "the PNG has an unknown critical chunk \(chunk.type)",
                        offset: chunk.range.lowerBound)
                }
                report.remove(chunk.type)
            }
        }
        if !trailing.isEmpty { report.remove("Data after end of image") }
        return SanitizedImage(bytes: out, report: report.report)
    }

    func metadata() throws -> ImageMetadata {
        var tags = UniqueNames(), containers = UniqueNames()
        let trailing = try walk { chunk in
            switch chunk.type {
            case "eXIf":
                tags.add(try TIFFMetadata(Array(bytes[chunk.data]), base: chunk.data.lowerBound).tagNames)
                containers.add("EXIF")
            case "tEXt", "zTXt", "iTXt": containers.add("\(chunk.type) \(keyword(chunk))")
            case "iCCP": containers.add("ICC profile")
            case _ where Self.kept.contains(chunk.type): break
            default: containers.add(chunk.type)
            }
        }
        if !trailing.isEmpty { containers.add("Data after end of image") }
        return ImageMetadata(format: .png, exifTags: tags.names, containers: containers.names)
    }

    /// Appends a chunk with its length and a freshly computed CRC.
    static func appendChunk(_ type: String, _ data: [UInt8], to out: inout [UInt8]) {
        var w = ByteWriter(bigEndian: true)
        // Callers pass at most the data of a chunk that was read, so the length fits 31 bits.
        w.u32(UInt32(truncatingIfNeeded: data.count))
        let typeAndData = Array(type.utf8) + data
        w.bytes.append(contentsOf: typeAndData)
        w.u32(CRC32.checksum(typeAndData[...]))
        out.append(contentsOf: w.bytes)
    }
}

/// CRC-32 as PNG uses it (ISO 3309, polynomial 0xEDB88320), sliced by eight bytes.
enum CRC32 {
    private static let tables: [[UInt32]] = {
        var first = [UInt32](repeating: 0, count: 256)
        for n in 0..<256 {
            var c = UInt32(n)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            first[n] = c
        }
        var tables = [first]
        for k in 1..<8 {
            var table = [UInt32](repeating: 0, count: 256)
            for n in 0..<256 {
                let previous = tables[k - 1][n]
                table[n] = (previous >> 8) ^ first[Int(previous & 0xFF)]
            }
            tables.append(table)
        }
        return tables
    }()

    static func checksum(_ data: ArraySlice<UInt8>) -> UInt32 {
        let t = tables
        var c: UInt32 = 0xFFFF_FFFF
        data.withUnsafeBufferPointer { buffer in
            t[0].withUnsafeBufferPointer { t0 in
                t[1].withUnsafeBufferPointer { t1 in
                    t[2].withUnsafeBufferPointer { t2 in
                        t[3].withUnsafeBufferPointer { t3 in
                            t[4].withUnsafeBufferPointer { t4 in
                                t[5].withUnsafeBufferPointer { t5 in
                                    t[6].withUnsafeBufferPointer { t6 in
                                        t[7].withUnsafeBufferPointer { t7 in
                                            var i = 0
                                            let n = buffer.count
                                            while i &+ 8 <= n {
                                                let a =
                                                    c
                                                    ^ (UInt32(buffer[i]) | UInt32(buffer[i &+ 1]) << 8 | UInt32(
                                                        buffer[i &+ 2]) << 16 | UInt32(buffer[i &+ 3]) << 24)
                                                c =
                                                    t7[Int(a & 0xFF)] ^ t6[Int((a >> 8) & 0xFF)]
                                                    ^ t5[Int((a >> 16) & 0xFF)] ^ t4[Int(a >> 24)]
                                                    ^ t3[Int(buffer[i &+ 4])] ^ t2[Int(buffer[i &+ 5])]
                                                    ^ t1[Int(buffer[i &+ 6])] ^ t0[Int(buffer[i &+ 7])]
                                                i &+= 8
                                            }
                                            while i < n {
                                                c = t0[Int((c ^ UInt32(buffer[i])) & 0xFF)] ^ (c >> 8)
                                                i &+= 1
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return c ^ 0xFFFF_FFFF
    }
}
