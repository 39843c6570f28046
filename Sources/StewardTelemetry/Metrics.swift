public import Foundation
public import StewardCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Counters, gauges and histograms the host declares in code, aggregated in memory per export
/// interval and delivered as OTLP `/v1/metrics`, only for purposes the user granted.
///
/// - **Instruments** are declared once, each with its purpose and data category:
///   ``counter(name:unit:description:purpose:category:)``,
///   ``gauge(name:unit:description:purpose:category:)`` and
///   ``histogram(name:unit:description:purpose:category:bounds:)``. Declaring the same name and
///   kind again returns the same instrument. The manifest must declare the data category for
///   the purpose (as it declares events): otherwise the instrument records nothing, and its
///   declaration is counted in the audit ledger as dropped (`undeclared`).
/// - **Consent at record time.** Each instrument holds a consent handle: a denied purpose costs
///   one atomic load and records nothing. A pending purpose records nothing either: metrics are
///   aggregates of an interval, so they are *not held* for a later answer the way events are.
///   A purpose the consent ledger does not know never records.
/// - **Consent again at collection.** ``collect(now:)`` reports an instrument only if its
///   purpose is granted then; the aggregates of a purpose denied since they were recorded are
///   dropped (and they are dropped at once when the ledger reports the withdrawal).
/// - **Attributes** must be low-cardinality plain values (`screen`, `mode`, `result`), never
///   identifiers: metrics are not pseudonymised. Strings are cut to ``maxStringLength``
///   characters, and string values that parse as a UUID or an IP address are left out. Each
///   instrument keeps at most ``cardinalityLimit`` attribute sets per interval; beyond that,
///   measurements go to the overflow set `otel.metric.overflow: true`, as the OpenTelemetry
///   SDKs do.
/// - **Temporality.** Sums and histograms are deltas: each collection reports what happened
///   since the previous one (`startTimeUnixNano` is the previous collection, `timeUnixNano`
///   now) and starts again from zero. Gauges report their last value.
///
/// Each instrument aggregates under a lock of its own, so recording never waits for another
/// instrument or for the uploader.
///
/// ```swift
/// let metrics = TelemetryMetrics(consent: ledger)
/// let scans = metrics.counter(name: "scans", unit: "{scan}", description: "Scans started", purpose: .analytics)
/// let duration = metrics.histogram(name: "scan.duration", unit: "ms", description: "Scan time",
///                                  purpose: .analytics, bounds: [10, 50, 100, 500])
/// scans.add(attributes: ["mode": .string("document")])
/// duration.record(42)
/// try metrics.submit(to: uploader, resource: resource)   // once per export interval
/// ```
public final class TelemetryMetrics: Sendable {
    /// The longest string attribute value kept, in characters.
    public static let maxStringLength = 64
    /// The attribute set that collects measurements beyond an instrument's cardinality limit.
    public static let overflowAttributes: [String: AttributeValue] = ["otel.metric.overflow": .bool(true)]

    /// The most attribute sets one instrument keeps per interval, the overflow set included.
    public let cardinalityLimit: Int

    private struct Registry {
        var instruments: [MetricStorage] = []
        var lastCollection: UInt64
    }

    private let consent: ConsentLedger
    private let clock: any WallClock
    private let audit: AuditLedger?
    private let registry: Mutex<Registry>

    /// Creates an empty set of instruments; the first interval starts now.
    ///
    /// - Parameters:
    ///   - consent: Checked when a measurement is recorded and again at collection.
    ///   - clock: Tells interval boundaries and payload dates.
    ///   - cardinalityLimit: The most attribute sets per instrument and interval, the overflow
    ///     set included (default 1,000; at least 1).
    ///   - audit: Counts the declarations of instruments the manifest does not declare (as
    ///     dropped, `undeclared`).
    public init(
        consent: ConsentLedger, clock: any WallClock = SystemWallClock(), cardinalityLimit: Int = 1_000,
        audit: AuditLedger? = nil
    ) {
        self.consent = consent
        self.clock = clock
        self.audit = audit
        self.cardinalityLimit = max(1, cardinalityLimit)
        self.registry = Mutex(Registry(lastCollection: Self.nanoseconds(clock.checkedNow)))
        consent.addObserver { [weak self] changes in self?.consentChanged(changes) }
    }

    // MARK: - Declaring instruments

