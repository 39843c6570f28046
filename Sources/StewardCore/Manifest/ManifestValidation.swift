public import struct Foundation.Date
import Synchronization

extension PrivacyManifest {
    /// The most purposes a manifest may declare: the consent ledger keeps granted purposes in a
    /// 64-bit mask.
    public static let maximumPurposeCount = 64
    /// The most bucket bounds a metric may declare.
    public static let maximumBoundCount = 64

    /// The semantic mistakes in this manifest, each with its JSON path (`$.field[index]`), or an
    /// empty array when it can be enforced as it is.
    ///
    /// ``decode(json:now:)-([UInt8],_)`` runs this after reading the JSON; call it yourself for a manifest
    /// built in Swift. The checks:
    /// - `policyVersion` is not empty; names, descriptions, rationales and the controller's
    ///   name and contact are not empty.
    /// - Identifiers (purpose, category, recipient, permission, jurisdiction, event, attribute,
    ///   metric and dimension names) are 1–64 characters of `A-Z a-z 0-9 . _ -`, and unique in their
    ///   list (attribute names within their event).
    /// - At most ``maximumPurposeCount`` purposes; `privacyCompliance` is reserved for
    ///   Steward's own records and may not be declared.
    /// - Every purpose, category and recipient referenced is declared; an event's purpose is
    ///   one of its category's purposes; categories and permissions name at least one purpose.
    /// - `retentionDays` is 0 (not kept: used in memory only) to 36,500, or absent (kept until
    ///   deleted).
    /// - A category that leaves the device names its recipients, and one that names recipients
    ///   leaves the device; a category disclosed to a third party has a consent-based purpose
    ///   (PIPL Art. 23 separate consent).
    /// - A recipient's `deletion` route, when declared, is `request` without a contact or
    ///   `manual` with one.
    /// - Every recipient has a region (ISO 3166-1 alpha-2, for cross-border transfer notices)
    ///   and endpoint hosts that are bare host names.
    /// - Minimum ages are within 0...21.
    /// - No event has expired at `now` (see ``EventDeclaration/isExpired(at:)``); `maxLength`
    ///   is at least 1 and only on string attributes.
    /// - Metric names are identifiers, unique; a metric's purpose is one of its category's
    ///   purposes; its dimension names are identifiers, each listed once; its `bounds`, when
    ///   given, are 1 to ``maximumBoundCount`` finite numbers, strictly ascending.
    ///
    /// - Parameter now: The date events' expiry is checked against.
    /// - Returns: Every problem found, in document order.
    ///
    /// ```swift
    /// let problems = manifest.validate(now: clock.now)
    /// guard problems.isEmpty else { throw ManifestError(problems: problems) }
    /// ```
    public func validate(now: Date = Date()) -> [ManifestProblem] {
        if Self.lastValid.withLock({ $0.map { $0.date >= now && $0.manifest == self } ?? false }) { return [] }
        var validator = ManifestValidator(manifest: self, now: now)
        let problems = validator.run().map { ManifestProblem($0.path, $0.message) }
        if problems.isEmpty { Self.lastValid.withLock { $0 = (self, now) } }
        return problems
    }

    /// The last manifest found valid, and the date it was checked against. `now` only decides
    /// which events have expired, so a manifest valid at a date is valid at any earlier one:
    /// `Steward.start` checks the manifest, then the consent ledger checks it again against
    /// `.distantPast`, and the second check is a comparison.
    private static let lastValid = Mutex<(manifest: PrivacyManifest, date: Date)?>(nil)
}

/// The semantic checks of ``PrivacyManifest/validate(now:)``.
///
/// After decoding, `structural` holds the paths that already have a structural problem: a
/// semantic problem at, above or below one of them is dropped (it would be about a placeholder),
/// and references are resolved only when every declaration's id was read.
struct ManifestValidator {
    static let identifierLimit = 64
    static let retentionLimit = 36_500
    static let ageRange = 0...21

