/// An extensible, string-backed identifier: a value type around one string, with well-known
/// values as static members and any other spelling allowed, like swift-log's metadata keys.
///
/// Conforming types get string-literal syntax, `init(_:)`, ordering, a description and a
/// Codable form that is the bare string.
///
/// ```swift
/// public struct Purpose: StringIdentifier {
///     public let rawValue: String
///     public init(rawValue: String) { self.rawValue = rawValue }
///     public static let analytics: Purpose = "analytics"
/// }
/// ```
public protocol StringIdentifier: RawRepresentable, Hashable, Comparable, Sendable, Codable,
    CodingKeyRepresentable, ExpressibleByStringLiteral, CustomStringConvertible
where RawValue == String {
    /// Creates the identifier with the spelling `rawValue`.
    init(rawValue: String)
}

extension StringIdentifier {
    /// Creates the identifier with the spelling `rawValue`.
    public init(_ rawValue: String) { self.init(rawValue: rawValue) }
    /// Creates the identifier from a string literal.
    public init(stringLiteral value: String) { self.init(rawValue: value) }
    /// Decodes the bare string.
    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(String.self))
    }
    /// Encodes the bare string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
    /// Orders by spelling.
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    /// The spelling.
    public var description: String { rawValue }
    /// The spelling as a dictionary key, so `[Purpose: T]` encodes as a JSON object.
    public var codingKey: any CodingKey { IdentifierCodingKey(stringValue: rawValue) }
    /// Reads the spelling of a dictionary key.
    public init?<T: CodingKey>(codingKey: T) { self.init(rawValue: codingKey.stringValue) }
}

private struct IdentifierCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
