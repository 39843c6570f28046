import Foundation
import StewardCore
@testable import StewardTelemetry
import Testing

@Suite struct BatchCodingTests {
    @Test func aBatchReadsBackAsTheSameRecordsThroughJSONDecoder() throws {
        let records = [
            TelemetryEventRecord(name: "screen_view", purpose: .analytics, category: .usageEvents, timeUnixNano: UInt64.max,
                                 observedTimeUnixNano: 1, attributes: [
                                     "text": .string("quote \" backslash \\ newline \n nul \u{0} emoji 🧪 é"),
                                     "int": .int(Int64.min), "max": .int(Int64.max),
                                     "double": .double(0.1), "whole": .double(5), "negative": .double(-1.5e300),
                                     "flag": .bool(true), "off": .bool(false),
                                 ], severityNumber: 13, traceID: "5b8efff798038103d269b633813fc60c", spanID: "eee19b7ec3c1b174"),
            TelemetryEventRecord(name: "empty", purpose: .personalization, category: .usageEvents, timeUnixNano: 0, observedTimeUnixNano: 0),
        ]
        let decoded = try JSONDecoder().decode([TelemetryEventRecord].self, from: Data(BatchCoding.encode(records)))
        #expect(decoded == records)
        #expect(try JSONDecoder().decode([TelemetryEventRecord].self, from: Data(BatchCoding.encode([]))).isEmpty)
    }
}
