/// Supplies the secret keys Steward encrypts with.
///
/// The default is ``FileKeyProvider``; a host may supply keys from a keyring, a TPM or a
/// hardware security module instead.
///
/// Implementations must:
/// - return the same key bytes for the same name on every call and across restarts;
/// - never create a key when `createIfMissing` is false, and throw instead;
/// - create a missing key atomically: no other process may ever see a partial key;
/// - make ``destroyKey(named:)`` final: after it returns, no copy of the key is reachable,
///   because erasing the vault relies on it (crypto-erase);
/// - be safe to call from any thread.
public protocol KeyProvider: Sendable {
    /// Returns the key called `name`, creating a random 32-byte key first when none exists
    /// and `createIfMissing` is true.
    ///
    /// - Throws: an error when the key is missing (and may not be created), unreadable or
    ///   stored insecurely.
    func key(named name: String, createIfMissing: Bool) throws -> SymmetricKey

    /// Destroys the key called `name`. Destroying a missing key succeeds.
    func destroyKey(named name: String) throws
}
