// Steward's swift-log and swift-metrics bridges beside swift-otel 1.6.0's logging and metrics
// backends and a no-op handler (issue 19), in one run, one process, the same machine.
// - "log line": `logger.warning(_:metadata:)` with two metadata values, 1,000 per iteration
//   (`.kilo`, so the time rows read per call): through `StewardLogHandler` recording a declared
//   event (analytics granted; breadcrumbs and reports off), through `StewardLogHandler` making
//   a breadcrumb only, through swift-otel's logging backend (batch processor and OTLP HTTP
//   exporter running), and through swift-log's no-op handler.
// - "log line, denied": the same call while the event's purpose is denied (the handler then
//   raises its level: `Logger` builds nothing), beside the no-op handler; 1,000,000 per iteration.
// - "counter increment" and "timer record": swift-metrics' `Counter.increment()` and
//   `Timer.recordNanoseconds(_:)` on a handler made once, with two dimensions, through
//   `StewardMetricsFactory` and through swift-otel's metrics backend.
// - "burst of 200,000 log lines": lines kept by Steward (custom metric), all of them
//   recorded and stored (swift-otel's defaults keep about 1 %: its batch processor's queue
//   holds 2,048 and drops the rest; see Documentation/Performance.md).
// swift-otel's exporters send to a loopback port nothing listens on: exports fail off the
// measured thread, as Steward's storing happens off it. See Documentation/Performance.md.

import Benchmark
import BridgeShared
import CoreMetrics
import Foundation
import Logging
import OTel
import Steward
import StewardCore
import StewardLogging
import StewardMetrics
import StewardTelemetry

/// A started Steward (analytics granted or denied), its bridges, and swift-otel's backends.
private final class BridgeFixture: @unchecked Sendable {
    // @unchecked Sendable: built once in setup; package-benchmark runs benchmarks one at a time.
    let directory = NSTemporaryDirectory() + "/steward-bridge-bench-\(UUID().uuidString)"
    let steward: Steward
    let eventLogger: Logger
    let breadcrumbLogger: Logger
    let otelLogger: Logger
    let noOpLogger = Logger(label: "bench.noop", factory: { _ in SwiftLogNoOpLogHandler() })
    let stewardCounter: Counter
    let stewardTimer: CoreMetrics.Timer
    let otelCounter: Counter
    let otelTimer: CoreMetrics.Timer
    let services: [Task<Void, Never>]

    init(granted: Bool) throws {
        steward = try Steward.start(try BridgeShared.configuration(directory: directory))
        if granted { try steward.consent.grant([.analytics]) } else { try steward.consent.deny([.analytics]) }
        let steward = steward
        eventLogger = Logger(label: "bench.steward") {
            StewardLogHandler(
                label: $0, steward: steward,
                options: .init(breadcrumbLevel: nil, event: "app_log", eventLevel: .warning))
        }
        breadcrumbLogger = Logger(label: "bench.steward.crumbs") {
            StewardLogHandler(label: $0, steward: steward, options: .init(breadcrumbLevel: .info))
        }
        let metrics = StewardMetricsFactory(steward: steward)
        let dimensions = [("route", "/orders"), ("status", "200")]
        stewardCounter = Counter(label: "http.server.requests", dimensions: dimensions, factory: metrics)
        stewardTimer = CoreMetrics.Timer(label: "http.server.duration", dimensions: dimensions, factory: metrics)

        var otel = OTel.Configuration.default
        otel.serviceName = "bench"
        otel.traces.enabled = false
        otel.diagnosticLogLevel = .error
        otel.logs.level = .info
        otel.logs.otlpExporter.endpoint = "http://127.0.0.1:9/v1/logs"
        otel.metrics.otlpExporter.endpoint = "http://127.0.0.1:9/v1/metrics"
        let (logFactory, logService) = try OTel.makeLoggingBackend(configuration: otel)
        let (metricsFactory, metricsService) = try OTel.makeMetricsBackend(configuration: otel)
        otelLogger = Logger(label: "bench.otel", factory: logFactory)
        otelCounter = Counter(label: "http.server.requests", dimensions: dimensions, factory: metricsFactory)
        otelTimer = CoreMetrics.Timer(label: "http.server.duration", dimensions: dimensions, factory: metricsFactory)
        services = [Task { try? await logService.run() }, Task { try? await metricsService.run() }]
    }

