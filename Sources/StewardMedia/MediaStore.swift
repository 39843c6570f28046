public import StewardCore
public import Foundation

/// Images in the vault, sanitised before they are stored, kept only as long as the manifest
/// says, deleted and exported on request.
///
/// Every image goes through ``ImageSanitizer`` first: location, serials, owner names and other
/// metadata are removed according to ``metadataPolicy(for:keepLocation:)``, and an image that
/// cannot be sanitised is refused with a ``MediaError`` — nothing is stored. The sanitised image
/// is then stored through the `ConsentGate` (encrypted with AES-256-GCM in the
/// vault, under data category `images`, only for a purpose the user allows).
///
/// **Sources.** A camera image needs the `camera` permission, a gallery image the `photos`
/// permission, asked through `PermissionChecking` when `put` is called.
///
/// **Retention.** Originals follow the `images` category's retention (30 days in the example
/// manifest), counted from when they were stored. An edit (``putEdit(_:of:purpose:keepLocation:)``)
/// follows its own clock: the `imageEdits` category's retention when the manifest declares that
/// category for the purpose, otherwise the `images` retention — in both cases counted from the
/// edit's own creation, so an edit outlives its original by the time between the two. Expired
/// images are removed when the store opens and by ``purgeExpired(now:)``, which a host calls
/// periodically or leaves to ``runRetention(every:clock:)``.
///
/// **Deletion.** ``delete(_:)`` removes an image and every edit made from it (and their edits):
/// the user asked for that picture to be gone. Expiry does not cascade: an expired original's
/// edits stay until their own retention ends. Deleted data is physically removed (the vault
/// segments holding it are rewritten).
///
/// ```swift
/// let media = try MediaStore(gate: gate, vault: vault, permissions: permissionGate)
/// let result = try media.put(jpeg, source: .camera, purpose: .serviceProvision)
/// print(result.report.removed)          // ["GPSLatitude", "BodySerialNumber", …]
/// let edit = try media.putEdit(cropped, of: result.item!.id)
/// try media.export(to: "/tmp/my-images")
/// try media.deleteAll()                  // "delete my images"
/// ```
public final class MediaStore: Sendable {
    /// The vault collection that holds the images.
    public static let collection = "media"

    private let gate: ConsentGate
    private let vault: Vault
    private let permissions: any PermissionChecking
    private let clock: any WallClock
    /// The manifest the gate's ledger enforces.
    public let manifest: PrivacyManifest

    /// The header stored before the image bytes in each record.
    private struct Header: Codable {
        var kind: MediaKind
        var source: MediaSource
        var format: ImageFormat
        var original: MediaID?
        var removed: [String]
        var kept: [String]
    }
    private static let magic: [UInt8] = Array("SMI1".utf8)
    /// The vault's record limit less room for the header.
    static let maximumImageSize = (64 << 20) - (64 << 10)

    /// Opens the store and removes the images whose retention has ended.
    ///
    /// - Parameters:
    ///   - gate: Stores images only for allowed purposes; its ledger's manifest declares the
    ///     `images` (and optionally `imageEdits` and `imageMetadata`) categories.
    ///   - vault: The vault the gate stores into, for reading and deleting.
    ///   - permissions: Answers for `camera`, `photos`, `location` and `locationPrecise`.
    ///   - clock: The wall clock for retention.
    /// - Throws: `VaultError` when the vault cannot be read.
    public init(
        gate: ConsentGate, vault: Vault, permissions: any PermissionChecking, clock: any WallClock = SystemWallClock()
    ) throws {
        self.gate = gate
        self.vault = vault
        self.permissions = permissions
        self.clock = clock
        self.manifest = gate.ledger.manifest
        try purgeExpired()
    }

    // MARK: - Policy

