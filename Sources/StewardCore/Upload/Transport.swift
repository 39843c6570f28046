public import struct Foundation.Date

/// One piece of data on its way to a recipient: what it is, why it is sent, and the exact bytes.
public struct Payload: Hashable, Sendable, Codable {
    /// Who receives it (declared in the manifest).
    public var recipient: RecipientID
    /// Why it is sent; consent for it is checked again right before sending.
    public var purpose: Purpose
    /// What kinds of data it holds (declared in the manifest).
    public var categories: [DataCategory]
    /// The body's media type, such as `application/json` or `application/x-sentry-envelope`.
    public var contentType: String
    /// Extra headers the transport should send.
    public var headers: [String: String]
    /// The exact bytes to send.
    public var body: [UInt8]
    /// A key the recipient can use to drop duplicates if a payload is sent twice (after a
    /// crash between sending and recording the answer).
    public var idempotencyKey: String
    /// When the payload was created.
    public var created: Date

    /// Creates a payload.
    public init(
        recipient: RecipientID, purpose: Purpose, categories: [DataCategory], contentType: String,
        headers: [String: String] = [:], body: [UInt8], idempotencyKey: String, created: Date
    ) {
        self.recipient = recipient
        self.purpose = purpose
        self.categories = categories
        self.contentType = contentType
        self.headers = headers
        self.body = body
        self.idempotencyKey = idempotencyKey
        self.created = created
    }
}

extension Payload {
    /// A header that is not sent: the path this payload goes to under the recipient's endpoint
    /// (`/v1/logs`, `/v1/metrics`). Transports that deliver over HTTP append it to the endpoint,
    /// as OTLP appends its paths to a Collector's base URL; the outbox keeps it with the
    /// payload's other headers.
    public static let pathHeader = "Steward-Path"
}

/// What a transport says about one payload.
public enum Delivery: Hashable, Sendable {
    /// The recipient has it; it may be deleted.
    case accepted
    /// Try again later: after the given delay if the recipient said (Retry-After), else after
    /// the uploader's backoff.
    case retry(after: Duration?)
    /// The recipient refused it for good (a malformed payload, a revoked key); it is dropped
    /// and counted, never retried.
    case rejected(reason: String)
}

/// Sends payloads to one or more recipients: HTTPS, an outbox folder, a test recorder.
///
/// Implementations must:
/// - return `.accepted` only once the recipient has durably taken the payload;
/// - return `.retry` for anything temporary (network down, 429, 5xx), with the delay the
///   recipient asked for when it gave one;
/// - return `.rejected` only for answers that will never change for this payload;
/// - never throw or trap for anything the network or the recipient does;
/// - be safe to call from any task (the uploader sends one payload at a time per recipient).
public protocol Transport: Sendable {
    /// Sends `payload` and reports what happened.
    func send(_ payload: Payload) async -> Delivery

    /// What the transport needs of the network: an ``Uploader`` given a ``NetworkMonitor``
    /// sends nothing while the need cannot be met, and resumes when the kernel reports a link
    /// or route change that meets it. The default is ``NetworkNeed/anyNetwork``; a transport
    /// that writes files says ``NetworkNeed/none``, an HTTP one its endpoints' hosts.
    var networkNeed: NetworkNeed { get }
}

extension Transport {
    /// Some network, wherever it leads.
    public var networkNeed: NetworkNeed { .anyNetwork }
}

extension Dictionary where Key == String, Value == String {
    /// Sets the header `name` to `value`, replacing one of the same name in any case (HTTP field
    /// names are case-insensitive).
    package mutating func setHeader(_ name: String, _ value: String) {
        for existing in keys where existing.lowercased() == name.lowercased() { removeValue(forKey: existing) }
        self[name] = value
    }
}
