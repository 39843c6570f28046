import StewardCore
import Synchronization

extension TelemetryMetrics {
    // Nested, not top-level: `import Metrics` (swift-metrics) and `import Steward` in one file
    // would make top-level `Counter` and `Gauge` ambiguous.

    /// A monotonic counter declared by the host through ``TelemetryMetrics/counter(name:unit:description:purpose:category:)``.
    ///
    /// Adds are summed per attribute set over one export interval and reported as a monotonic
    /// delta sum; the sums start again from zero after each collection. Only a granted purpose
    /// counts: a denied one costs one atomic load, a pending one is dropped too (metrics are
    /// aggregates and are not held for a later answer).
    ///
    /// ```swift
    /// let scans = metrics.counter(name: "scans", unit: "{scan}", description: "Scans started", purpose: .analytics)
    /// scans.add()
    /// scans.add(2, attributes: ["mode": .string("document")])
    /// ```
    public struct Counter: Sendable {
        let storage: MetricStorage

        /// Adds `value` to the sum of `attributes`' set.
        ///
        /// - Parameters:
        ///   - value: What to add; negative, NaN and infinite values are ignored (a counter only
        ///     goes up).
        ///   - attributes: Low-cardinality plain values only, never identifiers; strings are cut to
        ///     ``TelemetryMetrics/maxStringLength`` characters.
        public func add(_ value: Double = 1, attributes: [String: AttributeValue] = [:]) {
            storage.record(value, attributes: attributes)
        }

        /// Adds `value` for attributes already passed through ``TelemetryMetrics/sanitised(_:)``.
        package func add(_ value: Double, sanitised attributes: [String: AttributeValue]) {
            storage.record(value, attributes: attributes, sanitised: true)
        }
    }

    /// A gauge declared by the host through ``TelemetryMetrics/gauge(name:unit:description:purpose:category:)``:
    /// the last value set per attribute set.
    ///
    /// A gauge keeps reporting its last value at every collection until its purpose stops being
    /// granted. Only a granted purpose records: a denied one costs one atomic load, a pending one
    /// is dropped too (metrics are not held).
    ///
    /// ```swift
    /// let queue = metrics.gauge(name: "queue.length", unit: "{item}", description: "Items waiting", purpose: .analytics)
    /// queue.set(12)
    /// ```
    public struct Gauge: Sendable {
        let storage: MetricStorage

        /// Sets the value of `attributes`' set.
        ///
        /// - Parameters:
        ///   - value: The current value; NaN and infinite values are ignored.
        ///   - attributes: Low-cardinality plain values only, never identifiers; strings are cut to
        ///     ``TelemetryMetrics/maxStringLength`` characters.
        public func set(_ value: Double, attributes: [String: AttributeValue] = [:]) {
            storage.record(value, attributes: attributes)
        }

        /// Sets `value` for attributes already passed through ``TelemetryMetrics/sanitised(_:)``.
        package func set(_ value: Double, sanitised attributes: [String: AttributeValue]) {
            storage.record(value, attributes: attributes, sanitised: true)
        }
    }

    /// An explicit-bucket histogram declared by the host through
    /// ``TelemetryMetrics/histogram(name:unit:description:purpose:category:bounds:)``.
    ///
    /// Bucket `i` counts values in `(bounds[i-1], bounds[i]]` (the first one from minus infinity, the
    /// last one to plus infinity), as OpenTelemetry defines it: a value equal to a bound goes to the
    /// lower bucket. Count, sum, min and max are kept too; all of it starts again after each
    /// collection (delta temporality). Only a granted purpose records (see ``TelemetryMetrics/Counter``).
    ///
    /// ```swift
    /// let latency = metrics.histogram(name: "scan.duration", unit: "ms", description: "Scan time",
    ///                                 purpose: .analytics, bounds: [10, 50, 100, 500])
    /// latency.record(42)
    /// ```
    public struct Histogram: Sendable {
        let storage: MetricStorage

        /// Records one measurement for `attributes`' set.
        ///
        /// - Parameters:
        ///   - value: The measurement; NaN and infinite values are ignored.
        ///   - attributes: Low-cardinality plain values only, never identifiers; strings are cut to
        ///     ``TelemetryMetrics/maxStringLength`` characters.
        public func record(_ value: Double, attributes: [String: AttributeValue] = [:]) {
            storage.record(value, attributes: attributes)
        }

        /// Records `value` for attributes already passed through ``TelemetryMetrics/sanitised(_:)``.
        package func record(_ value: Double, sanitised attributes: [String: AttributeValue]) {
            storage.record(value, attributes: attributes, sanitised: true)
        }
    }
}

/// One instrument's declaration and its aggregates for the current export interval, under a
/// lock of its own (instruments never contend with each other or with the uploader).
final class MetricStorage: Sendable {
    enum Kind: Hashable, Sendable {
        case counter
        case gauge
        case histogram(bounds: [Double])
    }

    /// The aggregate of one attribute set.
    struct Aggregate: Sendable {
        /// Sum (counter, histogram) or last value (gauge).
        var value: Double = 0
        var count: UInt64 = 0
        var min: Double = .infinity
        var max: Double = -.infinity
        var buckets: [UInt64] = []
    }

