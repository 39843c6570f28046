import Foundation
import StewardTesting

/// Sample images built byte by byte with known metadata, independently of the module's writer.
enum TestImages {
    // Strings that must never survive sanitising (or, for the pixel canary, must never be on disk).
    static let serial = "SN-CANARY-0042"
    static let lensSerial = "LENS-CANARY-77"
    static let owner = "Alice Canary-Owner"
    static let artist = "Bob Canary-Artist"
    static let comment = "COMMENT-CANARY secret note"
    static let city = "Shenzhen-Canary"
    static let make = "CanaryCam"
    static let model = "CX-1000 Canary"
    static let captureTime = "2026:11:01 10:00:00"
    static let pixelCanary = "PIXEL-CANARY-9f3c21"

    /// A TIFF field: tag, type and raw value (in the block's byte order).
    struct Field {
        var tag: UInt16
        var type: UInt16
        var count: UInt32
        var value: [UInt8]
    }

    static func ascii(_ tag: UInt16, _ text: String) -> Field {
        let bytes = Array(text.utf8) + [0]
        return Field(tag: tag, type: 2, count: UInt32(bytes.count), value: bytes)
    }

    static func short(_ tag: UInt16, _ v: UInt16, bigEndian: Bool) -> Field {
        Field(tag: tag, type: 3, count: 1, value: u16(v, bigEndian))
    }

    static func rationals(_ tag: UInt16, _ values: [(UInt32, UInt32)], bigEndian: Bool) -> Field {
        Field(
            tag: tag, type: 5, count: UInt32(values.count),
            value: values.flatMap { u32($0.0, bigEndian) + u32($0.1, bigEndian) })
    }

