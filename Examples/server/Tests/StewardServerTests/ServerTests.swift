import Foundation
import Testing

/// The built server, run for real on loopback against a collector that stands in for both
/// recipients: what leaves the process, and when.
@Suite(.serialized) struct ServerTests {
    /// One JSON document (OTLP or a Sentry envelope's line), untyped.
    typealias JSON = [String: Any]

    @Test func requestsBecomeMetricsLogRecordsAndBreadcrumbsOfTheFailedRequestsReportOnlyOnceConsentIsGranted()
        async throws
    {
        let collector = try await Collector.start()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "steward-server-\(UUID().uuidString)"
        ).path
        defer {
            try? FileManager.default.removeItem(atPath: dataDir)
            try? FileManager.default.removeItem(atPath: dataDir + ".stderr")
        }

        // Consent pending: the server answers, Steward keeps, nothing leaves, not even at the
        // shutdown's delivery.
        let first = try await ServerProcess.start(dataDir: dataDir, collectorPort: collector.port)
        #expect(try await first.request("GET", "/hello").status == 200)
        #expect(try await first.request("GET", "/fail").status == 500)
        #expect(try await first.terminate() == 0, "a graceful exit: \(first.log)")
        #expect(collector.requests.isEmpty, "nothing is sent before consent: \(collector.requests.map(\.path))")

        // Granted: the requests of this run become metrics, log records and a report.
        let server = try await ServerProcess.start(dataDir: dataDir, collectorPort: collector.port)
        #expect(try await server.request("POST", "/consent/grant").status == 204)
        #expect(try await server.request("GET", "/hello").status == 200)
        #expect(try await server.request("GET", "/missing").status == 404)
        #expect(try await server.request("GET", "/fail").status == 500)
        #expect(try await server.terminate() == 0, "a graceful exit: \(server.log)")
        await collector.stop()

