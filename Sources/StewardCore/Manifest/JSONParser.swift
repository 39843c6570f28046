/// A strict RFC 8259 JSON parser that never traps on input and says where input goes wrong.
///
/// It reads UTF-8 (a leading byte-order mark is skipped), checks every string for valid UTF-8,
/// keeps numbers as text, bounds nesting at ``maximumDepth`` and input at ``maximumSize``, and
/// reports duplicate object keys without stopping. A syntax error ends parsing: its problem
/// gives the line and column and the path of the value being read.
struct JSONParser {
    /// Containers nested deeper than this are refused (a manifest needs five levels); it also
    /// bounds the parser's recursion, so no input can exhaust even a small thread's stack.
    static let maximumDepth = 32
    /// Larger input is refused before parsing (a manifest is a few kilobytes).
    static let maximumSize = 16 << 20

    /// What parsing produced: the value, unless a syntax error stopped it, and every problem.
    struct Result {
        var value: JSONValue?
        var problems: [(path: JSONPath, message: String)]
        /// Where each value read starts: its line and column (1-based, columns in characters),
        /// by path (`$.purposes[0].legalBasis`).
        var positions: [String: (line: Int, column: Int)] = [:]
    }

    /// Parses `bytes` as one JSON document.
    static func parse(_ bytes: [UInt8]) -> Result {
        guard bytes.count <= maximumSize else {
            return Result(
                value: nil,
                problems: [(.root, "the manifest is \(bytes.count) bytes long; at most \(maximumSize) are accepted")])
        }
        var parser = JSONParser(bytes: bytes)
        do throws(SyntaxError) {
            let value = try parser.parseDocument()
            return Result(value: value, problems: parser.problems, positions: parser.lineColumns())
        } catch {
            return Result(
                value: nil, problems: parser.problems + [(error.path, parser.describe(error))],
                positions: parser.lineColumns())
        }
    }

    /// A syntax error: where (byte offset and the path being read) and what.
    private struct SyntaxError: Error {
        let offset: Int
        let path: JSONPath
        let message: String
    }

    private let bytes: [UInt8]
    private var index = 0
    private var path = JSONPath.root
    private var problems: [(path: JSONPath, message: String)] = []
    /// The byte offset where each value read starts, by path.
    private var offsets: [String: Int] = [:]

    private init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    // MARK: Document

