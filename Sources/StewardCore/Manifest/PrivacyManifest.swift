public import struct Foundation.Date

/// The app's declaration of what it collects, why, for how long and for whom: the contract
/// Steward enforces at run time and from which it generates the user-facing disclosure.
///
/// Anything the manifest does not declare is refused at run time: a purpose, a data category,
/// a recipient, a permission, a telemetry event or attribute.
///
/// Load one from JSON with ``PrivacyManifest/decode(json:now:)-([UInt8],_)`` (which reports every problem at
/// once, each with its JSON path) or build one in Swift and check it with
/// ``PrivacyManifest/validate(now:)``. ``PrivacyManifest/encodeJSON()`` writes the JSON form back.
/// A manifest is `Encodable` but not `Decodable`: JSON becomes a manifest only through
/// `decode(json:now:)`, which validates, and ``ConsentLedger``, `Steward.start` and every module
/// that takes a manifest (telemetry, the uploader, the permission gate) validate one built in
/// Swift before using it (unless it is the ledger's, validated already), so Steward never runs
/// on an unchecked manifest.
///
/// ```swift
/// let manifest = PrivacyManifest(
///     policyVersion: "2026-11",
///     purposes: [.init(id: .analytics, description: "Anonymised usage statistics", legalBasis: .consent)],
///     dataCategories: [.init(id: .usageEvents, description: "Screens and actions", purposes: [.analytics],
///                            retentionDays: 90, sensitivity: .personal, leavesDevice: true, recipients: ["otlp"])],
///     recipients: [.init(id: "otlp", name: "Telemetry backend", role: .processor, region: "DE",
///                        endpointHosts: ["otel.example.com"])])
/// ```
public struct PrivacyManifest: Encodable, Hashable, Sendable {
    /// The version of the privacy policy this manifest belongs to. A new version asks for
    /// consent again.
    public var policyVersion: String
    /// Who is responsible for the data (the controller), for the disclosure.
    public var controller: Controller?
    /// Why data is processed.
    public var purposes: [PurposeDeclaration]
    /// What is collected.
    public var dataCategories: [DataCategoryDeclaration]
    /// Who receives data.
    public var recipients: [RecipientDeclaration]
    /// Run-time permissions the app asks for, and why.
    public var permissions: [PermissionDeclaration]
    /// The age below which non-essential processing needs a guardian's consent, per
    /// jurisdiction. Jurisdictions not listed use Steward's table (``AgeGate``).
    public var minimumAges: [MinimumAge]
    /// Telemetry events the app may record.
    public var events: [EventDeclaration]
    /// Metrics the app may record through swift-metrics (the `StewardMetrics` bridge). Steward's
    /// own instruments (`TelemetryMetrics`) are declared in code and need only their category.
    public var metrics: [MetricDeclaration]

    /// Creates a manifest.
    public init(
        policyVersion: String, controller: Controller? = nil, purposes: [PurposeDeclaration],
        dataCategories: [DataCategoryDeclaration], recipients: [RecipientDeclaration] = [],
        permissions: [PermissionDeclaration] = [], minimumAges: [MinimumAge] = [], events: [EventDeclaration] = [],
        metrics: [MetricDeclaration] = []
    ) {
        self.policyVersion = policyVersion
        self.controller = controller
        self.purposes = purposes
        self.dataCategories = dataCategories
        self.recipients = recipients
        self.permissions = permissions
        self.minimumAges = minimumAges
        self.events = events
        self.metrics = metrics
    }

    /// The declaration of `purpose`, if declared.
    public func declaration(of purpose: Purpose) -> PurposeDeclaration? { purposes.first { $0.id == purpose } }
    /// The declaration of `category`, if declared.
    public func declaration(of category: DataCategory) -> DataCategoryDeclaration? {
        dataCategories.first { $0.id == category }
    }
    /// The declaration of `recipient`, if declared.
    public func declaration(of recipient: RecipientID) -> RecipientDeclaration? {
        recipients.first { $0.id == recipient }
    }
    /// The declaration of `permission`, if declared.
    public func declaration(of permission: Permission) -> PermissionDeclaration? {
        permissions.first { $0.permission == permission }
    }
    /// The declaration of the event `name`, if declared.
    public func declaration(of event: EventName) -> EventDeclaration? { events.first { $0.name == event } }
    /// The declaration of the metric `name`, if declared.
    public func declaration(ofMetric name: String) -> MetricDeclaration? { metrics.first { $0.name == name } }
}

