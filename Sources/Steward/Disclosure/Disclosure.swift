public import StewardCore
public import struct Foundation.Date

/// The privacy disclosure a user reads, generated from the privacy manifest Steward enforces,
/// so the two cannot drift apart.
///
/// It says what is collected, why and on what legal basis, for how long, who receives it and
/// where (cross-border transfers), which permissions are asked for and why, what happens for
/// children, the user's rights and how to use them, and how the data is protected. Render it
/// with ``markdown()``, ``html()`` or ``json()``.
///
/// Generation refuses rather than produce a disclosure that is wrong:
/// - the manifest must validate (`PrivacyManifest.validate(now:)`): every problem is reported;
/// - every category, purpose, recipient, permission and event of the manifest is listed, and
///   nothing else: a disclosure cannot promise what the SDK would not enforce;
/// - every category and purpose Steward's own modules store data under (for the
///   ``Module``s in use) must be declared: a disclosure cannot miss what the SDK collects.
///   Steward's own bookkeeping (consent receipts, the audit ledger, permission decisions,
///   under the reserved purpose `privacyCompliance`) is listed in ``stewardRecords``.
///
/// ```swift
/// let disclosure = try Disclosure(manifest: manifest)
/// try disclosure.markdown().write(to: url, atomically: true, encoding: .utf8)
/// ```
public struct Disclosure: Codable, Hashable, Sendable {
    /// The version of the privacy policy, from the manifest.
    public var policyVersion: String
    /// Who is responsible for the data, from the manifest.
    public var controller: Controller?
    /// What is collected: the manifest's data categories, in its order.
    public var dataCategories: [DataCategoryEntry]
    /// Why: the manifest's purposes, in its order, each with its legal basis.
    public var purposes: [PurposeEntry]
    /// Who receives data: the manifest's recipients, in its order.
    public var recipients: [RecipientEntry]
    /// Which recipients process data outside the home region.
    public var crossBorderTransfers: CrossBorderTransfers
    /// The run-time permissions the app may ask for: the manifest's, in its order.
    public var permissions: [PermissionEntry]
    /// The telemetry events the app may record: the manifest's, in its order.
    public var events: [EventEntry]
    /// The metrics the app may record through swift-metrics: the manifest's, in its order.
    public var metrics: [MetricEntry]
    /// What Steward itself keeps to honour the user's choices (purpose `privacyCompliance`).
    public var stewardRecords: [StewardRecord]
    /// Minimum ages and what happens below them.
    public var children: Children
    /// The user's rights and how to use them.
    public var rights: [Right]
    /// How the data is protected.
    public var securityMeasures: [SecurityMeasure]

    /// The Steward modules whose own collections the disclosure accounts for.
    public enum Module: String, Codable, Hashable, Sendable, CaseIterable {
        /// Device identifiers (StewardDevice).
        case device
        /// Run-time permissions (StewardPermissions).
        case permissions
        /// Crash reporting (StewardCrash).
        case crash
        /// Telemetry (StewardTelemetry).
        case telemetry
    }

    /// Generates the disclosure of `manifest`.
    ///
    /// - Parameters:
    ///   - manifest: The manifest the SDK enforces.
    ///   - modules: The Steward modules the app uses; the manifest must declare the categories
    ///     and purposes they store data under (default: all of them).
    ///   - homeRegion: Where the controller and its users are (ISO 3166-1 alpha-2): a recipient
    ///     elsewhere receives a cross-border transfer. Nil derives it from the manifest: the
    ///     region where most recipients process data (ties: the first in alphabetical order);
    ///     the disclosure says it was derived.
    ///   - now: The date events' expiry is validated against.
    /// - Throws: ``DisclosureError`` with every problem: the manifest's own
    ///   (``DisclosureError/Code/invalidManifest``) and the categories or purposes the SDK needs
    ///   but the manifest lacks (``DisclosureError/Code/undeclaredCollection``).
    public init(
        manifest: PrivacyManifest, modules: Set<Module> = Set(Module.allCases), homeRegion: String? = nil,
        now: Date = Date()
    ) throws {
        try self.init(manifest: manifest, modules: modules, homeRegion: homeRegion, now: now, plaintextOutbox: nil)
    }

