import StewardCore

/// Encodes Steward's telemetry as OTLP/HTTP JSON request bodies: `ExportLogsServiceRequest` for
/// events (`/v1/logs`) and `ExportMetricsServiceRequest` for metrics (`/v1/metrics`).
///
/// The encoding follows the OTLP specification's "JSON Protobuf Encoding" (opentelemetry-proto
/// `docs/specification.md`): the proto3 JSON mapping with lowerCamelCase keys, 64-bit integers
/// (timestamps, `intValue`, histogram counts) as decimal strings, enums as integers
/// (`severityNumber`, `aggregationTemporality`), and `traceId`/`spanId` as hex, not base64.
/// The shape matches `examples/logs.json` and `examples/metrics.json` of the same repository.
///
/// - Events become log records named by `eventName` (LogRecord field 12), with their attributes
///   and no `body`: a Steward event has no payload beyond its attributes, and the semantic
///   conventions for events put only a payload in the body. `severityText` is left out (the
///   record holds only a number); severity numbers outside 1...24 are written as 0 (unspecified).
///   A trace or span id that is not exactly 32 or 16 hex digits, or is all zeros, is left out
///   rather than sent malformed; valid ones are written in lowercase.
/// - The resource carries only what ``TelemetryResource`` holds, under the semantic-convention
///   keys `service.name`, `service.version`, `os.type`, `os.version`, `host.arch`,
///   `device.model.identifier` and `device.id` (the app-scoped id); absent or empty optional
///   values are left out.
/// - Attributes are sorted by key (UTF-8 byte order), so equal input gives equal bytes.
/// - Non-finite doubles are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, as
///   the proto3 JSON mapping prescribes for `double` fields.
/// - All records go into one `ResourceLogs` with one `ScopeLogs`; metrics sharing a name, unit,
///   description and kind become one `Metric` with several data points. An empty input gives an
///   empty request (`{"resourceLogs":[]}`), with no empty envelope inside; callers should not
///   send it.
///
/// ```swift
/// let encoder = OTLPEncoder()
/// let body = encoder.logs(resource: TelemetryResource(serviceName: "notes", serviceVersion: "2.1"),
///                         scope: (name: "steward", version: "1.0"), records: batch)
/// // POST body to collector + OTLPHTTP.logsPath with Content-Type OTLPHTTP.contentType.
/// ```
public struct OTLPEncoder: Sendable {
    /// An encoder; it holds no state.
    public init() {}

    /// An `ExportLogsServiceRequest` carrying `records` as log records, as UTF-8 JSON.
    ///
    /// - Parameters:
    ///   - resource: What produced the events; becomes the resource's attributes.
    ///   - scope: The instrumentation scope (`name`, `version`); an empty version is left out.
    ///   - records: The events, already anonymised; encoded in order.
    /// - Returns: The request body for `/v1/logs`.
    public func logs(
        resource: TelemetryResource, scope: (name: String, version: String),
        records: [TelemetryEventRecord]
    ) -> [UInt8] {
        var writer = OTLPJSONWriter(capacity: 256 + records.count * 448)
        writer.raw("{\"resourceLogs\":[")
        if !records.isEmpty {
            writer.raw("{")
            Self.resource(resource, into: &writer)
            writer.raw(",\"scopeLogs\":[{")
            Self.scope(scope, into: &writer)
            writer.raw(",\"logRecords\":[")
            var first = true
            for record in records {
                if !first { writer.byte(UInt8(ascii: ",")) }
                first = false
                Self.logRecord(record, into: &writer)
            }
            writer.raw("]}]}")
        }
        writer.raw("]}")
        return writer.bytes
    }

