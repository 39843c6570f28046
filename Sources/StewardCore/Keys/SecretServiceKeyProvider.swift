internal import CStewardOpenSSL
internal import CStewardSecret
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Keys in the desktop keyring, through the Secret Service API (GNOME Keyring, KWallet,
/// KeePassXC): for apps that run in a user's desktop session.
///
/// Each key is one item of the default collection (the login keyring), labelled
/// `Steward key 'NAME' of APPLICATION`, with three attributes: `steward-application` (for the
/// people reading the keyring), `steward-scope` (the facade uses the data folder, so two data
/// folders never share a key) and `steward-key` (the name); it is found by the last two. The secret is the key's 32 bytes as 64 lowercase hex digits;
/// anything else found there is refused with ``KeyProviderError/Code/malformed``.
///
/// libsecret (`libsecret-1.so.0`) is loaded at first use, not linked: hosts without it run
/// Steward all the same, and this provider then throws
/// ``KeyProviderError/Code/storeUnavailable``. The keyring is reached over the process's D-Bus
/// session bus (`DBUS_SESSION_BUS_ADDRESS`, or `$XDG_RUNTIME_DIR/bus`); without one it throws
/// at once, and never starts a bus of its own.
///
/// It never prompts: a locked keyring or item gives ``KeyProviderError/Code/locked`` (unlock
/// the keyring, then try again), and nothing is ever stored anywhere else instead.
///
/// ```swift
/// let keys = SecretServiceKeyProvider(application: "org.example.notes", scope: "/home/ana/.local/share/notes")
/// let key = try keys.key(named: "vault", createIfMissing: true)
/// ```
///
/// Creation is atomic in the contract's sense: an item is created without replacing any, then
/// every creator reads back and uses the earliest item, and one that lost the race deletes its
/// own. ``destroyKey(named:)`` deletes every matching item and fails, deleting nothing, while
/// one of them is locked; what the keyring keeps on disk after a deletion is up to it.
public struct SecretServiceKeyProvider: KeyProvider {
    /// Who the keys belong to: shown in the item's label and stored as `steward-application`
    /// (not matched: a key is found by scope and name).
    public let application: String
    /// Which set of keys: matched as `steward-scope`.
    public let scope: String

    /// A provider for the keys of `application` in `scope`.
    public init(application: String, scope: String) {
        self.application = application
        self.scope = scope
    }

    /// The length of the secret: 32 bytes as hex digits.
    static let secretLength = 2 * FileKeyProvider.keyByteCount

    /// Whether the process has a session bus and a Secret Service answers on it. Loads
    /// libsecret on first use; makes no item.
    ///
    /// - Throws: ``KeyProviderError`` with ``KeyProviderError/Code/storeUnavailable`` saying why
    ///   not (no libsecret, no session bus, no service).
    public static func checkAvailable() throws {
        try checkSessionBus()
        var error = steward_secret_error()
        let status = steward_secret_probe(&error)
        if status != STEWARD_SECRET_OK { throw failure(status, error, path: "secret-service") }
    }

    /// Returns the key called `name` from the keyring, first storing a new random key when
    /// none exists and `createIfMissing` is true.
    ///
    /// - Parameters:
    ///   - name: 1-64 letters, digits, `.`, `-` or `_`, not starting with `.`.
    ///   - createIfMissing: Whether a missing key is created.
    /// - Returns: The key's 32 bytes.
    /// - Throws: ``KeyProviderError``: `storeUnavailable` (no libsecret, no session bus, no
    ///   Secret Service, no default collection), `locked`, `missing` (and not created),
    ///   `malformed` (the item holds something else than 64 hex digits), `storeFailed`.
    public func key(named name: String, createIfMissing: Bool) throws -> SymmetricKey {
        try KeyFileStore.validate(name)
        try Self.checkSessionBus()
        let path = locator(name)
        var buffer = [UInt8](repeating: 0, count: Self.secretLength)
        defer { wipe(&buffer) }
        var length = 0
        var error = steward_secret_error()
        var status = withItem(name) { item in
            steward_secret_lookup(item, &buffer, buffer.count, &length, &error)
        }
        if status == STEWARD_SECRET_NOT_FOUND {
            guard createIfMissing else {
                throw KeyProviderError(
                    .missing, path: path,
                    "the keyring holds no such key; the data it protected cannot be read without it. If the data folder moved, its key is still filed under the old folder in the keyring."
                )
            }
            var fresh = try Self.freshSecret()
            defer { wipe(&fresh) }
            let label = "Steward key '\(name)' of \(application)"
            status = withItem(name) { item in
                steward_secret_create(item, label, fresh, fresh.count, &buffer, buffer.count, &length, &error)
            }
        }
        guard status == STEWARD_SECRET_OK else { throw Self.failure(status, error, path: path) }
        return try Self.parse(buffer, length: length, path: path)
    }

    /// Deletes every keyring item holding the key called `name`. Destroying a missing key
    /// succeeds.
    ///
    /// - Throws: ``KeyProviderError``: `locked` (nothing was deleted: unlock the keyring and
    ///   erase again), `storeUnavailable`, `storeFailed`, `invalidName`.
    public func destroyKey(named name: String) throws {
        try KeyFileStore.validate(name)
        try Self.checkSessionBus()
        var error = steward_secret_error()
        let status = withItem(name) { item in steward_secret_clear(item, &error) }
        guard status == STEWARD_SECRET_OK || status == STEWARD_SECRET_NOT_FOUND else {
            throw Self.failure(status, error, path: locator(name))
        }
    }

    // MARK: - Private

    private func locator(_ name: String) -> String { "secret-service:\(scope)/\(name)" }

    private func withItem(_ name: String, _ body: (steward_secret_item) -> steward_secret_status)
        -> steward_secret_status
    {
        application.withCString { application in
            scope.withCString { scope in
                name.withCString { name in
                    body(steward_secret_item(application: application, scope: scope, name: name))
                }
            }
        }
    }

    /// 32 random bytes as 64 lowercase hex digits.
    private static func freshSecret() throws -> [UInt8] {
        let key = try SymmetricKey.random(byteCount: FileKeyProvider.keyByteCount)
        return key.withUnsafeBytes { bytes in
            var text = [UInt8](repeating: 0, count: secretLength)
            for (i, byte) in bytes.enumerated() {
                text[2 * i] = Hex.digits[Int(byte >> 4)]
                text[2 * i + 1] = Hex.digits[Int(byte & 0xF)]
            }
            return text
        }
    }

    /// The key spelled by the secret: exactly 64 hex digits, nothing else.
    static func parse(_ text: [UInt8], length: Int, path: String) throws -> SymmetricKey {
        guard length == secretLength, text.count >= secretLength else {
            throw KeyProviderError(
                .malformed, path: path,
                "the keyring item holds \(length) bytes, not the \(secretLength) hex digits Steward stores: it was changed by someone else. Steward will not use it."
            )
        }
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
        guard valid else {
            throw KeyProviderError(
                .malformed, path: path,
                "the keyring item does not hold 64 hex digits: it was changed by someone else. Steward will not use it."
            )
        }
        return key
    }

    /// Fails without a session bus, before glib would try to start one (`dbus-launch`).
    private static func checkSessionBus() throws {
        if let address = getenv("DBUS_SESSION_BUS_ADDRESS"), address.pointee != 0 { return }
        if let runtime = getenv("XDG_RUNTIME_DIR"), runtime.pointee != 0 {
            var st = stat()
            if lstat(String(cString: runtime) + "/bus", &st) == 0, (st.st_mode & S_IFMT) == S_IFSOCK { return }
        }
        throw KeyProviderError(
            .storeUnavailable, path: "secret-service",
            "this process has no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set), so no keyring can be reached. The Secret Service is for desktop sessions; a service keeps its key in a systemd credential (SystemdCredentialKeyProvider) or a file."
        )
    }

    private static func failure(_ status: steward_secret_status, _ error: steward_secret_error, path: String)
        -> KeyProviderError
    {
        let said = withUnsafeBytes(of: error.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        switch status {
        case STEWARD_SECRET_NO_LIBRARY:
            return KeyProviderError(
                .storeUnavailable, path: path,
                "libsecret is not installed (\(said)). Install it (Debian and Ubuntu: libsecret-1-0), or choose another KeyProvider."
            )
        case STEWARD_SECRET_NO_SERVICE:
            return KeyProviderError(
                .storeUnavailable, path: path,
                "no Secret Service answers on the session bus (\(said)). Start the desktop's keyring (GNOME Keyring, KWallet), or choose another KeyProvider."
            )
        case STEWARD_SECRET_NO_COLLECTION:
            return KeyProviderError(
                .storeUnavailable, path: path,
                "the keyring has no default collection to keep the key in. Create one and make it the default (Seahorse: File > New > Password Keyring), then try again."
            )
        case STEWARD_SECRET_LOCKED:
            return KeyProviderError(
                .locked, path: path,
                "the keyring is locked (\(said)). Unlock it (log in to the desktop session, or unlock the login keyring in Seahorse or KWallet), then try again; Steward does not prompt and keeps the key nowhere else."
            )
        case STEWARD_SECRET_TOO_LONG:
            return KeyProviderError(
                .malformed, path: path,
                "the keyring item holds more than the \(secretLength) hex digits Steward stores: it was changed by someone else. Steward will not use it."
            )
        default:
            return KeyProviderError(.storeFailed, path: path, "the keyring refused the request: \(said)")
        }
    }
}

/// Zeroes a buffer that held key material (`OPENSSL_cleanse`: not optimised away).
private func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        if let base = raw.baseAddress { OPENSSL_cleanse(base, raw.count) }
    }
}
