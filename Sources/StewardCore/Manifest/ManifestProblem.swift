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

    /// Creates a problem at `path` (in the `$.field[index]` form) saying `message`.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
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
