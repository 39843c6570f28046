internal import CStewardOpenSSL

/// SHA-256 over the system libcrypto.
///
/// ```swift
/// let digest = SHA256.hash(Array("abc".utf8))   // 32 bytes
/// ```
public enum SHA256 {
    /// Digest size: 32 bytes.
    public static let byteCount = 32

    /// Returns the SHA-256 digest of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        data.withUnsafeBytes { hash($0) }
    }

    /// Returns the SHA-256 digest of the bytes in `data`.
    ///
    /// Never fails: when libcrypto has no SHA-256 (a broken `OPENSSL_CONF` or installation,
    /// which is outside Steward's control), a plain Swift implementation computes the same
    /// digest.
    public static func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        guard let sha256 = OpenSSLAlgorithms.shared.sha256 else { return SoftwareSHA256.hash(data) }
        var digest = [UInt8](repeating: 0, count: byteCount)
        var size: UInt32 = 0
        let ok = digest.withUnsafeMutableBufferPointer { out in
            EVP_Digest(data.baseAddress, data.count, out.baseAddress, &size, sha256, nil)
        }
        guard ok == 1, size == 32 else {
            ERR_clear_error()
            return SoftwareSHA256.hash(data)
        }
        return digest
    }
}

/// HMAC-SHA256 (RFC 2104) over libcrypto's EVP_MAC interface.
///
/// Use the static function for one message, or an instance to feed a message in parts:
///
/// ```swift
/// let tag = try HMACSHA256.authenticationCode(for: Array("message".utf8), using: key)
/// var mac = try HMACSHA256(key: key)
/// try mac.update(Array("mess".utf8)); try mac.update(Array("age".utf8))
/// let same = try mac.finalize()
/// ```
public struct HMACSHA256: ~Copyable {
    /// Code size: 32 bytes.
    public static let byteCount = 32
    private let context: OpaquePointer

    /// Starts a MAC keyed by `key` (any length; RFC 2104 hashes keys longer than 64 bytes).
    ///
    /// - Throws: ``CryptoError`` when libcrypto cannot set up HMAC.
    public init(key: SymmetricKey) throws {
        try self.init(keyBytes: key)
    }

    private init(keyBytes key: SymmetricKey) throws {
        guard let mac = OpenSSLAlgorithms.shared.hmac, let ctx = EVP_MAC_CTX_new(mac) else {
            throw CryptoError.library("EVP_MAC_CTX_new(HMAC)")
        }
        let ok: Bool = "digest".withCString { name in
            var digestName: [CChar] = Array("SHA256".utf8CString)
            return digestName.withUnsafeMutableBufferPointer { digest in
                var params = [
                    OSSL_PARAM_construct_utf8_string(name, digest.baseAddress, 0), OSSL_PARAM_construct_end(),
                ]
                return key.withUnsafeBytes { k in
                    EVP_MAC_init(ctx, k.baseAddress?.assumingMemoryBound(to: UInt8.self), k.count, &params) == 1
                }
            }
        }
        guard ok else {
            EVP_MAC_CTX_free(ctx)
            throw CryptoError.library("EVP_MAC_init(HMAC-SHA256)")
        }
        context = ctx
    }

    deinit { EVP_MAC_CTX_free(context) }

    /// Adds `data` to the message.
    public mutating func update(_ data: [UInt8]) throws {
        try data.withUnsafeBytes { d in try update(d) }
    }

    /// Adds the bytes in `data` to the message.
    public mutating func update(_ data: UnsafeRawBufferPointer) throws {
        guard data.count > 0 else { return }
        guard EVP_MAC_update(context, data.baseAddress!.assumingMemoryBound(to: UInt8.self), data.count) == 1 else {
            throw CryptoError.library("EVP_MAC_update")
        }
    }

    /// Returns the 32-byte code and ends the MAC.
    public consuming func finalize() throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Self.byteCount)
        var length = 0
        let ok = out.withUnsafeMutableBufferPointer { EVP_MAC_final(context, $0.baseAddress, &length, Self.byteCount) }
        guard ok == 1, length == Self.byteCount else { throw CryptoError.library("EVP_MAC_final") }
        return out
    }

    /// Returns HMAC-SHA256 of `data` under `key`.
    public static func authenticationCode(for data: [UInt8], using key: SymmetricKey) throws -> [UInt8] {
        var mac = try HMACSHA256(key: key)
        try mac.update(data)
        return try mac.finalize()
    }

    /// Whether `code` is HMAC-SHA256 of `data` under `key`, compared in constant time.
    public static func isValidAuthenticationCode(_ code: [UInt8], for data: [UInt8], using key: SymmetricKey) throws
        -> Bool
    {
        let expected = try authenticationCode(for: data, using: key)
        return expected.withUnsafeBytes { a in code.withUnsafeBytes { b in constantTimeEquals(a, b) } }
    }
}
