import StewardCore

/// A JSON value as Sentry's payloads use it, with a deterministic compact encoding.
///
/// Steward writes Sentry payloads with this type rather than `JSONSerialization` so the bytes
/// are the same on every platform and every run: object keys are sorted by their UTF-8 bytes,
/// there is no white space, `/` is not escaped, non-ASCII text is written as raw UTF-8, and
/// integers stay integers. `parse(_:)` is the strict RFC 8259 reader the envelope decoder
/// uses; it keeps the integer/float distinction so decoded payloads compare field by field.
///
/// ```swift
/// let value: SentryJSON = ["level": "fatal", "lineno": 42]
/// String(decoding: value.encoded(), as: UTF8.self) // {"level":"fatal","lineno":42}
/// ```
public enum SentryJSON: Hashable, Sendable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number without fraction or exponent that fits 64 bits.
    case int(Int64)
    /// Any other number. Non-finite values encode as `null`.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([SentryJSON])
    /// An object.
    case object([String: SentryJSON])

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let s) = self { s } else { nil }
    }

    /// The integer, when this is an integer.
    public var intValue: Int64? {
        if case .int(let i) = self { i } else { nil }
    }

    /// The number as a `Double`, when this is a number.
    public var doubleValue: Double? {
        switch self {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// The flag, when this is a boolean.
    public var boolValue: Bool? {
        if case .bool(let b) = self { b } else { nil }
    }

    /// The elements, when this is an array.
    public var arrayValue: [SentryJSON]? {
        if case .array(let a) = self { a } else { nil }
    }

    /// The members, when this is an object.
    public var objectValue: [String: SentryJSON]? {
        if case .object(let o) = self { o } else { nil }
    }

    /// The member named `key`, when this is an object that has it.
    ///
    /// - Parameter key: The member's name.
    public subscript(key: String) -> SentryJSON? {
        objectValue?[key]
    }

    /// The element at `index`, when this is an array long enough.
    ///
    /// - Parameter index: The element's position.
    public subscript(index: Int) -> SentryJSON? {
        guard let array = arrayValue, array.indices.contains(index) else { return nil }
        return array[index]
    }

    /// The compact, key-sorted UTF-8 encoding.
    ///
    /// ```swift
    /// SentryJSON.object(["b": 1, "a": "é"]).encoded() // {"a":"é","b":1} in UTF-8
    /// ```
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out)
        return out
    }

    /// Parses one JSON value (RFC 8259), allowing white space only around it.
    ///
    /// Numbers without fraction or exponent that fit 64 bits become ``int(_:)``; other numbers
    /// become ``double(_:)``. Strings must be valid UTF-8; escapes, including surrogate pairs,
    /// are decoded. Duplicate object keys are rejected.
    ///
    /// - Parameter bytes: UTF-8 JSON text.
    /// - Returns: The value.
    /// - Throws: ``SentryError`` with code ``SentryError/Code/malformedEnvelope`` when the
    ///   text is not exactly one JSON value.
    ///
    /// ```swift
    /// let value = try SentryJSON.parse(Array(#"{"length":3}"#.utf8))
    /// value["length"]?.intValue // 3
    /// ```
    static func parse(_ bytes: some Collection<UInt8>) throws(SentryError) -> SentryJSON {
        var parser = Parser(bytes: Array(bytes))
        parser.skipWhitespace()
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == parser.bytes.count else { throw parser.failure("unexpected text after the value") }
        return value
    }
}

