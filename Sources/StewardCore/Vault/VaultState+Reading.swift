import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension VaultState {
    // MARK: - Reading

    mutating func readBatch(
        collection name: String, after: UInt64?, limit: Int, byteLimit: Int = .max
    ) throws -> [VaultRecord] {
        try checkUsable()
        guard let store = collections[name] else { return [] }
        var start = 0
        if let after {
            var low = 0, high = store.entries.count
            while low < high {
                let mid = (low + high) / 2
                if store.entries[mid].id <= after { low = mid + 1 } else { high = mid }
            }
            start = low
        }
        var result: [VaultRecord] = []
        var bytes = 0
        var index = start
        // Read from the vault's current index at each step: a decryption that fails quarantines
        // its record and changes the index.
        while result.count < limit, let current = collections[name], index < current.entries.count {
            let entry = current.entries[index]
            guard entry.live else {
                index += 1
                continue
            }
            // At least one record, however large: the batch never comes back empty while
            // records are left.
            if !result.isEmpty, entry.length > byteLimit - bytes { break }
            index += 1
            if let record = try decrypt(entry, collection: name) {
                result.append(record)
                bytes += entry.length
            }
        }
        return result
    }

    mutating func read(id: RecordID.RawValue, collection name: String) throws -> VaultRecord? {
        try checkUsable()
        guard let first = collections[name]?.index(of: id) else { return nil }
        var i = first
        // Normally one entry per id; a forged frame may add another. Return the sound one.
        while let entry = collections[name].flatMap({ i < $0.entries.count ? $0.entries[i] : nil }), entry.id == id {
            if entry.live, let record = try decrypt(entry, collection: name) { return record }
            i += 1
        }
        return nil
    }

    /// The frame bytes of `entry`, from the staging buffer or the segment file.
    func frameBytes(_ entry: IndexEntry, in store: CollectionStore) throws -> [UInt8] {
        if entry.segment == store.active, entry.offset >= store.pendingBase {
            let start = entry.offset - store.pendingBase
            return Array(store.pending[start..<(start + entry.length)])
        }
        guard let segment = store.segments[entry.segment] else {
            throw VaultError(.io, "segment \(entry.segment) of '\(store.name)' is missing", path: store.directory)
        }
        var bytes = [UInt8](repeating: 0, count: entry.length)
        let n = try bytes.withUnsafeMutableBytes { try segment.fd.read(into: $0, at: entry.offset) }
        bytes.removeLast(entry.length - n)
        return bytes
    }

    /// Decrypts a record; one that fails authentication is quarantined and nil is returned.
    mutating func decrypt(_ entry: IndexEntry, collection name: String) throws -> VaultRecord? {
        guard let cipher else { throw VaultError(.erased, "the vault key is gone") }
        let store = collections[name]!
        let frame = try frameBytes(entry, in: store)
        var plaintext: [UInt8]? = nil
        if frame.count == entry.length {
            frame.withUnsafeBytes { raw in
                guard let headerLength = ByteReader.integer(UInt16.self, in: raw, at: 6).map(Int.init),
                    headerLength >= SegmentFormat.fixedFrameHeader, headerLength + AESGCM.overhead <= raw.count,
                    ByteReader.integer(UInt64.self, in: raw, at: 16) == entry.id
                else { return }
                var out = [UInt8](repeating: 0, count: raw.count - headerLength - AESGCM.overhead)
                let ok: Bool = store.aadPrefix.withUnsafeBytes { prefix in
                    out.withUnsafeMutableBytes { o in
                        (try? cipher.open(
                            UnsafeRawBufferPointer(rebasing: raw[headerLength...]), authenticating: prefix,
                            UnsafeRawBufferPointer(rebasing: raw[0..<12]),
                            UnsafeRawBufferPointer(rebasing: raw[16..<headerLength]),
                            into: o)) != nil
                    }
                }
                if ok { plaintext = out }
            }
        }
        guard let plaintext else {
            try quarantineRecord(entry, frame: frame, collection: name)
            return nil
        }
        return VaultRecord(
            id: RecordID(rawValue: entry.id), collection: name,
            category: DataCategory(categories.strings[Int(entry.category)]),
            purpose: Purpose(purposes.strings[Int(entry.purpose)]),
            created: Date(millisecondsSince1970: entry.created),
            expires: entry.expires == SegmentFormat.never ? nil : Date(millisecondsSince1970: entry.expires),
            data: plaintext)
    }

    /// Moves a record that failed authentication to quarantine. The
    /// `COLLECTION.record-ID-CRC.bad` file both keeps the bytes and marks that exact frame dead
    /// on later opens.
    mutating func quarantineRecord(_ entry: IndexEntry, frame: [UInt8], collection name: String) throws {
        let crc = ByteReader(frame).u32(at: 12) ?? 0
        try quarantine(frame, name: "\(name).record-\(entry.id)-\(String(crc, radix: 16)).bad")
        guard var store = collections.removeValue(forKey: name) else { return }
        defer { collections[name] = store }
        // The exact frame: a forged frame may carry the id of a sound one.
        if let i = store.entries.firstIndex(where: {
            $0.id == entry.id && $0.segment == entry.segment && $0.offset == entry.offset
        }),
            store.entries[i].live
        {
            store.entries[i].live = false
            store.segments[entry.segment]?.liveBytes -= entry.length
            store.liveCount -= 1
        }
    }

    mutating func verifyAll() throws -> Int {
        try checkUsable()
        let before = quarantined
        for name in collections.keys.sorted() {
            var index = 0
            while index < collections[name]!.entries.count {
                let entry = collections[name]!.entries[index]
                index += 1
                if entry.live { _ = try decrypt(entry, collection: name) }
            }
        }
        return quarantined - before
    }
}