    /// The disclosure of a configured instance: as ``init(manifest:modules:homeRegion:now:)``,
    /// and, when the host asked for a plaintext outbox, the measure that says where data waits
    /// unencrypted for its shipper.
    init(
        manifest: PrivacyManifest, modules: Set<Module> = Set(Module.allCases), homeRegion: String? = nil,
        now: Date = Date(),
        plaintextOutbox: String?
    ) throws {
        let invalid = manifest.validate(now: now)
        var problems = invalid
        if let homeRegion, !Self.isRegionCode(homeRegion) {
            problems.append(
                ManifestProblem(
                    path: "$",
                    message:
                        "the home region \"\(homeRegion)\" is not an ISO 3166-1 alpha-2 code; use two capital letters, such as CN or DE"
                ))
        }
        let undeclared = BuiltInCollections.problems(in: manifest, modules: modules)
        problems += undeclared
        guard problems.isEmpty else {
            throw DisclosureError(
                invalid.isEmpty && !undeclared.isEmpty ? .undeclaredCollection : .invalidManifest, problems: problems)
        }
        self.init(validated: manifest, modules: modules, homeRegion: homeRegion, plaintextOutbox: plaintextOutbox)
    }

    /// Builds the disclosure of a manifest already checked.
    private init(
        validated manifest: PrivacyManifest, modules: Set<Module>, homeRegion: String?, plaintextOutbox: String?
    ) {
        policyVersion = manifest.policyVersion
        controller = manifest.controller
        dataCategories = manifest.dataCategories.map { category in
            DataCategoryEntry(
                id: category.id, description: category.description, sensitivity: category.sensitivity,
                leavesDevice: category.leavesDevice, purposes: category.purposes,
                retentionDays: category.retentionDays, retention: Wording.retention(category.retentionDays),
                recipients: category.recipients)
        }
        purposes = manifest.purposes.map { purpose in
            PurposeEntry(
                id: purpose.id, description: purpose.description, legalBasis: purpose.legalBasis,
                legalBasisExplanation: Wording.legalBasis(purpose.legalBasis), canBeWithdrawn: purpose.requiresConsent,
                categories: manifest.dataCategories.filter { $0.purposes.contains(purpose.id) }.map(\.id))
        }
        let home: (region: String, derived: Bool)? =
            homeRegion.map { ($0, false) } ?? Self.derivedHomeRegion(manifest.recipients).map { ($0, true) }
        recipients = manifest.recipients.map { recipient in
            RecipientEntry(
                id: recipient.id, name: recipient.name, role: recipient.role,
                roleExplanation: Wording.role(recipient.role),
                region: recipient.region, endpointHosts: recipient.endpointHosts,
                categories: manifest.dataCategories.filter { $0.recipients.contains(recipient.id) }.map(\.id),
                deletion: recipient.deletionRoute)
        }
        crossBorderTransfers = CrossBorderTransfers(
            homeRegion: home?.region, homeRegionDerived: home?.derived ?? false,
            recipients: recipients.filter { entry in home.map { entry.region != $0.region } ?? false }.map(\.id))
        permissions = manifest.permissions.map {
            PermissionEntry(permission: $0.permission, rationale: $0.rationale, purposes: $0.purposes)
        }
        events = manifest.events.map { event in
            EventEntry(
                name: event.name, purpose: event.purpose, category: event.category,
                expires: event.expires.map(Wording.day),
                attributes: event.attributes.map {
                    .init(
                        name: $0.name, type: $0.type, classification: $0.classification, maxLength: $0.maxLength,
                        treatment: Wording.treatment($0))
                })
        }
        metrics = manifest.metrics.map {
            MetricEntry(name: $0.name, purpose: $0.purpose, category: $0.category, dimensions: $0.dimensions)
        }
        stewardRecords = BuiltInCollections.records(for: modules)
        let gate = AgeGate(manifest: manifest)
        let declared = Set(manifest.minimumAges.map(\.jurisdiction))
        children = Children(
            minimumAges: manifest.minimumAges.map {
                .init(jurisdiction: $0.jurisdiction, age: $0.age, source: .manifest)
            }
                + AgeGate.builtInMinimumAges.filter { !declared.contains($0.key) }
                .sorted { $0.key.rawValue < $1.key.rawValue }
                .map { .init(jurisdiction: $0.key, age: $0.value, source: .builtIn) },
            defaultMinimumAge: gate.defaultMinimumAge,
            purposesOffBelowMinimumAge: manifest.purposes.filter { $0.legalBasis == .consent }.map(\.id),
            purposesContinuing: manifest.purposes.filter { $0.legalBasis != .consent }.map(\.id))
        rights = Wording.rights(manifest: manifest)
        securityMeasures = Wording.securityMeasures(modules: modules, plaintextOutbox: plaintextOutbox)
    }