    deinit {
        services.forEach { $0.cancel() }
        steward.stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

private nonisolated(unsafe) var fixture: BridgeFixture?

let benchmarks: @Sendable () -> Void = {
    func configuration(granted: Bool, _ scaling: BenchmarkScalingFactor, _ metrics: [BenchmarkMetric])
        -> Benchmark.Configuration
    {
        Benchmark.Configuration(
            metrics: metrics, scalingFactor: scaling, maxDuration: .seconds(3),
            setup: { fixture = try BridgeFixture(granted: granted) }, teardown: { fixture = nil })
    }
    let perCall = configuration(granted: true, .kilo, [.wallClock, .throughput, .mallocCountTotal])
    let perCallDenied = configuration(granted: false, .mega, [.wallClock, .throughput])

    // The same line through each logger: (name, configuration, the fixture's logger).
    let logLines: [(String, Benchmark.Configuration, @Sendable (BridgeFixture) -> Logger)] = [
        ("log line: StewardLogHandler, declared event granted", perCall, { $0.eventLogger }),
        ("log line: StewardLogHandler, breadcrumb only", perCall, { $0.breadcrumbLogger }),
        ("log line: swift-otel logging backend", perCall, { $0.otelLogger }),
        ("log line: swift-log no-op handler", perCall, { $0.noOpLogger }),
        ("log line, denied: StewardLogHandler, declared event denied", perCallDenied, { $0.eventLogger }),
        ("log line, denied: swift-log no-op handler", perCallDenied, { $0.noOpLogger }),
    ]
    for (name, configuration, logger) in logLines {
        Benchmark(name, configuration: configuration) { benchmark in
            guard let fixture else { return }
            let logger = logger(fixture)
            for index in benchmark.scaledIterations {
                logger.warning("slow request", metadata: ["route": "/orders", "status": "\(index)"])
            }
        }
    }

    Benchmark("counter increment: StewardMetricsFactory", configuration: perCall) { benchmark in
        guard let counter = fixture?.stewardCounter else { return }
        for _ in benchmark.scaledIterations { counter.increment() }
    }

    Benchmark("counter increment: swift-otel metrics backend", configuration: perCall) { benchmark in
        guard let counter = fixture?.otelCounter else { return }
        for _ in benchmark.scaledIterations { counter.increment() }
    }

    Benchmark("timer record: StewardMetricsFactory", configuration: perCall) { benchmark in
        guard let timer = fixture?.stewardTimer else { return }
        for index in benchmark.scaledIterations { timer.recordNanoseconds(Int64(index) * 1_000) }
    }

    Benchmark("timer record: swift-otel metrics backend", configuration: perCall) { benchmark in
        guard let timer = fixture?.otelTimer else { return }
        for index in benchmark.scaledIterations { timer.recordNanoseconds(Int64(index) * 1_000) }
    }

    let kept = BenchmarkMetric.custom("lines kept", polarity: .prefersLarger, useScalingFactor: false)
    Benchmark(
        "burst of 200,000 log lines: StewardLogHandler, declared event granted",
        configuration: Benchmark.Configuration(
            metrics: [.wallClock, kept], maxDuration: .seconds(60), maxIterations: 3,
            setup: { fixture = try BridgeFixture(granted: true) }, teardown: { fixture = nil })
    ) { benchmark in
        guard let fixture else { return }
        let logger = fixture.eventLogger
        let before = fixture.steward.audit.entries().reduce(0) { $0 + $1.collected }
        for index in 0..<200_000 {
            logger.warning("slow request", metadata: ["route": "/orders", "status": "\(index)"])
        }
        try? fixture.steward.telemetry.flush()
        let after = fixture.steward.audit.entries().reduce(0) { $0 + $1.collected }
        benchmark.measurement(kept, after - before)
    }
}
