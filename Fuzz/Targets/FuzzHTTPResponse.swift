import Foundation
import StewardCore
import StewardHTTP
import StewardTelemetry
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A loopback HTTP server that answers every connection with the bytes it was given, as they
/// are (status line, headers, body, garbage), then closes: a hostile or broken collector.
final class RawAnswerServer: Sendable {
    let port: UInt16
    private let listener: Int32
    private let answer = Mutex<[UInt8]>([])

    /// One server per process, on 127.0.0.1 and a port the kernel picks.
    static let shared = RawAnswerServer()

    private init() {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        listen(fd, 16)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    /// Sets what the next connections get.
    func setAnswer(_ bytes: [UInt8]) { answer.withLock { $0 = bytes } }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else {
                usleep(1_000)  // out of descriptors or interrupted: try again shortly, without spinning
                continue
            }
            // Read the request: headers, then the body its Content-Length announces (Steward
            // always sends one), with a short timeout so nothing can hang the server.
            var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var request: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 16_384)
            while request.count < 1 << 20 {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { break }
                request += buffer[0..<n]
                if let end = Self.headerEnd(request), request.count >= end + Self.contentLength(request[..<end]) {
                    break
                }
            }
            let bytes = answer.withLock { $0 }
            _ = bytes.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            shutdown(client, Int32(SHUT_WR))
            close(client)
        }
    }

    private static func headerEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for i in 0...(bytes.count - 4)
        where bytes[i] == 13 && bytes[i + 1] == 10 && bytes[i + 2] == 13 && bytes[i + 3] == 10 { return i + 4 }
        return nil
    }

    private static func contentLength(_ headers: ArraySlice<UInt8>) -> Int {
        for line in String(decoding: headers, as: UTF8.self).split(separator: "\r\n")
        where line.lowercased().hasPrefix("content-length:") {
            return Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }
}

/// Whatever a collector answers, through the real HTTPS transport's path (libcurl over plain
/// HTTP on loopback, the header callback, the body cap, status mapping, `Retry-After`) and the
/// OTLP partial-success reader installed on it.
///
/// Input: the raw bytes the server sends back. Checks: the send completes with a delivery
/// (never a trap, within the 1 s budget); a retry's delay is within 0...2³¹ s; a rejection's
/// reason holds no control characters; the accepted-answer handler sees at most the 64 KiB cap.
public enum FuzzHTTPResponse: FuzzTarget {
    public static let name = "FuzzHTTPResponse"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        let server = RawAnswerServer.shared
        server.setAnswer(input)
        guard let url = URL(string: "http://127.0.0.1:\(server.port)"),
            var transport = try? HTTPTransport(
                endpoint: url,
                configuration: .init(
                    compressesRequests: false, connectTimeout: .milliseconds(500), timeout: .milliseconds(800),
                    usesEnvironmentProxies: false),
                wallClock: fuzzClock)
        else { throw PropertyViolation("the loopback transport could not be made") }
        let seen = Mutex<Int?>(nil)
        guard let audit = try? AuditLedger(vault: nil, clock: fuzzClock) else {
            throw PropertyViolation("an audit ledger without a vault failed")
        }
        let partial = OTLPPartialSuccess.auditing(into: audit)
        transport.acceptedResponseHandler = { payload, body in
            seen.withLock { $0 = body.count }
            partial(payload, body)
        }
        let payload = Payload(
            recipient: "telemetryBackend", purpose: .analytics, categories: [.usageEvents],
            contentType: "application/json",
            headers: [Payload.pathHeader: "/v1/logs"], body: Array(#"{"resourceLogs":[]}"#.utf8),
            idempotencyKey: "fuzz", created: fuzzNow)
        let sender = transport
        let delivery = blocking { await sender.send(payload) }
        switch delivery {
        case .accepted:
            try require(
                (seen.withLock { $0 } ?? 0) <= HTTPTransport.maximumResponseBytes,
                "the handler saw more than the body cap")
        case .retry(let delay):
            if let delay {
                try require(delay >= .zero && delay <= .seconds(RetryAfter.maximumSeconds), "a retry after \(delay)")
            }
        case .rejected(let reason):
            try require(
                !reason.unicodeScalars.contains { $0.properties.generalCategory == .control },
                "the rejection reason \(reason.debugDescription) holds a control character")
        }
    }
}
