public import StewardCore
public import Foundation

/// The default network `Transport`: POSTs each payload over HTTPS with the system's libcurl
/// (OpenSSL flavour).
///
/// **Endpoints.** A transport posts to one URL per recipient (``init(endpoints:configuration:wallClock:)``)
/// or to one URL for every recipient (``init(endpoint:configuration:wallClock:)``). The URL is
/// taken as it is, unless the payload names a path in its `Payload.pathHeader` header, which is
/// appended (an OTLP Collector's base URL `https://host:4318` plus `/v1/logs`). A Sentry
/// recipient is given its envelope URL `https://host/api/PROJECT/envelope/`. A payload whose recipient has no endpoint is
/// rejected. Endpoints must be `https`; plain `http` is allowed only to loopback hosts
/// (127.0.0.0/8, `::1`, `localhost`), for local collectors and tests. Anything else is an
/// ``HTTPTransportError`` at init, never a silent downgrade.
///
/// **Trust.** The system trust store by default. ``Configuration/caBundlePath`` replaces it
/// with a PEM bundle (a private CA); ``Configuration/pinnedPublicKeys`` additionally requires
/// the server's public key to be one of the pins. A certificate that does not verify, or a key
/// that does not match a pin, is a configuration error: the payload is **rejected** with the
/// reason (retrying cannot fix it, and the reason lands in the audit ledger), not retried.
///
/// **Proxies** come from the standard environment variables, read by libcurl itself:
/// `https_proxy`/`HTTPS_PROXY`, `http_proxy` (lowercase only), `all_proxy`/`ALL_PROXY` and
/// `no_proxy`/`NO_PROXY`. Set ``Configuration/usesEnvironmentProxies`` to false to connect
/// directly whatever the environment says. Plain-HTTP (loopback) endpoints are always reached
/// directly: through a proxy, their cleartext would leave the machine.
///
/// **Requests.** `POST` with the payload's bytes, gzip-compressed with `Content-Encoding: gzip`
/// unless ``Configuration/compressesRequests`` is false; `Content-Type` from
/// `Payload.contentType`; `Idempotency-Key` from `Payload.idempotencyKey`; `User-Agent`
/// ``Configuration/userAgent``; then `Payload.headers` (such as `X-Sentry-Auth`), except those
/// the transport sets itself. A header with a line break or an invalid name rejects the payload.
/// Redirects are not followed.
///
/// **Answers.**
/// - 2xx → `.accepted`.
/// - 408, 429, 502, 503, 504 → `.retry(after:)` with the `Retry-After` delay (seconds or an
///   HTTP-date, via `RetryAfter`), or nil for the uploader's backoff.
/// - Any other status → `.rejected(reason:)` naming the status and the first 512 bytes of the
///   body, with control characters replaced.
/// - Network failures (refused, reset, unresolved host, timeout, TLS handshake interrupted) and
///   cancellation of the sending task → `.retry(after: nil)`.
/// - TLS verification and pinning failures → `.rejected(reason:)`.
///
/// Response bodies are read up to ``maximumResponseBytes``; past that the transfer stops, so a
/// hostile server cannot exhaust memory.
///
/// **Threads.** Each send runs its blocking libcurl transfer on a thread of its own (one easy
/// handle, created and freed there), never on the Swift concurrency pool; the calling task waits
/// on a continuation. Cancelling the task aborts the transfer within about a second (libcurl's
/// progress callback), and the send answers `.retry(after: nil)`. Connections are not reused
/// between sends.
///
/// ```swift
/// let transport = try HTTPTransport(
///     endpoints: ["otlp": URL(string: "https://collector.example/v1/logs")!],
///     configuration: .init(caBundlePath: "/etc/steward/ca.pem"))
/// let uploader = try Uploader(recipient: "otlp", transport: transport, vault: vault, consent: ledger,
///                             manifest: manifest, audit: audit)
/// ```
public struct HTTPTransport: Transport {
    /// How an ``HTTPTransport`` connects and what it sends.
    public struct Configuration: Hashable, Sendable {
        /// A PEM file of CA certificates to trust instead of the system trust store
        /// (libcurl's `CURLOPT_CAINFO`); nil for the system trust store.
        public var caBundlePath: String?
        /// Public keys the server must present one of: base64 SHA-256 digests of the DER
        /// SubjectPublicKeyInfo, with or without the `sha256//` prefix (libcurl's
        /// `CURLOPT_PINNEDPUBLICKEY`). Empty: no pinning. Checked in addition to the certificate.
        ///
        /// ```sh
        /// openssl x509 -in server.pem -pubkey -noout | openssl pkey -pubin -outform der \
        ///   | openssl dgst -sha256 -binary | base64
        /// ```
        public var pinnedPublicKeys: [String]
        /// Whether request bodies are gzip-compressed and sent with `Content-Encoding: gzip`.
        public var compressesRequests: Bool
        /// The longest wait for a connection (TCP and TLS handshakes). Must be positive; a
        /// longer one than about 24.8 days (`Int32.max` ms, libcurl's limit) is clamped to it,
        /// up to `Duration(attoseconds: .max)`.
        public var connectTimeout: Duration
        /// The longest a whole request may take, connection included. Must be positive;
        /// clamped like ``connectTimeout``.
        public var timeout: Duration
        /// Whether libcurl's proxy environment variables are honoured.
        public var usesEnvironmentProxies: Bool
        /// The `User-Agent` header.
        public var userAgent: String
        /// Header fields every request carries, such as a collector's `Authorization` token or
        /// API key; a payload's own header of the same name (in any case) is replaced. Names
        /// must be HTTP field names and not ones the transport sets itself (`Content-Type`,
        /// `User-Agent`...); values must hold no line break or control character.
        ///
        /// The values are secrets: they go only into the request. The configuration's
        /// `description`, `debugDescription` and mirror (`dump`) show `<redacted>` in their
        /// place, and an error about a header names it, never its value.
        public var headers: [String: String]
        /// A PEM client certificate for mutual TLS (libcurl's `CURLOPT_SSLCERT`), or nil.
        public var clientCertificatePath: String?
        /// The PEM private key of ``clientCertificatePath`` (libcurl's `CURLOPT_SSLKEY`); nil
        /// when the certificate file holds the key too. It must not be encrypted.
        public var clientKeyPath: String?