        // Metrics: every request counted by route, method and status.
        let points = Self.dataPoints(named: "http.server.requests", in: collector.bodies(at: "/v1/metrics"))
        for (route, status) in [("/consent/grant", "204"), ("/hello", "200"), ("NotFound", "404"), ("/fail", "500")] {
            #expect(
                points.contains { $0["route"] == route && $0["status"] == status },
                "a count for \(route) \(status) in \(points)")
        }
        #expect(
            !Self.dataPoints(named: "http.server.duration", in: collector.bodies(at: "/v1/metrics")).isEmpty,
            "request durations")

        // Log records: the warning and the error lines as `http_log`, with their severity.
        let records = Self.logRecords(in: collector.bodies(at: "/v1/logs")).filter { $0.event == "http_log" }
        #expect(records.contains { $0.message == "GET NotFound 404" && $0.severity == 13 }, "\(records)")
        #expect(records.contains { $0.message.hasPrefix("GET /fail 500") && $0.severity == 17 }, "\(records)")
        #expect(!records.contains { $0.message.hasPrefix("GET /hello") }, "info lines are breadcrumbs only")
        #expect(
            records.filter { $0.message.hasPrefix("GET /fail 500") }.count == 2,
            "the first run's error line, kept while consent was pending, is sent once granted: \(records)")

        // The handled-error report of this run's /fail: the thrown error, and the requests
        // before it as breadcrumbs.
        let events = collector.bodies(at: "/api/1/envelope/").flatMap(Self.sentryEvents)
        let report = try #require(
            events.first { Self.breadcrumbMessages(of: $0).contains("POST /consent/grant 204") },
            "a report with this run's breadcrumbs among \(events.count) events")
        let exception = try #require(((report["exception"] as? JSON)?["values"] as? [JSON])?.first)
        #expect((exception["type"] as? String)?.hasSuffix("ServerError") == true, "\(exception)")
        #expect((exception["value"] as? String)?.contains("the inventory service did not answer") == true)
        let crumbs = Self.breadcrumbMessages(of: report)
        #expect(
            crumbs.suffix(4) == ["POST /consent/grant 204", "GET /hello 200", "GET NotFound 404", "GET /fail 500"],
            "\(crumbs)")
        // The first run's report was kept, encrypted, while crash reporting was pending, and
        // sent once granted, with that run's requests.
        #expect(events.count == 2, "\(events.map(Self.breadcrumbMessages))")
        #expect(
            events.contains { Self.breadcrumbMessages(of: $0).suffix(2) == ["GET /hello 200", "GET /fail 500"] },
            "\(events.map(Self.breadcrumbMessages))")
    }

    @Test func aManifestThatIsNotValidStopsTheServerWithEveryProblemBeforeItListens() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "steward-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let manifest = directory.appendingPathComponent("manifest.json")
        try Data(#"{"policyVersion": "1", "purposes": [{"id": "analytics"}], "dataCategories": []}"#.utf8)
            .write(to: manifest)

        let process = Process()
        process.executableURL = ServerProcess.binary
        process.arguments = [
            "--port", "0", "--data-dir", directory.appendingPathComponent("data").path, "--manifest", manifest.path,
        ]
        let out = Pipe()
        let err = Pipe()
        (process.standardOutput, process.standardError) = (out, err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let stdout = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()

        #expect(process.terminationStatus != 0)
        #expect(stdout.isEmpty, "it never listened: \(stdout)")
        #expect(stderr.contains("purposes[0]"), "the problem, with its JSON path: \(stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("data").path))
    }

    // MARK: - Reading what was sent

    /// The attributes of every data point of the metric `name`, as strings.
    static func dataPoints(named name: String, in bodies: [String]) -> [[String: String]] {
        var points: [[String: String]] = []
        for body in bodies {
            guard let document = parse(body) else { continue }
            for resource in document["resourceMetrics"] as? [JSON] ?? [] {
                for scope in resource["scopeMetrics"] as? [JSON] ?? [] {
                    for metric in scope["metrics"] as? [JSON] ?? [] where metric["name"] as? String == name {
                        let data = (metric["sum"] ?? metric["histogram"] ?? metric["gauge"]) as? JSON
                        for point in data?["dataPoints"] as? [JSON] ?? [] {
                            points.append(attributes(point["attributes"]))
                        }
                    }
                }
            }
        }
        return points
    }

    struct LogRecord: CustomStringConvertible {
        var event: String
        var severity: Int
        var message: String
        var description: String { "\(event) \(severity) \(message)" }
    }

    /// Every OTLP log record: its event name, severity number and `message` attribute.
    static func logRecords(in bodies: [String]) -> [LogRecord] {
        var records: [LogRecord] = []
        for body in bodies {
            guard let document = parse(body) else { continue }
            for resource in document["resourceLogs"] as? [JSON] ?? [] {
                for scope in resource["scopeLogs"] as? [JSON] ?? [] {
                    for record in scope["logRecords"] as? [JSON] ?? [] {
                        records.append(
                            LogRecord(
                                event: record["eventName"] as? String ?? "",
                                severity: record["severityNumber"] as? Int ?? 0,
                                message: attributes(record["attributes"])["message"] ?? ""))
                    }
                }
            }
        }
        return records
    }

    /// The events of a Sentry envelope: the lines (item payloads) that carry an exception.
    static func sentryEvents(in envelope: String) -> [JSON] {
        envelope.split(separator: "\n").compactMap { parse(String($0)) }.filter { $0["exception"] != nil }
    }

    static func breadcrumbMessages(of event: JSON) -> [String] {
        ((event["breadcrumbs"] as? JSON)?["values"] as? [JSON] ?? []).compactMap { $0["message"] as? String }
    }

    /// OTLP attributes (`[{key, value: {stringValue | intValue | …}}]`) as strings.
    static func attributes(_ value: Any?) -> [String: String] {
        var result: [String: String] = [:]
        for attribute in value as? [JSON] ?? [] {
            guard let key = attribute["key"] as? String, let value = (attribute["value"] as? JSON)?.values.first else {
                continue
            }
            result[key] = "\(value)"
        }
        return result
    }

    static func parse(_ text: String) -> JSON? {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? JSON
    }
}
