public import StewardCore
public import struct Foundation.Date

/// The identifier of an image in a ``MediaStore``: the number of its vault record, unique in
/// the vault and never reused once committed.
public struct MediaID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// The number.
    public let rawValue: UInt64
    /// Creates an id from its number.
    public init(rawValue: UInt64) { self.rawValue = rawValue }
    /// Parses an id as `steward media list` prints it; nil for anything but a decimal number.
    public init?(_ text: String) {
        guard let value = UInt64(text) else { return nil }
        rawValue = value
    }
    /// Orders ids by creation (ids increase).
    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
    /// The id in decimal, as the CLI shows it.
    public var description: String { String(rawValue) }
    /// Reads the id from its JSON number.
    public init(from decoder: any Decoder) throws { rawValue = try decoder.singleValueContainer().decode(UInt64.self) }
    /// Writes the id as a JSON number.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// Where an image came from; decides which permission ``MediaStore/put(_:source:purpose:keepLocation:)`` checks.
public enum MediaSource: String, Hashable, Sendable, Codable, CaseIterable {
    /// Taken with the camera: needs `Permission.camera`.
    case camera
    /// Picked from the user's photos: needs `Permission.photos`.
    case gallery
    /// Handed to the app directly (a file the user chose to upload, a pasted image): no device
    /// permission is involved.
    case upload

    /// The permission this source needs, or nil.
    public var permission: Permission? {
        switch self {
        case .camera: .camera
        case .gallery: .photos
        case .upload: nil
        }
    }
}

/// Whether an image is an original or an edited version of one.
public enum MediaKind: String, Hashable, Sendable, Codable {
    /// As received (after sanitising).
    case original
    /// An edited version of another image (see ``MediaItem/original``).
    case edit
}

/// What the store knows about an image, without its bytes.
public struct MediaItem: Hashable, Sendable, Codable {
    /// The image's id.
    public var id: MediaID
    /// Original or edit.
    public var kind: MediaKind
    /// Where it came from (an edit has its original's source).
    public var source: MediaSource
    /// JPEG or PNG.
    public var format: ImageFormat
    /// For an edit, the image it was made from. The link stays when the original expires, and
    /// then points to nothing.
    public var original: MediaID?
    /// Why it is kept.
    public var purpose: Purpose
    /// The data category it is stored under (`images`, or `imageEdits` for edits when the
    /// manifest declares it).
    public var category: DataCategory
    /// When it was stored.
    public var created: Date
    /// When retention ends, or nil when the category declares no retention.
    public var expires: Date?
    /// The size of the sanitised image.
    public var byteCount: Int
    /// The metadata removed before storing, by name.
    public var removedMetadata: [String]
    /// The metadata kept, by name.
    public var keptMetadata: [String]
}

/// An image read back from a ``MediaStore``.
public struct StoredImage: Hashable, Sendable {
    /// What the store knows about it.
    public var item: MediaItem
    /// The sanitised image file.
    public var bytes: [UInt8]
}

/// What ``MediaStore/put(_:source:purpose:keepLocation:)`` did.
public struct MediaPutResult: Hashable, Sendable {
    /// The stored image, or nil when the consent gate holds it until the user answers (the
    /// purpose's consent is pending and its `PendingPolicy` holds items).
    public var item: MediaItem?
    /// What sanitising kept and removed.
    public var report: MetadataReport
    /// Whether the gate holds the image for a pending consent answer.
    public var isHeld: Bool { item == nil }
}

extension DataCategory {
    /// Edited versions of images, when the manifest declares this category for the purpose:
    /// edits then follow its retention. Otherwise edits are stored as `images`.
    public static let imageEdits: DataCategory = "imageEdits"
}
