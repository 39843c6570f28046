public import StewardCore

/// The user's answer to a permission prompt.
public enum PermissionAnswer: String, Hashable, Sendable, CaseIterable, Codable {
    /// Allowed until revoked.
    case allow
    /// Allowed for this process only; the next process asks again.
    case allowOnce
    /// Denied this time; the app may ask again after explaining why. A second denial is final.
    case deny
    /// Denied for good: the app may not ask again.
    case denyAlways
}

/// What a prompter shows the user.
public struct PermissionPrompt: Hashable, Sendable {
    /// The permission asked for.
    public var permission: Permission
    /// Why the app needs it: the caller's text, else the manifest's rationale.
    public var rationale: String
    /// The purposes the permission serves, with the manifest's descriptions.
    public var purposes: [PurposeDeclaration]
    /// Whether the user denied it before, so the rationale should be shown prominently.
    public var showRationale: Bool
    /// The answers to offer.
    public var answers: [PermissionAnswer]

    /// A prompt for `permission`.
    public init(
        permission: Permission, rationale: String, purposes: [PurposeDeclaration] = [], showRationale: Bool = false,
        answers: [PermissionAnswer] = PermissionAnswer.allCases
    ) {
        self.permission = permission
        self.rationale = rationale
        self.purposes = purposes
        self.showRationale = showRationale
        self.answers = answers
    }
}

/// Asks the user for a permission: the host's dialog, a terminal question, an operator's
/// configuration.
///
/// ``PermissionGate`` calls ``prompt(_:)`` only for a permission that is declared, not
/// restricted and not decided for good, and one prompt at a time. Implementations must return
/// one of `prompt.answers`, or throw when no answer can be had (no terminal, the dialog was
/// dismissed, the task was cancelled): the gate then records nothing and the status stays
/// as it was.
///
/// ```swift
/// struct DialogPrompter: PermissionPrompter {
///     func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer {
///         try await MyDialog.ask(title: "Allow \(prompt.permission)?", message: prompt.rationale)
///     }
/// }
/// ```
public protocol PermissionPrompter: Sendable {
    /// Asks the user about `prompt.permission` and returns the answer.
    func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer
}
