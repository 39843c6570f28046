import Foundation
import Testing
@testable import StewardCrash

/// The Swift runtime backtracer's JSON log, as the crash folder holds it at the next launch.
@Suite struct RuntimeBacktraceTests {
    /// A file of Fuzz/FailCases.
    static func failCase(_ target: String, _ name: String) throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try [UInt8](Data(contentsOf: root.appendingPathComponent("Fuzz/FailCases/\(target)/\(name)")))
    }

    @Test func aTimestampWithAHundredFractionDigitsIsLeftOutAndTheRestOfTheLogIsRead() throws {
        // Found by the FuzzRuntimeBacktrace target: ISO8601DateFormatter passed this timestamp
        // to ICU, which died of SIGFPE, taking the host down at its next start. Longer than any
        // time the backtracer writes, it is now simply not a time.
        let bytes = try Self.failCase("FuzzRuntimeBacktrace", "timestamp-with-a-hundred-fraction-digits-kills-icu.json")
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(text.contains("\"2026-12-06T06:30:14.9666666666666666666"))
        let backtrace = try #require(RuntimeBacktrace.parse(bytes))
        #expect(backtrace.timestamp == nil)
        #expect(!backtrace.threads.isEmpty)
    }

    @Test func theBacktracersOwnTimestampIsRead() throws {
        let json = #"{"timestamp": "2026-12-06T06:30:14.979844Z", "kind": "crashReport", "threads": [], "images": []}"#
        let backtrace = try #require(RuntimeBacktrace.parse(Array(json.utf8)))
        #expect(abs((backtrace.timestamp?.timeIntervalSince1970 ?? 0) - 1_796_538_614.979_844) < 1e-6)
    }
}