    private let manifest: PrivacyManifest
    private let now: Date
    /// Paths with a structural problem.
    private let structural: Set<JSONPath>
    /// Those paths and all their ancestors: a path in here has a structural problem at or below it.
    private let structuralOrAbove: Set<JSONPath>
    /// Lookups by id (the first declaration wins), so the checks stay linear in the manifest's size.
    private let purposeBases: [Purpose: LegalBasis]
    private let recipientRoles: [RecipientID: RecipientRole]
    private let categoryIndex: [DataCategory: Int]
    /// Whether every declaration's id was read, so a reference matching none is undeclared.
    private let purposesKnown: Bool
    private let categoriesKnown: Bool
    private let recipientsKnown: Bool
    private var problems: [(path: JSONPath, message: String)] = []
    /// "Did you mean" hints left: each compares a name with up to 256 declared ones, so only
    /// the first few undeclared references get one, and a huge manifest full of them is
    /// checked in time linear in its size.
    private var suggestionsLeft = 64

    init(manifest: PrivacyManifest, now: Date, structural: [JSONPath] = []) {
        self.manifest = manifest
        self.now = now
        let paths = Set(structural)
        self.structural = paths
        self.structuralOrAbove = Set(structural.flatMap(\.prefixes))
        purposeBases = Dictionary(manifest.purposes.map { ($0.id, $0.legalBasis) }) { first, _ in first }
        recipientRoles = Dictionary(manifest.recipients.map { ($0.id, $0.role) }) { first, _ in first }
        categoryIndex = Dictionary(manifest.dataCategories.enumerated().map { ($1.id, $0) }) { first, _ in first }
        func idsKnown(_ section: String, _ idKey: String, count: Int) -> Bool {
            let base = JSONPath.root[section]
            return paths.isEmpty
                || (!Self.hasProblem(atOrAbove: base, in: paths)
                    && (0..<count).allSatisfy { !Self.hasProblem(atOrAbove: base[$0][idKey], in: paths) })
        }
        purposesKnown = idsKnown("purposes", "id", count: manifest.purposes.count)
        categoriesKnown = idsKnown("dataCategories", "id", count: manifest.dataCategories.count)
        recipientsKnown = idsKnown("recipients", "id", count: manifest.recipients.count)
    }

    /// A "did you mean" hint for `text` while the budget lasts, else nothing.
    private mutating func suggestion(for text: String, among candidates: some Collection<String>) -> String {
        guard suggestionsLeft > 0 else { return "" }
        suggestionsLeft -= 1
        return ProblemWording.suggestion(for: text, among: candidates)
    }

    /// Runs every check and returns the problems in document order.
    mutating func run() -> [(path: JSONPath, message: String)] {
        let root = JSONPath.root
        if isBlank(manifest.policyVersion) {
            report(
                root["policyVersion"],
                "policyVersion is empty; give the version of the privacy policy this manifest belongs to (a new version asks for consent again)"
            )
        }
        if let controller = manifest.controller {
            if isBlank(controller.name) {
                report(
                    root["controller"]["name"],
                    "the controller's name is empty; the disclosure names who is responsible for the data")
            }
            if isBlank(controller.contact) {
                report(
                    root["controller"]["contact"],
                    "the controller's contact is empty; give an e-mail address or URL where users reach it")
            }
        }
        checkPurposes()
        checkCategories()
        checkRecipients()
        checkPermissions()
        checkMinimumAges()
        checkEvents()
        checkMetrics()
        return problems
    }

    // MARK: Sections

    private mutating func checkPurposes() {
        let base = JSONPath.root["purposes"]
        if manifest.purposes.count > PrivacyManifest.maximumPurposeCount {
            report(
                base,
                "\(manifest.purposes.count) purposes are declared; at most \(PrivacyManifest.maximumPurposeCount) are allowed (the consent ledger keeps granted purposes in a 64-bit mask)"
            )
        }
        var first: [Purpose: Int] = [:]
        for (index, purpose) in manifest.purposes.enumerated() {
            let path = base[index]
            checkIdentifier(purpose.id.rawValue, "purpose id", at: path["id"])
            if purpose.id == .privacyCompliance {
                report(
                    path["id"],
                    "purpose \"privacyCompliance\" is reserved for Steward's own records (consent receipts, the audit ledger); the app must not declare it"
                )
            }
            checkDuplicate(purpose.id, index, in: &first, "purpose id", at: path["id"], base: base, idKey: "id")
            if isBlank(purpose.description) {
                report(
                    path["description"],
                    "the description of purpose \(quoted(purpose.id)) is empty; the user reads it when asked for consent"
                )
            }
        }
    }

