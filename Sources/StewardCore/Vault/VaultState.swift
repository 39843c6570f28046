import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Everything a ``Vault`` knows, guarded by the vault's lock.
struct VaultState {
    let directory: String
    let options: VaultOptions
    let clock: any WallClock
    let keyProvider: any KeyProvider
    let vaultID: [UInt8]
    private(set) var cipher: AESGCM.Cipher?
    /// HMAC-SHA256 of a fixed label under the vault key: the root of ``Vault/derivedKey(label:salt:)``,
    /// so the vault key itself is not kept beyond opening.
    let derivationKey: SymmetricKey
    private var lock: LockFile?
    var collections: [String: CollectionStore] = [:]
    var categories = InternTable()
    var purposes = InternTable()
    private var nextID: UInt64 = 1
    private var quarantined = 0
    private var evicted = 0
    private var problems: [String] = []
    private var erased = false
    private var closed = false

    var collectionsDirectory: String { directory + "/collections" }
    var quarantineDirectory: String { directory + "/quarantine" }
    var metaPath: String { directory + "/vault.meta" }
    var statsPath: String { directory + "/vault.stats" }

    // MARK: - Opening

    static func open(directory: String, keyProvider: any KeyProvider, options: VaultOptions, clock: any WallClock)
        throws -> VaultState
    {
        if let quota = options.quota, quota < 0 {
            // A negative quota would evict every record at every commit: data loss, not a limit.
            throw VaultError(
                .invalidOptions,
                "the quota \(quota) is negative; pass a size in bytes (0 or more), or nil for no quota. Nothing was opened.",
                path: directory)
        }
        try FileSystem.ensurePrivateDirectory(directory)
        let lock = try LockFile(path: directory + "/lock")
        let metaPath = directory + "/vault.meta"
        if FileSystem.exists(directory + "/" + erasingMarker) {
            // An erase was interrupted: the key may already be gone. Finish it, then start anew.
            try finishErase(directory: directory, keyProvider: keyProvider, keyName: options.keyName)
        }
        let vaultID: [UInt8]
        let key: SymmetricKey
        if FileSystem.exists(metaPath) {
            let meta: [UInt8]
            do {
                meta = try FileDescriptor.open(metaPath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK).readAll(
                    limit: SegmentFormat.maximumMetaFile)
            } catch let error as SystemError where error.errno == EFBIG {
                throw VaultError(
                    .notAVault,
                    "vault.meta is larger than any Steward writes (\(SegmentFormat.maximumMetaFile) bytes at most): it is damaged or not a Steward vault's. Nothing was changed.",
                    path: metaPath)
            }
            guard meta.count >= 16, Array(meta[0..<8]) == SegmentFormat.metaMagic else {
                throw VaultError(
                    .notAVault,
                    "vault.meta is not a Steward vault's; the directory was left untouched. Point Steward at another directory.",
                    path: metaPath)
            }
            let version = meta.withUnsafeBytes { SegmentFormat.load(UInt16.self, $0, 8) }
            guard version <= SegmentFormat.version else {
                throw VaultError(
                    .unsupportedVersion,
                    "the vault was written in format \(version) by a newer Steward; this one reads up to \(SegmentFormat.version). Nothing was changed; update Steward.",
                    path: metaPath)
            }
            guard meta.count == SegmentFormat.metaLength else {
                throw VaultError(
                    .notAVault,
                    "vault.meta has \(meta.count) bytes, not \(SegmentFormat.metaLength): it is damaged. Nothing was changed.",
                    path: metaPath)
            }
            vaultID = Array(meta[16..<32])
            key = try keyProvider.key(named: options.keyName, createIfMissing: false)
            let cipher = try AESGCM.Cipher(key: key)
            do {
                _ = try cipher.open(
                    AESGCM.SealedBox(combined: Array(meta[40..<68])),
                    authenticating: SegmentFormat.keyCheckAAD(vaultID: vaultID))
            } catch {
                throw VaultError(
                    .keyMismatch,
                    "the key '\(options.keyName)' does not belong to this vault (its key check failed). Nothing was changed; restore the vault's own key.",
                    path: metaPath)
            }
        } else {
            // A new vault. A directory that already holds collections but no meta file is not
            // one we made; refuse rather than guess.
            if FileSystem.exists(directory + "/collections") {
                throw VaultError(
                    .notAVault,
                    "the directory has collections but no vault.meta; it is damaged or not a Steward vault. Nothing was changed.",
                    path: metaPath)
            }
            vaultID = try SecureRandom.bytes(count: 16)
            key = try keyProvider.key(named: options.keyName, createIfMissing: true)
            let cipher = try AESGCM.Cipher(key: key)
            var meta = SegmentFormat.metaMagic
            SegmentFormat.put(SegmentFormat.version, into: &meta)
            meta += [UInt8](repeating: 0, count: 6)
            meta += vaultID
            SegmentFormat.put(clock.checkedUnixMilliseconds, into: &meta)
            meta += try cipher.seal([], authenticating: SegmentFormat.keyCheckAAD(vaultID: vaultID)).combined
            try FileSystem.writeAtomically(meta, to: metaPath)
        }
        var root = try HMACSHA256.authenticationCode(for: Array("steward.vault.derive/1".utf8), using: key)
        let derivationKey = try SymmetricKey(copying: root)
        for i in root.indices { root[i] = 0 }
        var state = VaultState(
            directory: directory, options: options, clock: clock, keyProvider: keyProvider, vaultID: vaultID,
            cipher: try AESGCM.Cipher(key: key), derivationKey: derivationKey, lock: lock)
        try state.load()
        return state
    }

