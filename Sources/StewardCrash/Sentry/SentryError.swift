/// An error from Steward's Sentry encoding: a DSN that cannot be parsed or an envelope that
/// cannot be decoded.
///
/// Compare ``code`` against the static members of ``SentryError/Code``; codes may be added in
/// later releases without breaking clients. ``message`` says what is wrong and what was expected.
/// A message never contains a DSN's secret key.
///
/// ```swift
/// do {
///     _ = try SentryDSN("ftp://key@sentry.example.com/42")
/// } catch let error as SentryError where error.code == .unsupportedScheme {
///     print(error.message) // …use http or https…
/// }
/// ```
public struct SentryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case emptyDSN, malformedDSN, unsupportedScheme, missingPublicKey, missingHost, invalidPort
            case missingProjectID, invalidProjectID, malformedEnvelope
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The DSN is empty (or only white space).
        public static let emptyDSN = Code(.emptyDSN)
        /// The DSN is not of the shape `{PROTOCOL}://{PUBLIC_KEY}@{HOST}/{PROJECT_ID}` at all
        /// (no `://`, a query or fragment, characters a URL may not hold).
        public static let malformedDSN = Code(.malformedDSN)
        /// The DSN's scheme is neither `http` nor `https`.
        public static let unsupportedScheme = Code(.unsupportedScheme)
        /// The DSN has no public key before the `@`.
        public static let missingPublicKey = Code(.missingPublicKey)
        /// The DSN has no host after the `@`.
        public static let missingHost = Code(.missingHost)
        /// The DSN's port is not a number from 1 to 65535.
        public static let invalidPort = Code(.invalidPort)
        /// The DSN has no project id after the last `/`.
        public static let missingProjectID = Code(.missingProjectID)
        /// The DSN's project id is not a decimal number.
        public static let invalidProjectID = Code(.invalidProjectID)
        /// The bytes are not a well-formed Sentry envelope.
        public static let malformedEnvelope = Code(.malformedEnvelope)

        /// The code's name, for logs.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// What is wrong and what was expected.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `SentryError(code): message`, for logs.
    public var description: String { "SentryError(\(code)): \(message)" }
}
