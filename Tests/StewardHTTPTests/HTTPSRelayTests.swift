import Foundation
import StewardCore
@testable import StewardHTTP
import StewardTelemetry
import StewardTesting
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A throwaway CA, a server certificate it signed for IP 127.0.0.1, and `openssl s_server`
/// in relay mode (no `-www`): what the client sends comes out on s_server's standard output,
/// and what is written to its standard input goes to the client. One connection
/// (`-naccept 1`). Always stopped with ``stop()``.
final class TLSRelay {
    let folder: URL
    let port: UInt16
    private let server: ChildProcess
    private let fromServer: ChildProcess.Reader
    private let toServer: ChildProcess.Writer

    var caPath: String { folder.appendingPathComponent("ca.pem").path }
    var url: URL { URL(string: "https://127.0.0.1:\(port)/v1/logs")! }

    struct Failed: Error, CustomStringConvertible { let description: String }

    /// One HTTP/1.1 request as it arrived.
    struct Request: Sendable {
        var method: String
        var target: String
        var version: String
        /// Lowercased names; a repeated name keeps its last value.
        var headers: [String: String]
        /// Header names in the order they arrived, lowercased (to find duplicates).
        var headerNames: [String]
        var body: [UInt8]
    }

    /// With `requiringClientCertificate`, s_server asks for a client certificate signed by the
    /// CA (`-Verify 1`; ``makeClientCertificate()`` makes one) and ends the handshake without one.
    init(requiringClientCertificate: Bool = false) throws {
        let openssl = try #require(opensslPath)
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("steward-tls-relay-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let dir = folder.path
        do {
            try Self.makeCertificates(openssl: openssl, dir: dir)
            (server, port, fromServer, toServer) = try Self.startServer(
                openssl: openssl, dir: dir, ports: { try closedPort() },
                verifying: requiringClientCertificate)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            throw error
        }
    }

    /// A relay for the next connection to the same address, with the same certificates, after
    /// `previous` was stopped with `keepingCertificates`: a client retrying one URL meets it.
    init(following previous: TLSRelay) throws {
        let openssl = try #require(opensslPath)
        folder = previous.folder
        (server, port, fromServer, toServer) = try Self.startServer(
            openssl: openssl, dir: folder.path, ports: { previous.port })
    }

    /// A throwaway CA (`ca.pem`, `ca.key`) and a server certificate it signed for IP 127.0.0.1
    /// (`server.pem`, `server.key`) in `dir`. Shared with `TLSFixture`.
    static func makeCertificates(openssl: String, dir: String, address: String = "127.0.0.1") throws {
        try "subjectAltName=IP:\(address)\nbasicConstraints=CA:FALSE\n"
            .write(toFile: dir + "/server.ext", atomically: true, encoding: .utf8)
        _ = try run(
            openssl,
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/ca.key", "-out", dir + "/ca.pem",
                "-days", "2", "-subj", "/CN=Steward Test Relay CA",
                "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            ])
        _ = try run(
            openssl,
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/server.key", "-out", dir + "/server.csr",
                "-subj", "/CN=\(address)",
            ])
        _ = try run(
            openssl,
            [
                "x509", "-req", "-in", dir + "/server.csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key",
                "-CAcreateserial", "-out", dir + "/server.pem", "-days", "2", "-extfile", dir + "/server.ext",
            ])
    }

    /// A client certificate and its key signed by the relay's CA: (certificate, key) paths.
    func makeClientCertificate() throws -> (certificate: String, key: String) {
        try TLSFixture.makeClientCertificate(signedIn: folder.path)
    }

    private static func startServer(
        openssl: String, dir: String, ports: () throws -> UInt16, verifying: Bool = false
    ) throws -> (ChildProcess, UInt16, ChildProcess.Reader, ChildProcess.Writer) {
        // A free port: bound by the system, closed, then given to s_server; retried on a
        // collision. Readiness is read from /proc/net/tcp: a probe connection would use up
        // the only accept.
        var started: (ChildProcess, UInt16, ChildProcess.Reader, ChildProcess.Writer)?
        for _ in 0..<5 where started == nil {
            let port = try ports()
            let process = try ChildProcess(
                openssl,
                arguments: [
                    "s_server", "-accept", "127.0.0.1:\(port)", "-cert", dir + "/server.pem", "-key",
                    dir + "/server.key",
                    "-quiet", "-naccept", "1",
                ] + (verifying ? ["-Verify", "1", "-CAfile", dir + "/ca.pem"] : []),
                standardInput: .pipe, standardOutput: .pipe, standardError: .nullDevice)
            if Self.waitUntilListening(port: port, process: process), let output = process.standardOutput,
                let input = process.standardInput
            {
                started = (process, port, output, input)
            } else {
                Self.kill(process)
            }
        }
        guard let started else { throw Failed(description: "openssl s_server did not start") }
        return started
    }

    /// Stops s_server (SIGKILL: nothing of it needs saving) and deletes the folder.
    func stop(keepingCertificates: Bool = false) {
        Self.kill(server)
        fromServer.close()
        toServer.close()
        if !keepingCertificates { try? FileManager.default.removeItem(at: folder) }
    }

    /// Whether the client's task (a send, a drain) has ended: a reader then stops waiting for a
    /// request that can no longer come. Set with ``end()`` when the task returns.
    final class Client: Sendable {
        private let ended = Atomic<Bool>(false)
        func end() { ended.store(true, ordering: .releasing) }
        var hasEnded: Bool { ended.load(ordering: .acquiring) }
    }

    /// Reads one request from what s_server relays: the head up to CRLF CRLF, then
    /// `Content-Length` bytes of body. Waits as long as `client` runs, not by the clock: its
    /// task needs a thread of the concurrency pool, which other suites' synchronous work
    /// (vault commits, child processes) can hold for over a minute on a two-core machine under
    /// the address sanitizer (a 90-second deadline failed there once). Once the client ended,
    /// a request still missing is a failure; `limit` bounds a client that never ends. The
    /// blocking reads run on a thread of their own, never on the concurrency pool's.
    func readRequest(from client: Client, limit: Duration = .seconds(1_200)) async throws -> Request {
        let output = fromServer
        return try await withCheckedThrowingContinuation { continuation in
            Thread {
                continuation.resume(with: Result { try Self.readRequest(output, client: client, limit: limit) })
            }.start()
        }
    }

    private static func readRequest(_ output: ChildProcess.Reader, client: Client, limit: Duration) throws -> Request {
        let deadline = ContinuousClock.now + limit
        var received: [UInt8] = []
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        // After the client ended, one more second for bytes s_server has not relayed yet.
        var lastLook: ContinuousClock.Instant?
        while true {
            if let end = received.firstRange(of: separator) {
                var request = try Self.parseHead(Array(received[..<end.lowerBound]))
                let length = try #require(
                    Int(request.headers["content-length"] ?? ""), "no Content-Length in \(request.headers)")
                if received.count - end.upperBound >= length {
                    request.body = Array(received[end.upperBound..<(end.upperBound + length)])
                    #expect(received.count - end.upperBound == length, "nothing after the body")
                    return request
                }
            }
            let now = ContinuousClock.now
            if lastLook == nil && client.hasEnded { lastLook = now + .seconds(1) }
            if let lastLook, now >= lastLook {
                throw Failed(description: "the client ended without a complete request; got \(received.count) bytes")
            }
            guard now < deadline else {
                throw Failed(description: "no complete request within \(limit); got \(received.count) bytes")
            }
            // Nothing yet: look at the client and the limit again.
            guard let chunk = try output.read(timeout: .milliseconds(100)) else { continue }
            guard !chunk.isEmpty else {
                throw Failed(description: "s_server closed its output after \(received.count) bytes")
            }
            received += chunk
        }
    }