    private init(
        directory: String, options: VaultOptions, clock: any WallClock, keyProvider: any KeyProvider,
        vaultID: [UInt8], cipher: AESGCM.Cipher, derivationKey: SymmetricKey, lock: consuming LockFile
    ) {
        self.directory = directory
        self.derivationKey = derivationKey
        self.options = options
        self.clock = clock
        self.keyProvider = keyProvider
        self.vaultID = vaultID
        self.cipher = cipher
        self.lock = lock
    }

    /// Reads every collection's segments, cuts torn tails and quarantines damaged spans.
    private mutating func load() throws {
        try FileSystem.ensurePrivateDirectory(collectionsDirectory)
        try FileSystem.ensurePrivateDirectory(quarantineDirectory)
        if let stats = try? FileDescriptor.open(statsPath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK).readAll(limit: 8),
            stats.count == 8
        {
            let count = stats.withUnsafeBytes { SegmentFormat.load(UInt64.self, $0, 0) }
            if let count = Int(exactly: count) {
                evicted = count
            } else {
                problems.append("\(statsPath): impossible eviction count \(count); counting from zero")
            }
        }
        try checkSegmentVersions()
        // Temporary files of atomic writes that a crash interrupted; the files they were to
        // replace are intact. This process holds the lock, so no writer owns them.
        for folder in [directory, quarantineDirectory] {
            for name in try FileSystem.contents(of: folder) where name.hasSuffix(".tmp") {
                try FileSystem.removeFile(folder + "/" + name)
            }
        }
        var quarantinedFrames: [String: Set<QuarantinedFrame>] = [:]
        for name in try FileSystem.contents(of: quarantineDirectory) where name.hasSuffix(".bad") {
            quarantined += 1
            // COLLECTION.record-ID-CRC.bad marks the record frame with that id and checksum as
            // dead (the checksum tells it apart from a sound frame a forgery copied the id of).
            let stem = name.dropLast(4)
            if let marker = stem.range(of: ".record-", options: .backwards) {
                let fields = stem[marker.upperBound...].split(separator: "-")
                if fields.count == 2, let id = UInt64(fields[0]), let crc = UInt32(fields[1], radix: 16) {
                    quarantinedFrames[String(stem[..<marker.lowerBound]), default: []].insert(
                        QuarantinedFrame(id: id, crc: crc))
                }
            }
        }
        for name in try FileSystem.contents(of: collectionsDirectory) {
            let path = collectionsDirectory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR, Self.isValidCollectionName(name) else {
                problems.append("\(path): not a collection folder; left untouched")
                continue
            }
            var store = CollectionStore(name: name, directory: path, vaultID: vaultID)
            var numbers: [UInt32] = []
            for file in try FileSystem.contents(of: path) {
                if file.hasSuffix(".tmp") {
                    // A segment rewrite or creation that did not finish; the original is intact.
                    try FileSystem.removeFile(path + "/" + file)
                    continue
                }
                guard let number = SegmentFormat.segmentNumber(fromFileName: file) else {
                    // Includes other spellings of a number and the names of numbers above
                    // SegmentFormat.maximumSegmentNumber, which Steward never writes.
                    problems.append("\(path)/\(file): not a segment file; left untouched")
                    continue
                }
                numbers.append(number)
            }
            // In number order, not name order ("100000000.seg" sorts before "99999999.seg"):
            // a tombstone must come after the record it removes.
            for number in numbers.sorted() {
                // Never reuse the number of a file we leave untouched.
                store.highestNumber = max(store.highestNumber, number)
                try loadSegment(number: number, into: &store, quarantined: quarantinedFrames[name] ?? [])
            }
            if zip(store.entries, store.entries.dropFirst()).contains(where: { $0.id >= $1.id }) {
                store.entries.sort { $0.id < $1.id }
            }
            store.liveCount = store.entries.reduce(0) { $0 + ($1.live ? 1 : 0) }
            collections[name] = store
        }
    }

