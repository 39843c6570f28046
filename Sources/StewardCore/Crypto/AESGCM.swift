internal import CStewardOpenSSL
import Synchronization

/// AES-256-GCM authenticated encryption over the system libcrypto (EVP interface).
///
/// Every seal uses a fresh random 96-bit nonce from the CSPRNG (drawn in blocks; see
/// `NoncePool`) and produces a 128-bit tag.
/// Associated data is authenticated but not encrypted: bind a ciphertext to its context
/// (a record header, a file name) so it cannot be moved elsewhere undetected.
///
/// ```swift
/// let key = try SymmetricKey.random()
/// let box = try AESGCM.seal(Array("secret".utf8), using: key, authenticating: Array("header".utf8))
/// let plain = try AESGCM.open(box, using: key, authenticating: Array("header".utf8))
/// ```
///
/// For many messages under one key, create a ``AESGCM/Cipher`` once and reuse it: it keeps
/// the expanded key schedule instead of rebuilding it per message.
public enum AESGCM {
    /// Key size: 32 bytes (AES-256).
    public static let keyByteCount = 32
    /// Nonce size: 12 bytes (96 bits), the size GCM is specified for.
    public static let nonceByteCount = 12
    /// Tag size: 16 bytes (128 bits).
    public static let tagByteCount = 16
    /// Bytes a sealed box adds to its plaintext: nonce and tag.
    public static let overhead = nonceByteCount + tagByteCount

    /// A nonce, ciphertext and tag; ``combined`` is the three concatenated in that order.
    public struct SealedBox: Hashable, Sendable {
        /// The 12-byte nonce the message was sealed with.
        public let nonce: [UInt8]
        /// The encrypted bytes, as long as the plaintext.
        public let ciphertext: [UInt8]
        /// The 16-byte authentication tag.
        public let tag: [UInt8]

        /// Creates a box from its parts.
        ///
        /// - Throws: ``CryptoError/Code/invalidInput`` when the nonce is not 12 bytes or the
        ///   tag is not 16 bytes.
        public init(nonce: [UInt8], ciphertext: [UInt8], tag: [UInt8]) throws {
            guard nonce.count == AESGCM.nonceByteCount else {
                throw CryptoError(.invalidInput, "an AES-GCM nonce has 12 bytes, got \(nonce.count)")
            }
            guard tag.count == AESGCM.tagByteCount else {
                throw CryptoError(.invalidInput, "an AES-GCM tag has 16 bytes, got \(tag.count)")
            }
            self.nonce = nonce
            self.ciphertext = ciphertext
            self.tag = tag
        }

        /// Splits `combined` (nonce ‖ ciphertext ‖ tag) into a box.
        ///
        /// - Throws: ``CryptoError/Code/invalidInput`` when `combined` is shorter than 28 bytes.
        public init(combined: [UInt8]) throws {
            guard combined.count >= AESGCM.overhead else {
                throw CryptoError(
                    .invalidInput, "a sealed box has at least 28 bytes (nonce and tag), got \(combined.count)")
            }
            let tagStart = combined.count - AESGCM.tagByteCount
            try self.init(
                nonce: Array(combined[..<AESGCM.nonceByteCount]),
                ciphertext: Array(combined[AESGCM.nonceByteCount..<tagStart]),
                tag: Array(combined[tagStart...]))
        }

        /// Nonce ‖ ciphertext ‖ tag.
        public var combined: [UInt8] { nonce + ciphertext + tag }
    }

    /// Seals `plaintext` under `key` with a fresh random nonce.
    ///
    /// - Parameters:
    ///   - plaintext: The bytes to encrypt.
    ///   - key: A 32-byte key.
    ///   - aad: Associated data that must be presented again to open the box.
    /// - Throws: ``CryptoError`` for a key that is not 32 bytes or a libcrypto failure.
    public static func seal(
        _ plaintext: [UInt8], using key: SymmetricKey, authenticating aad: [UInt8] = []
    ) throws -> SealedBox {
        try Cipher(key: key).seal(plaintext, authenticating: aad)
    }

    /// Opens a box sealed under `key` with the same associated data.
    ///
    /// - Throws: ``CryptoError/Code/authenticationFailed`` when the ciphertext, tag, nonce or
    ///   associated data was altered or the key is wrong. No plaintext is returned then.
    public static func open(
        _ box: SealedBox, using key: SymmetricKey, authenticating aad: [UInt8] = []
    ) throws -> [UInt8] {
        try Cipher(key: key).open(box, authenticating: aad)
    }

