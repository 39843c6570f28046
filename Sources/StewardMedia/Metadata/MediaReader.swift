import StewardCore

/// Reads of image metadata through StewardCore's ``ByteReader``, each failure a ``MediaError``
/// that names its position in the whole file; offsets are computed with overflow checks.
struct MediaReader {
    private let reader: ByteReader
    /// Added to reported offsets, so errors name the position in the whole file.
    var base: Int = 0

    init(bytes: [UInt8], bigEndian: Bool, base: Int = 0) {
        self.reader = ByteReader(bytes, bigEndian: bigEndian)
        self.base = base
    }

    var bytes: [UInt8] { reader.bytes }
    /// Whether multi-byte values are big-endian (TIFF "MM", JPEG and PNG) or little-endian ("II").
    var bigEndian: Bool { reader.bigEndian }
    var count: Int { reader.count }

    /// `start + length`, or a `malformed` error when it overflows or passes the end.
    func end(of start: Int, length: Int, what: @autoclosure () -> String) throws -> Int {
        guard start >= 0, length >= 0 else {
            throw MediaError(.malformed, "\(what()) has a negative offset or length", offset: base &+ start)
        }
        guard reader.slice(at: start, count: length) != nil else {
            throw MediaError(
                .malformed, "\(what()) runs past the end of its block (\(length) bytes at \(start) of \(count))",
                offset: base &+ start)
        }
        return start + length
    }

    func u8(_ at: Int) throws -> UInt8 {
        guard let value = reader.u8(at: at) else { throw truncated(at, "byte \(at)") }
        return value
    }

    func u16(_ at: Int) throws -> UInt16 {
        guard let value = reader.u16(at: at) else { throw truncated(at, "16-bit value at \(at)") }
        return value
    }

    func u32(_ at: Int) throws -> UInt32 {
        guard let value = reader.u32(at: at) else { throw truncated(at, "32-bit value at \(at)") }
        return value
    }

    private func truncated(_ at: Int, _ what: String) -> MediaError {
        MediaError(.truncated, "the data ends early (\(what) of \(count))", offset: base &+ at)
    }
}

/// Appends integers in a chosen byte order.
struct ByteWriter {
    var bytes: [UInt8] = []
    var bigEndian: Bool

    mutating func u16(_ v: UInt16) {
        if bigEndian {
            bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF))
        } else {
            bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8))
        }
    }

    mutating func u32(_ v: UInt32) {
        if bigEndian {
            bytes.append(contentsOf: [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)])
        } else {
            bytes.append(contentsOf: [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF), UInt8((v >> 16) & 0xFF), UInt8(v >> 24)])
        }
    }
}

/// Bytes as printable ASCII for reports: anything else becomes `?`, at most `limit` characters.
func printable(_ bytes: some Collection<UInt8>, limit: Int = 79) -> String {
    String(decoding: bytes.prefix(limit).map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
}

/// Whether `bytes` starts with `prefix` at `offset`.
func hasPrefix(_ bytes: [UInt8], _ prefix: [UInt8], at offset: Int) -> Bool {
    guard offset >= 0, offset <= bytes.count &- prefix.count else { return false }
    for i in 0..<prefix.count where bytes[offset &+ i] != prefix[i] { return false }
    return true
}
