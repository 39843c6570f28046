public import StewardCore
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Answers every prompt from a fixed table: for kiosks and appliances whose operator decides
/// the permissions, and for scripts.
///
/// ```swift
/// // /etc/myapp/permissions.json: {"camera": "allow", "location": "deny-always", "*": "deny"}
/// let prompter = try FixedAnswerPrompter(contentsOf: "/etc/myapp/permissions.json")
/// ```
public struct FixedAnswerPrompter: PermissionPrompter {
    /// The answer per permission.
    public var answers: [Permission: PermissionAnswer]
    /// The answer for a permission not in ``answers``; nil makes such a prompt throw.
    public var otherwise: PermissionAnswer?

    /// A prompter that gives `answers`, and `otherwise` for other permissions.
    public init(answers: [Permission: PermissionAnswer], otherwise: PermissionAnswer? = nil) {
        self.answers = answers
        self.otherwise = otherwise
    }

    /// A prompter that gives `answer` to everything.
    public init(always answer: PermissionAnswer) {
        self.init(answers: [:], otherwise: answer)
    }

    /// Reads the operator's table: a JSON object from permission names to answers (`allow`,
    /// `allow-once`, `deny`, `deny-always`; the camel-case spellings work too), with `"*"` for
    /// every other permission.
    ///
    /// - Throws: ``PermissionError`` (`invalidConfiguration`) listing every problem with the
    ///   file.
    public init(contentsOf path: String) throws {
        // A regular file only: a FIFO or a device in its place must not hang or act.
        switch POSIXCall.readFile(path, limit: 1 << 20) {
        case .success(let bytes):
            try self.init(json: bytes, source: path)
        case .failure(let failure):
            let why = failure.code == EINVAL ? "not a regular file" : failure.description
            throw PermissionError(.invalidConfiguration, "cannot read the permission answers file \(path): \(why)")
        }
    }

    /// Parses the operator's table from JSON bytes (see ``init(contentsOf:)``).
    public init(json: [UInt8], source: String = "the permission answers") throws {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)), let table = object as? [String: Any]
        else {
            throw PermissionError(
                .invalidConfiguration,
                "\(source) is not a JSON object from permission names to answers, such as {\"camera\": \"allow\", \"*\": \"deny\"}"
            )
        }
        var answers: [Permission: PermissionAnswer] = [:]
        var otherwise: PermissionAnswer?
        var problems: [String] = []
        for key in table.keys.sorted() {
            guard let text = table[key] as? String, let answer = PermissionAnswer(spelling: text) else {
                problems.append("\"\(key)\": the answer must be one of \(PermissionAnswer.spellings)")
                continue
            }
            if key == "*" { otherwise = answer } else { answers[Permission(rawValue: key)] = answer }
        }
        guard problems.isEmpty else {
            throw PermissionError(.invalidConfiguration, "\(source): " + problems.joined(separator: "; "))
        }
        self.init(answers: answers, otherwise: otherwise)
    }

    /// The configured answer, if it is one of those offered.
    public func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer {
        guard let answer = answers[prompt.permission] ?? otherwise else {
            throw PermissionError(
                .noAnswer,
                "no answer is configured for permission '\(prompt.permission)'; add \"\(prompt.permission)\" (or \"*\") to the operator's answers",
                permission: prompt.permission)
        }
        guard prompt.answers.contains(answer) else {
            throw PermissionError(
                .noAnswer,
                "the configured answer '\(answer.rawValue)' for '\(prompt.permission)' is not offered (offered: \(prompt.answers.map(\.rawValue).joined(separator: ", ")))",
                permission: prompt.permission)
        }
        return answer
    }
}

extension PermissionAnswer {
    /// The accepted spellings, for messages.
    static let spellings = "allow, allow-once, deny, deny-always"

    /// Reads `allow`, `allow-once`/`allowOnce`, `deny`, `deny-always`/`denyAlways` (any case).
    public init?(spelling: String) {
        switch spelling.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "") {
        case "allow": self = .allow
        case "allowonce": self = .allowOnce
        case "deny": self = .deny
        case "denyalways": self = .denyAlways
        default: return nil
        }
    }

    /// The CLI spelling: allow, allow-once, deny, deny-always.
    public var spelling: String {
        switch self {
        case .allow: "allow"
        case .allowOnce: "allow-once"
        case .deny: "deny"
        case .denyAlways: "deny-always"
        }
    }
}
