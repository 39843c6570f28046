internal import CStewardOpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Keys stored as files: 32 random bytes per key in a 0600 file inside a 0700 directory.
///
/// A key is created atomically: the bytes are written and fsynced into a private temporary
/// file, which is then hard-linked to its final name (`link(2)` never replaces an existing
/// file, so two processes racing to create a key agree on one) and the directory is fsynced.
/// No process ever sees a partial or readable key under the key's name.
///
/// A key file that is a symbolic link, not a regular file, owned by another user, readable or
/// writable by group or others, or not exactly 32 bytes long is refused with a
/// ``KeyProviderError`` that names the file and the fix. It is never used, repaired or
/// replaced: that is for the person who owns the machine to decide.
///
/// ```swift
/// let keys = FileKeyProvider(directory: "/home/me/.local/share/steward/org.example/keys")
/// let key = try keys.key(named: "vault", createIfMissing: true)
/// ```
///
/// Destroying a key overwrites the file with zeros, fsyncs, unlinks it and fsyncs the
/// directory. On copy-on-write or flash storage the overwrite may not reach the old blocks;
/// the unlink is what makes the key unreachable to Steward.
public struct FileKeyProvider: KeyProvider {
    /// The directory the key files live in.
    public let directory: String
    /// The size of every key this provider creates and accepts.
    public static let keyByteCount = 32

    /// Creates a provider for key files in `directory`, which is created (0700) on first use.
    public init(directory: String) {
        self.directory = directory
    }

    /// The path of the key called `name`.
    public func path(forKeyNamed name: String) -> String { store.path(forKeyNamed: name) }

    /// Returns the key in `NAME.key`, creating it first (atomically, 0600, in a 0700 directory)
    /// when it is missing and `createIfMissing` is true.
    ///
    /// - Parameters:
    ///   - name: 1-64 letters, digits, `.`, `-` or `_`, not starting with `.`.
    ///   - createIfMissing: Whether a missing key is created.
    /// - Returns: The key's 32 bytes.
    /// - Throws: ``KeyProviderError`` for an invalid name, a missing key that may not be created, or
    ///   a key file that is insecure (a link, another owner, group or other access, not 32
    ///   bytes); ``SystemError`` when the file system fails.
    public func key(named name: String, createIfMissing: Bool) throws -> SymmetricKey {
        try store.key(named: name, createIfMissing: createIfMissing) { buffer in
            try SecureRandom.fill(buffer)
        }
    }

    /// Overwrites the key file with zeros, fsyncs it, unlinks it and fsyncs the directory.
    /// Destroying a missing key succeeds.
    ///
    /// - Parameter name: The key's name, as given to ``key(named:createIfMissing:)``.
    /// - Throws: ``KeyProviderError`` for an invalid name; ``SystemError`` when the file cannot be
    ///   examined or removed.
    public func destroyKey(named name: String) throws {
        try store.destroy(named: name)
    }

    private var store: KeyFileStore { KeyFileStore(directory: directory, suffix: ".key", byteCount: Self.keyByteCount) }
}

/// A key that a ``KeyProvider`` could not supply, or refused to use.
public struct KeyProviderError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case missing, symbolicLink, notRegularFile, wrongOwner, insecurePermissions, wrongLength, invalidName
            case storeUnavailable, locked, malformed, storeFailed, unwrapFailed
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// No key exists under that name and creating one was not allowed.
        public static let missing = Code(.missing)
        /// The key path is a symbolic link.
        public static let symbolicLink = Code(.symbolicLink)
        /// The key path is not a regular file.
        public static let notRegularFile = Code(.notRegularFile)
        /// The key file belongs to another user.
        public static let wrongOwner = Code(.wrongOwner)
        /// Group or others can access the key file.
        public static let insecurePermissions = Code(.insecurePermissions)
        /// The key file does not hold exactly 32 bytes.
        public static let wrongLength = Code(.wrongLength)
        /// The key name has characters a file name must not.
        public static let invalidName = Code(.invalidName)
        /// The key store cannot be reached or used at all: libsecret is not installed, there is
        /// no session bus or no Secret Service on it, the keyring has no default collection, or
        /// the systemd credential (or `$CREDENTIALS_DIRECTORY`) is absent. Steward never falls
        /// back to another store.
        public static let storeUnavailable = Code(.storeUnavailable)
        /// The keyring (or the item holding the key) is locked. Steward never prompts: unlock
        /// it and try again.
        public static let locked = Code(.locked)
        /// What the store holds is not in the form Steward writes (a keyring secret that is not
        /// 64 hex digits, a credential neither 32 bytes nor 64 hex digits, a wrapped key file or
        /// key store marker that is not Steward's).
        public static let malformed = Code(.malformed)
        /// The key store answered a request with an error.
        public static let storeFailed = Code(.storeFailed)
        /// A wrapped key does not open with the key-encryption key: the credential changed, or
        /// the file was altered.
        public static let unwrapFailed = Code(.unwrapFailed)

        /// The code's name, such as `insecurePermissions`.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// The key file (or the name, for ``Code/invalidName``; the store and key, such as
    /// `secret-service:SCOPE/NAME`, for a key that is not in a file).
    public let path: String
    /// What happened and what to do.
    public let message: String

    init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// `key PATH: MESSAGE`, for logs.
    public var description: String { "key \(path): \(message)" }
}
