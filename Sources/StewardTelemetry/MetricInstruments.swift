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

        /// The series of `attributes`, already passed through ``TelemetryMetrics/sanitised(_:)``,
        /// for a bridge that adds to the same set again and again (``TelemetryMetrics/Series``).
        package func series(sanitised attributes: [String: AttributeValue]) -> Series {
            storage.series(for: attributes)
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

        /// The series of `attributes`, already passed through ``TelemetryMetrics/sanitised(_:)``
        /// (``TelemetryMetrics/Series``).
        package func series(sanitised attributes: [String: AttributeValue]) -> Series {
            storage.series(for: attributes)
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

        /// The series of `attributes`, already passed through ``TelemetryMetrics/sanitised(_:)``
        /// (``TelemetryMetrics/Series``).
        package func series(sanitised attributes: [String: AttributeValue]) -> Series {
            storage.series(for: attributes)
        }
    }

    /// One instrument's attribute set, resolved once: what a bridge records with the same set
    /// again and again (a swift-metrics handler has fixed dimensions). Recording through it costs
    /// the consent check and the set's own lock; no attribute dictionary is hashed or compared.
    ///
    /// A counter adds, a gauge sets and a histogram records the value, with the instrument's
    /// rules (consent, finite values, a counter only goes up) and into the same aggregate as
    /// the instrument's own calls with these attributes. While the instrument is past its
    /// cardinality limit, the series records into the overflow set like any other new set.
    package struct Series: Sendable {
        let storage: MetricStorage
        let own: MetricSeries

        /// Records `value` into this attribute set.
        package func record(_ value: Double) { storage.record(value, into: own) }
    }
}

/// One attribute set's aggregate for the current interval, with a lock of its own, shared by
/// the instrument's map and the ``TelemetryMetrics/Series`` made for it.
///
/// `attached` says the instrument's map holds this object for ``attributes``: a series is
/// made detached when the cardinality limit left no room for it, and becomes detached, with its
/// aggregate emptied under the same lock, when a collection or a withdrawal empties the map
/// (the limit is per interval). A ``TelemetryMetrics/Series`` records
/// into its own set directly only while it is attached; otherwise through the map, which
/// attaches it again when there is room.
final class MetricSeries: Sendable {
    struct State {
        var aggregate: MetricStorage.Aggregate
        var attached: Bool
    }

    let attributes: [String: AttributeValue]
    let state: Mutex<State>

    init(attributes: [String: AttributeValue], bucketCount: Int, attached: Bool) {
        self.attributes = attributes
        self.state = Mutex(State(aggregate: MetricStorage.Aggregate(bucketCount: bucketCount), attached: attached))
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
        /// Measurements in the interval (for a gauge: since its last reset); a set with none is
        /// not reported.
        var count: UInt64 = 0
        var min: Double = .infinity
        var max: Double = -.infinity
        /// Per bucket (histograms; empty for the other kinds).
        var buckets: [UInt64]

        init(bucketCount: Int) {
            buckets = Array(repeating: 0, count: bucketCount)
        }

        /// Back to an empty interval, keeping the buckets' storage.
        mutating func reset() {
            value = 0
            count = 0
            min = .infinity
            max = -.infinity
            for index in buckets.indices { buckets[index] = 0 }
        }
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
    /// Buckets per aggregate: a histogram's bounds and one more; none for the other kinds.
    private let bucketCount: Int
    /// The attribute sets of the interval (gauges: of every interval since their last reset).
    private let sets = Mutex<[[String: AttributeValue]: MetricSeries]>([:])

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
        if case .histogram(let bounds) = kind {
            self.bounds = bounds
            self.bucketCount = bounds.count + 1
        } else {
            self.bounds = []
            self.bucketCount = 0
        }
        // An instrument the manifest does not declare (purpose or category) gets no handle.
        self.handle = declared ? consent.handle(for: purpose) : nil
        self.consent = consent
        self.limit = max(1, limit)
    }

    /// Records `value` for `attributes` (sanitised here).
    func record(_ value: Double, attributes: [String: AttributeValue]) {
        guard let bucket = admitted(value) else { return }
        let key = attributes.isEmpty ? attributes : TelemetryMetrics.sanitised(attributes)
        sets.withLock { sets in
            let series = Self.attach(key, nil, in: &sets, limit: limit, bucketCount: bucketCount)
            series.state.withLock { update(&$0.aggregate, with: value, bucket: bucket) }
        }
    }

    /// Records `value` into `series`: under its own lock while it is attached, otherwise
    /// through the map (which attaches it again when there is room).
    func record(_ value: Double, into series: MetricSeries) {
        guard let bucket = admitted(value) else { return }
        let recorded = series.state.withLock { state -> Bool in
            guard state.attached else { return false }
            update(&state.aggregate, with: value, bucket: bucket)
            return true
        }
        if recorded { return }
        sets.withLock { sets in
            let target = Self.attach(series.attributes, series, in: &sets, limit: limit, bucketCount: bucketCount)
            target.state.withLock { update(&$0.aggregate, with: value, bucket: bucket) }
        }
    }