    private mutating func checkCategories() {
        let base = JSONPath.root["dataCategories"]
        var first: [DataCategory: Int] = [:]
        for (index, category) in manifest.dataCategories.enumerated() {
            let path = base[index]
            checkIdentifier(category.id.rawValue, "category id", at: path["id"])
            checkDuplicate(category.id, index, in: &first, "category id", at: path["id"], base: base, idKey: "id")
            if isBlank(category.description) {
                report(
                    path["description"],
                    "the description of category \(quoted(category.id)) is empty; the disclosure shows it")
            }
            if category.purposes.isEmpty {
                report(
                    path["purposes"], "category \(quoted(category.id)) lists no purpose; say what it is processed for")
            }
            checkPurposeReferences(category.purposes, at: path["purposes"])
            if let days = category.retentionDays {
                if days < 0 {
                    report(
                        path["retentionDays"],
                        "retentionDays is \(days); it must be 0 (not kept) or more, or left out to keep the data until the user deletes it"
                    )
                } else if days > Self.retentionLimit {
                    report(
                        path["retentionDays"],
                        "retentionDays is \(days); at most \(Self.retentionLimit) (100 years) is allowed; leave it out to keep the data until the user deletes it"
                    )
                }
            }
            var listed: [RecipientID: Int] = [:]
            for (position, recipient) in category.recipients.enumerated() {
                let recipientPath = path["recipients"][position]
                if let earlier = listed[recipient] {
                    report(
                        recipientPath,
                        "recipient \(quoted(recipient)) is listed twice (also at \(path["recipients"][earlier]))")
                    continue
                }
                listed[recipient] = position
                if recipientsKnown, recipientRoles[recipient] == nil {
                    let hint = suggestion(for: recipient.rawValue, among: manifest.recipients.lazy.map(\.id.rawValue))
                    report(recipientPath, "recipient \(quoted(recipient)) is not declared in $.recipients\(hint)")
                }
            }
            if category.leavesDevice, category.recipients.isEmpty {
                report(
                    path["recipients"],
                    "category \(quoted(category.id)) leaves the device but names no recipient; list who receives it, or set leavesDevice to false"
                )
            } else if !category.leavesDevice, !category.recipients.isEmpty {
                report(
                    path["leavesDevice"],
                    "category \(quoted(category.id)) names recipients but leavesDevice is false; set it to true, or remove the recipients"
                )
            }
            checkThirdPartyConsent(category, at: path)
        }
    }

    private mutating func checkThirdPartyConsent(_ category: DataCategoryDeclaration, at path: JSONPath) {
        guard purposesKnown, recipientsKnown,
            category.purposes.allSatisfy({ purposeBases[$0] != nil })
        else { return }
        let thirdParties = category.recipients.filter { recipientRoles[$0] == .thirdParty }
        guard let firstThirdParty = thirdParties.first else { return }
        let consented = category.purposes.contains { purposeBases[$0] == .consent }
        if !consented {
            report(
                path["purposes"],
                "category \(quoted(category.id)) is disclosed to the third party \(quoted(firstThirdParty)) but none of its purposes is consent-based; a third party needs the user's separate consent (PIPL Art. 23): add a purpose whose legalBasis is consent"
            )
        }
    }

    private mutating func checkRecipients() {
        let base = JSONPath.root["recipients"]
        var first: [RecipientID: Int] = [:]
        for (index, recipient) in manifest.recipients.enumerated() {
            let path = base[index]
            checkIdentifier(recipient.id.rawValue, "recipient id", at: path["id"])
            checkDuplicate(recipient.id, index, in: &first, "recipient id", at: path["id"], base: base, idKey: "id")
            if isBlank(recipient.name) {
                report(
                    path["name"],
                    "the name of recipient \(quoted(recipient.id)) is empty; the disclosure names every recipient")
            }
            if let region = recipient.region, !isBlank(region) {
                if !Self.isRegionCode(region) {
                    report(
                        path["region"],
                        "region \(ProblemWording.quoted(region)) of recipient \(quoted(recipient.id)) is not an ISO 3166-1 alpha-2 code; use two capital letters, such as CN or DE"
                    )
                }
            } else {
                report(
                    path["region"],
                    "recipient \(quoted(recipient.id)) has no region; say where it processes data (ISO 3166-1 alpha-2, such as CN or DE): a cross-border transfer must be disclosed to the user"
                )
            }
            for (position, host) in recipient.endpointHosts.enumerated() {
                if let problem = Self.hostProblem(host) { report(path["endpointHosts"][position], problem) }
            }
            if let deletion = recipient.deletion {
                switch deletion.method {
                case .manual where deletion.contact.map(isBlank) ?? true:
                    report(
                        path["deletion"]["contact"],
                        "recipient \(quoted(recipient.id)) takes deletion by hand but names no contact; give the address or URL where deletion is asked for (the disclosure shows it)"
                    )
                case .request where deletion.contact != nil:
                    report(
                        path["deletion"]["contact"],
                        "recipient \(quoted(recipient.id)) takes Steward's deletion request, so a contact is not used; remove it, or use method \"manual\""
                    )
                default:
                    break
                }
            }
        }
    }

