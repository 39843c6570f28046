import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension VaultState {
    // MARK: - Removing

    mutating func remove(id: UInt64, collection name: String, reason: SegmentFormat.Reason) throws -> Bool {
        try checkUsable()
        guard let i = collections[name]?.index(of: id), collections[name]!.entries[i].live,
            var store = collections.removeValue(forKey: name)
        else { return false }
        defer { collections[name] = store }
        try markDead(&store, index: i, reason: reason)
        return true
    }

    func markDead(_ store: inout CollectionStore, index i: Int, reason: SegmentFormat.Reason) throws {
        let entry = store.entries[i]
        try ensureActiveSegment(&store)
        let offset = store.pendingBase + store.pending.count
        let length = try appendFrame(
            to: &store, kind: .tombstone, flags: reason.rawValue, id: entry.id,
            created: clock.checkedUnixMilliseconds, expires: 0)
        store.tombstones[entry.id] = Tombstone(segment: store.active!, offset: offset, length: length)
        store.entries[i].live = false
        store.segments[entry.segment]?.liveBytes -= entry.length
        store.liveCount -= 1
        if store.pending.count >= options.stagingLimit { try flushPending(&store) }
    }

    /// Removes every live record matching `predicate`, commits, and rewrites touched segments.
    mutating func purge(reason: SegmentFormat.Reason, where predicate: (IndexEntry, String) -> Bool) throws -> Int {
        try purgeCounted(reason: reason, where: predicate).reduce(0) { $0 + $1.count }
    }

    /// Removes every live record matching `predicate`, commits, rewrites touched segments, and
    /// reports what was removed per category and purpose.
    mutating func purgeCounted(reason: SegmentFormat.Reason, where predicate: (IndexEntry, String) -> Bool) throws
        -> [PurgedCount]
    {
        try checkUsable()
        var tally: [[UInt32]: Int] = [:]
        var touched: [String: Set<UInt32>] = [:]
        for name in collections.keys.sorted() {
            var store = collections.removeValue(forKey: name)!
            defer { collections[name] = store }
            for i in store.entries.indices where store.entries[i].live && predicate(store.entries[i], name) {
                touched[name, default: []].insert(store.entries[i].segment)
                tally[[store.entries[i].category, store.entries[i].purpose], default: 0] += 1
                try markDead(&store, index: i, reason: reason)
            }
        }
        try commit()
        guard !tally.isEmpty else { return [] }
        for (name, numbers) in touched {
            for number in numbers.sorted() { try compact(segment: number, collection: name) }
        }
        return tally.map { key, count in
            PurgedCount(
                category: DataCategory(categories.strings[Int(key[0])]),
                purpose: Purpose(purposes.strings[Int(key[1])]), count: count)
        }.sorted { ($0.category, $0.purpose) < ($1.category, $1.purpose) }
    }

    // MARK: - Quota

    /// Keeps the segment files within `options.quota`: first rewrites segments that hold dead
    /// bytes, then evicts the oldest live records (by creation time, then id) down to 90% of
    /// the quota, commits the tombstones and rewrites again, until the files fit or nothing is
    /// left to evict (each collection keeps at least its active segment's header and commit
    /// frame, about 100 bytes).
    mutating func applyQuota() throws {
        guard let quota = options.quota else { return }
        var count = 0
        while fileBytes > quota {
            try compactAll(threshold: 0)
            if fileBytes <= quota { break }
            // Steward's own records (consent receipts, the audit ledger) are never evicted: they
            // are what proves the rest was handled lawfully.
            let exempt = purposes.existingNumber(for: Purpose.privacyCompliance.rawValue)
            var candidates: [(created: Int64, id: UInt64, collection: String)] = []
            for (name, store) in collections {
                for entry in store.entries where entry.live && entry.purpose != exempt {
                    candidates.append((entry.created, entry.id, name))
                }
            }
            guard !candidates.isEmpty else { break }
            candidates.sort { ($0.created, $0.id) < ($1.created, $1.id) }
            // What the files will hold once rewritten: headers, live frames, a commit frame each.
            var estimate = collections.values.reduce(0) { sum, store in
                sum + store.segments.values.reduce(0) { $0 + SegmentFormat.segmentHeaderLength + $1.liveBytes + 72 }
            }
            let target = quota - quota / 10
            var evictedThisRound = 0
            for candidate in candidates where estimate > target || evictedThisRound == 0 {
                guard let i = collections[candidate.collection]?.index(of: candidate.id) else { continue }
                var store = collections.removeValue(forKey: candidate.collection)!
                defer { collections[candidate.collection] = store }
                estimate -= store.entries[i].length
                try markDead(&store, index: i, reason: .evicted)
                evictedThisRound += 1
            }
            count += evictedThisRound
            // Commit the tombstones (without another quota pass: this is that pass).
            for name in collections.keys.sorted() {
                guard collections[name]?.uncommittedFrames ?? 0 > 0, var store = collections.removeValue(forKey: name)
                else { continue }
                defer { collections[name] = store }
                _ = try appendFrame(
                    to: &store, kind: .commit, id: nextID &- 1, created: clock.checkedUnixMilliseconds, expires: 0)
                try flushPending(&store)
                try store.segments[store.active!]!.fd.syncData()
                store.uncommittedFrames = 0
                store.committedSize = store.pendingBase
            }
        }
        guard count > 0 else { return }
        // A counter read from vault.stats: saturate rather than trap on a planted value.
        evicted = evicted.saturatingAdding(count)
        var stats: [UInt8] = []
        SegmentFormat.put(UInt64(evicted), into: &stats)
        try FileSystem.writeAtomically(stats, to: statsPath)
    }

    /// Bytes of all segment files.
    private var fileBytes: Int {
        collections.values.reduce(0) { sum, store in sum + store.segments.values.reduce(0) { $0 + $1.size } }
    }

    // MARK: - Compaction

    /// Rewrites every segment whose dead fraction reaches `threshold` (0: any dead byte).
    mutating func compactAll(threshold: Double) throws {
        for name in collections.keys.sorted() {
            guard
                let (active, uncommitted, numbers) = collections[name].map({
                    ($0.active, $0.uncommittedFrames, $0.segments.keys.sorted())
                }),
                uncommitted == 0
            else { continue }
            for number in numbers {
                guard let segment = collections[name]!.segments[number] else { continue }
                let payload = segment.size - SegmentFormat.segmentHeaderLength
                guard payload > 0 else { continue }
                let live =
                    segment.liveBytes
                    + collections[name]!.tombstones.values.reduce(0) { $0 + ($1.segment == number ? $1.length : 0) }
                let dead = Double(payload - live) / Double(payload)
                if threshold == 0 ? live < payload - 80 || segment.liveBytes == 0 : dead >= threshold {
                    if number == active && threshold > 0 { continue }
                    try compact(segment: number, collection: name)
                }
            }
        }
    }

    /// Rewrites one committed segment with only its live records and the tombstones still
    /// needed (their record survives in another segment), then replaces it atomically.
    mutating func compact(segment number: UInt32, collection name: String) throws {
        guard let (found, uncommitted) = collections[name].map({ ($0.segments[number], $0.uncommittedFrames) }),
            let segment = found, uncommitted == 0
        else { return }
        var store = collections.removeValue(forKey: name)!
        defer { collections[name] = store }
        let isActive = store.active == number
        var rebuilt = SegmentFormat.segmentHeader(number: number, vaultID: vaultID)
        // The live frames' size, reserved at once: appending frame by frame doubled the buffer
        // up to twice the segment (16 MiB for a full one).
        rebuilt.reserveCapacity(rebuilt.count + max(0, segment.liveBytes) + 4_096)
        var newOffsets: [Int: Int] = [:]  // entry index -> new offset
        for i in store.entries.indices where store.entries[i].segment == number && store.entries[i].live {
            let frame = try frameBytes(store.entries[i], in: store)
            newOffsets[i] = rebuilt.count
            rebuilt += frame
        }
        var keptTombstones: [UInt64: Tombstone] = [:]
        for (target, tombstone) in store.tombstones where tombstone.segment == number {
            // Needed while the removed record's frame still exists in another segment.
            guard let i = store.index(of: target), store.entries[i].segment != number else { continue }
            var bytes = [UInt8](repeating: 0, count: tombstone.length)
            let n = try bytes.withUnsafeMutableBytes { try segment.fd.read(into: $0, at: tombstone.offset) }
            guard n == tombstone.length else { continue }
            keptTombstones[target] = Tombstone(segment: number, offset: rebuilt.count, length: tombstone.length)
            rebuilt += bytes
        }
        let onlyHeader = rebuilt.count == SegmentFormat.segmentHeaderLength
        if onlyHeader && !isActive {
            try FileSystem.removeFile(segment.path)
            try FileSystem.syncDirectory(store.directory)
            store.segments[number] = nil
        } else {
            // A commit frame so the rewritten segment's frames count as committed on open.
            var scratch = CollectionStore(name: name, directory: store.directory, vaultID: vaultID)
            _ = try appendFrame(
                to: &scratch, kind: .commit, id: nextID &- 1, created: clock.checkedUnixMilliseconds, expires: 0)
            rebuilt += scratch.pending
            try FileSystem.writeAtomically(rebuilt, to: segment.path)
            segment.fd = try FileDescriptor.open(segment.path, O_RDWR | O_NOFOLLOW)
            segment.size = rebuilt.count
            if isActive {
                store.committedSize = rebuilt.count
                store.pendingBase = rebuilt.count
            }
        }
        for (i, offset) in newOffsets { store.entries[i].offset = offset }
        // Dead frames of this segment are gone now; so are tombstones that pointed at them.
        var removedIDs: [UInt64] = []
        store.entries.removeAll { entry in
            let gone = entry.segment == number && !entry.live
            if gone { removedIDs.append(entry.id) }
            return gone
        }
        for (target, tombstone) in store.tombstones where tombstone.segment == number && keptTombstones[target] == nil {
            store.tombstones[target] = nil
        }
        for (target, tombstone) in keptTombstones { store.tombstones[target] = tombstone }
        for id in removedIDs { store.tombstones[id] = nil }
        if store.segments.isEmpty && store.entries.isEmpty {
            store.active = nil
        }
    }
}