        /// Creates a configuration.
        ///
        /// - Parameters:
        ///   - caBundlePath: A PEM CA bundle to trust instead of the system store, or nil.
        ///   - pinnedPublicKeys: Base64 SHA-256 public-key digests; empty for no pinning.
        ///   - compressesRequests: Gzip request bodies (default true).
        ///   - connectTimeout: The connection timeout (default 10 s).
        ///   - timeout: The whole-request timeout (default 30 s).
        ///   - usesEnvironmentProxies: Honour `https_proxy` and friends (default true).
        ///   - userAgent: The `User-Agent` header (default `steward/0.1`).
        ///   - headers: Header fields every request carries (secrets, never shown).
        ///   - clientCertificatePath: A PEM client certificate for mutual TLS, or nil.
        ///   - clientKeyPath: Its PEM private key, or nil when the certificate file holds it.
        public init(
            caBundlePath: String? = nil, pinnedPublicKeys: [String] = [], compressesRequests: Bool = true,
            connectTimeout: Duration = .seconds(10), timeout: Duration = .seconds(30),
            usesEnvironmentProxies: Bool = true, userAgent: String = "steward/0.1", headers: [String: String] = [:],
            clientCertificatePath: String? = nil, clientKeyPath: String? = nil
        ) {
            self.headers = headers
            self.clientCertificatePath = clientCertificatePath
            self.clientKeyPath = clientKeyPath
            self.caBundlePath = caBundlePath
            self.pinnedPublicKeys = pinnedPublicKeys
            self.compressesRequests = compressesRequests
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.usesEnvironmentProxies = usesEnvironmentProxies
            self.userAgent = userAgent
        }
    }

    /// The most response-body bytes read (64 KiB); the transfer stops there.
    public static let maximumResponseBytes = 64 * 1024
    /// The most body bytes quoted in a rejection reason.
    public static let maximumReasonBytes = 512

    /// The endpoint of each recipient.
    public let endpoints: [RecipientID: URL]
    /// The endpoint of recipients not in ``endpoints``, if any.
    public let defaultEndpoint: URL?
    /// How the transport connects.
    public let configuration: Configuration

    private let targets: [RecipientID: String]
    private let defaultTarget: String?
    private let pins: String?
    private let wallClock: any WallClock

    /// Called with each payload the recipient accepted (2xx) and the answer's body (at most
    /// ``maximumResponseBytes``), before ``send(_:)`` returns `.accepted`: where a host reads
    /// what a 2xx answer says beyond "accepted", such as an OTLP partial success
    /// (`OTLPPartialSuccess.auditing(into:)` in StewardTelemetry counts its rejections).
    public var acceptedResponseHandler: (@Sendable (Payload, [UInt8]) -> Void)?