    /// Sends `response` to the client through s_server.
    func respond(_ response: String) throws {
        guard server.isRunning else { throw Failed(description: "s_server is gone") }
        try toServer.write(response)
    }

    private static func parseHead(_ head: [UInt8]) throws -> Request {
        let lines = String(decoding: head, as: UTF8.self).components(separatedBy: "\r\n")
        let requestLine = lines[0].split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        guard requestLine.count == 3 else { throw Failed(description: "bad request line: \(lines[0])") }
        var headers: [String: String] = [:]
        var names: [String] = []
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { throw Failed(description: "bad header line: \(line)") }
            let name = line[..<colon].lowercased()
            names.append(name)
            headers[name] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return Request(
            method: requestLine[0], target: requestLine[1], version: requestLine[2], headers: headers,
            headerNames: names, body: [])
    }

    private static func kill(_ process: ChildProcess) {
        process.kill(SIGKILL)
        _ = process.wait()
    }

    /// Polls (bounded: 10 s) until a socket listens on 127.0.0.1:`port`, or the process exits.
    private static func waitUntilListening(port: UInt16, process: ChildProcess) -> Bool {
        let local = "0100007F:" + String(format: "%04X", port)
        for _ in 0..<200 {
            guard process.isRunning else { return false }
            if let table = try? String(contentsOfFile: "/proc/net/tcp", encoding: .utf8) {
                for line in table.split(separator: "\n").dropFirst() {
                    let fields = line.split(separator: " ")
                    if fields.count > 3, fields[1] == local, fields[3] == "0A" { return true }  // 0A: LISTEN
                }
            }
            usleep(50_000)
        }
        return false
    }
}

