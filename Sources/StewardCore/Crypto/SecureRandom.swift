internal import CStewardOpenSSL

/// Random bytes from the system's CSPRNG (OpenSSL's DRBG, seeded by the kernel).
public enum SecureRandom {
    /// Fills `buffer` with cryptographically secure random bytes.
    ///
    /// - Throws: ``CryptoError`` with code ``CryptoError/Code/randomUnavailable`` when the
    ///   generator cannot be seeded.
    public static func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        var offset = 0
        while offset < buffer.count {
            let chunk = min(buffer.count - offset, Int(Int32.max))
            guard RAND_bytes(base.advanced(by: offset).assumingMemoryBound(to: UInt8.self), Int32(chunk)) == 1 else {
                ERR_clear_error()
                throw CryptoError(
                    .randomUnavailable,
                    "the system random generator produced no bytes; check that /dev/urandom or getrandom(2) is available"
                )
            }
            offset += chunk
        }
    }

    /// The most bytes ``bytes(count:)`` returns at once: 1 MiB. Fill a buffer of your own with
    /// ``fill(_:)`` for more.
    public static let maximumCount = 1 << 20

    /// Returns `count` cryptographically secure random bytes.
    ///
    /// ```swift
    /// let salt = try SecureRandom.bytes(count: 16)
    /// ```
    ///
    /// - Parameter count: 0 to ``maximumCount``.
    /// - Throws: ``CryptoError`` with ``CryptoError/Code/invalidInput`` for a negative `count`
    ///   or one above ``maximumCount`` (nothing is allocated); `randomUnavailable` when the
    ///   generator cannot be seeded.
    public static func bytes(count: Int) throws -> [UInt8] {
        guard count >= 0, count <= maximumCount else {
            throw CryptoError(
                .invalidInput,
                "asked for \(count) random bytes; bytes(count:) gives 0 to \(maximumCount). Use fill(_:) with a buffer of your own for more."
            )
        }
        var result = [UInt8](repeating: 0, count: count)
        try result.withUnsafeMutableBytes { buffer in try fill(buffer) }
        return result
    }

    /// Returns a random `UInt64`.
    public static func uint64() throws -> UInt64 {
        var value: UInt64 = 0
        try withUnsafeMutableBytes(of: &value) { buffer in try fill(buffer) }
        return value
    }
}
