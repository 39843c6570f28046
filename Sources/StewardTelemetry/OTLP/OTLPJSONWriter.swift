import StewardCore

/// Writes JSON by hand into a byte buffer, for the OTLP encoder: no Foundation, no intermediate
/// strings per field.
///
/// Strings are written by StewardCore's `JSONEscape` (the escapes RFC 8259 requires, plus DEL,
/// U+2028 and U+2029); every other character, ASCII or not, is copied as its UTF-8 bytes.
struct OTLPJSONWriter {
    /// What has been written so far.
    var bytes: [UInt8]

    /// A writer whose buffer has room for `capacity` bytes before it grows.
    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Appends `text` as is: a fixed piece of JSON syntax such as `{"resourceLogs":[`.
    @inline(__always)
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Appends one byte of JSON syntax.
    @inline(__always)
    mutating func byte(_ value: UInt8) {
        bytes.append(value)
    }

    /// Appends `value` as a JSON string: quoted and escaped.
    mutating func string(_ value: String) { JSONEscape.appendQuoted(value, to: &bytes) }

    /// Appends `value` in decimal, unquoted (for 32-bit fields and enums).
    mutating func unsigned(_ value: UInt64) {
        if value < 10 {
            bytes.append(0x30 &+ UInt8(truncatingIfNeeded: value))
            return
        }
        // Two digits per division, written backwards into 20 bytes on the stack, then one copy.
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { raw in
            var index = 24
            var rest = value
            while rest >= 100 {
                let pair = Int(truncatingIfNeeded: rest % 100)
                rest /= 100
                index -= 2
                raw[index] = 0x30 &+ UInt8(truncatingIfNeeded: pair / 10)
                raw[index + 1] = 0x30 &+ UInt8(truncatingIfNeeded: pair % 10)
            }
            if rest >= 10 {
                index -= 2
                raw[index] = 0x30 &+ UInt8(truncatingIfNeeded: rest / 10)
                raw[index + 1] = 0x30 &+ UInt8(truncatingIfNeeded: rest % 10)
            } else {
                index -= 1
                raw[index] = 0x30 &+ UInt8(truncatingIfNeeded: rest)
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[index..<24]))
        }
    }

    /// Appends `value` in decimal, unquoted; `Int64.min` included.
    mutating func signed(_ value: Int64) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        unsigned(value.magnitude)
    }

    /// Appends `value` as a quoted decimal string: the protobuf JSON form of 64-bit integers.
    mutating func quoted(_ value: UInt64) {
        bytes.append(UInt8(ascii: "\""))
        unsigned(value)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `value` as a quoted decimal string: the protobuf JSON form of 64-bit integers.
    mutating func quoted(_ value: Int64) {
        bytes.append(UInt8(ascii: "\""))
        signed(value)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Appends `value` as a JSON number, or, when it is not finite, as the protobuf JSON mapping's
    /// strings `"NaN"`, `"Infinity"` and `"-Infinity"` (JSON itself has no such numbers).
    ///
    /// Integral values below 2^53 are written without a fraction (`5`, not `5.0`); the others use
    /// Swift's shortest round-tripping form (`637.704`, `1e-05`, `1.5e+300`), valid JSON numbers.
    mutating func double(_ value: Double) {
        if !value.isFinite {
            if value.isNaN {
                raw("\"NaN\"")
            } else {
                raw(value < 0 ? "\"-Infinity\"" : "\"Infinity\"")
            }
            return
        }
        if value == value.rounded(.towardZero) && value.magnitude < 9_007_199_254_740_992 {
            if value == 0 && value.sign == .minus {
                raw("-0")
            } else {
                signed(Int64(value))
            }
            return
        }
        var text = value.description
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends `"attributes":[...]` for `attributes`, sorted by the keys' UTF-8 bytes so the output
    /// is stable; appends nothing when there are none (the protobuf JSON mapping omits empty
    /// repeated fields). `leadingComma` puts a comma first when something is written.
    mutating func attributes(_ attributes: [String: AttributeValue], leadingComma: Bool) {
        if attributes.isEmpty { return }
        if leadingComma { byte(UInt8(ascii: ",")) }
        raw("\"attributes\":[")
        if attributes.count == 1, let only = attributes.first {
            keyValue(only.key, only.value)
        } else {
            let sorted = attributes.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            var first = true
            for (key, value) in sorted {
                if !first { byte(UInt8(ascii: ",")) }
                first = false
                keyValue(key, value)
            }
        }
        byte(UInt8(ascii: "]"))
    }

    /// Appends one `KeyValue`: `{"key":"…","value":{"stringValue":"…"}}`.
    mutating func keyValue(_ key: String, _ value: AttributeValue) {
        raw("{\"key\":")
        string(key)
        raw(",\"value\":{")
        switch value {
        case .string(let text):
            raw("\"stringValue\":")
            string(text)
        case .int(let number):
            raw("\"intValue\":")
            quoted(number)
        case .double(let number):
            raw("\"doubleValue\":")
            double(number)
        case .bool(let flag):
            raw(flag ? "\"boolValue\":true" : "\"boolValue\":false")
        }
        raw("}}")
    }

    /// Appends `"traceId":"…"` or `"spanId":"…"` when `hex` is exactly `digits` hexadecimal digits,
    /// not all zero (an all-zero id is invalid in OpenTelemetry), written in lowercase; appends
    /// nothing otherwise, so a malformed id never makes a receiver reject the whole request.
    mutating func hexID(_ key: StaticString, _ hex: String?, digits: Int) {
        guard let hex, hex.utf8.count == digits else { return }
        var allZero = true
        for byte in hex.utf8 {
            guard let value = Hex.nibble(byte) else { return }
            if value != 0 { allZero = false }
        }
        if allZero { return }
        byte(UInt8(ascii: ","))
        raw(key)
        raw(":\"")
        for byte in hex.utf8 {
            // ASCII letters to lowercase; digits are unchanged by the same bit.
            bytes.append(byte | 0x20)
        }
        byte(UInt8(ascii: "\""))
    }
}
