public import Foundation
public import StewardCore

/// A Sentry envelope: a header and items, each item a header and a payload.
///
/// The wire format (Sentry's developer documentation, "Envelopes") is a JSON header line, then
/// for each item a JSON item-header line and the payload, each followed by `\n`:
///
/// ```text
/// {"dsn":"https://pub@host/1","event_id":"…","sent_at":"2026-11-29T13:14:47.250Z"}\n
/// {"content_type":"application/json","length":1234,"type":"event"}\n
/// {…1234 bytes…}\n
/// ```
///
/// ``encode()`` always writes each item's `length` (the exact payload byte count), so payloads
/// may hold newlines or any bytes. `decode(_:)` is strict and also reads items without a
/// `length`, whose payload runs to the next newline or the end.
///
/// ```swift
/// let envelope = SentryEnvelope(eventID: report.id, dsn: dsn, sentAt: now,
///                               items: [SentryEventEncoder().item(for: report)])
/// let body = envelope.encode() // POST to dsn.envelopeURL
/// ```
public struct SentryEnvelope: Hashable, Sendable {
    /// One item: its header and its payload bytes.
    public struct Item: Hashable, Sendable {
        /// The item header without `length`, which ``SentryEnvelope/encode()`` derives from
        /// ``payload``. Holds at least `type`.
        public var header: [String: SentryJSON]
        /// The payload bytes.
        public var payload: [UInt8]

        /// The item's `type` (`event`, `session`, `attachment`, …).
        public var type: String? { header["type"]?.stringValue }

        /// An item of a given type.
        ///
        /// - Parameters:
        ///   - type: The item type, such as `event` or `session`.
        ///   - payload: The payload bytes.
        ///   - contentType: The `content_type` header, when the item type wants one.
        ///   - extraHeader: Further header attributes (`filename`, `attachment_type`, …).
        ///
        /// ```swift
        /// let item = SentryEnvelope.Item(type: "attachment", payload: Array("hi".utf8),
        ///                                contentType: "text/plain", extraHeader: ["filename": "hi.txt"])
        /// ```
        public init(type: String, payload: [UInt8], contentType: String? = nil, extraHeader: [String: SentryJSON] = [:])
        {
            var header = extraHeader
            header["type"] = .string(type)
            if let contentType { header["content_type"] = .string(contentType) }
            header["length"] = nil
            self.header = header
            self.payload = payload
        }

        /// An item from a raw header; a `length` in it is dropped (the payload decides).
        ///
        /// - Parameters:
        ///   - header: The item header; should hold `type`.
        ///   - payload: The payload bytes.
        ///
        /// ```swift
        /// let item = SentryEnvelope.Item(header: ["type": "session"], payload: bytes)
        /// ```
        public init(header: [String: SentryJSON], payload: [UInt8]) {
            var header = header
            header["length"] = nil
            self.header = header
            self.payload = payload
        }
    }

    /// The envelope header: `event_id`, `dsn`, `sent_at`, `sdk` and any others.
    public var header: [String: SentryJSON]
    /// The items, in order.
    public var items: [Item]

    /// The envelope header's `event_id`.
    public var eventID: String? { header["event_id"]?.stringValue }

    /// An envelope from a raw header and items.
    ///
    /// - Parameters:
    ///   - header: The envelope header; may be empty.
    ///   - items: The items.
    ///
    /// ```swift
    /// let envelope = SentryEnvelope(header: [:], items: [sessionItem])
    /// ```
    public init(header: [String: SentryJSON], items: [Item]) {
        self.header = header
        self.items = items
    }

    /// An envelope with the standard header attributes.
    ///
    /// Sentry asks that `sent_at` be written only when the envelope is actually sent, never
    /// when it is stored for later: pass `nil` when caching to disk and set it at upload.
    ///
    /// - Parameters:
    ///   - eventID: The `event_id` of the event item, when there is one.
    ///   - dsn: The DSN, written without its secret as the `dsn` header so the envelope
    ///     authenticates itself.
    ///   - sentAt: The `sent_at` time, RFC 3339 in UTC with milliseconds.
    ///   - sdkName: The `sdk.name` header.
    ///   - sdkVersion: The `sdk.version` header.
    ///   - items: The items.
    ///
    /// ```swift
    /// let envelope = SentryEnvelope(eventID: report.id, dsn: dsn, sentAt: clock.now, items: items)
    /// ```
    public init(
        eventID: String?, dsn: SentryDSN?, sentAt: Date?, sdkName: String = "steward",
        sdkVersion: String = StewardVersion.current, items: [Item]
    ) {
        var header: [String: SentryJSON] = ["sdk": ["name": .string(sdkName), "version": .string(sdkVersion)]]
        if let eventID { header["event_id"] = .string(eventID) }
        if let dsn { header["dsn"] = .string(dsn.redacted) }
        if let sentAt { header["sent_at"] = .string(SentryFormat.timestamp(sentAt)) }
        self.init(header: header, items: items)
    }

