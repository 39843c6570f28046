import StewardTelemetry
import Testing

@Suite struct OTLPPartialSuccessTests {
    typealias Outcome = OTLPPartialSuccess.Outcome

    private static func partial(_ rejected: Int64, _ message: String) -> Outcome {
        .partialSuccess(OTLPPartialSuccess(rejected: rejected, errorMessage: message))
    }

    /// Bodies a receiver may send, and what they mean.
    static let table: [(body: String, outcome: Outcome)] = [
        ("", .fullSuccess),
        ("  \n", .fullSuccess),
        ("{}", .fullSuccess),
        (#"{"partialSuccess":null}"#, .fullSuccess),
        (#"{"partialSuccess":{}}"#, .fullSuccess),
        (#"{"partialSuccess":{"rejectedLogRecords":"0","errorMessage":""}}"#, .fullSuccess),
        (
            #"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"3 records too large"}}"#,
            partial(3, "3 records too large")
        ),
        (#"{"partialSuccess":{"rejectedLogRecords":3}}"#, partial(3, "")),
        (#"{"partialSuccess":{"rejectedDataPoints":"12","errorMessage":"bad unit"}}"#, partial(12, "bad unit")),
        (#"{"partial_success":{"rejected_data_points":"2","error_message":"snake case"}}"#, partial(2, "snake case")),
        (
            #"{"partialSuccess":{"rejectedLogRecords":"0","errorMessage":"deprecated field"}}"#,
            partial(0, "deprecated field")
        ),
        (#"{"partialSuccess":{"errorMessage":"esc\"aped \u00e9 \ud83e\udd8a\n"}}"#, partial(0, "esc\"aped é 🦊\n")),
        (#"{"partialSuccess":{"rejectedLogRecords":"9223372036854775807"}}"#, partial(Int64.max, "")),
        (
            #" { "future" : [1, {"a": [true, false, null]}, -2.5e3], "partialSuccess" : { "unknown": {"x": 1}, "rejectedSpans": "1" } } "#,
            partial(1, "")
        ),
        // Hostile or broken bodies.
        ("{", .unreadable),
        ("[]", .unreadable),
        ("null", .unreadable),
        ("\"partialSuccess\"", .unreadable),
        (#"{"partialSuccess":{"rejectedLogRecords":"9223372036854775808"}}"#, .unreadable),
        (#"{"partialSuccess":{"rejectedLogRecords":"-1"}}"#, .unreadable),
        (#"{"partialSuccess":{"rejectedLogRecords":-1}}"#, .unreadable),
        (#"{"partialSuccess":{"rejectedLogRecords":1.5}}"#, .unreadable),
        (#"{"partialSuccess":{"rejectedLogRecords":"3x"}}"#, .unreadable),
        (#"{"partialSuccess":{"rejectedLogRecords":true}}"#, .unreadable),
        (#"{"partialSuccess":"3"}"#, .unreadable),
        (#"{"partialSuccess":{"errorMessage":"\ud800"}}"#, .unreadable),
        (#"{"partialSuccess":{"errorMessage":"\x"}}"#, .unreadable),
        ("{\"partialSuccess\":{\"errorMessage\":\"raw\ncontrol\"}}", .unreadable),
        (#"{"partialSuccess":{}} trailing"#, .unreadable),
        (#"{"a":1,}"#, .unreadable),
        (#"{"a" 1}"#, .unreadable),
        (#"{"a":01}"#, .unreadable),
        (#"{"a":tru}"#, .unreadable),
        ("<html>502 Bad Gateway</html>", .unreadable),
    ]

    @Test(arguments: table)
    func responseBodiesAreReadAsTheSpecificationDescribes(body: String, outcome: Outcome) {
        #expect(OTLPPartialSuccess.parse(responseBody: Array(body.utf8)) == outcome)
    }

    @Test func deeplyNestedBodiesAreRefusedWithoutExhaustingTheStack() {
        let deep = "{\"x\":" + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}"
        #expect(OTLPPartialSuccess.parse(responseBody: Array(deep.utf8)) == .unreadable)
        let withinLimit = "{\"x\":" + String(repeating: "[", count: 20) + String(repeating: "]", count: 20) + "}"
        #expect(OTLPPartialSuccess.parse(responseBody: Array(withinLimit.utf8)) == .fullSuccess)
    }

    @Test func oversizedBodiesAreRefused() {
        let padding = String(repeating: " ", count: OTLPPartialSuccess.maximumBodySize)
        #expect(OTLPPartialSuccess.parse(responseBody: Array(("{}" + padding).utf8)) == .unreadable)
        #expect(OTLPPartialSuccess.parse(responseBody: Array(("{}" + padding.dropFirst(2)).utf8)) == .fullSuccess)
    }

    @Test func longMessagesAreCut() throws {
        let long = String(repeating: "é", count: 5_000)
        let body = #"{"partialSuccess":{"rejectedDataPoints":"1","errorMessage":""# + long + #""}}"#
        guard case .partialSuccess(let partial) = OTLPPartialSuccess.parse(responseBody: Array(body.utf8)) else {
            Issue.record("expected a partial success")
            return
        }
        #expect(partial.errorMessage.count == OTLPPartialSuccess.maximumMessageLength)
        #expect(partial.rejected == 1 && !partial.isWarning)
    }

    @Test func warningsAreRecognised() {
        #expect(OTLPPartialSuccess(rejected: 0, errorMessage: "slow down").isWarning)
        #expect(!OTLPPartialSuccess(rejected: 2, errorMessage: "dropped").isWarning)
    }

    @Test func arbitraryBytesNeverTrap() {
        // A fixed-seed generator: deterministic, yet covers truncations and byte soup.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        let seed = Array(
            #"{"partialSuccess":{"rejectedLogRecords":"3","errorMessage":"a\u00e9\"b"},"x":[1,2.5e-3,true,null]}"#.utf8)
        let alphabet = Array(#"{}[]":,\u0123456789eE+-.tfnrlsa "#.utf8) + [0x00, 0x0A, 0xFF, 0xC3, 0xA9]
        for round in 0..<5_000 {
            var body = Array(seed.prefix(Int(next() % UInt64(seed.count + 1))))
            for _ in 0..<Int(next() % 6) where !body.isEmpty {
                body[Int(next() % UInt64(body.count))] = alphabet[Int(next() % UInt64(alphabet.count))]
            }
            if round % 3 == 0 {
                body = (0..<Int(next() % 64)).map { _ in alphabet[Int(next() % UInt64(alphabet.count))] }
            }
            _ = OTLPPartialSuccess.parse(responseBody: body)
        }
        #expect(OTLPPartialSuccess.parse(responseBody: seed) == Self.partial(3, "aé\"b"))
    }
}
