import Foundation
import StewardCore
@testable import StewardTelemetry
import StewardTesting
import Testing

/// Analytics and personalisation need consent; usage events may leave for the collector.
func metricsTestManifest() -> PrivacyManifest {
    PrivacyManifest(
        policyVersion: "2026-11",
        purposes: [
            .init(id: .serviceProvision, description: "Run the app", legalBasis: .necessaryForService),
            .init(id: .analytics, description: "Usage statistics", legalBasis: .consent),
            .init(id: .personalization, description: "Tailor the app", legalBasis: .consent),
        ],
        dataCategories: [
            .init(
                id: .usageEvents, description: "Usage metrics", purposes: [.analytics, .personalization],
                retentionDays: 30,
                sensitivity: .personal, leavesDevice: true, recipients: ["telemetryBackend"])
        ],
        recipients: [.init(id: "telemetryBackend", name: "Collector", role: .processor, region: "DE")])
}

final class MetricsFixture: @unchecked Sendable {  // Used by one test at a time.
    let dir = NSTemporaryDirectory() + "steward-metrics-\(UUID().uuidString)"
    let clock = ManualWallClock()
    let vault: Vault
    let ledger: ConsentLedger
    let metrics: TelemetryMetrics

    init(cardinalityLimit: Int = 1_000) throws {
        vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider(), clock: clock)
        ledger = try ConsentLedger(manifest: metricsTestManifest(), vault: vault, clock: clock)
        metrics = TelemetryMetrics(consent: ledger, clock: clock, cardinalityLimit: cardinalityLimit)
    }

    var nanos: UInt64 { TelemetryMetrics.nanoseconds(clock.now) }

    deinit {
        try? vault.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// The value of a sum point, or nil.
private func sum(_ metric: TelemetryMetric?) -> Double? {
    guard case .sum(let value, _, _)? = metric?.data else { return nil }
    return value
}

@Suite struct MetricsTests {
    @Test func countersAddUpPerAttributeSetAndStartAgainAfterCollect() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let scans = f.metrics.counter(name: "scans", unit: "{scan}", description: "Scans started", purpose: .analytics)
        scans.add()
        scans.add(2)
        scans.add(attributes: ["mode": .string("document")])
        scans.add(4, attributes: ["mode": .string("document")])
        scans.add(-3, attributes: ["mode": .string("document")])
        let first = f.metrics.collect()
        #expect(first.count == 2)
        #expect(sum(first.first { $0.attributes.isEmpty }) == 3)
        #expect(sum(first.first { $0.attributes == ["mode": .string("document")] }) == 5, "a negative add is ignored")
        let point = try #require(first.first)
        #expect(
            point.name == "scans" && point.unit == "{scan}" && point.description == "Scans started"
                && point.purpose == .analytics)
        #expect(
            point.data == .sum(value: 3, isMonotonic: true, isDelta: true)
                || point.data == .sum(value: 5, isMonotonic: true, isDelta: true))
        #expect(f.metrics.collect().isEmpty, "nothing was added since the last collection")
        scans.add(7)
        #expect(f.metrics.collect().map(sum) == [7])
    }

    @Test func pointsAreDeltasFromThePreviousCollectionToNow() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let created = f.nanos
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        scans.add()
        f.clock.advance(by: .seconds(60))
        let first = try #require(f.metrics.collect().first)
        #expect(first.startTimeUnixNano == created)
        #expect(first.timeUnixNano == f.nanos)
        #expect(first.timeUnixNano - first.startTimeUnixNano == 60_000_000_000)
        scans.add(2)
        let explicit = f.clock.now.addingTimeInterval(30)
        let second = try #require(f.metrics.collect(now: explicit).first)
        #expect(second.startTimeUnixNano == first.timeUnixNano, "the next interval starts where the last one ended")
        #expect(second.timeUnixNano == TelemetryMetrics.nanoseconds(explicit))
        #expect(sum(second) == 2, "a delta, not the cumulative 3")
    }

    @Test func aGaugeReportsItsLastValue() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let queue = f.metrics.gauge(name: "queue.length", unit: "{item}", purpose: .analytics)
        queue.set(5)
        queue.set(12)
        queue.set(3, attributes: ["lane": .string("b")])
        let points = f.metrics.collect()
        #expect(points.first { $0.attributes.isEmpty }?.data == .gauge(value: 12))
        #expect(points.first { !$0.attributes.isEmpty }?.data == .gauge(value: 3))
        #expect(
            f.metrics.collect().first { $0.attributes.isEmpty }?.data == .gauge(value: 12),
            "a gauge keeps its last value")
    }

    @Test(arguments: [
        (0.0, 0), (10.0, 0), (10.5, 1), (50.0, 1), (99.0, 2), (100.0, 2), (100.1, 3), (1e9, 3), (-5.0, 0),
    ])
    func aValueEqualToABoundGoesToTheLowerBucket(value: Double, bucket: Int) throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let latency = f.metrics.histogram(name: "latency", unit: "ms", purpose: .analytics, bounds: [100, 10, 50, 50])
        latency.record(value)
        let point = try #require(f.metrics.collect().first)
        var expected: [UInt64] = [0, 0, 0, 0]
        expected[bucket] = 1
        #expect(
            point.data
                == .histogram(
                    count: 1, sum: value, min: value, max: value, explicitBounds: [10, 50, 100],
                    bucketCounts: expected, isDelta: true))
    }

    @Test func aHistogramKeepsCountSumMinMaxAndStartsAgainAfterCollect() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let latency = f.metrics.histogram(name: "latency", unit: "ms", purpose: .analytics, bounds: [10, 50, 100])
        for value in [3.0, 10, 42, 50, 77, 250, .nan, .infinity] { latency.record(value) }
        let point = try #require(f.metrics.collect().first)
        #expect(
            point.data
                == .histogram(
                    count: 6, sum: 432, min: 3, max: 250, explicitBounds: [10, 50, 100],
                    bucketCounts: [2, 2, 1, 1], isDelta: true), "NaN and infinity are ignored")
        #expect(f.metrics.collect().isEmpty)
        latency.record(60)
        #expect(
            f.metrics.collect().first?.data
                == .histogram(
                    count: 1, sum: 60, min: 60, max: 60, explicitBounds: [10, 50, 100],
                    bucketCounts: [0, 0, 1, 0], isDelta: true))
    }

    @Test func aDeniedPurposeRecordsNothing() throws {
        let f = try MetricsFixture()
        try f.ledger.deny([.analytics])
        f.metrics.counter(name: "scans", purpose: .analytics).add(5)
        f.metrics.gauge(name: "queue", purpose: .analytics).set(5)
        f.metrics.histogram(name: "latency", purpose: .analytics, bounds: [1]).record(5)
        try f.ledger.grant([.analytics])
        #expect(f.metrics.collect().isEmpty, "nothing recorded while denied shows up after a grant")
    }

    @Test func aPendingPurposeIsDroppedNotHeld() throws {
        let f = try MetricsFixture()
        #expect(f.ledger.consentState(for: .analytics) == .pending)
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        scans.add(5)
        try f.ledger.grant([.analytics])
        #expect(f.metrics.collect().isEmpty, "metrics of a pending purpose are not held for a later grant")
        scans.add(1)
        #expect(f.metrics.collect().map(sum) == [1])
    }

    @Test func anUndeclaredPurposeRecordsNothing() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        f.metrics.counter(name: "scans", purpose: "marketing").add()
        #expect(f.metrics.collect().isEmpty)
    }

    @Test func aWithdrawalBetweenRecordAndCollectDropsTheAggregates() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics, .personalization])
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        let queue = f.metrics.gauge(name: "queue", purpose: .analytics)
        let themes = f.metrics.counter(name: "themes", purpose: .personalization)
        scans.add(3)
        queue.set(9)
        themes.add(2)
        try f.ledger.deny([.analytics])
        #expect(f.metrics.collect().map(\.name) == ["themes"])
        try f.ledger.grant([.analytics])
        #expect(f.metrics.collect().isEmpty, "the withdrawn aggregates, the gauge's included, are gone for good")
    }

    @Test func aWithdrawalDropsTheAggregatesEvenIfConsentIsGivenAgainBeforeCollect() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        scans.add(3)
        try f.ledger.deny([.analytics])
        try f.ledger.grant([.analytics])
        scans.add(1)
        #expect(f.metrics.collect().map(sum) == [1], "what was recorded before the withdrawal is gone")
    }

    @Test func attributeSetsBeyondTheLimitGoToTheOverflowSet() throws {
        let f = try MetricsFixture(cardinalityLimit: 4)
        try f.ledger.grant([.analytics])
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        for screen in ["a", "b", "c", "d", "e", "a", "f"] { scans.add(attributes: ["screen": .string(screen)]) }
        let points = f.metrics.collect()
        #expect(points.count == 4, "the limit counts the overflow set")
        #expect(sum(points.first { $0.attributes == ["screen": .string("a")] }) == 2, "a known set keeps counting")
        #expect(sum(points.first { $0.attributes == TelemetryMetrics.overflowAttributes }) == 3, "d, e and f overflow")
        #expect(points.contains { $0.attributes == ["otel.metric.overflow": .bool(true)] })
        scans.add(attributes: ["screen": .string("e")])
        #expect(f.metrics.collect().map(\.attributes) == [["screen": .string("e")]], "the limit applies per interval")
    }

    @Test func aSeriesRecordsIntoTheSetOfTheInstrumentsOwnCallsWithItsRules() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        let documents = scans.series(sanitised: ["mode": .string("document")])
        documents.record(2)
        scans.add(3, attributes: ["mode": .string("document")])
        documents.record(-1)
        documents.record(.nan)
        documents.record(.infinity)
        #expect(f.metrics.collect().map(sum) == [5], "one set; a counter refuses negative and non-finite values")
        #expect(f.metrics.collect().isEmpty, "a set without measurements in the interval is not reported")
        documents.record(1)
        #expect(f.metrics.collect().map(sum) == [1], "the series goes on after a collection")

        let latency = f.metrics.histogram(name: "latency", purpose: .analytics, bounds: [10, 50])
            .series(sanitised: ["route": .string("/a")])
        for value in [5.0, 10, 20, 70] { latency.record(value) }
        let queue = f.metrics.gauge(name: "queue", purpose: .analytics).series(sanitised: [:])
        queue.record(4)
        queue.record(9)
        let points = f.metrics.collect()
        #expect(
            points.first { $0.name == "latency" }?.data
                == .histogram(
                    count: 4, sum: 105, min: 5, max: 70, explicitBounds: [10, 50], bucketCounts: [2, 1, 1],
                    isDelta: true))
        #expect(points.first { $0.name == "queue" }?.data == .gauge(value: 9))
        #expect(f.metrics.collect().first { $0.name == "queue" }?.data == .gauge(value: 9), "a gauge keeps its value")
    }

    @Test func aSeriesRecordsOnlyWhileItsPurposeIsGrantedAndKeepsWorkingAfterAWithdrawal() throws {
        let f = try MetricsFixture()
        let scans = f.metrics.counter(name: "scans", purpose: .analytics).series(sanitised: [:])
        scans.record(1)
        #expect(f.metrics.collect().isEmpty, "pending: not recorded")
        try f.ledger.grant([.analytics])
        scans.record(2)
        try f.ledger.deny([.analytics])
        scans.record(4)
        try f.ledger.grant([.analytics])
        #expect(f.metrics.collect().isEmpty, "what was recorded before the withdrawal is gone; denied adds nothing")
        scans.record(8)
        #expect(f.metrics.collect().map(sum) == [8])
    }

    @Test func aSeriesMadePastTheLimitOverflowsUntilACollectionEmptiesTheFullMap() throws {
        let f = try MetricsFixture(cardinalityLimit: 3)
        try f.ledger.grant([.analytics])
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        scans.add(attributes: ["screen": .string("a")])
        scans.add(attributes: ["screen": .string("b")])
        let c = scans.series(sanitised: ["screen": .string("c")])
        c.record(5)
        let first = f.metrics.collect()
        #expect(first.count == 3)
        #expect(sum(first.first { $0.attributes == TelemetryMetrics.overflowAttributes }) == 5)
        #expect(!first.contains { $0.attributes == ["screen": .string("c")] })
        c.record(7)
        #expect(f.metrics.collect().map(\.attributes) == [["screen": .string("c")]], "the limit is per interval")
        c.record(1)
        scans.add(2, attributes: ["screen": .string("c")])
        #expect(f.metrics.collect().map(sum) == [3], "the series is back in the map: one set")
    }

    /// Sets used in an earlier interval take no room in the next one.
    @Test func theLimitCountsOnlyTheSetsOfTheInterval() throws {
        let f = try MetricsFixture(cardinalityLimit: 3)
        try f.ledger.grant([.analytics])
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        let a = scans.series(sanitised: ["screen": .string("a")])
        a.record(1)
        #expect(f.metrics.collect().map(\.attributes) == [["screen": .string("a")]])
        scans.add(attributes: ["screen": .string("b")])
        scans.series(sanitised: ["screen": .string("c")]).record(2)
        let points = f.metrics.collect()
        #expect(Set(points.map(\.attributes)) == [["screen": .string("b")], ["screen": .string("c")]])
        a.record(4)
        #expect(f.metrics.collect().map(sum) == [4], "a's series records again after two collections")
    }

    @Test func stringsAreCutAndIdentifierLikeValuesLeftOut() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        scans.add(attributes: [
            "screen": .string(String(repeating: "x", count: 100)), "ok": .bool(true),
            "device": .string(UUID().uuidString), "peer": .string("10.1.2.3"), "v6": .string("fe80::1"),
        ])
        let point = try #require(f.metrics.collect().first)
        #expect(point.attributes == ["screen": .string(String(repeating: "x", count: 64)), "ok": .bool(true)])
    }

    @Test func declaringTheSameInstrumentAgainReturnsTheSameOne() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        f.metrics.counter(name: "scans", purpose: .analytics).add()
        f.metrics.counter(name: "scans", purpose: .analytics).add()
        #expect(f.metrics.collect().map(sum) == [2])
    }

    @Test func concurrentAddsSumExactly() async throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let scans = f.metrics.counter(name: "scans", purpose: .analytics)
        let latency = f.metrics.histogram(name: "latency", purpose: .analytics, bounds: [0.5])
        let series = scans.series(sanitised: ["series": .bool(true)])
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<4 {
                group.addTask {
                    for _ in 0..<10_000 {
                        scans.add()
                        scans.add(attributes: ["task": .int(Int64(task))])
                        latency.record(1)
                        series.record(1)
                    }
                }
            }
        }
        let points = f.metrics.collect()
        #expect(sum(points.first { $0.name == "scans" && $0.attributes.isEmpty }) == 40_000)
        #expect(sum(points.first { $0.attributes == ["series": .bool(true)] }) == 40_000)
        for task in 0..<4 {
            #expect(sum(points.first { $0.attributes == ["task": .int(Int64(task))] }) == 10_000)
        }
        #expect(
            points.first { $0.name == "latency" }?.data
                == .histogram(
                    count: 40_000, sum: 40_000, min: 1, max: 1, explicitBounds: [0.5],
                    bucketCounts: [0, 40_000], isDelta: true))
    }

    @Test func submitQueuesOneOTLPMetricsRequestPerPurpose() async throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics, .personalization])
        let audit = try AuditLedger(vault: f.vault)
        let transport = RecordingTransport()
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: metricsTestManifest(), audit: audit, wallClock: f.clock)
        f.metrics.counter(name: "scans", unit: "{scan}", purpose: .analytics).add(
            3, attributes: ["mode": .string("document")])
        f.metrics.gauge(name: "queue.length", purpose: .analytics).set(7)
        f.metrics.histogram(name: "scan.duration", unit: "ms", purpose: .analytics, bounds: [10, 100]).record(42)
        f.metrics.counter(name: "themes", purpose: .personalization).add()

        let queued = try f.metrics.submit(
            to: uploader, resource: TelemetryResource(serviceName: "scanner", serviceVersion: "1.0"))
        #expect(queued == 4)
        #expect(
            try f.metrics.submit(to: uploader, resource: TelemetryResource(serviceName: "scanner")) == 1,
            "only the gauge reports again")
        let report = await uploader.drain()
        #expect(report.accepted == 3)

        let payloads = transport.acceptedPayloads
        #expect(payloads.count == 3)
        #expect(Set(payloads.map(\.idempotencyKey)).count == 3)
        for payload in payloads {
            #expect(payload.contentType == "application/json")
            #expect(payload.idempotencyKey.hasPrefix("metrics-"))
            #expect(payload.categories == [.usageEvents])
        }
        let analytics = try #require(payloads.first { $0.purpose == .analytics })
        let root = try #require(try JSONSerialization.jsonObject(with: Data(analytics.body)) as? [String: Any])
        let resourceMetrics = try #require(root["resourceMetrics"] as? [[String: Any]])
        let scopeMetrics = try #require(resourceMetrics.first?["scopeMetrics"] as? [[String: Any]])
        let scope = try #require(scopeMetrics.first?["scope"] as? [String: Any])
        #expect(scope["name"] as? String == Telemetry.scope.name)
        let metrics = try #require(scopeMetrics.first?["metrics"] as? [[String: Any]])
        let byName = Dictionary(
            metrics.compactMap { m in (m["name"] as? String).map { ($0, m) } }, uniquingKeysWith: { a, _ in a })
        #expect(Set(byName.keys) == ["scans", "queue.length", "scan.duration"])

        let sumObject = try #require(byName["scans"]?["sum"] as? [String: Any])
        #expect(sumObject["isMonotonic"] as? Bool == true)
        #expect(sumObject["aggregationTemporality"] as? Int == 1, "delta")
        let sumPoint = try #require((sumObject["dataPoints"] as? [[String: Any]])?.first)
        #expect(sumPoint["asDouble"] as? Double == 3)
        #expect(
            sumPoint["startTimeUnixNano"] is String && sumPoint["timeUnixNano"] is String, "64-bit integers as strings")
        let attributes = try #require(sumPoint["attributes"] as? [[String: Any]])
        #expect(attributes.first?["key"] as? String == "mode")

        let gaugePoint = try #require(
            ((byName["queue.length"]?["gauge"] as? [String: Any])?["dataPoints"] as? [[String: Any]])?.first)
        #expect(gaugePoint["asDouble"] as? Double == 7)

        let histogram = try #require(byName["scan.duration"]?["histogram"] as? [String: Any])
        #expect(histogram["aggregationTemporality"] as? Int == 1)
        let histogramPoint = try #require((histogram["dataPoints"] as? [[String: Any]])?.first)
        #expect(histogramPoint["count"] as? String == "1")
        #expect(histogramPoint["sum"] as? Double == 42)
        #expect(histogramPoint["bucketCounts"] as? [String] == ["0", "1", "0"])
        #expect(histogramPoint["explicitBounds"] as? [Double] == [10, 100])
    }

    @Test func submitQueuesNothingForAPurposeDeniedSinceRecording() throws {
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        let audit = try AuditLedger(vault: f.vault)
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: RecordingTransport(), vault: f.vault, consent: f.ledger,
            manifest: metricsTestManifest(), audit: audit, wallClock: f.clock)
        f.metrics.counter(name: "scans", purpose: .analytics).add()
        try f.ledger.deny([.analytics])
        #expect(try f.metrics.submit(to: uploader, resource: TelemetryResource(serviceName: "scanner")) == 0)
        #expect(uploader.pendingCount == 0)
    }
}

