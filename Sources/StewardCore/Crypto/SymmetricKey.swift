internal import CStewardOpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Secret key bytes held in memory that is zeroed when the key is released.
///
/// The bytes live in their own allocation, are locked into memory where the system allows
/// (`mlock`, best effort, so they are not written to swap), and are wiped with
/// `OPENSSL_cleanse` when the last reference goes away. Copies never leave the object:
/// crypto functions read the bytes in place.
///
/// ```swift
/// let key = try SymmetricKey.random()
/// let box = try AESGCM.seal(Array("hello".utf8), using: key)
/// ```
public final class SymmetricKey: @unchecked Sendable {
    // @unchecked Sendable: the bytes are written once in init and only read afterwards.
    private let storage: UnsafeMutableRawBufferPointer
    private let locked: Bool

    /// The size of an AES-256 or HMAC-SHA256 key: 32 bytes.
    public static let defaultByteCount = 32

    /// Creates a key by copying `bytes`; the caller should wipe its own copy.
    ///
    /// - Throws: ``CryptoError`` with ``CryptoError/Code/invalidKeySize`` for an empty key.
    public convenience init(copying bytes: some Collection<UInt8>) throws {
        guard !bytes.isEmpty else { throw CryptoError(.invalidKeySize, "a key needs at least one byte") }
        self.init(byteCount: bytes.count) { buffer in
            _ = buffer.initialize(from: bytes)
        }
    }

    /// The largest key ``random(byteCount:)`` makes: 1 KiB (keys are locked in memory).
    public static let maximumByteCount = 1024

    /// Creates a key of `byteCount` random bytes from the system CSPRNG.
    ///
    /// - Throws: ``CryptoError`` with ``CryptoError/Code/invalidKeySize`` for a `byteCount`
    ///   below 1 or above ``maximumByteCount`` (nothing is allocated); `randomUnavailable`
    ///   when the generator cannot be seeded.
    public static func random(byteCount: Int = defaultByteCount) throws -> SymmetricKey {
        guard byteCount > 0 else { throw CryptoError(.invalidKeySize, "a key needs at least one byte") }
        guard byteCount <= maximumByteCount else {
            throw CryptoError(
                .invalidKeySize,
                "a key of \(byteCount) bytes was asked for; random(byteCount:) makes keys of at most \(maximumByteCount) bytes"
            )
        }
        var failure: (any Error)?
        let key = SymmetricKey(byteCount: byteCount) { buffer in
            do { try SecureRandom.fill(UnsafeMutableRawBufferPointer(buffer)) } catch { failure = error }
        }
        if let failure { throw failure }
        return key
    }

    init(byteCount: Int, initialize: (UnsafeMutableBufferPointer<UInt8>) -> Void) {
        storage = .allocate(byteCount: byteCount, alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        locked = mlock(storage.baseAddress, byteCount) == 0
        initialize(storage.bindMemory(to: UInt8.self))
    }

    deinit {
        OPENSSL_cleanse(storage.baseAddress, storage.count)
        if locked { munlock(storage.baseAddress, storage.count) }
        storage.deallocate()
    }

    /// The number of key bytes.
    public var byteCount: Int { storage.count }

    /// Calls `body` with the key bytes. The bytes must not escape `body`.
    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try body(UnsafeRawBufferPointer(storage))
    }

    /// Whether two keys hold the same bytes, compared in constant time.
    public func isEqual(to other: SymmetricKey) -> Bool {
        guard byteCount == other.byteCount else { return false }
        return withUnsafeBytes { a in other.withUnsafeBytes { b in constantTimeEquals(a, b) } }
    }
}

/// Compares two buffers in time that depends only on their length.
func constantTimeEquals(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
    guard a.count == b.count else { return false }
    guard let pa = a.baseAddress, let pb = b.baseAddress else { return true }
    return CRYPTO_memcmp(pa, pb, a.count) == 0
}