extension SentryJSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// A string value.
    public init(stringLiteral value: String) { self = .string(value) }
    /// An integer value.
    public init(integerLiteral value: Int64) { self = .int(value) }
    /// A boolean value.
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    /// A floating-point value.
    public init(floatLiteral value: Double) { self = .double(value) }
    /// An array value.
    public init(arrayLiteral elements: SentryJSON...) { self = .array(elements) }
    /// An object value; a repeated key keeps its last value.
    public init(dictionaryLiteral elements: (String, SentryJSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

// MARK: - Writing

extension SentryJSON {
    func write(to out: inout [UInt8]) {
        switch self {
        case .null:
            out.append(contentsOf: "null".utf8)
        case .bool(let b):
            out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i):
            out.append(contentsOf: String(i).utf8)
        case .double(let d):
            out.append(contentsOf: SentryJSON.format(d).utf8)
        case .string(let s):
            SentryJSON.writeString(s, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                element.write(to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            // Sorted by UTF-8 bytes: the same order on every platform and locale.
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                SentryJSON.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                members[key, default: .null].write(to: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    static func format(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 {
            // Integral values keep a fraction so they read back as floats: `60.0`.
            return String(Int64(d)) + ".0"
        }
        return "\(d)"
    }

    static func writeString(_ s: String, to out: inout [UInt8]) { JSONEscape.appendQuoted(s, to: &out) }
}

// MARK: - Parsing

extension SentryJSON {
    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        static let maximumDepth = 128

        func failure(_ what: String) -> SentryError {
            SentryError(.malformedEnvelope, "Invalid JSON at byte \(index): \(what).")
        }

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func expect(_ literal: String) throws(SentryError) {
            for byte in literal.utf8 {
                guard index < bytes.count, bytes[index] == byte else { throw failure("expected \(literal)") }
                index += 1
            }
        }

        mutating func value(depth: Int) throws(SentryError) -> SentryJSON {
            guard depth < Parser.maximumDepth else { throw failure("nested too deeply") }
            guard index < bytes.count else { throw failure("unexpected end") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try object(depth: depth)
            case UInt8(ascii: "["): return try array(depth: depth)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try expect("true"); return .bool(true)
            case UInt8(ascii: "f"): try expect("false"); return .bool(false)
            case UInt8(ascii: "n"): try expect("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw failure("unexpected character")
            }
        }

        mutating func object(depth: Int) throws(SentryError) -> SentryJSON {
            index += 1
            var members: [String: SentryJSON] = [:]
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw failure("expected a key") }
                let key = try string()
                guard members[key] == nil else { throw failure("duplicate key \"\(key)\"") }
                skipWhitespace()
                try expect(":")
                skipWhitespace()
                members[key] = try value(depth: depth + 1)
                skipWhitespace()
                guard index < bytes.count else { throw failure("unexpected end in an object") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                throw failure("expected , or }")
            }
        }

        mutating func array(depth: Int) throws(SentryError) -> SentryJSON {
            index += 1
            var elements: [SentryJSON] = []
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
            while true {
                skipWhitespace()
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                guard index < bytes.count else { throw failure("unexpected end in an array") }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(elements) }
                throw failure("expected , or ]")
            }
        }

        mutating func string() throws(SentryError) -> String {
            index += 1
            var raw: [UInt8] = []
            while true {
                guard index < bytes.count else { throw failure("unterminated string") }
                let c = bytes[index]
                index += 1
                switch c {
                case UInt8(ascii: "\""):
                    guard let text = String(validating: raw, as: UTF8.self) else { throw failure("invalid UTF-8") }
                    return text
                case UInt8(ascii: "\\"):
                    switch JSONEscape.decode(bytes, at: &index, into: &raw) {
                    case nil: break
                    case .endOfInput: throw failure("unterminated escape")
                    case .notHex: throw failure("bad \\u escape")
                    case .loneHighSurrogate, .unpairedHighSurrogate, .loneLowSurrogate:
                        throw failure("unpaired surrogate")
                    case .invalidEscape: throw failure("bad escape")
                    }
                case 0x00..<0x20: throw failure("control character in a string")
                default: raw.append(c)
                }
            }
        }

        mutating func number() throws(SentryError) -> SentryJSON {
            let start = index
            var integral = true
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            func isDigit(_ i: Int) -> Bool {
                i < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[i])
            }
            guard isDigit(index) else { throw failure("expected a digit") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                guard !isDigit(index) else { throw failure("leading zero") }
            } else {
                while isDigit(index) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                integral = false
                index += 1
                guard isDigit(index) else { throw failure("expected a digit after .") }
                while isDigit(index) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                integral = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard isDigit(index) else { throw failure("expected an exponent") }
                while isDigit(index) { index += 1 }
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if integral, let i = Int64(text) { return .int(i) }
            guard let d = Double(text) else { throw failure("bad number") }
            return .double(d)
        }
    }
}