    /// Creates a transport that posts every recipient's payloads to `endpoint`.
    ///
    /// - Parameters:
    ///   - endpoint: An `https` URL (`http` for loopback hosts only).
    ///   - configuration: Trust, compression, timeouts, proxies.
    ///   - wallClock: Resolves `Retry-After` dates.
    /// - Throws: ``HTTPTransportError`` for an endpoint or configuration it refuses.
    public init(
        endpoint: URL, configuration: Configuration = Configuration(), wallClock: any WallClock = SystemWallClock()
    ) throws(HTTPTransportError) {
        try self.init(endpoints: [:], defaultEndpoint: endpoint, configuration: configuration, wallClock: wallClock)
    }

    /// Creates a transport that posts each recipient's payloads to its own endpoint.
    ///
    /// - Parameters:
    ///   - endpoints: An `https` URL (`http` for loopback hosts only) per recipient; payloads
    ///     for other recipients are rejected.
    ///   - configuration: Trust, compression, timeouts, proxies.
    ///   - wallClock: Resolves `Retry-After` dates.
    /// - Throws: ``HTTPTransportError`` for an endpoint or configuration it refuses.
    public init(
        endpoints: [RecipientID: URL], configuration: Configuration = Configuration(),
        wallClock: any WallClock = SystemWallClock()
    ) throws(HTTPTransportError) {
        try self.init(endpoints: endpoints, defaultEndpoint: nil, configuration: configuration, wallClock: wallClock)
    }

