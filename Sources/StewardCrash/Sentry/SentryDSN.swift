public import Foundation

/// A parsed Sentry DSN: where to send envelopes and how to authenticate them.
///
/// A DSN has the shape `{PROTOCOL}://{PUBLIC_KEY}:{SECRET_KEY}@{HOST}{PATH}/{PROJECT_ID}`
/// (Sentry's developer documentation, "Authentication"). The secret key, the port and the path
/// prefix are optional; the secret is deprecated and ignored by current Sentry versions, but
/// it is still sent when present, as the specification asks. Only `http` and `https` are
/// accepted, and the project id must be a decimal number (Sentry's Relay parses it as an
/// unsigned 64-bit integer).
///
/// The secret key never appears in ``description``, in ``redacted`` or in an error message.
///
/// ```swift
/// let dsn = try SentryDSN("https://public@o0.ingest.sentry.io/42")
/// dsn.envelopeURL.absoluteString // "https://o0.ingest.sentry.io/api/42/envelope/"
/// dsn.authHeader()               // "Sentry sentry_version=7, sentry_client=steward/0.1.0, sentry_key=public"
/// ```
public struct SentryDSN: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The `sentry_client` value Steward sends by default.
    public static let defaultClient = "steward/0.1.0"

    /// `http` or `https`, lowercased.
    public let scheme: String
    /// The public key (`sentry_key`).
    public let publicKey: String
    /// The deprecated secret key (`sentry_secret`), when the DSN has one.
    public let secretKey: String?
    /// The host name or address; an IPv6 address keeps its brackets (`[::1]`).
    public let host: String
    /// The port, when the DSN names one.
    public let port: Int?
    /// The path before the project id, without a trailing slash: `""` or `/sentry`.
    public let pathPrefix: String
    /// The project id: decimal digits.
    public let projectID: String
    /// Where envelopes go: `{scheme}://{host}{:port}{pathPrefix}/api/{projectID}/envelope/`.
    public let envelopeURL: URL

    private static let expectedShape =
        "expected {PROTOCOL}://{PUBLIC_KEY}[:{SECRET_KEY}]@{HOST}[:{PORT}][{PATH}]/{PROJECT_ID}, "
        + "for example https://public@o0.ingest.sentry.io/42"

    /// Parses a DSN.
    ///
    /// White space around the DSN is ignored, as is one trailing `/` after the project id.
    /// `key:@host/1` (an empty secret) has no secret.
    ///
    /// - Parameter string: The DSN, as Sentry shows it under Project Settings › Client Keys.
    /// - Throws: ``SentryError`` with code ``SentryError/Code/emptyDSN``,
    ///   ``SentryError/Code/malformedDSN``, ``SentryError/Code/unsupportedScheme``,
    ///   ``SentryError/Code/missingPublicKey``, ``SentryError/Code/missingHost``,
    ///   ``SentryError/Code/invalidPort``, ``SentryError/Code/missingProjectID`` or
    ///   ``SentryError/Code/invalidProjectID``; the message says what is wrong and shows the
    ///   expected shape.
    ///
    /// ```swift
    /// let dsn = try SentryDSN("https://public:secret@sentry.example.com:9000/sentry/42")
    /// dsn.port       // 9000
    /// dsn.pathPrefix // "/sentry"
    /// ```
    public init(_ string: String) throws(SentryError) {
        let text = string.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else {
            throw SentryError(.emptyDSN, "The Sentry DSN is empty; \(Self.expectedShape).")
        }
        guard let schemeEnd = text.range(of: "://") else {
            throw SentryError(.malformedDSN, "The Sentry DSN has no \"://\" after its scheme; \(Self.expectedShape).")
        }
        let scheme = text[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            let shown = scheme.isEmpty ? "an empty scheme" : "scheme \"\(scheme.prefix(16))\""
            throw SentryError(
                .unsupportedScheme, "The Sentry DSN has \(shown); use http or https; \(Self.expectedShape).")
        }
        var rest = text[schemeEnd.upperBound...]
        guard !rest.contains("?"), !rest.contains("#") else {
            throw SentryError(
                .malformedDSN, "The Sentry DSN has a query or fragment; remove it; \(Self.expectedShape).")
        }
        // Authority: everything up to the first "/".
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        guard let at = authority.lastIndex(of: "@") else {
            throw SentryError(
                .missingPublicKey, "The Sentry DSN has no public key (no \"@\" before the host); \(Self.expectedShape)."
            )
        }
        let userInfo = authority[..<at]
        let hostPort = authority[authority.index(after: at)...]
        let publicKey: Substring
        let secret: Substring?
        if let colon = userInfo.firstIndex(of: ":") {
            publicKey = userInfo[..<colon]
            secret = userInfo[userInfo.index(after: colon)...]
        } else {
            publicKey = userInfo
            secret = nil
        }
        guard !publicKey.isEmpty else {
            throw SentryError(
                .missingPublicKey, "The Sentry DSN has an empty public key before the \"@\"; \(Self.expectedShape).")
        }
        // Host and port; an IPv6 literal is bracketed.
        let host: Substring
        var portText: Substring?
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw SentryError(
                    .malformedDSN, "The Sentry DSN's IPv6 host has no closing \"]\"; \(Self.expectedShape).")
            }
            host = hostPort[...close]
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw SentryError(
                        .malformedDSN, "The Sentry DSN has text after its IPv6 host; \(Self.expectedShape).")
                }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = hostPort[..<colon]
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = hostPort
        }
        guard !host.isEmpty else {
            throw SentryError(.missingHost, "The Sentry DSN has no host after the \"@\"; \(Self.expectedShape).")
        }
        let hostValid =
            host.hasPrefix("[")
            ? host.dropFirst().dropLast().allSatisfy { $0.isHexDigit && $0.isASCII || $0 == ":" || $0 == "." }
            : host.allSatisfy { ($0.isLetter || $0.isNumber) && $0.isASCII || "-._~".contains($0) }
        guard hostValid else {
            throw SentryError(
                .malformedDSN, "The Sentry DSN's host has characters a host name may not hold; \(Self.expectedShape).")
        }
        var port: Int?
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.allSatisfy(\.isASCIIDigit),
                let number = Int(portText), (1...65_535).contains(number)
            else {
                throw SentryError(
                    .invalidPort,
                    "The Sentry DSN's port \"\(portText.prefix(16))\" is not a number from 1 to 65535; \(Self.expectedShape)."
                )
            }
            port = number
        }
        // Path: prefix and project id.
        var path = rest
        if path.count > 1, path.hasSuffix("/") { path = path.dropLast() }
        guard let slash = path.lastIndex(of: "/"), path.index(after: slash) < path.endIndex else {
            throw SentryError(
                .missingProjectID, "The Sentry DSN has no project id after the host; \(Self.expectedShape).")
        }
        let projectID = path[path.index(after: slash)...]
        let prefix = path[..<slash]
        guard prefix.unicodeScalars.allSatisfy(Self.isPathCharacter) else {
            throw SentryError(
                .malformedDSN, "The Sentry DSN's path has characters a URL path may not hold; \(Self.expectedShape).")
        }
        guard projectID.allSatisfy(\.isASCIIDigit) else {
            throw SentryError(
                .invalidProjectID,
                "The Sentry DSN's project id \"\(projectID.prefix(32))\" is not a decimal number; \(Self.expectedShape)."
            )
        }
        let portPart = port.map { ":\($0)" } ?? ""
        guard let url = URL(string: "\(scheme)://\(host)\(portPart)\(prefix)/api/\(projectID)/envelope/"),
            url.host != nil
        else {
            throw SentryError(
                .malformedDSN, "The Sentry DSN's host or path has characters a URL may not hold; \(Self.expectedShape)."
            )
        }
        self.scheme = scheme
        self.publicKey = String(publicKey)
        self.secretKey = secret.flatMap { $0.isEmpty ? nil : String($0) }
        self.host = String(host)
        self.port = port
        self.pathPrefix = String(prefix)
        self.projectID = String(projectID)
        self.envelopeURL = url
    }

    // RFC 3986 path characters: unreserved, sub-delims, ":", "@", "%" and "/".
    private static func isPathCharacter(_ c: Unicode.Scalar) -> Bool {
        switch c {
        case "a"..."z", "A"..."Z", "0"..."9": true
        default: "-._~!$&'()*+,;=:@%/".unicodeScalars.contains(c)
        }
    }

    /// The DSN without its secret key: `{scheme}://{publicKey}@{host}{:port}{pathPrefix}/{projectID}`.
    ///
    /// This is what Steward writes into an envelope's `dsn` header: Sentry ignores the secret,
    /// and leaving it out keeps it out of stored envelopes.
    ///
    /// ```swift
    /// try SentryDSN("https://pub:sec@host/1").redacted // "https://pub@host/1"
    /// ```
    public var redacted: String {
        "\(scheme)://\(publicKey)@\(host)\(port.map { ":\($0)" } ?? "")\(pathPrefix)/\(projectID)"
    }

    /// The DSN without its secret key (see ``redacted``); safe for logs.
    public var description: String { redacted }

    /// The DSN without its secret key, marked as a DSN; safe for logs.
    public var debugDescription: String { "SentryDSN(\(redacted)\(secretKey == nil ? "" : ", secret: <redacted>"))" }

    /// The value of the `X-Sentry-Auth` header.
    ///
    /// `Sentry sentry_version=7, sentry_client={client}, sentry_key={publicKey}`, followed by
    /// `, sentry_secret={secretKey}` only when the DSN has a secret. No `sentry_timestamp`:
    /// Sentry deprecated it in favour of the envelope's `sent_at` header and asks SDKs not to
    /// send it.
    ///
    /// - Parameter client: The `sentry_client` value, `name/version`.
    /// - Returns: The header value.
    ///
    /// ```swift
    /// try SentryDSN("https://pub@host/1").authHeader()
    /// // "Sentry sentry_version=7, sentry_client=steward/0.1.0, sentry_key=pub"
    /// ```
    public func authHeader(client: String = SentryDSN.defaultClient) -> String {
        var value = "Sentry sentry_version=7, sentry_client=\(client), sentry_key=\(publicKey)"
        if let secretKey { value += ", sentry_secret=\(secretKey)" }
        return value
    }

    /// The HTTP headers an envelope upload needs: `X-Sentry-Auth` and
    /// `Content-Type: application/x-sentry-envelope`.
    ///
    /// - Parameter client: The `sentry_client` value, `name/version`.
    /// - Returns: Header names and values.
    ///
    /// ```swift
    /// var request = URLRequest(url: dsn.envelopeURL)
    /// for (name, value) in dsn.headers() { request.setValue(value, forHTTPHeaderField: name) }
    /// ```
    public func headers(client: String = SentryDSN.defaultClient) -> [String: String] {
        ["X-Sentry-Auth": authHeader(client: client), "Content-Type": "application/x-sentry-envelope"]
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