    /// Refuses a vault with any segment of a newer format before anything is repaired, so such
    /// a vault is left exactly as it was.
    private func checkSegmentVersions() throws {
        for name in try FileSystem.contents(of: collectionsDirectory) {
            let folder = collectionsDirectory + "/" + name
            guard let files = try? FileSystem.contents(of: folder) else { continue }
            for file in files where SegmentFormat.segmentNumber(fromFileName: file) != nil {
                let path = folder + "/" + file
                guard let fd = try? FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK),
                    let st = try? fd.stat(), (st.st_mode & S_IFMT) == S_IFREG
                else { continue }
                var header = [UInt8](repeating: 0, count: SegmentFormat.segmentHeaderLength)
                let n = (try? header.withUnsafeMutableBytes { try fd.read(into: $0, at: 0) }) ?? 0
                guard n == header.count, Array(header[0..<8]) == SegmentFormat.segmentMagic else { continue }
                let version = header.withUnsafeBytes { SegmentFormat.load(UInt16.self, $0, 8) }
                guard version <= SegmentFormat.version else {
                    throw VaultError(
                        .unsupportedVersion,
                        "segment written in format \(version) by a newer Steward; this one reads up to \(SegmentFormat.version). Nothing was changed; update Steward.",
                        path: path)
                }
            }
        }
    }

    private mutating func loadSegment(
        number: UInt32, into store: inout CollectionStore, quarantined: Set<QuarantinedFrame>
    ) throws {
        let path = store.directory + "/" + SegmentFormat.segmentFileName(number)
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            problems.append("\(path): not a regular file; left untouched")
            return
        }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK)
        } catch {
            problems.append("\(path): cannot be opened for reading and writing (\(error)); left untouched")
            return
        }
        let size = Int(try fd.stat().st_size)
        guard size <= SegmentFormat.maximumSegmentFile else {
            problems.append("\(path): \(size) bytes, larger than any segment Steward writes; left untouched")
            return
        }
        let original = try fd.readAll(limit: SegmentFormat.maximumSegmentFile)
        // Header checks: a file that is not ours is left alone and reported.
        guard original.count >= SegmentFormat.segmentHeaderLength, Array(original[0..<8]) == SegmentFormat.segmentMagic
        else {
            problems.append("\(path): \(original.isEmpty ? "empty file" : "no segment header"); left untouched")
            return
        }
        var bytes = original
        let version = bytes.withUnsafeBytes { SegmentFormat.load(UInt16.self, $0, 8) }
        guard version <= SegmentFormat.version else {
            throw VaultError(
                .unsupportedVersion,
                "segment written in format \(version) by a newer Steward; this one reads up to \(SegmentFormat.version). Nothing was changed; update Steward.",
                path: path)
        }
        guard Array(bytes[16..<32]) == vaultID else {
            problems.append("\(path): segment of another vault; left untouched")
            return
        }
        let scan = bytes.withUnsafeBytes { SegmentScanner.scan($0) }

        // Frames after the last commit frame were never committed: cut them off. If the cut
        // holds a damaged (not merely torn) frame, keep its bytes in quarantine first.
        var keep = scan.frames
        if let last = keep.last, last.end > scan.committedEnd { keep.removeAll { $0.end > scan.committedEnd } }
        let damagedBeforeCommit = scan.damaged.filter { $0.upperBound <= scan.committedEnd }
        let cutHoldsDamage = scan.damaged.contains {
            $0.lowerBound >= scan.committedEnd && !$0.isEmpty && scan.tornAt != $0.lowerBound
        }
        if cutHoldsDamage {
            try quarantine(
                Array(bytes[scan.committedEnd...]), name: try Self.spanFileName(store.name, number, scan.committedEnd))
        }
        for span in damagedBeforeCommit {
            try quarantine(Array(bytes[span]), name: try Self.spanFileName(store.name, number, span.lowerBound))
        }
        let segment: Segment
        if !damagedBeforeCommit.isEmpty {
            // Rewrite the segment from its sound committed frames; the damaged bytes are in
            // quarantine, so nothing is lost.
            var rebuilt = Array(bytes[0..<SegmentFormat.segmentHeaderLength])
            var moved: [ScannedFrame] = []
            for frame in keep {
                var copy = frame
                copy.offset = rebuilt.count
                rebuilt += bytes[frame.offset..<frame.end]
                moved.append(copy)
            }
            keep = moved
            bytes = rebuilt  // the index below is read from the rewritten layout
            try FileSystem.writeAtomically(rebuilt, to: path)
            let fresh = try FileDescriptor.open(path, O_RDWR | O_NOFOLLOW)
            segment = Segment(number: number, path: path, fd: fresh, size: rebuilt.count)
        } else {
            if scan.committedEnd < bytes.count {
                try fd.truncate(to: scan.committedEnd)
                try fd.syncData()
            }
            segment = Segment(number: number, path: path, fd: fd, size: scan.committedEnd)
        }
        store.entries.reserveCapacity(store.entries.count + keep.count)
        var forged: [ScannedFrame] = []
        bytes.withUnsafeBytes { raw in
            for frame in keep {
                switch frame.kind {
                case .record:
                    let header = UnsafeRawBufferPointer(
                        rebasing: raw[frame.offset..<(frame.offset + frame.headerLength)])
                    let c = Int(SegmentFormat.load(UInt16.self, header, 40))
                    let p = Int(SegmentFormat.load(UInt16.self, header, 42))
                    let crc = SegmentFormat.load(UInt32.self, raw, frame.offset + 12)
                    let live =
                        !quarantined.contains(QuarantinedFrame(id: frame.id, crc: crc))
                        && store.tombstones[frame.id] == nil
                    store.entries.append(
                        IndexEntry(
                            id: frame.id, segment: number, offset: frame.offset, length: frame.length,
                            created: SegmentFormat.load(Int64.self, header, 24),
                            expires: SegmentFormat.load(Int64.self, header, 32),
                            category: categories.number(for: UnsafeRawBufferPointer(rebasing: header[44..<(44 + c)])),
                            purpose: purposes.number(
                                for: UnsafeRawBufferPointer(rebasing: header[(44 + c)..<(44 + c + p)])),
                            live: live))
                    if live { segment.liveBytes += frame.length }
                case .tombstone:
                    // A tombstone removes data, so it must be the vault's own: check its seal
                    // (the CRC alone has no key). A forged one is quarantined and ignored.
                    let frameBytes = UnsafeRawBufferPointer(rebasing: raw[frame.offset..<frame.end])
                    guard authenticates(frameBytes, headerLength: frame.headerLength, prefix: store.aadPrefix) else {
                        forged.append(frame)
                        continue
                    }
                    if let i = store.index(of: frame.id) {
                        if store.entries[i].live {
                            store.entries[i].live = false
                            store.segments[store.entries[i].segment]?.liveBytes -= store.entries[i].length
                            if store.entries[i].segment == number { segment.liveBytes -= store.entries[i].length }
                        }
                        store.tombstones[frame.id] = Tombstone(
                            segment: number, offset: frame.offset, length: frame.length)
                    }
                case .commit:
                    break
                }
                // A hostile frame may carry an id near the top; ids then run out with a clear
                // error at the next append instead of wrapping.
                nextID = max(nextID, frame.id == .max ? .max : frame.id + 1)
            }
        }
        for frame in forged {
            let crc = bytes.withUnsafeBytes { SegmentFormat.load(UInt32.self, $0, frame.offset + 12) }
            let name = "\(store.name).tombstone-\(frame.id)-\(String(crc, radix: 16)).bad"
            // Once per forged frame: it stays in the segment until a rewrite drops it.
            if !FileSystem.exists(quarantineDirectory + "/" + name) {
                try quarantine(Array(bytes[frame.offset..<frame.end]), name: name)
            }
        }
        store.segments[number] = segment
        if store.active.map({ number > $0 }) ?? true {
            store.active = number
            store.committedSize = segment.size
            store.pendingBase = segment.size
        }
    }

    /// Whether a frame's sealed body opens under the vault key with its header as associated
    /// data (tombstones and commits seal no bytes, so this is a tag check).
    private func authenticates(_ frame: UnsafeRawBufferPointer, headerLength: Int, prefix: [UInt8]) -> Bool {
        guard let cipher, headerLength + AESGCM.overhead <= frame.count else { return false }
        let bodyLength = frame.count - headerLength - AESGCM.overhead
        var out = [UInt8](repeating: 0, count: bodyLength)
        return prefix.withUnsafeBytes { p in
            out.withUnsafeMutableBytes { o in
                (try? cipher.open(
                    UnsafeRawBufferPointer(rebasing: frame[headerLength...]), authenticating: p,
                    UnsafeRawBufferPointer(rebasing: frame[0..<12]),
                    UnsafeRawBufferPointer(rebasing: frame[16..<headerLength]),
                    into: o)) != nil
            }
        }
    }

    /// COLLECTION.segment-N-at-OFFSET-RANDOM.bad: unique, so a later quarantine never replaces
    /// an earlier one.
    private static func spanFileName(_ collection: String, _ segment: UInt32, _ offset: Int) throws -> String {
        "\(collection).segment-\(segment)-at-\(offset)-\(String(try SecureRandom.uint64(), radix: 16)).bad"
    }

    /// Keeps damaged bytes in the quarantine folder (0600) and counts them.
    private mutating func quarantine(_ bytes: [UInt8], name: String) throws {
        let path = quarantineDirectory + "/" + name
        try FileSystem.writeAtomically(bytes, to: path)
        quarantined += 1
    }

    static func isValidCollectionName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.first != "."
            && name.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
                    || $0 == 0x5F || $0 == 0x2E
            } && !name.hasSuffix(".tmp")
    }

    func checkUsable() throws {
        if erased {
            throw VaultError(.erased, "the vault was erased; open it again to start a new one", path: directory)
        }
        if closed { throw VaultError(.closed, "the vault was closed; open it again to use it", path: directory) }
    }

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
    private mutating func takeForWriting(_ name: String) throws -> CollectionStore {
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
    private func ensureActiveSegment(_ store: inout CollectionStore) throws {
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
    private func appendFrame(
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
    private func flushPending(_ store: inout CollectionStore) throws {
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

    // MARK: - Reading

    mutating func readBatch(collection name: String, after: UInt64?, limit: Int) throws -> [VaultRecord] {
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
        var index = start
        while index < store.entries.count && result.count < limit {
            let entry = collections[name]!.entries[index]
            index += 1
            guard entry.live else { continue }
            if let record = try decrypt(entry, collection: name) { result.append(record) }
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
    private func frameBytes(_ entry: IndexEntry, in store: CollectionStore) throws -> [UInt8] {
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
    private mutating func decrypt(_ entry: IndexEntry, collection name: String) throws -> VaultRecord? {
        guard let cipher else { throw VaultError(.erased, "the vault key is gone") }
        let store = collections[name]!
        let frame = try frameBytes(entry, in: store)
        var plaintext: [UInt8]? = nil
        if frame.count == entry.length {
            frame.withUnsafeBytes { raw in
                let headerLength = Int(SegmentFormat.load(UInt16.self, raw, 6))
                guard headerLength >= SegmentFormat.fixedFrameHeader, headerLength + AESGCM.overhead <= raw.count,
                    SegmentFormat.load(UInt64.self, raw, 16) == entry.id
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
    private mutating func quarantineRecord(_ entry: IndexEntry, frame: [UInt8], collection name: String) throws {
        let crc = frame.count >= 16 ? frame.withUnsafeBytes { SegmentFormat.load(UInt32.self, $0, 12) } : 0
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

    private func markDead(_ store: inout CollectionStore, index i: Int, reason: SegmentFormat.Reason) throws {
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
    private mutating func applyQuota() throws {
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

    // MARK: - Summary, erase, close

    func summary() throws -> VaultSummary {
        try checkUsable()
        let now = clock.checkedUnixMilliseconds
        var result: [VaultSummary.Collection] = []
        for name in collections.keys.sorted() {
            let store = collections[name]!
            var records = 0, bytes = 0, expired = 0
            var oldest: Int64?, newest: Int64?
            for entry in store.entries where entry.live {
                records += 1
                bytes += entry.length
                if entry.expires <= now { expired += 1 }
                oldest = min(oldest ?? entry.created, entry.created)
                newest = max(newest ?? entry.created, entry.created)
            }
            result.append(
                VaultSummary.Collection(
                    name: name, records: records, bytes: bytes,
                    fileBytes: store.segments.values.reduce(0) { $0 + $1.size }
                        + (store.active.map { _ in store.pending.count } ?? 0),
                    segments: store.segments.count,
                    oldest: oldest.map(Date.init(millisecondsSince1970:)),
                    newest: newest.map(Date.init(millisecondsSince1970:)),
                    expired: expired))
        }
        return VaultSummary(
            directory: directory, collections: result, quarantined: quarantined, evicted: evicted, problems: problems)
    }

    mutating func erase() throws {
        if erased { return }
        try checkUsable()
        // The marker makes an interrupted erase finish on the next open instead of leaving a
        // vault whose key is gone. It holds nothing.
        try FileSystem.writeAtomically([], to: directory + "/" + Self.erasingMarker)
        // Destroy the key first: from here on nothing the vault wrote can be decrypted.
        cipher = nil
        erased = true
        collections.removeAll()
        try Self.finishErase(directory: directory, keyProvider: keyProvider, keyName: options.keyName)
        // The lock file stays: unlinking it would let one process lock the orphaned inode
        // while another locks a new file of the same name.
        lock = nil
    }

    static let erasingMarker = "erasing"

    /// Destroys the key, then every file of the vault, then the erase marker.
    private static func finishErase(directory: String, keyProvider: any KeyProvider, keyName: String) throws {
        try keyProvider.destroyKey(named: keyName)
        try FileSystem.removeTree(directory + "/collections")
        try FileSystem.removeTree(directory + "/quarantine")
        try FileSystem.removeFile(directory + "/vault.stats")
        try FileSystem.removeFile(directory + "/vault.meta")
        try FileSystem.syncDirectory(directory)
        try FileSystem.removeFile(directory + "/" + erasingMarker)
        try FileSystem.syncDirectory(directory)
    }

    mutating func close() throws {
        if closed || erased { return }
        try commit()
        collections.removeAll()
        cipher = nil
        lock = nil
        closed = true
    }
}

extension InternTable {
    /// The number of `string` if it was ever seen, without adding it.
    func existingNumber(for string: String) -> UInt32? {
        strings.firstIndex(of: string).map { UInt32($0) }
    }
}

/// An exclusive `flock` on the vault's lock file, held for the vault's life.
final class LockFile {
    private let fd: FileDescriptor

    init(path: String) throws {
        let fd = try FileDescriptor.open(path, O_RDWR | O_CREAT | O_NOFOLLOW, mode: 0o600)
        if flock(fd.raw, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            if code == EWOULDBLOCK {
                let owner = (try? fd.readAll(limit: 64)).map { String(decoding: $0, as: UTF8.self) } ?? ""
                if owner == String(getpid()) {
                    throw VaultError(
                        .locked,
                        "this process already has the vault open in another Vault instance; share that instance or close it first",
                        path: path)
                }
                throw VaultError(
                    .locked,
                    "the vault is open in another process\(owner.isEmpty ? "" : " (pid \(owner))"); close it there first",
                    path: path)
            }
            throw VaultError(
                .io, "cannot lock the vault", path: path,
                underlying: SystemError(call: "flock", path: path, errno: code))
        }
        try fd.truncate(to: 0)
        try fd.write(Array(String(getpid()).utf8), at: 0)
        self.fd = fd
    }

    deinit {
        // Unlock explicitly: a forked child holding a copy of the descriptor would otherwise
        // keep the lock after this process closes its own.
        _ = flock(fd.raw, LOCK_UN)
    }
}

/// A quarantined record frame: its id and CRC.
struct QuarantinedFrame: Hashable {
    var id: UInt64
    var crc: UInt32
}
