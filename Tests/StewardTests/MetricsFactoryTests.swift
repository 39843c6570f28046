import Foundation
import Metrics
import Steward
import StewardCore
import StewardMetrics
import StewardTelemetry
import StewardTesting
import Testing

extension StewardFacadeTests {
    /// swift-metrics through ``StewardMetricsFactory``. This file imports both `Metrics` and
    /// `Steward`: `Counter`, `Gauge` and `Timer` below are swift-metrics' own, unqualified (the
    /// coexistence the rename of Steward's instruments into `TelemetryMetrics` is for).
    @Suite struct MetricsFactoryTests {
        @Test func declaredMetricsAreDeliveredWithOnlyTheirDeclaredDimensionsWhileGranted() async throws {
            let f = try BridgeFixture()
            let factory = StewardMetricsFactory(steward: f.steward)
            try f.steward.consent.deny([.analytics])
            let requests = Counter(
                label: "http.server.requests",
                dimensions: [("route", "/orders"), ("status", "200"), ("user_id", "u-81234")], factory: factory)
            requests.increment(by: 5)  // denied: nothing
            try f.steward.consent.grant([.analytics])
            requests.increment()
            requests.increment(by: 2)
            Counter(label: "http.server.requests", dimensions: [("route", "/health")], factory: factory).increment()
            FloatingPointCounter(label: "bytes.sent", factory: factory).increment(by: 1.5)
            let depth = Meter(label: "queue.depth", dimensions: [("queue", "mail")], factory: factory)
            depth.set(10)
            depth.increment(by: 3)
            // A second handler for the same meter (swift-metrics makes one per `Meter(...)`).
            Meter(label: "queue.depth", dimensions: [("queue", "mail")], factory: factory).decrement(by: 1)
            Gauge(label: "temperature", factory: factory).record(21.5)
            let sizes = Recorder(label: "payload.size", factory: factory)
            for size in [50, 500, 5_000, 50_000] { sizes.record(size) }
            Timer(label: "http.server.duration", factory: factory).recordNanoseconds(12_000_000)

            #expect(await f.steward.send().metricPointsQueued > 0)
            let metrics = try Self.metrics(f)
            let points = Self.points(metrics["http.server.requests"], kind: "sum")
            #expect(points.count == 2, "\(points)")
            let orders = try #require(points.first { Self.attribute("route", $0) == "/orders" })
            #expect(orders["asDouble"] as? Double == 3, "the denied 5 is not counted")
            #expect(Self.attribute("status", orders) == "200")
            #expect(Self.attribute("user_id", orders) == nil, "an undeclared dimension is left out")
            #expect(metrics["http.server.requests"]?["unit"] as? String == "{request}")
            #expect(Self.points(metrics["bytes.sent"], kind: "sum").first?["asDouble"] as? Double == 1.5)
            #expect(Self.points(metrics["queue.depth"], kind: "gauge").first?["asDouble"] as? Double == 12)
            #expect(Self.points(metrics["temperature"], kind: "gauge").first?["asDouble"] as? Double == 21.5)
            let size = try #require(Self.points(metrics["payload.size"], kind: "histogram").first)
            #expect(size["explicitBounds"] as? [Double] == [100, 1_000, 10_000], "the declared bounds")
            #expect(size["bucketCounts"] as? [String] == ["1", "1", "1", "1"])
            let duration = try #require(Self.points(metrics["http.server.duration"], kind: "histogram").first)
            #expect(duration["sum"] as? Double == 12, "12 ms in the declared unit")
            #expect(metrics["http.server.duration"]?["unit"] as? String == "ms")
        }

        @Test func anUndeclaredLabelRecordsNothingAndIsCountedAsDropped() async throws {
            let f = try BridgeFixture()
            try f.steward.consent.grant([.analytics])
            let factory = StewardMetricsFactory(steward: f.steward)
            let before = Self.undeclaredDrops(f)
            Counter(label: "not.declared", factory: factory).increment()
            Timer(label: "also.not.declared", factory: factory).recordNanoseconds(5)
            #expect(Self.undeclaredDrops(f) == before + 2)
            #expect(await f.steward.send().metricPointsQueued == 0)
        }

        @Test func dimensionValuesThatIdentifyAreLeftOut() async throws {
            let f = try BridgeFixture()
            try f.steward.consent.grant([.analytics])
            let factory = StewardMetricsFactory(steward: f.steward)
            Counter(
                label: "http.server.requests",
                dimensions: [("route", "3f2504e0-4f89-41d3-9a0c-0305e82c3301"), ("status", "10.0.0.7")],
                factory: factory
            ).increment()
            _ = await f.steward.send()
            let point = try #require(Self.points(try Self.metrics(f)["http.server.requests"], kind: "sum").first)
            #expect(Self.attribute("route", point) == nil && Self.attribute("status", point) == nil, "\(point)")
            #expect(point["asDouble"] as? Double == 1, "the measurement itself is kept")
        }

        @Test func theDisclosureListsDeclaredMetricsAndTheirDimensions() throws {
            let disclosure = try Disclosure(manifest: try BridgeFixture.manifest(), now: Date())
            #expect(disclosure.metrics.map(\.name).contains("http.server.requests"))
            #expect(disclosure.metrics.first { $0.name == "http.server.requests" }?.dimensions == ["route", "status"])
            let html = disclosure.html()
            #expect(html.contains(#"id="metrics""#) && html.contains("http.server.requests"))
            let without = try Disclosure(manifest: try DisclosureTests.exampleManifest(), now: Date())
            #expect(without.metrics.isEmpty && !without.html().contains(#"id="metrics""#), "no empty section")
        }

        // MARK: - Helpers

        /// The metrics of every `/v1/metrics` request sent, by name.
        static func metrics(_ f: BridgeFixture) throws -> [String: [String: Any]] {
            var byName: [String: [String: Any]] = [:]
            for payload in f.telemetryTransport.payloads where payload.headers[Payload.pathHeader] == "/v1/metrics" {
                let json = try #require(try JSONSerialization.jsonObject(with: Data(payload.body)) as? [String: Any])
                for resource in json["resourceMetrics"] as? [[String: Any]] ?? [] {
                    for scope in resource["scopeMetrics"] as? [[String: Any]] ?? [] {
                        for metric in scope["metrics"] as? [[String: Any]] ?? [] {
                            if let name = metric["name"] as? String { byName[name] = metric }
                        }
                    }
                }
            }
            return byName
        }

        static func undeclaredDrops(_ f: BridgeFixture) -> Int {
            f.steward.audit.entries().reduce(0) { $0 + ($1.dropped[.undeclared] ?? 0) }
        }

        static func points(_ metric: [String: Any]?, kind: String) -> [[String: Any]] {
            (metric?[kind] as? [String: Any])?["dataPoints"] as? [[String: Any]] ?? []
        }

        static func attribute(_ key: String, _ point: [String: Any]) -> String? {
            let attributes = point["attributes"] as? [[String: Any]] ?? []
            return (attributes.first { $0["key"] as? String == key }?["value"] as? [String: Any])?["stringValue"]
                as? String
        }
    }
}
