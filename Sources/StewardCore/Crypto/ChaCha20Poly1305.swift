internal import CStewardOpenSSL

/// ChaCha20-Poly1305 (RFC 8439) through libcrypto: opens what the crash handler seals with its
/// own allocation-free implementation, so each checks the other.
package enum ChaCha20Poly1305 {
    /// Key size: 32 bytes.
    package static let keyByteCount = 32
    /// Nonce size: 12 bytes.
    package static let nonceByteCount = 12
    /// Tag size: 16 bytes.
    package static let tagByteCount = 16

    /// Decrypts `ciphertext` and checks `tag` over it and `aad`.
    ///
    /// - Throws: ``CryptoError`` `authenticationFailed` when the tag does not match (the data,
    ///   the associated data, the nonce or the key differs), `invalidInput` for wrong sizes.
    package static func open(
        _ ciphertext: ArraySlice<UInt8>, tag: ArraySlice<UInt8>, key: [UInt8], nonce: [UInt8], aad: [UInt8]
    ) throws -> [UInt8] {
        guard key.count == keyByteCount, nonce.count == nonceByteCount, tag.count == tagByteCount,
            ciphertext.count <= Int(Int32.max), aad.count <= Int(Int32.max)
        else {
            throw CryptoError(.invalidInput, "ChaCha20-Poly1305 takes a 32-byte key, a 12-byte nonce and a 16-byte tag")
        }
        guard let cipher = OpenSSLAlgorithms.shared.chacha20poly1305 else {
            throw CryptoError.library("EVP_CIPHER_fetch(ChaCha20-Poly1305)")
        }
        guard let ctx = EVP_CIPHER_CTX_new() else { throw CryptoError.library("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(ctx) }
        guard EVP_DecryptInit_ex2(ctx, cipher, key, nonce, nil) == 1 else {
            throw CryptoError.library("EVP_DecryptInit_ex2")
        }
        var length: Int32 = 0
        if !aad.isEmpty {
            guard EVP_DecryptUpdate(ctx, nil, &length, aad, Int32(aad.count)) == 1 else {
                throw CryptoError.library("EVP_DecryptUpdate(aad)")
            }
        }
        var output = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var written: Int32 = 0
        if !ciphertext.isEmpty {
            let ok = ciphertext.withUnsafeBufferPointer { c in
                output.withUnsafeMutableBufferPointer { o in
                    EVP_DecryptUpdate(ctx, o.baseAddress, &written, c.baseAddress, Int32(c.count))
                }
            }
            guard ok == 1 else { throw CryptoError.library("EVP_DecryptUpdate") }
        }
        var tagBytes = Array(tag)
        guard EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, Int32(tagByteCount), &tagBytes) == 1 else {
            throw CryptoError.library("EVP_CIPHER_CTX_ctrl(SET_TAG)")
        }
        let final = output.withUnsafeMutableBufferPointer { o in
            EVP_DecryptFinal_ex(ctx, o.baseAddress! + Int(written), &length)
        }
        guard final > 0 else {
            ERR_clear_error()
            output.withUnsafeMutableBytes { OPENSSL_cleanse($0.baseAddress, $0.count) }
            throw CryptoError(
                .authenticationFailed,
                "the sealed chunk did not authenticate: it was altered or cut, or the key differs")
        }
        return Array(output.prefix(ciphertext.count))
    }
}
