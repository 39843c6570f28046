import struct Foundation.Date

/// Builds a ``PrivacyManifest`` from parsed JSON, collecting every structural problem (wrong
/// type, missing field, unknown key or value, bad date) with its path instead of stopping at
/// the first.
///
/// Where a value is unusable the reader puts a placeholder in its place, so array indices (and
/// the paths semantic validation reports) keep matching the document. Placeholders are chosen
/// not to cause semantic problems of their own, and ``ManifestValidator`` drops semantic
/// problems that touch a path with a structural one.
final class ManifestReader {
    /// Every structural problem, in document order.
    private(set) var problems: [(path: JSONPath, message: String)] = []

    private func report(_ path: JSONPath, _ message: String) {
        problems.append((path, message))
    }

    /// The manifest in `root`, or nil when `root` is not an object.
    func manifest(from root: JSONValue) -> PrivacyManifest? {
        guard
            let fields = fields(
                root, at: .root, what: "the manifest",
                keys: [
                    "policyVersion", "controller", "purposes", "dataCategories", "recipients", "permissions",
                    "minimumAges", "events", "metrics",
                ])
        else { return nil }
        return PrivacyManifest(
            policyVersion: required(fields, "policyVersion", placeholder: "", string),
            controller: optional(fields, "controller", controller),
            purposes: required(fields, "purposes", placeholder: []) {
                list($0, $1, placeholder: Self.placeholderPurpose, purpose)
            },
            dataCategories: required(fields, "dataCategories", placeholder: []) {
                list($0, $1, placeholder: Self.placeholderCategory, category)
            },
            recipients: defaulted(fields, "recipients", []) {
                list($0, $1, placeholder: Self.placeholderRecipient, recipient)
            },
            permissions: defaulted(fields, "permissions", []) {
                list($0, $1, placeholder: Self.placeholderPermission, permission)
            },
            minimumAges: defaulted(fields, "minimumAges", []) {
                list($0, $1, placeholder: Self.placeholderMinimumAge, minimumAge)
            },
            events: defaulted(fields, "events", []) { list($0, $1, placeholder: Self.placeholderEvent, event) },
            metrics: defaulted(fields, "metrics", []) { list($0, $1, placeholder: Self.placeholderMetric, metric) }
        )
    }

    // MARK: Declarations

    private func controller(_ value: JSONValue, _ path: JSONPath) -> Controller? {
        guard let fields = fields(value, at: path, what: "the controller", keys: ["name", "contact", "address"]) else {
            return nil
        }
        return Controller(
            name: required(fields, "name", placeholder: "", string),
            contact: required(fields, "contact", placeholder: "", string),
            address: optional(fields, "address", string)
        )
    }

    private func purpose(_ value: JSONValue, _ path: JSONPath) -> PurposeDeclaration? {
        guard let fields = fields(value, at: path, what: "a purpose", keys: ["id", "description", "legalBasis"]) else {
            return nil
        }
        return PurposeDeclaration(
            id: required(fields, "id", placeholder: "", identifier),
            description: required(fields, "description", placeholder: "", string),
            // Consent is the placeholder: it never makes a third-party disclosure look unlawful.
            legalBasis: required(fields, "legalBasis", placeholder: .consent) {
                enumeration($0, $1, named: "legalBasis")
            }
        )
    }

    private func category(_ value: JSONValue, _ path: JSONPath) -> DataCategoryDeclaration? {
        guard
            let fields = fields(
                value, at: path, what: "a data category",
                keys: [
                    "id", "description", "purposes", "retentionDays", "sensitivity", "leavesDevice", "recipients",
                ])
        else { return nil }
        let recipients: [RecipientID] = defaulted(fields, "recipients", []) {
            list($0, $1, placeholder: "", identifier)
        }
        return DataCategoryDeclaration(
            id: required(fields, "id", placeholder: "", identifier),
            description: required(fields, "description", placeholder: "", string),
            purposes: required(fields, "purposes", placeholder: []) { list($0, $1, placeholder: "", identifier) },
            retentionDays: optional(fields, "retentionDays", integer),
            sensitivity: required(fields, "sensitivity", placeholder: .personal) {
                enumeration($0, $1, named: "sensitivity")
            },
            // Without a usable value, agree with the recipients so no mismatch is reported.
            leavesDevice: required(fields, "leavesDevice", placeholder: !recipients.isEmpty, bool),
            recipients: recipients
        )
    }

    private func recipient(_ value: JSONValue, _ path: JSONPath) -> RecipientDeclaration? {
        guard
            let fields = fields(
                value, at: path, what: "a recipient",
                keys: ["id", "name", "role", "region", "endpointHosts", "deletion"])
        else { return nil }
        return RecipientDeclaration(
            id: required(fields, "id", placeholder: "", identifier),
            name: required(fields, "name", placeholder: "", string),
            // Processor is the placeholder: it never asks for a consent the category may lack.
            role: required(fields, "role", placeholder: .processor) { enumeration($0, $1, named: "role") },
            region: optional(fields, "region", string),
            endpointHosts: defaulted(fields, "endpointHosts", []) { list($0, $1, placeholder: "", string) },
            deletion: optional(fields, "deletion", deletionRoute)
        )
    }