    /// What metadata an image stored for `purpose` keeps.
    ///
    /// - Capture time and camera model: kept when the manifest declares the `imageMetadata`
    ///   category for `purpose`, removed otherwise.
    /// - Location (the EXIF GPS directory): kept only when all of these hold: the caller asks
    ///   (`keepLocation`, the user's explicit choice), the manifest declares both `imageMetadata`
    ///   and `preciseLocation` for `purpose`, and the `location` and `locationPrecise`
    ///   permissions are granted (EXIF coordinates are precise).
    /// - Serials, owner names and everything else listed in ``MetadataPolicy``: always removed.
    public func metadataPolicy(for purpose: Purpose, keepLocation: Bool = false) -> MetadataPolicy {
        let metadata = declares(.imageMetadata, for: purpose)
        let location =
            keepLocation && metadata && declares(.preciseLocation, for: purpose)
            && permissions.isGranted(.location) && permissions.isGranted(.locationPrecise)
        return MetadataPolicy(keepCaptureTime: metadata, keepDeviceModel: metadata, keepLocation: location)
    }

    private func declares(_ category: DataCategory, for purpose: Purpose) -> Bool {
        manifest.declaration(of: category)?.purposes.contains(purpose) ?? false
    }

    // MARK: - Storing

    /// Sanitises an image and stores it.
    ///
    /// - Parameters:
    ///   - bytes: A JPEG or PNG file.
    ///   - source: Where it came from; camera and gallery images need their permission.
    ///   - purpose: Why it is kept; the manifest must declare `images` for it.
    ///   - keepLocation: The user chose to keep where the photo was taken (see
    ///     ``metadataPolicy(for:keepLocation:)`` for what else it takes).
    /// - Returns: The stored item (nil while the gate holds it for pending consent) and the report.
    /// - Throws: ``MediaError`` with `permissionDenied`, a sanitising error (`unsupportedFormat`,
    ///   `truncated`, `malformed`, `offsetLoop`, `tooLarge`) or `notStored` (consent refused,
    ///   category undeclared); `VaultError` when the vault fails. Nothing is
    ///   stored when it throws.
    @discardableResult
    public func put(_ bytes: [UInt8], source: MediaSource, purpose: Purpose, keepLocation: Bool = false) throws
        -> MediaPutResult
    {
        if let permission = source.permission, !permissions.isGranted(permission) {
            throw MediaError(
                .permissionDenied,
                "a \(source.rawValue) image needs the \(permission.rawValue) permission, which is not granted: request it first"
            )
        }
        return try store(
            bytes, kind: .original, source: source, original: nil, purpose: purpose, keepLocation: keepLocation)
    }

    /// Sanitises an edited version of a stored image and stores it, linked to it.
    ///
    /// The edit is stored under `imageEdits` when the manifest declares that category for the
    /// purpose, else under `images`; its retention counts from its own creation. No source
    /// permission is checked: the edit derives from an image the app already holds.
    ///
    /// - Parameters:
    ///   - bytes: The edited JPEG or PNG.
    ///   - original: The image it was made from (an original or another edit).
    ///   - purpose: Why it is kept (default: the original's purpose).
    ///   - keepLocation: As for ``put(_:source:purpose:keepLocation:)``.
    /// - Throws: ``MediaError`` with `notFound` when `original` is not stored, or as `put` does.
    @discardableResult
    public func putEdit(_ bytes: [UInt8], of original: MediaID, purpose: Purpose? = nil, keepLocation: Bool = false)
        throws -> MediaPutResult
    {
        guard let parent = try item(original) else {
            throw MediaError(
                .notFound, "there is no image \(original) to attach an edit to (it was deleted or has expired)")
        }
        return try store(
            bytes, kind: .edit, source: parent.source, original: original, purpose: purpose ?? parent.purpose,
            keepLocation: keepLocation)
    }

