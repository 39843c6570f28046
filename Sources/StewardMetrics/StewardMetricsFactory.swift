public import CoreMetrics
public import Steward
import StewardCore
import StewardTelemetry
import Synchronization

/// A swift-metrics `MetricsFactory` over Steward's metrics: what the code counts, records and
/// times through swift-metrics is delivered as OTLP metrics, each metric only under the purpose
/// the manifest declares for it and only while the user grants it.
///
/// - **Declared or dropped.** A metric's label must be declared in the manifest's `metrics`
///   (``MetricDeclaration``): its purpose, category and dimensions. An undeclared label records
///   nothing, and each handler made for it is counted in the audit ledger as dropped
///   (`undeclared`), as for undeclared events.
/// - **Dimensions**: only the declared ones are kept; their values pass the metric filter
///   (values under a secret's name, UUIDs and what the identifier filter finds are left out)
///   and the instrument's cardinality limit. They are worked out once per handler, which
///   holds its attribute set's aggregate (``TelemetryMetrics/Series``): a measurement costs a
///   consent check and an update under that set's own lock, no dictionary hashing.
/// - **Mapping**: `Counter` and `FloatingPointCounter` are counters (delta sums); `Meter` and
///   a non-aggregating `Recorder` (swift-metrics' `Gauge`) are gauges. A meter's current value
///   (what `increment` and `decrement` move) is kept in memory by the factory, one per label and
///   dimensions, whatever the consent: it is state, not a measurement, and it is reported only
///   while the purpose is granted; an aggregating `Recorder` and `Timer` are histograms with the
///   declared bounds, or OpenTelemetry's default ones. A timer records in its declared unit
///   (`ns`, `us`, `ms` or `s`; seconds when it declares another or none, with seconds' bounds).
///   `reset()` and `destroy` are no-ops: sums start again after every collection.
///
/// ```swift
/// let steward = try Steward.start(configuration)
/// MetricsSystem.bootstrap(StewardMetricsFactory(steward: steward))
/// Counter(label: "http.server.requests", dimensions: [("route", "/orders")]).increment()
/// ```
public final class StewardMetricsFactory: MetricsFactory {
    /// OpenTelemetry's default explicit bucket bounds.
    public static let defaultBounds: [Double] = [
        0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1_000, 2_500, 5_000, 7_500, 10_000,
    ]
    /// The semantic conventions' bounds for durations in seconds (timers without other bounds).
    public static let secondsBounds: [Double] = [
        0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
    ]

    private let steward: Steward
    /// A meter's value, one per label and kept dimensions: swift-metrics makes a new handler for
    /// each `Meter(label:dimensions:)`, and they must add up to one value.
    private let meterValues = Mutex<[MeterKey: MeterValue]>([:])

    struct MeterKey: Hashable {
        let label: String
        let attributes: [String: AttributeValue]
    }

    /// A factory recording into `steward`'s metrics (``Steward/metrics``).
    public init(steward: Steward) {
        self.steward = steward
    }

    /// A counter for `label`, or a handler that records nothing when it is not declared.
    public func makeCounter(label: String, dimensions: [(String, String)]) -> any CounterHandler {
        guard let (declaration, attributes) = resolve(label, dimensions) else { return Ignored() }
        return CounterBridge(counter(declaration), attributes)
    }

    /// A counter of fractional amounts for `label`.
    public func makeFloatingPointCounter(label: String, dimensions: [(String, String)])
        -> any FloatingPointCounterHandler
    {
        guard let (declaration, attributes) = resolve(label, dimensions) else { return Ignored() }
        return CounterBridge(counter(declaration), attributes)
    }

    /// A gauge for `label` whose value the handler keeps (`set`, `increment`, `decrement`).
    public func makeMeter(label: String, dimensions: [(String, String)]) -> any MeterHandler {
        guard let (declaration, attributes) = resolve(label, dimensions) else { return Ignored() }
        let value = meterValues.withLock { values in
            if let existing = values[MeterKey(label: label, attributes: attributes)] { return existing }
            let value = MeterValue()
            values[MeterKey(label: label, attributes: attributes)] = value
            return value
        }
        return MeterBridge(gauge(declaration), attributes, value)
    }

    /// A histogram (`aggregate`) or a gauge for `label`.
    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> any RecorderHandler {
        guard let (declaration, attributes) = resolve(label, dimensions) else { return Ignored() }
        if aggregate {
            return RecorderBridge(histogram(declaration, bounds: Self.defaultBounds), nil, attributes)
        }
        return RecorderBridge(nil, gauge(declaration), attributes)
    }

    /// A histogram of durations for `label`, in its declared unit.
    public func makeTimer(label: String, dimensions: [(String, String)]) -> any TimerHandler {
        guard let (declaration, attributes) = resolve(label, dimensions) else { return Ignored() }
        let (unit, nanosecondsPerUnit): (String, Double) =
            switch declaration.unit {
            case "ns": ("ns", 1)
            case "us": ("us", 1e3)
            case "ms": ("ms", 1e6)
            default: ("s", 1e9)
            }
        var seconds = declaration
        seconds.unit = unit
        let histogram = histogram(seconds, bounds: unit == "s" ? Self.secondsBounds : Self.defaultBounds)
        return TimerBridge(histogram, attributes, nanosecondsPerUnit: nanosecondsPerUnit)
    }

