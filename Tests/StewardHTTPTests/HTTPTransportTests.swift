import Foundation
import StewardCore
@testable import StewardHTTP
import StewardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A wall clock that always tells the same date.
struct FixedWallClock: WallClock {
    var now: Date
}

func samplePayload(
    recipient: RecipientID = "otlp", body: [UInt8] = Array(#"{"resourceLogs":[]}"#.utf8),
    headers: [String: String] = ["X-Sentry-Auth": "Sentry sentry_key=abc, sentry_version=7"]
) -> Payload {
    Payload(
        recipient: recipient, purpose: "diagnostics", categories: ["crashData"], contentType: "application/json",
        headers: headers, body: body, idempotencyKey: "0f8e2c7a-idem",
        created: Date(timeIntervalSince1970: 1_700_000_000))
}

/// A loopback port nothing listens on: bound by the system, then closed.
func closedPort() throws -> UInt16 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
        }
    }
    try #require(ok)
    return UInt16(bigEndian: address.sin_port)
}

@Suite struct HTTPTransportTests {
    /// Direct connections, whatever proxy the test environment sets.
    static let direct = HTTPTransport.Configuration(usesEnvironmentProxies: false)

    @Test func aPayloadArrivesAsAGzippedPOSTWithItsHeaders() async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        let transport = try HTTPTransport(
            endpoints: ["otlp": server.url.appendingPathComponent("v1/logs")], configuration: Self.direct)
        let payload = samplePayload()

        #expect(await transport.send(payload) == .accepted)