    private init(
        endpoints: [RecipientID: URL], defaultEndpoint: URL?, configuration: Configuration, wallClock: any WallClock
    ) throws(HTTPTransportError) {
        var targets: [RecipientID: String] = [:]
        for (recipient, url) in endpoints { targets[recipient] = try EndpointPolicy.validate(url) }
        self.targets = targets
        if let defaultEndpoint {
            defaultTarget = try EndpointPolicy.validate(defaultEndpoint)
        } else {
            defaultTarget = nil
        }
        if let path = configuration.caBundlePath {
            guard FileManager.default.isReadableFile(atPath: path) else {
                throw HTTPTransportError(
                    .unreadableCABundle, "The CA bundle \(path) cannot be read; give the path of a readable PEM file.")
            }
        }
        pins = try Self.pinList(configuration.pinnedPublicKeys)
        for (name, value) in configuration.headers {
            guard Self.isToken(name), !Self.reserved.contains(name.lowercased()) else {
                throw HTTPTransportError(
                    .invalidHeader,
                    "The configured header \(Self.sanitised(name)) is not a valid HTTP field name, or one the transport sets itself; give another name."
                )
            }
            guard Self.isFieldValue(value) else {
                throw HTTPTransportError(
                    .invalidHeader,
                    "The value of the configured header \(name) holds a line break or a control character; give it on one line."
                )
            }
        }
        if configuration.clientKeyPath != nil, configuration.clientCertificatePath == nil {
            throw HTTPTransportError(
                .unreadableClientCertificate,
                "A client key was given without a client certificate; give both or neither.")
        }
        for (what, path) in [
            ("client certificate", configuration.clientCertificatePath), ("client key", configuration.clientKeyPath),
        ] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw HTTPTransportError(
                    .unreadableClientCertificate,
                    "The \(what) \(path) cannot be read; give the path of a readable PEM file.")
            }
        }
        for (name, value) in [("connectTimeout", configuration.connectTimeout), ("timeout", configuration.timeout)]
        where value <= .zero {
            throw HTTPTransportError(.invalidTimeout, "The \(name) is \(value); give a positive duration.")
        }
        guard CurlTransfer.globalInit == 0 else {
            throw HTTPTransportError(
                .libcurlUnavailable,
                "libcurl failed to initialise (code \(CurlTransfer.globalInit)); check the libcurl installation.")
        }
        self.endpoints = endpoints
        self.defaultEndpoint = defaultEndpoint
        self.configuration = configuration
        self.wallClock = wallClock
    }

    /// The `CURLOPT_PINNEDPUBLICKEY` value for `keys`, or nil when there are none.
    private static func pinList(_ keys: [String]) throws(HTTPTransportError) -> String? {
        guard !keys.isEmpty else { return nil }
        var pins: [String] = []
        for key in keys {
            let digest = key.hasPrefix("sha256//") ? String(key.dropFirst(8)) : key
            guard let data = Data(base64Encoded: digest), data.count == 32 else {
                throw HTTPTransportError(
                    .invalidPin,
                    "The pin \(key) is not a base64 SHA-256 digest (44 characters); compute it with openssl as documented."
                )
            }
            pins.append("sha256//" + digest)
        }
        return pins.joined(separator: ";")
    }

    /// The endpoints' hosts; any network when libcurl may go through a proxy from the
    /// environment (the proxy, not the endpoint, is then what must be reached).
    public var networkNeed: NetworkNeed {
        let urls = Array(endpoints.values) + [defaultEndpoint].compactMap { $0 }
        // Plain HTTP (loopback only) never goes through a proxy; HTTPS may.
        let proxied =
            configuration.usesEnvironmentProxies && urls.contains { $0.scheme?.lowercased() == "https" }
            && ["https_proxy", "HTTPS_PROXY", "http_proxy", "all_proxy", "ALL_PROXY"].contains {
                !(ProcessInfo.processInfo.environment[$0] ?? "").isEmpty
            }
        if proxied { return .anyNetwork }
        return .hosts(Array(Set(urls.compactMap(\.host))).sorted())
    }

    /// Posts `payload` to its recipient's endpoint and maps the answer (see the type's
    /// discussion). Never throws or traps; safe from any task.
    public func send(_ payload: Payload) async -> Delivery {
        switch request(for: payload) {
        case .success(let request):
            let exchange = await CurlTransfer.perform(request)
            let delivery = exchange.delivery(now: wallClock.checkedNow)
            if delivery == .accepted, let acceptedResponseHandler { acceptedResponseHandler(payload, exchange.body) }
            return delivery
        case .failure(let problem):
            return .rejected(reason: problem.reason)
        }
    }

    /// Sends `payload` and returns the raw exchange, for tests; nil when it cannot be sent.
    func exchange(_ payload: Payload) async -> Exchange? {
        guard case .success(let request) = request(for: payload) else { return nil }
        return await CurlTransfer.perform(request)
    }

    /// The transfer for `payload`, or why it can never be sent.
    private func request(for payload: Payload) -> Result<CurlTransfer.Request, HeaderProblem> {
        guard var url = targets[payload.recipient] ?? defaultTarget else {
            return .failure(
                HeaderProblem(reason: "No HTTP endpoint is configured for the recipient \(payload.recipient.rawValue).")
            )
        }
        if let path = payload.headers[Payload.pathHeader] {
            guard let routed = Self.appendingPath(path, to: url) else {
                return .failure(
                    HeaderProblem(
                        reason:
                            "The payload's path \(Self.sanitised(path)) is not a plain absolute path (RFC 3986 path characters only, no '%', '..', '?' or '#'), or the endpoint has a query."
                    ))
            }
            url = routed
        }
        return Self.headerLines(for: payload, configuration: configuration).map { headers in
            CurlTransfer.Request(
                url: url, headers: headers, body: payload.body, compresses: configuration.compressesRequests,
                caBundlePath: configuration.caBundlePath, pins: pins,
                clientCertificatePath: configuration.clientCertificatePath, clientKeyPath: configuration.clientKeyPath,
                connectTimeoutMilliseconds: Self.milliseconds(configuration.connectTimeout),
                timeoutMilliseconds: Self.milliseconds(configuration.timeout),
                // Plain HTTP goes to loopback only: never through a proxy, where it would leave the machine.
                usesEnvironmentProxies: configuration.usesEnvironmentProxies && !url.lowercased().hasPrefix("http:"),
                maximumResponseBytes: Self.maximumResponseBytes)
        }
    }

    // MARK: - Headers

    /// Why a payload can never be sent as it is.
    struct HeaderProblem: Error { let reason: String }

    /// `url` (a validated endpoint, as text) with `path` appended, as OTLP appends `/v1/logs`
    /// to a Collector's base URL; nil for a path that is not plain: it must start with `/` and
    /// hold only RFC 3986 path characters (no `%`, `?`, `#`, `..`, spaces or controls).
    static func appendingPath(_ path: String, to url: String) -> String? {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/!$&'()*+,;=:@".utf8)
        guard path.hasPrefix("/"), !path.contains(".."), path.utf8.allSatisfy(allowed.contains),
            !url.contains("?"), !url.contains("#")
        else { return nil }
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        return base + path
    }

    /// Headers the transport sets itself; a payload's own header of that name is ignored.
    private static let reserved: Set<String> = [
        Payload.pathHeader.lowercased(),
        "content-type", "content-encoding", "content-length", "idempotency-key", "user-agent", "host", "expect",
        "transfer-encoding", "connection", "te", "trailer", "upgrade", "keep-alive", "proxy-connection",
    ]

    /// `Name: value` lines for libcurl, or the reason the payload cannot be sent. The transfer adds
    /// `Content-Encoding: gzip` itself, once the body is compressed.
    static func headerLines(for payload: Payload, configuration: Configuration) -> Result<[String], HeaderProblem> {
        var lines: [String] = []
        func add(_ name: String, _ value: String) -> HeaderProblem? {
            guard isToken(name) else {
                return HeaderProblem(reason: "The header name \(sanitised(name)) is not a valid HTTP field name.")
            }
            guard isFieldValue(value) else {
                return HeaderProblem(
                    reason: "The value of the header \(name) holds a line break or a control character.")
            }
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
            return nil
        }
        if let problem = add("Content-Type", payload.contentType) { return .failure(problem) }
        if let problem = add("Idempotency-Key", payload.idempotencyKey) { return .failure(problem) }
        if let problem = add("User-Agent", configuration.userAgent) { return .failure(problem) }
        // No `Expect: 100-continue` round trip: the body follows the headers at once.
        lines.append("Expect:")
        let configured = Set(configuration.headers.keys.map { $0.lowercased() })
        for name in payload.headers.keys.sorted()
        where !reserved.contains(name.lowercased()) && !configured.contains(name.lowercased()) {
            if let problem = add(name, payload.headers[name] ?? "") { return .failure(problem) }
        }
        // Checked when the transport was made.
        for name in configuration.headers.keys.sorted() {
            let value = configuration.headers[name] ?? ""
            lines.append(value.isEmpty ? "\(name);" : "\(name): \(value)")
        }
        return .success(lines)
    }

    /// RFC 9110 token characters.
    private static func isToken(_ name: String) -> Bool {
        !name.isEmpty
            && name.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                    UInt8(ascii: "A")...UInt8(ascii: "Z"):
                    true
                default:
                    "!#$%&'*+-.^_`|~".utf8.contains(byte)
                }
            }
    }

    /// No control characters except horizontal tab.
    private static func isFieldValue(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }
    }

    /// At most 64 printable characters of `text`, for messages.
    static func sanitised(_ text: String) -> String {
        String(
            String.UnicodeScalarView(
                text.unicodeScalars.prefix(64).map {
                    $0.properties.generalCategory == .control ? " " : $0
                }))
    }

    /// Whole milliseconds (rounded up) for libcurl, clamped to 1…`Int32.max` (about 24.8
    /// days). From the 128-bit attoseconds: `components` traps for 2^63 s and more.
    static func milliseconds(_ duration: Duration) -> Int {
        let perMillisecond: Int128 = 1_000_000_000_000_000
        let (whole, rest) = duration.attoseconds.quotientAndRemainder(dividingBy: perMillisecond)
        let roundedUp = rest > 0 ? whole + 1 : whole
        return Int(min(max(roundedUp, 1), Int128(Int32.max)))
    }
}

