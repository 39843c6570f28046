import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension VaultState {
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
            let version = ByteReader(meta).u16(at: 8) ?? .max
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
    mutating func load() throws {
        try FileSystem.ensurePrivateDirectory(collectionsDirectory)
        try FileSystem.ensurePrivateDirectory(quarantineDirectory)
        if let stats = try? FileDescriptor.open(statsPath, O_RDONLY | O_NOFOLLOW | O_NONBLOCK).readAll(limit: 8),
            stats.count == 8
        {
            let count = ByteReader(stats).u64(at: 0) ?? 0
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
    func checkSegmentVersions() throws {
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
                let version = ByteReader(header).u16(at: 8) ?? .max
                guard version <= SegmentFormat.version else {
                    throw VaultError(
                        .unsupportedVersion,
                        "segment written in format \(version) by a newer Steward; this one reads up to \(SegmentFormat.version). Nothing was changed; update Steward.",
                        path: path)
                }
            }
        }
    }

    mutating func loadSegment(
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
        let version = ByteReader(bytes).u16(at: 8) ?? .max
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
                    // The scanner checked these fields' bounds; a frame that still cannot be
                    // read is left out of the index, not trusted.
                    guard let c = ByteReader.integer(UInt16.self, in: header, at: 40).map(Int.init),
                        let p = ByteReader.integer(UInt16.self, in: header, at: 42).map(Int.init),
                        let crc = ByteReader.integer(UInt32.self, in: raw, at: frame.offset + 12),
                        let created = ByteReader.integer(Int64.self, in: header, at: 24),
                        let expires = ByteReader.integer(Int64.self, in: header, at: 32),
                        44 + c + p <= header.count
                    else { continue }
                    let live =
                        !quarantined.contains(QuarantinedFrame(id: frame.id, crc: crc))
                        && store.tombstones[frame.id] == nil
                    store.entries.append(
                        IndexEntry(
                            id: frame.id, segment: number, offset: frame.offset, length: frame.length,
                            created: created, expires: expires,
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
            let crc = ByteReader(bytes).u32(at: frame.offset + 12) ?? 0
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
    func authenticates(_ frame: UnsafeRawBufferPointer, headerLength: Int, prefix: [UInt8]) -> Bool {
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
    static func spanFileName(_ collection: String, _ segment: UInt32, _ offset: Int) throws -> String {
        "\(collection).segment-\(segment)-at-\(offset)-\(String(try SecureRandom.uint64(), radix: 16)).bad"
    }

    /// Keeps damaged bytes in the quarantine folder (0600) and counts them.
    mutating func quarantine(_ bytes: [UInt8], name: String) throws {
        let path = quarantineDirectory + "/" + name
        try FileSystem.writeAtomically(bytes, to: path)
        quarantined += 1
        StewardDiagnostics.emit(
            DiagnosticEvent(
                .warning, "vault.quarantined", "A damaged or forged record was set aside in the quarantine folder",
                ["file": name]))
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
}

/// A quarantined record frame: its id and CRC.
struct QuarantinedFrame: Hashable {
    var id: UInt64
    var crc: UInt32
}
