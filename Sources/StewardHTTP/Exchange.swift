import StewardCore
import struct Foundation.Date

/// What one transfer produced: the answer if one arrived, else why not.
struct Exchange: Sendable {
    /// Why no answer arrived.
    enum Failure: Sendable, Hashable {
        /// The sending task was cancelled; the transfer was aborted.
        case cancelled
        /// The connect or total timeout expired.
        case timedOut(String)
        /// The network failed: refused, reset, unresolved host, interrupted handshake.
        case network(String)
        /// The server's certificate or key was refused: a configuration error.
        case tls(String)
        /// The request can never be made as configured (a protocol libcurl lacks).
        case permanent(String)
        /// Something local and temporary failed (no memory for a handle).
        case local(String)
    }

    /// The final HTTP status, or 0 when none arrived.
    var status = 0
    /// The `Retry-After` value of the final answer.
    var retryAfter: String?
    /// The response body, at most `HTTPTransport.maximumResponseBytes`.
    var body: [UInt8] = []
    /// Whether the body was longer than the cap (the transfer stopped there).
    var bodyTruncated = false
    /// Why no answer arrived, when none did.
    var failure: Failure?

    /// Statuses that mean "try again later".
    static let retryableStatuses: Set<Int> = [408, 429, 502, 503, 504]

    /// The answer for the uploader.
    func delivery(now: Date) -> Delivery {
        if status >= 200 {
            // An answer arrived; anything that failed afterwards (a capped body) cannot change it.
            if (200..<300).contains(status) { return .accepted }
            if Self.retryableStatuses.contains(status) {
                return .retry(after: retryAfter.flatMap { RetryAfter.delay(fromHeader: $0, now: now) })
            }
            let reason = Self.reason(from: body)
            return .rejected(
                reason: reason.isEmpty
                    ? "HTTP \(status) from the recipient." : "HTTP \(status) from the recipient: \(reason)")
        }
        switch failure {
        case .cancelled, .timedOut, .network, .local, nil:
            return .retry(after: nil)
        case .tls(let message), .permanent(let message):
            return .rejected(reason: message)
        }
    }

    /// The first `HTTPTransport.maximumReasonBytes` of `body` as text: invalid UTF-8 replaced,
    /// control characters (line breaks included) turned into spaces, runs of spaces collapsed.
    static func reason(from body: [UInt8]) -> String {
        let text = String(decoding: body.prefix(HTTPTransport.maximumReasonBytes), as: UTF8.self)
        var result = String.UnicodeScalarView()
        var lastWasSpace = true
        for scalar in text.unicodeScalars {
            let isSpace = scalar.properties.generalCategory == .control || scalar.properties.isWhitespace
            if isSpace {
                if !lastWasSpace { result.append(" ") }
            } else {
                result.append(scalar)
            }
            lastWasSpace = isSpace
        }
        var reason = String(result)
        while reason.hasSuffix(" ") { reason.removeLast() }
        return reason
    }
}
