import Foundation
import StewardCore
import Testing

/// W3C trace context values as tracers hand them over.
@Suite struct TraceContextTests {
    static let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let span = "00f067aa0ba902b7"

    @Test func aVersion00TraceparentIsRead() throws {
        let context = try #require(TraceContext(traceparent: "00-\(Self.trace)-\(Self.span)-01"))
        #expect(context.traceID == Self.trace && context.spanID == Self.span)
        #expect(TraceContext(traceparent: "00-\(Self.trace)-\(Self.span)-00") == context, "sampled or not")
    }

    @Test func aLaterVersionMayCarryMoreFields() {
        #expect(TraceContext(traceparent: "cc-\(Self.trace)-\(Self.span)-01-more") != nil)
        #expect(TraceContext(traceparent: "cc-\(Self.trace)-\(Self.span)-01") != nil)
        #expect(TraceContext(traceparent: "cc-\(Self.trace)-\(Self.span)-01x") == nil, "a field needs its dash")
    }

    @Test(arguments: [
        "", "00", "00-\(trace)-\(span)", "00-\(trace)-\(span)-01-extra", "ff-\(trace)-\(span)-01",
        "00-\(trace.uppercased())-\(span)-01", "00-00000000000000000000000000000000-\(span)-01",
        "00-\(trace)-0000000000000000-01", "00-\(trace)-\(span)-0g", "00_\(trace)-\(span)-01",
        "00-\(trace.dropLast())x-\(span)-01", String(repeating: "a", count: 600),
    ])
    func malformedValuesAreRefused(_ value: String) {
        #expect(TraceContext(traceparent: value) == nil)
    }

    @Test func idsAreValidatedAndLowercased() throws {
        let context = try #require(TraceContext(traceID: Self.trace.uppercased(), spanID: Self.span))
        #expect(context.traceID == Self.trace)
        #expect(TraceContext(traceID: Self.trace, spanID: "00f067aa0ba902") == nil)
        #expect(TraceContext(traceID: String(repeating: "0", count: 32), spanID: Self.span) == nil)
        #expect(TraceContext(traceID: "zz" + Self.trace.dropFirst(2), spanID: Self.span) == nil)
    }

    @Test func itRoundTripsThroughJSONAndRefusesBadIds() throws {
        let context = try #require(TraceContext(traceID: Self.trace, spanID: Self.span))
        let data = try JSONEncoder().encode(context)
        #expect(try JSONDecoder().decode(TraceContext.self, from: data) == context)
        let bad = Data(#"{"traceID":"00000000000000000000000000000000","spanID":"00f067aa0ba902b7"}"#.utf8)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(TraceContext.self, from: bad) }
    }
}