    private func deletionRoute(_ value: JSONValue, _ path: JSONPath) -> DeletionRoute? {
        guard let fields = fields(value, at: path, what: "a deletion route", keys: ["method", "contact"]) else {
            return nil
        }
        return DeletionRoute(
            method: required(fields, "method", placeholder: .request) { enumeration($0, $1, named: "deletion method") },
            contact: optional(fields, "contact", string))
    }

    private func permission(_ value: JSONValue, _ path: JSONPath) -> PermissionDeclaration? {
        guard let fields = fields(value, at: path, what: "a permission", keys: ["permission", "rationale", "purposes"])
        else { return nil }
        return PermissionDeclaration(
            permission: required(fields, "permission", placeholder: "", identifier),
            rationale: required(fields, "rationale", placeholder: "", string),
            purposes: required(fields, "purposes", placeholder: []) { list($0, $1, placeholder: "", identifier) }
        )
    }

    private func minimumAge(_ value: JSONValue, _ path: JSONPath) -> MinimumAge? {
        guard let fields = fields(value, at: path, what: "a minimum age", keys: ["jurisdiction", "age"]) else {
            return nil
        }
        return MinimumAge(
            jurisdiction: required(fields, "jurisdiction", placeholder: "", identifier),
            age: required(fields, "age", placeholder: 0, integer)
        )
    }

    private func event(_ value: JSONValue, _ path: JSONPath) -> EventDeclaration? {
        guard
            let fields = fields(
                value, at: path, what: "an event", keys: ["name", "purpose", "category", "attributes", "expires"])
        else { return nil }
        return EventDeclaration(
            name: required(fields, "name", placeholder: "", identifier),
            purpose: required(fields, "purpose", placeholder: "", identifier),
            category: required(fields, "category", placeholder: "", identifier),
            attributes: defaulted(fields, "attributes", []) {
                list($0, $1, placeholder: Self.placeholderAttribute, attribute)
            },
            expires: optional(fields, "expires", day)
        )
    }

    private func metric(_ value: JSONValue, _ path: JSONPath) -> MetricDeclaration? {
        guard
            let fields = fields(
                value, at: path, what: "a metric",
                keys: ["name", "purpose", "category", "dimensions", "unit", "bounds"])
        else { return nil }
        return MetricDeclaration(
            name: required(fields, "name", placeholder: "", string),
            purpose: required(fields, "purpose", placeholder: "", identifier),
            category: required(fields, "category", placeholder: "", identifier),
            dimensions: defaulted(fields, "dimensions", []) { list($0, $1, placeholder: "", string) },
            unit: optional(fields, "unit", string),
            bounds: optional(fields, "bounds") { list($0, $1, placeholder: 0, number) }
        )
    }

    private func attribute(_ value: JSONValue, _ path: JSONPath) -> AttributeDeclaration? {
        guard
            let fields = fields(
                value, at: path, what: "an attribute", keys: ["name", "type", "classification", "maxLength"])
        else { return nil }
        return AttributeDeclaration(
            name: required(fields, "name", placeholder: "", string),
            // String is the placeholder: it is the one type maxLength applies to.
            type: required(fields, "type", placeholder: .string) { enumeration($0, $1, named: "type") },
            classification: required(fields, "classification", placeholder: .plain) {
                enumeration($0, $1, named: "classification")
            },
            maxLength: optional(fields, "maxLength", integer)
        )
    }

    private static let placeholderPurpose = PurposeDeclaration(id: "", description: "", legalBasis: .consent)
    private static let placeholderCategory = DataCategoryDeclaration(
        id: "", description: "", purposes: [], sensitivity: .personal, leavesDevice: false)
    private static let placeholderRecipient = RecipientDeclaration(id: "", name: "", role: .processor, region: nil)
    private static let placeholderPermission = PermissionDeclaration(permission: "", rationale: "", purposes: [])
    private static let placeholderMinimumAge = MinimumAge(jurisdiction: "", age: 0)
    private static let placeholderEvent = EventDeclaration(name: "", purpose: "", category: "")
    private static let placeholderMetric = MetricDeclaration(name: "", purpose: "", category: "")
    private static let placeholderAttribute = AttributeDeclaration(name: "", type: .string, classification: .plain)

    // MARK: Objects and fields

    /// An object's known members, by key, and where the object is.
    private struct Fields {
        let path: JSONPath
        let values: [String: JSONValue]
    }

