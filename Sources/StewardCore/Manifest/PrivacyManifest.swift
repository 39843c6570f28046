public import struct Foundation.Date

/// The app's declaration of what it collects, why, for how long and for whom: the contract
/// Steward enforces at run time and from which it generates the user-facing disclosure.
///
/// Anything the manifest does not declare is refused at run time: a purpose, a data category,
/// a recipient, a permission, a telemetry event or attribute.
///
/// Load one from JSON with ``PrivacyManifest/decode(json:)`` (which reports every problem at
/// once, each with its JSON path) or build one in Swift and check it with
/// ``PrivacyManifest/validate(now:)``.
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
public struct PrivacyManifest: Codable, Hashable, Sendable {
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

    /// Creates a manifest.
    public init(
        policyVersion: String, controller: Controller? = nil, purposes: [PurposeDeclaration],
        dataCategories: [DataCategoryDeclaration], recipients: [RecipientDeclaration] = [],
        permissions: [PermissionDeclaration] = [], minimumAges: [MinimumAge] = [], events: [EventDeclaration] = []
    ) {
        self.policyVersion = policyVersion
        self.controller = controller
        self.purposes = purposes
        self.dataCategories = dataCategories
        self.recipients = recipients
        self.permissions = permissions
        self.minimumAges = minimumAges
        self.events = events
    }

    /// The declaration of `purpose`, if declared.
    public func declaration(of purpose: Purpose) -> PurposeDeclaration? { purposes.first { $0.id == purpose } }
    /// The declaration of `category`, if declared.
    public func declaration(of category: DataCategory) -> DataCategoryDeclaration? { dataCategories.first { $0.id == category } }
    /// The declaration of `recipient`, if declared.
    public func declaration(of recipient: RecipientID) -> RecipientDeclaration? { recipients.first { $0.id == recipient } }
    /// The declaration of `permission`, if declared.
    public func declaration(of permission: Permission) -> PermissionDeclaration? { permissions.first { $0.permission == permission } }
    /// The declaration of the event `name`, if declared.
    public func declaration(of event: EventName) -> EventDeclaration? { events.first { $0.name == event } }
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
    /// Days to keep it; nil keeps it until the user deletes it or the service ends.
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

    /// The retention as a duration, or nil.
    public var retention: Duration? { retentionDays.map { .seconds(Int64($0) * 86_400) } }
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

    /// Creates a declaration.
    public init(id: RecipientID, name: String, role: RecipientRole, region: String?, endpointHosts: [String] = []) {
        self.id = id
        self.name = name
        self.role = role
        self.region = region
        self.endpointHosts = endpointHosts
    }
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
    /// as a `YYYY-MM-DD` date.
    public var expires: Date?

    /// Creates a declaration.
    public init(name: EventName, purpose: Purpose, category: DataCategory, attributes: [AttributeDeclaration] = [], expires: Date? = nil) {
        self.name = name
        self.purpose = purpose
        self.category = category
        self.attributes = attributes
        self.expires = expires
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