        let request = try #require(server.requests.first)
        #expect(server.requests.count == 1)
        #expect(request.method == "POST")
        #expect(request.path == "/v1/logs")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["x-sentry-auth"] == "Sentry sentry_key=abc, sentry_version=7")
        #expect(request.headers["idempotency-key"] == "0f8e2c7a-idem")
        #expect(request.headers["content-encoding"] == "gzip")
        #expect(request.headers["user-agent"] == "steward/0.1")
        #expect(request.headers["expect"] == nil)
        #expect(Gzip.decompress(request.body) == payload.body)
    }

    @Test func theGzipBodyIsReadableByTheGzipTool() async throws {
        let compressed = try #require(Gzip.compress(Array("hello, steward\n".utf8)))
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("steward-gzip-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("body.gz")
        try Data(compressed).write(to: file)
        let output = try run("/bin/sh", ["-c", "gzip -dc '\(file.path)'"])
        #expect(output == "hello, steward\n")
    }

    @Test func withCompressionOffTheBodyIsSentAsItIs() async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        var configuration = Self.direct
        configuration.compressesRequests = false
        let transport = try HTTPTransport(endpoint: server.url, configuration: configuration)
        let payload = samplePayload()

        #expect(await transport.send(payload) == .accepted)
        let request = try #require(server.requests.first)
        #expect(request.headers["content-encoding"] == nil)
        #expect(request.body == payload.body)
    }

    @Test func theDefaultConfigurationReachesALoopbackEndpointDirectly() async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        // Environment proxies are on by default; plain HTTP to loopback never goes through one.
        let transport = try HTTPTransport(endpoint: server.url.appendingPathComponent("api/1/envelope/"))
        #expect(await transport.send(samplePayload()) == .accepted)
        #expect(server.requests.first?.path == "/api/1/envelope/")
    }

    @Test func anEmptyBodyIsSent() async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        var configuration = Self.direct
        configuration.compressesRequests = false
        let transport = try HTTPTransport(endpoint: server.url, configuration: configuration)
        #expect(await transport.send(samplePayload(body: [])) == .accepted)
        #expect(server.requests.first?.body == [])
    }

    static let now = Date(timeIntervalSince1970: 1_445_412_480)  // Wed, 21 Oct 2015 07:28:00 GMT

    @Test(arguments: [
        (LoopbackServer.Reply.respond(status: 200), Delivery.accepted),
        (.respond(status: 202, body: Array("queued".utf8)), .accepted),
        (.respond(status: 204), .accepted),
        (.respond(status: 429, headers: ["Retry-After: 3"]), .retry(after: .seconds(3))),
        (.respond(status: 429), .retry(after: nil)),
        (.respond(status: 503), .retry(after: nil)),
        (.respond(status: 503, headers: ["Retry-After: Wed, 21 Oct 2015 07:30:00 GMT"]), .retry(after: .seconds(120))),
        (.respond(status: 408), .retry(after: nil)),
        (.respond(status: 502, headers: ["retry-after: 7"]), .retry(after: .seconds(7))),
        (.respond(status: 504), .retry(after: nil)),
        (.respond(status: 503, headers: ["Retry-After: soon"]), .retry(after: nil)),
        (
            .respond(status: 400, body: Array("invalid envelope header".utf8)),
            .rejected(reason: "HTTP 400 from the recipient: invalid envelope header")
        ),
        (.respond(status: 401), .rejected(reason: "HTTP 401 from the recipient.")),
        (
            .respond(status: 413, body: Array("too\r\nlarge\u{7}".utf8)),
            .rejected(reason: "HTTP 413 from the recipient: too large")
        ),
        (.respond(status: 500, body: Array("boom".utf8)), .rejected(reason: "HTTP 500 from the recipient: boom")),
        (
            .respond(status: 301, headers: ["Location: https://elsewhere.example/"]),
            .rejected(reason: "HTTP 301 from the recipient.")
        ),
    ])
    func answersAreMappedToDeliveries(reply: LoopbackServer.Reply, expected: Delivery) async throws {
        let server = try LoopbackServer(replies: [reply])
        defer { server.stop() }
        let transport = try HTTPTransport(
            endpoint: server.url, configuration: Self.direct, wallClock: FixedWallClock(now: Self.now))
        #expect(await transport.send(samplePayload()) == expected)
        #expect(server.requests.count == 1)
    }

    @Test func aRejectionQuotesAtMost512BytesOfTheBody() async throws {
        let server = try LoopbackServer(replies: [
            .respond(status: 422, body: Array(repeating: UInt8(ascii: "x"), count: 5000))
        ])
        defer { server.stop() }
        let transport = try HTTPTransport(endpoint: server.url, configuration: Self.direct)
        guard case .rejected(let reason) = await transport.send(samplePayload()) else {
            Issue.record("expected a rejection")
            return
        }
        #expect(reason == "HTTP 422 from the recipient: " + String(repeating: "x", count: 512))
    }

    @Test func aRefusedConnectionIsRetried() async throws {
        let port = try closedPort()
        let transport = try HTTPTransport(
            endpoint: URL(string: "http://127.0.0.1:\(port)/v1/logs")!, configuration: Self.direct)
        #expect(await transport.send(samplePayload()) == .retry(after: nil))
        let exchange = try #require(await transport.exchange(samplePayload()))
        guard case .network = exchange.failure else {
            Issue.record("expected a network failure, got \(String(describing: exchange.failure))")
            return
        }
    }

    @Test func aServerThatNeverAnswersTimesOutAndIsRetried() async throws {
        let server = try LoopbackServer(replies: [.silent, .silent])
        defer { server.stop() }
        var configuration = Self.direct
        configuration.timeout = .seconds(1)
        let transport = try HTTPTransport(endpoint: server.url, configuration: configuration)

        #expect(await transport.send(samplePayload()) == .retry(after: nil))
        let exchange = try #require(await transport.exchange(samplePayload()))
        guard case .timedOut = exchange.failure else {
            Issue.record("expected libcurl's own timeout, got \(String(describing: exchange.failure))")
            return
        }
        #expect(server.requests.count == 2)
    }

    @Test(arguments: [200, 400])
    func aHugeResponseBodyIsCappedAt64KiB(status: Int) async throws {
        let huge = [UInt8](repeating: UInt8(ascii: "a"), count: 10 * 1024 * 1024)
        let server = try LoopbackServer(replies: [
            .respond(status: status, body: huge), .respond(status: status, body: huge),
        ])
        defer { server.stop() }
        let transport = try HTTPTransport(endpoint: server.url, configuration: Self.direct)

        let exchange = try #require(await transport.exchange(samplePayload()))
        #expect(exchange.status == status)
        #expect(exchange.body.count == HTTPTransport.maximumResponseBytes)
        #expect(exchange.bodyTruncated)
        let delivery = await transport.send(samplePayload())
        if status == 200 {
            #expect(delivery == .accepted)
        } else {
            #expect(delivery == .rejected(reason: "HTTP 400 from the recipient: " + String(repeating: "a", count: 512)))
        }
    }

    @Test func cancellingTheSendingTaskStopsTheTransfer() async throws {
        let server = try LoopbackServer(replies: [.silent])
        defer { server.stop() }
        var configuration = Self.direct
        configuration.timeout = .seconds(600)
        let transport = try HTTPTransport(endpoint: server.url, configuration: configuration)

        let task = Task { await transport.exchange(samplePayload()) }
        #expect(await server.waitForRequests(1))
        task.cancel()
        let exchange = try #require(await task.value)
        #expect(exchange.failure == .cancelled)
        #expect(exchange.delivery(now: Date()) == .retry(after: nil))
    }

    @Test func aTaskCancelledBeforeSendingSendsNothing() async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        let transport = try HTTPTransport(endpoint: server.url, configuration: Self.direct)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return await transport.send(samplePayload())
        }
        #expect(await task.value == .retry(after: nil))
        #expect(server.requests.isEmpty)
    }

    @Test func aRecipientWithoutAnEndpointIsRejected() async throws {
        let transport = try HTTPTransport(endpoints: ["otlp": URL(string: "https://collector.example/v1/logs")!])
        #expect(
            await transport.send(samplePayload(recipient: "crashBackend"))
                == .rejected(reason: "No HTTP endpoint is configured for the recipient crashBackend."))
    }

    @Test func aHeaderWithALineBreakIsRejectedWithoutSending() async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        let transport = try HTTPTransport(endpoint: server.url, configuration: Self.direct)
        let delivery = await transport.send(samplePayload(headers: ["X-Sentry-Auth": "a\r\nX-Injected: 1"]))
        guard case .rejected(let reason) = delivery else {
            Issue.record("expected a rejection, got \(delivery)")
            return
        }
        #expect(reason.contains("X-Sentry-Auth"))
        #expect(server.requests.isEmpty)
    }

    @Test func payloadHeadersCannotOverrideTheTransportsOwn() async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        let transport = try HTTPTransport(endpoint: server.url, configuration: Self.direct)
        #expect(
            await transport.send(samplePayload(headers: ["content-type": "text/plain", "Host": "evil.example"]))
                == .accepted)
        let request = try #require(server.requests.first)
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["host"] == "127.0.0.1:\(server.port)")
    }
}

