import Foundation
import StewardCore
@testable import StewardTelemetry
import Testing

/// The one deletion-request format (version 1) in its two encodings.
@Suite struct DeletionRequestTests {
    let request = DeletionRequest(
        scope: .purposes, purposes: [.analytics, .analytics], categories: [.usageEvents, .crashDiagnostics],
        pseudonymousIDs: ["b2", "a1", "b2"], deviceID: "d-1",
        requested: Date(timeIntervalSince1970: 1_780_000_000))

    @Test func theJSONDocumentCarriesEveryFieldWithItsVersion() throws {
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(request.jsonDocument(appID: "org.example"))) as? [String: Any])
        #expect(
            Set(object.keys) == [
                "type", "version", "scope", "purposes", "categories", "pseudonymousIDs", "appID", "deviceID",
                "requested",
            ])
        #expect(object["type"] as? String == "steward.deletion_request")
        #expect(object["version"] as? Int == DeletionRequest.formatVersion)
        #expect(object["scope"] as? String == "purposes")
        #expect(object["purposes"] as? [String] == ["analytics"], "deduplicated")
        #expect(object["categories"] as? [String] == ["crashDiagnostics", "usageEvents"], "sorted")
        #expect(object["pseudonymousIDs"] as? [String] == ["a1", "b2"])
        #expect(object["appID"] as? String == "org.example")
        #expect(object["deviceID"] as? String == "d-1")
        #expect(object["requested"] as? String == "2026-05-28T20:26:40Z")
    }

    @Test func theLogRecordCarriesTheSameFields() {
        let record = request.logRecord(observed: Date(timeIntervalSince1970: 1_780_000_100))
        #expect(record.name == DeletionRequest.eventName && record.purpose == .privacyCompliance)
        #expect(
            record.attributes == [
                "steward.deletion.version": .int(Int64(DeletionRequest.formatVersion)),
                "steward.scope": .string("purposes"),
                "steward.purposes": .string("analytics"),
                "steward.categories": .string("crashDiagnostics,usageEvents"),
                "steward.pseudonymous_ids": .string("a1,b2"),
            ])
        #expect(record.timeUnixNano == 1_780_000_000 * 1_000_000_000, "the time of the withdrawal")
    }

    @Test func thePayloadIsALogForTelemetryAndJSONElsewhereWithOneKey() {
        let now = Date(timeIntervalSince1970: 1_780_000_100)
        let log = request.payload(
            to: "collector", resource: TelemetryResource(serviceName: "org.example", deviceID: "d-1"),
            appID: "org.example", now: now)
        let json = request.payload(to: "backend", resource: nil, appID: "org.example", now: now)
        #expect(log.contentType == OTLPHTTP.contentType && log.headers[Payload.pathHeader] == OTLPHTTP.logsPath)
        #expect(json.contentType == "application/json" && json.headers.isEmpty)
        #expect(log.purpose == .privacyCompliance && json.purpose == .privacyCompliance)
        #expect(log.idempotencyKey == json.idempotencyKey)
        #expect(log.idempotencyKey == "deletion-purposes-analytics-crashDiagnostics+usageEvents-1780000000000")
        var other = request
        other.categories = [.usageEvents]
        #expect(
            other.idempotencyKey != request.idempotencyKey, "requests that differ in categories are not deduplicated")
        let body = String(decoding: log.body, as: UTF8.self)
        #expect(body.contains("steward.deletion_request") && body.contains("steward.deletion.version"))
    }
}