    /// The wire bytes: header line, then each item's header line (with `length`) and payload,
    /// each followed by `\n`.
    ///
    /// JSON is compact with keys sorted, so the same envelope always gives the same bytes.
    ///
    /// - Returns: The envelope body, for `Content-Type: application/x-sentry-envelope`.
    ///
    /// ```swift
    /// let body = envelope.encode()
    /// ```
    public func encode() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(items.reduce(256) { $0 + $1.payload.count + 96 })
        SentryJSON.object(header).write(to: &out)
        out.append(0x0A)
        for item in items {
            var itemHeader = item.header
            itemHeader["length"] = .int(Int64(item.payload.count))
            SentryJSON.object(itemHeader).write(to: &out)
            out.append(0x0A)
            out.append(contentsOf: item.payload)
            out.append(0x0A)
        }
        return out
    }

    /// Parses envelope bytes strictly.
    ///
    /// Header lines must be single-line JSON objects without surrounding white space. An item
    /// with `length` takes exactly that many bytes, which must be followed by `\n` or the end;
    /// an item without `length` runs to the next `\n` or the end (a `\r` before it belongs to
    /// the payload). Each item header must have a string `type`. Nothing may follow the final
    /// newline.
    ///
    /// - Parameter bytes: The envelope.
    /// - Returns: The header and the items (item headers without `length`).
    /// - Throws: ``SentryError`` with code ``SentryError/Code/malformedEnvelope``, saying
    ///   where and why.
    ///
    /// ```swift
    /// let envelope = try SentryEnvelope.decode(body)  // tests and fuzz targets only: Steward never reads envelopes
    /// envelope.items.first?.type // "event"
    /// ```
    static func decode(_ bytes: some Collection<UInt8>) throws(SentryError) -> SentryEnvelope {
        let bytes = Array(bytes)
        var index = 0

        func fail(_ what: String) -> SentryError {
            SentryError(.malformedEnvelope, "Malformed Sentry envelope at byte \(index): \(what).")
        }

        // Reads a header line up to "\n" or the end; returns the object and whether "\n" ended it.
        func headerLine(_ name: String) throws(SentryError) -> (object: [String: SentryJSON], newline: Bool) {
            let end = bytes[index...].firstIndex(of: 0x0A) ?? bytes.count
            let line = bytes[index..<end]
            guard let first = line.first, let last = line.last else { throw fail("empty \(name)") }
            let space: Set<UInt8> = [0x20, 0x09, 0x0D]
            guard !space.contains(first), !space.contains(last) else {
                throw fail("white space around the \(name)")
            }
            let value: SentryJSON
            do { value = try SentryJSON.parse(line) } catch {
                throw fail("the \(name) is not valid JSON (\(error.message))")
            }
            guard let object = value.objectValue else { throw fail("the \(name) is not a JSON object") }
            let newline = end < bytes.count
            index = newline ? end + 1 : end
            return (object, newline)
        }

        guard !bytes.isEmpty else { throw fail("no envelope header") }
        let (header, _) = try headerLine("envelope header")
        var items: [Item] = []
        while index < bytes.count {
            let (itemHeader, newline) = try headerLine("item header")
            guard itemHeader["type"]?.stringValue != nil else { throw fail("item header without a string \"type\"") }
            // A payload is always expected after an item header, even an empty one.
            guard newline else { throw fail("no newline after the item header") }
            let payload: [UInt8]
            if let lengthValue = itemHeader["length"] {
                guard let length = lengthValue.intValue, length >= 0 else {
                    throw fail("item \"length\" is not a non-negative integer")
                }
                guard length <= bytes.count - index else {
                    throw fail("the payload ends before its length (\(length) bytes)")
                }
                payload = Array(bytes[index..<(index + Int(length))])
                index += Int(length)
                if index < bytes.count {
                    guard bytes[index] == 0x0A else { throw fail("no newline after a payload of declared length") }
                    index += 1
                }
            } else {
                let end = bytes[index...].firstIndex(of: 0x0A) ?? bytes.count
                payload = Array(bytes[index..<end])
                index = end < bytes.count ? end + 1 : end
            }
            items.append(Item(header: itemHeader, payload: payload))
        }
        return SentryEnvelope(header: header, items: items)
    }
}