    /// A keyed AES-256-GCM context that seals and opens many messages.
    ///
    /// Safe to share between tasks: calls are serialised by a lock, which costs an uncontended
    /// atomic operation. The key schedule is computed once, so small messages stay cheap.
    public final class Cipher: Sendable {
        private let contexts: Mutex<Contexts>
        private let key: SymmetricKey

        /// Creates a cipher for a 32-byte `key`.
        ///
        /// - Throws: ``CryptoError/Code/invalidKeySize`` for any other key size.
        public init(key: SymmetricKey) throws {
            guard key.byteCount == AESGCM.keyByteCount else {
                throw CryptoError(.invalidKeySize, "AES-256-GCM needs a 32-byte key, got \(key.byteCount) bytes")
            }
            self.key = key
            self.contexts = Mutex(try Contexts(key: key))
        }

        /// Seals `plaintext` with a fresh random nonce.
        public func seal(_ plaintext: [UInt8], authenticating aad: [UInt8] = []) throws -> SealedBox {
            var combined = [UInt8](repeating: 0, count: plaintext.count + AESGCM.overhead)
            try plaintext.withUnsafeBytes { p in
                try aad.withUnsafeBytes { a in
                    try combined.withUnsafeMutableBytes { out in
                        try seal(p, authenticating: a, into: out)
                    }
                }
            }
            return try SealedBox(combined: combined)
        }

        /// Opens `box`, checking its tag against the associated data.
        public func open(_ box: SealedBox, authenticating aad: [UInt8] = []) throws -> [UInt8] {
            let combined = box.combined
            var plaintext = [UInt8](repeating: 0, count: box.ciphertext.count)
            try combined.withUnsafeBytes { c in
                try aad.withUnsafeBytes { a in
                    try plaintext.withUnsafeMutableBytes { out in
                        try open(c, authenticating: a, into: out)
                    }
                }
            }
            return plaintext
        }

        /// Seals `plaintext` into `output`, which receives nonce ‖ ciphertext ‖ tag and must be
        /// exactly `plaintext.count + AESGCM.overhead` bytes. Copies nothing else.
        public func seal(
            _ plaintext: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
            into output: UnsafeMutableRawBufferPointer
        ) throws {
            guard output.count == plaintext.count + AESGCM.overhead else {
                throw CryptoError(.invalidInput, "the output buffer must be the plaintext size plus 28 bytes")
            }
            try contexts.withLock { c in
                try c.nonces.next(into: UnsafeMutableRawBufferPointer(rebasing: output[..<AESGCM.nonceByteCount]))
                try c.seal(
                    plaintext,
                    aad: (
                        aad, UnsafeRawBufferPointer(start: nil, count: 0), UnsafeRawBufferPointer(start: nil, count: 0)
                    ), output: output)
            }
        }

        /// Seals with associated data given in three parts (authenticated as their
        /// concatenation), so callers need not copy header fields into one buffer.
        func seal(
            _ plaintext: UnsafeRawBufferPointer, authenticating a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer,
            _ c: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
        ) throws {
            guard output.count == plaintext.count + AESGCM.overhead else {
                throw CryptoError(.invalidInput, "the output buffer must be the plaintext size plus 28 bytes")
            }
            try contexts.withLock { c2 in
                try c2.nonces.next(into: UnsafeMutableRawBufferPointer(rebasing: output[..<AESGCM.nonceByteCount]))
                try c2.seal(plaintext, aad: (a, b, c), output: output)
            }
        }

        /// Opens with associated data given in three parts (see the matching `seal`).
        func open(
            _ sealed: UnsafeRawBufferPointer, authenticating a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer,
            _ c: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
        ) throws {
            guard sealed.count >= AESGCM.overhead, output.count == sealed.count - AESGCM.overhead else {
                throw CryptoError(
                    .invalidInput, "a sealed box has at least 28 bytes and the output is 28 bytes shorter")
            }
            try contexts.withLock { c2 in try c2.open(sealed, aad: (a, b, c), output: output) }
        }

        /// Seals with a caller-chosen nonce. Only for known-answer tests: reusing a nonce under
        /// one key destroys GCM's security.
        func seal(
            _ plaintext: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
            nonce: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer
        ) throws {
            guard output.count == plaintext.count + AESGCM.overhead, nonce.count == AESGCM.nonceByteCount else {
                throw CryptoError(.invalidInput, "bad nonce or output size")
            }
            UnsafeMutableRawBufferPointer(rebasing: output[..<AESGCM.nonceByteCount]).copyMemory(from: nonce)
            try contexts.withLock { c in
                try c.seal(
                    plaintext,
                    aad: (
                        aad, UnsafeRawBufferPointer(start: nil, count: 0), UnsafeRawBufferPointer(start: nil, count: 0)
                    ), output: output)
            }
        }