    private mutating func checkPermissions() {
        let base = JSONPath.root["permissions"]
        var first: [Permission: Int] = [:]
        for (index, permission) in manifest.permissions.enumerated() {
            let path = base[index]
            checkIdentifier(permission.permission.rawValue, "permission", at: path["permission"])
            checkDuplicate(
                permission.permission, index, in: &first, "permission", at: path["permission"], base: base,
                idKey: "permission")
            if isBlank(permission.rationale) {
                report(
                    path["rationale"],
                    "the rationale for permission \(quoted(permission.permission)) is empty; it is shown when the permission is requested"
                )
            }
            if permission.purposes.isEmpty {
                report(
                    path["purposes"],
                    "permission \(quoted(permission.permission)) lists no purpose; say which purposes it serves")
            }
            checkPurposeReferences(permission.purposes, at: path["purposes"])
        }
    }

    private mutating func checkMinimumAges() {
        let base = JSONPath.root["minimumAges"]
        var first: [Jurisdiction: Int] = [:]
        for (index, entry) in manifest.minimumAges.enumerated() {
            let path = base[index]
            checkIdentifier(entry.jurisdiction.rawValue, "jurisdiction", at: path["jurisdiction"])
            checkDuplicate(
                entry.jurisdiction, index, in: &first, "jurisdiction", at: path["jurisdiction"], base: base,
                idKey: "jurisdiction")
            if !Self.ageRange.contains(entry.age) {
                report(
                    path["age"],
                    "minimum age \(entry.age) for \(quoted(entry.jurisdiction)) is outside \(Self.ageRange.lowerBound)...\(Self.ageRange.upperBound)"
                )
            }
        }
    }

    private mutating func checkEvents() {
        let base = JSONPath.root["events"]
        var first: [EventName: Int] = [:]
        for (index, event) in manifest.events.enumerated() {
            let path = base[index]
            checkIdentifier(event.name.rawValue, "event name", at: path["name"])
            checkDuplicate(event.name, index, in: &first, "event name", at: path["name"], base: base, idKey: "name")
            let purposeDeclared = checkPurposeReference(event.purpose, at: path["purpose"])
            var category: (index: Int, declaration: DataCategoryDeclaration)?
            if let found = categoryIndex[event.category] {
                category = (found, manifest.dataCategories[found])
            } else if categoriesKnown {
                let hint = suggestion(
                    for: event.category.rawValue, among: manifest.dataCategories.lazy.map(\.id.rawValue))
                report(
                    path["category"], "category \(quoted(event.category)) is not declared in $.dataCategories\(hint)")
            }
            // Judged only when the category's purposes are all readable and declared: a typo
            // there is reported once, at the category, not again at every event.
            if purposeDeclared, let category,
                !touchesStructural(JSONPath.root["dataCategories"][category.index]["purposes"]),
                category.declaration.purposes.allSatisfy({ purposeBases[$0] != nil }),
                !category.declaration.purposes.contains(event.purpose)
            {
                report(
                    path["purpose"],
                    "event \(quoted(event.name)) is recorded for purpose \(quoted(event.purpose)), which is not among the purposes of category \(quoted(event.category)) (\(ProblemWording.list(category.declaration.purposes.map(\.rawValue))))"
                )
            }
            if let expires = event.expires {
                if let day = CalendarDay.string(from: expires) {
                    if event.isExpired(at: now) {
                        report(
                            path["expires"],
                            "event \(quoted(event.name)) expired on \(day); review it, then move the date forward or remove the event"
                        )
                    }
                } else {
                    report(path["expires"], "expires of event \(quoted(event.name)) is outside the years 0001-9999")
                }
            }
            checkAttributes(event, at: path)
        }
    }

