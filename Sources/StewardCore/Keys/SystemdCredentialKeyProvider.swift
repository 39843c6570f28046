#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Keys for a system service, protected by a systemd credential: the credential is a
/// key-encryption key, and each named key is a random 32-byte key kept wrapped under it
/// (AES-256-GCM) in a 0600 file of a private folder, usually `DATA/keys/NAME.wrapped`.
///
/// A backup of the data folder alone then holds no usable key, and ``destroyKey(named:)`` is
/// final although the credential itself is read-only (the service manager provides it; the
/// process can neither change nor delete it): destroying a key deletes its wrapped file.
///
/// The unit provides the credential, best encrypted with the machine's TPM or host key:
///
/// ```
/// # once, as root: a random key, encrypted for this machine
/// head -c 32 /dev/urandom | systemd-creds encrypt --name=steward.vault-key - /etc/credstore.encrypted/steward.vault-key
///
/// # in the service's unit
/// [Service]
/// LoadCredentialEncrypted=steward.vault-key:/etc/credstore.encrypted/steward.vault-key
/// ```
///
/// (`LoadCredential=steward.vault-key:/path/to/plain-file` works too, without encryption at
/// rest.) systemd then puts the plaintext in `$CREDENTIALS_DIRECTORY/steward.vault-key`, a
/// read-only file only the service can read.
///
/// **The credential file** must be a regular file (not a link, a folder or a FIFO), not
/// accessible to others, holding exactly 32 bytes, or 64 hex digits optionally followed by one
/// newline (`openssl rand -hex 32`). Anything else is refused with a ``KeyProviderError``
/// naming the file; its size is checked before anything is read.
///
/// ```swift
/// let keys = try SystemdCredentialKeyProvider(
///     environment: ProcessInfo.processInfo.environment, directory: "/var/lib/org.example/keys")
/// let key = try keys.key(named: "vault", createIfMissing: true)
/// ```
///
/// A wrapped key file that is a link, someone else's, open to group or others or not exactly
/// 68 bytes is refused as ``FileKeyProvider`` refuses a key file; one that does not open under
/// the credential (the credential changed) is refused with ``KeyProviderError/Code/unwrapFailed``.
public struct SystemdCredentialKeyProvider: KeyProvider {
    /// The credential name Steward looks for unless told otherwise: `steward.vault-key`.
    public static let defaultCredentialName = "steward.vault-key"
    /// The folder systemd provides credentials in (the unit's `$CREDENTIALS_DIRECTORY`).
    public let credentialsDirectory: String
    /// The credential's name (the file name in ``credentialsDirectory``).
    public let credentialName: String
    /// The private folder the wrapped keys live in (created 0700 on first use).
    public let directory: String

    /// The largest credential file read: 64 hex digits and a newline.
    static let maximumCredentialSize = 65
    /// The wrapped key file: magic, then nonce ‖ encrypted key ‖ tag.
    static let magic: [UInt8] = Array("SWRAPK01".utf8)
    static let wrappedByteCount = magic.count + AESGCM.overhead + FileKeyProvider.keyByteCount

    /// A provider for the credential `credentialName` in `credentialsDirectory`, keeping
    /// wrapped keys in `directory`.
    public init(credentialsDirectory: String, credentialName: String = defaultCredentialName, directory: String) {
        self.credentialsDirectory = credentialsDirectory
        self.credentialName = credentialName
        self.directory = directory
    }

    /// A provider for the credential `credentialName` in the `CREDENTIALS_DIRECTORY` of
    /// `environment` (the process's, usually), keeping wrapped keys in `directory`.
    ///
    /// - Throws: ``KeyProviderError`` with ``KeyProviderError/Code/storeUnavailable`` when
    ///   `environment` has no `CREDENTIALS_DIRECTORY` (the process was not started by a unit
    ///   with `LoadCredential=` or `LoadCredentialEncrypted=`).
    public init(
        environment: [String: String], credentialName: String = defaultCredentialName, directory: String
    ) throws {
        guard let folder = environment["CREDENTIALS_DIRECTORY"], !folder.isEmpty else {
            throw KeyProviderError(
                .storeUnavailable, path: "$CREDENTIALS_DIRECTORY",
                "is not set: this process has no systemd credentials. Give its unit `LoadCredentialEncrypted=\(credentialName):/etc/credstore.encrypted/\(credentialName)` (see `systemd-creds encrypt`)."
            )
        }
        self.init(credentialsDirectory: folder, credentialName: credentialName, directory: directory)
    }

    /// The credential file's path.
    public var credentialPath: String { credentialsDirectory + "/" + credentialName }

    /// The path of the wrapped key called `name`.
    public func path(forKeyNamed name: String) -> String { store.path(forKeyNamed: name) }