    private mutating func parseDocument() throws(SyntaxError) -> JSONValue {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) {
            index = 3
        } else if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            throw error("the manifest looks like UTF-16; it must be UTF-8")
        }
        skipWhitespace()
        guard index < bytes.count else {
            throw error(
                bytes.isEmpty
                    ? "the manifest is empty; expected a JSON object"
                    : "the manifest holds only whitespace; expected a JSON object")
        }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw error("unexpected \(describeByte()) after the end of the JSON value") }
        return value
    }

    private mutating func parseValue(depth: Int) throws(SyntaxError) -> JSONValue {
        guard index < bytes.count else { throw error("unexpected end of input; expected a value") }
        offsets[path.description] = index
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
            return try parseLiteral()
        default:
            throw error("unexpected \(describeByte()); expected a value")
        }
    }

    private mutating func parseObject(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
        index += 1  // {
        var members: [JSONValue.Member] = []
        var seen: Set<String> = []
        skipWhitespace()
        if peek(UInt8(ascii: "}")) {
            index += 1
            return .object(members)
        }
        let container = path
        while true {
            skipWhitespace()
            guard peek(UInt8(ascii: "\"")) else {
                throw error(
                    index < bytes.count
                        ? "unexpected \(describeByte()); expected a key in double quotes"
                        : "unexpected end of input inside an object")
            }
            let key = try parseString()
            skipWhitespace()
            guard peek(UInt8(ascii: ":")) else {
                throw error("expected ':' after the key \(ProblemWording.quoted(key))")
            }
            index += 1
            skipWhitespace()
            path = container[key]
            let value = try parseValue(depth: depth)
            if seen.insert(key).inserted {
                members.append(JSONValue.Member(key: key, value: value))
            } else {
                problems.append(
                    (
                        path,
                        "duplicate key \(ProblemWording.quoted(key)); each key may appear once in an object (the first one is used)"
                    ))
            }
            path = container
            skipWhitespace()
            guard index < bytes.count else {
                throw error("unexpected end of input inside an object; expected ',' or '}'")
            }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            } else {
                throw error("unexpected \(describeByte()); expected ',' or '}' after a member")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(SyntaxError) -> JSONValue {
        guard depth <= Self.maximumDepth else { throw error("nested deeper than \(Self.maximumDepth) levels") }
        index += 1  // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if peek(UInt8(ascii: "]")) {
            index += 1
            return .array(elements)
        }
        let container = path
        while true {
            skipWhitespace()
            path = container[elements.count]
            elements.append(try parseValue(depth: depth))
            path = container
            skipWhitespace()
            guard index < bytes.count else {
                throw error("unexpected end of input inside an array; expected ',' or ']'")
            }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            } else {
                throw error("unexpected \(describeByte()); expected ',' or ']' after an element")
            }
        }
    }

    // MARK: Scalars

    private mutating func parseString() throws(SyntaxError) -> String {
        index += 1  // "
        var utf8: [UInt8] = []
        while true {
            guard index < bytes.count else { throw error("unexpected end of input inside a string") }
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(decoding: utf8, as: UTF8.self)
            case UInt8(ascii: "\\"):
                try parseEscape(into: &utf8)
            case 0x00..<0x20:
                throw error("control character \(hex(byte)) inside a string; write it as an escape such as \\n")
            case 0x80...:
                let length = try validateUTF8Sequence()
                utf8.append(contentsOf: bytes[index..<index + length])
                index += length
            default:
                utf8.append(byte)
                index += 1
            }
        }
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws(SyntaxError) {
        index += 1  // backslash
        guard let failure = JSONEscape.decode(bytes, at: &index, into: &utf8) else { return }
        switch failure {
        case .endOfInput: throw error("unexpected end of input inside a string")
        case .notHex: throw error("a \\u escape needs four hexadecimal digits")
        case .loneHighSurrogate:
            throw error("\\u escape for a lone UTF-16 high surrogate; it must be followed by a low surrogate")
        case .unpairedHighSurrogate:
            throw error("\\u escape for a UTF-16 high surrogate followed by something other than a low surrogate")
        case .loneLowSurrogate: throw error("\\u escape for a lone UTF-16 low surrogate")
        case .invalidEscape: throw error("invalid escape \\\(describeByte(quoted: false)) in a string")
        }
    }

    /// Checks the UTF-8 sequence starting at `index` (RFC 3629: no overlong forms, no
    /// surrogates, nothing past U+10FFFF) and returns its length.
    private func validateUTF8Sequence() throws(SyntaxError) -> Int {
        guard let length = utf8SequenceLength(at: index) else {
            throw error("invalid UTF-8 sequence starting with byte \(hex(bytes[index])); the manifest must be UTF-8")
        }
        return length
    }

    /// The length of the valid UTF-8 sequence of two or more bytes at `position`, or nil.
    private func utf8SequenceLength(at position: Int) -> Int? {
        let lead = bytes[position]
        let length: Int
        var secondRange: ClosedRange<UInt8> = 0x80...0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0: length = 3; secondRange = 0xA0...0xBF
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED: length = 3; secondRange = 0x80...0x9F
        case 0xF0: length = 4; secondRange = 0x90...0xBF
        case 0xF1...0xF3: length = 4
        case 0xF4: length = 4; secondRange = 0x80...0x8F
        default: return nil
        }
        for offset in 1..<length {
            let next = position + offset
            let range = offset == 1 ? secondRange : 0x80...0xBF
            guard next < bytes.count, range.contains(bytes[next]) else { return nil }
        }
        return length
    }

    private mutating func parseNumber() throws(SyntaxError) -> String {
        let start = index
        if peek(UInt8(ascii: "-")) { index += 1 }
        if peek(UInt8(ascii: "0")) {
            index += 1
            if peekDigit() { throw error("a number must not start with a leading zero") }
        } else if peekDigit() {
            while peekDigit() { index += 1 }
        } else {
            throw error("expected a digit after '-'")
        }
        if peek(UInt8(ascii: ".")) {
            index += 1
            guard peekDigit() else { throw error("expected a digit after the decimal point") }
            while peekDigit() { index += 1 }
        }
        if peek(UInt8(ascii: "e")) || peek(UInt8(ascii: "E")) {
            index += 1
            if peek(UInt8(ascii: "+")) || peek(UInt8(ascii: "-")) { index += 1 }
            guard peekDigit() else { throw error("expected a digit in the exponent") }
            while peekDigit() { index += 1 }
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    private mutating func parseLiteral() throws(SyntaxError) -> JSONValue {
        let start = index
        var end = index
        while end < bytes.count, end - start < 32, Self.isWordByte(bytes[end]) { end += 1 }
        let word = String(decoding: bytes[start..<end], as: UTF8.self)
        switch word {
        case "true": index = end; return .bool(true)
        case "false": index = end; return .bool(false)
        case "null": index = end; return .null
        case "NaN", "Infinity", "nan", "inf", "infinity":
            throw error("unexpected \(word); JSON has no NaN or Infinity")
        case "True", "False", "TRUE", "FALSE", "None", "Null", "NULL", "nil":
            throw error("unexpected \(word); JSON spells these true, false and null")
        default:
            throw error("unexpected \(ProblemWording.quoted(word)); strings need double quotes")
        }
    }

    // MARK: Helpers

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func peek(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

    private func peekDigit() -> Bool {
        index < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index])
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
            true
        default:
            false
        }
    }

    private func error(_ message: String) -> SyntaxError {
        SyntaxError(offset: index, path: path, message: message)
    }

    private func hex(_ byte: UInt8) -> String {
        let digits = String(byte, radix: 16, uppercase: true)
        return "0x" + (digits.count == 1 ? "0" : "") + digits
    }

    /// The byte at `index` for a message: `'x'`, `byte 0xFF`, or `end of input`.
    private func describeByte(quoted: Bool = true) -> String {
        guard index < bytes.count else { return "end of input" }
        let byte = bytes[index]
        if byte >= 0x80 {
            guard let length = utf8SequenceLength(at: index) else {
                return "invalid UTF-8 byte \(hex(byte)) (the manifest must be UTF-8)"
            }
            let character = String(decoding: bytes[index..<index + length], as: UTF8.self)
            return quoted ? "'\(character)'" : character
        }
        if byte < 0x20 || byte == 0x7F { return "control character \(hex(byte))" }
        let character = String(UnicodeScalar(byte))
        return quoted ? "'\(character)'" : character
    }

    /// `invalid JSON at line L, column C: message`. Columns count characters, not bytes.
    private func describe(_ error: SyntaxError) -> String {
        let (line, column) = lineColumns(at: [error.offset])[error.offset] ?? (1, 1)
        return "invalid JSON at line \(line), column \(column): \(error.message)"
    }

    /// The line and column of every recorded value start, in one pass over the bytes.
    private func lineColumns() -> [String: (line: Int, column: Int)] {
        let found = lineColumns(at: Set(offsets.values))
        return offsets.compactMapValues { found[$0] }
    }

    /// The line and column (1-based; columns count characters, not bytes) of each offset.
    private func lineColumns(at wanted: Set<Int>) -> [Int: (line: Int, column: Int)] {
        var result: [Int: (line: Int, column: Int)] = [:]
        guard let last = wanted.max() else { return result }
        var line = 1
        var column = 1
        for offset in 0...min(last, bytes.count) {
            if wanted.contains(offset) { result[offset] = (line, column) }
            guard offset < bytes.count else { break }
            let byte = bytes[offset]
            if byte == 0x0A {
                line += 1
                column = 1
            } else if byte & 0xC0 != 0x80 {
                column += 1
            }
        }
        return result
    }
}
