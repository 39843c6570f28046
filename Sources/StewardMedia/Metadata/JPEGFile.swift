#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A JPEG file walked part by part, without decoding anything.
///
/// Segments (marker, 2-byte length, payload) are read up to each start-of-scan; the entropy-coded
/// data that follows runs to the next marker that is neither a restart marker nor a stuffed
/// `FF 00`, which is found with `memchr`, so a 5 MB photo is scanned in a few milliseconds.
/// The parts are visited as they are found and never collected, so a file of millions of tiny
/// segments costs no memory beyond its output.
struct JPEGFile {
    enum Part {
        /// A marker segment: its marker and the range of the whole segment, marker included.
        case segment(marker: UInt8, range: Range<Int>)
        /// Bytes copied as they are: a marker without a length (TEM, RSTn outside a scan),
        /// entropy-coded data after a start-of-scan, or the end-of-image marker.
        case verbatim(Range<Int>)
    }

    let bytes: [UInt8]

    static let exifHeader: [UInt8] = Array("Exif".utf8) + [0, 0]
    static let xmpHeader: [UInt8] = Array("http://ns.adobe.com/xap/1.0/".utf8) + [0]
    static let xmpExtensionHeader: [UInt8] = Array("http://ns.adobe.com/xmp/extension/".utf8) + [0]
    static let iccHeader: [UInt8] = Array("ICC_PROFILE".utf8) + [0]
    static let jfifHeader: [UInt8] = Array("JFIF".utf8) + [0]
    static let adobeHeader: [UInt8] = Array("Adobe".utf8)

    init(_ bytes: [UInt8]) throws {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else {
            throw MediaError(.unsupportedFormat, "the data does not start with a JPEG start-of-image marker", offset: 0)
        }
        self.bytes = bytes
    }

    /// Visits every part after the start-of-image marker, in file order, checking the structure
    /// as it goes.
    ///
    /// - Returns: The range after the end-of-image marker (empty when nothing follows it).
    /// - Throws: ``MediaError`` for a structure that does not hold, possibly after `body` has
    ///   seen the parts before it.
    @discardableResult
    func walk(_ body: (Part) throws -> Void) throws -> Range<Int> {
        let n = bytes.count
        let reader = MediaReader(bytes: bytes, bigEndian: true)
        var pos = 2
        var sawFrame = false, sawScan = false
        while true {
            guard pos < n else {
                throw MediaError(.truncated, "the JPEG ends without an end-of-image marker", offset: pos)
            }
            guard bytes[pos] == 0xFF else {
                throw MediaError(.malformed, "expected a JPEG marker, found byte \(bytes[pos])", offset: pos)
            }
            // Fill bytes (FF FF …) may precede a marker.
            var at = pos &+ 1
            while at < n && bytes[at] == 0xFF { at &+= 1 }
            guard at < n else { throw MediaError(.truncated, "the JPEG ends inside a marker", offset: pos) }
            let marker = bytes[at]
            let start = at &- 1
            switch marker {
            case 0xD9:
                guard sawFrame, sawScan else {
                    throw MediaError(.malformed, "the JPEG ends before its frame and scan headers", offset: start)
                }
                try body(.verbatim(start..<(at &+ 1)))
                return (at &+ 1)..<n
            case 0x00, 0xD8:
                throw MediaError(
                    .malformed, "marker FF \(marker == 0 ? "00" : "D8") is not allowed here", offset: start)
            case 0x01, 0xD0...0xD7:
                try body(.verbatim(start..<(at &+ 1)))
                pos = at &+ 1
                continue
            default:
                break
            }
            let length = Int(try reader.u16(at &+ 1))
            guard length >= 2 else {
                throw MediaError(
                    .malformed, "a JPEG segment length of \(length) is shorter than its own 2 bytes", offset: at &+ 1)
            }
            guard at &+ 1 &+ length <= n else {
                throw MediaError(
                    .truncated, "a JPEG segment of \(length) bytes runs past the end of the file", offset: start)
            }
            let end = at &+ 1 &+ length
            if (0xC0...0xCF).contains(marker) && marker != 0xC4 && marker != 0xC8 && marker != 0xCC { sawFrame = true }
            if marker == 0xDA && !sawFrame {
                throw MediaError(.malformed, "a JPEG scan starts before its frame header", offset: start)
            }
            try body(.segment(marker: marker, range: start..<end))
            pos = end
            if marker == 0xDA {
                sawScan = true
                let scanEnd = try Self.endOfEntropyData(bytes, from: end)
                try body(.verbatim(end..<scanEnd))
                pos = scanEnd
            }
        }
    }