    /// The region most recipients process data in; ties go to the first alphabetically.
    static func derivedHomeRegion(_ recipients: [RecipientDeclaration]) -> String? {
        var counts: [String: Int] = [:]
        for case let region? in recipients.map(\.region) { counts[region, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.first?.key
    }

    static func isRegionCode(_ text: String) -> Bool {
        text.utf8.count == 2 && text.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }
}

extension Disclosure {
    /// Decodes the JSON of ``json()``. `metrics` may be absent: a disclosure written before
    /// Steward disclosed swift-metrics measurements has none, and reads as declaring none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        policyVersion = try container.decode(String.self, forKey: .policyVersion)
        controller = try container.decodeIfPresent(Controller.self, forKey: .controller)
        dataCategories = try container.decode([DataCategoryEntry].self, forKey: .dataCategories)
        purposes = try container.decode([PurposeEntry].self, forKey: .purposes)
        recipients = try container.decode([RecipientEntry].self, forKey: .recipients)
        crossBorderTransfers = try container.decode(CrossBorderTransfers.self, forKey: .crossBorderTransfers)
        permissions = try container.decode([PermissionEntry].self, forKey: .permissions)
        events = try container.decode([EventEntry].self, forKey: .events)
        metrics = try container.decodeIfPresent([MetricEntry].self, forKey: .metrics) ?? []
        stewardRecords = try container.decode([StewardRecord].self, forKey: .stewardRecords)
        children = try container.decode(Children.self, forKey: .children)
        rights = try container.decode([Right].self, forKey: .rights)
        securityMeasures = try container.decode([SecurityMeasure].self, forKey: .securityMeasures)
    }
}

extension Disclosure {
    /// A category of data collected.
    public struct DataCategoryEntry: Codable, Hashable, Sendable {
        /// The category.
        public var id: DataCategory
        /// What it is, from the manifest.
        public var description: String
        /// How sensitive it is.
        public var sensitivity: Sensitivity
        /// Whether it leaves the device.
        public var leavesDevice: Bool
        /// Why it is processed.
        public var purposes: [Purpose]
        /// Days it is kept: nil until the user deletes it, 0 not stored.
        public var retentionDays: Int?
        /// The retention in words: "30 days", "not stored", "until you delete it".
        public var retention: String
        /// Who receives it.
        public var recipients: [RecipientID]
    }

    /// A purpose data is processed for.
    public struct PurposeEntry: Codable, Hashable, Sendable {
        /// The purpose.
        public var id: Purpose
        /// What it is for, from the manifest.
        public var description: String
        /// Why processing for it is lawful.
        public var legalBasis: LegalBasis
        /// The legal basis in plain words.
        public var legalBasisExplanation: String
        /// Whether the user can withdraw it (consent purposes).
        public var canBeWithdrawn: Bool
        /// The categories processed for it.
        public var categories: [DataCategory]
    }

    /// A recipient of data.
    public struct RecipientEntry: Codable, Hashable, Sendable {
        /// The recipient.
        public var id: RecipientID
        /// Its name, from the manifest.
        public var name: String
        /// Processor or third party.
        public var role: RecipientRole
        /// The role in plain words.
        public var roleExplanation: String
        /// Where it processes data.
        public var region: String?
        /// The hosts data is sent to.
        public var endpointHosts: [String]
        /// The categories it receives.
        public var categories: [DataCategory]
        /// How a deletion (an erase, a withdrawal) reaches it.
        public var deletion: DeletionRoute
    }

    /// The recipients that process data outside the home region.
    ///
    /// The home region is given to ``Disclosure/init(manifest:modules:homeRegion:now:)`` or,
    /// when it is not, derived from the manifest as the region where most recipients process
    /// data. Every recipient whose region differs from it is listed.
    public struct CrossBorderTransfers: Codable, Hashable, Sendable {
        /// The controller's and users' region; nil when no recipient names one.
        public var homeRegion: String?
        /// Whether the home region was derived from the recipients rather than given.
        public var homeRegionDerived: Bool
        /// The recipients outside it, in the manifest's order.
        public var recipients: [RecipientID]
    }

