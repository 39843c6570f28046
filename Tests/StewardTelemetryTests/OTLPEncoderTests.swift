import Foundation
import StewardCore
import StewardTelemetry
import Testing

/// Decodes `bytes` with Foundation's JSON parser: the encoder's output must always be valid JSON.
func otlpDecode(_ bytes: [UInt8]) throws -> [String: Any] {
    let object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    return try #require(object as? [String: Any])
}

/// The log records of an `ExportLogsServiceRequest` with one resource and one scope.
func otlpLogRecords(_ bytes: [UInt8]) throws -> [[String: Any]] {
    let root = try otlpDecode(bytes)
    let resourceLogs = try #require(root["resourceLogs"] as? [[String: Any]])
    let scopeLogs = try #require(resourceLogs.first?["scopeLogs"] as? [[String: Any]])
    return try #require(scopeLogs.first?["logRecords"] as? [[String: Any]])
}

private let resource = TelemetryResource(
    serviceName: "notes", serviceVersion: "2.1.0", osType: "linux", osVersion: "12",
    hostArch: "amd64", deviceModelIdentifier: "ThinkPad X1", deviceID: "a1b2c3")

private func event(
    _ name: EventName = "screen_view", attributes: [String: AttributeValue] = [:], severity: Int = 9,
    traceID: String? = nil, spanID: String? = nil
) -> TelemetryEventRecord {
    TelemetryEventRecord(
        name: name, purpose: .analytics, category: .usageEvents, timeUnixNano: 1_544_712_660_300_000_000,
        observedTimeUnixNano: 1_544_712_660_300_000_001, attributes: attributes, severityNumber: severity,
        traceID: traceID, spanID: spanID)
}

private func logs(_ records: [TelemetryEventRecord]) -> [UInt8] {
    OTLPEncoder().logs(resource: resource, scope: (name: "steward", version: "1.0"), records: records)
}