    private func store(
        _ bytes: [UInt8], kind: MediaKind, source: MediaSource, original: MediaID?, purpose: Purpose, keepLocation: Bool
    ) throws -> MediaPutResult {
        guard bytes.count <= Self.maximumImageSize else {
            throw MediaError(
                .tooLarge, "the image has \(bytes.count) bytes; the store takes at most \(Self.maximumImageSize)")
        }
        let clean = try ImageSanitizer.sanitize(bytes, policy: metadataPolicy(for: purpose, keepLocation: keepLocation))
        let header = Header(
            kind: kind, source: source, format: clean.format, original: original,
            removed: clean.report.removed, kept: clean.report.kept)
        let encoded = Array(try JSONEncoder().encode(header))
        var record = Self.magic
        record.reserveCapacity(8 + encoded.count + clean.bytes.count)
        var w = ByteWriter(bigEndian: true)
        w.u32(UInt32(encoded.count))
        record.append(contentsOf: w.bytes)
        record.append(contentsOf: encoded)
        record.append(contentsOf: clean.bytes)
        let category: DataCategory = kind == .edit && declares(.imageEdits, for: purpose) ? .imageEdits : .images
        switch try gate.store(record, in: Self.collection, category: category, purpose: purpose) {
        case .stored(let id):
            try vault.commit()
            guard let stored = try vault.record(id, in: Self.collection), let image = Self.decode(stored) else {
                throw MediaError(.notStored, "the image was stored but could not be read back")
            }
            return MediaPutResult(item: image.item, report: clean.report)
        case .held:
            return MediaPutResult(item: nil, report: clean.report)
        case .dropped(let reason):
            throw MediaError(
                .notStored,
                "the image was not stored (\(reason)): the manifest must declare \(category.rawValue) for \(purpose.rawValue), and the user must allow it"
            )
        }
    }

    // MARK: - Reading

    /// Every stored image, oldest first (bytes left out).
    public func list() throws -> [MediaItem] {
        var items: [MediaItem] = []
        try vault.forEachRecord(in: Self.collection) { record in
            if let image = Self.decode(record) { items.append(image.item) }
        }
        return items
    }

    /// The image `id` with its bytes, or nil when there is none.
    public func get(_ id: MediaID) throws -> StoredImage? {
        guard let record = try vault.record(RecordID(rawValue: id.rawValue), in: Self.collection) else { return nil }
        return Self.decode(record)
    }

    /// The edits made from `id` (directly), oldest first.
    public func edits(of id: MediaID) throws -> [MediaItem] {
        try list().filter { $0.original == id }
    }

    private func item(_ id: MediaID) throws -> MediaItem? { try get(id)?.item }

    private static func decode(_ record: VaultRecord) -> StoredImage? {
        let data = record.data
        guard hasPrefix(data, magic, at: 0), data.count >= 8 else { return nil }
        guard let length = try? Int(MediaReader(bytes: data, bigEndian: true).u32(4)), length <= data.count &- 8 else {
            return nil
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(data[8..<(8 + length)])) else {
            return nil
        }
        let bytes = Array(data[(8 + length)...])
        let item = MediaItem(
            id: MediaID(rawValue: record.id.rawValue), kind: header.kind, source: header.source, format: header.format,
            original: header.original, purpose: record.purpose, category: record.category, created: record.created,
            expires: record.expires, byteCount: bytes.count, removedMetadata: header.removed, keptMetadata: header.kept)
        return StoredImage(item: item, bytes: bytes)
    }

    // MARK: - Deleting

    /// Deletes an image and every edit made from it, directly or through other edits, and
    /// rewrites the vault segments that held them so the data is physically gone.
    ///
    /// - Returns: The ids deleted, `id` first.
    /// - Throws: ``MediaError`` with `notFound` when there is no image `id`.
    @discardableResult
    public func delete(_ id: MediaID) throws -> [MediaID] {
        let items = try list()
        guard items.contains(where: { $0.id == id }) else { throw MediaError(.notFound, "there is no image \(id)") }
        var doomed = [id]
        var index = 0
        while index < doomed.count {
            let parent = doomed[index]
            doomed.append(contentsOf: items.filter { $0.original == parent && !doomed.contains($0.id) }.map(\.id))
            index += 1
        }
        for victim in doomed { try vault.remove(RecordID(rawValue: victim.rawValue), from: Self.collection) }
        try vault.compact()
        return doomed
    }