extension HTTPTransport.Configuration: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The configuration with every header value shown as `<redacted>`.
    public var description: String {
        let shown = headers.keys.sorted().map { "\($0): <redacted>" }.joined(separator: ", ")
        return
            "HTTPTransport.Configuration(caBundlePath: \(caBundlePath ?? "nil"), pinnedPublicKeys: \(pinnedPublicKeys.count), compressesRequests: \(compressesRequests), connectTimeout: \(connectTimeout), timeout: \(timeout), usesEnvironmentProxies: \(usesEnvironmentProxies), userAgent: \(userAgent), headers: [\(shown)], clientCertificatePath: \(clientCertificatePath ?? "nil"), clientKeyPath: \(clientKeyPath ?? "nil"))"
    }

    /// The same as ``description``.
    public var debugDescription: String { description }

    /// A mirror with every header value shown as `<redacted>`, for `dump` and debuggers.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "caBundlePath": caBundlePath as Any, "pinnedPublicKeys": pinnedPublicKeys,
                "compressesRequests": compressesRequests, "connectTimeout": connectTimeout, "timeout": timeout,
                "usesEnvironmentProxies": usesEnvironmentProxies, "userAgent": userAgent,
                "headers": headers.mapValues { _ in "<redacted>" },
                "clientCertificatePath": clientCertificatePath as Any,
                "clientKeyPath": clientKeyPath as Any,
            ])
    }
}