@Suite struct MetricsWithdrawalTests {
    @Test func aPurposeUsedOnlyByMetricsGetsADeletionRequestToTheRecipientThatReceivedThem() async throws {
        // Personalisation has no declared event: only a metric is recorded under it.
        let f = try MetricsFixture()
        let audit = try AuditLedger(vault: f.vault)
        let telemetry = try Telemetry(
            manifest: metricsTestManifest(), vault: f.vault, consent: f.ledger, audit: audit, clock: f.clock)
        try f.ledger.grant([.personalization])
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: metricsTestManifest(), audit: audit, wallClock: f.clock)
        f.metrics.counter(name: "themes", purpose: .personalization).add()
        #expect(try f.metrics.submit(to: uploader, resource: TelemetryResource(serviceName: "test")) > 0)
        #expect(await uploader.drain().accepted == 1, "the metrics reached the recipient")

        try f.ledger.deny([.personalization])
        try telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "test"))
        let report = await uploader.drain()
        #expect(report.accepted == 1, "a deletion request follows the withdrawal")
        let request = try #require(transport.payloads.last)
        #expect(request.purpose == .privacyCompliance)
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(body.contains("steward.deletion_request"))
        #expect(body.contains("personalization"))
    }
}

@Suite struct MetricsDeclarationTests {
    @Test func anInstrumentTheManifestDoesNotDeclareRecordsNothingAndIsCounted() throws {
        let f = try MetricsFixture()
        let audit = try AuditLedger(vault: f.vault)
        let metrics = TelemetryMetrics(consent: f.ledger, clock: f.clock, audit: audit)
        try f.ledger.grant([.analytics])
        // The manifest declares usageEvents for analytics, not crashDiagnostics.
        let undeclared = metrics.counter(name: "secret", purpose: .analytics, category: .crashDiagnostics)
        let declared = metrics.counter(name: "scans", purpose: .analytics)
        undeclared.add(5)
        declared.add(2)
        #expect(metrics.collect().map(\.name) == ["scans"], "only the declared instrument reports")
        let dropped = audit.entries().filter { $0.category == .crashDiagnostics && $0.purpose == .analytics }
            .reduce(0) { $0 + ($1.dropped[.undeclared] ?? 0) }
        #expect(dropped == 1, "the undeclared instrument's declaration is counted once")
    }
}

extension MetricsTests {
    @Test func metricAttributesLoseEveryIdentifierAndSecretTheOneFilterFinds() throws {
        let path = NSTemporaryDirectory() + "machine-id-\(UUID().uuidString)"
        try "aaaabbbbccccddddeeeeffff00001111\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        IdentifierFilter.include(machineIDPath: path)
        let f = try MetricsFixture()
        try f.ledger.grant([.analytics])
        f.metrics.counter(name: "scans", purpose: .analytics).add(attributes: [
            "screen": .string("home"), "device": .string("AAAABBBB-CCCC-DDDD-EEEE-FFFF00001111"),
            "peer": .string("3c:22:fb:01:02:03"), "card": .string("4111 1111 1111 1111"), "api_token": .string("abc"),
            "note": .string("retry token=abc"),
        ])
        let point = try #require(f.metrics.collect().first)
        #expect(point.attributes == ["screen": .string("home")])
    }
}