    private mutating func checkMetrics() {
        let base = JSONPath.root["metrics"]
        var first: [String: Int] = [:]
        for (index, metric) in manifest.metrics.enumerated() {
            let path = base[index]
            checkIdentifier(metric.name, "metric name", at: path["name"])
            if let earlier = first[metric.name], !metric.name.isEmpty {
                report(
                    path["name"],
                    "duplicate metric name \(ProblemWording.quoted(metric.name)); first declared at \(base[earlier]["name"])"
                )
            } else {
                first[metric.name] = first[metric.name] ?? index
            }
            let purposeDeclared = checkPurposeReference(metric.purpose, at: path["purpose"])
            if let found = categoryIndex[metric.category] {
                let category = manifest.dataCategories[found]
                if purposeDeclared, !touchesStructural(JSONPath.root["dataCategories"][found]["purposes"]),
                    category.purposes.allSatisfy({ purposeBases[$0] != nil }),
                    !category.purposes.contains(metric.purpose)
                {
                    report(
                        path["purpose"],
                        "metric \(ProblemWording.quoted(metric.name)) is recorded for purpose \(quoted(metric.purpose)), which is not among the purposes of category \(quoted(metric.category)) (\(ProblemWording.list(category.purposes.map(\.rawValue))))"
                    )
                }
            } else if categoriesKnown {
                let hint = suggestion(
                    for: metric.category.rawValue, among: manifest.dataCategories.lazy.map(\.id.rawValue))
                report(
                    path["category"], "category \(quoted(metric.category)) is not declared in $.dataCategories\(hint)")
            }
            var dimensions: [String: Int] = [:]
            for (position, dimension) in metric.dimensions.enumerated() {
                checkIdentifier(dimension, "dimension name", at: path["dimensions"][position])
                if let earlier = dimensions[dimension], !dimension.isEmpty {
                    report(
                        path["dimensions"][position],
                        "dimension \(ProblemWording.quoted(dimension)) is listed twice (also at \(path["dimensions"][earlier]))"
                    )
                } else {
                    dimensions[dimension] = dimensions[dimension] ?? position
                }
            }
            if let bounds = metric.bounds {
                if bounds.isEmpty {
                    report(
                        path["bounds"],
                        "bounds of metric \(ProblemWording.quoted(metric.name)) is empty; leave it out for the default bounds"
                    )
                } else if let position = bounds.indices.dropFirst().first(where: { bounds[$0] <= bounds[$0 - 1] }) {
                    report(
                        path["bounds"][position],
                        "bounds must ascend: \(bounds[position]) follows \(bounds[position - 1])")
                }
                if bounds.count > PrivacyManifest.maximumBoundCount {
                    report(
                        path["bounds"],
                        "metric \(ProblemWording.quoted(metric.name)) has \(bounds.count) bounds; at most \(PrivacyManifest.maximumBoundCount) are allowed"
                    )
                }
            }
        }
    }

    private mutating func checkAttributes(_ event: EventDeclaration, at eventPath: JSONPath) {
        let base = eventPath["attributes"]
        var first: [String: Int] = [:]
        for (index, attribute) in event.attributes.enumerated() {
            let path = base[index]
            checkIdentifier(attribute.name, "attribute name", at: path["name"])
            if let earlier = first[attribute.name], !attribute.name.isEmpty {
                report(
                    path["name"],
                    "duplicate attribute \(ProblemWording.quoted(attribute.name)) in event \(quoted(event.name)); first declared at \(base[earlier])"
                )
            } else {
                first[attribute.name] = first[attribute.name] ?? index
            }
            if let maxLength = attribute.maxLength {
                if attribute.type != .string {
                    report(
                        path["maxLength"],
                        "maxLength applies only to string attributes; \(ProblemWording.quoted(attribute.name)) is of type \(attribute.type.rawValue)"
                    )
                } else if maxLength <= 0 {
                    report(
                        path["maxLength"],
                        "maxLength of \(ProblemWording.quoted(attribute.name)) is \(maxLength); it must be at least 1")
                }
            }
        }
    }

    // MARK: Shared checks

    /// Reports each undeclared or repeated purpose in a list of references.
    private mutating func checkPurposeReferences(_ purposes: [Purpose], at listPath: JSONPath) {
        var listed: [Purpose: Int] = [:]
        for (position, purpose) in purposes.enumerated() {
            if let earlier = listed[purpose] {
                report(listPath[position], "purpose \(quoted(purpose)) is listed twice (also at \(listPath[earlier]))")
                continue
            }
            listed[purpose] = position
            checkPurposeReference(purpose, at: listPath[position])
        }
    }

