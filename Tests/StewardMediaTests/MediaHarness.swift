import Foundation
import StewardCore
import StewardMedia
import StewardTesting

/// A vault, consent ledger, gate and media store in a temporary folder, on a manual clock.
final class MediaHarness {
    let directory = NSTemporaryDirectory() + "steward-media-\(UUID().uuidString)"
    let clock: ManualWallClock
    let vault: Vault
    let ledger: ConsentLedger
    let gate: ConsentGate
    let permissions: any PermissionChecking
    private(set) var store: MediaStore

    /// The example manifest of the CLI, read from the repository.
    static func exampleManifest() throws -> PrivacyManifest {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Examples/steward/example-manifest.json"))
        return try PrivacyManifest.decode(json: Array(data), now: Date(timeIntervalSince1970: 1_767_225_600))
    }

    /// The example manifest without its `imageEdits` category: edits are then stored as images.
    static func manifestWithoutEdits() throws -> PrivacyManifest {
        var manifest = try exampleManifest()
        manifest.dataCategories.removeAll { $0.id == .imageEdits }
        return manifest
    }

    /// The example manifest with an `imageEdits` category kept `days` days.
    static func manifestWithEdits(days: Int) throws -> PrivacyManifest {
        var manifest = try manifestWithoutEdits()
        manifest.dataCategories.append(
            DataCategoryDeclaration(
                id: .imageEdits, description: "Edited versions of your photos.",
                purposes: [.serviceProvision, .personalization],
                retentionDays: days, sensitivity: .sensitive, leavesDevice: false, recipients: []))
        return manifest
    }

    init(
        manifest: PrivacyManifest? = nil,
        permissions: any PermissionChecking = StaticPermissions(granted: [.camera, .photos]),
        clock: ManualWallClock = ManualWallClock(), policies: [Purpose: PendingPolicy] = [:]
    ) throws {
        self.clock = clock
        self.permissions = permissions
        vault = try Vault.open(directory: directory, keyProvider: InMemoryKeyProvider(), clock: clock)
        ledger = try ConsentLedger(manifest: try manifest ?? Self.exampleManifest(), vault: vault, clock: clock)
        gate = ConsentGate(ledger: ledger, vault: vault, policies: policies, clock: clock)
        store = try MediaStore(gate: gate, vault: vault, permissions: permissions, clock: clock)
    }

    /// Opens the store again (as an app does at its next start).
    func reopen() throws {
        store = try MediaStore(gate: gate, vault: vault, permissions: permissions, clock: clock)
    }

    /// Every byte of every file under the vault folder.
    func filesOnDisk() -> [(String, [UInt8])] {
        var out: [(String, [UInt8])] = []
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
        while let name = walker.nextObject() as? String {
            let path = directory + "/" + name
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: path)
            {
                out.append((name, Array(data)))
            }
        }
        return out
    }

    deinit {
        try? vault.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Expected EXIF tag sets after sanitising ``TestImages/exifBlock(bigEndian:)``.
enum ExpectedTags {
    static let strict: Set<String> = [
        "Orientation", "XResolution", "YResolution", "ResolutionUnit", "ExifIFDPointer", "ExifVersion", "ColorSpace",
    ]
    static let withMetadata: Set<String> = strict.union([
        "Make", "Model", "DateTime", "DateTimeOriginal", "DateTimeDigitized", "LensModel",
    ])
    static let withLocation: Set<String> = withMetadata.union([
        "GPSInfoIFDPointer", "GPSVersionID", "GPSLatitudeRef", "GPSLatitude", "GPSLongitudeRef", "GPSLongitude",
    ])
    /// Every tag the strict policy may keep (a mutation may turn one rendering tag into another).
    static let renderingTags: Set<String> = strict.union(["PixelXDimension", "PixelYDimension", "YCbCrPositioning"])
    /// Never kept, whatever the policy.
    static let forbidden: Set<String> = [
        "BodySerialNumber", "LensSerialNumber", "CameraOwnerName", "Artist", "Copyright", "MakerNote",
        "UserComment", "Software", "Thumbnail Compression", "Thumbnail JPEGInterchangeFormat",
    ]
    static let forbiddenStrings = [
        TestImages.serial, TestImages.lensSerial, TestImages.owner, TestImages.artist, TestImages.comment,
        TestImages.city,
    ]
}