    /// Returns the key called `name`, unwrapping it from its file; when the file is missing and
    /// `createIfMissing` is true, first wraps a new random key into it (atomically, 0600, in a
    /// 0700 folder).
    ///
    /// - Parameters:
    ///   - name: 1-64 letters, digits, `.`, `-` or `_`, not starting with `.`.
    ///   - createIfMissing: Whether a missing key is created.
    /// - Returns: The key's 32 bytes.
    /// - Throws: ``KeyProviderError``: `storeUnavailable` when the credential is missing;
    ///   `symbolicLink`, `notRegularFile`, `insecurePermissions`, `wrongLength` or `malformed`
    ///   for a credential (or wrapped key file) not in the accepted form; `missing` for a missing
    ///   key that may not be created; `unwrapFailed` when the wrapped key does not open under the
    ///   credential. ``SystemError`` when the file system fails.
    public func key(named name: String, createIfMissing: Bool) throws -> SymmetricKey {
        try KeyFileStore.validate(name)
        let wrapping = try AESGCM.Cipher(key: try wrappingKey())
        let aad = Self.magic + Array(name.utf8)
        let wrapped = try store.key(named: name, createIfMissing: createIfMissing) { file in
            Self.magic.withUnsafeBytes { file.copyMemory(from: $0) }
            let fresh = try SymmetricKey.random(byteCount: FileKeyProvider.keyByteCount)
            try fresh.withUnsafeBytes { plain in
                try aad.withUnsafeBytes { aad in
                    try wrapping.seal(
                        plain, authenticating: aad,
                        into: UnsafeMutableRawBufferPointer(rebasing: file[Self.magic.count...]))
                }
            }
        }
        return try wrapped.withUnsafeBytes { file in
            let path = path(forKeyNamed: name)
            guard file.count == Self.wrappedByteCount, file.prefix(Self.magic.count).elementsEqual(Self.magic) else {
                throw KeyProviderError(.malformed, path: path, "is not a Steward wrapped key (its magic is wrong).")
            }
            var failure: (any Error)?
            let key = SymmetricKey(byteCount: FileKeyProvider.keyByteCount) { out in
                do {
                    try aad.withUnsafeBytes { aad in
                        try wrapping.open(
                            UnsafeRawBufferPointer(rebasing: file[Self.magic.count...]), authenticating: aad,
                            into: UnsafeMutableRawBufferPointer(out))
                    }
                } catch {
                    failure = KeyProviderError(
                        .unwrapFailed, path: path,
                        "does not open with the credential '\(credentialName)': the credential changed since the key was made, or the file was altered. Nothing was changed; provide the original credential."
                    )
                }
            }
            if let failure { throw failure }
            return key
        }
    }

    /// Destroys the key called `name`: its wrapped file is overwritten with zeros, fsynced and
    /// unlinked, and the folder fsynced. The credential stays (it is read-only), but without
    /// the wrapped file it opens nothing. Destroying a missing key succeeds; the credential is
    /// not needed for it.
    ///
    /// - Throws: ``KeyProviderError`` for an invalid name; ``SystemError`` when the file cannot be
    ///   examined or removed.
    public func destroyKey(named name: String) throws {
        try store.destroy(named: name)
    }

    // MARK: - Private

    private var store: KeyFileStore {
        KeyFileStore(directory: directory, suffix: ".wrapped", byteCount: Self.wrappedByteCount)
    }

    /// The key that wraps the named keys: HMAC-SHA256 of a fixed label under the credential.
    private func wrappingKey() throws -> SymmetricKey {
        let credential = try readCredential()
        var derived = try HMACSHA256.authenticationCode(for: Array("steward.key-wrap/1".utf8), using: credential)
        defer { for i in derived.indices { derived[i] = 0 } }
        return try SymmetricKey(copying: derived)
    }

    /// The credential's 32 bytes, from a file checked before it is read.
    func readCredential() throws -> SymmetricKey {
        try KeyFileStore.validate(credentialName)
        let path = credentialPath
        let fd = try openCredential(path)
        let info = try fd.stat()
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw KeyProviderError(.notRegularFile, path: path, "is not a regular file, as systemd makes credentials.")
        }
        guard info.st_mode & 0o007 == 0 else {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw KeyProviderError(
                .insecurePermissions, path: path,
                "has mode \(mode): every user can access it, which systemd never allows for a credential. Steward will not use it."
            )
        }
        let size = info.st_size
        guard size == 32 || size == 64 || size == 65 else {
            throw KeyProviderError(
                .wrongLength, path: path,
                "holds \(size) bytes: a credential for Steward is exactly 32 bytes, or 64 hex digits and at most one newline (`head -c 32 /dev/urandom`, or `openssl rand -hex 32`)."
            )
        }
        var failure: (any Error)?
        let raw = SymmetricKey(byteCount: Int(size)) { buffer in
            do {
                let n = try fd.read(into: UnsafeMutableRawBufferPointer(buffer), at: 0)
                if n != buffer.count {
                    failure = KeyProviderError(.wrongLength, path: path, "could be read only in part (\(n) bytes).")
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        if size == 32 { return raw }
        return try raw.withUnsafeBytes { text in
            let malformed = KeyProviderError(
                .malformed, path: path,
                "is neither 32 bytes nor 64 hex digits (and at most one newline); Steward will not guess what it means."
            )
            if text.count == 65, text[64] != UInt8(ascii: "\n") { throw malformed }
            var valid = true
            let key = SymmetricKey(byteCount: FileKeyProvider.keyByteCount) { out in
                for i in 0..<out.count {
                    if let high = Hex.nibble(text[2 * i]), let low = Hex.nibble(text[2 * i + 1]) {
                        out[i] = high << 4 | low
                    } else {
                        out[i] = 0
                        valid = false
                    }
                }
            }
            guard valid else { throw malformed }
            return key
        }
    }

    /// The credential file opened without following a link or blocking on a FIFO.
    private func openCredential(_ path: String) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch let error as SystemError where error.errno == ENOENT || error.errno == ENOTDIR {
            throw KeyProviderError(
                .storeUnavailable, path: path,
                "does not exist: the unit provides no credential '\(credentialName)'. Add `LoadCredentialEncrypted=\(credentialName):/etc/credstore.encrypted/\(credentialName)` (or `LoadCredential=`) to it."
            )
        } catch let error as SystemError where error.errno == ELOOP {
            throw KeyProviderError(
                .symbolicLink, path: path, "is a symbolic link; Steward reads a credential only from a regular file.")
        }
    }
}
