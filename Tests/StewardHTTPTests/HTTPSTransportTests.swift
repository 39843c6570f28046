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

/// The `openssl` command-line tool, when installed (the bootstrap script installs it).
let opensslPath: String? = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// A throwaway CA, a server certificate it signed for IP 127.0.0.1 (or `address`), and
/// `openssl s_server -www` serving it on a loopback port (or `address`, in a network namespace
/// the test made). Always stopped with ``stop()``.
final class TLSFixture {
    let folder: URL
    let port: UInt16
    let address: String
    private let server: ChildProcess

    var caPath: String { folder.appendingPathComponent("ca.pem").path }
    var url: URL { URL(string: "https://\(address):\(port)/v1/logs")! }

    struct StartFailed: Error, CustomStringConvertible { let description: String }

    /// With `requiringClientCertificate`, s_server asks for a client certificate signed by the
    /// CA (`-Verify 1`) and ends the handshake without one (mutual TLS).
    /// With `namespace`, s_server runs in that network namespace (`ip netns exec`) on `address`.
    init(requiringClientCertificate: Bool = false, address: String = "127.0.0.1", namespace: String? = nil) throws {
        let openssl = try #require(opensslPath)
        self.address = address
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("steward-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let dir = folder.path
        try TLSRelay.makeCertificates(openssl: openssl, dir: dir, address: address)

        // A free port: bound by the system, closed, then given to s_server; retried on a collision.
        var started: (ChildProcess, UInt16)?
        for _ in 0..<5 where started == nil {
            let port = try closedPort()
            // `ip netns exec` execs s_server after entering the namespace: the pid stays s_server's.
            let launcher = namespace.map { [VethLink.ip, "netns", "exec", $0, openssl] } ?? [openssl]
            let process = try ChildProcess(
                launcher[0],
                arguments: Array(launcher.dropFirst()) + [
                    "s_server", "-accept", "\(address):\(port)", "-cert", dir + "/server.pem", "-key",
                    dir + "/server.key",
                    "-www", "-quiet",
                ] + (requiringClientCertificate ? ["-Verify", "1", "-CAfile", dir + "/ca.pem"] : []),
                standardInput: .nullDevice, standardOutput: .nullDevice, standardError: .nullDevice)
            if Self.waitUntilAccepting(address: address, port: port, process: process) {
                started = (process, port)
            } else {
                Self.kill(process)
            }
        }
        guard let started else {
            try? FileManager.default.removeItem(at: folder)
            throw StartFailed(description: "openssl s_server did not start")
        }
        (server, port) = started
    }

    /// Stops s_server (SIGKILL: nothing of it needs saving) and deletes the folder.
    func stop() {
        Self.kill(server)
        try? FileManager.default.removeItem(at: folder)
    }

    /// A client certificate and its key, signed by the fixture's CA: (certificate, key) paths.
    func makeClientCertificate() throws -> (certificate: String, key: String) {
        try Self.makeClientCertificate(signedIn: folder.path)
    }

    /// A client certificate signed by the CA in `dir` (`ca.pem`, `ca.key`): (certificate, key) paths.
    static func makeClientCertificate(signedIn dir: String) throws -> (certificate: String, key: String) {
        let openssl = try #require(opensslPath)
        try "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n"
            .write(toFile: dir + "/client.ext", atomically: true, encoding: .utf8)
        _ = try run(
            openssl,
            [
                "req", "-newkey", "rsa:2048", "-nodes", "-keyout", dir + "/client.key", "-out", dir + "/client.csr",
                "-subj", "/CN=steward-test-client",
            ])
        _ = try run(
            openssl,
            [
                "x509", "-req", "-in", dir + "/client.csr", "-CA", dir + "/ca.pem", "-CAkey", dir + "/ca.key",
                "-CAcreateserial", "-out", dir + "/client.pem", "-days", "2", "-extfile", dir + "/client.ext",
            ])
        return (dir + "/client.pem", dir + "/client.key")
    }

    /// The base64 SHA-256 of the server's public key, as libcurl pins it.
    func serverKeyPin() throws -> String {
        let openssl = try #require(opensslPath)
        let cert = folder.appendingPathComponent("server.pem").path
        return try run(
            "/bin/sh",
            [
                "-c",
                "'\(openssl)' x509 -in '\(cert)' -pubkey -noout | '\(openssl)' pkey -pubin -outform der"
                    + " | '\(openssl)' dgst -sha256 -binary | base64",
            ]
        ).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    private static func kill(_ process: ChildProcess) {
        process.kill(SIGKILL)
        _ = process.wait()
    }

    /// Polls (bounded: 10 s) until `port` accepts a TCP connection, or the process exits.
    private static func waitUntilAccepting(address host: String, port: UInt16, process: ChildProcess) -> Bool {
        for _ in 0..<200 {
            guard process.isRunning else { return false }
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr(host)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
                }
            }
            close(fd)
            if connected { return true }
            usleep(50_000)
        }
        return false
    }
}

@Suite(.enabled(if: opensslPath != nil, "needs the openssl tool (installed by the bootstrap script)"))
struct HTTPSTransportTests {
    /// `openssl s_server -www` answers only a line starting with `GET `: the body carries one, so
    /// the POST gets s_server's 200 status page. Uncompressed, so s_server can read it.
    static func payload() -> Payload {
        samplePayload(body: Array("GET / HTTP/1.0\r\n\r\n".utf8))
    }

    static func configuration(caBundlePath: String? = nil, pins: [String] = []) -> HTTPTransport.Configuration {
        HTTPTransport.Configuration(
            caBundlePath: caBundlePath, pinnedPublicKeys: pins, compressesRequests: false, usesEnvironmentProxies: false
        )
    }

    @Test func aServerSignedByTheConfiguredCAIsTrusted() async throws {
        let fixture = try TLSFixture()
        defer { fixture.stop() }
        let transport = try HTTPTransport(
            endpoint: fixture.url, configuration: Self.configuration(caBundlePath: fixture.caPath))
        #expect(await transport.send(Self.payload()) == .accepted)
    }

    @Test func withoutTheCAVerificationFailsAndThePayloadIsRejected() async throws {
        let fixture = try TLSFixture()
        defer { fixture.stop() }
        let transport = try HTTPTransport(endpoint: fixture.url, configuration: Self.configuration())
        let delivery = await transport.send(Self.payload())
        guard case .rejected(let reason) = delivery else {
            Issue.record("expected a rejection, got \(delivery)")
            return
        }
        #expect(reason.contains("certificate verification failed"))
    }

    @Test func theRightPinnedKeyIsAccepted() async throws {
        let fixture = try TLSFixture()
        defer { fixture.stop() }
        let pin = try fixture.serverKeyPin()
        let transport = try HTTPTransport(
            endpoint: fixture.url,
            configuration: Self.configuration(caBundlePath: fixture.caPath, pins: ["sha256//" + pin]))
        #expect(await transport.send(Self.payload()) == .accepted)
    }

    @Test func aWrongPinnedKeyIsRejected() async throws {
        let fixture = try TLSFixture()
        defer { fixture.stop() }
        let wrong = Data(repeating: 7, count: 32).base64EncodedString()
        let transport = try HTTPTransport(
            endpoint: fixture.url, configuration: Self.configuration(caBundlePath: fixture.caPath, pins: [wrong]))
        let delivery = await transport.send(Self.payload())
        guard case .rejected(let reason) = delivery else {
            Issue.record("expected a rejection, got \(delivery)")
            return
        }
        #expect(reason.contains("pinning failed"))
    }
}
