public import StewardCore

/// Why a disclosure could not be generated: every problem found, not just the first.
///
/// ```swift
/// do {
///     let disclosure = try Disclosure(manifest: manifest)
/// } catch let error as DisclosureError {
///     for problem in error.problems { print(problem) }
/// }
/// ```
public struct DisclosureError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case invalidManifest, undeclaredCollection }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The manifest does not validate (`PrivacyManifest.validate(now:)`), or the home
        /// region is not a region code; ``DisclosureError/problems`` may also list collections
        /// the manifest lacks.
        public static let invalidManifest = Code(.invalidManifest)
        /// The manifest is valid but does not declare a category or purpose that a Steward
        /// module in use stores data under: the disclosure would miss it.
        public static let undeclaredCollection = Code(.undeclaredCollection)

        /// The code's name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// Every problem, each with its JSON path in the manifest; at least one.
    public let problems: [ManifestProblem]

    init(_ code: Code, problems: [ManifestProblem]) {
        self.code = code
        self.problems = problems
    }

    /// A summary line, then one line per problem.
    public var description: String {
        let count = problems.count == 1 ? "1 problem" : "\(problems.count) problems"
        return (["No disclosure can be generated: the privacy manifest has \(count):"] + problems.map { "  \($0)" })
            .joined(separator: "\n")
    }
}
