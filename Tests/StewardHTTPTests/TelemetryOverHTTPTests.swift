import Foundation
import StewardCore
@testable import StewardHTTP
import StewardTelemetry
import StewardTesting
import Testing

/// A vault with analytics granted, telemetry and an audit ledger, in a folder of its own.
final class OTLPFixture: @unchecked Sendable {  // Used by one test at a time.
    let dir = NSTemporaryDirectory() + "steward-otlp-e2e-\(UUID().uuidString)"
    let manifest = TelemetryOverHTTPTests.manifest()
    let vault: Vault
    let ledger: ConsentLedger
    let audit: AuditLedger
    let telemetry: Telemetry

    init() throws {
        vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider())
        ledger = try ConsentLedger(manifest: manifest, vault: vault)
        try ledger.grant([.analytics])
        audit = try AuditLedger(vault: vault)
        telemetry = try Telemetry(manifest: manifest, vault: vault, consent: ledger, audit: audit)
    }

    func uploader(_ transport: any Transport, policy: UploadPolicy = UploadPolicy()) throws -> Uploader {
        try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: vault, consent: ledger, manifest: manifest,
            audit: audit, policy: policy)
    }

    deinit {
        try? vault.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// Telemetry end to end over real HTTP on loopback: events recorded under consent reach a
/// test collector as OTLP JSON, 429 and 503 are retried, nothing is lost or duplicated.
@Suite(.timeLimit(.minutes(1))) struct TelemetryOverHTTPTests {
    static func manifest() -> PrivacyManifest {
        PrivacyManifest(
            policyVersion: "2026-11",
            purposes: [
                .init(id: .serviceProvision, description: "Run the app", legalBasis: .necessaryForService),
                .init(id: .analytics, description: "Usage statistics", legalBasis: .consent),
            ],
            dataCategories: [
                .init(
                    id: .usageEvents, description: "Screens", purposes: [.analytics], retentionDays: 30,
                    sensitivity: .personal, leavesDevice: true, recipients: ["telemetryBackend"])
            ],
            recipients: [.init(id: "telemetryBackend", name: "Collector", role: .processor, region: "DE")],
            events: [
                .init(
                    name: "screen_view", purpose: .analytics, category: .usageEvents,
                    attributes: [.init(name: "screen", type: .string, classification: .plain)])
            ])
    }

    @Test func eventsReachTheCollectorOnceDespite429And503() async throws {
        let server = try LoopbackServer(replies: [
            .respond(status: 429, headers: ["Retry-After: 1"]),
            .respond(status: 503),
            .respond(status: 200, body: Array(#"{"partialSuccess":{}}"#.utf8)),
        ])
        defer { server.stop() }
        let f = try OTLPFixture()
        let telemetry = f.telemetry
        var policy = UploadPolicy()
        policy.initialBackoff = .milliseconds(10)
        policy.maxBackoff = .milliseconds(50)
        // The Collector's root URL: each payload names its own path (/v1/logs here).
        let uploader = try f.uploader(try HTTPTransport(endpoint: server.url), policy: policy)
        for screen in ["home", "scan", "results"] {
            telemetry.record("screen_view", attributes: ["screen": .string(screen)])
        }
        #expect(try telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "e2e")) == 3)
        let report = await uploader.drain()
        #expect(report.accepted == 1)
        #expect(report.retries == 2)
        let requests = server.requests
        #expect(requests.count == 3, "the same batch three times: 429, 503, then accepted")
        #expect(
            Set(requests.map { $0.headers["idempotency-key"] ?? "" }).count == 1, "one payload, retried under one key")
        let last = try #require(requests.last)
        #expect(last.path == "/v1/logs")
        #expect(last.headers["content-type"] == "application/json")
        let body = try #require(Gzip.decompress(last.body))
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let logs =
            ((json["resourceLogs"] as? [[String: Any]])?.first?["scopeLogs"] as? [[String: Any]])?.first?["logRecords"]
            as? [[String: Any]]
        #expect(logs?.count == 3)
        #expect(logs?.compactMap { $0["eventName"] as? String } == ["screen_view", "screen_view", "screen_view"])
        #expect(uploader.pendingCount == 0, "nothing left, nothing lost")
    }

    @Test func aPartialSuccessIsAcceptedOnceAndItsRejectionsCountedInTheAuditLedger() async throws {
        let server = try LoopbackServer(replies: [
            .respond(
                status: 200,
                body: Array(#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"too large"}}"#.utf8))
        ])
        defer { server.stop() }
        let f = try OTLPFixture()
        let audit = f.audit, telemetry = f.telemetry
        var transport = try HTTPTransport(endpoint: server.url)
        transport.acceptedResponseHandler = OTLPPartialSuccess.auditing(into: audit)
        let uploader = try f.uploader(transport)
        for screen in ["home", "scan", "results"] {
            telemetry.record("screen_view", attributes: ["screen": .string(screen)])
        }
        try telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "partial"))
        let report = await uploader.drain()
        #expect(report.accepted == 1)
        #expect(report.retries == 0, "a partial success is never retried")
        #expect(server.requests.count == 1)
        let rejected = audit.entries().filter { $0.category == .usageEvents && $0.purpose == .analytics }
            .reduce(0) { $0 + ($1.dropped[.rejected] ?? 0) }
        #expect(rejected == 2, "the receiver's two rejected records are accounted for")
    }

    @Test func metricsGoToV1MetricsOnTheSameEndpoint() async throws {
        let server = try LoopbackServer(replies: [.respond(status: 200)])
        defer { server.stop() }
        let f = try OTLPFixture()
        let metrics = TelemetryMetrics(consent: f.ledger)
        metrics.counter(name: "scans", purpose: .analytics).add(3)
        let uploader = try f.uploader(try HTTPTransport(endpoint: server.url))
        #expect(try metrics.submit(to: uploader, resource: TelemetryResource(serviceName: "e2e")) == 1)
        #expect(await uploader.drain().accepted == 1)
        let request = try #require(server.requests.first)
        #expect(request.path == "/v1/metrics")
        #expect(request.headers["steward-path"] == nil, "the routing header is not sent")
        let body = try #require(Gzip.decompress(request.body))
        #expect(String(decoding: body, as: UTF8.self).contains(#""name":"scans""#))
    }

    @Test func nothingIsSentForAWithdrawnPurpose() async throws {
        let server = try LoopbackServer(replies: [])
        defer { server.stop() }
        let dir = NSTemporaryDirectory() + "steward-otlp-e2e-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider())
        defer { try? vault.close() }
        let manifest = Self.manifest()
        let ledger = try ConsentLedger(manifest: manifest, vault: vault)
        try ledger.grant([.analytics])
        let audit = try AuditLedger(vault: vault)
        let telemetry = try Telemetry(manifest: manifest, vault: vault, consent: ledger, audit: audit)
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: try HTTPTransport(endpoint: server.url), vault: vault,
            consent: ledger, manifest: manifest, audit: audit)
        telemetry.record("screen_view", attributes: ["screen": .string("home")])
        try telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "e2e"))
        try ledger.deny([.analytics])  // queued, not yet sent: withdrawn
        let report = await uploader.drain()
        #expect(report.accepted == 0)
        #expect(server.requests.isEmpty, "a withdrawn purpose's queued data never reaches the wire")
    }
}

