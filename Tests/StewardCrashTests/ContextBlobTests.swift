import Foundation
@testable import StewardCrash
import StewardTesting
import Testing

/// The crash context is written without `JSONEncoder` (issue 18: its first use was a tenth of a
/// fresh process's start); what the next launch reads back with `JSONDecoder` must not change.
@Suite struct ContextBlobTests {
    @Test func theWrittenContextReadsBackAsJSONDecoderReadsJSONEncodersOutput() throws {
        var rng = SplitMix64(seed: 0xC0_7E47)
        let pieces = ["a", "/", "\\", "\"", "\n", "\t", "\u{0}", "\u{7F}", "é", "🙂", "\u{2028}", "\u{2029}", "{}", ":"]
        func text() -> String? {
            if rng.next() % 3 == 0 { return nil }
            var out = ""
            for _ in 0..<Int(rng.next() % 10) { out += pieces[Int(rng.next() % UInt64(pieces.count))] }
            return out
        }
        for _ in 0..<400 {
            let blob = CrashReporter.ContextBlob(
                context: CrashContext(
                    release: text(), environment: text(), sessionID: text(), deviceID: text(), osName: text(),
                    osVersion: text(), kernelVersion: text(), model: text(), arch: text(), executable: text(),
                    dist: text()),
                homeDirectory: text(), userName: text())
            let written = blob.json()
            let read = try JSONDecoder().decode(CrashReporter.ContextBlob.self, from: Data(written))
            let reference = try JSONDecoder().decode(
                CrashReporter.ContextBlob.self, from: JSONEncoder().encode(blob))
            #expect(read.context == blob.context && read.context == reference.context)
            #expect(read.homeDirectory == blob.homeDirectory && read.userName == blob.userName)
            // Valid JSON for any reader, not only Foundation's.
            #expect((try? JSONSerialization.jsonObject(with: Data(written))) != nil)
        }
    }
}