    /// Declares a monotonic counter (reported as a delta sum).
    ///
    /// - Parameters:
    ///   - name: The metric name, such as `scans` (OpenTelemetry naming: lowercase, dots).
    ///   - unit: Its UCUM unit (`1`, `ms`, `By`, `{scan}`).
    ///   - description: What it counts.
    ///   - purpose: The purpose it is recorded under; nothing is recorded unless it is granted.
    ///   - category: The data category its payloads declare (default `DataCategory.usageEvents`).
    /// - Returns: The counter; the same one when `name` was declared as a counter before.
    public func counter(
        name: String, unit: String = "1", description: String = "", purpose: Purpose,
        category: DataCategory = .usageEvents
    ) -> Counter {
        Counter(storage: instrument(name, unit, description, purpose, category, .counter))
    }

    /// Declares a gauge (reported as its last value per attribute set).
    ///
    /// - Parameters:
    ///   - name: The metric name, such as `queue.length`.
    ///   - unit: Its UCUM unit.
    ///   - description: What it measures.
    ///   - purpose: The purpose it is recorded under; nothing is recorded unless it is granted.
    ///   - category: The data category its payloads declare (default `DataCategory.usageEvents`).
    /// - Returns: The gauge; the same one when `name` was declared as a gauge before.
    public func gauge(
        name: String, unit: String = "1", description: String = "", purpose: Purpose,
        category: DataCategory = .usageEvents
    ) -> Gauge {
        Gauge(storage: instrument(name, unit, description, purpose, category, .gauge))
    }

    /// Declares an explicit-bucket histogram.
    ///
    /// - Parameters:
    ///   - name: The metric name, such as `scan.duration`.
    ///   - unit: Its UCUM unit (`ms`, `By`).
    ///   - description: What it measures.
    ///   - purpose: The purpose it is recorded under; nothing is recorded unless it is granted.
    ///   - category: The data category its payloads declare (default `DataCategory.usageEvents`).
    ///   - bounds: The buckets' upper bounds; bucket `i` covers `(bounds[i-1], bounds[i]]`, and
    ///     one more bucket takes what is above the last bound. They are sorted and
    ///     de-duplicated; NaN and infinite bounds are left out.
    /// - Returns: The histogram; the same one when `name` was declared as a histogram with the
    ///   same bounds before.
    public func histogram(
        name: String, unit: String = "1", description: String = "", purpose: Purpose,
        category: DataCategory = .usageEvents, bounds: [Double]
    ) -> Histogram {
        let bounds = Array(Set(bounds.filter(\.isFinite))).sorted()
        return Histogram(storage: instrument(name, unit, description, purpose, category, .histogram(bounds: bounds)))
    }

    private func instrument(
        _ name: String, _ unit: String, _ description: String, _ purpose: Purpose, _ category: DataCategory,
        _ kind: MetricStorage.Kind
    ) -> MetricStorage {
        // Strict, as events are: the manifest must declare the category for the purpose, or the
        // instrument records nothing (and its declaration is counted).
        let declared = consent.manifest.declaration(of: category)?.purposes.contains(purpose) == true
        let (storage, isNew) = registry.withLock { r -> (MetricStorage, Bool) in
            if let existing = r.instruments.first(where: { $0.name == name && $0.kind == kind }) {
                return (existing, false)
            }
            let storage = MetricStorage(
                name: name, unit: unit, description: description, purpose: purpose, category: category,
                kind: kind, consent: consent, limit: cardinalityLimit, declared: declared)
            r.instruments.append(storage)
            return (storage, true)
        }
        if isNew && !declared { audit?.recordDropped(category, purpose: purpose, reason: .undeclared) }
        return storage
    }

    // MARK: - Collecting

    /// The points aggregated since the previous collection, for granted purposes only.
    ///
    /// Sums and histograms start again from zero; gauges keep their last value. Aggregates of
    /// a purpose that is not granted now are dropped.
    ///
    /// - Parameter now: The end of the interval (default: the clock's date). Clamped, never
    ///   refused: a NaN or infinite date is replaced by the clock's; a date before 1970 counts as
    ///   1970-01-01 and one after 2554-07-21T23:34:33Z (`.distantFuture`) as that instant, the
    ///   range of OTLP's nanosecond times. The interval never ends before it starts.
    /// - Returns: One point per instrument and attribute set, with `startTimeUnixNano` at the
    ///   previous collection and `timeUnixNano` at `now`.
    public func collect(now: Date? = nil) -> [TelemetryMetric] {
        collectPoints(now: now).map(\.metric)
    }