    /// Nothing to release: handlers hold no resources of their own.
    public func destroyCounter(_ handler: any CounterHandler) {}
    /// Nothing to release.
    public func destroyMeter(_ handler: any MeterHandler) {}
    /// Nothing to release.
    public func destroyFloatingPointCounter(_ handler: any FloatingPointCounterHandler) {}
    /// Nothing to release.
    public func destroyRecorder(_ handler: any RecorderHandler) {}
    /// Nothing to release.
    public func destroyTimer(_ handler: any TimerHandler) {}

    // MARK: - Declarations

    /// The declaration of `label` and its declared dimensions as sanitised attributes; nil,
    /// counted as undeclared, when the manifest does not declare it.
    private func resolve(
        _ label: String, _ dimensions: [(String, String)]
    ) -> (MetricDeclaration, [String: AttributeValue])? {
        guard let declaration = steward.manifest.declaration(ofMetric: label) else {
            steward.audit.recordDropped(.usageEvents, purpose: .analytics, reason: .undeclared)
            return nil
        }
        let declared = Set(declaration.dimensions)
        var attributes: [String: AttributeValue] = [:]
        for (name, value) in dimensions where declared.contains(name) {
            attributes[name] = .string(value)
        }
        return (declaration, TelemetryMetrics.sanitised(attributes))
    }

    private func counter(_ declaration: MetricDeclaration) -> TelemetryMetrics.Counter {
        steward.metrics.counter(
            name: declaration.name, unit: declaration.unit ?? "1", purpose: declaration.purpose,
            category: declaration.category)
    }

    private func gauge(_ declaration: MetricDeclaration) -> TelemetryMetrics.Gauge {
        steward.metrics.gauge(
            name: declaration.name, unit: declaration.unit ?? "1", purpose: declaration.purpose,
            category: declaration.category)
    }

    private func histogram(_ declaration: MetricDeclaration, bounds: [Double]) -> TelemetryMetrics.Histogram {
        steward.metrics.histogram(
            name: declaration.name, unit: declaration.unit ?? "1", purpose: declaration.purpose,
            category: declaration.category, bounds: declaration.bounds ?? bounds)
    }
}

/// The handler of an undeclared label: records nothing.
final class Ignored: CounterHandler, FloatingPointCounterHandler, MeterHandler, RecorderHandler, TimerHandler {
    func increment(by: Int64) {}
    func increment(by: Double) {}
    func decrement(by: Double) {}
    func reset() {}
    func set(_ value: Int64) {}
    func set(_ value: Double) {}
    func record(_ value: Int64) {}
    func record(_ value: Double) {}
    func recordNanoseconds(_ duration: Int64) {}
}

final class CounterBridge: CounterHandler, FloatingPointCounterHandler {
    let series: TelemetryMetrics.Series

    init(_ counter: TelemetryMetrics.Counter, _ attributes: [String: AttributeValue]) {
        series = counter.series(sanitised: attributes)
    }

    func increment(by amount: Int64) { series.record(Double(amount)) }
    func increment(by amount: Double) { series.record(amount) }
    func reset() {}
}

/// The value of one meter (label and dimensions), shared by its handlers.
final class MeterValue: Sendable {
    let value = Mutex<Double>(0)
}

final class MeterBridge: MeterHandler {
    let series: TelemetryMetrics.Series
    let shared: MeterValue

    init(_ gauge: TelemetryMetrics.Gauge, _ attributes: [String: AttributeValue], _ shared: MeterValue) {
        series = gauge.series(sanitised: attributes)
        self.shared = shared
    }

    func set(_ value: Int64) { set(Double(value)) }
    func set(_ value: Double) { update { $0 = value } }
    func increment(by amount: Double) { update { $0 += amount } }
    func decrement(by amount: Double) { update { $0 -= amount } }

    /// Changes the kept value (a NaN or infinite result is refused and the value kept) and
    /// sets the gauge to it, under one lock so concurrent changes reach the gauge in order.
    private func update(_ change: (inout Double) -> Void) {
        shared.value.withLock { current in
            var next = current
            change(&next)
            guard next.isFinite else { return }
            current = next
            series.record(next)
        }
    }
}

final class RecorderBridge: RecorderHandler {
    let histogram: TelemetryMetrics.Series?
    let gauge: TelemetryMetrics.Series?

    init(
        _ histogram: TelemetryMetrics.Histogram?, _ gauge: TelemetryMetrics.Gauge?,
        _ attributes: [String: AttributeValue]
    ) {
        self.histogram = histogram?.series(sanitised: attributes)
        self.gauge = gauge?.series(sanitised: attributes)
    }

    func record(_ value: Int64) { record(Double(value)) }
    func record(_ value: Double) {
        histogram?.record(value)
        gauge?.record(value)
    }
}

final class TimerBridge: TimerHandler {
    let series: TelemetryMetrics.Series
    let nanosecondsPerUnit: Double

    init(_ histogram: TelemetryMetrics.Histogram, _ attributes: [String: AttributeValue], nanosecondsPerUnit: Double) {
        series = histogram.series(sanitised: attributes)
        self.nanosecondsPerUnit = nanosecondsPerUnit
    }

    func recordNanoseconds(_ duration: Int64) {
        series.record(Double(duration) / nanosecondsPerUnit)
    }
}