@Suite struct HTTPTransportConfigurationTests {
    @Test(arguments: [
        "http://example.com/v1/logs", "http://10.0.0.1/", "http://127.0.0.1.example.com/", "http://[2001:db8::1]/",
        "http://localhost.example.com/", "http://0.0.0.0/",
    ])
    func plainHTTPToANonLoopbackHostIsRefused(endpoint: String) throws {
        let error = #expect(throws: HTTPTransportError.self) { try HTTPTransport(endpoint: URL(string: endpoint)!) }
        #expect(error?.code == .insecureEndpoint)
        #expect(error?.message.contains("loopback") == true)
    }

    @Test(arguments: [
        "http://127.0.0.1:4318/v1/logs", "http://127.9.8.7/", "http://[::1]:4318/", "http://localhost:4318/",
        "http://LOCALHOST/", "https://collector.example/v1/logs", "https://10.0.0.1/",
    ])
    func httpsAnywhereAndPlainHTTPOnLoopbackAreAccepted(endpoint: String) throws {
        _ = try HTTPTransport(endpoint: URL(string: endpoint)!)
    }

    @Test(arguments: ["ftp://collector.example/", "file:///tmp/outbox"])
    func otherSchemesAreRefused(endpoint: String) throws {
        let error = #expect(throws: HTTPTransportError.self) { try HTTPTransport(endpoint: URL(string: endpoint)!) }
        #expect(error?.code == .unsupportedScheme || error?.code == .invalidEndpoint)
    }

    @Test func anUnreadableCABundleIsRefused() throws {
        let error = #expect(throws: HTTPTransportError.self) {
            try HTTPTransport(
                endpoint: URL(string: "https://collector.example/")!,
                configuration: .init(caBundlePath: "/nonexistent/steward-ca.pem"))
        }
        #expect(error?.code == .unreadableCABundle)
    }

    @Test(arguments: ["sha256//tooshort", "not base64 at all", "sha256//" + String(repeating: "A", count: 40) + "AA=="])
    func aMalformedPinIsRefused(pin: String) throws {
        let error = #expect(throws: HTTPTransportError.self) {
            try HTTPTransport(
                endpoint: URL(string: "https://collector.example/")!, configuration: .init(pinnedPublicKeys: [pin]))
        }
        #expect(error?.code == .invalidPin)
    }

    @Test func aNonPositiveTimeoutIsRefused() throws {
        let error = #expect(throws: HTTPTransportError.self) {
            try HTTPTransport(
                endpoint: URL(string: "https://collector.example/")!, configuration: .init(timeout: .zero))
        }
        #expect(error?.code == .invalidTimeout)
    }
}

/// Runs `executable` and returns its standard output; throws when it fails.
func run(_ executable: String, _ arguments: [String]) throws -> String {
    let outcome = try ChildProcess.run(executable, arguments: arguments)
    struct Failed: Error { let termination: ChildProcess.Termination }
    guard outcome.termination == .exited(0) else { throw Failed(termination: outcome.termination) }
    return String(decoding: outcome.standardOutput, as: UTF8.self)
}
