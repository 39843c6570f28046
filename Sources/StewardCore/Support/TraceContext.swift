import Synchronization

/// The trace and span the host's current work belongs to, as W3C Trace Context and OTLP name
/// them: a 16-byte trace id and an 8-byte span id, in lowercase hex.
///
/// Steward starts no spans of its own. When the host traces its work (swift-distributed-tracing,
/// through the `StewardTracing` product, or any tracer through ``install(_:)``), events recorded,
/// handled errors reported and breadcrumbs added while a span is current carry its ids, so a
/// log record, an error report and a trace can be joined in the backend.
///
/// ```swift
/// TraceContext.install { myTracer.currentSpan.map { TraceContext(traceID: $0.traceID, spanID: $0.spanID) } ?? nil }
/// let context = TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
/// ```
public struct TraceContext: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The trace id: 32 lowercase hex digits, not all zero.
    public let traceID: String
    /// The span id: 16 lowercase hex digits, not all zero.
    public let spanID: String

    /// A context from ids in hex (either case; kept in lowercase), or nil when either is not
    /// exactly 32 (trace) or 16 (span) hex digits, or is all zeros (invalid in W3C Trace Context
    /// and in OTLP).
    public init?(traceID: String, spanID: String) {
        guard let trace = Self.normalised(traceID, digits: 32), let span = Self.normalised(spanID, digits: 16) else {
            return nil
        }
        self.traceID = trace
        self.spanID = span
    }

    /// A context from a W3C `traceparent` header value (`version-traceid-parentid-flags`, lowercase
    /// hex), or nil when it is malformed: version `00` must have exactly four fields; a later
    /// version may have more after the flags (read as the standard says); version `ff`,
    /// uppercase digits and all-zero ids are invalid. Values over 512 bytes are refused.
    public init?(traceparent: String) {
        let bytes = Array(traceparent.utf8.prefix(513))
        guard bytes.count >= 55, bytes.count <= 512 else { return nil }
        func isHex(_ range: Range<Int>) -> Bool {
            bytes[range].allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        }
        func isDash(_ index: Int) -> Bool { bytes[index] == UInt8(ascii: "-") }
        guard isHex(0..<2), isDash(2), isHex(3..<35), isDash(35), isHex(36..<52), isDash(52), isHex(53..<55) else {
            return nil
        }
        let version = String(decoding: bytes[0..<2], as: UTF8.self)
        guard version != "ff" else { return nil }
        if version == "00" {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 {
            guard isDash(55) else { return nil }
        }
        self.init(
            traceID: String(decoding: bytes[3..<35], as: UTF8.self),
            spanID: String(decoding: bytes[36..<52], as: UTF8.self))
    }

    /// `traceID-spanID`.
    public var description: String { traceID + "-" + spanID }

    private enum CodingKeys: String, CodingKey {
        case traceID, spanID
    }

    /// Decodes `{"traceID": …, "spanID": …}`; ids that are not valid are a decoding error.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let trace = try container.decode(String.self, forKey: .traceID)
        let span = try container.decode(String.self, forKey: .spanID)
        guard let context = TraceContext(traceID: trace, spanID: span) else {
            throw DecodingError.dataCorruptedError(
                forKey: .traceID, in: container, debugDescription: "not a valid trace and span id")
        }
        self = context
    }

    private static func normalised(_ text: String, digits: Int) -> String? {
        guard text.utf8.count == digits, let bytes = Hex.decode(text), bytes.contains(where: { $0 != 0 }) else {
            return nil
        }
        return Hex.encode(bytes)
    }

    // MARK: - The current context

    private static let provider = Mutex<(@Sendable () -> TraceContext?)?>(nil)
    /// Read first, so a process without a provider pays one atomic load per event.
    private static let hasProvider = Atomic<Bool>(false)

    /// Installs the function Steward asks for the current context whenever it records an event,
    /// reports a handled error or adds a breadcrumb; nil removes it. One per process: a later
    /// call replaces the earlier provider. The function runs on the caller's thread of those
    /// calls, so it must be fast and must not call back into Steward.
    public static func install(_ provider: (@Sendable () -> TraceContext?)?) {
        self.provider.withLock { $0 = provider }
        hasProvider.store(provider != nil, ordering: .releasing)
    }

    /// The context of the caller's current work, from the installed provider; nil when there is
    /// no provider or no current span.
    public static var current: TraceContext? {
        guard hasProvider.load(ordering: .acquiring) else { return nil }
        return provider.withLock { $0 }?()
    }
}
