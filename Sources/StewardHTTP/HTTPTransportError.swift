/// A configuration an ``HTTPTransport`` refuses: an endpoint that is not HTTPS (outside
/// loopback), a CA bundle that cannot be read, a malformed pin, a timeout that is not positive.
///
/// Thrown by ``HTTPTransport/init(endpoint:configuration:wallClock:)`` and
/// ``HTTPTransport/init(endpoints:configuration:wallClock:)``; never by a send, which reports
/// everything through `Delivery`.
///
/// ```swift
/// do {
///     _ = try HTTPTransport(endpoint: URL(string: "http://collector.example/v1/logs")!)
/// } catch let error as HTTPTransportError where error.code == .insecureEndpoint {
///     print(error.message)  // plain HTTP is allowed for loopback hosts only ...
/// }
/// ```
public struct HTTPTransportError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidEndpoint, unsupportedScheme, insecureEndpoint, unreadableCABundle, invalidPin, invalidTimeout,
                libcurlUnavailable, invalidHeader, unreadableClientCertificate
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The endpoint URL has no host, or cannot be used as a request target.
        public static let invalidEndpoint = Code(.invalidEndpoint)
        /// The endpoint's scheme is neither `https` nor `http`.
        public static let unsupportedScheme = Code(.unsupportedScheme)
        /// The endpoint uses plain `http` to a host that is not a loopback address.
        public static let insecureEndpoint = Code(.insecureEndpoint)
        /// ``HTTPTransport/Configuration/caBundlePath`` names no readable file.
        public static let unreadableCABundle = Code(.unreadableCABundle)
        /// A public-key pin is not a base64 SHA-256 digest.
        public static let invalidPin = Code(.invalidPin)
        /// A timeout is zero or negative.
        public static let invalidTimeout = Code(.invalidTimeout)
        /// libcurl could not be initialised.
        public static let libcurlUnavailable = Code(.libcurlUnavailable)
        /// A configured header has an invalid name, a value with a line break or a control
        /// character, or a name the transport sets itself. The message names the header, never
        /// its value.
        public static let invalidHeader = Code(.invalidHeader)
        /// The client certificate or its key (mutual TLS) cannot be read, or a key was given
        /// without a certificate.
        public static let unreadableClientCertificate = Code(.unreadableClientCertificate)

        /// The code's name.
        public var description: String {
            switch value {
            case .invalidEndpoint: "invalidEndpoint"
            case .unsupportedScheme: "unsupportedScheme"
            case .insecureEndpoint: "insecureEndpoint"
            case .unreadableCABundle: "unreadableCABundle"
            case .invalidPin: "invalidPin"
            case .invalidTimeout: "invalidTimeout"
            case .libcurlUnavailable: "libcurlUnavailable"
            case .invalidHeader: "invalidHeader"
            case .unreadableClientCertificate: "unreadableClientCertificate"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
