/// Steward's one hexadecimal codec: lowercase digits out, either case in.
///
/// Used for digests (receipt hashes, body checksums, outbox names), identifiers (ID128,
/// pseudonyms, session tokens) and build IDs. Decoding refuses anything that is not an even
/// number of hex digits; it never traps.
package enum Hex {
    /// The lowercase hex digits, by value (for writers that append bytes, such as JSON `\u00XX`).
    package static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// `bytes` as lowercase hex digits, two per byte.
    package static func encode(_ bytes: some Sequence<UInt8>) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.underestimatedCount * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes that `text` spells in hex digits (either case), or nil when it has an odd
    /// number of characters or any that is not a hex digit.
    package static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var result: [UInt8] = []
        result.reserveCapacity(text.utf8.count / 2)
        var iterator = text.utf8.makeIterator()
        while let high = iterator.next() {
            guard let low = iterator.next(), let h = nibble(high), let l = nibble(low) else { return nil }
            result.append(h << 4 | l)
        }
        return result
    }

    /// The value of one hex digit (either case), or nil.
    package static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