    /// "Delete my images": deletes every stored image and edit, physically.
    ///
    /// - Returns: How many images were deleted.
    @discardableResult
    public func deleteAll() throws -> Int {
        var ids: [RecordID] = []
        try vault.forEachRecord(in: Self.collection) { ids.append($0.id) }
        for id in ids { try vault.remove(id, from: Self.collection) }
        try vault.compact()
        return ids.count
    }

    // MARK: - Retention

    /// Deletes every image whose retention has ended at `now` (edits are not affected by their
    /// original's expiry), and physically removes them.
    ///
    /// - Parameter now: The time to judge by (default: the store's clock). A NaN date expires
    ///   nothing; `.distantFuture` or `+infinity` expires every image that has a retention.
    /// - Returns: The ids removed.
    @discardableResult
    public func purgeExpired(now: Date? = nil) throws -> [MediaID] {
        let now = now ?? clock.checkedNow
        // `<=` on dates is `!(>)`, true for NaN: without this, NaN would expire everything.
        guard !now.timeIntervalSince1970.isNaN else { return [] }
        var expired: [RecordID] = []
        try vault.forEachRecord(in: Self.collection) { record in
            if let expires = record.expires, expires <= now { expired.append(record.id) }
        }
        guard !expired.isEmpty else { return [] }
        for id in expired { try vault.remove(id, from: Self.collection) }
        try vault.compact()
        return expired.map { MediaID(rawValue: $0.rawValue) }
    }

    /// Calls ``purgeExpired(now:)`` every `interval` on `clock` until the task is cancelled; a
    /// failed purge is retried at the next interval.
    ///
    /// `interval` is clamped to 1 s…2^31 s: zero or a negative interval purges every second
    /// (it does not spin), and an absurd one (`Duration(attoseconds: .max)`) waits 2^31 s.
    ///
    /// ```swift
    /// let retention = Task { await media.runRetention(every: .seconds(3_600)) }
    /// ```
    public func runRetention(every interval: Duration, clock sleeper: any Clock<Duration> = ContinuousClock()) async {
        let interval = interval.periodicInterval
        while !Task.isCancelled {
            do { try await checkedSleep(for: interval, on: sleeper) } catch { return }
            _ = try? purgeExpired()
        }
    }

    // MARK: - Export

    /// One exported image in the export's `index.json`.
    public struct ExportEntry: Hashable, Sendable, Codable {
        /// The image file's name in the export folder.
        public var file: String
        /// What the store knows about it.
        public var item: MediaItem
    }

    /// Writes every image (sanitised, as stored) to `directory`, named `ID.jpg` or `ID.png`, with an
    /// `index.json` describing them (id, kind, source, original, purpose, dates, removed metadata).
    ///
    /// The folder is created with mode 0700 and each file with 0600 before its first byte is
    /// written (and only if nothing is at its path yet): the export is the user's own copy, in
    /// plaintext.
    ///
    /// - Returns: The index entries.
    /// - Throws: `SystemError` when a file cannot be created (`EEXIST` if one is already there).
    @discardableResult
    public func export(to directory: String) throws -> [ExportEntry] {
        let (entries, files) = try exportContents()
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for (name, bytes) in files { try FileSystem.createNewFile(bytes, at: directory + "/" + name) }
        return entries
    }

    /// What ``export(to:)`` writes, in memory: the index entries, and each file's name (the
    /// images, then `index.json`) with its bytes.
    public func exportContents() throws -> (entries: [ExportEntry], files: [(name: String, bytes: [UInt8])]) {
        var entries: [ExportEntry] = []
        var files: [(name: String, bytes: [UInt8])] = []
        try vault.forEachRecord(in: Self.collection) { record in
            guard let image = Self.decode(record) else { return }
            let name = "\(image.item.id).\(image.item.format.fileExtension)"
            files.append((name, image.bytes))
            entries.append(ExportEntry(file: name, item: image.item))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        files.append(("index.json", Array(try encoder.encode(entries))))
        return (entries, files)
    }
}
