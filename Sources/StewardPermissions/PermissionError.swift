public import StewardCore

/// A permission that cannot be used, asked for or changed; the message says why and what
/// would work.
public struct PermissionError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case undeclared, notGranted, noTerminal, noAnswer, invalidConfiguration, storageFailed
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The manifest does not declare the permission; the message shows the entry to add.
        public static let undeclared = Code(.undeclared)
        /// ``PermissionGate/require(_:)`` found the permission not granted.
        public static let notGranted = Code(.notGranted)
        /// The terminal prompter has no terminal to ask on.
        public static let noTerminal = Code(.noTerminal)
        /// The prompter has no answer (an operator's configuration without one, input ended).
        public static let noAnswer = Code(.noAnswer)
        /// A prompter's configuration cannot be used.
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The decision could not be stored, so it was not made.
        public static let storageFailed = Code(.storageFailed)

        /// The code's name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// The permission concerned, when there is one.
    public let permission: Permission?
    /// Its status when the error was raised, when known.
    public let status: PermissionStatus?
    /// What is wrong, and what would work.
    public let message: String

    init(_ code: Code, _ message: String, permission: Permission? = nil, status: PermissionStatus? = nil) {
        self.code = code
        self.message = message
        self.permission = permission
        self.status = status
    }

    /// The message.
    public var description: String { message }
}
