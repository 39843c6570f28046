import Foundation
import StewardCore
@testable import StewardTelemetry
import Testing

@Suite struct BatchCodingTests {
    @Test func aBatchReadsBackAsTheSameRecords() throws {
        let records = [
            TelemetryEventRecord(
                name: "screen_view", purpose: .analytics, category: .usageEvents, timeUnixNano: UInt64.max,
                observedTimeUnixNano: 1,
                attributes: [
                    "text": .string("quote \" backslash \\ newline \n nul \u{0} emoji 🧪 é"),
                    "int": .int(Int64.min), "max": .int(Int64.max),
                    "double": .double(0.1), "whole": .double(5), "negative": .double(-1.5e300),
                    "flag": .bool(true), "off": .bool(false),
                ], severityNumber: 13, traceID: "5b8efff798038103d269b633813fc60c", spanID: "eee19b7ec3c1b174"),
            TelemetryEventRecord(
                name: "empty", purpose: .personalization, category: .usageEvents, timeUnixNano: 0,
                observedTimeUnixNano: 0),
        ]
        #expect(BatchCoding.decode(BatchCoding.encode(records)) == records)
        #expect(BatchCoding.decode(BatchCoding.encode([])) == [])
        // The JSON form of unreleased development builds is not a batch: refused like any unknown bytes.
        #expect(BatchCoding.decode(Array(try JSONEncoder().encode(records))) == nil)
    }

    @Test func everyTruncationAndEveryFlippedByteIsRefusedOrReadSafely() {
        let record = TelemetryEventRecord(
            name: "screen_view", purpose: .analytics, category: .usageEvents, timeUnixNano: 7,
            observedTimeUnixNano: 8, attributes: ["screen": .string("scan"), "n": .int(3), "f": .bool(true)],
            traceID: "5b8efff798038103d269b633813fc60c")
        let bytes = BatchCoding.encode([record, record])
        for length in 0..<bytes.count {
            #expect(
                BatchCoding.decode(Array(bytes.prefix(length))) == nil, "a batch cut to \(length) bytes must be refused"
            )
        }
        // A damaged byte never traps; what decodes is whatever the bytes say, or nil.
        for index in bytes.indices {
            for value: UInt8 in [0x00, 0xFF, 0x7F] {
                var damaged = bytes
                damaged[index] = value
                _ = BatchCoding.decode(damaged)
            }
        }
        var huge = bytes
        huge.replaceSubrange(4..<8, with: [0xFF, 0xFF, 0xFF, 0x7F])
        #expect(BatchCoding.decode(huge) == nil)
    }
}