        /// Opens `sealed` (nonce ‖ ciphertext ‖ tag) into `output`, which must be exactly
        /// `sealed.count - AESGCM.overhead` bytes. On failure `output` is zeroed.
        public func open(
            _ sealed: UnsafeRawBufferPointer, authenticating aad: UnsafeRawBufferPointer,
            into output: UnsafeMutableRawBufferPointer
        ) throws {
            guard sealed.count >= AESGCM.overhead, output.count == sealed.count - AESGCM.overhead else {
                throw CryptoError(
                    .invalidInput, "a sealed box has at least 28 bytes and the output is 28 bytes shorter")
            }
            try contexts.withLock { c in
                try c.open(
                    sealed,
                    aad: (
                        aad, UnsafeRawBufferPointer(start: nil, count: 0), UnsafeRawBufferPointer(start: nil, count: 0)
                    ), output: output)
            }
        }
    }
}

/// The two libcrypto contexts of a ``AESGCM/Cipher``, keyed once.
private struct Contexts: ~Copyable, @unchecked Sendable {
    // @unchecked Sendable: the contexts are used only inside the owning cipher's Mutex.
    // OpaquePointers to EVP_CIPHER_CTX; only touched under the cipher's mutex.
    let encrypt: OpaquePointer
    let decrypt: OpaquePointer
    var nonces = NoncePool()

    init(key: SymmetricKey) throws {
        guard let cipher = OpenSSLAlgorithms.shared.aes256gcm else {
            throw CryptoError.library("EVP_CIPHER_fetch(AES-256-GCM)")
        }
        guard let e = EVP_CIPHER_CTX_new() else { throw CryptoError.library("EVP_CIPHER_CTX_new") }
        guard let d = EVP_CIPHER_CTX_new() else {
            EVP_CIPHER_CTX_free(e)
            throw CryptoError.library("EVP_CIPHER_CTX_new")
        }
        let ok = key.withUnsafeBytes { k in
            let kp = k.baseAddress!.assumingMemoryBound(to: UInt8.self)
            return EVP_EncryptInit_ex2(e, cipher, kp, nil, nil) == 1
                && EVP_DecryptInit_ex2(d, cipher, kp, nil, nil) == 1
        }
        guard ok else {
            EVP_CIPHER_CTX_free(e)
            EVP_CIPHER_CTX_free(d)
            throw CryptoError.library("EVP_EncryptInit_ex2")
        }
        encrypt = e
        decrypt = d
    }

    deinit {
        // EVP_CIPHER_CTX_free cleanses the key schedule.
        EVP_CIPHER_CTX_free(encrypt)
        EVP_CIPHER_CTX_free(decrypt)
    }

    typealias AADParts = (UnsafeRawBufferPointer, UnsafeRawBufferPointer, UnsafeRawBufferPointer)

    /// Feeds the associated data, part by part (GCM allows AAD in any number of updates).
    private func addAAD(_ parts: AADParts, to ctx: OpaquePointer, encrypting: Bool) throws {
        try addAAD(parts.0, to: ctx, encrypting: encrypting)
        try addAAD(parts.1, to: ctx, encrypting: encrypting)
        try addAAD(parts.2, to: ctx, encrypting: encrypting)
    }

    private func addAAD(_ part: UnsafeRawBufferPointer, to ctx: OpaquePointer, encrypting: Bool) throws {
        guard part.count > 0 else { return }
        var length: Int32 = 0
        let p = part.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let ok =
            encrypting
            ? EVP_EncryptUpdate(ctx, nil, &length, p, Int32(part.count))
            : EVP_DecryptUpdate(ctx, nil, &length, p, Int32(part.count))
        guard ok == 1 else {
            throw CryptoError.library(encrypting ? "EVP_EncryptUpdate(aad)" : "EVP_DecryptUpdate(aad)")
        }
    }