@Suite(
    .enabled(if: opensslPath != nil, "needs the openssl tool (installed by the bootstrap script)"),
    .timeLimit(.minutes(3)))
struct HTTPSRelayTests {
    /// An OTLP-like body, large enough for gzip to matter.
    static let body: [UInt8] = Array(
        (#"{"resourceLogs":["# + (0..<200).map { #"{"n":\#($0),"screen":"scan"}"# }.joined(separator: ",") + "]}").utf8)

    static func transport(_ relay: TLSRelay) throws -> HTTPTransport {
        try HTTPTransport(
            endpoint: relay.url,
            configuration: HTTPTransport.Configuration(
                caBundlePath: relay.caPath, connectTimeout: .seconds(5), timeout: .seconds(20),
                usesEnvironmentProxies: false))
    }

    /// Sends `payload` through the relay, reads what arrived, answers with `response`.
    static func exchange(_ payload: Payload, answering response: String) async throws -> (
        TLSRelay.Request, Delivery, UInt16
    ) {
        let relay = try TLSRelay()
        defer { relay.stop() }
        let transport = try transport(relay)
        let client = TLSRelay.Client()
        let sending = Task {
            defer { client.end() }
            return await transport.send(payload)
        }
        let request: TLSRelay.Request
        do {
            request = try await relay.readRequest(from: client)
            try relay.respond(response)
        } catch {
            relay.stop()  // the transfer then fails at once instead of waiting for its timeout
            _ = await sending.value
            throw error
        }
        return (request, await sending.value, relay.port)
    }

    @Test func theServerReceivesExactlyTheRequestAndItIsAccepted() async throws {
        let payload = samplePayload(body: Self.body)
        let (request, delivery, port) = try await Self.exchange(
            payload, answering: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(delivery == .accepted)
        #expect(request.method == "POST")
        #expect(request.target == "/v1/logs")
        #expect(request.version == "HTTP/1.1")
        #expect(request.headers["host"] == "127.0.0.1:\(port)")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["content-encoding"] == "gzip")
        #expect(request.headers["idempotency-key"] == "0f8e2c7a-idem")
        #expect(request.headers["user-agent"] == "steward/0.1")
        #expect(request.headers["x-sentry-auth"] == "Sentry sentry_key=abc, sentry_version=7")
        #expect(request.headers["expect"] == nil, "no 100-continue round trip")
        #expect(request.headers["transfer-encoding"] == nil)
        #expect(Set(request.headerNames).count == request.headerNames.count, "no header twice: \(request.headerNames)")
        #expect(Int(request.headers["content-length"] ?? "") == request.body.count)
        #expect(request.body.count < Self.body.count, "compressed")
        let body = try #require(Gzip.decompress(request.body), "the body is gzip")
        #expect(body == Self.body, "exactly the payload's bytes")
    }

    @Test func a429WithRetryAfterIsRetriedAfterThatDelay() async throws {
        let payload = samplePayload(body: Self.body)
        let (request, delivery, _) = try await Self.exchange(
            payload,
            answering:
                "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 2\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        #expect(request.method == "POST")
        #expect(Gzip.decompress(request.body) == Self.body)
        #expect(delivery == .retry(after: .seconds(2)))
    }
}

extension HTTPSRelayTests {
    /// Telemetry end to end over HTTPS, the server trusted through the CA-bundle option: the
    /// collector answers 503, then 429 with Retry-After, then accepts; it receives the same
    /// request three times under one key, and the events arrive once, all of them.
    @Test func telemetryReachesAnHTTPSCollectorThroughRetriesWithNothingLostOrDuplicated() async throws {
        let first = try TLSRelay()
        var relays = [first]
        defer { relays.forEach { $0.stop() } }
        let f = try OTLPFixture()
        let collector = try #require(URL(string: "https://127.0.0.1:\(first.port)"))
        let transport = try HTTPTransport(
            endpoint: collector,
            configuration: HTTPTransport.Configuration(
                caBundlePath: first.caPath, connectTimeout: .seconds(5), timeout: .seconds(20),
                usesEnvironmentProxies: false))
        var policy = UploadPolicy()
        policy.initialBackoff = .milliseconds(10)
        policy.maxBackoff = .milliseconds(50)
        // Between two relays the port refuses connections for a moment: retried, never given up.
        policy.maxAttempts = 10_000
        let uploader = try f.uploader(transport, policy: policy)
        for screen in ["home", "scan", "results"] {
            f.telemetry.record("screen_view", attributes: ["screen": .string(screen)])
        }
        #expect(try f.telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "https-e2e")) == 3)
        let client = TLSRelay.Client()
        let draining = Task {
            defer { client.end() }
            return await uploader.drain()
        }

        var requests: [TLSRelay.Request] = []
        let answers = [
            "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 21\r\nConnection: close\r\n\r\n{\"partialSuccess\":{}}",
        ]
        for (index, answer) in answers.enumerated() {
            let relay = relays[relays.count - 1]
            do {
                requests.append(try await relay.readRequest(from: client))
                try relay.respond(answer)
            } catch {
                draining.cancel()
                throw error
            }
            if index < answers.count - 1 {
                // Let the answer reach the client before the relay goes.
                try await Task.sleep(for: .milliseconds(200))
                relay.stop(keepingCertificates: true)
                relays.append(try TLSRelay(following: relay))
            }
        }
        let report = await draining.value
        #expect(report.accepted == 1)
        #expect(report.retries >= 2, "the 503 and the 429 were retried")
        #expect(requests.count == 3)
        #expect(requests.allSatisfy { $0.target == "/v1/logs" })
        #expect(
            Set(requests.map { $0.headers["idempotency-key"] ?? "" }).count == 1, "one payload, retried under one key")
        let last = try #require(requests.last)
        let body = try #require(Gzip.decompress(last.body))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let logs =
            ((json["resourceLogs"] as? [[String: Any]])?.first?["scopeLogs"] as? [[String: Any]])?.first?["logRecords"]
            as? [[String: Any]]
        #expect(logs?.count == 3, "every event, once")
        #expect(uploader.pendingCount == 0, "nothing left, nothing lost")
    }
}