    /// The offset of the first marker after `start` that ends entropy-coded data.
    static func endOfEntropyData(_ bytes: [UInt8], from start: Int) throws -> Int {
        let found: Int? = bytes.withUnsafeBufferPointer { buffer -> Int? in
            guard let base = buffer.baseAddress else { return nil }
            let n = buffer.count
            var i = start
            while i < n {
                guard let hit = memchr(base + i, 0xFF, n &- i) else { return nil }
                let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                guard at &+ 1 < n else { return nil }
                let next = buffer[at &+ 1]
                if next == 0x00 || (0xD0...0xD7).contains(next) || next == 0xFF {
                    i = at &+ (next == 0xFF ? 1 : 2)
                    continue
                }
                return at
            }
            return nil
        }
        guard let found else {
            throw MediaError(
                .truncated, "the JPEG's scan data runs to the end of the file without a marker", offset: start)
        }
        return found
    }

    /// What to do with one segment.
    private enum Verdict {
        case keep(String?)
        case exif
        case jfif
        case drop([String])
    }

    /// The fixed part of a JFIF `APP0` payload: identifier, version, units, densities and the
    /// thumbnail's width and height (JFIF 1.02); the thumbnail's RGB bytes follow.
    static let jfifFixedLength = 14

    /// Whether the JFIF segment at `range` holds a thumbnail (a size, or bytes after the fixed part).
    private func jfifHasThumbnail(_ range: Range<Int>) -> Bool {
        let payload = range.lowerBound &+ 4
        let length = range.upperBound &- payload
        guard length >= Self.jfifFixedLength else { return false }
        return length > Self.jfifFixedLength || bytes[payload &+ 12] != 0 || bytes[payload &+ 13] != 0
    }

    private func verdict(marker: UInt8, range: Range<Int>) -> Verdict {
        let payload = range.lowerBound &+ 4
        // Identifiers are matched inside the segment only: a short segment followed by `Exif\0\0`
        // in the next bytes is not an EXIF segment.
        func starts(with prefix: [UInt8]) -> Bool {
            prefix.count <= range.upperBound &- payload && hasPrefix(bytes, prefix, at: payload)
        }
        switch marker {
        case 0xE0:
            return starts(with: Self.jfifHeader) ? .jfif : .drop(["APP0 " + label(payload, end: range.upperBound)])
        case 0xE1:
            if starts(with: Self.exifHeader) { return .exif }
            if starts(with: Self.xmpHeader) {
                return .drop(["XMP"] + XMPProperties.found(in: bytes[payload..<range.upperBound]))
            }
            if starts(with: Self.xmpExtensionHeader) { return .drop(["XMP extension"]) }
            return .drop(["APP1 " + label(payload, end: range.upperBound)])
        case 0xE2:
            return starts(with: Self.iccHeader)
                ? .keep("ICC profile") : .drop(["APP2 " + label(payload, end: range.upperBound)])
        case 0xED:
            return .drop(["APP13 Photoshop/IPTC"])
        case 0xEE:
            return starts(with: Self.adobeHeader)
                ? .keep("Adobe") : .drop(["APP14 " + label(payload, end: range.upperBound)])
        case 0xE3...0xEF:
            return .drop(["APP\(marker &- 0xE0) " + label(payload, end: range.upperBound)])
        case 0xFE:
            return .drop(["Comment"])
        default:
            return .keep(nil)
        }
    }