/// The organisation responsible for the data.
public struct Controller: Codable, Hashable, Sendable {
    /// Its name.
    public var name: String
    /// Where users reach it about their data (an e-mail address or URL).
    public var contact: String
    /// Its postal address, if the disclosure should show it.
    public var address: String?

    /// Creates a controller.
    public init(name: String, contact: String, address: String? = nil) {
        self.name = name
        self.contact = contact
        self.address = address
    }
}

/// The legal basis for processing (GDPR Art. 6 and PIPL Art. 13 use these).
public enum LegalBasis: String, Codable, Hashable, Sendable, CaseIterable {
    /// The user (or a guardian) agreed. Can be withdrawn at any time.
    case consent
    /// Needed to provide the service the user asked for. Always on.
    case necessaryForService
    /// Required by law. Always on.
    case legalObligation
    /// The controller's legitimate interest, balanced against the user's. Always on here;
    /// the user may object through the host app.
    case legitimateInterest

    /// Whether processing on this basis needs the user's consent.
    public var requiresConsent: Bool { self == .consent }
}

/// A declared purpose.
public struct PurposeDeclaration: Codable, Hashable, Sendable {
    /// The purpose.
    public var id: Purpose
    /// What it is for, in words the user reads.
    public var description: String
    /// Why processing for it is lawful.
    public var legalBasis: LegalBasis

    /// Creates a declaration.
    public init(id: Purpose, description: String, legalBasis: LegalBasis) {
        self.id = id
        self.description = description
        self.legalBasis = legalBasis
    }

    /// Whether the purpose needs the user's consent.
    public var requiresConsent: Bool { legalBasis.requiresConsent }
}

/// How sensitive a category of data is.
public enum Sensitivity: String, Codable, Hashable, Sendable, CaseIterable {
    /// Not about a person on its own (OS version, connection status).
    case low
    /// Personal data.
    case personal
    /// Sensitive personal data (precise location, images of people, identifiers that follow a
    /// person; PIPL Art. 28 "sensitive personal information").
    case sensitive
}

/// A declared data category.
public struct DataCategoryDeclaration: Codable, Hashable, Sendable {
    /// The category.
    public var id: DataCategory
    /// What it is, in words the user reads.
    public var description: String
    /// The purposes it may be processed for.
    public var purposes: [Purpose]
    /// Days to keep it; nil keeps it until the user deletes it or the service ends; 0 means it
    /// is not kept at all (used in memory, never stored). Validation accepts 0...36,500.
    public var retentionDays: Int?
    /// How sensitive it is.
    public var sensitivity: Sensitivity
    /// Whether it leaves the device.
    public var leavesDevice: Bool
    /// Who receives it when it leaves the device.
    public var recipients: [RecipientID]

    /// Creates a declaration.
    public init(
        id: DataCategory, description: String, purposes: [Purpose], retentionDays: Int? = nil,
        sensitivity: Sensitivity, leavesDevice: Bool, recipients: [RecipientID] = []
    ) {
        self.id = id
        self.description = description
        self.purposes = purposes
        self.retentionDays = retentionDays
        self.sensitivity = sensitivity
        self.leavesDevice = leavesDevice
        self.recipients = recipients
    }

    /// The retention as a duration, or nil. Saturates rather than overflows for absurd values
    /// (which ``PrivacyManifest/validate(now:)`` reports).
    public var retention: Duration? {
        retentionDays.map { days in
            let (seconds, overflow) = Int64(days).multipliedReportingOverflow(by: 86_400)
            return .seconds(overflow ? (days < 0 ? Int64.min : Int64.max) : seconds)
        }
    }
}

/// Whether a recipient processes data on the controller's behalf or for itself.
public enum RecipientRole: String, Codable, Hashable, Sendable, CaseIterable {
    /// Processes data on the controller's instructions (GDPR Art. 28, PIPL Art. 21).
    case processor
    /// Receives data for its own purposes (PIPL Art. 23 needs separate consent).
    case thirdParty
}

