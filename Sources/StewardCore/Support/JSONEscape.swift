/// Steward's one writer of JSON string contents (RFC 8259), for the writers that build JSON
/// byte by byte (Sentry payloads, OTLP requests).
///
/// Escaped: `"` and `\`; every control character below U+0020 (`\b \t \n \f \r` in their
/// short forms, the others as `\u00XX`); DEL (U+007F) as `\u007f`; and U+2028 and U+2029 as
/// `\u2028`/`\u2029`, so the output is also a safe JavaScript string. Everything else, non-ASCII
/// UTF-8 included, is copied as it is, in runs.
package enum JSONEscape {
    /// Appends `value`, quoted and escaped, to `bytes`.
    package static func appendQuoted(_ value: String, to bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        var value = value
        value.withUTF8 { append($0, to: &bytes) }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends the escaped form of the UTF-8 `utf8` (no quotes) to `bytes`.
    package static func append(_ utf8: UnsafeBufferPointer<UInt8>, to bytes: inout [UInt8]) {
        let count = utf8.count
        var runStart = 0
        var index = 0
        func flush(to end: Int) {
            if end > runStart { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<end])) }
        }
        while index < count {
            let byte = utf8[index]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C && byte != 0x7F && byte != 0xE2 {
                index += 1
                continue
            }
            if byte == 0xE2 {
                // U+2028 and U+2029 are E2 80 A8 and E2 80 A9; any other E2 sequence is copied.
                guard index + 2 < count, utf8[index + 1] == 0x80, utf8[index + 2] == 0xA8 || utf8[index + 2] == 0xA9
                else {
                    index += 1
                    continue
                }
                flush(to: index)
                bytes.append(contentsOf: utf8[index + 2] == 0xA8 ? Self.lineSeparator : Self.paragraphSeparator)
                index += 3
                runStart = index
                continue
            }
            flush(to: index)
            switch byte {
            case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
            case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
            case 0x08: bytes.append(contentsOf: [0x5C, UInt8(ascii: "b")])
            case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
            case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
            case 0x0C: bytes.append(contentsOf: [0x5C, UInt8(ascii: "f")])
            case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
            default:
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(Hex.digits[Int(byte >> 4)])
                bytes.append(Hex.digits[Int(byte & 0x0F)])
            }
            index += 1
            runStart = index
        }
        flush(to: count)
    }

    private static let lineSeparator = Array("\\u2028".utf8)
    private static let paragraphSeparator = Array("\\u2029".utf8)
}

extension JSONEscape {
    /// Why an escape sequence could not be read.
    package enum Failure: Sendable, Hashable {
        /// The input ended inside the escape.
        case endOfInput
        /// A `\u` escape without four hexadecimal digits.
        case notHex
        /// A `\u` high surrogate not followed by a `\u` escape.
        case loneHighSurrogate
        /// A high surrogate followed by an escape that is not a low surrogate.
        case unpairedHighSurrogate
        /// A `\u` low surrogate with no high surrogate before it.
        case loneLowSurrogate
        /// A backslash followed by a character that starts no JSON escape.
        case invalidEscape
    }

    /// Reads the escape sequence whose backslash is at `index - 1` (so `bytes[index]` is the
    /// character after it): appends what it stands for, as UTF-8, to `utf8` and moves `index`
    /// past it. On failure nothing is appended and `index` is where the problem is: at the
    /// escape's character for ``Failure/invalidEscape``, elsewhere past what was read. Never
    /// reads outside `bytes`, never traps. The one escape reader of the JSON parsers (the
    /// manifest's, the Sentry payloads', the OTLP responses').
    package static func decode(_ bytes: [UInt8], at index: inout Int, into utf8: inout [UInt8]) -> Failure? {
        guard index >= 0, index < bytes.count else { return .endOfInput }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(escape)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var scalar: UInt32 = 0
            if let failure = hex4(bytes, at: &index, into: &scalar) { return failure }
            if (0xD800...0xDBFF).contains(scalar) {
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                else { return .loneHighSurrogate }
                index += 2
                var low: UInt32 = 0
                if let failure = hex4(bytes, at: &index, into: &low) { return failure }
                guard (0xDC00...0xDFFF).contains(low) else { return .unpairedHighSurrogate }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(scalar) {
                return .loneLowSurrogate
            }
            // Surrogates are handled above, and four hex digits stay below U+10000.
            guard let unicode = Unicode.Scalar(scalar) else { return .loneLowSurrogate }
            utf8.append(contentsOf: String(unicode).utf8)
        default:
            index -= 1
            return .invalidEscape
        }
        return nil
    }

    /// Four hexadecimal digits at `index`, moved past.
    private static func hex4(_ bytes: [UInt8], at index: inout Int, into value: inout UInt32) -> Failure? {
        for _ in 0..<4 {
            guard index < bytes.count else { return .endOfInput }
            guard let digit = Hex.nibble(bytes[index]) else { return .notHex }
            value = value << 4 | UInt32(digit)
            index += 1
        }
        return nil
    }
}
