public import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A minimal HTTP/1.1 server on 127.0.0.1 for tests: accepts one connection at a time on a
/// thread of its own, reads a request (request line, headers, Content-Length body, at most
/// 16 MiB), records it and answers with the next scripted reply (200 with an empty body once
/// the script is empty). A stand-in collector for tests of delivery over real HTTP: point an
/// `HTTPTransport` (or `Steward.Configuration.otlpEndpoint`) at ``url``.
///
/// ```swift
/// let collector = try LoopbackServer(replies: [.respond(status: 503, headers: ["Retry-After: 1"])])
/// defer { collector.stop() }
/// // ... deliver to collector.url ...
/// #expect(await collector.waitForRequests(2))
/// #expect(collector.requests.last?.path == "/v1/logs")
/// ```
public final class LoopbackServer: Sendable {
    /// What the server does with one request.
    public enum Reply: Sendable {
        /// Answers with this status, these header lines and this body, then closes.
        case respond(status: Int, headers: [String] = [], body: [UInt8] = [])
        /// Reads the request and never answers (the connection stays open until `stop()`).
        case silent
    }

    /// One request as received.
    public struct Request: Sendable {
        /// The method (`POST`).
        public var method: String
        /// The request target (`/v1/logs`).
        public var path: String
        /// Header names lowercased.
        public var headers: [String: String]
        /// The body, as received (still compressed when it was sent so).
        public var body: [UInt8]
    }

    private struct State {
        var replies: [Reply]
        var requests: [Request] = []
        var heldConnections: [Int32] = []
        var stopped = false
    }

    /// The port the system picked.
    public let port: UInt16
    private let listener: Int32
    private let state: Mutex<State>
    private let finished = Atomic<Bool>(false)

    /// Starts listening on 127.0.0.1, on a port the system picks.
    public init(replies: [Reply] = []) throws {
        state = Mutex(State(replies: replies))
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "loopback-server"
        thread.start()
    }

    /// The server's base URL.
    public var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// Every request received so far.
    public var requests: [Request] { state.withLock { $0.requests } }

    /// Stops accepting and closes every connection.
    public func stop() {
        let held = state.withLock { state -> [Int32] in
            state.stopped = true
            defer { state.heldConnections = [] }
            return state.heldConnections
        }
        shutdown(listener, Int32(SHUT_RDWR))
        for fd in held {
            shutdown(fd, Int32(SHUT_RDWR))
            close(fd)
        }
    }

    /// Waits (bounded) until `count` requests have arrived. Generous: in the full suite the
    /// concurrency pool can be busy with slow synchronous tests for many seconds.
    public func waitForRequests(_ count: Int, within limit: Duration = .seconds(90)) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: limit)
        while clock.now < deadline {
            if requests.count >= count { return true }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return requests.count >= count
    }

    deinit {
        close(listener)
    }

    private func acceptLoop() {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                return
            }
            var timeout = timeval(tv_sec: 10, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            guard let request = Self.readRequest(fd) else {
                close(fd)
                continue
            }
            let (reply, stopped) = state.withLock { state -> (Reply, Bool) in
                state.requests.append(request)
                let reply = state.replies.isEmpty ? Reply.respond(status: 200) : state.replies.removeFirst()
                if case .silent = reply, !state.stopped { state.heldConnections.append(fd) }
                return (reply, state.stopped)
            }
            switch reply {
            case .silent:
                if stopped { close(fd) }
            case .respond(let status, let headers, let body):
                var head = "HTTP/1.1 \(status) Status\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
                for line in headers { head += line + "\r\n" }
                head += "\r\n"
                if Self.write(fd, Array(head.utf8)) { _ = Self.write(fd, body) }
                shutdown(fd, Int32(SHUT_WR))
                close(fd)
            }
        }
    }

    /// Writes all of `bytes`; false when the peer went away.
    private static func write(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += sent
        }
        return true
    }

    private static func readRequest(_ fd: Int32) -> Request? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        func fill() -> Bool {
            while true {
                let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return false }
                buffer.append(contentsOf: chunk[0..<n])
                return true
            }
        }
        let separator: [UInt8] = [13, 10, 13, 10]
        var headEnd: Int?
        while headEnd == nil {
            if buffer.count >= 4 {
                headEnd = (0...(buffer.count - 4)).first { buffer[$0..<($0 + 4)].elementsEqual(separator) }
            }
            if headEnd == nil, buffer.count > 1 << 20 || !fill() { return nil }
        }
        guard let headEnd else { return nil }
        let head = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count == 3 else { return nil }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(
                in: .whitespaces)
        }
        let length = Int(headers["content-length"] ?? "0") ?? 0
        guard length >= 0, length <= 16 << 20 else { return nil }
        while buffer.count - (headEnd + 4) < length {
            if !fill() { return nil }
        }
        return Request(
            method: String(requestLine[0]), path: String(requestLine[1]), headers: headers,
            body: Array(buffer[(headEnd + 4)..<(headEnd + 4 + length)]))
    }
}
