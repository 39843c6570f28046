/// A parsed JSON value, as ``JSONParser`` reads it: numbers keep their exact text (so a huge
/// number is reported, never rounded), objects keep their members in document order.
enum JSONValue: Hashable, Sendable {
    case null
    case bool(Bool)
    /// The number's text exactly as written, already checked against the JSON grammar.
    case number(String)
    case string(String)
    case array([JSONValue])
    /// Members in document order; duplicate keys are reported by the parser and dropped.
    case object([Member])

    /// One member of an object.
    struct Member: Hashable, Sendable {
        let key: String
        let value: JSONValue
    }

    /// What the value is, for messages: `a string ("abc")`, `a number (42)`, `an array`.
    var kindDescription: String {
        switch self {
        case .null: "null"
        case .bool(let value): "a boolean (\(value))"
        case .number(let text): "a number (\(ProblemWording.escaped(text, limit: 30, quote: "\"")))"
        case .string(let text): "a string (\(ProblemWording.quoted(text, limit: 30)))"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
