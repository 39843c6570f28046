import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension VaultState {
    // MARK: - Appending and committing

    mutating func append(
        _ data: [UInt8], collection name: String, category: DataCategory, purpose: Purpose, retention: Duration?,
        created: Date?
    ) throws -> RecordID {
        try checkUsable()
        guard data.count <= SegmentFormat.maximumBody - AESGCM.overhead else {
            throw VaultError(
                .recordTooLarge,
                "a record holds at most 64 MiB; got \(data.count) bytes. Split it into several records.")
        }
        guard category.rawValue.utf8.count <= 1024, purpose.rawValue.utf8.count <= 1024 else {
            throw VaultError(.recordTooLarge, "category and purpose names are limited to 1024 bytes")
        }
        let now: Int64
        if let created {
            // A caller's date: NaN or infinite is refused (no time to store would be true);
            // a finite one outside 0001-9999 is clamped to that range.
            guard created.timeIntervalSince1970.isFinite, let milliseconds = created.unixMilliseconds else {
                throw VaultError(
                    .invalidTime,
                    "the creation date \(created.timeIntervalSince1970) (seconds since 1970) is not a finite date; pass a real date, or nil for now"
                )
            }
            now = milliseconds
        } else {
            now = clock.checkedUnixMilliseconds
        }
        let expires = retention.map { Self.expiry(created: now, retention: $0) } ?? SegmentFormat.never
        var store = try takeForWriting(name)
        defer { collections[name] = store }
        guard nextID < .max else {
            throw VaultError(
                .io,
                "record ids are exhausted (a damaged or forged segment claimed the highest ids); export the data and create a new vault",
                path: directory)
        }
        let id = nextID
        let offset = store.pendingBase + store.pending.count
        let length = try appendFrame(
            to: &store, kind: .record, id: id, created: now, expires: expires,
            category: category.rawValue, purpose: purpose.rawValue, plaintext: data)
        nextID += 1
        store.entries.append(
            IndexEntry(
                id: id, segment: store.active!, offset: offset, length: length, created: now, expires: expires,
                category: categories.number(for: category.rawValue), purpose: purposes.number(for: purpose.rawValue),
                live: true))
        store.segments[store.active!]!.liveBytes += length
        store.liveCount += 1
        if store.pending.count >= options.stagingLimit { try flushPending(&store) }
        return RecordID(rawValue: id)
    }

    /// The expiry, in milliseconds since 1970, of a record created at `created` and kept for
    /// `retention`. A retention that reaches past 9999-12-31 (`Duration(attoseconds: .max)`,
    /// `.seconds(Int64.max)`) means "never"; a negative one expires at once. Saturating: never
    /// traps, never wraps.
    static func expiry(created: Int64, retention: Duration) -> Int64 {
        let milliseconds = retention.saturatingMilliseconds
        let (sum, overflow) = created.addingReportingOverflow(milliseconds)
        if overflow { return milliseconds > 0 ? SegmentFormat.never : Int64.min }
        if milliseconds > 0, sum > SegmentFormat.latestMilliseconds { return SegmentFormat.never }
        return sum
    }

    /// Takes the collection out of `collections` (so its buffers are not copied on write) with
    /// an active segment ready for appends; the caller puts it back.
    mutating func takeForWriting(_ name: String) throws -> CollectionStore {
        guard Self.isValidCollectionName(name) else {
            throw VaultError(
                .invalidCollectionName,
                "collection name '\(name)' is not 1-64 letters, digits, '.', '-' or '_' (not starting with '.', not ending in '.tmp')"
            )
        }
        var store: CollectionStore
        if let existing = collections.removeValue(forKey: name) {
            store = existing
        } else {
            store = CollectionStore(name: name, directory: collectionsDirectory + "/" + name, vaultID: vaultID)
            try FileSystem.ensurePrivateDirectory(store.directory)
            try FileSystem.syncDirectory(collectionsDirectory)
        }
        do {
            try ensureActiveSegment(&store)
        } catch {
            collections[name] = store
            throw error
        }
        return store
    }

    /// Starts a new segment file when the collection has no active one.
    func ensureActiveSegment(_ store: inout CollectionStore) throws {
        guard store.active == nil else { return }
        // Segment numbers are identifiers: they must never repeat, so running out is an error,
        // not a wrap. Only damaged or planted file names can get this far.
        let (number, overflow) = max(store.segments.keys.max() ?? 0, store.highestNumber).addingReportingOverflow(1)
        guard !overflow, number <= SegmentFormat.maximumSegmentNumber else {
            throw VaultError(
                .io,
                "segment numbers of '\(store.name)' are exhausted (a file in its folder claims number \(store.highestNumber)); remove files that are not the vault's from \(store.directory), or export the data and create a new vault",
                path: store.directory)
        }
        store.highestNumber = number
        let path = store.directory + "/" + SegmentFormat.segmentFileName(number)
        let header = SegmentFormat.segmentHeader(number: number, vaultID: vaultID)
        try FileSystem.writeAtomically(header, to: path)
        let fd = try FileDescriptor.open(path, O_RDWR | O_NOFOLLOW)
        store.segments[number] = Segment(number: number, path: path, fd: fd, size: header.count)
        store.active = number
        store.committedSize = header.count
        store.pendingBase = header.count
    }

    /// Builds, seals and stages one frame; returns its length.
    func appendFrame(
        to store: inout CollectionStore, kind: SegmentFormat.Kind, flags: UInt8 = 0, id: UInt64,
        created: Int64, expires: Int64, category: String = "", purpose: String = "",
        plaintext: [UInt8] = []
    ) throws -> Int {
        guard let cipher else { throw VaultError(.erased, "the vault key is gone") }
        let categoryLength = category.utf8.count, purposeLength = purpose.utf8.count
        let headerLength = SegmentFormat.fixedFrameHeader + categoryLength + purposeLength
        let bodyLength = plaintext.count + AESGCM.overhead
        let start = store.pending.count
        store.pending.reserveCapacity(start + headerLength + bodyLength)
        store.pending += SegmentFormat.frameMagic
        store.pending.append(kind.rawValue)
        store.pending.append(flags)
        SegmentFormat.put(UInt16(headerLength), into: &store.pending)
        SegmentFormat.put(UInt32(bodyLength), into: &store.pending)
        SegmentFormat.put(UInt32(0), into: &store.pending)  // CRC, filled in below
        SegmentFormat.put(id, into: &store.pending)
        SegmentFormat.put(created, into: &store.pending)
        SegmentFormat.put(expires, into: &store.pending)
        SegmentFormat.put(UInt16(categoryLength), into: &store.pending)
        SegmentFormat.put(UInt16(purposeLength), into: &store.pending)
        store.pending.append(contentsOf: category.utf8)
        store.pending.append(contentsOf: purpose.utf8)
        store.pending.append(contentsOf: repeatElement(0, count: bodyLength))
        let prefix = store.aadPrefix
        try store.pending.withUnsafeMutableBytes { all in
            let frame = UnsafeMutableRawBufferPointer(rebasing: all[start..<(start + headerLength + bodyLength)])
            let header = UnsafeRawBufferPointer(frame)
            try prefix.withUnsafeBytes { p in
                try plaintext.withUnsafeBytes { text in
                    try cipher.seal(
                        text, authenticating: p, UnsafeRawBufferPointer(rebasing: header[0..<12]),
                        UnsafeRawBufferPointer(rebasing: header[16..<headerLength]),
                        into: UnsafeMutableRawBufferPointer(rebasing: frame[headerLength...]))
                }
            }
            let crc = CRC32C.frame(UnsafeRawBufferPointer(frame))
            frame.storeBytes(of: crc.littleEndian, toByteOffset: 12, as: UInt32.self)
        }
        store.uncommittedFrames += 1
        return headerLength + bodyLength
    }

    /// Writes staged frames to the active segment without committing them (bounds memory).
    func flushPending(_ store: inout CollectionStore) throws {
        guard !store.pending.isEmpty, let active = store.active, let segment = store.segments[active] else { return }
        try segment.fd.write(store.pending, at: store.pendingBase)
        store.pendingBase += store.pending.count
        segment.size = store.pendingBase
        store.pending.removeAll(keepingCapacity: true)
    }

    /// Commits every collection with staged frames (or only `only`), then — for a full
    /// commit — applies the quota and the compaction threshold.
    mutating func commit(only: Set<String>? = nil) throws {
        try checkUsable()
        for name in collections.keys.sorted() where only?.contains(name) ?? true {
            guard collections[name]?.uncommittedFrames ?? 0 > 0, var store = collections.removeValue(forKey: name)
            else { continue }
            defer { collections[name] = store }
            let pendingBefore = store.pending.count
            _ = try appendFrame(
                to: &store, kind: .commit, id: nextID &- 1, created: clock.checkedUnixMilliseconds, expires: 0)
            var written = false
            do {
                try flushPending(&store)
                written = true
                try store.segments[store.active!]!.fd.syncData()
            } catch {
                if !written {
                    // Nothing new reached the file: keep the staged frames for a retry and
                    // drop only the commit frame.
                    store.pending.removeSubrange(pendingBefore...)
                    store.uncommittedFrames -= 1
                    throw VaultError(
                        .io,
                        "commit failed before anything was written; the staged records are kept and the next commit retries: \(error)",
                        path: store.directory, underlying: error as? SystemError)
                }
                // The write went through but fdatasync failed: whether the batch is on disk is
                // unknown, and retrying the sync could report success for pages the kernel
                // already dropped. Keep the records visible, stop writing to this segment and
                // start a new one.
                store.uncommittedFrames = 0
                store.committedSize = store.pendingBase
                store.active = nil
                throw VaultError(
                    .io,
                    "commit could not confirm the data reached the disk (fdatasync failed); the records stay visible but may be lost if the system crashes: \(error)",
                    path: store.directory, underlying: error as? SystemError)
            }
            store.uncommittedFrames = 0
            store.committedSize = store.pendingBase
            if store.committedSize >= options.segmentSize { store.active = nil }
        }
        guard only == nil else { return }
        try applyQuota()
        try compactAll(threshold: options.compactionThreshold)
    }
}