    private func collectPoints(now: Date?) -> [(metric: TelemetryMetric, category: DataCategory)] {
        let end = now.flatMap(\.unixNanoseconds) ?? Self.nanoseconds(clock.checkedNow)
        let (instruments, start) = registry.withLock { r in
            defer { r.lastCollection = max(r.lastCollection, end) }
            return (r.instruments, min(r.lastCollection, end))
        }
        return instruments.flatMap { storage in
            storage.collect(start: start, end: end).map { (metric: $0, category: storage.category) }
        }
    }

    /// Attribute values as metrics keep them: strings cut to ``maxStringLength``; values under
    /// a secret's name, and strings that look like identifiers (a UUID, or anything
    /// ``IdentifierFilter`` finds: an IP or MAC address, the machine ID, the host name, a card
    /// number, …) left out.
    package static func sanitised(_ attributes: [String: AttributeValue]) -> [String: AttributeValue] {
        var kept = attributes
        for (key, value) in attributes {
            if IdentifierFilter.isSecretKey(key) {
                kept[key] = nil
                continue
            }
            guard case .string(let text) = value else { continue }
            if looksLikeIdentifier(text) {
                kept[key] = nil
            } else if text.count > maxStringLength {
                kept[key] = .string(String(text.prefix(maxStringLength)))
            }
        }
        return kept
    }

    private static func looksLikeIdentifier(_ text: String) -> Bool {
        if text.utf8.count == 36, UUID(uuidString: text) != nil { return true }
        return IdentifierFilter.current.contains(text)
    }

    private func consentChanged(_ changes: [ConsentChange]) {
        let withdrawn = Set(changes.filter { $0.state != .granted }.map(\.purpose))
        guard !withdrawn.isEmpty else { return }
        for storage in registry.withLock({ $0.instruments }) where withdrawn.contains(storage.purpose) {
            storage.reset()
        }
    }

    /// `date` in OTLP nanoseconds, saturating (0 before 1970, `UInt64.max` after 2554).
    static func nanoseconds(_ date: Date) -> UInt64 {
        date.unixNanoseconds ?? 0
    }
}

extension TelemetryMetrics {
    /// Collects the interval's points and queues them for `uploader`'s recipient as OTLP
    /// `/v1/metrics` requests, one per purpose, declaring the categories of its instruments.
    /// The uploader checks consent again when it sends.
    ///
    /// Call it once per export interval. Points that were collected are gone from memory
    /// whatever happens next: a payload the uploader drops (for consent, or a category the
    /// manifest does not let leave the device) is not counted in the result.
    ///
    /// - Returns: How many points were queued.
    /// - Throws: What `Uploader.submit(_:)` throws (the vault could not store a payload);
    ///   the points of that payload and of the purposes after it are lost.
    @discardableResult
    public func submit(to uploader: Uploader, resource: TelemetryResource) throws -> Int {
        let points = collectPoints(now: nil)
        var order: [Purpose] = []
        var groups: [Purpose: (metrics: [TelemetryMetric], categories: [DataCategory])] = [:]
        for point in points {
            if groups[point.metric.purpose] == nil { order.append(point.metric.purpose) }
            groups[point.metric.purpose, default: ([], [])].metrics.append(point.metric)
            if groups[point.metric.purpose]?.categories.contains(point.category) == false {
                groups[point.metric.purpose]?.categories.append(point.category)
            }
        }
        let encoder = OTLPEncoder()
        let created = clock.checkedNow
        var queued = 0
        for purpose in order {
            guard let group = groups[purpose] else { continue }
            let body = encoder.metrics(resource: resource, scope: Telemetry.scope, metrics: group.metrics)
            let payload = Payload(
                recipient: uploader.recipient, purpose: purpose, categories: group.categories,
                contentType: OTLPHTTP.contentType, headers: [Payload.pathHeader: OTLPHTTP.metricsPath], body: body,
                idempotencyKey: "metrics-\(UUID().uuidString)",
                created: created)
            switch try uploader.submit(payload) {
            case .queued, .heldForConsent: queued += group.metrics.count
            case .dropped: break
            }
        }
        return queued
    }
}