/// A declared recipient.
public struct RecipientDeclaration: Codable, Hashable, Sendable {
    /// The recipient.
    public var id: RecipientID
    /// Its name as the user should read it.
    public var name: String
    /// Processor or third party.
    public var role: RecipientRole
    /// Where it processes data (ISO 3166-1 alpha-2 code), for cross-border transfer notices.
    public var region: String?
    /// Host names data is sent to. A transport may refuse any other host.
    public var endpointHosts: [String]
    /// How a deletion (an erase, a withdrawal) reaches this recipient; nil is
    /// ``DeletionRoute/request``.
    public var deletion: DeletionRoute?

    /// Creates a declaration.
    public init(
        id: RecipientID, name: String, role: RecipientRole, region: String?, endpointHosts: [String] = [],
        deletion: DeletionRoute? = nil
    ) {
        self.id = id
        self.name = name
        self.role = role
        self.region = region
        self.endpointHosts = endpointHosts
        self.deletion = deletion
    }

    /// How deletion reaches this recipient (``deletion``, or a request when not declared).
    public var deletionRoute: DeletionRoute { deletion ?? .request }
}

/// How a deletion reaches a recipient: Steward's own deletion request, or a person or process
/// the user (or the controller) contacts.
///
/// ```json
/// "deletion": {"method": "request"}
/// "deletion": {"method": "manual", "contact": "https://sentry.example.com/settings/privacy"}
/// ```
public struct DeletionRoute: Codable, Hashable, Sendable {
    /// The way deletion reaches the recipient.
    public enum Method: String, Codable, Hashable, Sendable, CaseIterable {
        /// Steward queues its deletion request (a JSON document, or an OTLP log record
        /// `steward.deletion_request` for the telemetry recipient) through the recipient's
        /// transport, retried until accepted. Only for an endpoint that accepts one: never a
        /// Sentry DSN, whose envelope URL takes only envelopes.
        case request
        /// Steward cannot ask: deletion goes through ``DeletionRoute/contact`` (the recipient's
        /// own deletion form, API or privacy address). Steward names it instead of sending.
        case manual
    }

    /// The way deletion reaches the recipient.
    public var method: Method
    /// Where to ask for deletion (an address or URL): required for ``Method/manual``.
    public var contact: String?

    /// Creates a route.
    public init(method: Method, contact: String? = nil) {
        self.method = method
        self.contact = contact
    }

    /// Steward's deletion request.
    public static let request = DeletionRoute(method: .request)

    /// Deletion by hand, through `contact`.
    public static func manual(contact: String) -> DeletionRoute { DeletionRoute(method: .manual, contact: contact) }
}

/// A declared run-time permission.
public struct PermissionDeclaration: Codable, Hashable, Sendable {
    /// The permission.
    public var permission: Permission
    /// Why the app needs it, shown when asking.
    public var rationale: String
    /// The purposes it serves.
    public var purposes: [Purpose]

    /// Creates a declaration.
    public init(permission: Permission, rationale: String, purposes: [Purpose]) {
        self.permission = permission
        self.rationale = rationale
        self.purposes = purposes
    }
}

/// The minimum age for consent in one jurisdiction.
public struct MinimumAge: Codable, Hashable, Sendable {
    /// The jurisdiction.
    public var jurisdiction: Jurisdiction
    /// Users younger than this need a guardian's consent.
    public var age: Int

    /// Creates an entry.
    public init(jurisdiction: Jurisdiction, age: Int) {
        self.jurisdiction = jurisdiction
        self.age = age
    }
}

/// A declared metric: what the code records through swift-metrics under `name` (its label),
/// for which purpose, in which category, and the only dimensions it may carry.
///
/// ```json
/// {"name": "http.server.requests", "purpose": "analytics", "category": "usageEvents",
///  "unit": "{request}", "dimensions": ["route", "status"]}
/// ```
public struct MetricDeclaration: Hashable, Sendable {
    /// The metric's name, as the code labels it (letters, digits, `.`, `_`, `-`).
    public var name: String
    /// Why it is recorded: nothing is recorded unless this purpose is granted.
    public var purpose: Purpose
    /// What kind of data it is; the category must list the purpose.
    public var category: DataCategory
    /// The dimensions it may carry; any other dimension is left out.
    public var dimensions: [String]
    /// Its UCUM unit (`1`, `ms`, `By`, `{request}`); nil for `1`.
    public var unit: String?
    /// For recorders and timers: the histogram's bucket bounds, ascending; nil for Steward's
    /// default bounds.
    public var bounds: [Double]?