    /// A segment's identifier string (up to its first NUL), for reports.
    private func label(_ payload: Int, end: Int) -> String {
        guard payload < end else { return "(empty)" }
        let text = bytes[payload..<min(end, payload &+ 32)].prefix { $0 != 0 }
        return text.isEmpty ? "(unnamed)" : printable(text)
    }

    func sanitized(policy: MetadataPolicy) throws -> SanitizedImage {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        out.append(contentsOf: [0xFF, 0xD8])
        var report = MetadataReportBuilder(format: .jpeg)
        var exifDone = false
        let trailing = try walk { part in
            switch part {
            case .verbatim(let range):
                out.append(contentsOf: bytes[range])
            case .segment(let marker, let range):
                switch verdict(marker: marker, range: range) {
                case .keep(let name):
                    out.append(contentsOf: bytes[range])
                    if let name { report.keep(name) }
                case .drop(let names):
                    report.remove(names)
                case .jfif:
                    report.keep("JFIF")
                    guard jfifHasThumbnail(range) else {
                        out.append(contentsOf: bytes[range])
                        return
                    }
                    // The embedded thumbnail is a small copy of the original picture: the fixed
                    // part stays, with a thumbnail of 0 × 0.
                    let payload = range.lowerBound &+ 4
                    out.append(contentsOf: [0xFF, 0xE0, 0, UInt8(2 &+ Self.jfifFixedLength)])
                    out.append(contentsOf: bytes[payload..<(payload &+ 12)])
                    out.append(contentsOf: [0, 0])
                    report.remove("JFIF thumbnail")
                case .exif:
                    let blockStart = range.lowerBound &+ 4 &+ Self.exifHeader.count
                    let tiff = try TIFFMetadata(Array(bytes[blockStart..<range.upperBound]), base: blockStart)
                    if exifDone {
                        report.remove("Second EXIF segment")
                        tiff.reportRemoved(into: &report)
                        return
                    }
                    exifDone = true
                    guard let block = try tiff.rebuilt(policy: policy, into: &report) else { return }
                    // The rebuilt block is never larger than the original, so it fits the segment.
                    let length = 2 &+ Self.exifHeader.count &+ block.count
                    guard let length16 = UInt16(exactly: length) else {
                        throw MediaError(
                            .tooLarge, "the rebuilt EXIF segment does not fit in 64 KiB", offset: range.lowerBound)
                    }
                    out.append(contentsOf: [0xFF, 0xE1, UInt8(length16 >> 8), UInt8(length16 & 0xFF)])
                    out.append(contentsOf: Self.exifHeader)
                    out.append(contentsOf: block)
                }
            }
        }
        if !trailing.isEmpty { report.remove("Data after end of image") }
        return SanitizedImage(bytes: out, report: report.report)
    }

    func metadata() throws -> ImageMetadata {
        var tags = UniqueNames(), containers = UniqueNames()
        let trailing = try walk { part in
            guard case .segment(let marker, let range) = part else { return }
            switch verdict(marker: marker, range: range) {
            case .keep(let name): if let name { containers.add(name) }
            case .drop(let names): containers.add(names)
            case .jfif:
                containers.add("JFIF")
                if jfifHasThumbnail(range) { containers.add("JFIF thumbnail") }
            case .exif:
                let blockStart = range.lowerBound &+ 4 &+ Self.exifHeader.count
                tags.add(try TIFFMetadata(Array(bytes[blockStart..<range.upperBound]), base: blockStart).tagNames)
                containers.add("EXIF")
            }
        }
        if !trailing.isEmpty { containers.add("Data after end of image") }
        return ImageMetadata(format: .jpeg, exifTags: tags.names, containers: containers.names)
    }
}