    static func u16(_ v: UInt16, _ be: Bool) -> [UInt8] {
        be ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v & 0xFF), UInt8(v >> 8)]
    }
    static func u32(_ v: UInt32, _ be: Bool) -> [UInt8] {
        let b = [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        return be ? b : b.reversed()
    }

    /// Lays out IFD0 → (IFD1), with the Exif and GPS directories after them.
    static func tiff(ifd0: [Field], exif: [Field], gps: [Field], ifd1: [Field], bigEndian: Bool) -> [UInt8] {
        func size(_ fields: [Field]) -> Int {
            2 + 12 * fields.count + 4 + fields.reduce(0) { $0 + ($1.value.count > 4 ? ($1.value.count + 1) & ~1 : 0) }
        }
        var main = ifd0
        main.append(Field(tag: 0x8769, type: 4, count: 1, value: [0, 0, 0, 0]))
        main.append(Field(tag: 0x8825, type: 4, count: 1, value: [0, 0, 0, 0]))
        let mainAt = 8
        let ifd1At = mainAt + size(main)
        let exifAt = ifd1At + size(ifd1)
        let gpsAt = exifAt + size(exif)
        main[main.count - 2].value = u32(UInt32(exifAt), bigEndian)
        main[main.count - 1].value = u32(UInt32(gpsAt), bigEndian)
        var out: [UInt8] = bigEndian ? [0x4D, 0x4D] : [0x49, 0x49]
        out += u16(42, bigEndian) + u32(UInt32(mainAt), bigEndian)
        func directory(_ fields: [Field], at offset: Int, next: Int) {
            let sorted = fields.sorted { $0.tag < $1.tag }
            var dataAt = offset + 2 + 12 * sorted.count + 4
            var data: [UInt8] = []
            out += u16(UInt16(sorted.count), bigEndian)
            for f in sorted {
                out += u16(f.tag, bigEndian) + u16(f.type, bigEndian) + u32(f.count, bigEndian)
                if f.value.count <= 4 {
                    out += f.value + [UInt8](repeating: 0, count: 4 - f.value.count)
                } else {
                    out += u32(UInt32(dataAt), bigEndian)
                    data += f.value
                    if f.value.count % 2 == 1 { data.append(0) }
                    dataAt += (f.value.count + 1) & ~1
                }
            }
            out += u32(UInt32(next), bigEndian)
            out += data
        }
        directory(main, at: mainAt, next: ifd1At)
        directory(ifd1, at: ifd1At, next: 0)
        directory(exif, at: exifAt, next: 0)
        directory(gps, at: gpsAt, next: 0)
        return out
    }

    /// An EXIF block with GPS, serials, owner names, capture time, camera model, a maker note,
    /// a thumbnail directory and the rendering tags.
    static func exifBlock(bigEndian: Bool = false) -> [UInt8] {
        let be = bigEndian
        let ifd0 = [
            ascii(0x010F, make), ascii(0x0110, model), short(0x0112, 6, bigEndian: be),
            rationals(0x011A, [(72, 1)], bigEndian: be), rationals(0x011B, [(72, 1)], bigEndian: be),
            short(0x0128, 2, bigEndian: be), ascii(0x0131, "Canary Editor 1.0"), ascii(0x0132, captureTime),
            ascii(0x013B, artist), ascii(0x8298, "(c) " + artist),
        ]
        let exif = [
            Field(tag: 0x9000, type: 7, count: 4, value: Array("0232".utf8)),
            ascii(0x9003, captureTime), ascii(0x9004, captureTime),
            Field(tag: 0x927C, type: 7, count: 24, value: Array("MAKERNOTE serial \(serial)".utf8.prefix(24))),
            Field(tag: 0x9286, type: 7, count: 20, value: Array("ASCII\0\0\0user comment".utf8.prefix(20))),
            short(0xA001, 1, bigEndian: be),
            ascii(0xA430, owner), ascii(0xA431, serial), ascii(0xA435, lensSerial), ascii(0xA434, "Canary 50mm"),
        ]
        let gps = [
            Field(tag: 0x0000, type: 1, count: 4, value: [2, 3, 0, 0]),
            ascii(0x0001, "N"), rationals(0x0002, [(22, 1), (32, 1), (1234, 100)], bigEndian: be),
            ascii(0x0003, "E"), rationals(0x0004, [(114, 1), (3, 1), (5678, 100)], bigEndian: be),
        ]
        let ifd1 = [short(0x0103, 6, bigEndian: be), Field(tag: 0x0201, type: 4, count: 1, value: u32(0, be))]
        return tiff(ifd0: ifd0, exif: exif, gps: gps, ifd1: ifd1, bigEndian: be)
    }

    static let xmp = """
        <x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">\
        <rdf:Description exif:GPSLatitude="22,32.2N" photoshop:City="\(city)"><dc:creator>\(owner)</dc:creator>\
        </rdf:Description></rdf:RDF></x:xmpmeta>
        """

    static func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] {
        let length = payload.count + 2
        return [0xFF, marker, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
    }

    /// Entropy-coded-like bytes: random, every 0xFF stuffed with 0x00, restart markers every
    /// `restartEvery` bytes, and the pixel canary in the middle.
    static func scanData(_ count: Int, seed: UInt64 = 7, restartEvery: Int = 4096) -> [UInt8] {
        var random = SplitMix64(seed: seed)
        var out: [UInt8] = []
        out.reserveCapacity(count + count / 128)
        var restart: UInt8 = 0
        var canary = false
        while out.count < count {
            let byte = UInt8(truncatingIfNeeded: random.next())
            out.append(byte)
            if byte == 0xFF { out.append(0x00) }
            if out.count % restartEvery == 0 {
                out += [0xFF, 0xD0 + restart]
                restart = (restart + 1) & 7
            }
            if !canary && out.count >= count / 2 {
                out += Array(pixelCanary.utf8)
                canary = true
            }
        }
        return out
    }

    /// The segments that make the pixels: tables, frame, scan header, scan data and EOI. The
    /// sanitiser must copy them byte for byte (and they end the file).
    static func jpegPixels(scanBytes: Int = 600) -> [UInt8] {
        let dqt = segment(0xDB, [0x00] + (1...64).map { UInt8($0) })
        let sof = segment(0xC0, [8, 0, 16, 0, 16, 3, 1, 0x22, 0, 2, 0x11, 1, 3, 0x11, 1])
        let dht = segment(0xC4, [0x00] + [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0] + Array(0...11))
        let dri = segment(0xDD, [0x10, 0x00])
        let sos = segment(0xDA, [3, 1, 0x00, 2, 0x11, 3, 0x11, 0, 63, 0])
        return dqt + sof + dht + dri + sos + scanData(scanBytes) + [0xFF, 0xD9]
    }

    /// A JPEG with JFIF, EXIF (everything above), XMP, IPTC, a comment and an ICC profile,
    /// followed by the pixel segments and, optionally, data after the end of the image.
    static func jpeg(bigEndian: Bool = false, scanBytes: Int = 600, trailer: Bool = false) -> (
        file: [UInt8], pixels: [UInt8]
    ) {
        var file: [UInt8] = [0xFF, 0xD8]
        file += segment(0xE0, Array("JFIF".utf8) + [0, 1, 2, 0, 0, 72, 0, 72, 0, 0])
        file += segment(0xE1, Array("Exif".utf8) + [0, 0] + exifBlock(bigEndian: bigEndian))
        file += segment(0xE1, Array("http://ns.adobe.com/xap/1.0/".utf8) + [0] + Array(xmp.utf8))
        file += segment(0xE2, Array("ICC_PROFILE".utf8) + [0, 1, 1] + [UInt8](repeating: 0x42, count: 40))
        file += segment(0xED, Array("Photoshop 3.0".utf8) + [0] + Array("8BIM by-line \(owner)".utf8))
        file += segment(0xFE, Array(comment.utf8))
        let pixels = jpegPixels(scanBytes: scanBytes)
        file += pixels
        if trailer { file += Array("TRAILER \(serial)".utf8) }
        return (file, pixels)
    }

    // MARK: PNG

    static func crc(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return c ^ 0xFFFF_FFFF
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return u32(UInt32(data.count), true) + body + u32(crc(body), true)
    }

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// A PNG with text, XMP, eXIf and tIME chunks around two IDAT chunks.
    static func png(idatBytes: Int = 300) -> (file: [UInt8], ihdr: [UInt8], idat: [[UInt8]]) {
        var random = SplitMix64(seed: 11)
        let ihdr = chunk("IHDR", u32(16, true) + u32(16, true) + [8, 2, 0, 0, 0])
        let idat1 = chunk("IDAT", random.bytes(idatBytes) + Array(pixelCanary.utf8))
        let idat2 = chunk("IDAT", random.bytes(idatBytes / 2))
        var file = pngSignature + ihdr
        file += chunk("pHYs", u32(2835, true) + u32(2835, true) + [1])
        file += chunk("tEXt", Array("Author".utf8) + [0] + Array(owner.utf8))
        file += chunk("eXIf", exifBlock(bigEndian: true))
        file += chunk("iTXt", Array("XML:com.adobe.xmp".utf8) + [0, 0, 0, 0, 0] + Array(xmp.utf8))
        file += chunk("tIME", [0x07, 0xEA, 11, 1, 10, 0, 0])
        file += idat1 + idat2
        file += chunk("zTXt", Array("Comment".utf8) + [0, 0] + [0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])
        file += chunk("IEND", [])
        return (file, ihdr, [idat1, idat2])
    }

    /// The chunks of a PNG, by type and whole bytes (a plain reader for the tests).
    static func pngChunks(_ file: [UInt8]) -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        var pos = 8
        while pos + 12 <= file.count {
            let length = Int(file[pos]) << 24 | Int(file[pos + 1]) << 16 | Int(file[pos + 2]) << 8 | Int(file[pos + 3])
            let end = pos + 12 + length
            guard end <= file.count else { break }
            out.append((String(decoding: file[(pos + 4)..<(pos + 8)], as: UTF8.self), Array(file[pos..<end])))
            pos = end
        }
        return out
    }

    /// Whether `needle` occurs in `haystack`.
    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard !n.isEmpty, haystack.count >= n.count else { return false }
        for i in 0...(haystack.count - n.count) where haystack[i] == n[0] {
            if Array(haystack[i..<(i + n.count)]) == n { return true }
        }
        return false
    }
}
