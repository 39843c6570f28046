public import StewardCore

/// The `partialSuccess` of an OTLP/HTTP JSON export response: how many items the receiver
/// rejected, and why.
///
/// The OTLP specification ("OTLP/HTTP Response", "Partial Success") answers a partially accepted
/// request with `200 OK` and an `Export<signal>ServiceResponse` whose `partialSuccess` holds
/// `rejectedLogRecords` (logs) or `rejectedDataPoints` (metrics) and an `errorMessage`. The client
/// MUST NOT retry such a request. A receiver may also use it for a warning: nothing rejected,
/// a non-empty message.
///
/// Read a response body with ``parse(responseBody:)``:
///
/// ```swift
/// switch OTLPPartialSuccess.parse(responseBody: body) {
/// case .fullSuccess: break
/// case .partialSuccess(let partial): ledger.count(rejected: partial.rejected, partial.errorMessage)
/// case .unreadable: break   // the 200 already said "accepted"; never retried
/// }
/// ```
public struct OTLPPartialSuccess: Hashable, Sendable {
    /// How many items the receiver rejected (`rejectedLogRecords`, `rejectedDataPoints` or
    /// `rejectedSpans`, whichever the body holds); 0 for a warning.
    public var rejected: Int64
    /// The receiver's explanation, at most ``maximumMessageLength`` characters; may be empty.
    public var errorMessage: String

    /// Creates a partial success; see the properties.
    public init(rejected: Int64, errorMessage: String) {
        self.rejected = rejected
        self.errorMessage = errorMessage
    }

    /// Whether this only conveys a warning: nothing rejected, a message given.
    public var isWarning: Bool { rejected == 0 && !errorMessage.isEmpty }

    /// What a `200 OK` export response body says.
    public enum Outcome: Hashable, Sendable {
        /// Everything accepted: an empty body, `{}`, no `partialSuccess`, or one that is `null`,
        /// empty, or rejects nothing and says nothing.
        case fullSuccess
        /// Some items rejected, or a warning. Not to be retried.
        case partialSuccess(OTLPPartialSuccess)
        /// The body is not a JSON object this parser accepts (malformed, too large, too deep, or
        /// a count that is not a non-negative 64-bit integer). The status code already said the
        /// request was accepted, so it is not retried either.
        case unreadable
    }

    /// The largest body read, in bytes (64 KiB); larger bodies are ``Outcome/unreadable``.
    public static let maximumBodySize = 65_536
    /// The deepest nesting of arrays and objects read (32).
    public static let maximumDepth = 32
    /// The longest `errorMessage` kept, in characters (1,024); longer ones are cut.
    public static let maximumMessageLength = 1_024

    /// Reads an OTLP/HTTP JSON export response body.
    ///
    /// Unknown fields are ignored, as the specification requires; the original proto field names
    /// (`partial_success`, `rejected_log_records`, `error_message`, …) are accepted as well as
    /// lowerCamelCase, and counts as decimal strings or JSON integers, as the proto3 JSON mapping
    /// allows. Never traps: any byte sequence gives an outcome, in time linear in its size.
    ///
    /// - Parameter responseBody: The body of a `200 OK` answer to `/v1/logs` or `/v1/metrics`.
    /// - Returns: Full success, a partial success, or unreadable.
    public static func parse(responseBody: some Collection<UInt8>) -> Outcome {
        if responseBody.count > maximumBodySize { return .unreadable }
        let body = Array(responseBody)
        var parser = OTLPResponseParser(bytes: body)
        guard let partial = parser.parseResponse() else { return .unreadable }
        guard let partial else { return .fullSuccess }
        if partial.rejected == 0 && partial.errorMessage.isEmpty { return .fullSuccess }
        return .partialSuccess(partial)
    }
}

extension OTLPPartialSuccess {
    /// A handler for an HTTP transport's accepted answers (StewardHTTP's
    /// `HTTPTransport.acceptedResponseHandler`) that reads the partial success of OTLP exports
    /// and counts the items the receiver rejected in `audit`, as dropped with reason
    /// `DropReason.rejected` under the payload's first category and its purpose. Payloads
    /// that are not OTLP exports (no `/v1/logs` or `/v1/metrics` path) are ignored. The request
    /// is not retried, as the specification requires.
    ///
    /// ```swift
    /// var transport = try HTTPTransport(endpoint: collector)
    /// transport.acceptedResponseHandler = OTLPPartialSuccess.auditing(into: audit)
    /// ```
    public static func auditing(into audit: AuditLedger) -> @Sendable (Payload, [UInt8]) -> Void {
        { payload, body in
            let path = payload.headers[Payload.pathHeader]
            guard path == OTLPHTTP.logsPath || path == OTLPHTTP.metricsPath, let category = payload.categories.first
            else { return }
            guard case .partialSuccess(let partial) = parse(responseBody: body), partial.rejected > 0 else { return }
            audit.recordDropped(
                category, purpose: payload.purpose, reason: .rejected, count: Int(clamping: partial.rejected))
        }
    }
}
