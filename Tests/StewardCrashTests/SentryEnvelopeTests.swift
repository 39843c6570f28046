import Foundation
@testable import StewardCrash
import Testing

@Suite struct SentryEnvelopeTests {
    func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func encodingWritesHeaderThenEachItemHeaderAndPayloadOnTheirOwnLines() throws {
        let envelope = SentryEnvelope(
            eventID: "9ec79c33ec9942ab8353589fcb2e04dc",
            dsn: try SentryDSN("https://pub:secret@sentry.io/42"),
            sentAt: Date(timeIntervalSince1970: 1_795_000_000.25),
            items: [
                SentryEnvelope.Item(
                    type: "attachment", payload: [0xEF, 0xBB, 0xBF] + bytes("Hello\r\n"),
                    contentType: "text/plain", extraHeader: ["filename": "hello.txt"]),
                SentryEnvelope.Item(
                    type: "event", payload: bytes(#"{"message":"hello world","level":"error"}"#),
                    contentType: "application/json"),
            ])
        let expected =
            bytes(
                #"{"dsn":"https://pub@sentry.io/42","event_id":"9ec79c33ec9942ab8353589fcb2e04dc","sdk":{"name":"steward","version":"0.1.0"},"sent_at":"2026-11-18T11:06:40.250Z"}"#
                    + "\n"
                    + #"{"content_type":"text/plain","filename":"hello.txt","length":10,"type":"attachment"}"# + "\n")
            + [0xEF, 0xBB, 0xBF]
            + bytes(
                "Hello\r\n\n"
                    + #"{"content_type":"application/json","length":41,"type":"event"}"# + "\n"
                    + #"{"message":"hello world","level":"error"}"# + "\n")
        #expect(envelope.encode() == expected)
    }

    @Test func itemLengthIsThePayloadsByteCountIncludingMultiByteUTF8() throws {
        let text = "Zähler übergelaufen ✓ 🚀\nzweite Zeile"
        let envelope = SentryEnvelope(
            header: [:], items: [SentryEnvelope.Item(type: "attachment", payload: bytes(text))])
        let encoded = envelope.encode()
        // "{}\n", then the item header line.
        let end = try #require(encoded.dropFirst(3).firstIndex(of: 0x0A))
        let header = try SentryJSON.parse(encoded[3..<end])
        // 36 characters; ä, ü take 2 bytes, ✓ 3, 🚀 4.
        #expect(text.count == 36)
        #expect(text.utf8.count == 43)
        #expect(header["length"] == .int(43))
        let decoded = try SentryEnvelope.decode(encoded)
        #expect(decoded.items.first?.payload == bytes(text))
    }

    @Test func roundTripKeepsHeadersItemsAndPayloads() throws {
        let envelope = SentryEnvelope(
            header: ["event_id": "12c2d058d58442709aa2eca08bf20986", "custom": ["nested": [1, 2.5, true, .null]]],
            items: [
                SentryEnvelope.Item(type: "event", payload: bytes(#"{"a":"\n"}"#), contentType: "application/json"),
                SentryEnvelope.Item(type: "attachment", payload: [0, 10, 13, 255, 10]),
                SentryEnvelope.Item(type: "attachment", payload: []),
            ])
        let decoded = try SentryEnvelope.decode(envelope.encode())
        #expect(decoded == envelope)
        #expect(decoded.eventID == "12c2d058d58442709aa2eca08bf20986")
        #expect(decoded.items.map(\.type) == ["event", "attachment", "attachment"])
        #expect(decoded.encode() == envelope.encode())
    }

    @Test func sentAtIsLeftOutWhenTheEnvelopeIsStoredRatherThanSent() {
        let envelope = SentryEnvelope(eventID: "0123456789abcdef0123456789abcdef", dsn: nil, sentAt: nil, items: [])
        #expect(envelope.header["sent_at"] == nil)
        #expect(envelope.header["dsn"] == nil)
        #expect(
            envelope.encode()
                == bytes(
                    #"{"event_id":"0123456789abcdef0123456789abcdef","sdk":{"name":"steward","version":"0.1.0"}}"#
                        + "\n"))
    }

    @Test func itemHeaderLengthIsAlwaysDerivedFromThePayload() throws {
        let item = SentryEnvelope.Item(header: ["type": "attachment", "length": 999], payload: bytes("abc"))
        #expect(item.header["length"] == nil)
        let encoded = SentryEnvelope(header: [:], items: [item]).encode()
        #expect(encoded == bytes("{}\n" + #"{"length":3,"type":"attachment"}"# + "\nabc\n"))
    }

    // The "Full Examples" of Sentry's envelope specification
    // (getsentry/sentry-docs, develop-docs/sdk/data-model/envelopes.mdx), byte for byte.
    static let specExamples: [(name: String, bytes: [UInt8], payloads: [[UInt8]])] = {
        let header =
            #"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","dsn":"https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42"}"#
        let attachment = #"{"type":"attachment","length":10,"content_type":"text/plain","filename":"hello.txt"}"#
        let event = #"{"type":"event","length":41,"content_type":"application/json","filename":"application.log"}"#
        let hello: [UInt8] = [0xEF, 0xBB, 0xBF] + Array("Hello\r\n".utf8)
        let message = Array(#"{"message":"hello world","level":"error"}"#.utf8)
        let twoItems =
            Array((header + "\n" + attachment + "\n").utf8) + hello + Array(("\n" + event + "\n").utf8) + message
        let empty =
            #"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}"# + "\n"
            + #"{"type":"attachment","length":0}"# + "\n\n" + #"{"type":"attachment","length":0}"# + "\n"
        let implicit =
            #"{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}"# + "\n" + #"{"type":"attachment"}"# + "\nhelloworld"
        let session = #"{"started": "2020-02-07T14:16:00Z","attrs":{"release":"sentry-test@1.0.0"}}"#
        return [
            ("2 items", twoItems + [0x0A], [hello, message]),
            ("2 items, last newline omitted", twoItems, [hello, message]),
            ("2 empty attachments", Array((empty + "\n").utf8), [[], []]),
            ("2 empty attachments, last newline omitted", Array(empty.utf8), [[], []]),
            ("implicit length, terminated by newline", Array((implicit + "\n").utf8), [Array("helloworld".utf8)]),
            ("implicit length, terminated by EOF", Array(implicit.utf8), [Array("helloworld".utf8)]),
            (
                "empty headers, implicit length, EOF", Array(("{}\n" + #"{"type":"session"}"# + "\n" + session).utf8),
                [Array(session.utf8)]
            ),
        ]
    }()

    @Test(arguments: 0..<7)
    func decoderReadsEverySpecificationExample(_ index: Int) throws {
        let example = Self.specExamples[index]
        let envelope = try SentryEnvelope.decode(example.bytes)
        #expect(envelope.items.map(\.payload) == example.payloads, "\(example.name)")
    }

    @Test func decoderKeepsUnknownHeaderAttributes() throws {
        let envelope = try SentryEnvelope.decode(Self.specExamples[0].bytes)
        #expect(envelope.header["dsn"] == "https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42")
        #expect(
            envelope.items[0].header == ["type": "attachment", "content_type": "text/plain", "filename": "hello.txt"])
        #expect(envelope.items[1].header["filename"] == "application.log")
    }

    @Test func decoderTreatsCarriageReturnBeforeAnImplicitNewlineAsPayload() throws {
        let envelope = try SentryEnvelope.decode(bytes("{}\n" + #"{"type":"attachment"}"# + "\nab\r\n"))
        #expect(envelope.items[0].payload == bytes("ab\r"))
    }

    @Test func emptyEnvelopeEndsAfterItsHeader() throws {
        #expect(try SentryEnvelope.decode(bytes("{}")).items.isEmpty)
        #expect(try SentryEnvelope.decode(bytes("{}\n")).items.isEmpty)
    }

    static let malformed: [(String, String)] = [
        ("nothing", ""),
        ("header not JSON", "{\n"),
        ("header not an object", "[]\n"),
        ("header with leading space", " {}\n"),
        ("header with trailing carriage return", "{}\r\n"),
        ("item without type", "{}\n" + #"{"length":1}"# + "\na\n"),
        ("item type not a string", "{}\n" + #"{"type":1,"length":1}"# + "\na\n"),
        ("negative length", "{}\n" + #"{"type":"a","length":-1}"# + "\na\n"),
        ("fractional length", "{}\n" + #"{"type":"a","length":1.5}"# + "\na\n"),
        ("payload shorter than length", "{}\n" + #"{"type":"a","length":5}"# + "\nabc"),
        ("no newline after a payload of declared length", "{}\n" + #"{"type":"a","length":2}"# + "\nabc\n"),
        ("item header at end of file", "{}\n" + #"{"type":"a","length":0}"#),
        ("white space after the final newline", "{}\n" + #"{"type":"a","length":1}"# + "\na\n\n"),
        ("empty item header", "{}\n\n"),
    ]

    @Test(arguments: malformed)
    func decoderRejectsMalformedEnvelopes(_ name: String, _ text: String) {
        #expect(throws: SentryError.self, "\(name)") {
            try SentryEnvelope.decode(Array(text.utf8))
        }
        do {
            _ = try SentryEnvelope.decode(Array(text.utf8))
        } catch {
            #expect(error.code == .malformedEnvelope)
        }
    }
}

@Suite struct SentryJSONTests {
    @Test func encodingIsCompactWithSortedKeysAndEscapesOnlyWhatJSONRequires() {
        let value: SentryJSON = ["b": 1, "a": "é/\"\\\n\t\u{01}\u{7F}", "c": [true, false, .null, 2.5, 60.0], "B": -3]
        #expect(
            String(decoding: value.encoded(), as: UTF8.self)
                == #"{"B":-3,"a":"é/\"\\\n\t\u0001\u007f","b":1,"c":[true,false,null,2.5,60.0]}"#)
    }

    @Test func nonFiniteNumbersEncodeAsNull() {
        #expect(SentryJSON.array([.double(.nan), .double(.infinity)]).encoded() == Array("[null,null]".utf8))
    }

    @Test func parsingKeepsIntegersApartFromFloatsAndDecodesEscapes() throws {
        let value = try SentryJSON.parse(
            Array(#" {"i": 9007199254740993, "f": 1e2, "s": "\u00e9\ud83d\ude80\/", "n": null} "#.utf8))
        #expect(value == ["i": .int(9_007_199_254_740_993), "f": .double(100), "s": "é🚀/", "n": .null])
    }

    @Test func encodingAndParsingRoundTrip() throws {
        let value: SentryJSON = ["text": "Zähler ✓ 🚀 \u{0}", "list": [[], [:], -0.5, 1_000_000_000_000]]
        #expect(try SentryJSON.parse(value.encoded()) == value)
    }

    @Test(arguments: [
        "", "{", "[1,]", "{\"a\":1,}", "01", "1.", "-", "\"\\x\"", "\"a\u{01}\"", "tru", "{\"a\":1}x",
        "{\"a\":1,\"a\":2}", "\"\\ud800\"", "{1:2}",
    ])
    func parsingRejectsInvalidJSON(_ text: String) {
        #expect(throws: SentryError.self) { try SentryJSON.parse(Array(text.utf8)) }
    }
}
