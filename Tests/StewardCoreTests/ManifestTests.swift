import Testing
import StewardTesting
import Foundation
@testable import StewardCore

// The privacy manifest's JSON contract: the bundled example is valid and round-trips; each kind
// of mistake is reported with its exact path; several mistakes are reported together; and no
// input, however mangled, crashes the decoder.

/// 2026-06-01 12:00 UTC: the "now" every test validates against, so expiry never depends on
/// the day the tests run.
private let testNow = Date(timeIntervalSince1970: 1_780_315_200)

/// `Examples/steward/example-manifest.json`, found relative to this file.
private func exampleManifestBytes() throws -> [UInt8] {
    let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    let file = tests.deletingLastPathComponent().appendingPathComponent("Examples/steward/example-manifest.json")
    return Array(try Data(contentsOf: file))
}

/// A small valid manifest; each malformed case changes one thing in it.
private let baseManifest = #"""
    {
      "policyVersion": "1",
      "purposes": [
        {"id": "serviceProvision", "description": "Run the service", "legalBasis": "necessaryForService"},
        {"id": "analytics", "description": "Count feature use", "legalBasis": "consent"}
      ],
      "dataCategories": [
        {"id": "usageEvents", "description": "Screens used", "purposes": ["analytics"], "retentionDays": 90,
         "sensitivity": "personal", "leavesDevice": true, "recipients": ["telemetry"]},
        {"id": "deviceModel", "description": "Hardware model", "purposes": ["serviceProvision"], "sensitivity": "low", "leavesDevice": false}
      ],
      "recipients": [
        {"id": "telemetry", "name": "Telemetry backend", "role": "processor", "region": "DE", "endpointHosts": ["otel.example.com"]}
      ],
      "permissions": [{"permission": "camera", "rationale": "Scan codes", "purposes": ["serviceProvision"]}],
      "minimumAges": [{"jurisdiction": "CN", "age": 14}],
      "events": [
        {"name": "screen_view", "purpose": "analytics", "category": "usageEvents",
         "attributes": [{"name": "screen", "type": "string", "classification": "plain", "maxLength": 64}],
         "expires": "2030-01-01"}
      ]
    }
    """#

/// The base manifest with each `(old, new)` replacement applied. A replacement that finds
/// nothing to replace yields text that is not JSON, so its case fails instead of silently
/// testing the valid manifest.
private func base(_ edits: (String, String)...) -> [UInt8] {
    var text = baseManifest
    for (old, new) in edits {
        guard text.contains(old) else { return Array("the base manifest has no \(old)".utf8) }
        text = text.replacingOccurrences(of: old, with: new)
    }
    return Array(text.utf8)
}

/// Extra purpose declarations, to go after the base's `analytics` one.
private func extraPurposes(_ count: Int) -> String {
    (1...count).map { #", {"id": "extra\#($0)", "description": "Extra", "legalBasis": "consent"}"# }.joined()
}

/// One malformed manifest and the single problem it must produce.
struct MalformedCase: Sendable, CustomTestStringConvertible {
    let name: String
    let json: [UInt8]
    let path: String
    let phrase: String
    var testDescription: String { name }

    init(_ name: String, _ json: [UInt8], path: String, _ phrase: String) {
        self.name = name
        self.json = json
        self.path = path
        self.phrase = phrase
    }

    static let all: [MalformedCase] =
        [
            // Semantic mistakes.
            .init(
                "undeclared purpose referenced",
                base(("\"purposes\": [\"analytics\"]", "\"purposes\": [\"analytic\"]")),
                path: "$.dataCategories[0].purposes[0]",
                #"purpose "analytic" is not declared in $.purposes; did you mean "analytics"?"#),
            .init(
                "duplicate purpose id",
                base(
                    (
                        #""legalBasis": "consent"}"#,
                        #""legalBasis": "consent"}, {"id": "analytics", "description": "Again", "legalBasis": "consent"}"#
                    )),
                path: "$.purposes[2].id", #"duplicate purpose id "analytics"; first declared at $.purposes[1].id"#),
            .init(
                "duplicate category id",
                base(
                    (#""description": "Hardware model""#, #""description": "Hardware model", "id": "usageEvents""#),
                    (#"{"id": "deviceModel", "#, "{")),
                path: "$.dataCategories[1].id",
                #"duplicate category id "usageEvents"; first declared at $.dataCategories[0].id"#),
            .init(
                "duplicate jurisdiction",
                base(
                    (
                        #"{"jurisdiction": "CN", "age": 14}"#,
                        #"{"jurisdiction": "CN", "age": 14}, {"jurisdiction": "CN", "age": 12}"#
                    )),
                path: "$.minimumAges[1].jurisdiction", #"duplicate jurisdiction "CN""#),
            .init(
                "duplicate attribute in an event",
                base(
                    (
                        #""maxLength": 64}"#,
                        #""maxLength": 64}, {"name": "screen", "type": "int", "classification": "plain"}"#
                    )),
                path: "$.events[0].attributes[1].name", #"duplicate attribute "screen" in event "screen_view""#),
            .init(
                "negative retention", base(("\"retentionDays\": 90", "\"retentionDays\": -1")),
                path: "$.dataCategories[0].retentionDays", "retentionDays is -1; it must be 0 (not kept) or more"),
            .init(
                "retention beyond a hundred years", base(("\"retentionDays\": 90", "\"retentionDays\": 99999999999")),
                path: "$.dataCategories[0].retentionDays", "at most 36500 (100 years)"),
            .init(
                "recipient without region", base((#""region": "DE", "#, "")),
                path: "$.recipients[0].region", #"recipient "telemetry" has no region; say where it processes data"#),
            .init(
                "region that is not a country code", base((#""region": "DE""#, #""region": "Germany""#)),
                path: "$.recipients[0].region", "is not an ISO 3166-1 alpha-2 code"),
            .init(
                "endpoint given as a URL", base(("\"otel.example.com\"", "\"https://otel.example.com/v1\"")),
                path: "$.recipients[0].endpointHosts[0]", "must be a bare host name"),
            .init(
                "recipient not declared", base(("\"recipients\": [\"telemetry\"]", "\"recipients\": [\"telemetri\"]")),
                path: "$.dataCategories[0].recipients[0]",
                #"recipient "telemetri" is not declared in $.recipients; did you mean "telemetry"?"#),
            .init(
                "leaves the device without recipients", base((#", "recipients": ["telemetry"]"#, "")),
                path: "$.dataCategories[0].recipients",
                #"category "usageEvents" leaves the device but names no recipient"#),
            .init(
                "recipients but stays on the device",
                base((#""leavesDevice": false}"#, #""leavesDevice": false, "recipients": ["telemetry"]}"#)),
                path: "$.dataCategories[1].leavesDevice", "names recipients but leavesDevice is false"),
            .init(
                "third party without a consent-based purpose",
                base(
                    (#""leavesDevice": false}"#, #""leavesDevice": true, "recipients": ["partner"]}"#),
                    (
                        #""endpointHosts": ["otel.example.com"]}"#,
                        #""endpointHosts": ["otel.example.com"]}, {"id": "partner", "name": "Partner", "role": "thirdParty", "region": "US"}"#
                    )),
                path: "$.dataCategories[1].purposes", "separate consent (PIPL Art. 23)"),
            .init(
                "event category not declared", base((#""category": "usageEvents""#, #""category": "usage""#)),
                path: "$.events[0].category", #"category "usage" is not declared in $.dataCategories"#),
            .init(
                "event purpose not among its category's",
                base((#""purpose": "analytics", "category""#, #""purpose": "serviceProvision", "category""#)),
                path: "$.events[0].purpose", #"which is not among the purposes of category "usageEvents" (analytics)"#),
            .init(
                "expired event", base(("\"2030-01-01\"", "\"2020-01-01\"")),
                path: "$.events[0].expires", #"event "screen_view" expired on 2020-01-01"#),
            .init(
                "minimum age out of range", base(("\"age\": 14", "\"age\": 25")),
                path: "$.minimumAges[0].age", "minimum age 25 for \"CN\" is outside 0...21"),
            .init(
                "maxLength of zero", base(("\"maxLength\": 64", "\"maxLength\": 0")),
                path: "$.events[0].attributes[0].maxLength", "it must be at least 1"),
            .init(
                "maxLength on a number", base((#""type": "string""#, #""type": "int""#)),
                path: "$.events[0].attributes[0].maxLength",
                #"maxLength applies only to string attributes; "screen" is of type int"#),
            .init(
                "identifier with a space", base((#""name": "screen_view""#, #""name": "screen view""#)),
                path: "$.events[0].name", "may contain only letters, digits, '.', '_' and '-'"),
            .init(
                "identifier longer than 64",
                base((#""name": "screen_view""#, "\"name\": \"\(String(repeating: "x", count: 65))\"")),
                path: "$.events[0].name", "is 65 bytes long; at most 64 are allowed"),
            .init(
                "empty policy version", base((#""policyVersion": "1""#, #""policyVersion": " ""#)),
                path: "$.policyVersion", "policyVersion is empty"),
            .init(
                "privacyCompliance declared by the app",
                base(
                    (
                        #""legalBasis": "consent"}"#,
                        #""legalBasis": "consent"}, {"id": "privacyCompliance", "description": "Mine", "legalBasis": "legalObligation"}"#
                    )),
                path: "$.purposes[2].id", "reserved for Steward's own records"),
            .init(
                "more than 64 purposes",
                base((#""legalBasis": "consent"}"#, #""legalBasis": "consent"}"# + extraPurposes(63))),
                path: "$.purposes", "65 purposes are declared; at most 64 are allowed"),
            .init(
                "empty rationale", base((#""rationale": "Scan codes""#, #""rationale": """#)),
                path: "$.permissions[0].rationale", "the rationale for permission \"camera\" is empty"),

            // Structural mistakes.
            .init(
                "wrong type", base(("\"age\": 14", "\"age\": \"14\"")),
                path: "$.minimumAges[0].age", #"expected a whole number, found a string ("14")"#),
            .init(
                "fraction where a whole number belongs", base(("\"age\": 14", "\"age\": 14.5")),
                path: "$.minimumAges[0].age", "expected a whole number, found a number (14.5)"),
            .init(
                "huge number", base(("\"age\": 14", "\"age\": 123456789012345678901234567890")),
                path: "$.minimumAges[0].age", "the number 123456789012345678901234567890 is out of range"),
            .init(
                "huge exponent", base(("\"age\": 14", "\"age\": 1e999999")),
                path: "$.minimumAges[0].age", "expected a whole number, found a number (1e999999)"),
            .init(
                "string instead of a boolean", base(("\"leavesDevice\": true", "\"leavesDevice\": \"yes\"")),
                path: "$.dataCategories[0].leavesDevice", "expected true or false, found a string"),
            .init(
                "null for a required string", base((#""description": "Screens used""#, #""description": null"#)),
                path: "$.dataCategories[0].description", "expected a string, found null"),
            .init(
                "object instead of an array",
                base((#""minimumAges": [{"jurisdiction": "CN", "age": 14}]"#, #""minimumAges": {"CN": 14}"#)),
                path: "$.minimumAges", "expected an array, found an object"),
            .init(
                "array at the top level", Array("[]".utf8),
                path: "$", "expected the manifest as an object, found an array"),
            .init(
                "missing field", base((#""rationale": "Scan codes", "#, "")),
                path: "$.permissions[0].rationale", #"missing required field "rationale""#),
            .init(
                "missing purposes", base((#", "purposes": ["serviceProvision"]}]"#, "}]")),
                path: "$.permissions[0].purposes", #"missing required field "purposes""#),
            .init(
                "unknown legalBasis", base((#""legalBasis": "consent""#, #""legalBasis": "Consent""#)),
                path: "$.purposes[1].legalBasis",
                #"unknown legalBasis "Consent"; did you mean "consent"? (allowed values: consent, necessaryForService, legalObligation, legitimateInterest)"#
            ),
            .init(
                "unknown sensitivity", base((#""sensitivity": "low""#, #""sensitivity": "high""#)),
                path: "$.dataCategories[1].sensitivity", "(allowed values: low, personal, sensitive)"),
            .init(
                "unknown role", base((#""role": "processor""#, #""role": "controller""#)),
                path: "$.recipients[0].role", "unknown role \"controller\" (allowed values: processor, thirdParty)"),
            .init(
                "unknown attribute type", base((#""type": "string""#, #""type": "text""#)),
                path: "$.events[0].attributes[0].type", "(allowed values: string, int, double, bool, location)"),
            .init(
                "unknown classification", base((#""classification": "plain""#, #""classification": "quasi""#)),
                path: "$.events[0].attributes[0].classification", "(allowed values: identifier, quasiIdentifier, plain)"
            ),
            .init(
                "unknown key", base(("\"retentionDays\": 90,", "\"retentionDays\": 90, \"retention\": 30,")),
                path: "$.dataCategories[0].retention", #"unknown key "retention" in a data category"#),
            .init(
                "manual deletion without a contact",
                base(
                    (
                        #""endpointHosts": ["otel.example.com"]"#,
                        #""endpointHosts": ["otel.example.com"], "deletion": {"method": "manual"}"#
                    )),
                path: "$.recipients[0].deletion.contact", "takes deletion by hand but names no contact"),
            .init(
                "a contact for a deletion request",
                base(
                    (
                        #""endpointHosts": ["otel.example.com"]"#,
                        #""endpointHosts": ["otel.example.com"], "deletion": {"method": "request", "contact": "x@y.z"}"#
                    )),
                path: "$.recipients[0].deletion.contact", "a contact is not used"),
            .init(
                "unknown deletion method",
                base(
                    (
                        #""endpointHosts": ["otel.example.com"]"#,
                        #""endpointHosts": ["otel.example.com"], "deletion": {"method": "email"}"#
                    )),
                path: "$.recipients[0].deletion.method", #"unknown deletion method "email""#),
            .init(
                "misspelt key",
                base(
                    (
                        #""endpointHosts": ["otel.example.com"]"#,
                        #""endpointHosts": ["otel.example.com"], "endpointHost": []"#
                    )),
                path: "$.recipients[0].endpointHost",
                #"unknown key "endpointHost" in a recipient; did you mean "endpointHosts"?"#),
            .init(
                "bad date", base(("\"2030-01-01\"", "\"2030-02-30\"")),
                path: "$.events[0].expires", #"expected a date as YYYY-MM-DD (such as 2028-12-31), found "2030-02-30""#),
            .init(
                "date with a time", base(("\"2030-01-01\"", "\"2030-01-01T00:00:00Z\"")),
                path: "$.events[0].expires", "expected a date as YYYY-MM-DD"),
            .init(
                "duplicate key", base((#""policyVersion": "1","#, #""policyVersion": "1", "policyVersion": "2","#)),
                path: "$.policyVersion", #"duplicate key "policyVersion"; each key may appear once"#),

            // Input that is not JSON at all.
            .init(
                "invalid JSON", base((#""policyVersion": "1","#, #""policyVersion": "1""#)),
                path: "$", "invalid JSON at line 3, column 3: unexpected '\"'; expected ',' or '}' after a member"),
            .init(
                "NaN", base(("\"age\": 14", "\"age\": NaN")),
                path: "$.minimumAges[0].age", "JSON has no NaN or Infinity"),
            .init(
                "empty input", [],
                path: "$", "invalid JSON at line 1, column 1: the manifest is empty; expected a JSON object"),
            .init(
                "only whitespace", Array(" \n\t ".utf8),
                path: "$", "the manifest holds only whitespace"),
            .init(
                "non-UTF-8 bytes in a string",
                base((#""Screens used""#, "\"Screens\u{1}\"")).map { $0 == 0x01 ? 0xFF : $0 },
                path: "$.dataCategories[0].description", "invalid UTF-8 sequence starting with byte 0xFF"),
            .init(
                "non-UTF-8 byte outside strings", [0x7B, 0xC0, 0x7D],
                path: "$", "invalid UTF-8 byte 0xC0"),
            .init(
                "UTF-16 input", [0xFF, 0xFE, 0x7B, 0x00, 0x7D, 0x00],
                path: "$", "looks like UTF-16; it must be UTF-8"),
            .init(
                "lone surrogate escape", base((#""Screens used""#, #""\ud800x""#)),
                path: "$.dataCategories[0].description", "lone UTF-16 high surrogate"),
            .init(
                "content after the manifest", base() + Array(" {}".utf8),
                path: "$", "unexpected '{' after the end of the JSON value"),
            .init(
                "unterminated string", Array(#"{"policyVersion": "1"#.utf8),
                path: "$.policyVersion", "unexpected end of input inside a string"),
            .init(
                "10,000 nested arrays",
                Array(String(repeating: "[", count: 10_000).utf8) + Array(String(repeating: "]", count: 10_000).utf8),
                path: "$" + String(repeating: "[0]", count: JSONParser.maximumDepth),
                "nested deeper than \(JSONParser.maximumDepth) levels"),
            .init(
                "10,000 nested objects in a field",
                base(
                    (
                        #""policyVersion": "1""#,
                        #""policyVersion": "# + String(repeating: #"{"a":"#, count: 10_000) + "1"
                            + String(repeating: "}", count: 10_000)
                    )),
                path: "$.policyVersion" + String(repeating: ".a", count: JSONParser.maximumDepth - 1),
                "nested deeper than \(JSONParser.maximumDepth) levels"),
        ] + metricCases

    /// The base manifest with one metric, `http.requests`, changed by `edits`.
    static func withMetric(_ edits: (String, String)...) -> [UInt8] {
        var metric =
            #"{"name": "http.requests", "purpose": "analytics", "category": "usageEvents", "dimensions": ["route"], "bounds": [1, 10]}"#
        for (old, new) in edits {
            guard metric.contains(old) else { return Array("the metric has no \(old)".utf8) }
            metric = metric.replacingOccurrences(of: old, with: new)
        }
        return base((#""events": ["#, #""metrics": ["# + metric + #"], "events": ["#))
    }

    static let metricCases: [MalformedCase] = [
        .init(
            "metric purpose undeclared", withMetric((#""purpose": "analytics""#, #""purpose": "marketing""#)),
            path: "$.metrics[0].purpose", "purpose \"marketing\" is not declared"),
        .init(
            "metric purpose not among its category's",
            withMetric((#""purpose": "analytics""#, #""purpose": "serviceProvision""#)),
            path: "$.metrics[0].purpose", "not among the purposes of category"),
        .init(
            "metric category undeclared", withMetric((#""category": "usageEvents""#, #""category": "usage""#)),
            path: "$.metrics[0].category", "category \"usage\" is not declared"),
        .init(
            "metric name with a space", withMetric((#""http.requests""#, #""http requests""#)),
            path: "$.metrics[0].name", "may contain only letters"),
        .init(
            "dimension listed twice", withMetric((#"["route"]"#, #"["route", "route"]"#)),
            path: "$.metrics[0].dimensions[1]", "listed twice"),
        .init(
            "bounds not ascending", withMetric((#"[1, 10]"#, #"[10, 1]"#)),
            path: "$.metrics[0].bounds[1]", "bounds must ascend"),
        .init(
            "bounds empty", withMetric((#"[1, 10]"#, "[]")), path: "$.metrics[0].bounds", "is empty"),
        .init(
            "a bound that is not a number", withMetric((#"[1, 10]"#, #"[1, "ten"]"#)),
            path: "$.metrics[0].bounds[1]", "expected a number"),
        .init(
            "an unknown key in a metric", withMetric((#""dimensions""#, #""labels""#)),
            path: "$.metrics[0].labels", "unknown"),
        .init(
            "metric missing its purpose", withMetric((#""purpose": "analytics", "#, "")),
            path: "$.metrics[0].purpose", "missing"),
    ]
}

/// The `metrics` section: declared, encoded only when present, read back equal.
@Suite struct ManifestMetricsTests {
    @Test func declaredMetricsDecodeAndRoundTrip() throws {
        let manifest = try PrivacyManifest.decode(json: MalformedCase.withMetric(), now: testNow)
        let metric = try #require(manifest.declaration(ofMetric: "http.requests"))
        #expect(metric.purpose == .analytics && metric.category == .usageEvents)
        #expect(metric.dimensions == ["route"] && metric.bounds == [1, 10] && metric.unit == nil)
        #expect(try PrivacyManifest.decode(json: try manifest.encodeJSON(), now: testNow) == manifest)
    }

    @Test func aManifestWithoutMetricsEncodesWithoutTheSection() throws {
        let manifest = try PrivacyManifest.decode(json: base(), now: testNow)
        #expect(manifest.metrics.isEmpty)
        #expect(!String(decoding: try manifest.encodeJSON(), as: UTF8.self).contains("metrics"))
    }
}

@Suite struct ManifestTests {
    // MARK: The bundled example

    @Test("The example manifest decodes and validates with no problem")
    func exampleManifestIsValid() throws {
        let bytes = try exampleManifestBytes()
        let manifest: PrivacyManifest
        do {
            manifest = try PrivacyManifest.decode(json: bytes, now: testNow)
        } catch {
            Issue.record("the example manifest has problems:\n\(error)")
            return
        }
        #expect(manifest.validate(now: testNow).isEmpty)
    }

    @Test("The example manifest declares what the reference privacy policy promises")
    func exampleManifestContent() throws {
        let manifest = try PrivacyManifest.decode(json: try exampleManifestBytes(), now: testNow)
        let bases = Dictionary(uniqueKeysWithValues: manifest.purposes.map { ($0.id, $0.legalBasis) })
        #expect(
            bases == [
                .serviceProvision: .necessaryForService, .deviceAuthentication: .necessaryForService,
                .crashReporting: .consent, .analytics: .consent, .personalization: .consent,
                .pushNotifications: .consent,
            ])
        let categories: Set<DataCategory> = [
            .deviceModel, .osVersion, .deviceConfiguration, .deviceIdentifiers, .macAddress, .connectionStatus,
            .ipAddress, .coarseLocation, .preciseLocation, .crashDiagnostics, .usageEvents, .images, .imageMetadata,
            DataCategory("imageEdits"),
        ]
        #expect(Set(manifest.dataCategories.map(\.id)) == categories)
        #expect(manifest.declaration(of: DataCategory.images)?.retentionDays == 30)
        #expect(
            manifest.recipients.allSatisfy { $0.role == .processor && $0.region != nil && !$0.endpointHosts.isEmpty })
        #expect(
            Set(manifest.recipients.map(\.id)).isSuperset(of: [
                "crashBackend", "telemetryBackend", "huaweiPush", "xiaomiPush", "amap", "caictOaid",
            ]))
        #expect(manifest.declaration(of: RecipientID("crashBackend"))?.endpointHosts == ["sentry.example.com"])
        #expect(manifest.declaration(of: RecipientID("telemetryBackend"))?.endpointHosts == ["otel.example.com"])
        #expect(manifest.recipients.allSatisfy { $0.deletion != nil }, "every recipient says how deletion reaches it")
        #expect(manifest.declaration(of: RecipientID("crashBackend"))?.deletionRoute == .request)
        #expect(manifest.declaration(of: RecipientID("huaweiPush"))?.deletionRoute.method == .manual)
        for chinese in ["huaweiPush", "xiaomiPush", "amap", "caictOaid"] as [RecipientID] {
            #expect(manifest.declaration(of: chinese)?.region == "CN", "\(chinese)")
        }
        let ages = Dictionary(uniqueKeysWithValues: manifest.minimumAges.map { ($0.jurisdiction, $0.age) })
        #expect(ages[.cn] == 14 && ages[.us] == 13 && ages[.eu] == 16)
        #expect(
            Set(manifest.permissions.map(\.permission)).isSuperset(of: [
                .deviceIdentity, .storage, .camera, .photos, .location, .locationPrecise, .microphone,
            ]))
        #expect(manifest.controller?.name == "Example Instruments Co., Ltd.")
        let login = try #require(manifest.declaration(of: EventName("login")))
        #expect(login.attributes.contains { $0.name == "device_id" && $0.classification == .identifier })
        let locationFix = try #require(manifest.declaration(of: EventName("location_fix")))
        #expect(locationFix.attributes.contains { $0.type == .location && $0.classification == .quasiIdentifier })
        let earliestExpiry = try #require(CalendarDay.date(from: "2028-01-01"))
        #expect(manifest.events.allSatisfy { ($0.expires ?? .distantPast) >= earliestExpiry })
    }

    @Test("The example manifest round-trips through encodeJSON, and JSONDecoder reads the same shape")
    func exampleManifestRoundTrips() throws {
        let manifest = try PrivacyManifest.decode(json: try exampleManifestBytes(), now: testNow)
        let encoded = try manifest.encodeJSON()
        let decoded = try PrivacyManifest.decode(json: encoded, now: testNow)
        #expect(decoded == manifest)
        #expect(try decoded.encodeJSON() == encoded, "encodeJSON is not stable")
        let text = String(decoding: encoded, as: UTF8.self)
        #expect(
            text.contains(#""expires" : "2099-12-31""#), "dates are not written as YYYY-MM-DD:\n\(text.prefix(400))")
        // Sorted keys: "controller" comes before "dataCategories", which comes before "policyVersion".
        let controller = try #require(text.range(of: "\"controller\""))
        let policyVersion = try #require(text.range(of: "\"policyVersion\""))
        #expect(controller.lowerBound < policyVersion.lowerBound)
        // JSON becomes a manifest only through decode(json:), which validates: no unchecked Decodable path.
        #expect(!(PrivacyManifest.self is any Decodable.Type))
    }

    // MARK: Malformed manifests

    @Test("The base manifest of the malformed cases is itself valid")
    func baseManifestIsValid() throws {
        _ = try PrivacyManifest.decode(json: base(), now: testNow)
    }

    @Test(
        "Each mistake is reported once, at its path, with a message that says what is wrong",
        arguments: MalformedCase.all)
    func malformedManifest(_ malformed: MalformedCase) {
        do {
            _ = try PrivacyManifest.decode(json: malformed.json, now: testNow)
            Issue.record("decoded without a problem")
        } catch {
            #expect(error.problems.count == 1, "expected one problem, got:\n\(error)")
            let problem = error.problems.first
            #expect(problem?.path == malformed.path, "\(error)")
            #expect(problem?.message.contains(malformed.phrase) == true, "\(error)")
        }
    }

    @Test("A manifest with several mistakes reports all of them at once, structural and semantic")
    func severalMistakesAtOnce() throws {
        let json = base(
            ("\"retentionDays\": 90,", "\"retentionDays\": -5, \"retention\": 30,"),  // unknown key; negative retention
            (#""legalBasis": "consent""#, #""legalBasis": 1"#),  // wrong type
            // undeclared purpose
            (#""purposes": ["serviceProvision"], "sensitivity""#, #""purposes": ["service"], "sensitivity""#),
            (#""region": "DE", "#, ""),  // recipient without region
            (#""rationale": "Scan codes", "#, ""),  // missing field
            ("\"2030-01-01\"", "\"2020-01-01\""),  // expired event
            (#""type": "string""#, #""type": "str""#))  // unknown enum value
        do {
            _ = try PrivacyManifest.decode(json: json, now: testNow)
            Issue.record("decoded without a problem")
        } catch {
            let paths = error.problems.map(\.path)
            #expect(
                paths == [
                    "$.purposes[1].legalBasis",
                    "$.dataCategories[0].retention",
                    "$.permissions[0].rationale",
                    "$.events[0].attributes[0].type",
                    "$.dataCategories[0].retentionDays",
                    "$.dataCategories[1].purposes[0]",
                    "$.recipients[0].region",
                    "$.events[0].expires",
                ], "\(error)")
            let description = error.description
            #expect(description.hasPrefix("The privacy manifest has 8 problems:\n"))
            #expect(description.split(separator: "\n").count == 9)
        }
    }

    @Test("A structural problem in a declaration does not also raise semantic problems about its placeholder")
    func structuralProblemsHideTheirConsequences() {
        // The purpose's id is a number: references to "analytics" cannot be judged, so only the
        // type is reported, not every reference as undeclared.
        let json = base((#""id": "analytics""#, #""id": 7"#))
        #expect(
            throws: ManifestError(problems: [
                ManifestProblem(path: "$.purposes[1].id", message: "expected a string, found a number (7)")
            ])
        ) {
            try PrivacyManifest.decode(json: json, now: testNow)
        }
    }

    @Test("The String overload decodes the same manifest as the bytes")
    func stringOverload() throws {
        #expect(
            try PrivacyManifest.decode(json: baseManifest, now: testNow)
                == PrivacyManifest.decode(json: base(), now: testNow))
        #expect(throws: ManifestError.self) { try PrivacyManifest.decode(json: "{", now: testNow) }
    }

    @Test("A leading byte-order mark is accepted")
    func byteOrderMark() throws {
        _ = try PrivacyManifest.decode(json: [0xEF, 0xBB, 0xBF] + base(), now: testNow)
    }

    // MARK: Manifests built in Swift

    @Test("A manifest built in Swift is validated with the same paths")
    func swiftBuiltManifest() throws {
        let expired = try #require(CalendarDay.date(from: "2026-05-31"))
        var manifest = PrivacyManifest(
            policyVersion: "2026-06",
            purposes: [.init(id: .analytics, description: "Anonymised usage statistics", legalBasis: .consent)],
            dataCategories: [
                .init(
                    id: .usageEvents, description: "Screens and actions", purposes: [.analytics],
                    retentionDays: 0, sensitivity: .personal, leavesDevice: true, recipients: ["otlp"])
            ],
            recipients: [
                .init(
                    id: "otlp", name: "Telemetry backend", role: .processor, region: "DE",
                    endpointHosts: ["otel.example.com"])
            ],
            events: [
                .init(
                    name: "screen_view", purpose: .analytics, category: .usageEvents,
                    attributes: [.init(name: "screen", type: .string, classification: .plain, maxLength: 64)])
            ])
        #expect(manifest.validate(now: testNow).isEmpty, "retentionDays 0 (not kept) is allowed")

        manifest.events[0].attributes.append(.init(name: "count", type: .int, classification: .plain, maxLength: -1))
        manifest.events[0].expires = expired
        manifest.recipients[0].region = nil
        manifest.dataCategories[0].purposes.append(.advertising)
        #expect(
            manifest.validate(now: testNow) == [
                ManifestProblem(
                    path: "$.dataCategories[0].purposes[1]",
                    message: #"purpose "advertising" is not declared in $.purposes"#),
                ManifestProblem(
                    path: "$.recipients[0].region",
                    message:
                        #"recipient "otlp" has no region; say where it processes data (ISO 3166-1 alpha-2, such as CN or DE): a cross-border transfer must be disclosed to the user"#
                ),
                ManifestProblem(
                    path: "$.events[0].expires",
                    message:
                        #"event "screen_view" expired on 2026-05-31; review it, then move the date forward or remove the event"#
                ),
                ManifestProblem(
                    path: "$.events[0].attributes[1].maxLength",
                    message: #"maxLength applies only to string attributes; "count" is of type int"#),
            ])
    }

    @Test("An event may be recorded through its expiry day (UTC) and not after")
    func expiryIsInclusiveOfTheDay() throws {
        let event = EventDeclaration(
            name: "e", purpose: .analytics, category: .usageEvents, expires: CalendarDay.date(from: "2028-12-31"))
        #expect(!event.isExpired(at: Date(timeIntervalSince1970: 1_861_919_999)))  // 2028-12-31 23:59:59
        #expect(event.isExpired(at: Date(timeIntervalSince1970: 1_861_920_000)))  // 2029-01-01 00:00:00
        #expect(!EventDeclaration(name: "e", purpose: .analytics, category: .usageEvents).isExpired(at: .distantFuture))
    }

    @Test("Dates outside the years 0001-9999 are reported by validate and refused by encodeJSON")
    func unrepresentableExpiry() {
        var manifest = PrivacyManifest(policyVersion: "1", purposes: [], dataCategories: [])
        manifest.purposes = [.init(id: .analytics, description: "Stats", legalBasis: .consent)]
        manifest.dataCategories = [
            .init(id: .usageEvents, description: "Use", purposes: [.analytics], sensitivity: .low, leavesDevice: false)
        ]
        manifest.events = [
            .init(
                name: "e", purpose: .analytics, category: .usageEvents,
                expires: Date(timeIntervalSinceReferenceDate: 1e300))
        ]
        #expect(manifest.validate(now: testNow).map(\.path) == ["$.events[0].expires"])
        #expect(throws: EncodingError.self) { try manifest.encodeJSON() }
    }

    @Test(
        "YYYY-MM-DD days are parsed strictly and written back unchanged",
        arguments: ["2028-02-29", "2000-02-29", "0001-01-01", "9999-12-31", "1970-01-01", "1969-12-31"])
    func calendarDaysRoundTrip(_ day: String) throws {
        let date = try #require(CalendarDay.date(from: day))
        #expect(CalendarDay.string(from: date) == day)
        #expect(CalendarDay.string(from: date.addingTimeInterval(86_399)) == day)
    }

    @Test(
        "Days that do not exist or are not YYYY-MM-DD are refused",
        arguments: [
            "2027-02-29", "1900-02-29", "2028-13-01", "2028-00-10", "2028-04-31", "0000-01-01", "2028-1-1", "28-01-01",
            "2028/01/01", "", "２０２８-01-01",
        ])
    func invalidCalendarDays(_ day: String) {
        #expect(CalendarDay.date(from: day) == nil)
    }

    // MARK: Robustness

    @Test("Randomly mutated manifests never crash the decoder: they decode or report problems", .tags(.slow))
    func fuzzedManifestsNeverCrash() throws {
        let example = try exampleManifestBytes()
        var random = SplitMix64(seed: 0x5EED_3A11F357)
        var decoded = 0
        for iteration in 0..<2_000 {
            var bytes = example
            for _ in 0..<Int.random(in: 1...4, using: &random) {
                mutate(&bytes, using: &random)
            }
            do {
                _ = try PrivacyManifest.decode(json: bytes, now: testNow)
                decoded += 1
            } catch {
                #expect(!error.problems.isEmpty, "iteration \(iteration): an error without problems")
                #expect(
                    error.problems.allSatisfy { $0.path.hasPrefix("$") && !$0.message.isEmpty },
                    "iteration \(iteration)")
            }
        }
        // Mutations inside free text keep the manifest valid, so some must decode.
        #expect(decoded > 0)
    }

    @Test(
        "Randomly restructured manifests (values swapped, keys dropped or renamed) decode to a valid manifest or report problems",
        .tags(.slow))
    func restructuredManifestsAreReportedOrValid() throws {
        guard let example = JSONParser.parse(try exampleManifestBytes()).value else {
            Issue.record("the example manifest does not parse")
            return
        }
        var random = SplitMix64(seed: 0x57_2C_7E)
        var outcomes = (decoded: 0, structural: 0, semanticOnly: 0)
        for iteration in 0..<1_000 {
            var value = example
            for _ in 0..<Int.random(in: 1...3, using: &random) {
                value = restructure(value, using: &random)
            }
            let json = Array(serialize(value).utf8)
            do {
                let manifest = try PrivacyManifest.decode(json: json, now: testNow)
                outcomes.decoded += 1
                #expect(manifest.validate(now: testNow).isEmpty, "iteration \(iteration)")
                #expect(
                    try PrivacyManifest.decode(json: manifest.encodeJSON(), now: testNow) == manifest,
                    "iteration \(iteration)")
            } catch let error as ManifestError {
                #expect(!error.problems.isEmpty, "iteration \(iteration)")
                #expect(
                    error.problems.allSatisfy { $0.path.hasPrefix("$") && !$0.message.isEmpty },
                    "iteration \(iteration)")
                #expect(
                    !error.problems.contains { $0.message.hasPrefix("invalid JSON") },
                    "iteration \(iteration): serialised JSON rejected\n\(error)")
                if error.problems.contains(where: {
                    $0.message.hasPrefix("expected") || $0.message.hasPrefix("missing")
                        || $0.message.hasPrefix("unknown")
                }) {
                    outcomes.structural += 1
                } else {
                    outcomes.semanticOnly += 1
                }
            }
        }
        // Every stage must have been reached, or the test proves less than it claims.
        #expect(outcomes.decoded > 0 && outcomes.structural > 0 && outcomes.semanticOnly > 0, "\(outcomes)")
    }

    /// `value` with one random change at a random depth.
    private func restructure(_ value: JSONValue, using random: inout SplitMix64) -> JSONValue {
        let descend = Int.random(in: 0..<4, using: &random) != 0
        switch value {
        case .object(let members) where descend && !members.isEmpty:
            var members = members
            let index = Int.random(in: 0..<members.count, using: &random)
            members[index] = .init(key: members[index].key, value: restructure(members[index].value, using: &random))
            return .object(members)
        case .array(let elements) where descend && !elements.isEmpty:
            var elements = elements
            let index = Int.random(in: 0..<elements.count, using: &random)
            elements[index] = restructure(elements[index], using: &random)
            return .array(elements)
        case .object(var members) where !members.isEmpty && Bool.random(using: &random):
            let index = Int.random(in: 0..<members.count, using: &random)
            switch Int.random(in: 0..<3, using: &random) {
            case 0: members.remove(at: index)
            case 1: members[index] = .init(key: members[index].key.lowercased() + "s", value: members[index].value)
            default: members.append(.init(key: "note", value: .string("x")))
            }
            return .object(members)
        case .array(var elements) where !elements.isEmpty && Bool.random(using: &random):
            let index = Int.random(in: 0..<elements.count, using: &random)
            if Bool.random(using: &random) { elements.remove(at: index) } else { elements.append(elements[index]) }
            return .array(elements)
        default:
            let strings = [
                "", "analytics", "analytic", "consent", "thirdParty", "privacyCompliance", "usageEvents", "2020-01-01",
                "2031-02-29", "CN", "cn", "https://x.example.com", "two words", String(repeating: "a", count: 70),
            ]
            let numbers = ["-1", "0", "22", "30", "1.5", "1e400", "99999999999999999999"]
            switch Int.random(in: 0..<6, using: &random) {
            case 0: return .string(strings[Int.random(in: 0..<strings.count, using: &random)])
            case 1: return .number(numbers[Int.random(in: 0..<numbers.count, using: &random)])
            case 2: return .bool(Bool.random(using: &random))
            case 3: return .null
            case 4: return .array([])
            default: return .object([])
            }
        }
    }

    /// `value` as JSON text.
    private func serialize(_ value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool(let flag): return flag ? "true" : "false"
        case .number(let text): return text
        case .string(let text):
            var quoted = "\""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": quoted += "\\\""
                case "\\": quoted += "\\\\"
                case _ where scalar.value < 0x20:
                    quoted += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
                default: quoted.unicodeScalars.append(scalar)
                }
            }
            return quoted + "\""
        case .array(let elements): return "[" + elements.map(serialize).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { serialize(.string($0.key)) + ":" + serialize($0.value) }.joined(separator: ",")
                + "}"
        }
    }

    /// How the purposes of a huge manifest are broken.
    enum HugeMistake: String, CaseIterable, CustomTestStringConvertible {
        /// Every purpose has the same id: one semantic problem each.
        case duplicatePurposeIDs
        /// Every purpose's description is a number: one structural problem each.
        case wrongTypes
        var testDescription: String { rawValue }
    }

    @Test(
        "A huge manifest full of mistakes reports each one",
        .tags(.slow), arguments: HugeMistake.allCases)
    func hugeManifestFullOfMistakes(_ mistake: HugeMistake) throws {
        let count = 20_000
        let purposes = (0..<count).map { index in
            switch mistake {
            case .duplicatePurposeIDs: #"{"id": "p", "description": "d", "legalBasis": "consent"}"#
            case .wrongTypes: #"{"id": "p\#(index)", "description": 1, "legalBasis": "consent"}"#
            }
        }
        let categories = (0..<count).map {
            #"{"id": "c\#($0)", "description": "d", "purposes": ["q"], "sensitivity": "low", "leavesDevice": false}"#
        }
        let json =
            #"{"policyVersion": "1", "purposes": ["# + purposes.joined(separator: ",") + #"], "dataCategories": ["#
            + categories.joined(separator: ",") + "]}"
        // Its speed is measured by ConsentBenchmarks ("Manifest decode, 20,000 mistakes"), not
        // asserted here: checking was once quadratic (about 40 s in debug for this input).
        let error = try #require(throws: ManifestError.self) { try PrivacyManifest.decode(json: json, now: testNow) }
        switch mistake {
        case .duplicatePurposeIDs:
            // One for the purpose count, one per duplicate purpose, one per undeclared reference.
            #expect(error.problems.count == 1 + (count - 1) + count)
        case .wrongTypes:
            // One per description, one per undeclared reference; the count is not judged while
            // the purposes have structural problems.
            #expect(error.problems.count == count + count)
        }
        #expect(
            error.problems.last
                == ManifestProblem(
                    path: "$.dataCategories[\(count - 1)].purposes[0]",
                    message: #"purpose "q" is not declared in $.purposes"#))
    }

    @Test("Only the first 64 undeclared references get a did-you-mean hint, so checking stays linear")
    func suggestionsAreBudgeted() throws {
        // Each hint compares a name with up to 256 declared ones (an edit distance each): for
        // every one of a huge manifest's undeclared references that was about a million steps.
        let count = 1_000
        let purposes = (0..<256).map { #"{"id": "purpose\#($0)", "description": "d", "legalBasis": "consent"}"# }
        let categories = (0..<count).map {
            #"{"id": "c\#($0)", "description": "d", "purposes": ["purpose1x"], "sensitivity": "low", "leavesDevice": false}"#
        }
        let json =
            #"{"policyVersion": "1", "purposes": ["# + purposes.joined(separator: ",") + #"], "dataCategories": ["#
            + categories.joined(separator: ",") + "]}"
        let error = try #require(throws: ManifestError.self) { try PrivacyManifest.decode(json: json, now: testNow) }
        let undeclared = error.problems.filter { $0.message.hasPrefix(#"purpose "purpose1x" is not declared"#) }
        #expect(undeclared.count == count)
        #expect(undeclared.filter { $0.message.contains("did you mean") }.count == 64)
        #expect(undeclared.first?.message.contains(#"did you mean "purpose1"?"#) == true)
    }

    private func mutate(_ bytes: inout [UInt8], using random: inout SplitMix64) {
        let interesting = Array(#"{}[]":,\-0123456789eE.tfnul "#.utf8) + [0x00, 0x80, 0xC0, 0xED, 0xF4, 0xFF]
        switch Int.random(in: 0..<5, using: &random) {
        case 0 where !bytes.isEmpty:  // flip a bit
            let index = Int.random(in: 0..<bytes.count, using: &random)
            bytes[index] ^= 1 << UInt8.random(in: 0..<8, using: &random)
        case 1 where !bytes.isEmpty:  // delete a run
            let start = Int.random(in: 0..<bytes.count, using: &random)
            let end = min(bytes.count, start + Int.random(in: 1...16, using: &random))
            bytes.removeSubrange(start..<end)
        case 2:  // insert a few bytes, JSON punctuation or arbitrary
            let index = Int.random(in: 0...bytes.count, using: &random)
            let count = Int.random(in: 1...8, using: &random)
            let inserted = (0..<count).map { _ in
                Bool.random(using: &random)
                    ? interesting[Int.random(in: 0..<interesting.count, using: &random)]
                    : UInt8.random(in: 0...255, using: &random)
            }
            bytes.insert(contentsOf: inserted, at: index)
        case 3 where !bytes.isEmpty:  // truncate
            bytes.removeSubrange(Int.random(in: 0..<bytes.count, using: &random)...)
        default:  // replace one byte with JSON punctuation
            guard !bytes.isEmpty else { return }
            bytes[Int.random(in: 0..<bytes.count, using: &random)] =
                interesting[Int.random(in: 0..<interesting.count, using: &random)]
        }
    }
}

@Suite struct ManifestProblemPlaceTests {
    @Test func everyProblemOfAJSONManifestSaysItsLineAndColumn() throws {
        let json = """
            {
              "policyVersion": "1",
              "purposes": [
                {"id": "analytics", "description": "Usage", "legalBasis": "whim"}
              ],
              "dataCategories": [
                {"id": "usageEvents", "description": "Screens", "purposes": ["analytics"],
                 "retentionDays": 30, "sensitivity": "personal", "leavesDevice": false}
              ],
              "recipients": [ {"id": "x"} ]
            }
            """
        let error = try #require(throws: ManifestError.self) { try PrivacyManifest.decode(json: json) }
        let basis = try #require(error.problems.first { $0.path == "$.purposes[0].legalBasis" })
        #expect(basis.line == 4 && basis.column == 63, "\(basis.located)")
        #expect(basis.located.hasPrefix("line 4, column 63: $.purposes[0].legalBasis: "))
        // A missing key: the place of the object that lacks it.
        let recipient = try #require(error.problems.first { $0.path.hasPrefix("$.recipients[0]") })
        #expect(recipient.line == 10 && recipient.column == 19, "\(recipient.located)")
        // Built in Swift: no place.
        #expect(ManifestProblem(path: "$", message: "m").line == nil)
    }
}

extension ManifestTests {
    @Test func aProblemFoundAfterDecodingIsLocatedAtItsPathOrTheNearestValueHoldingIt() {
        let json = Array(
            "{\n  \"purposes\": [],\n  \"dataCategories\": [\n    {\"id\": \"a\", \"purposes\": []}\n  ]\n}".utf8)
        let located = ManifestProblem.locate(
            [
                ManifestProblem(path: "$.dataCategories[0].purposes", message: "m1"),
                ManifestProblem(path: "$.dataCategories[0].missing", message: "m2"),
                ManifestProblem(path: "$.nowhere", message: "m3"),
                ManifestProblem(path: "$.purposes", message: "m4", line: 9, column: 9),
            ], inJSON: json)
        #expect(located[0].line == 4 && located[0].column == 29, "\(located[0].located)")
        #expect(located[1].line == 4 && located[1].column == 5, "the category that lacks it: \(located[1].located)")
        #expect(located[2].line == 1 && located[2].column == 1, "the document: \(located[2].located)")
        #expect(located[3].line == 9, "a known place is kept")
        // Nothing to locate in: an empty text leaves the problems as they were.
        #expect(ManifestProblem.locate([ManifestProblem(path: "$.x", message: "m")], inJSON: []).first?.line == nil)
    }
}

/// `validate(now:)` remembers the last manifest it found valid (issue 18: start checked the
/// manifest twice); the memory never hides a problem.
@Suite struct ManifestValidationMemoryTests {
    @Test func aRememberedManifestStillReportsWhatExpiredAfterAndAnyOtherManifestIsChecked() throws {
        let manifest = try PrivacyManifest.decode(json: base(), now: testNow)
        #expect(manifest.validate(now: testNow).isEmpty)
        #expect(manifest.validate(now: .distantPast).isEmpty, "valid earlier too")
        // 2030-01-02: the event expired; checked, not remembered.
        let after = Date(timeIntervalSince1970: 1_893_542_400)
        #expect(manifest.validate(now: after).map(\.path) == ["$.events[0].expires"])
        #expect(manifest.validate(now: testNow).isEmpty)
        // An equal manifest but one thing: checked.
        var broken = manifest
        broken.dataCategories[0].purposes = ["nowhere"]
        #expect(!broken.validate(now: testNow).isEmpty)
        #expect(!broken.validate(now: .distantPast).isEmpty)
        #expect(manifest.validate(now: testNow).isEmpty)
    }
}
