import Foundation
import StewardCore
@testable import StewardHTTP

/// What the HTTPS transport builds from stored payloads and reads from answers: request header
/// lines, the path appended to the endpoint, endpoint URLs, and the delivery an answer means.
///
/// Input: a selector byte, then the strings. Checks: a header line is never produced with a
/// line break, NUL, other C0 control or DEL, or a name that is not an HTTP token; an
/// appended path has no `..`, `%`, `?` or `#`; an answer maps to accepted (2xx), retry (408,
/// 429, 502-504 and failures, with a delay within 0...2³¹ s) or rejected, and a rejection's
/// reason holds no control characters.
public enum FuzzHTTPRequest: FuzzTarget {
    public static let name = "FuzzHTTPRequest"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        var reader = FuzzReader(input)
        switch reader.byte() % 4 {
        case 0:
            var headers: [String: String] = [:]
            for _ in 0..<(reader.byte() % 6) { headers[reader.string(upTo: 48)] = reader.string(upTo: 160) }
            let payload = Payload(
                recipient: "r", purpose: .analytics, categories: [.usageEvents], contentType: reader.string(upTo: 64),
                headers: headers, body: [], idempotencyKey: reader.string(upTo: 64), created: fuzzNow)
            var configuration = HTTPTransport.Configuration()
            if reader.bool() { configuration.userAgent = reader.string(upTo: 64) }
            guard case .success(let lines) = HTTPTransport.headerLines(for: payload, configuration: configuration)
            else { return }
            for line in lines {
                // RFC 9110 field values: visible ASCII, space, tab and obs-text (bytes 0x80-0xFF);
                // never CR, LF, NUL, another C0 control or DEL.
                try require(
                    line.utf8.allSatisfy { $0 == 0x09 || (0x20...0x7E).contains($0) || $0 >= 0x80 },
                    "the header line \(line.debugDescription) holds a control character")
                let name = line.prefix { $0 != ":" && $0 != ";" }
                try require(
                    !name.isEmpty
                        && name.utf8.allSatisfy { byte in
                            (0x21...0x7E).contains(byte) && !Array("\"(),/:;<=>?@[\\]{}".utf8).contains(byte)
                        }, "the header name in \(line.debugDescription) is not a token")
            }
        case 1:
            let path = reader.string(upTo: 128)
            let url = reader.bool() ? "https://collector.example:4318" : reader.string(upTo: 64)
            guard let joined = HTTPTransport.appendingPath(path, to: url) else { return }
            let added = joined.dropFirst(joined.count - path.count)
            try require(
                !added.contains("..") && !added.contains("%") && !added.contains("?") && !added.contains("#"),
                "the path \(path.debugDescription) was appended as \(joined.debugDescription)")
        case 2:
            let text = reader.string(upTo: 256)
            if let url = URL(string: text) { _ = try? EndpointPolicy.validate(url) }
            _ = EndpointPolicy.isLoopback(host: text)
        default:
            let status = Int(reader.u16() % 700)
            let retryAfter = reader.bool() ? reader.string(upTo: 64) : nil
            let now = Date(timeIntervalSinceReferenceDate: Double(bitPattern: reader.u64()))
            let body = reader.rest
            var exchange = Exchange(status: status, retryAfter: retryAfter, body: body)
            if status < 200 {
                exchange.failure =
                    [.cancelled, .timedOut("t"), .network("n"), .tls("t"), .permanent("p"), .local("l"), nil][
                        Int(status) % 7]
            }
            switch exchange.delivery(now: now) {
            case .accepted:
                try require((200..<300).contains(status), "HTTP \(status) was taken as accepted")
            case .retry(let delay):
                if let delay {
                    try require(
                        delay >= .zero && delay <= .seconds(RetryAfter.maximumSeconds), "a retry after \(delay)")
                }
            case .rejected(let reason):
                try require(
                    !reason.unicodeScalars.contains { $0.properties.generalCategory == .control },
                    "the rejection reason \(reason.debugDescription) holds a control character")
            }
            _ = Exchange.reason(from: body)
        }
    }
}
