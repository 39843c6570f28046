/// One mistake in a privacy manifest: where it is, as a JSON path, and what is wrong.
///
/// Paths use the `$.field[index]` form for JSON decoded with
/// ``PrivacyManifest/decode(json:now:)-([UInt8],_)`` and for manifests built in Swift and checked
/// with ``PrivacyManifest/validate(now:)`` alike, so a problem reads the same either way.
/// Keys that are not plain names are written in brackets: `$['odd key']`.
///
/// ```swift
/// for problem in manifest.validate() {
///     print(problem)   // $.dataCategories[3].purposes[0]: purpose "analytic" is not declared …
/// }
/// ```
public struct ManifestProblem: Hashable, Sendable, CustomStringConvertible {
    /// Where the mistake is, such as `$.dataCategories[3].purposes[0]`; `$` is the whole
    /// manifest.
    public let path: String
    /// What is wrong and, where it helps, what to do about it.
    public let message: String
    /// Where in the JSON text the problem is: the line and column (1-based, columns in
    /// characters) of the value at ``path``, or of its closest enclosing value that was read
    /// (for a missing key, the object that lacks it). Nil for a manifest built in Swift.
    public let line: Int?
    /// See ``line``.
    public let column: Int?

    /// Problems are equal when their path and message are: where the text put them is not part
    /// of equality.
    public static func == (lhs: ManifestProblem, rhs: ManifestProblem) -> Bool {
        lhs.path == rhs.path && lhs.message == rhs.message
    }

    /// Hashes what equality compares.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(path)
        hasher.combine(message)
    }

    /// Creates a problem at `path` (in the `$.field[index]` form) saying `message`, at `line`
    /// and `column` of the JSON text when known.
    public init(path: String, message: String, line: Int? = nil, column: Int? = nil) {
        self.path = path
        self.message = message
        self.line = line
        self.column = column
    }

    /// `line L, column C: path: message` when the place in the text is known, else the
    /// ``description``.
    public var located: String {
        guard let line, let column else { return description }
        return "line \(line), column \(column): \(description)"
    }

    /// `problems` with the line and column where each one's path (or the nearest value that
    /// holds it) starts in `json`, the manifest's text: for problems found after decoding (a
    /// module's declarations, a region code), which know their path but not their place. A
    /// problem whose place is already known, or whose path the text does not have, is kept as
    /// it is. The text is parsed once, with the decoder's limits.
    public static func locate(_ problems: [ManifestProblem], inJSON json: [UInt8]) -> [ManifestProblem] {
        guard problems.contains(where: { $0.line == nil }) else { return problems }
        let positions = JSONParser.parse(json).positions
        return problems.map { problem in
            guard problem.line == nil else { return problem }
            // The path and each enclosing one, longest first: `$.a[2].b`, `$.a[2]`, `$.a`, `$`.
            var candidates = [problem.path]
            for index in problem.path.indices.reversed() where problem.path[index] == "." || problem.path[index] == "["
            {
                candidates.append(String(problem.path[..<index]))
            }
            guard let place = candidates.lazy.compactMap({ positions[$0] }).first else { return problem }
            return ManifestProblem(path: problem.path, message: problem.message, line: place.line, column: place.column)
        }
    }

    init(_ path: JSONPath, _ message: String) {
        self.init(path: path.description, message: message)
    }

    /// `path: message`.
    public var description: String { "\(path): \(message)" }
}

/// The error thrown when a privacy manifest cannot be used: every problem found, not just the
/// first.
///
/// Structural problems (invalid JSON, wrong types, missing fields, unknown keys and values) come
/// first, in document order, then the semantic ones from ``PrivacyManifest/validate(now:)``.
/// Invalid JSON stops the reading at the first syntax error, so it is reported alone.
///
/// ```swift
/// do {
///     manifest = try PrivacyManifest.decode(json: bytes)
/// } catch {
///     for problem in error.problems { print(problem) }
/// }
/// ```
public struct ManifestError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Every problem found, at least one.
    public let problems: [ManifestProblem]

    /// Creates an error holding `problems`.
    public init(problems: [ManifestProblem]) {
        self.problems = problems
    }

    /// A summary line, then one line per problem.
    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return (["The privacy manifest has \(count):"] + problems.map { "  \($0)" }).joined(separator: "\n")
    }
}
