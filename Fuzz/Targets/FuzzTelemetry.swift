import Foundation
import StewardCore
@testable import StewardTelemetry

/// The body of an OTLP collector's `200 OK` answer, read for its partial success.
///
/// Checks: never traps, at most linear work (the 1 s timeout); a partial success reports a
/// non-negative count and a message no longer than the documented cap; a body over 64 KiB is
/// unreadable. A generated `partialSuccess` object reads back its own count and message.
public enum FuzzOTLPResponse: FuzzTarget {
    public static let name = "FuzzOTLPResponse"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        switch OTLPPartialSuccess.parse(responseBody: input) {
        case .partialSuccess(let partial):
            try require(partial.rejected >= 0, "a partial success rejected \(partial.rejected) items")
            try require(
                partial.errorMessage.count <= OTLPPartialSuccess.maximumMessageLength,
                "the error message kept \(partial.errorMessage.count) characters")
        case .fullSuccess, .unreadable:
            break
        }
        // Round trip: the count and message written as JSON read back.
        var reader = FuzzReader(input)
        let count = Int64(reader.u64() & 0x7FFF_FFFF_FFFF_FFFF)
        let message = reader.string(upTo: 2048)
        guard
            let json = try? JSONSerialization.data(withJSONObject: [
                "partialSuccess": ["rejectedLogRecords": String(count), "errorMessage": message]
            ]),
            json.count <= OTLPPartialSuccess.maximumBodySize
        else { return }
        let expected =
            message.count <= OTLPPartialSuccess.maximumMessageLength
            ? message : String(message.prefix(OTLPPartialSuccess.maximumMessageLength))
        switch OTLPPartialSuccess.parse(responseBody: [UInt8](json)) {
        case .partialSuccess(let partial):
            try require(
                partial.rejected == count && partial.errorMessage == expected,
                "wrote \(count) and \(expected.debugDescription), read \(partial)")
        case .fullSuccess:
            try require(
                count == 0 && message.isEmpty, "wrote \(count) and \(message.debugDescription), read a full success")
        case .unreadable:
            throw PropertyViolation(
                "a well-formed partial success (\(count), \(message.debugDescription)) was unreadable")
        }
    }
}

/// Stored telemetry batches (`BatchCoding`), decoded, re-encoded and turned into OTLP.
///
/// Input: a selector byte. Even: the rest is a stored batch; what decodes must encode and
/// decode to the same records, and its OTLP/JSON logs body must be valid JSON. Odd: the rest
/// describes records, which must survive encode then decode unchanged
/// (decode(encode(x)) == x, doubles compared bit for bit).
public enum FuzzBatchCoding: FuzzTarget {
    public static let name = "FuzzBatchCoding"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let records: [TelemetryEventRecord]
        if selector & 1 == 0 {
            guard let decoded = BatchCoding.decode(Array(input.dropFirst())) else { return }
            records = decoded
        } else {
            var reader = FuzzReader(Array(input.dropFirst()))
            var made: [TelemetryEventRecord] = []
            while !reader.isEmpty && made.count < 64 {
                var attributes: [String: AttributeValue] = [:]
                for _ in 0..<(reader.byte() % 8) {
                    let key = reader.string(upTo: 32)
                    switch reader.byte() % 4 {
                    case 0: attributes[key] = .string(reader.string(upTo: 256))
                    case 1: attributes[key] = .int(Int64(bitPattern: reader.u64()))
                    case 2: attributes[key] = .double(Double(bitPattern: reader.u64()))
                    default: attributes[key] = .bool(reader.bool())
                    }
                }
                made.append(
                    TelemetryEventRecord(
                        name: EventName(rawValue: reader.string(upTo: 64)),
                        purpose: Purpose(rawValue: reader.string(upTo: 32)),
                        category: DataCategory(rawValue: reader.string(upTo: 32)), timeUnixNano: reader.u64(),
                        observedTimeUnixNano: reader.u64(),
                        attributes: attributes, severityNumber: Int(Int32(bitPattern: reader.u32())),
                        traceID: reader.bool() ? reader.string(upTo: 32) : nil,
                        spanID: reader.bool() ? reader.string(upTo: 16) : nil))
            }
            records = made
        }
        guard let again = BatchCoding.decode(BatchCoding.encode(records)) else {
            throw PropertyViolation("an encoded batch of \(records.count) records does not decode")
        }
        try require(
            again.count == records.count && zip(again, records).allSatisfy(sameRecord),
            "decode(encode(x)) differs from x (\(records.count) records)")
        let body = OTLPEncoder().logs(
            resource: TelemetryResource(serviceName: "fuzz"), scope: (name: "steward", version: "1"), records: records)
        try require(
            (try? JSONSerialization.jsonObject(with: Data(body))) != nil,
            "the OTLP logs body is not valid JSON: \(String(decoding: body.prefix(300), as: UTF8.self))")
    }

    /// Equal records, doubles compared by their bits (NaN included).
    static func sameRecord(_ a: TelemetryEventRecord, _ b: TelemetryEventRecord) -> Bool {
        guard a.name == b.name, a.purpose == b.purpose, a.category == b.category, a.timeUnixNano == b.timeUnixNano,
            a.observedTimeUnixNano == b.observedTimeUnixNano, a.severityNumber == b.severityNumber,
            a.traceID == b.traceID, a.spanID == b.spanID, a.attributes.count == b.attributes.count
        else { return false }
        return a.attributes.allSatisfy { key, value in
            switch (value, b.attributes[key]) {
            case (.double(let x), .double(let y)?): return x.bitPattern == y.bitPattern
            case (let x, let y?): return x == y
            default: return false
            }
        }
    }
}

