/// A consent change that cannot be made; the message says why and what would work.
public struct ConsentError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case unknownPurpose, notConsentBased, guardianRequired, invalidManifest, reentrantChange
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// A purpose the manifest does not declare.
        public static let unknownPurpose = Code(.unknownPurpose)
        /// A purpose whose legal basis is not consent cannot be denied.
        public static let notConsentBased = Code(.notConsentBased)
        /// The user is below the minimum age: only a guardian can grant.
        public static let guardianRequired = Code(.guardianRequired)
        /// The manifest cannot be used by the ledger.
        public static let invalidManifest = Code(.invalidManifest)
        /// A consent observer tried to change consent while being told of a change.
        public static let reentrantChange = Code(.reentrantChange)

        /// The code's name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// What is wrong, and what would work.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