    /// A run-time permission the app may ask for.
    public struct PermissionEntry: Codable, Hashable, Sendable {
        /// The permission.
        public var permission: Permission
        /// Why it is asked for, shown when asking.
        public var rationale: String
        /// The purposes it serves.
        public var purposes: [Purpose]
    }

    /// A metric the app may record through swift-metrics.
    public struct MetricEntry: Codable, Hashable, Sendable {
        /// Its name.
        public var name: String
        /// Why it is recorded.
        public var purpose: Purpose
        /// What kind of data it is.
        public var category: DataCategory
        /// The only dimensions it may carry.
        public var dimensions: [String]
    }

    /// A declared telemetry event, with what is done to each attribute.
    public struct EventEntry: Codable, Hashable, Sendable {
        /// Its name.
        public var name: EventName
        /// Why it is recorded.
        public var purpose: Purpose
        /// What kind of data it is.
        public var category: DataCategory
        /// The last day it may be recorded (`YYYY-MM-DD`), if any.
        public var expires: String?
        /// The attributes it may carry.
        public var attributes: [Attribute]

        /// An attribute and how it is anonymised.
        public struct Attribute: Codable, Hashable, Sendable {
            /// Its name.
            public var name: String
            /// Its value type.
            public var type: AttributeType
            /// How identifying it is.
            public var classification: AttributeClassification
            /// For strings, the length past which values are cut.
            public var maxLength: Int?
            /// What Steward does to its values before keeping them, in words.
            public var treatment: String
        }
    }

    /// A record Steward keeps for itself to honour the user's choices, under the reserved
    /// purpose `privacyCompliance` (legal obligation: demonstrating consent and accounting for
    /// disclosures). Kept on the device; erased with everything else.
    public struct StewardRecord: Codable, Hashable, Sendable {
        /// The Steward module that keeps it.
        public var module: String
        /// Its category.
        public var category: DataCategory
        /// What it holds.
        public var description: String
    }

    /// Minimum ages and what happens below them.
    public struct Children: Codable, Hashable, Sendable {
        /// The minimum age per jurisdiction: the manifest's first, then Steward's built-in
        /// table for the jurisdictions the manifest does not list.
        public var minimumAges: [MinimumAgeEntry]
        /// The minimum age where the jurisdiction is unknown or in neither list.
        public var defaultMinimumAge: Int
        /// Purposes off below the minimum age unless a guardian consents (consent purposes).
        public var purposesOffBelowMinimumAge: [Purpose]
        /// Purposes that continue (necessary for the service, legal obligation, legitimate
        /// interest).
        public var purposesContinuing: [Purpose]

        /// The minimum age in one jurisdiction.
        public struct MinimumAgeEntry: Codable, Hashable, Sendable {
            /// The jurisdiction.
            public var jurisdiction: Jurisdiction
            /// Users younger than this need a guardian's consent.
            public var age: Int
            /// Where the value comes from.
            public var source: Source

            /// Where a minimum age comes from.
            public enum Source: String, Codable, Hashable, Sendable {
                /// The manifest's `minimumAges`.
                case manifest
                /// Steward's table (`AgeGate.builtInMinimumAges`).
                case builtIn
            }
        }
    }

    /// A right of the user and how to use it.
    public struct Right: Codable, Hashable, Sendable {
        /// A stable identifier: `access`, `export`, `erase`, `withdrawConsent`, `object`.
        public var id: String
        /// Its title.
        public var title: String
        /// What it means here.
        public var description: String
        /// The commands (of the `steward` CLI) and SDK calls that exercise it.
        public var commands: [Command]
        /// Whom to write to instead, from the manifest's controller.
        public var contact: String?

        /// A command or call and what it does.
        public struct Command: Codable, Hashable, Sendable {
            /// The command line or the call, such as `steward export PATH`.
            public var command: String
            /// What it does.
            public var explanation: String
        }
    }

    /// A measure that protects the data, as the code implements it.
    public struct SecurityMeasure: Codable, Hashable, Sendable {
        /// A stable identifier, such as `encryptionAtRest`.
        public var id: String
        /// The measure in words.
        public var description: String
    }
}
