import Foundation
import Logging
@testable import Steward
import StewardTesting
import Synchronization
import Testing

/// A swift-log handler that keeps every line, for tests.
private final class CapturedLog: Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    let lines = Mutex<[Line]>([])

    var handler: some LogHandler { Handler(log: self) }

    struct Handler: LogHandler {
        let log: CapturedLog
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let values = (event.metadata ?? [:]).mapValues { "\($0)" }
            log.lines.withLock {
                $0.append(Line(level: event.level, message: "\(event.message)", metadata: values))
            }
        }
    }
}

extension StewardFacadeTests {
    @Test func theDiagnosticsSayWhatStewardDidWithoutAnyPersonalData() async throws {
        let f = FacadeFixture()
        let log = CapturedLog()
        var configuration = try f.configuration()
        configuration.logger = Logger(label: "steward-diagnostics-tests") { _ in log.handler }
        let canary = "canary-7f3a-ana"
        let steward = try Steward.start(configuration)
        try steward.consent.grant([.analytics])
        _ = steward.telemetry.record("screen_view", attributes: ["screen": .string(canary)])
        // Crash reporting is pending: the report waits for the answer.
        struct Failed: Error {}
        steward.crashes.report(error: Failed(), message: "failed for \(canary)")
        await steward.send()
        steward.stop()

        let lines = log.lines.withLock { $0 }
        let codes = lines.compactMap { $0.metadata["steward.code"] }
        #expect(codes.contains("upload.accepted"), "\(codes)")
        // Other suites may log meanwhile (one handler per process): this instance's line.
        let accepted = try #require(
            lines.first {
                $0.metadata["steward.code"] == "upload.accepted"
                    && $0.metadata["steward.recipient"] == "telemetryBackend"
                    && $0.metadata["steward.purpose"] == "analytics"
            })
        #expect(accepted.level == .info && accepted.metadata["steward.categories"] == "usageEvents")
        for line in lines {
            #expect(!line.message.contains(canary) && !line.metadata.values.contains { $0.contains(canary) })
        }
        // Stopped: the handler is gone, nothing more is written.
        #expect(StewardDiagnostics.handler == nil)
    }

    /// The example manifest with `probe`, a recipient of usage events of one test's own.
    static func manifest(withProbe probe: RecipientID) throws -> PrivacyManifest {
        var manifest = try DisclosureTests.exampleManifest()
        manifest.recipients.append(.init(id: probe, name: "Probe", role: .processor, region: "DE"))
        for index in manifest.dataCategories.indices where manifest.dataCategories[index].id == .usageEvents {
            manifest.dataCategories[index].recipients.append(probe)
        }
        return manifest
    }

    /// The uploader's events: held for a pending purpose, a retry with its delay, an acceptance.
    /// (In the facade's serialized suite: the handler is one per process.)
    @Test func theUploaderTellsHeldRetriedAndAccepted() async throws {
        let events = Mutex<[DiagnosticEvent]>([])
        StewardDiagnostics.handler = { event in events.withLock { $0.append(event) } }
        defer { StewardDiagnostics.handler = nil }
        let directory = NSTemporaryDirectory() + "steward-diagnostics-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let wall = ManualWallClock()
        let vault = try Vault.open(directory: directory, keyProvider: InMemoryKeyProvider(), clock: wall)
        defer { try? vault.close() }
        // A recipient of this test's own, so events of other suites running meanwhile (one
        // handler per process) are told apart.
        let probe: RecipientID = "diagnosticsProbe"
        let manifest = try Self.manifest(withProbe: probe)
        let consent = FixedConsent([.analytics: .granted])
        let transport = RecordingTransport(clock: ContinuousClock(), answers: [.retry(after: .seconds(0))])
        let uploader = try Uploader(
            recipient: probe, transport: transport, vault: vault, consent: consent, manifest: manifest,
            audit: try AuditLedger(vault: nil, clock: wall), wallClock: wall)
        func payload(_ purpose: Purpose, _ category: DataCategory, _ key: String) -> Payload {
            Payload(
                recipient: probe, purpose: purpose, categories: [category],
                contentType: "application/json", body: Array("{}".utf8), idempotencyKey: key, created: wall.now)
        }
        #expect(try uploader.submit(payload(.analytics, .usageEvents, "a")) == .queued)
        _ = await uploader.drain()
        let pending = try Uploader(
            recipient: probe, transport: transport, vault: vault,
            consent: FixedConsent([.analytics: .pending]), manifest: manifest,
            audit: try AuditLedger(vault: nil, clock: wall), wallClock: wall)
        #expect(try pending.submit(payload(.analytics, .usageEvents, "b")) == .heldForConsent)
        let codes = events.withLock { $0.filter { $0.metadata["recipient"] == probe.rawValue }.map(\.code) }
        #expect(codes.contains("upload.retry") && codes.contains("upload.accepted"), "\(codes)")
        #expect(codes.contains("upload.held"), "\(codes)")
        let retry = try #require(
            events.withLock { $0.first { $0.code == "upload.retry" && $0.metadata["recipient"] == probe.rawValue } })
        #expect(retry.level == .notice && retry.metadata["delay_s"] == "0" && retry.metadata["attempt"] == "1")
    }

    /// A transport's absurd Retry-After is logged as the uploader clamps it, never converted
    /// unclamped (`Duration.components` traps past 2^63 s).
    @Test func aHugeRetryDelayIsLoggedClampedNotTrapped() async throws {
        let events = Mutex<[DiagnosticEvent]>([])
        StewardDiagnostics.handler = { event in events.withLock { $0.append(event) } }
        defer { StewardDiagnostics.handler = nil }
        let directory = NSTemporaryDirectory() + "steward-diagnostics-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let wall = ManualWallClock()
        let vault = try Vault.open(directory: directory, keyProvider: InMemoryKeyProvider(), clock: wall)
        defer { try? vault.close() }
        let probe: RecipientID = "diagnosticsHugeDelay"
        let manifest = try Self.manifest(withProbe: probe)
        let huge = Duration(secondsComponent: .max, attosecondsComponent: 0)
        let transport = RecordingTransport(clock: ContinuousClock(), answers: [.retry(after: huge)])
        let uploader = try Uploader(
            recipient: probe, transport: transport, vault: vault, consent: FixedConsent([.analytics: .granted]),
            manifest: manifest, audit: try AuditLedger(vault: nil, clock: wall), wallClock: wall)
        _ = try uploader.submit(
            Payload(
                recipient: probe, purpose: .analytics, categories: [.usageEvents], contentType: "application/json",
                body: Array("{}".utf8), idempotencyKey: "huge", created: wall.now))
        let drain = Task { await uploader.drain() }
        func retry() -> DiagnosticEvent? {
            events.withLock { $0.first { $0.code == "upload.retry" && $0.metadata["recipient"] == probe.rawValue } }
        }
        while retry() == nil { try await Task.sleep(for: .milliseconds(5)) }
        drain.cancel()
        _ = await drain.value
        #expect(retry()?.metadata["delay_s"] == String(RetryAfter.maximumSeconds))
    }

    @Test func withoutALoggerNothingIsWritten() async throws {
        let f = FacadeFixture()
        let steward = try Steward.start(try f.configuration())
        defer { steward.stop() }
        #expect(StewardDiagnostics.handler == nil)
    }
}
