import Foundation
import Logging
import Steward
import StewardCore
import StewardCrash
import StewardLogging
import StewardTelemetry
import StewardTesting
import Synchronization
import Testing

extension StewardFacadeTests {
    /// swift-log lines through ``StewardLogHandler``: breadcrumbs, handled-error reports and log
    /// records under consent. Inside the facade's serialized suite: one Steward per process.
    @Suite struct LogHandlerTests {
        struct OrderFailed: Error, CustomStringConvertible {
            var description: String { "the order service refused" }
        }

        /// A unique word per test: the breadcrumb ring is shared by the whole process.
        static func marker() -> String { String(UUID().uuidString.prefix(8)) }

        @Test func linesBecomeBreadcrumbsAndAnErrorLineAHandledErrorReportCarryingThem() throws {
            let f = try BridgeFixture()
            try f.steward.consent.grant([.crashReporting])
            let marker = Self.marker()
            var logger = Logger(label: "bridge.orders") {
                StewardLogHandler(
                    label: $0, steward: f.steward, options: .init(breadcrumbLevel: .info, reportLevel: .error))
            }
            logger.logLevel = .trace
            logger.debug("below-\(marker)")
            logger.info(
                "opened-\(marker)", metadata: ["route": "/orders", "password": "hunter2", "peer": "10.1.2.3"])
            logger.warning("slow-\(marker)")
            logger.error("failed-\(marker)", error: OrderFailed())
            logger.critical("gave-up-\(marker)")
            f.steward.crashes.flushHandledErrors()

            let reports = try f.steward.crashes.storedReports().filter { $0.error?.message.contains(marker) == true }
            #expect(reports.count == 2, "the error and the critical line: \(reports.map(\.error))")
            let failed = try #require(reports.first { $0.error?.message.contains("failed-") == true })
            #expect(failed.handled)
            #expect(
                failed.error?.type.hasSuffix("OrderFailed") == true, "the line's own error: \(failed.error?.type ?? "")"
            )
            #expect(failed.error?.message == "failed-\(marker): the order service refused")
            let crumbs = failed.breadcrumbs.filter { $0.message.contains(marker) }
            #expect(
                crumbs.map(\.message) == ["opened-\(marker)", "slow-\(marker)", "failed-\(marker)"], "debug is below")
            #expect(crumbs.map(\.level) == [.info, .warning, .error])
            #expect(crumbs.allSatisfy { $0.category == "bridge.orders" })
            let opened = try #require(crumbs.first)
            #expect(opened.data["route"] == "/orders")
            #expect(opened.data["password"] == nil, "a secret's name is left out")
            #expect(opened.data["peer"].map { !$0.contains("10.1.2.3") } == true, "an address is redacted")

