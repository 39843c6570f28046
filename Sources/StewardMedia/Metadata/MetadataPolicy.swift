/// Which image metadata survives sanitising.
///
/// Whatever the policy, sanitising always removes device serials (`BodySerialNumber`,
/// `LensSerialNumber`, maker notes), owner names (`CameraOwnerName`, `Artist`, `Copyright`,
/// XMP `dc:creator`), comments, XMP and IPTC packets, thumbnails and every tag it does not
/// know, and always keeps what is needed to show the image as taken (`Orientation`,
/// resolution, `ColorSpace`, pixel dimensions, ICC profile). The policy decides the rest:
///
/// ```swift
/// let image = try ImageSanitizer.sanitize(bytes, policy: MetadataPolicy(keepCaptureTime: true))
/// print(image.report.removed)   // ["GPSLatitude", "BodySerialNumber", "XMP", …]
/// ```
///
/// ``MediaStore`` derives the policy from the manifest and permissions: see
/// ``MediaStore/metadataPolicy(for:keepLocation:)``.
public struct MetadataPolicy: Hashable, Sendable {
    /// Keep when the photo was taken: `DateTime`, `DateTimeOriginal`, `DateTimeDigitized`, their
    /// `OffsetTime*` and `SubSecTime*` companions, and PNG's `tIME` chunk.
    public var keepCaptureTime: Bool
    /// Keep the camera's `Make`, `Model`, `LensMake` and `LensModel` (never its serial numbers).
    public var keepDeviceModel: Bool
    /// Keep the EXIF GPS directory (all of it: coordinates, altitude, direction, GPS time).
    public var keepLocation: Bool

    /// Creates a policy; by default everything optional is removed.
    public init(keepCaptureTime: Bool = false, keepDeviceModel: Bool = false, keepLocation: Bool = false) {
        self.keepCaptureTime = keepCaptureTime
        self.keepDeviceModel = keepDeviceModel
        self.keepLocation = keepLocation
    }

    /// Removes everything optional: only what is needed to show the image stays.
    public static let strict = MetadataPolicy()
}

/// The formats StewardMedia sanitises.
public enum ImageFormat: String, Hashable, Sendable, Codable, CaseIterable {
    /// JPEG (JFIF or EXIF).
    case jpeg
    /// PNG (including APNG).
    case png

    /// The usual file extension, without the dot.
    public var fileExtension: String { self == .jpeg ? "jpg" : "png" }

    /// The format `bytes` start with, or nil.
    public static func detect(_ bytes: [UInt8]) -> ImageFormat? {
        if bytes.count >= 2, bytes[0] == 0xFF, bytes[1] == 0xD8 { return .jpeg }
        if hasPrefix(bytes, PNGFile.signature, at: 0) { return .png }
        return nil
    }
}

/// What sanitising kept and removed, by name: EXIF tag names (`GPSLatitude`,
/// `BodySerialNumber`), `XMP`, `XMP exif:GPSLatitude` (sensitive XMP properties found in the
/// removed packet), `Comment`, `APP13 Photoshop/IPTC`, PNG chunks (`tEXt Author`, `tIME`),
/// `Thumbnail`, `Data after end of image`.
public struct MetadataReport: Hashable, Sendable, Codable {
    /// The image's format.
    public var format: ImageFormat
    /// What was removed, in file order, each name once.
    public var removed: [String]
    /// The metadata that stayed, in file order, each name once.
    public var kept: [String]

    /// Creates a report.
    public init(format: ImageFormat, removed: [String] = [], kept: [String] = []) {
        self.format = format
        self.removed = removed
        self.kept = kept
    }

    /// At most this many names are listed in each list; a hostile file with thousands of
    /// distinct tags gets a final "… more" entry instead of an unbounded report.
    static let nameLimit = 512
    static let overflowName = "… more (list truncated)"
}

/// Builds a ``MetadataReport`` in bounded time and memory: each name is looked up in a set, once,
/// and each list stops at ``MetadataReport/nameLimit`` names and the overflow entry, however many
/// entries a hostile file repeats.
struct MetadataReportBuilder {
    private(set) var report: MetadataReport
    private var removedSeen: Set<String> = []
    private var keptSeen: Set<String> = []

    init(format: ImageFormat) { report = MetadataReport(format: format) }

    mutating func remove(_ name: String) { Self.add(name, to: &report.removed, seen: &removedSeen) }

    mutating func keep(_ name: String) { Self.add(name, to: &report.kept, seen: &keptSeen) }

    mutating func remove(_ names: some Sequence<String>) { for name in names { remove(name) } }

    mutating func keep(_ names: some Sequence<String>) { for name in names { keep(name) } }

    private static func add(_ name: String, to list: inout [String], seen: inout Set<String>) {
        guard list.count < MetadataReport.nameLimit else {
            if list.last != MetadataReport.overflowName, !seen.contains(name) {
                list.append(MetadataReport.overflowName)
            }
            return
        }
        if seen.insert(name).inserted { list.append(name) }
    }
}

/// Names in first-seen order, each once.
struct UniqueNames {
    private(set) var names: [String] = []
    private var seen: Set<String> = []

