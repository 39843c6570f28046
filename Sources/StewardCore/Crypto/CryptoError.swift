internal import CStewardOpenSSL

/// An error from Steward's cryptography.
///
/// Compare ``code`` against the static members of ``CryptoError/Code``; new codes may be added
/// in later releases without breaking existing clients.
public struct CryptoError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case authenticationFailed, invalidKeySize, invalidInput, randomUnavailable, library
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The ciphertext, tag, nonce or associated data did not authenticate: the data was
        /// altered, truncated, or sealed with another key.
        public static let authenticationFailed = Code(.authenticationFailed)
        /// A key had the wrong number of bytes for the algorithm.
        public static let invalidKeySize = Code(.invalidKeySize)
        /// An input had the wrong shape (a short sealed box, an oversized buffer...).
        public static let invalidInput = Code(.invalidInput)
        /// The system CSPRNG could not produce random bytes.
        public static let randomUnavailable = Code(.randomUnavailable)
        /// libcrypto reported an internal failure.
        public static let library = Code(.library)

        /// The code's name, such as `authenticationFailed`.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// A sentence that says what happened and, where it helps, what to do.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// An error for a failed libcrypto call, carrying OpenSSL's own reason from its error queue.
    static func library(_ function: String) -> CryptoError {
        var reason = "no reason given"
        let packed = ERR_get_error()
        if packed != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(packed, &buffer, buffer.count)
            reason = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        ERR_clear_error()
        return CryptoError(.library, "libcrypto \(function) failed: \(reason)")
    }

    /// `CryptoError(CODE): MESSAGE`, for logs.
    public var description: String { "CryptoError(\(code)): \(message)" }
}