    func seal(_ plaintext: UnsafeRawBufferPointer, aad: AADParts, output: UnsafeMutableRawBufferPointer) throws {
        guard plaintext.count <= Int(Int32.max), aad.0.count + aad.1.count + aad.2.count <= Int(Int32.max) else {
            throw CryptoError(.invalidInput, "AES-GCM messages are limited to 2 GiB here")
        }
        let out = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var length: Int32 = 0
        guard EVP_EncryptInit_ex2(encrypt, nil, nil, out, nil) == 1 else {
            throw CryptoError.library("EVP_EncryptInit_ex2")
        }
        try addAAD(aad, to: encrypt, encrypting: true)
        let body = out + AESGCM.nonceByteCount
        var written: Int32 = 0
        if plaintext.count > 0 {
            guard
                EVP_EncryptUpdate(
                    encrypt, body, &written, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    Int32(plaintext.count)) == 1
            else {
                throw CryptoError.library("EVP_EncryptUpdate")
            }
        }
        guard EVP_EncryptFinal_ex(encrypt, body + Int(written), &length) == 1 else {
            throw CryptoError.library("EVP_EncryptFinal_ex")
        }
        let tag = body + plaintext.count
        guard EVP_CIPHER_CTX_ctrl(encrypt, EVP_CTRL_AEAD_GET_TAG, Int32(AESGCM.tagByteCount), tag) == 1 else {
            throw CryptoError.library("EVP_CIPHER_CTX_ctrl(GET_TAG)")
        }
    }

    func open(_ sealed: UnsafeRawBufferPointer, aad: AADParts, output: UnsafeMutableRawBufferPointer) throws {
        guard sealed.count <= Int(Int32.max), aad.0.count + aad.1.count + aad.2.count <= Int(Int32.max) else {
            throw CryptoError(.invalidInput, "AES-GCM messages are limited to 2 GiB here")
        }
        let base = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let bodyCount = sealed.count - AESGCM.overhead
        var length: Int32 = 0
        guard EVP_DecryptInit_ex2(decrypt, nil, nil, base, nil) == 1 else {
            throw CryptoError.library("EVP_DecryptInit_ex2")
        }
        try addAAD(aad, to: decrypt, encrypting: false)
        var written: Int32 = 0
        if bodyCount > 0 {
            guard
                EVP_DecryptUpdate(
                    decrypt, output.baseAddress!.assumingMemoryBound(to: UInt8.self), &written,
                    base + AESGCM.nonceByteCount, Int32(bodyCount)) == 1
            else {
                throw CryptoError.library("EVP_DecryptUpdate")
            }
        }
        var tag = (UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &tag) {
            $0.copyMemory(
                from: UnsafeRawBufferPointer(
                    start: base + AESGCM.nonceByteCount + bodyCount, count: AESGCM.tagByteCount))
        }
        guard
            withUnsafeMutableBytes(
                of: &tag,
                { EVP_CIPHER_CTX_ctrl(decrypt, EVP_CTRL_AEAD_SET_TAG, Int32(AESGCM.tagByteCount), $0.baseAddress) })
                == 1
        else {
            throw CryptoError.library("EVP_CIPHER_CTX_ctrl(SET_TAG)")
        }
        // GCM's final step writes no bytes; give it a scratch block so an empty output works.
        var scratch = (UInt64(0), UInt64(0))
        let final = withUnsafeMutableBytes(of: &scratch) {
            EVP_DecryptFinal_ex(decrypt, $0.baseAddress!.assumingMemoryBound(to: UInt8.self), &length)
        }
        guard final > 0 else {
            ERR_clear_error()
            if output.count > 0 { OPENSSL_cleanse(output.baseAddress, output.count) }
            throw CryptoError(
                .authenticationFailed,
                "the sealed data did not authenticate: it was altered or truncated, or the key or associated data differs"
            )
        }
    }
}

/// Algorithms fetched from libcrypto's default provider once per process. OpenSSL 3 fetches
/// implicitly on every init otherwise, which costs more than sealing a small record.
struct OpenSSLAlgorithms: @unchecked Sendable {
    // @unchecked Sendable: fetched algorithm objects are immutable and documented thread-safe.
    let aes256gcm: OpaquePointer?
    let sha256: OpaquePointer?
    let hmac: OpaquePointer?
    let chacha20poly1305: OpaquePointer?

    static let shared = OpenSSLAlgorithms(
        aes256gcm: EVP_CIPHER_fetch(nil, "AES-256-GCM", nil),
        sha256: EVP_MD_fetch(nil, "SHA256", nil),
        hmac: EVP_MAC_fetch(nil, "HMAC", nil),
        chacha20poly1305: EVP_CIPHER_fetch(nil, "ChaCha20-Poly1305", nil))
}
