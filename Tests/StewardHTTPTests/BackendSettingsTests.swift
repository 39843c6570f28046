import Foundation
import StewardCore
@testable import StewardHTTP
import StewardTesting
import Testing

/// What a hosted or authenticated collector needs: header fields on every request (a token) and
/// a client certificate (mutual TLS); the secrets stay out of every description.
@Suite struct BackendSettingsTests {
    @Test func configuredHeadersGoOnEveryRequestAndReplaceAPayloadsHeaderOfTheSameName() async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        var configuration = HTTPTransport.Configuration(usesEnvironmentProxies: false)
        configuration.headers = ["Authorization": "Bearer s3cret-token", "x-sentry-auth": "from the host"]
        let transport = try HTTPTransport(
            endpoints: ["otlp": server.url.appendingPathComponent("v1/logs")], configuration: configuration)
        #expect(await transport.send(samplePayload()) == .accepted)
        #expect(await transport.send(samplePayload(headers: [:])) == .accepted)
        #expect(server.requests.count == 2)
        for request in server.requests {
            #expect(request.headers["authorization"] == "Bearer s3cret-token")
            #expect(request.headers["x-sentry-auth"] == "from the host", "the host's header replaces the payload's")
        }
    }

    @Test func headerValuesNeverShowInDescriptionsOrErrors() throws {
        var configuration = HTTPTransport.Configuration()
        configuration.headers = ["Authorization": "Bearer s3cret-token"]
        #expect(!String(describing: configuration).contains("s3cret"))
        #expect(!String(reflecting: configuration).contains("s3cret"))
        var dumped = ""
        dump(configuration, to: &dumped)
        #expect(!dumped.contains("s3cret"), "\(dumped)")
        #expect(String(describing: configuration).contains("Authorization: <redacted>"))

        configuration.headers = ["Authorization": "Bearer s3cret\r\nX-Injected: 1"]
        let error = try #require(throws: HTTPTransportError.self) {
            try HTTPTransport(endpoint: URL(string: "https://collector.example")!, configuration: configuration)
        }
        #expect(error.code == .invalidHeader)
        #expect(error.message.contains("Authorization") && !error.message.contains("s3cret"), "\(error)")
    }

    @Test(arguments: ["Content-Type", "user-agent", "Idempotency-Key", "bad name", ""])
    func aHeaderTheTransportSetsOrAnInvalidNameIsRefused(_ name: String) {
        var configuration = HTTPTransport.Configuration()
        configuration.headers = [name: "x"]
        #expect(throws: HTTPTransportError.self) {
            try HTTPTransport(endpoint: URL(string: "https://collector.example")!, configuration: configuration)
        }
    }

    @Test func anUnreadableClientCertificateOrAKeyAloneIsAClearError() {
        for (certificate, key) in [("/nonexistent/client.pem", nil), (nil, "/etc/hostname")] as [(String?, String?)] {
            var configuration = HTTPTransport.Configuration()
            configuration.clientCertificatePath = certificate
            configuration.clientKeyPath = key
            #expect {
                try HTTPTransport(endpoint: URL(string: "https://collector.example")!, configuration: configuration)
            } throws: { ($0 as? HTTPTransportError)?.code == .unreadableClientCertificate }
        }
    }
}

@Suite(.enabled(if: opensslPath != nil, "needs the openssl tool (installed by the bootstrap script)"))
struct MutualTLSTests {
    @Test func theHeadersAndTheClientCertificateReachAServerThatVerifiesIt() async throws {
        let relay = try TLSRelay(requiringClientCertificate: true)
        defer { relay.stop() }
        let client = try relay.makeClientCertificate()
        var configuration = HTTPSTransportTests.configuration(caBundlePath: relay.caPath)
        configuration.clientCertificatePath = client.certificate
        configuration.clientKeyPath = client.key
        configuration.headers = [
            "Authorization": "Bearer s3cret-token", "X-Scope-OrgID": "tenant-7", "x-sentry-auth": "from the host",
        ]
        let transport = try HTTPTransport(endpoint: relay.url, configuration: configuration)
        let sender = TLSRelay.Client()
        let sending = Task {
            defer { sender.end() }
            return await transport.send(samplePayload())
        }
        // s_server (with -Verify) relays what it decrypted over the verified session.
        let request: TLSRelay.Request
        do {
            request = try await relay.readRequest(from: sender)
            try relay.respond("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        } catch {
            relay.stop()
            _ = await sending.value
            throw error
        }
        #expect(await sending.value == .accepted)
        #expect(request.method == "POST" && request.target == "/v1/logs")
        #expect(request.headers["authorization"] == "Bearer s3cret-token")
        #expect(request.headers["x-scope-orgid"] == "tenant-7")
        // The host's header replaces the payload's of the same name (X-Sentry-Auth): sent once.
        #expect(request.headers["x-sentry-auth"] == "from the host")
        #expect(Set(request.headerNames).count == request.headerNames.count, "no header twice: \(request.headerNames)")
        #expect(request.body == Array(#"{"resourceLogs":[]}"#.utf8))
    }

    @Test func aServerThatRequiresAClientCertificateAcceptsTheConfiguredOneAndRefusesWithoutIt() async throws {
        let fixture = try TLSFixture(requiringClientCertificate: true)
        defer { fixture.stop() }
        let client = try fixture.makeClientCertificate()

        let without = try HTTPTransport(
            endpoint: fixture.url, configuration: HTTPSTransportTests.configuration(caBundlePath: fixture.caPath))
        #expect(await without.send(HTTPSTransportTests.payload()) != .accepted, "no certificate, no answer")

        var configuration = HTTPSTransportTests.configuration(caBundlePath: fixture.caPath)
        configuration.clientCertificatePath = client.certificate
        configuration.clientKeyPath = client.key
        let with = try HTTPTransport(endpoint: fixture.url, configuration: configuration)
        #expect(await with.send(HTTPSTransportTests.payload()) == .accepted)
    }
}
