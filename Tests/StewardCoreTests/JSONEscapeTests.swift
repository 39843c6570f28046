import Foundation
@testable import StewardCore
import Testing

@Suite struct JSONEscapeTests {
    private func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        JSONEscape.appendQuoted(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    @Test func theEscapesAreTheShortFormsThenU00XXAndTheJavaScriptSeparators() {
        #expect(quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(quoted("\u{08}\t\n\u{0C}\r") == #""\b\t\n\f\r""#)
        #expect(quoted("\u{00}\u{1F}\u{7F}") == #""\u0000\u001f\u007f""#)
        #expect(quoted("x\u{2028}y\u{2029}z") == #""x\u2028y\u2029z""#)
        #expect(quoted("é€😀 plain / text") == "\"é€😀 plain / text\"", "everything else is copied")
    }

    @Test(arguments: 0..<200)
    func anyStringRoundTripsThroughFoundationsParser(_ seed: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let scalars = (0..<Int.random(in: 0..<40, using: &generator)).compactMap { _ -> Unicode.Scalar? in
            let pick = Int.random(in: 0..<4, using: &generator)
            let value: UInt32 =
                switch pick {
                case 0: UInt32.random(in: 0..<0x80, using: &generator)
                case 1: [0x2028, 0x2029, 0x7F, 0x22, 0x5C].randomElement(using: &generator)!
                case 2: UInt32.random(in: 0x80..<0xD800, using: &generator)
                default: UInt32.random(in: 0x10000..<0x110000, using: &generator)
                }
            return Unicode.Scalar(value)
        }
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars)
        let json = Data(("[" + quoted(text) + "]").utf8)
        let parsed = try JSONSerialization.jsonObject(with: json) as? [String]
        #expect(parsed == [text], "seed \(seed)")
    }

    @Test func decodingReadsEveryEscapeAndSurrogatePairs() {
        func decode(_ escape: String) -> (String?, JSONEscape.Failure?) {
            let bytes = Array(escape.utf8)
            var index = 1  // after the backslash
            var utf8: [UInt8] = []
            let failure = JSONEscape.decode(bytes, at: &index, into: &utf8)
            return (failure == nil ? String(decoding: utf8, as: UTF8.self) : nil, failure)
        }
        #expect(decode(#"\n"#).0 == "\n")
        #expect(decode(#"\/"#).0 == "/")
        #expect(decode(#"\u00e9"#).0 == "é")
        #expect(decode(#"\ud83d\ude00"#).0 == "😀")
        #expect(decode(#"\ud83d"#).1 == .loneHighSurrogate)
        #expect(decode(#"\ud83d\u0041"#).1 == .unpairedHighSurrogate)
        #expect(decode(#"\ude00"#).1 == .loneLowSurrogate)
        #expect(decode(#"\u12"#).1 == .endOfInput)
        #expect(decode(#"\u12g4"#).1 == .notHex)
        #expect(decode(#"\x"#).1 == .invalidEscape)
        #expect(decode(#"\"#).1 == .endOfInput)
    }
}
