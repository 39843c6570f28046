import StewardCore

/// A small JSON reader for export responses: validates the whole body, keeps only the fields
/// of `partialSuccess`. Bounded by `OTLPPartialSuccess.maximumDepth`; never traps.
struct OTLPResponseParser {
    private let bytes: [UInt8]
    private var position = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// `nil` when unreadable; `.some(nil)` when there is no partial success.
    mutating func parseResponse() -> OTLPPartialSuccess?? {
        skipWhitespace()
        if position == bytes.count { return .some(nil) }  // an empty body
        guard peek() == UInt8(ascii: "{") else { return nil }
        var partial: OTLPPartialSuccess?
        let valid = parseObject(depth: 1) { parser, key in
            guard key == "partialSuccess" || key == "partial_success" else { return parser.skipValue(depth: 1) }
            parser.skipWhitespace()
            if parser.consumeLiteral("null") { return true }
            guard parser.peek() == UInt8(ascii: "{") else { return false }
            var result = OTLPPartialSuccess(rejected: 0, errorMessage: "")
            let ok = parser.parseObject(depth: 2) { parser, key in
                switch key {
                case "rejectedLogRecords", "rejected_log_records", "rejectedDataPoints", "rejected_data_points",
                    "rejectedSpans", "rejected_spans", "rejectedProfiles", "rejected_profiles":
                    guard let count = parser.parseCount() else { return false }
                    result.rejected = count
                    return true
                case "errorMessage", "error_message":
                    parser.skipWhitespace()
                    if parser.consumeLiteral("null") { return true }
                    guard let message = parser.parseString() else { return false }
                    result.errorMessage =
                        message.count > OTLPPartialSuccess.maximumMessageLength
                        ? String(message.prefix(OTLPPartialSuccess.maximumMessageLength)) : message
                    return true
                default:
                    return parser.skipValue(depth: 2)
                }
            }
            guard ok else { return false }
            partial = result
            return true
        }
        guard valid else { return nil }
        skipWhitespace()
        guard position == bytes.count else { return nil }  // trailing garbage
        return .some(partial)
    }

    // MARK: - Values

    private func peek() -> UInt8? {
        position < bytes.count ? bytes[position] : nil
    }

    private mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    private mutating func consumeLiteral(_ literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - position >= count else { return false }
        let matches = literal.withUTF8Buffer { expected in
            for offset in 0..<count where bytes[position + offset] != expected[offset] { return false }
            return true
        }
        if matches { position += count }
        return matches
    }

    /// Parses `{ "key": value, ... }`, handing each key to `member`, which must consume the value.
    private mutating func parseObject(depth: Int, member: (inout OTLPResponseParser, String) -> Bool) -> Bool {
        guard depth <= OTLPPartialSuccess.maximumDepth else { return false }
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { return false }
        position += 1
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            position += 1
            return true
        }
        while true {
            skipWhitespace()
            guard let key = parseString() else { return false }
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { return false }
            position += 1
            guard member(&self, key) else { return false }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): position += 1
            case UInt8(ascii: "}"):
                position += 1
                return true
            default: return false
            }
        }
    }

    /// Skips one JSON value of any kind, checking its syntax.
    private mutating func skipValue(depth: Int) -> Bool {
        skipWhitespace()
        guard let first = peek() else { return false }
        switch first {
        case UInt8(ascii: "{"):
            return parseObject(depth: depth + 1) { parser, _ in parser.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            guard depth + 1 <= OTLPPartialSuccess.maximumDepth else { return false }
            position += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                position += 1
                return true
            }
            while true {
                guard skipValue(depth: depth + 1) else { return false }
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return true
                default: return false
                }
            }
        case UInt8(ascii: "\""):
            return parseString() != nil
        case UInt8(ascii: "t"): return consumeLiteral("true")
        case UInt8(ascii: "f"): return consumeLiteral("false")
        case UInt8(ascii: "n"): return consumeLiteral("null")
        default:
            return skipNumber()
        }
    }

    /// Skips a JSON number per RFC 8259's grammar.
    private mutating func skipNumber() -> Bool {
        if peek() == UInt8(ascii: "-") { position += 1 }
        guard let lead = peek(), isDigit(lead) else { return false }
        position += 1
        if lead != UInt8(ascii: "0") { skipDigits() }
        if peek() == UInt8(ascii: ".") {
            position += 1
            guard let digit = peek(), isDigit(digit) else { return false }
            skipDigits()
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            position += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { position += 1 }
            guard let digit = peek(), isDigit(digit) else { return false }
            skipDigits()
        }
        return true
    }

    private func isDigit(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while let byte = peek(), isDigit(byte) { position += 1 }
    }

    /// A count: a non-negative integer that fits in `Int64`, as a JSON number or a decimal
    /// string (the proto3 JSON form of int64); `null` is 0.
    private mutating func parseCount() -> Int64? {
        skipWhitespace()
        if consumeLiteral("null") { return 0 }
        let quoted = peek() == UInt8(ascii: "\"")
        if quoted { position += 1 }
        var value: Int64 = 0
        var digits = 0
        while let byte = peek(), isDigit(byte) {
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(byte - UInt8(ascii: "0")))
            guard !overflow1, !overflow2 else { return nil }
            value = sum
            digits += 1
            position += 1
        }
        guard digits > 0 else { return nil }
        if quoted {
            guard peek() == UInt8(ascii: "\"") else { return nil }
            position += 1
        } else if let next = peek(), next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E")
        {
            return nil
        }
        return value
    }

    /// A JSON string, unescaped; `nil` when malformed (raw control characters, bad escapes,
    /// lone surrogates, invalid UTF-8 is repaired by `String(decoding:)`).
    private mutating func parseString() -> String? {
        guard peek() == UInt8(ascii: "\"") else { return nil }
        position += 1
        var utf8: [UInt8] = []
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard JSONEscape.decode(bytes, at: &position, into: &utf8) == nil else { return nil }
            case 0x00..<0x20:
                return nil
            default:
                utf8.append(byte)
            }
        }
        return nil
    }

}