    /// The members of the object `value`, reporting each key not in `keys`; nil (reported) if
    /// `value` is not an object.
    private func fields(_ value: JSONValue, at path: JSONPath, what: String, keys: [String]) -> Fields? {
        guard case .object(let members) = value else {
            report(path, "expected \(what) as an object, found \(value.kindDescription)")
            return nil
        }
        var values: [String: JSONValue] = [:]
        for member in members {
            if keys.contains(member.key) {
                values[member.key] = member.value
            } else {
                let hint = ProblemWording.suggestion(for: member.key, among: keys)
                report(
                    path[member.key],
                    "unknown key \(ProblemWording.quoted(member.key)) in \(what)\(hint) (known keys: \(ProblemWording.list(keys)))"
                )
            }
        }
        return Fields(path: path, values: values)
    }

    /// The field `key`, read with `read`; reported and replaced by `placeholder` when missing
    /// or unusable.
    private func required<T>(_ fields: Fields, _ key: String, placeholder: T, _ read: (JSONValue, JSONPath) -> T?) -> T
    {
        guard let value = fields.values[key] else {
            report(fields.path[key], "missing required field \(ProblemWording.quoted(key))")
            return placeholder
        }
        return read(value, fields.path[key]) ?? placeholder
    }

    /// The field `key`, read with `read`; nil when absent or null (and, reported, when
    /// unusable).
    private func optional<T>(_ fields: Fields, _ key: String, _ read: (JSONValue, JSONPath) -> T?) -> T? {
        guard let value = fields.values[key], value != .null else { return nil }
        return read(value, fields.path[key])
    }

    /// The field `key`, read with `read`; `defaultValue` when absent or null (and, reported,
    /// when unusable).
    private func defaulted<T>(_ fields: Fields, _ key: String, _ defaultValue: T, _ read: (JSONValue, JSONPath) -> T?)
        -> T
    {
        optional(fields, key, read) ?? defaultValue
    }

    // MARK: Values

    /// The elements of the array `value`, each read with `element` (or `placeholder`, reported,
    /// when unusable, so later indices stay right); nil (reported) if `value` is not an array.
    private func list<T>(_ value: JSONValue, _ path: JSONPath, placeholder: T, _ element: (JSONValue, JSONPath) -> T?)
        -> [T]?
    {
        guard case .array(let elements) = value else {
            report(path, "expected an array, found \(value.kindDescription)")
            return nil
        }
        return elements.enumerated().map { index, value in element(value, path[index]) ?? placeholder }
    }

    private func string(_ value: JSONValue, _ path: JSONPath) -> String? {
        guard case .string(let text) = value else {
            report(path, "expected a string, found \(value.kindDescription)")
            return nil
        }
        return text
    }

    private func identifier<T: StringIdentifier>(_ value: JSONValue, _ path: JSONPath) -> T? {
        string(value, path).map(T.init(rawValue:))
    }

    private func bool(_ value: JSONValue, _ path: JSONPath) -> Bool? {
        guard case .bool(let flag) = value else {
            report(path, "expected true or false, found \(value.kindDescription)")
            return nil
        }
        return flag
    }

    /// A finite number (a bound), or nil (reported).
    private func number(_ value: JSONValue, _ path: JSONPath) -> Double? {
        guard case .number(let text) = value else {
            report(path, "expected a number, found \(value.kindDescription)")
            return nil
        }
        guard let number = Double(text), number.isFinite else {
            report(path, "the number \(ProblemWording.escaped(text, limit: 30, quote: "\"")) is out of range")
            return nil
        }
        return number
    }

    private func integer(_ value: JSONValue, _ path: JSONPath) -> Int? {
        guard case .number(let text) = value else {
            report(path, "expected a whole number, found \(value.kindDescription)")
            return nil
        }
        guard !text.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) else {
            report(path, "expected a whole number, found \(value.kindDescription)")
            return nil
        }
        guard let number = Int(text) else {
            report(path, "the number \(ProblemWording.escaped(text, limit: 30, quote: "\"")) is out of range")
            return nil
        }
        return number
    }

    private func enumeration<E: RawRepresentable & CaseIterable>(
        _ value: JSONValue, _ path: JSONPath, named name: String
    ) -> E?
    where E.RawValue == String {
        let allowed = E.allCases.map(\.rawValue)
        guard case .string(let text) = value else {
            report(
                path,
                "expected a string, found \(value.kindDescription); allowed \(name) values: \(ProblemWording.list(allowed))"
            )
            return nil
        }
        guard let result = E(rawValue: text) else {
            let hint = ProblemWording.suggestion(for: text, among: allowed)
            report(
                path,
                "unknown \(name) \(ProblemWording.quoted(text))\(hint) (allowed values: \(ProblemWording.list(allowed)))"
            )
            return nil
        }
        return result
    }

    private func day(_ value: JSONValue, _ path: JSONPath) -> Date? {
        guard let text = string(value, path) else { return nil }
        guard let date = CalendarDay.date(from: text) else {
            report(path, "expected a date as YYYY-MM-DD (such as 2028-12-31), found \(ProblemWording.quoted(text))")
            return nil
        }
        return date
    }
}