    /// Creates a declaration.
    public init(
        name: String, purpose: Purpose, category: DataCategory, dimensions: [String] = [], unit: String? = nil,
        bounds: [Double]? = nil
    ) {
        self.name = name
        self.purpose = purpose
        self.category = category
        self.dimensions = dimensions
        self.unit = unit
        self.bounds = bounds
    }
}

extension MetricDeclaration: Codable {
    private enum CodingKeys: String, CodingKey {
        case name, purpose, category, dimensions, unit, bounds
    }

    /// Decodes the JSON shape; `dimensions`, `unit` and `bounds` may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name),
            purpose: try container.decode(Purpose.self, forKey: .purpose),
            category: try container.decode(DataCategory.self, forKey: .category),
            dimensions: try container.decodeIfPresent([String].self, forKey: .dimensions) ?? [],
            unit: try container.decodeIfPresent(String.self, forKey: .unit),
            bounds: try container.decodeIfPresent([Double].self, forKey: .bounds))
    }
}

/// A declared telemetry event.
public struct EventDeclaration: Codable, Hashable, Sendable {
    /// The event's name.
    public var name: EventName
    /// Why it is recorded.
    public var purpose: Purpose
    /// What kind of data it is.
    public var category: DataCategory
    /// The attributes it may carry.
    public var attributes: [AttributeDeclaration]
    /// After this date the event may no longer be recorded (forces a review). Encoded in JSON
    /// as a `YYYY-MM-DD` date, the UTC day holding this instant; the event may still be recorded
    /// on that day (see ``isExpired(at:)``).
    public var expires: Date?

    /// Creates a declaration.
    public init(
        name: EventName, purpose: Purpose, category: DataCategory, attributes: [AttributeDeclaration] = [],
        expires: Date? = nil
    ) {
        self.name = name
        self.purpose = purpose
        self.category = category
        self.attributes = attributes
        self.expires = expires
    }

    /// Whether the event may no longer be recorded at `now`: once the UTC day holding
    /// ``expires`` has ended. An event without an expiry date never expires.
    ///
    /// ```swift
    /// // Declared with "expires": "2028-12-31": recordable through 2028-12-31 23:59:59 UTC.
    /// if manifest.declaration(of: EventName("login"))?.isExpired(at: clock.now) == true {
    ///     // refuse to record it
    /// }
    /// ```
    public func isExpired(at now: Date) -> Bool {
        guard let expires else { return false }
        let lastDay = (expires.timeIntervalSince1970 / 86_400).rounded(.down)
        let today = (now.timeIntervalSince1970 / 86_400).rounded(.down)
        return today > lastDay
    }
}

/// The type of an event attribute's value.
public enum AttributeType: String, Codable, Hashable, Sendable, CaseIterable {
    /// Text.
    case string
    /// A 64-bit integer.
    case int
    /// A floating-point number.
    case double
    /// True or false.
    case bool
    /// A latitude/longitude pair.
    case location
}

/// How identifying an attribute is, which decides how it is anonymised.
public enum AttributeClassification: String, Codable, Hashable, Sendable, CaseIterable {
    /// Identifies a person or device on its own: stored only as a keyed hash.
    case identifier
    /// Identifies in combination with others (location, model, time): coarsened.
    case quasiIdentifier
    /// Not identifying.
    case plain
}

/// A declared event attribute.
public struct AttributeDeclaration: Codable, Hashable, Sendable {
    /// The attribute's name.
    public var name: String
    /// Its value type.
    public var type: AttributeType
    /// How identifying it is.
    public var classification: AttributeClassification
    /// For strings, the length past which values are truncated.
    public var maxLength: Int?

    /// Creates a declaration.
    public init(name: String, type: AttributeType, classification: AttributeClassification, maxLength: Int? = nil) {
        self.name = name
        self.type = type
        self.classification = classification
        self.maxLength = maxLength
    }
}

// MARK: - Codable: the JSON shape `decode(json:now:)` accepts and `encodeJSON()` writes

extension PrivacyManifest {
    enum CodingKeys: String, CodingKey {
        case policyVersion, controller, purposes, dataCategories, recipients, permissions, minimumAges, events, metrics
    }

