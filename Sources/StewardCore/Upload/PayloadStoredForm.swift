import struct Foundation.Date

// The stored form of a queued payload (the uploader's records in the vault).

extension Payload {
    /// "SWO" + format version 1.
    private static let outboxMagic: [UInt8] = [0x53, 0x57, 0x4F, 0x01]

    /// The payload as the uploader stores it in the vault: a compact binary form (JSON would
    /// spell every body byte as a decimal number). Little-endian; strings and the body are a
    /// UInt32 length then the bytes; `created` is the bit pattern of `Date`'s own storage (seconds
    /// since 2001), so the payload reads back equal.
    ///
    /// ```
    /// magic "SWO\u{1}" | recipient | purpose | contentType | idempotencyKey | created u64
    /// | categories: u32 count, strings | headers: u32 count, (name, value) sorted by name | body
    /// ```
    func outboxRecord() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(body.count + contentType.utf8.count + idempotencyKey.utf8.count + 96)
        out += Self.outboxMagic
        func put(_ value: UInt32) { withUnsafeBytes(of: value.littleEndian) { out += $0 } }
        func put(_ string: String) {
            put(UInt32(truncatingIfNeeded: string.utf8.count))
            out += string.utf8
        }
        put(recipient.rawValue)
        put(purpose.rawValue)
        put(contentType)
        put(idempotencyKey)
        withUnsafeBytes(of: created.timeIntervalSinceReferenceDate.bitPattern.littleEndian) { out += $0 }
        put(UInt32(truncatingIfNeeded: categories.count))
        for category in categories { put(category.rawValue) }
        put(UInt32(truncatingIfNeeded: headers.count))
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) {
            put(name)
            put(value)
        }
        put(UInt32(truncatingIfNeeded: body.count))
        out += body
        return out
    }

    /// Reads ``outboxRecord()``'s form; nil for anything else (never traps).
    package init?(outboxRecord bytes: [UInt8]) {
        var reader = ByteReader(bytes)
        guard reader.take(4).map(Array.init) == Self.outboxMagic,
            let recipient = reader.lengthPrefixedString(), let purpose = reader.lengthPrefixedString(),
            let contentType = reader.lengthPrefixedString(), let key = reader.lengthPrefixedString(),
            let createdBits = reader.u64(), let categoryCount = reader.u32()
        else { return nil }
        let created = Double(bitPattern: createdBits)
        var categories: [DataCategory] = []
        for _ in 0..<categoryCount {
            guard let category = reader.lengthPrefixedString() else { return nil }
            categories.append(DataCategory(rawValue: category))
        }
        guard let headerCount = reader.u32() else { return nil }
        var headers: [String: String] = [:]
        for _ in 0..<headerCount {
            guard let name = reader.lengthPrefixedString(), let value = reader.lengthPrefixedString() else {
                return nil
            }
            headers[name] = value
        }
        guard let bodyCount = reader.u32(), let body = reader.take(Int(bodyCount)), reader.isAtEnd else { return nil }
        self.init(
            recipient: RecipientID(rawValue: recipient), purpose: Purpose(rawValue: purpose), categories: categories,
            contentType: contentType, headers: headers, body: Array(body), idempotencyKey: key,
            created: Date(timeIntervalSinceReferenceDate: created))
    }
}
