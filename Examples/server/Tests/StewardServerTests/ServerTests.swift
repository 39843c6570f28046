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

    @Test func aRequestsTraceparentIsContinuedOnItsReportItsLogRecordAndItsBreadcrumb() async throws {
        let collector = try await Collector.start()
        let dataDir = FileManager.default.temporaryDirectory.appendingPathComponent(
            "steward-server-\(UUID().uuidString)"
        ).path
        defer {
            try? FileManager.default.removeItem(atPath: dataDir)
            try? FileManager.default.removeItem(atPath: dataDir + ".stderr")
        }
        // The caller's trace (W3C Trace Context), known in advance.
        let traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
        let callerSpanID = "00f067aa0ba902b7"

        let server = try await ServerProcess.start(dataDir: dataDir, collectorPort: collector.port)
        #expect(try await server.request("POST", "/consent/grant").status == 204)
        // No traceparent: a trace of its own.
        #expect(try await server.request("GET", "/hello").status == 200)
        let failed = try await server.request(
            "GET", "/fail", headers: ["traceparent": "00-\(traceID)-\(callerSpanID)-01"])
        #expect(failed.status == 500)
        #expect(try await server.terminate() == 0, "a graceful exit: \(server.log)")
        await collector.stop()

        // The report: Sentry's trace context is the caller's trace, and the server's own span in it.
        let events = collector.bodies(at: "/api/1/envelope/").flatMap(Self.sentryEvents)
        #expect(events.count == 1, "\(events.map(Self.breadcrumbMessages))")
        let report = try #require(events.first, "the report of /fail")
        let trace = try #require((report["contexts"] as? JSON)?["trace"] as? JSON, "a trace context: \(report)")
        #expect(trace["trace_id"] as? String == traceID)
        let spanID = try #require(trace["span_id"] as? String)
        #expect(
            Self.isHex(spanID, digits: 16) && spanID != callerSpanID, "the server's span, not the caller's: \(spanID)")

        // The `http_log` record of the same line: the same ids, as OTLP/JSON hex.
        let records = Self.logRecords(in: collector.bodies(at: "/v1/logs")).filter { $0.event == "http_log" }
        let record = try #require(records.first { $0.message.hasPrefix("GET /fail 500") }, "\(records)")
        #expect(record.traceID == traceID, "\(record)")
        #expect(record.spanID == spanID, "\(record)")

        // The breadcrumbs in the report: the failed request's carries the caller's trace; the
        // request that came without one carries a new trace.
        let crumbs = Self.breadcrumbs(of: report)
        let failCrumb = try #require(crumbs.last { $0.message == "GET /fail 500" }, "\(crumbs)")
        #expect(failCrumb.data["trace_id"] == traceID, "\(failCrumb)")
        #expect(failCrumb.data["span_id"] == spanID, "\(failCrumb)")
        let helloCrumb = try #require(crumbs.last { $0.message == "GET /hello 200" }, "\(crumbs)")
        let helloTrace = try #require(helloCrumb.data["trace_id"], "\(helloCrumb)")
        #expect(Self.isHex(helloTrace, digits: 32) && helloTrace != traceID, "\(helloCrumb)")
    }

    @Test(arguments: [VaultKeyPlace.systemdCredential, .privateKeyring])
    func theVaultKeyIsKeptInTheStoreTheMachineOffersNeverInAKeyFileAndTheRunsStillDeliver(place: VaultKeyPlace)
        async throws
    {
        let collector = try await Collector.start()
        let root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "steward-server-\(UUID().uuidString)"
        ).path
        let dataDir = root + "/data"
        try FileManager.default.createDirectory(
            atPath: root, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let store = try place.prepare(in: root)
        defer {
            store.stop()
            try? FileManager.default.removeItem(atPath: root)
            try? FileManager.default.removeItem(atPath: dataDir + ".stderr")
        }

        // Consent pending: the report of /fail is kept, encrypted under the vault key.
        let first = try await ServerProcess.start(
            dataDir: dataDir, collectorPort: collector.port, environment: store.environment)
        #expect(try await first.request("GET", "/fail").status == 500)
        #expect(try await first.terminate() == 0, "a graceful exit: \(first.log)")
        #expect(first.log.contains("steward key store: \(place.recorded)\n"), "\(first.log)")
        #expect(try String(contentsOfFile: dataDir + "/keys/store", encoding: .utf8) == place.recorded + "\n")

        // The data folder holds no key file: the wrapped key at most.
        let keys = try FileManager.default.contentsOfDirectory(atPath: dataDir + "/keys").sorted()
        #expect(keys == place.keysFolder, "\(keys)")
        if keys.contains("vault.wrapped") {
            let wrapped = try Data(contentsOf: URL(fileURLWithPath: dataDir + "/keys/vault.wrapped"))
            #expect(wrapped.count == 68 && wrapped.prefix(8) == Data("SWRAPK01".utf8), "\(wrapped.count) bytes")
        }
        let files = FileManager.default.enumerator(atPath: dataDir)?.compactMap { $0 as? String } ?? []
        #expect(!files.contains { $0.hasSuffix(".key") }, "no plaintext key file: \(files)")
        #expect(collector.requests.isEmpty, "nothing is sent before consent")

        // A second run gets the same key from the store: once granted, it delivers the first
        // run's report, read back from the vault, and its own.
        let second = try await ServerProcess.start(
            dataDir: dataDir, collectorPort: collector.port, environment: store.environment)
        #expect(try await second.request("POST", "/consent/grant").status == 204)
        #expect(try await second.request("GET", "/fail").status == 500)
        #expect(try await second.terminate() == 0, "a graceful exit: \(second.log)")
        await collector.stop()
        #expect(second.log.contains("steward key store: \(place.recorded)\n"), "\(second.log)")
        let events = collector.bodies(at: "/api/1/envelope/").flatMap(Self.sentryEvents)
        #expect(events.count == 2, "both runs' reports: \(events.map(Self.breadcrumbMessages))")
        #expect(
            events.contains {
                let crumbs = Self.breadcrumbMessages(of: $0)
                return crumbs.last == "GET /fail 500" && !crumbs.contains("POST /consent/grant 204")
            },
            "the first run's, kept while consent was pending: \(events.map(Self.breadcrumbMessages))")
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
        process.environment = ServerProcess.environment()
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
        /// `traceId` and `spanId` (hex in OTLP/JSON), empty when the record has none.
        var traceID: String
        var spanID: String
        var description: String { "\(event) \(severity) \(message) trace \(traceID) span \(spanID)" }
    }

    /// Every OTLP log record: its event name, severity number, `message` attribute and ids.
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
                                message: attributes(record["attributes"])["message"] ?? "",
                                traceID: record["traceId"] as? String ?? "",
                                spanID: record["spanId"] as? String ?? ""))
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
        breadcrumbs(of: event).map(\.message)
    }

    struct Breadcrumb: CustomStringConvertible {
        var message: String
        var data: [String: String]
        var description: String { "\(message) \(data)" }
    }

    /// A Sentry event's breadcrumbs: each one's message and string data.
    static func breadcrumbs(of event: JSON) -> [Breadcrumb] {
        ((event["breadcrumbs"] as? JSON)?["values"] as? [JSON] ?? []).compactMap { crumb in
            guard let message = crumb["message"] as? String else { return nil }
            return Breadcrumb(message: message, data: crumb["data"] as? [String: String] ?? [:])
        }
    }

    /// Whether `text` is `digits` lowercase hexadecimal digits, as W3C Trace Context writes ids.
    static func isHex(_ text: String, digits: Int) -> Bool {
        text.utf8.count == digits && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
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
