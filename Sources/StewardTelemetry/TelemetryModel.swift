public import StewardCore

/// A telemetry attribute value, as declared in the manifest (`string`, `int`, `double`, `bool`).
public enum AttributeValue: Codable, Hashable, Sendable {
    /// Text.
    case string(String)
    /// A 64-bit integer (OTLP encodes it as a decimal string in JSON).
    case int(Int64)
    /// A double.
    case double(Double)
    /// A boolean.
    case bool(Bool)
}

/// One event as stored in the vault and exported: already checked against its declaration,
/// anonymised (identifiers keyed-hashed, location coarsened, strings truncated), never raw.
public struct TelemetryEventRecord: Codable, Hashable, Sendable {
    /// The declared event name (OTLP `eventName`).
    public var name: EventName
    /// The purpose it was recorded under.
    public var purpose: Purpose
    /// Its data category.
    public var category: DataCategory
    /// When it happened, nanoseconds since 1970 (OTLP `timeUnixNano`).
    public var timeUnixNano: UInt64
    /// When Steward recorded it, nanoseconds since 1970 (OTLP `observedTimeUnixNano`).
    public var observedTimeUnixNano: UInt64
    /// The attributes, after anonymisation.
    public var attributes: [String: AttributeValue]
    /// OTLP severity number (9 = INFO by default).
    public var severityNumber: Int
    /// Trace id (32 hex digits), when the host correlates events with a trace.
    public var traceID: String?
    /// Span id (16 hex digits).
    public var spanID: String?

    /// A record; see the properties.
    public init(
        name: EventName, purpose: Purpose, category: DataCategory, timeUnixNano: UInt64, observedTimeUnixNano: UInt64,
        attributes: [String: AttributeValue] = [:], severityNumber: Int = 9, traceID: String? = nil,
        spanID: String? = nil
    ) {
        self.name = name
        self.purpose = purpose
        self.category = category
        self.timeUnixNano = timeUnixNano
        self.observedTimeUnixNano = observedTimeUnixNano
        self.attributes = attributes
        self.severityNumber = severityNumber
        self.traceID = traceID
        self.spanID = spanID
    }
}

/// What produced the telemetry (OTLP resource), per the semantic conventions. Never a raw
/// device identifier: `device.id` is the app-scoped id.
public struct TelemetryResource: Codable, Hashable, Sendable {
    /// `service.name`.
    public var serviceName: String
    /// `service.version`.
    public var serviceVersion: String?
    /// `os.type` (`linux`).
    public var osType: String
    /// `os.version`.
    public var osVersion: String?
    /// `host.arch` (`amd64`, `arm64` per the conventions).
    public var hostArch: String?
    /// `device.model.identifier`.
    public var deviceModelIdentifier: String?
    /// `device.id`: the app-scoped id only.
    public var deviceID: String?
    /// Further attributes (from `OTEL_RESOURCE_ATTRIBUTES`), written after the ones above; a
    /// key the properties above hold is not written twice. Empty by default.
    public var attributes: [String: String] = [:]

    /// A resource; see the properties.
    public init(
        serviceName: String, serviceVersion: String? = nil, osType: String = "linux", osVersion: String? = nil,
        hostArch: String? = nil, deviceModelIdentifier: String? = nil, deviceID: String? = nil
    ) {
        self.serviceName = serviceName
        self.serviceVersion = serviceVersion
        self.osType = osType
        self.osVersion = osVersion
        self.hostArch = hostArch
        self.deviceModelIdentifier = deviceModelIdentifier
        self.deviceID = deviceID
    }

    private enum CodingKeys: String, CodingKey {
        case serviceName, serviceVersion, osType, osVersion, hostArch, deviceModelIdentifier, deviceID, attributes
    }

    /// Decodes a resource; `attributes` may be absent (resources encoded before it existed).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        serviceName = try container.decode(String.self, forKey: .serviceName)
        serviceVersion = try container.decodeIfPresent(String.self, forKey: .serviceVersion)
        osType = try container.decode(String.self, forKey: .osType)
        osVersion = try container.decodeIfPresent(String.self, forKey: .osVersion)
        hostArch = try container.decodeIfPresent(String.self, forKey: .hostArch)
        deviceModelIdentifier = try container.decodeIfPresent(String.self, forKey: .deviceModelIdentifier)
        deviceID = try container.decodeIfPresent(String.self, forKey: .deviceID)
        attributes = try container.decodeIfPresent([String: String].self, forKey: .attributes) ?? [:]
    }
}

/// One aggregated metric data point set, ready for OTLP `/v1/metrics`.
public struct TelemetryMetric: Codable, Hashable, Sendable {
    /// The kind of metric and its value.
    public enum Data: Codable, Hashable, Sendable {
        /// A monotonic cumulative or delta sum (a counter).
        case sum(value: Double, isMonotonic: Bool, isDelta: Bool)
        /// The last value (a gauge).
        case gauge(value: Double)
        /// An explicit-bucket histogram (`bucketCounts.count == explicitBounds.count + 1`).
        case histogram(
            count: UInt64, sum: Double, min: Double?, max: Double?, explicitBounds: [Double], bucketCounts: [UInt64],
            isDelta: Bool)
    }

    /// The metric name.
    public var name: String
    /// Its unit (UCUM, e.g. `ms`, `By`, `1`).
    public var unit: String
    /// What it measures.
    public var description: String
    /// The purpose it was recorded under.
    public var purpose: Purpose
    /// Attributes of this point (anonymised).
    public var attributes: [String: AttributeValue]
    /// Start of the aggregation interval, nanoseconds since 1970.
    public var startTimeUnixNano: UInt64
    /// End of the aggregation interval, nanoseconds since 1970.
    public var timeUnixNano: UInt64
    /// The value.
    public var data: Data

    /// A metric; see the properties.
    public init(
        name: String, unit: String = "1", description: String = "", purpose: Purpose,
        attributes: [String: AttributeValue] = [:],
        startTimeUnixNano: UInt64, timeUnixNano: UInt64, data: Data
    ) {
        self.name = name
        self.unit = unit
        self.description = description
        self.purpose = purpose
        self.attributes = attributes
        self.startTimeUnixNano = startTimeUnixNano
        self.timeUnixNano = timeUnixNano
        self.data = data
    }
}
