import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Which store keeps a data folder's vault key: key files beside the vault, the desktop
/// keyring (Secret Service), a systemd credential, or a provider the host supplied.
///
/// A data folder records its store in `DATA/keys/store` (a 0600 file holding one line, no
/// secret) when the store is first chosen, and keeps it: a vault is never moved to another store
/// behind its owner's back, because its data could not be read without the key it was made with.
/// ``Vault/open(dataDirectory:options:clock:)`` and the facade follow that record.
///
/// ```swift
/// let choice = try KeyStore.choose(dataDirectory: dataDir, environment: ProcessInfo.processInfo.environment)
/// print("vault key in:", choice)  // "secret-service", "systemd-credential steward.vault-key", "file"
/// let vault = try Vault.open(
///     directory: dataDir + "/vault",
///     keyProvider: try choice.provider(
///         dataDirectory: dataDir, application: "org.example.notes", environment: ProcessInfo.processInfo.environment))
/// ```
public struct KeyStore: Hashable, Sendable, CustomStringConvertible {
    /// The store's name: `file`, `secret-service`, `systemd-credential` or `host`.
    public let name: String
    /// The credential's name, for ``systemdCredential(_:)``; nil otherwise.
    public let credentialName: String?

    private init(_ name: String, credentialName: String? = nil) {
        self.name = name
        self.credentialName = credentialName
    }

    /// 32-byte key files in `DATA/keys` (``FileKeyProvider``): the default where nothing better
    /// is found, and the store of every vault made before stores could be chosen.
    public static let file = KeyStore("file")
    /// The desktop keyring over the Secret Service API (``SecretServiceKeyProvider``).
    public static let secretService = KeyStore("secret-service")
    /// Keys wrapped under the systemd credential `name`, kept in `DATA/keys`
    /// (``SystemdCredentialKeyProvider``).
    public static func systemdCredential(_ name: String = SystemdCredentialKeyProvider.defaultCredentialName)
        -> KeyStore
    {
        KeyStore("systemd-credential", credentialName: name)
    }
    /// A ``KeyProvider`` the host passed in; never recorded.
    public static let host = KeyStore("host")

    /// `file`, `secret-service`, `systemd-credential NAME` or `host`.
    public var description: String { credentialName.map { "\(name) \($0)" } ?? name }

    // MARK: - The record

    /// The record's path in a data folder.
    public static func recordPath(inDataDirectory directory: String) -> String { directory + "/keys/store" }