/// The OpenTelemetry exporter variables (`OTLPEnvironment`): the input is lines of `NAME=value`
/// (a name without the `OTEL_` prefix gets it), read as an environment.
///
/// Checks: never traps; no problem quotes a header value; no kept resource attribute has a key
/// Steward refuses (identifying or Steward's own); every endpoint has a scheme and a host; a
/// timeout is positive.
public enum FuzzOTelEnvironment: FuzzTarget {
    public static let name = "FuzzOTelEnvironment"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        var environment: [String: String] = [:]
        for line in String(decoding: input, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            guard let equals = line.firstIndex(of: "=") else { continue }
            var name = String(line[..<equals])
            if !name.hasPrefix("OTEL_") { name = "OTEL_" + name }
            environment[name] = String(line[line.index(after: equals)...])
        }
        let otlp = OTLPEnvironment(reading: environment)
        let text = otlp.problems.joined(separator: "\n")
        // Values of the other variables may be quoted (a bad timeout says what it was): a header
        // value that also stands inside one of them is not a leak when a problem shows it.
        let quotable = environment.filter { !$0.key.hasSuffix("_HEADERS") }.values
        for signal in [otlp.logs, otlp.metrics] {
            for value in signal.headers.values
            where value.count >= 8 && !quotable.contains(where: { $0.contains(value) }) {
                try require(!text.contains(value), "a problem quotes the header value \(value.debugDescription)")
            }
            if let endpoint = signal.endpoint {
                try require(endpoint.scheme?.isEmpty == false && endpoint.host != nil, "endpoint \(endpoint)")
            }
            if let timeout = signal.timeout { try require(timeout > .zero, "timeout \(timeout)") }
        }
        for key in otlp.resourceAttributes.keys {
            try require(!OTLPEnvironment.stewardResourceKeys.contains(key), "kept Steward's own key \(key)")
            try require(
                !OTLPEnvironment.identifyingResourceKeys.contains {
                    key.hasPrefix($0)
                },
                "kept the identifying key \(key)")
        }
    }
}

/// A W3C `traceparent` header value, as a tracer hands it over (`TraceContext(traceparent:)`),
/// and trace and span ids in hex (`TraceContext(traceID:spanID:)`).
///
/// Input: a selector byte. Even: the rest is a `traceparent` value. Odd: two strings, a trace
/// id and a span id. Checks: a context read has a 32-digit trace id and a 16-digit span id in
/// lowercase hex, neither all zeros; a version-00 value it came from is exactly
/// `00-TRACE-SPAN-FLAGS`; written back as a version-00 value it reads to the same context;
/// ids are the input's, lowercased.
public enum FuzzTraceparent: FuzzTarget {
    public static let name = "FuzzTraceparent"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        var reader = FuzzReader(input)
        let context: TraceContext?
        if reader.byte() % 2 == 0 {
            let value = String(decoding: reader.rest, as: UTF8.self)
            context = TraceContext(traceparent: value)
            if let context, value.hasPrefix("00-") {
                try require(
                    value.utf8.count == 55
                        && value.dropFirst(3).hasPrefix(context.traceID + "-" + context.spanID + "-"),
                    "\(value.debugDescription) read as \(context)")
            }
        } else {
            let trace = reader.string(upTo: 40), span = reader.string(upTo: 24)
            context = TraceContext(traceID: trace, spanID: span)
            if let context {
                try require(
                    context.traceID == trace.lowercased() && context.spanID == span.lowercased(),
                    "\(trace.debugDescription), \(span.debugDescription) read as \(context)")
            }
        }
        guard let context else { return }
        let lowerHex = { (text: String) in
            text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        try require(
            context.traceID.utf8.count == 32 && context.spanID.utf8.count == 16 && lowerHex(context.traceID)
                && lowerHex(context.spanID), "ids \(context)")
        try require(
            context.traceID != String(repeating: "0", count: 32) && context.spanID != String(repeating: "0", count: 16),
            "an all-zero id in \(context)")
        let again = TraceContext(traceparent: "00-\(context.traceID)-\(context.spanID)-01")
        try require(again == context, "\(context) written back read as \(String(describing: again))")
    }
}