            let gaveUp = try #require(reports.first { $0.error?.message.contains("gave-up-") == true })
            #expect(gaveUp.error?.type.hasSuffix("LoggedError") == true)
            #expect(gaveUp.breadcrumbs.last { $0.message.contains(marker) }?.level == .fatal)
        }

        @Test func linesOfADeclaredEventAreRecordedWithTheirSeverityOnlyWhileItsPurposeIsGranted() async throws {
            let f = try BridgeFixture()
            let marker = Self.marker()
            let handler = StewardLogHandler(
                label: "bridge.http", steward: f.steward,
                options: .init(breadcrumbLevel: nil, event: "app_log", eventLevel: .info))
            var logger = Logger(label: "bridge.http") { _ in handler }
            logger[metadataKey: "route"] = "/checkout"

            try f.steward.consent.deny([.analytics])
            #expect(logger.handler.logLevel == .critical, "nothing to do: lines stop at the Logger")
            let built = Atomic<Int>(0)
            func message(_ text: String) -> Logger.Message {
                built.add(1, ordering: .relaxed)
                return "\(text)"
            }
            logger.warning(message("denied-\(marker)"))
            #expect(built.load(ordering: .relaxed) == 0, "a denied purpose does not even build the message")

            try f.steward.consent.grant([.analytics])
            #expect(logger.handler.logLevel == .info)
            logger.debug("below-\(marker)")
            logger.warning(
                message("granted-\(marker)"),
                // A metadata value named like an attribute the line fills gives way to the line's
                // own (and is not checked: an address here would drop the record in strict mode).
                metadata: ["status": "503", "undeclared": "dropped", "message": "from 10.0.0.7", "level": "x"])
            logger.info("host-\(marker)", metadata: ["status": "not a number"])
            let report = await f.steward.send()
            #expect(report.eventsQueued == 2, "\(report)")
            let body = f.telemetryBodies.joined()
            let json = try #require(
                try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any], "one request: \(body)")
            let records = Self.logRecords(json)
            let granted = try #require(records.first { Self.attribute("message", of: $0) == "granted-\(marker)" })
            #expect(granted["eventName"] as? String == "app_log")
            #expect(granted["severityNumber"] as? Int == 13, "WARN")
            #expect(Self.attribute("level", of: granted) == "warning")
            #expect(Self.attribute("logger", of: granted) == "bridge.http")
            #expect(Self.attribute("route", of: granted) == "/checkout", "the handler's metadata")
            #expect(Self.attribute("status", of: granted) == "503", "converted to the declared int")
            #expect(Self.attribute("undeclared", of: granted) == nil)
            let info = try #require(records.first { Self.attribute("message", of: $0) == "host-\(marker)" })
            #expect(info["severityNumber"] as? Int == 9)
            #expect(Self.attribute("status", of: info) == nil, "a value that is not the declared type is left out")
            #expect(!body.contains("denied-\(marker)") && !body.contains("below-\(marker)"))
            #expect(!body.contains("10.0.0.7"))
        }

        @Test func anUndeclaredEventRecordsNothingAndIsCountedAsDropped() async throws {
            let f = try BridgeFixture()
            try f.steward.consent.grant([.analytics])
            let undeclared = { f.steward.audit.entries().reduce(0) { $0 + ($1.dropped[.undeclared] ?? 0) } }
            let before = undeclared()
            let handler = StewardLogHandler(
                label: "bridge.misc", steward: f.steward,
                options: .init(breadcrumbLevel: .warning, event: "not_declared"))
            #expect(undeclared() == before + 1, "the undeclared event is counted once, when the handler is made")
            #expect(handler.logLevel == .warning, "only the breadcrumbs want lines")
            let logger = Logger(label: "bridge.misc") { _ in handler }
            logger.error("nothing recorded")
            #expect(await f.steward.send().eventsQueued == 0)
        }

        @Test func stewardsOwnDiagnosticLinesAreNeverReportedOrRecorded() throws {
            let f = try BridgeFixture()
            try f.steward.consent.grant([.analytics, .crashReporting])
            let marker = Self.marker()
            let logger = Logger(label: "steward") {
                StewardLogHandler(
                    label: $0, steward: f.steward, options: .init(reportLevel: .warning, event: "app_log"))
            }
            logger.warning("diagnostic-\(marker)", metadata: ["steward.code": "crash.handledErrorDropped"])
            logger.warning("host-\(marker)")
            f.steward.crashes.flushHandledErrors()
            let reported = try f.steward.crashes.storedReports().compactMap(\.error?.message).filter {
                $0.contains(marker)
            }
            #expect(reported == ["host-\(marker)"])
        }

        @Test func itWorksBesideAnotherHandlerThroughAMultiplexer() async throws {
            let f = try BridgeFixture()
            try f.steward.consent.grant([.analytics])
            let other = CollectingHandler()
            let marker = Self.marker()
            let logger = Logger(label: "bridge.multi") {
                MultiplexLogHandler([
                    other,
                    StewardLogHandler(
                        label: $0, steward: f.steward, options: .init(breadcrumbLevel: nil, event: "app_log")),
                ])
            }
            logger.notice("both-\(marker)")
            #expect(other.received.lines.withLock { $0 } == ["both-\(marker)"])
            #expect(await f.steward.send().eventsQueued == 1)
            #expect(f.telemetryBodies.joined().contains("both-\(marker)"))
        }

        @Test func afterStopLinesAreIgnored() async throws {
            let f = try BridgeFixture()
            try f.steward.consent.grant([.analytics])
            let marker = Self.marker()
            let logger = Logger(label: "bridge.stop") {
                StewardLogHandler(
                    label: $0, steward: f.steward, options: .init(breadcrumbLevel: nil, event: "app_log"))
            }
            logger.error("before-\(marker)")
            f.steward.stop()
            logger.error("after-\(marker)")
            // The same folder again: what the stopped instance kept is sent, and only that.
            let again = try Steward.start(f.configuration)
            defer { again.stop() }
            #expect(await again.send().eventsQueued == 1)
            let body = f.telemetryBodies.joined()
            #expect(body.contains("before-\(marker)"))
            #expect(!body.contains("after-\(marker)"))
        }

        // MARK: - Helpers

        /// Every OTLP log record in a `/v1/logs` body.
        static func logRecords(_ json: [String: Any]) -> [[String: Any]] {
            (json["resourceLogs"] as? [[String: Any]] ?? []).flatMap { resource in
                (resource["scopeLogs"] as? [[String: Any]] ?? []).flatMap { $0["logRecords"] as? [[String: Any]] ?? [] }
            }
        }

        /// An attribute's value as text (string or int), or nil.
        static func attribute(_ key: String, of record: [String: Any]) -> String? {
            let attributes = record["attributes"] as? [[String: Any]] ?? []
            guard let value = attributes.first(where: { $0["key"] as? String == key })?["value"] as? [String: Any]
            else {
                return nil
            }
            return value["stringValue"] as? String ?? value["intValue"] as? String
        }
    }
}

/// A second handler that keeps the messages it gets.
struct CollectingHandler: LogHandler {
    final class Lines: Sendable {
        let lines = Mutex<[String]>([])
    }
    let received = Lines()
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { received.lines.withLock { $0.append(event.message.description) } }
}
