// Steward's telemetry beside swift-otel 1.6.0 (issue 18), in one run, one process, the same
// machine: so the ratios hold whoever measures them.
// - "granted, 2 attributes": Steward's `record(handle, attributes:)` of a granted purpose,
//   and swift-otel's logging backend (`OTel.makeLoggingBackend`, its batch processor and OTLP
//   HTTP exporter, running) through swift-log: `logger.info(_:metadata:)` with the same two
//   values. 1,000 per iteration (`.kilo`): the time rows read per call, p50 to p99.9.
// - "denied / nothing to do": Steward's `record` of a denied purpose with the attributes written
//   at the call site, and swift-log's `SwiftLogNoOpLogHandler` (a logger that does nothing).
//   1,000,000 per iteration (`.mega`).
// The exporter sends to a loopback port nothing listens on: its exports fail and are dropped,
// off the measured thread, as Steward's storing is.
// The sentry-native figures of the issue (start, memory, handled errors, crash records) are a
// reference measured outside this package: building sentry-native is not a step of any run.
// See Documentation/Performance.md.

import Benchmark
import Foundation
import Logging
import OTel
import StewardCore
import StewardTelemetry

private let manifest = PrivacyManifest(
    policyVersion: "bench",
    purposes: [
        .init(id: .analytics, description: "Analytics", legalBasis: .consent),
        .init(id: .crashReporting, description: "Crashes", legalBasis: .consent),
    ],
    dataCategories: [
        .init(
            id: .usageEvents, description: "Events", purposes: [.analytics], retentionDays: 30,
            sensitivity: .personal, leavesDevice: false),
        .init(
            id: .crashDiagnostics, description: "Crashes", purposes: [.crashReporting], retentionDays: 30,
            sensitivity: .personal, leavesDevice: false),
    ],
    events: [
        .init(
            name: "screen_view", purpose: .analytics, category: .usageEvents,
            attributes: [
                .init(name: "screen", type: .string, classification: .plain),
                .init(name: "duration_ms", type: .int, classification: .plain),
            ]),
        .init(name: "crash_marker", purpose: .crashReporting, category: .crashDiagnostics),
    ])

/// Steward's telemetry (analytics granted, crash reporting denied) and swift-otel's logger.
private final class PeerFixture: @unchecked Sendable {
    // @unchecked Sendable: built once in setup; package-benchmark runs benchmarks one at a time.
    let directory: String
    let vault: Vault
    let telemetry: Telemetry
    let granted: Telemetry.EventHandle
    let denied: Telemetry.EventHandle
    let otelLogger: Logger
    let noOpLogger = Logger(label: "bench.noop", factory: { _ in SwiftLogNoOpLogHandler() })
    let otelService: Task<Void, Never>

    init() throws {
        directory = NSTemporaryDirectory() + "/steward-peer-bench-\(UUID().uuidString)"
        vault = try Vault.open(dataDirectory: directory)
        let ledger = try ConsentLedger(manifest: manifest, vault: vault)
        try ledger.grant([.analytics])
        try ledger.deny([.crashReporting])
        telemetry = try Telemetry(manifest: manifest, vault: vault, consent: ledger)
        guard let granted = telemetry.handle(for: "screen_view"), let denied = telemetry.handle(for: "crash_marker")
        else { throw CocoaError(.featureUnsupported) }
        self.granted = granted
        self.denied = denied

        var configuration = OTel.Configuration.default
        configuration.serviceName = "bench"
        configuration.traces.enabled = false
        configuration.metrics.enabled = false
        configuration.logs.enabled = true
        configuration.logs.level = .info
        configuration.diagnosticLogLevel = .error
        configuration.logs.otlpExporter.endpoint = "http://127.0.0.1:9/v1/logs"
        let (factory, service) = try OTel.makeLoggingBackend(configuration: configuration)
        otelLogger = Logger(label: "bench.otel", factory: factory)
        otelService = Task { try? await service.run() }
    }

    deinit {
        otelService.cancel()
        try? vault.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

private nonisolated(unsafe) var fixture: PeerFixture?

let benchmarks: @Sendable () -> Void = {
    let setup: () throws -> Void = { fixture = try PeerFixture() }
    let teardown: () throws -> Void = {
        try? fixture?.telemetry.flush()
        fixture = nil
    }
    let perCall = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(3),
        setup: setup, teardown: teardown)
    let perTinyCall = Benchmark.Configuration(
        metrics: [.wallClock, .throughput], scalingFactor: .mega, maxDuration: .seconds(3), setup: setup,
        teardown: teardown)

    Benchmark("granted, 2 attributes: Steward record(handle, attributes:)", configuration: perCall) { benchmark in
        guard let fixture else { return }
        let telemetry = fixture.telemetry, handle = fixture.granted
        for index in benchmark.scaledIterations {
            blackHole(
                telemetry.record(handle, attributes: ["screen": .string("scan"), "duration_ms": .int(Int64(index))]))
        }
    }

    Benchmark("granted, 2 attributes: swift-otel Logger.info(metadata:)", configuration: perCall) { benchmark in
        guard let fixture else { return }
        let logger = fixture.otelLogger
        for index in benchmark.scaledIterations {
            logger.info("screen_view", metadata: ["screen": "scan", "duration_ms": "\(index)"])
        }
    }

    Benchmark("denied: Steward record(handle, attributes:) written at the call site", configuration: perTinyCall) {
        benchmark in
        guard let fixture else { return }
        let telemetry = fixture.telemetry, handle = fixture.denied
        for index in benchmark.scaledIterations {
            blackHole(
                telemetry.record(handle, attributes: ["screen": .string("scan"), "duration_ms": .int(Int64(index))]))
        }
    }

    Benchmark("nothing to do: swift-log no-op handler Logger.info(metadata:)", configuration: perTinyCall) {
        benchmark in
        guard let fixture else { return }
        let logger = fixture.noOpLogger
        for index in benchmark.scaledIterations {
            logger.info("screen_view", metadata: ["screen": "scan", "duration_ms": "\(index)"])
        }
    }
}