@Suite struct OTLPEncoderGoldenTests {
    /// The expected bytes, checked by hand against the specification: see OTLPSpecExampleTests.
    static let goldenLogs = #"""
        {"resourceLogs":[{"resource":{"attributes":[{"key":"device.id","value":{"stringValue":"a1b2c3"}},{"key":"device.model.identifier","value":{"stringValue":"ThinkPad X1"}},{"key":"host.arch","value":{"stringValue":"amd64"}},{"key":"os.type","value":{"stringValue":"linux"}},{"key":"os.version","value":{"stringValue":"12"}},{"key":"service.name","value":{"stringValue":"notes"}},{"key":"service.version","value":{"stringValue":"2.1.0"}}]},"scopeLogs":[{"scope":{"name":"steward","version":"1.0"},"logRecords":[{"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000001","severityNumber":9,"eventName":"screen_view","attributes":[{"key":"duration_ms","value":{"intValue":"1250"}},{"key":"ratio","value":{"doubleValue":0.75}},{"key":"screen","value":{"stringValue":"settings"}},{"key":"tablet","value":{"boolValue":false}}],"traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174"},{"timeUnixNano":"1544712660300000000","observedTimeUnixNano":"1544712660300000001","severityNumber":17,"eventName":"sync_failed"}]}]}]}
        """#

    @Test func logsEncodingOfAFixedBatchEqualsTheGoldenBytes() {
        let records = [
            event(
                attributes: [
                    "screen": .string("settings"), "duration_ms": .int(1250), "tablet": .bool(false),
                    "ratio": .double(0.75),
                ],
                traceID: "5B8EFFF798038103D269B633813FC60C", spanID: "EEE19B7EC3C1B174"),
            event("sync_failed", severity: 17),
        ]
        let encoded = logs(records)
        #expect(String(decoding: encoded, as: UTF8.self) == Self.goldenLogs)
        #expect(encoded == logs(records), "the same input gives the same bytes")
    }

    static let goldenMetrics = #"""
        {"resourceMetrics":[{"resource":{"attributes":[{"key":"os.type","value":{"stringValue":"linux"}},{"key":"service.name","value":{"stringValue":"notes"}}]},"scopeMetrics":[{"scope":{"name":"steward"},"metrics":[{"name":"notes.saved","unit":"1","description":"Notes saved","sum":{"aggregationTemporality":1,"isMonotonic":true,"dataPoints":[{"startTimeUnixNano":"1000","timeUnixNano":"2000","asDouble":5,"attributes":[{"key":"kind","value":{"stringValue":"text"}}]},{"startTimeUnixNano":"1000","timeUnixNano":"2000","asDouble":2,"attributes":[{"key":"kind","value":{"stringValue":"list"}}]}]}},{"name":"queue.depth","unit":"{item}","gauge":{"dataPoints":[{"timeUnixNano":"2000","asDouble":3.5}]}},{"name":"save.duration","unit":"ms","histogram":{"aggregationTemporality":2,"dataPoints":[{"startTimeUnixNano":"1000","timeUnixNano":"2000","count":"3","sum":17.5,"min":1.5,"max":10,"bucketCounts":["1","1","1"],"explicitBounds":[5,10]}]}}]}]}]}
        """#

    @Test func metricsEncodingOfAFixedSetEqualsTheGoldenBytes() {
        let metrics = [
            TelemetryMetric(
                name: "notes.saved", description: "Notes saved", purpose: .analytics,
                attributes: ["kind": .string("text")],
                startTimeUnixNano: 1000, timeUnixNano: 2000, data: .sum(value: 5, isMonotonic: true, isDelta: true)),
            TelemetryMetric(
                name: "queue.depth", unit: "{item}", purpose: .analytics, startTimeUnixNano: 1000, timeUnixNano: 2000,
                data: .gauge(value: 3.5)),
            TelemetryMetric(
                name: "notes.saved", description: "Notes saved", purpose: .analytics,
                attributes: ["kind": .string("list")],
                startTimeUnixNano: 1000, timeUnixNano: 2000, data: .sum(value: 2, isMonotonic: true, isDelta: true)),
            TelemetryMetric(
                name: "save.duration", unit: "ms", purpose: .analytics, startTimeUnixNano: 1000, timeUnixNano: 2000,
                data: .histogram(
                    count: 3, sum: 17.5, min: 1.5, max: 10, explicitBounds: [5, 10], bucketCounts: [1, 1, 1],
                    isDelta: false)),
        ]
        let encoded = OTLPEncoder().metrics(
            resource: TelemetryResource(serviceName: "notes"), scope: (name: "steward", version: ""),
            metrics: metrics)
        #expect(String(decoding: encoded, as: UTF8.self) == Self.goldenMetrics)
    }

    @Test func anEmptyBatchGivesAnEmptyRequestWithNoEmptyEnvelope() {
        #expect(String(decoding: logs([]), as: UTF8.self) == #"{"resourceLogs":[]}"#)
        let metrics = OTLPEncoder().metrics(resource: resource, scope: (name: "steward", version: "1"), metrics: [])
        #expect(String(decoding: metrics, as: UTF8.self) == #"{"resourceMetrics":[]}"#)
    }
}

@Suite struct OTLPEncoderStringEscapingTests {
    /// Each input, and how it must appear between the quotes of the JSON string.
    static let table: [(input: String, escaped: String)] = [
        ("plain", "plain"),
        ("say \"hi\"", #"say \"hi\""#),
        (#"C:\path"#, #"C:\\path"#),
        ("line\nbreak", #"line\nbreak"#),
        ("tab\tcr\rbs\u{08}ff\u{0C}", #"tab\tcr\rbs\bff\f"#),
        ("nul\u{0}end", #"nul\u0000end"#),
        ("unit\u{1F}sep\u{01}", #"unit\u001fsep\u0001"#),
        ("ls\u{2028}ps\u{2029}", #"ls\u2028ps\u2029"#),
        ("emoji 🦊 and é", "emoji 🦊 and é"),
        ("slash / and del \u{7F}", #"slash / and del \u007f"#),
        ("… ‘quotes’ (E2 sequences that are not U+2028)", "… ‘quotes’ (E2 sequences that are not U+2028)"),
        ("", ""),
    ]

    @Test(arguments: table)
    func stringsAreEscapedAsJSONRequiresAndRoundTrip(input: String, escaped: String) throws {
        let encoded = logs([event(attributes: ["k": .string(input)])])
        let text = String(decoding: encoded, as: UTF8.self)
        #expect(text.contains(#"{"key":"k","value":{"stringValue":""# + escaped + #""}}"#))
        let records = try otlpLogRecords(encoded)
        let attributes = try #require(records.first?["attributes"] as? [[String: Any]])
        let value = try #require(attributes.first?["value"] as? [String: Any])
        #expect(value["stringValue"] as? String == input)
    }

    @Test func keysAndEventNamesAreEscapedToo() throws {
        let encoded = logs([event("odd\"name\n", attributes: ["we\\ird": .bool(true)])])
        let record = try #require(try otlpLogRecords(encoded).first)
        #expect(record["eventName"] as? String == "odd\"name\n")
        let attributes = try #require(record["attributes"] as? [[String: Any]])
        #expect(attributes.first?["key"] as? String == "we\\ird")
    }
}

@Suite struct OTLPEncoderNumberTests {
    @Test(arguments: [Int64.min, -1, 0, 1, 42, Int64.max])
    func int64AttributesAreDecimalStrings(value: Int64) {
        let text = String(decoding: logs([event(attributes: ["n": .int(value)])]), as: UTF8.self)
        #expect(text.contains(#"{"key":"n","value":{"intValue":"\#(value)"}}"#))
    }

    @Test(arguments: [UInt64.min, 1, UInt64(Int64.max), UInt64.max])
    func timestampsAreDecimalStringsUpToUInt64Max(value: UInt64) throws {
        let record = TelemetryEventRecord(
            name: "e", purpose: .analytics, category: .usageEvents, timeUnixNano: value,
            observedTimeUnixNano: value)
        let decoded = try #require(try otlpLogRecords(logs([record])).first)
        #expect(decoded["timeUnixNano"] as? String == "\(value)")
        #expect(decoded["observedTimeUnixNano"] as? String == "\(value)")
    }

    @Test(arguments: [
        (0.75, "0.75"), (5.0, "5"), (-3.0, "-3"), (0.0, "0"), (-0.0, "-0"), (1e-5, "1e-05"), (1.5e300, "1.5e+300"),
        (9_007_199_254_740_992.0, "9007199254740992.0"), (1e16, "1e+16"), (637.704, "637.704"),
        (Double.nan, #""NaN""#), (Double.infinity, #""Infinity""#), (-Double.infinity, #""-Infinity""#),
    ])
    func doublesAreJSONNumbersAndNonFiniteOnesTheProtobufStrings(value: Double, expected: String) throws {
        let encoded = logs([event(attributes: ["d": .double(value)])])
        #expect(String(decoding: encoded, as: UTF8.self).contains(#"{"doubleValue":\#(expected)}"#))
        _ = try otlpDecode(encoded)  // still valid JSON
    }

    @Test func finiteDoublesRoundTripExactly() throws {
        for value in [
            0.1, 1.0 / 3.0, -Double.leastNormalMagnitude, Double.greatestFiniteMagnitude, Double.leastNonzeroMagnitude,
            123_456_789.125,
        ] {
            let record = try #require(try otlpLogRecords(logs([event(attributes: ["d": .double(value)])])).first)
            let attributes = try #require(record["attributes"] as? [[String: Any]])
            let decoded = try #require((attributes.first?["value"] as? [String: Any])?["doubleValue"] as? NSNumber)
            #expect(decoded.doubleValue == value)
        }
    }

    @Test(arguments: [(9, 9), (1, 1), (24, 24), (0, 0), (25, 0), (-4, 0)])
    func severityNumbersOutsideTheEnumAreUnspecified(given: Int, written: Int) throws {
        let record = try #require(try otlpLogRecords(logs([event(severity: given)])).first)
        #expect(record["severityNumber"] as? Int == written)
    }
}

@Suite struct OTLPEncoderIdentifierTests {
    @Test func traceAndSpanIDsAreWrittenAsLowercaseHex() throws {
        let record = try #require(
            try otlpLogRecords(
                logs([
                    event(
                        traceID: "5B8EFFF798038103D269B633813FC60C",
                        spanID: "eee19B7EC3C1B174")
                ])
            ).first)
        #expect(record["traceId"] as? String == "5b8efff798038103d269b633813fc60c")
        #expect(record["spanId"] as? String == "eee19b7ec3c1b174")
    }

    @Test(arguments: [
        ("5b8efff798038103d269b633813fc60", "eee19b7ec3c1b17"),  // too short
        ("5b8efff798038103d269b633813fc60cc", "eee19b7ec3c1b1744"),  // too long
        ("5b8efff798038103d269b633813fc60g", "eee19b7ec3c1b17z"),  // not hex
        ("00000000000000000000000000000000", "0000000000000000"),  // all zero: invalid in OpenTelemetry
        ("5b8efff7-8038-103d-269b-633813fc", "\"},\"x\":{\"y\":1}"),  // injection attempt
    ])
    func malformedIDsAreLeftOutRatherThanSent(traceID: String, spanID: String) throws {
        let encoded = logs([event(traceID: traceID, spanID: spanID)])
        let record = try #require(try otlpLogRecords(encoded).first)
        #expect(record["traceId"] == nil)
        #expect(record["spanId"] == nil)
    }

    @Test func eventsCarryTheirNameInEventNameAndNoBody() throws {
        let record = try #require(try otlpLogRecords(logs([event("app.opened")])).first)
        #expect(record["eventName"] as? String == "app.opened")
        #expect(record["body"] == nil)
        #expect(record["attributes"] == nil, "no attributes: the field is omitted, as the proto3 JSON mapping does")
    }

    @Test func attributesAreSortedByKeyWhateverTheDictionaryOrder() throws {
        let keys = (0..<40).map { "key.\($0)" }
        let record = try #require(
            try otlpLogRecords(logs([event(attributes: Dictionary(uniqueKeysWithValues: keys.map { ($0, .int(1)) }))]))
                .first)
        let written = try #require(record["attributes"] as? [[String: Any]]).compactMap { $0["key"] as? String }
        #expect(written == keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }
}

@Suite struct OTLPEncoderResourceTests {
    private static func resourceAttributes(_ resource: TelemetryResource) throws -> [String: String] {
        let encoded = OTLPEncoder().logs(resource: resource, scope: (name: "s", version: "1"), records: [event()])
        let root = try otlpDecode(encoded)
        let resourceLogs = try #require(root["resourceLogs"] as? [[String: Any]])
        let attributes = try #require(
            (resourceLogs.first?["resource"] as? [String: Any])?["attributes"] as? [[String: Any]])
        var result: [String: String] = [:]
        for attribute in attributes {
            let key = try #require(attribute["key"] as? String)
            result[key] = try #require((attribute["value"] as? [String: Any])?["stringValue"] as? String)
        }
        return result
    }

    @Test func resourceAttributesUseTheSemanticConventionKeys() throws {
        #expect(
            try Self.resourceAttributes(resource) == [
                "service.name": "notes", "service.version": "2.1.0", "os.type": "linux", "os.version": "12",
                "host.arch": "amd64", "device.model.identifier": "ThinkPad X1", "device.id": "a1b2c3",
            ])
    }

    @Test func resourceCarriesOnlyWhatItHoldsAndNoOtherIdentifiers() throws {
        let minimal = TelemetryResource(serviceName: "notes", serviceVersion: "", deviceID: nil)
        #expect(try Self.resourceAttributes(minimal) == ["service.name": "notes", "os.type": "linux"])
        let text = String(
            decoding: OTLPEncoder().logs(resource: minimal, scope: (name: "s", version: "1"), records: [event()]),
            as: UTF8.self)
        for forbidden in ["host.name", "host.id", "host.ip", "client.address", "device.id", "service.instance.id"] {
            #expect(!text.contains(forbidden))
        }
    }
}

@Suite struct OTLPEncoderMetricTests {
    private static func metrics(_ metrics: [TelemetryMetric]) throws -> [[String: Any]] {
        let root = try otlpDecode(
            OTLPEncoder().metrics(resource: resource, scope: (name: "s", version: "1"), metrics: metrics))
        let resourceMetrics = try #require(root["resourceMetrics"] as? [[String: Any]])
        if resourceMetrics.isEmpty { return [] }
        let scopeMetrics = try #require(resourceMetrics.first?["scopeMetrics"] as? [[String: Any]])
        return try #require(scopeMetrics.first?["metrics"] as? [[String: Any]])
    }

    private static func histogram(bounds: [Double], counts: [UInt64], isDelta: Bool = true) -> TelemetryMetric {
        TelemetryMetric(
            name: "latency", unit: "ms", purpose: .analytics, startTimeUnixNano: 1, timeUnixNano: 2,
            data: .histogram(
                count: counts.reduce(0, &+), sum: 10, min: nil, max: nil, explicitBounds: bounds,
                bucketCounts: counts, isDelta: isDelta))
    }

    @Test(arguments: [0, 1, 4, 15])
    func histogramsHaveOneMoreBucketCountThanBoundsAndCountsAsStrings(bounds: Int) throws {
        let explicitBounds = (0..<bounds).map { Double($0) * 2.5 }
        let counts = (0...bounds).map { UInt64.max - 20 + UInt64($0) }
        let metric = try #require(try Self.metrics([Self.histogram(bounds: explicitBounds, counts: counts)]).first)
        let histogram = try #require(metric["histogram"] as? [String: Any])
        #expect(histogram["aggregationTemporality"] as? Int == 1)
        let point = try #require((histogram["dataPoints"] as? [[String: Any]])?.first)
        let written = try #require(point["bucketCounts"] as? [String])
        let writtenBounds = try #require(point["explicitBounds"] as? [NSNumber])
        #expect(written.count == writtenBounds.count + 1)
        #expect(written == counts.map { "\($0)" })
        #expect(writtenBounds.map(\.doubleValue) == explicitBounds)
        #expect(point["count"] is String)
        #expect(point["min"] == nil && point["max"] == nil, "unknown extremes are omitted")
    }

    @Test(arguments: [(bounds: 2, counts: 2), (bounds: 2, counts: 4), (bounds: 0, counts: 0)])
    func histogramsWithMismatchedBucketsAreLeftOut(bounds: Int, counts: Int) throws {
        let bad = Self.histogram(bounds: (0..<bounds).map(Double.init), counts: Array(repeating: 1, count: counts))
        let good = TelemetryMetric(
            name: "ok", purpose: .analytics, startTimeUnixNano: 1, timeUnixNano: 2, data: .gauge(value: 1))
        let written = try Self.metrics([bad, good])
        #expect(written.compactMap { $0["name"] as? String } == ["ok"])
        #expect(try Self.metrics([bad]).isEmpty)
    }

    @Test(arguments: [(true, true, 1), (false, true, 2), (true, false, 1), (false, false, 2)])
    func sumsCarryTemporalityAsAnIntegerAndMonotonicity(isDelta: Bool, isMonotonic: Bool, temporality: Int) throws {
        let metric = try #require(
            try Self.metrics([
                TelemetryMetric(
                    name: "c", purpose: .analytics, startTimeUnixNano: 1, timeUnixNano: 2,
                    data: .sum(value: 1, isMonotonic: isMonotonic, isDelta: isDelta))
            ]).first)
        let sum = try #require(metric["sum"] as? [String: Any])
        #expect(sum["aggregationTemporality"] as? Int == temporality)
        #expect(sum["isMonotonic"] as? Bool == isMonotonic)
    }

    @Test func pointsOfTheSameMetricAreGroupedAndDifferentKindsAreNot() throws {
        let a = TelemetryMetric(
            name: "m", purpose: .analytics, attributes: ["x": .int(1)], startTimeUnixNano: 1, timeUnixNano: 2,
            data: .sum(value: 1, isMonotonic: true, isDelta: true))
        var b = a
        b.attributes = ["x": .int(2)]
        var cumulative = a
        cumulative.data = .sum(value: 1, isMonotonic: true, isDelta: false)
        let written = try Self.metrics([a, cumulative, b])
        #expect(written.count == 2)
        let first = try #require((written.first?["sum"] as? [String: Any])?["dataPoints"] as? [[String: Any]])
        #expect(first.count == 2)
    }
}