    /// Reports `purpose` if it is not declared; returns whether it is.
    @discardableResult
    private mutating func checkPurposeReference(_ purpose: Purpose, at path: JSONPath) -> Bool {
        if purposeBases[purpose] != nil { return true }
        guard purposesKnown else { return false }
        if purpose == .privacyCompliance {
            report(
                path,
                "purpose \"privacyCompliance\" is reserved for Steward's own records; the app cannot process data for it"
            )
        } else {
            let hint = suggestion(for: purpose.rawValue, among: manifest.purposes.lazy.map(\.id.rawValue))
            report(path, "purpose \(quoted(purpose)) is not declared in $.purposes\(hint)")
        }
        return false
    }

    private mutating func checkIdentifier(_ spelling: String, _ what: String, at path: JSONPath) {
        if spelling.isEmpty {
            report(path, "\(what) is empty")
        } else if spelling.utf8.count > Self.identifierLimit {
            report(
                path,
                "\(what) \(ProblemWording.quoted(spelling)) is \(spelling.utf8.count) bytes long; at most \(Self.identifierLimit) are allowed"
            )
        } else if !spelling.utf8.allSatisfy(Self.isIdentifierByte) {
            report(
                path, "\(what) \(ProblemWording.quoted(spelling)) may contain only letters, digits, '.', '_' and '-'")
        }
    }

    private mutating func checkDuplicate<ID: StringIdentifier>(
        _ id: ID, _ index: Int, in first: inout [ID: Int], _ what: String, at path: JSONPath, base: JSONPath,
        idKey: String
    ) {
        guard !id.rawValue.isEmpty else { return }
        if let earlier = first[id] {
            report(path, "duplicate \(what) \(quoted(id)); first declared at \(base[earlier][idKey])")
        } else {
            first[id] = index
        }
    }

    // MARK: Structural problems from decoding

    private mutating func report(_ path: JSONPath, _ message: String) {
        guard !touchesStructural(path) else { return }
        problems.append((path, message))
    }

    /// Whether a structural problem is at `path`, above it or below it.
    private func touchesStructural(_ path: JSONPath) -> Bool {
        structuralOrAbove.contains(path) || Self.hasProblem(atOrAbove: path, in: structural)
    }

    /// Whether one of `paths` is `path` or one of its ancestors.
    private static func hasProblem(atOrAbove path: JSONPath, in paths: Set<JSONPath>) -> Bool {
        !paths.isEmpty && path.prefixes.contains { paths.contains($0) }
    }

    // MARK: Spelling rules

    private static func isIdentifierByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    private static func isRegionCode(_ region: String) -> Bool {
        region.utf8.count == 2 && region.utf8.allSatisfy { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) }
    }

    /// What is wrong with `host` as an endpoint host, or nil if it is a valid host name.
    private static func hostProblem(_ host: String) -> String? {
        if host.isEmpty { return "endpoint host is empty" }
        let shown = ProblemWording.quoted(host)
        if host.contains("/") || host.contains(":") {
            return
                "endpoint host \(shown) must be a bare host name, without scheme, port or path (such as sentry.example.com)"
        }
        let labels = host.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        let valid =
            host.utf8.count <= 253
            && labels.allSatisfy { label in
                (1...63).contains(label.count) && label.first != UInt8(ascii: "-") && label.last != UInt8(ascii: "-")
                    && label.allSatisfy { isIdentifierByte($0) && $0 != UInt8(ascii: ".") && $0 != UInt8(ascii: "_") }
            }
        return valid ? nil : "endpoint host \(shown) is not a valid host name"
    }

    private func isBlank(_ text: String) -> Bool { text.allSatisfy(\.isWhitespace) }

    private func quoted(_ id: some StringIdentifier) -> String { ProblemWording.quoted(id.rawValue) }
}

extension PrivacyManifest {
    /// Throws unless this manifest may be enforced: it is `ledger`'s (which validated it when it
    /// opened), or it passes ``validate(now:)`` on its meaning (event expiry is the caller's
    /// own check, as for the ledger). Every module that takes a manifest calls it first, so none
    /// runs on a manifest that was never checked.
    package func checkForUse(with ledger: ConsentLedger?) throws(ManifestError) {
        if let ledger, ledger.manifest == self { return }
        let problems = validate(now: .distantPast)
        guard problems.isEmpty else { throw ManifestError(problems: problems) }
    }
}
