/// An error from the ``Vault``.
///
/// Compare ``code`` against the static members of ``VaultError/Code``; codes may be added in
/// later releases without breaking clients. ``message`` says what happened and what to do.
public struct VaultError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case locked, keyMismatch, unsupportedVersion, notAVault, invalidCollectionName
            case closed, erased, recordTooLarge, io, notFound, invalidTime, invalidOptions
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Another process (or another `Vault` in this one) has the vault open.
        public static let locked = Code(.locked)
        /// The key does not belong to this vault.
        public static let keyMismatch = Code(.keyMismatch)
        /// The vault or one of its files was written by a newer Steward.
        public static let unsupportedVersion = Code(.unsupportedVersion)
        /// The directory holds a `vault.meta` that is not a Steward vault's.
        public static let notAVault = Code(.notAVault)
        /// A collection name has characters a file name must not.
        public static let invalidCollectionName = Code(.invalidCollectionName)
        /// The vault was closed.
        public static let closed = Code(.closed)
        /// The vault was erased.
        public static let erased = Code(.erased)
        /// A record is larger than a frame may hold (64 MiB).
        public static let recordTooLarge = Code(.recordTooLarge)
        /// A file operation failed; ``VaultError/underlying`` has the system error.
        public static let io = Code(.io)
        /// No live record has that id in that collection.
        public static let notFound = Code(.notFound)
        /// A date passed in is not a finite date (NaN or infinite), such as the `created` of
        /// ``Vault/append(_:to:category:purpose:retention:created:)``.
        public static let invalidTime = Code(.invalidTime)
        /// A ``VaultOptions`` value is out of range, such as a negative quota.
        public static let invalidOptions = Code(.invalidOptions)

        /// The code's name, such as `keyMismatch`.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do.
    public let message: String
    /// The file the error is about, when there is one.
    public let path: String?
    /// The system error behind an ``Code/io`` error.
    public let underlying: SystemError?

    init(_ code: Code, _ message: String, path: String? = nil, underlying: SystemError? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.underlying = underlying
    }

    /// `VaultError(CODE): MESSAGE [PATH]`, for logs.
    public var description: String {
        var text = "VaultError(\(code)): \(message)"
        if let path { text += " [\(path)]" }
        return text
    }
}