@Suite struct PayloadPathTests {
    @Test(arguments: ["/v1/logs", "/otlp/v1/metrics", "/a-b_c~d/e:f@g"])
    func plainPathsAreAppendedToTheEndpoint(path: String) {
        #expect(
            HTTPTransport.appendingPath(path, to: "https://collector.example.com:4318/")
                == "https://collector.example.com:4318" + path)
        #expect(HTTPTransport.appendingPath(path, to: "https://h/otlp") == "https://h/otlp" + path)
    }

    @Test(arguments: [
        "v1/logs", "/a|b", "/a\"b", "/a{b}", "/a\\b", "/a^b", "/%zz", "/a%20b", "/../etc", "/a?b", "/a#b", "/a b",
        "/a\u{7}b",
    ])
    func anythingElseIsRefusedNeverATrap(path: String) async throws {
        #expect(HTTPTransport.appendingPath(path, to: "https://h") == nil)
        // Sent through the transport: rejected with a reason, the process lives on.
        let transport = try HTTPTransport(endpoint: URL(string: "https://collector.example.com")!)
        let payload = Payload(
            recipient: "telemetryBackend", purpose: .analytics, categories: [.usageEvents],
            contentType: "application/json",
            headers: [Payload.pathHeader: path], body: [], idempotencyKey: "k", created: Date())
        guard case .rejected = await transport.send(payload) else {
            Issue.record("a payload with the path \(path) was not rejected")
            return
        }
    }
}
