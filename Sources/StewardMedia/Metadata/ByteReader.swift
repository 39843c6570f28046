/// Bounds-checked reads from untrusted bytes. Every read checks its range first and throws
/// ``MediaError`` instead of trapping; offsets are computed with overflow checks.
struct ByteReader {
    let bytes: [UInt8]
    /// Whether multi-byte values are big-endian (TIFF "MM", JPEG and PNG) or little-endian ("II").
    var bigEndian: Bool
    /// Added to reported offsets, so errors name the position in the whole file.
    var base: Int = 0

    var count: Int { bytes.count }

    /// `start + length`, or a `malformed` error when it overflows or passes the end.
    func end(of start: Int, length: Int, what: @autoclosure () -> String) throws -> Int {
        guard start >= 0, length >= 0 else {
            throw MediaError(.malformed, "\(what()) has a negative offset or length", offset: base &+ start)
        }
        let (end, overflow) = start.addingReportingOverflow(length)
        guard !overflow, end <= bytes.count else {
            throw MediaError(
                .malformed, "\(what()) runs past the end of its block (\(length) bytes at \(start) of \(bytes.count))",
                offset: base &+ start)
        }
        return end
    }

    func u8(_ at: Int) throws -> UInt8 {
        guard at >= 0, at < bytes.count else {
            throw MediaError(.truncated, "the data ends early (byte \(at) of \(bytes.count))", offset: base &+ at)
        }
        return bytes[at]
    }

    func u16(_ at: Int) throws -> UInt16 {
        guard at >= 0, at <= bytes.count &- 2 else {
            throw MediaError(
                .truncated, "the data ends early (16-bit value at \(at) of \(bytes.count))", offset: base &+ at)
        }
        let a = UInt16(bytes[at]), b = UInt16(bytes[at &+ 1])
        return bigEndian ? (a << 8 | b) : (b << 8 | a)
    }

    func u32(_ at: Int) throws -> UInt32 {
        guard at >= 0, at <= bytes.count &- 4 else {
            throw MediaError(
                .truncated, "the data ends early (32-bit value at \(at) of \(bytes.count))", offset: base &+ at)
        }
        let a = UInt32(bytes[at]), b = UInt32(bytes[at &+ 1]), c = UInt32(bytes[at &+ 2]), d = UInt32(bytes[at &+ 3])
        return bigEndian ? (a << 24 | b << 16 | c << 8 | d) : (d << 24 | c << 16 | b << 8 | a)
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