    mutating func add(_ name: String) { if seen.insert(name).inserted { names.append(name) } }

    mutating func add(_ names: some Sequence<String>) { for name in names { add(name) } }
}

/// A sanitised image: its bytes and what was removed.
public struct SanitizedImage: Hashable, Sendable {
    /// The image with only the allowed metadata; its pixel data is the original's, byte for byte.
    public var bytes: [UInt8]
    /// What was kept and removed.
    public var report: MetadataReport
    /// The image's format.
    public var format: ImageFormat { report.format }
}

/// Removes metadata from JPEG and PNG images without decoding their pixels.
///
/// JPEG: the segments before and between scans are read one by one (lengths checked against
/// the file); EXIF is rebuilt with only what the policy keeps; XMP, IPTC, comments and other
/// application segments are dropped; quantisation and Huffman tables, frame and scan headers,
/// ICC profiles, the Adobe segment and the entropy-coded data are copied byte for byte; the
/// JFIF segment is copied without its embedded thumbnail; anything after the end-of-image
/// marker is dropped. PNG: every chunk's CRC is checked; `eXIf`
/// is rebuilt; text chunks are dropped; image data and colour chunks are copied byte for byte.
///
/// Hostile input (truncated segments, lengths or offsets past the end, counts too large for
/// the file, EXIF directory loops, unknown formats) throws ``MediaError``; nothing traps.
///
/// ```swift
/// let clean = try ImageSanitizer.sanitize(photo, policy: .strict)
/// ```
public enum ImageSanitizer {
    /// Sanitises a JPEG or PNG image.
    ///
    /// - Parameters:
    ///   - bytes: The image file.
    ///   - policy: What optional metadata to keep.
    /// - Returns: The sanitised image and the report.
    /// - Throws: ``MediaError`` (`unsupportedFormat`, `truncated`, `malformed`, `offsetLoop`,
    ///   `tooLarge`).
    public static func sanitize(_ bytes: [UInt8], policy: MetadataPolicy) throws -> SanitizedImage {
        switch ImageFormat.detect(bytes) {
        case .jpeg: return try JPEGFile(bytes).sanitized(policy: policy)
        case .png: return try PNGFile(bytes).sanitized(policy: policy)
        case nil: throw MediaError(.unsupportedFormat, "the data is neither a JPEG nor a PNG image", offset: 0)
        }
    }
}

/// The metadata an image carries, as ``ImageSanitizer`` sees it: for checking what a stored
/// image still holds.
///
/// ```swift
/// let metadata = try ImageMetadata(reading: stored.bytes)
/// assert(!metadata.exifTags.contains("GPSLatitude"))
/// ```
public struct ImageMetadata: Hashable, Sendable {
    /// The image's format.
    public var format: ImageFormat
    /// Every EXIF tag, by name (`Make`, `GPSLatitude`, `ExifTag 0x1234`), directory by directory,
    /// each name once.
    public var exifTags: [String]
    /// Every other metadata container, each name once: `XMP`, `Comment`, `APP13`, `ICC profile`,
    /// `JFIF`, `tEXt Author`, `tIME`, `Data after end of image`, …
    public var containers: [String]

    /// Parses `bytes` the way the sanitiser does.
    ///
    /// - Throws: ``MediaError`` for the same problems ``ImageSanitizer/sanitize(_:policy:)`` rejects.
    public init(reading bytes: [UInt8]) throws {
        switch ImageFormat.detect(bytes) {
        case .jpeg: self = try JPEGFile(bytes).metadata()
        case .png: self = try PNGFile(bytes).metadata()
        case nil: throw MediaError(.unsupportedFormat, "the data is neither a JPEG nor a PNG image", offset: 0)
        }
    }

    init(format: ImageFormat, exifTags: [String], containers: [String]) {
        self.format = format
        self.exifTags = exifTags
        self.containers = containers
    }
}

/// XMP properties whose presence the report names when a packet is removed.
enum XMPProperties {
    static let sensitive = [
        "exif:GPSLatitude", "exif:GPSLongitude", "exif:GPSAltitude", "exif:GPSTimeStamp", "photoshop:City",
        "photoshop:State", "photoshop:Country", "Iptc4xmpCore:Location", "Iptc4xmpCore:CountryCode",
        "Iptc4xmpExt:LocationShown", "Iptc4xmpExt:LocationCreated", "dc:creator", "dc:rights",
        "aux:SerialNumber", "aux:LensSerialNumber", "exifEX:BodySerialNumber", "exifEX:LensSerialNumber",
        "exifEX:CameraOwnerName", "aux:OwnerName", "xmp:CreateDate", "photoshop:DateCreated", "exif:DateTimeOriginal",
        "tiff:Make", "tiff:Model", "xmpMM:DocumentID", "xmpMM:OriginalDocumentID",
    ]

    /// The sensitive property names that occur in `packet`, as report names.
    static func found(in packet: ArraySlice<UInt8>) -> [String] {
        // The properties sit at the start of a packet; a huge packet is not scanned to its end.
        let text = String(decoding: packet.prefix(1 << 20), as: UTF8.self)
        return sensitive.filter { text.contains($0) }.map { "XMP " + $0 }
    }
}