    /// Decodes the JSON shape; `recipients`, `permissions`, `minimumAges`, `events` and `metrics`
    /// may be left out (empty). Checks the structure only: ``decode(json:now:)-([UInt8],_)`` also validates.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            policyVersion: try container.decode(String.self, forKey: .policyVersion),
            controller: try container.decodeIfPresent(Controller.self, forKey: .controller),
            purposes: try container.decode([PurposeDeclaration].self, forKey: .purposes),
            dataCategories: try container.decode([DataCategoryDeclaration].self, forKey: .dataCategories),
            recipients: try container.decodeIfPresent([RecipientDeclaration].self, forKey: .recipients) ?? [],
            permissions: try container.decodeIfPresent([PermissionDeclaration].self, forKey: .permissions) ?? [],
            minimumAges: try container.decodeIfPresent([MinimumAge].self, forKey: .minimumAges) ?? [],
            events: try container.decodeIfPresent([EventDeclaration].self, forKey: .events) ?? [],
            metrics: try container.decodeIfPresent([MetricDeclaration].self, forKey: .metrics) ?? []
        )
    }

    /// Encodes the JSON shape; `metrics` only when some are declared (a manifest without them
    /// encodes as it did before they existed).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(policyVersion, forKey: .policyVersion)
        try container.encodeIfPresent(controller, forKey: .controller)
        try container.encode(purposes, forKey: .purposes)
        try container.encode(dataCategories, forKey: .dataCategories)
        try container.encode(recipients, forKey: .recipients)
        try container.encode(permissions, forKey: .permissions)
        try container.encode(minimumAges, forKey: .minimumAges)
        try container.encode(events, forKey: .events)
        if !metrics.isEmpty { try container.encode(metrics, forKey: .metrics) }
    }
}

extension DataCategoryDeclaration {
    /// Decodes the JSON shape; `retentionDays` and `recipients` may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(DataCategory.self, forKey: .id),
            description: try container.decode(String.self, forKey: .description),
            purposes: try container.decode([Purpose].self, forKey: .purposes),
            retentionDays: try container.decodeIfPresent(Int.self, forKey: .retentionDays),
            sensitivity: try container.decode(Sensitivity.self, forKey: .sensitivity),
            leavesDevice: try container.decode(Bool.self, forKey: .leavesDevice),
            recipients: try container.decodeIfPresent([RecipientID].self, forKey: .recipients) ?? []
        )
    }
}

extension RecipientDeclaration {
    /// Decodes the JSON shape; `region`, `endpointHosts` and `deletion` may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try container.decode(RecipientID.self, forKey: .id),
            name: try container.decode(String.self, forKey: .name),
            role: try container.decode(RecipientRole.self, forKey: .role),
            region: try container.decodeIfPresent(String.self, forKey: .region),
            endpointHosts: try container.decodeIfPresent([String].self, forKey: .endpointHosts) ?? [],
            deletion: try container.decodeIfPresent(DeletionRoute.self, forKey: .deletion)
        )
    }
}

extension EventDeclaration {
    private enum CodingKeys: String, CodingKey {
        case name, purpose, category, attributes, expires
    }

    /// Decodes the JSON shape: `expires` is a `YYYY-MM-DD` string whatever the decoder's date
    /// strategy; `attributes` and `expires` may be left out.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        var expires: Date?
        if let day = try container.decodeIfPresent(String.self, forKey: .expires) {
            guard let date = CalendarDay.date(from: day) else {
                throw DecodingError.dataCorruptedError(
                    forKey: .expires, in: container, debugDescription: "expected a date as YYYY-MM-DD")
            }
            expires = date
        }
        self.init(
            name: try container.decode(EventName.self, forKey: .name),
            purpose: try container.decode(Purpose.self, forKey: .purpose),
            category: try container.decode(DataCategory.self, forKey: .category),
            attributes: try container.decodeIfPresent([AttributeDeclaration].self, forKey: .attributes) ?? [],
            expires: expires
        )
    }

    /// Encodes the JSON shape: `expires` as the `YYYY-MM-DD` UTC day holding it, whatever the
    /// encoder's date strategy.
    ///
    /// - Throws: `EncodingError.invalidValue` if `expires` is outside years 0001–9999.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(purpose, forKey: .purpose)
        try container.encode(category, forKey: .category)
        try container.encode(attributes, forKey: .attributes)
        if let expires {
            guard let day = CalendarDay.string(from: expires) else {
                throw EncodingError.invalidValue(
                    expires,
                    EncodingError.Context(
                        codingPath: container.codingPath + [CodingKeys.expires],
                        debugDescription: "expires is outside the years 0001-9999"))
            }
            try container.encode(day, forKey: .expires)
        }
    }
}