    /// An `ExportMetricsServiceRequest` carrying `metrics`, as UTF-8 JSON.
    ///
    /// Sums carry `aggregationTemporality` (1 delta, 2 cumulative) and `isMonotonic`; gauges carry
    /// only their value and time; histograms carry `count`, `sum`, `min`/`max` when known,
    /// `bucketCounts` (as strings) and `explicitBounds`. A histogram whose bucket counts are not
    /// exactly one more than its bounds is left out: a receiver would reject or misread it.
    ///
    /// - Parameters:
    ///   - resource: What produced the metrics; becomes the resource's attributes.
    ///   - scope: The instrumentation scope (`name`, `version`); an empty version is left out.
    ///   - metrics: One data point each; points of the same metric are grouped in input order.
    /// - Returns: The request body for `/v1/metrics`.
    public func metrics(
        resource: TelemetryResource, scope: (name: String, version: String),
        metrics: [TelemetryMetric]
    ) -> [UInt8] {
        let groups = Self.group(metrics.filter(Self.isEncodable))
        var writer = OTLPJSONWriter(capacity: 256 + metrics.count * 320)
        writer.raw("{\"resourceMetrics\":[")
        if !groups.isEmpty {
            writer.raw("{")
            Self.resource(resource, into: &writer)
            writer.raw(",\"scopeMetrics\":[{")
            Self.scope(scope, into: &writer)
            writer.raw(",\"metrics\":[")
            var first = true
            for group in groups {
                if !first { writer.byte(UInt8(ascii: ",")) }
                first = false
                Self.metric(group, into: &writer)
            }
            writer.raw("]}]}")
        }
        writer.raw("]}")
        return writer.bytes
    }

    // MARK: - Envelope

    /// The resource keys ``TelemetryResource``'s properties hold.
    private static let fixedResourceKeys: Set<String> = [
        "device.id", "device.model.identifier", "host.arch", "os.type", "os.version", "service.name",
        "service.version",
    ]

    private static func resource(_ resource: TelemetryResource, into writer: inout OTLPJSONWriter) {
        // Already in key order: device.id < device.model.identifier < host.arch < os.type
        // < os.version < service.name < service.version.
        writer.raw("\"resource\":{\"attributes\":[")
        var first = true
        func add(_ key: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            if !first { writer.byte(UInt8(ascii: ",")) }
            first = false
            writer.keyValue(key, .string(value))
        }
        add("device.id", resource.deviceID)
        add("device.model.identifier", resource.deviceModelIdentifier)
        add("host.arch", resource.hostArch)
        add("os.type", resource.osType)
        add("os.version", resource.osVersion)
        add("service.name", resource.serviceName)
        add("service.version", resource.serviceVersion)
        for key in resource.attributes.keys.sorted() where !fixedResourceKeys.contains(key) {
            add(key, resource.attributes[key])
        }
        writer.raw("]}")
    }

    private static func scope(_ scope: (name: String, version: String), into writer: inout OTLPJSONWriter) {
        writer.raw("\"scope\":{\"name\":")
        writer.string(scope.name)
        if !scope.version.isEmpty {
            writer.raw(",\"version\":")
            writer.string(scope.version)
        }
        writer.byte(UInt8(ascii: "}"))
    }

    // MARK: - Logs

    private static func logRecord(_ record: TelemetryEventRecord, into writer: inout OTLPJSONWriter) {
        writer.raw("{\"timeUnixNano\":")
        writer.quoted(record.timeUnixNano)
        writer.raw(",\"observedTimeUnixNano\":")
        writer.quoted(record.observedTimeUnixNano)
        writer.raw(",\"severityNumber\":")
        writer.unsigned((1...24).contains(record.severityNumber) ? UInt64(record.severityNumber) : 0)
        writer.raw(",\"eventName\":")
        writer.string(record.name.rawValue)
        writer.attributes(record.attributes, leadingComma: true)
        writer.hexID("\"traceId\"", record.traceID, digits: 32)
        writer.hexID("\"spanId\"", record.spanID, digits: 16)
        writer.byte(UInt8(ascii: "}"))
    }

    // MARK: - Metrics

    private static func isEncodable(_ metric: TelemetryMetric) -> Bool {
        if case .histogram(_, _, _, _, let bounds, let counts, _) = metric.data {
            return counts.count == bounds.count + 1
        }
        return true
    }

    /// What makes two points belong to the same OTLP `Metric`.
    private struct Identity: Hashable {
        var name: String
        var unit: String
        var description: String
        /// 0 gauge, 1 sum, 2 histogram; then temporality and monotonicity where they apply.
        var kind: Int
        var isDelta: Bool
        var isMonotonic: Bool