    /// The store recorded for the data folder; nil when none is.
    ///
    /// - Throws: ``KeyProviderError`` with ``KeyProviderError/Code/malformed`` for a record that
    ///   is not one line naming a store (it is left as it is), `notRegularFile` or `symbolicLink`
    ///   for something else at its path; ``SystemError`` when it cannot be read.
    public static func recorded(inDataDirectory directory: String) throws -> KeyStore? {
        let path = recordPath(inDataDirectory: directory)
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemError(call: "lstat", path: path, errno: errno)
        }
        guard (st.st_mode & S_IFMT) != S_IFLNK else {
            throw KeyProviderError(.symbolicLink, path: path, "is a symbolic link; the key store record is a file.")
        }
        let bytes: [UInt8]
        do {
            let fd = try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
            guard (try fd.stat().st_mode & S_IFMT) == S_IFREG else {
                throw KeyProviderError(.notRegularFile, path: path, "is not a regular file.")
            }
            bytes = try fd.readAll(limit: 128)
        } catch let error as SystemError where error.errno == EFBIG {
            bytes = []
        }
        guard let store = parse(bytes) else {
            throw KeyProviderError(
                .malformed, path: path,
                "does not name a key store Steward knows (`file`, `secret-service` or `systemd-credential NAME`, one line). It was left as it is; restore it, since the vault key is where it said."
            )
        }
        return store
    }

    /// The store a record's bytes name: exactly one of the lines ``record(inDataDirectory:)``
    /// writes, nothing else.
    static func parse(_ bytes: [UInt8]) -> KeyStore? {
        guard bytes.last == UInt8(ascii: "\n") else { return nil }
        let line = String(decoding: bytes.dropLast(), as: UTF8.self)
        guard !line.utf8.contains(UInt8(ascii: "\n")) else { return nil }
        switch line {
        case "file": return .file
        case "secret-service": return .secretService
        default:
            let prefix = "systemd-credential "
            guard line.hasPrefix(prefix) else { return nil }
            let name = String(line.dropFirst(prefix.count))
            guard (try? KeyFileStore.validate(name)) != nil else { return nil }
            return .systemdCredential(name)
        }
    }

    /// Records this store for the data folder (atomically; the `keys` folder is made 0700).
    /// ``host`` is never recorded: nothing is written for it.
    public func record(inDataDirectory directory: String) throws {
        guard self != .host else { return }
        try FileSystem.ensurePrivateDirectory(directory)
        try FileSystem.ensurePrivateDirectory(directory + "/keys")
        try FileSystem.writeAtomically(
            Array((description + "\n").utf8), to: Self.recordPath(inDataDirectory: directory))
    }

    // MARK: - Choosing

    /// The store of a data folder: the recorded one when there is a record, else ``file`` for a
    /// vault made before stores were recorded (its key is in `DATA/keys`), else the best one
    /// the environment offers: a systemd credential named `credentialName` in
    /// `$CREDENTIALS_DIRECTORY` (a service), the Secret Service when there is a session bus and
    /// a keyring answers on it (a desktop session), else ``file``. The choice is recorded, so
    /// later calls neither probe nor change their mind.
    ///
    /// A recorded store that is not reachable later is not replaced: opening the vault then
    /// fails with the store's error (a locked or absent keyring, a missing credential).
    ///
    /// - Parameters:
    ///   - dataDirectory: The data folder (`DATA/vault`, `DATA/keys`).
    ///   - environment: Where `CREDENTIALS_DIRECTORY`, `DBUS_SESSION_BUS_ADDRESS` and
    ///     `XDG_RUNTIME_DIR` are read (usually the process's). libsecret itself always reaches
    ///     the bus of the process's environment.
    ///   - credentialName: The systemd credential to look for.
    /// - Throws: ``KeyProviderError`` for an unreadable record, or `invalidName` for a
    ///   `credentialName` that is not 1-64 letters, digits, `.`, `-` or `_` (not starting with
    ///   `.`); ``SystemError`` or ``InsecurePathError`` when the record cannot be written.
    public static func choose(
        dataDirectory: String, environment: [String: String],
        credentialName: String = SystemdCredentialKeyProvider.defaultCredentialName
    ) throws -> KeyStore {
        // Checked first: a name that is no file name must not end up in the record.
        try KeyFileStore.validate(credentialName)
        try FileSystem.ensurePrivateDirectory(dataDirectory)
        if let recorded = try recorded(inDataDirectory: dataDirectory) {
            StewardDiagnostics.emit(
                DiagnosticEvent(
                    .debug, "keys.store", "The vault key store recorded for the data folder is used.",
                    ["store": recorded.name, "reason": "recorded"]))
            return recorded
        }
        let (store, reason) = probe(
            dataDirectory: dataDirectory, environment: environment, credentialName: credentialName)
        try store.record(inDataDirectory: dataDirectory)
        StewardDiagnostics.emit(
            DiagnosticEvent(
                .info, "keys.store", "A vault key store was chosen for the data folder and recorded.",
                ["store": store.name, "reason": reason]))
        return store
    }

    private static func probe(dataDirectory: String, environment: [String: String], credentialName: String)
        -> (KeyStore, String)
    {
        if FileSystem.exists(dataDirectory + "/vault/vault.meta")
            || FileSystem.exists(dataDirectory + "/keys/vault.key")
        {
            return (.file, "existing-vault")
        }
        if let folder = environment["CREDENTIALS_DIRECTORY"], !folder.isEmpty,
            FileSystem.exists(folder + "/" + credentialName)
        {
            return (.systemdCredential(credentialName), "credential")
        }
        if hasSessionBus(environment), (try? SecretServiceKeyProvider.checkAvailable()) != nil {
            return (.secretService, "secret-service")
        }
        return (.file, "default")
    }

    private static func hasSessionBus(_ environment: [String: String]) -> Bool {
        if let address = environment["DBUS_SESSION_BUS_ADDRESS"], !address.isEmpty { return true }
        guard let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty else { return false }
        var st = stat()
        return lstat(runtime + "/bus", &st) == 0 && (st.st_mode & S_IFMT) == S_IFSOCK
    }

    // MARK: - The provider

    /// The process's environment.
    static var processEnvironment: [String: String] { ProcessInfo.processInfo.environment }

    /// The provider of this store for a data folder.
    ///
    /// - Parameters:
    ///   - dataDirectory: The data folder: key files and wrapped keys go in `DATA/keys`; keyring
    ///     items are scoped to its path.
    ///   - application: The application named in keyring items' labels.
    ///   - environment: Where `CREDENTIALS_DIRECTORY` is read.
    /// - Throws: ``KeyProviderError`` with ``KeyProviderError/Code/storeUnavailable`` for a
    ///   systemd credential without `CREDENTIALS_DIRECTORY`, and for ``host`` (only the host
    ///   knows its provider).
    public func provider(dataDirectory: String, application: String, environment: [String: String]) throws
        -> any KeyProvider
    {
        let keys = dataDirectory + "/keys"
        switch name {
        case KeyStore.secretService.name:
            return SecretServiceKeyProvider(application: application, scope: dataDirectory)
        case KeyStore.systemdCredential().name:
            return try SystemdCredentialKeyProvider(
                environment: environment,
                credentialName: credentialName ?? SystemdCredentialKeyProvider.defaultCredentialName, directory: keys)
        case KeyStore.file.name:
            return FileKeyProvider(directory: keys)
        default:
            throw KeyProviderError(
                .storeUnavailable, path: Self.recordPath(inDataDirectory: dataDirectory),
                "the key provider of store '\(name)' is the host's own; pass it in.")
        }
    }
}