    /// The series of sanitised `attributes`: the map's when it holds one, else a new one,
    /// attached when the cardinality limit leaves room.
    func series(for attributes: [String: AttributeValue]) -> TelemetryMetrics.Series {
        let bucketCount = self.bucketCount
        let own = sets.withLock { sets -> MetricSeries in
            if let existing = sets[attributes] { return existing }
            let fresh = MetricSeries(attributes: attributes, bucketCount: bucketCount, attached: false)
            _ = Self.attach(attributes, fresh, in: &sets, limit: limit, bucketCount: bucketCount)
            return fresh
        }
        return TelemetryMetrics.Series(storage: self, own: own)
    }

    /// The bucket `value` falls in, or nil when it is not recorded: no consent (an undeclared
    /// purpose has no handle; denied is one atomic load; pending is dropped, metrics are not
    /// held), not finite, or negative for a counter.
    private func admitted(_ value: Double) -> Int? {
        guard let handle else { return nil }
        if consent.isDenied(handle) || !consent.isGranted(handle) { return nil }
        guard value.isFinite, !isCounter || value >= 0 else { return nil }
        return bounds.isEmpty ? 0 : Self.bucket(of: value, in: bounds)
    }

    /// The series that records for `key` (called under the map's lock): the map's; else
    /// `candidate` (or a new series) put in the map and attached, when the limit leaves room;
    /// else the overflow set's (at most `limit` sets, the overflow set among them, as the
    /// OpenTelemetry SDKs do).
    private static func attach(
        _ key: [String: AttributeValue], _ candidate: MetricSeries?,
        in sets: inout [[String: AttributeValue]: MetricSeries],
        limit: Int, bucketCount: Int
    ) -> MetricSeries {
        if let existing = sets[key] { return existing }
        let key =
            sets.count >= limit - 1 && key != TelemetryMetrics.overflowAttributes
            ? TelemetryMetrics.overflowAttributes : key
        if let existing = sets[key] { return existing }
        let series =
            candidate.flatMap { $0.attributes == key ? $0 : nil }
            ?? MetricSeries(attributes: key, bucketCount: bucketCount, attached: true)
        series.state.withLock { $0.attached = true }
        sets[key] = series
        return series
    }

    private func update(_ aggregate: inout Aggregate, with value: Double, bucket: Int) {
        aggregate.count &+= 1
        switch kind {
        case .counter:
            aggregate.value += value
        case .gauge:
            aggregate.value = value
        case .histogram:
            if bucket < aggregate.buckets.count { aggregate.buckets[bucket] &+= 1 }
            aggregate.value += value
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
    ///
    /// Sets with no measurement in the interval are not reported. The cardinality limit is per
    /// interval: a counter's or histogram's sets are all evicted (detached) at each collection,
    /// and a ``TelemetryMetrics/Series`` attaches its set again on its first measurement of the
    /// next interval (one lookup in the map per interval), unless the map already holds another
    /// object for the same attributes: it then records into that one, through the map, for the
    /// rest of the interval. Gauges keep their sets.
    func collect(start: UInt64, end: UInt64) -> [TelemetryMetric] {
        let granted = handle.map { consent.isGranted($0) } ?? false
        guard granted else {
            reset()
            return []
        }
        let isGauge = kind == .gauge
        let snapshot = sets.withLock { sets -> [(attributes: [String: AttributeValue], aggregate: Aggregate)] in
            var points: [(attributes: [String: AttributeValue], aggregate: Aggregate)] = []
            for (key, series) in sets {
                // Taken, emptied and (for sums and histograms) detached under the set's one
                // lock: a bridge's measurement after this goes through the map, into the next
                // interval, never into an object that is no longer collected.
                let aggregate = series.state.withLock { state -> Aggregate? in
                    let aggregate = state.aggregate
                    if !isGauge {
                        state.aggregate.reset()
                        state.attached = false
                    }
                    return aggregate.count > 0 ? aggregate : nil
                }
                if let aggregate { points.append((key, aggregate)) }
            }
            // The limit is per interval: sums and histograms start each one with no set.
            if !isGauge { sets.removeAll(keepingCapacity: true) }
            return points
        }
        return
            snapshot
            .map { (attributes: $0.attributes, aggregate: $0.aggregate, order: Self.order($0.attributes)) }
            .sorted { $0.order < $1.order }
            .map { point in
                TelemetryMetric(
                    name: name, unit: unit, description: description, purpose: purpose, attributes: point.attributes,
                    startTimeUnixNano: start, timeUnixNano: end, data: data(point.aggregate))
            }
    }

    /// Drops every aggregate, gauges' values too (the purpose was withdrawn, or is not granted
    /// at a collection): each set is emptied and detached under its own lock, then the map is
    /// emptied.
    func reset() {
        sets.withLock { sets in
            for series in sets.values {
                series.state.withLock { state in
                    state.aggregate.reset()
                    state.attached = false
                }
            }
            sets.removeAll()
        }
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
                bucketCounts: aggregate.buckets,
                isDelta: true)
        }
    }

    /// A stable order for points, so that the same aggregates always encode the same way.
    private static func order(_ attributes: [String: AttributeValue]) -> String {
        attributes.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: "\u{1F}")
    }
}