        init(_ metric: TelemetryMetric) {
            name = metric.name
            unit = metric.unit
            description = metric.description
            switch metric.data {
            case .gauge:
                (kind, isDelta, isMonotonic) = (0, false, false)
            case .sum(_, let monotonic, let delta):
                (kind, isDelta, isMonotonic) = (1, delta, monotonic)
            case .histogram(_, _, _, _, _, _, let delta):
                (kind, isDelta, isMonotonic) = (2, delta, false)
            }
        }
    }

    private static func group(_ metrics: [TelemetryMetric]) -> [[TelemetryMetric]] {
        var groups: [[TelemetryMetric]] = []
        var index: [Identity: Int] = [:]
        for metric in metrics {
            let identity = Identity(metric)
            if let position = index[identity] {
                groups[position].append(metric)
            } else {
                index[identity] = groups.count
                groups.append([metric])
            }
        }
        return groups
    }

    private static func metric(_ points: [TelemetryMetric], into writer: inout OTLPJSONWriter) {
        guard let head = points.first else { return }
        writer.raw("{\"name\":")
        writer.string(head.name)
        if !head.unit.isEmpty {
            writer.raw(",\"unit\":")
            writer.string(head.unit)
        }
        if !head.description.isEmpty {
            writer.raw(",\"description\":")
            writer.string(head.description)
        }
        switch head.data {
        case .gauge:
            writer.raw(",\"gauge\":{\"dataPoints\":[")
            dataPoints(points, into: &writer)
            writer.raw("]}")
        case .sum(_, let isMonotonic, let isDelta):
            writer.raw(",\"sum\":{\"aggregationTemporality\":")
            writer.byte(isDelta ? UInt8(ascii: "1") : UInt8(ascii: "2"))
            writer.raw(isMonotonic ? ",\"isMonotonic\":true" : ",\"isMonotonic\":false")
            writer.raw(",\"dataPoints\":[")
            dataPoints(points, into: &writer)
            writer.raw("]}")
        case .histogram(_, _, _, _, _, _, let isDelta):
            writer.raw(",\"histogram\":{\"aggregationTemporality\":")
            writer.byte(isDelta ? UInt8(ascii: "1") : UInt8(ascii: "2"))
            writer.raw(",\"dataPoints\":[")
            dataPoints(points, into: &writer)
            writer.raw("]}")
        }
        writer.byte(UInt8(ascii: "}"))
    }

    private static func dataPoints(_ points: [TelemetryMetric], into writer: inout OTLPJSONWriter) {
        var first = true
        for point in points {
            if !first { writer.byte(UInt8(ascii: ",")) }
            first = false
            writer.byte(UInt8(ascii: "{"))
            switch point.data {
            case .gauge(let value):
                writer.raw("\"timeUnixNano\":")
                writer.quoted(point.timeUnixNano)
                writer.raw(",\"asDouble\":")
                writer.double(value)
            case .sum(let value, _, _):
                times(point, into: &writer)
                writer.raw(",\"asDouble\":")
                writer.double(value)
            case .histogram(let count, let sum, let min, let max, let bounds, let counts, _):
                times(point, into: &writer)
                writer.raw(",\"count\":")
                writer.quoted(count)
                writer.raw(",\"sum\":")
                writer.double(sum)
                if let min {
                    writer.raw(",\"min\":")
                    writer.double(min)
                }
                if let max {
                    writer.raw(",\"max\":")
                    writer.double(max)
                }
                writer.raw(",\"bucketCounts\":[")
                for (position, bucket) in counts.enumerated() {
                    if position > 0 { writer.byte(UInt8(ascii: ",")) }
                    writer.quoted(bucket)
                }
                writer.raw("],\"explicitBounds\":[")
                for (position, bound) in bounds.enumerated() {
                    if position > 0 { writer.byte(UInt8(ascii: ",")) }
                    writer.double(bound)
                }
                writer.byte(UInt8(ascii: "]"))
            }
            writer.attributes(point.attributes, leadingComma: true)
            writer.byte(UInt8(ascii: "}"))
        }
    }

    private static func times(_ point: TelemetryMetric, into writer: inout OTLPJSONWriter) {
        writer.raw("\"startTimeUnixNano\":")
        writer.quoted(point.startTimeUnixNano)
        writer.raw(",\"timeUnixNano\":")
        writer.quoted(point.timeUnixNano)
    }
}