    let name: String
    let unit: String
    let description: String
    let purpose: Purpose
    let category: DataCategory
    let kind: Kind
    private let isCounter: Bool
    private let bounds: [Double]
    private let handle: ConsentLedger.ConsentHandle?
    private let consent: ConsentLedger
    private let limit: Int
    private let aggregates = Mutex<[[String: AttributeValue]: Aggregate]>([:])

    init(
        name: String, unit: String, description: String, purpose: Purpose, category: DataCategory, kind: Kind,
        consent: ConsentLedger, limit: Int, declared: Bool = true
    ) {
        self.name = name
        self.unit = unit
        self.description = description
        self.purpose = purpose
        self.category = category
        self.kind = kind
        self.isCounter = kind == .counter
        if case .histogram(let bounds) = kind { self.bounds = bounds } else { self.bounds = [] }
        // An instrument the manifest does not declare (purpose or category) gets no handle.
        self.handle = declared ? consent.handle(for: purpose) : nil
        self.consent = consent
        self.limit = max(1, limit)
    }

    /// Records `value` for `attributes`; `sanitised` says they already went through
    /// ``TelemetryMetrics/sanitised(_:)`` (a bridge that reuses one set).
    func record(_ value: Double, attributes: [String: AttributeValue], sanitised: Bool = false) {
        // An undeclared purpose has no handle and never records.
        guard let handle else { return }
        // Denied: one atomic load. Pending: dropped, metrics are not held.
        if consent.isDenied(handle) || !consent.isGranted(handle) { return }
        guard value.isFinite, !isCounter || value >= 0 else { return }
        let key = attributes.isEmpty || sanitised ? attributes : TelemetryMetrics.sanitised(attributes)
        let bucket = bounds.isEmpty ? 0 : Self.bucket(of: value, in: bounds)
        aggregates.withLock { sets in
            var key = key
            // At most `limit` sets, the overflow set among them (as the OpenTelemetry SDKs do).
            if sets[key] == nil, sets.count >= limit - 1, key != TelemetryMetrics.overflowAttributes {
                key = TelemetryMetrics.overflowAttributes
            }
            update(&sets[key, default: Aggregate()], with: value, bucket: bucket)
        }
    }

    private func update(_ aggregate: inout Aggregate, with value: Double, bucket: Int) {
        switch kind {
        case .counter:
            aggregate.value += value
        case .gauge:
            aggregate.value = value
        case .histogram:
            if aggregate.buckets.isEmpty { aggregate.buckets = Array(repeating: 0, count: bounds.count + 1) }
            aggregate.buckets[bucket] += 1
            aggregate.value += value
            aggregate.count += 1
            aggregate.min = Swift.min(aggregate.min, value)
            aggregate.max = Swift.max(aggregate.max, value)
        }
    }

    /// The first bucket whose upper bound is at least `value`: bucket `i` covers
    /// `(bounds[i-1], bounds[i]]`.
    static func bucket(of value: Double, in bounds: [Double]) -> Int {
        var low = 0
        var high = bounds.count
        while low < high {
            let middle = (low + high) / 2
            if bounds[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }

    /// The interval's points, and the sums and histograms start again; gauges keep their last
    /// value. Nothing is returned, and everything is dropped, unless the purpose is granted now.
    func collect(start: UInt64, end: UInt64) -> [TelemetryMetric] {
        let granted = handle.map { consent.isGranted($0) } ?? false
        let snapshot = aggregates.withLock { sets -> [[String: AttributeValue]: Aggregate] in
            guard granted else {
                sets.removeAll()
                return [:]
            }
            if kind == .gauge { return sets }
            defer { sets.removeAll(keepingCapacity: true) }
            return sets
        }
        return
            snapshot
            .map { (attributes: $0.key, aggregate: $0.value, order: Self.order($0.key)) }
            .sorted { $0.order < $1.order }
            .map { point in
                TelemetryMetric(
                    name: name, unit: unit, description: description, purpose: purpose, attributes: point.attributes,
                    startTimeUnixNano: start, timeUnixNano: end, data: data(point.aggregate))
            }
    }

    /// Drops every aggregate (the purpose was withdrawn).
    func reset() {
        aggregates.withLock { $0.removeAll() }
    }

    private func data(_ aggregate: Aggregate) -> TelemetryMetric.Data {
        switch kind {
        case .counter:
            .sum(value: aggregate.value, isMonotonic: true, isDelta: true)
        case .gauge:
            .gauge(value: aggregate.value)
        case .histogram(let bounds):
            .histogram(
                count: aggregate.count, sum: aggregate.value,
                min: aggregate.count > 0 ? aggregate.min : nil, max: aggregate.count > 0 ? aggregate.max : nil,
                explicitBounds: bounds,
                bucketCounts: aggregate.buckets.isEmpty
                    ? Array(repeating: 0, count: bounds.count + 1) : aggregate.buckets,
                isDelta: true)
        }
    }

    /// A stable order for points, so that the same aggregates always encode the same way.
    private static func order(_ attributes: [String: AttributeValue]) -> String {
        attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1F}")
    }
}
