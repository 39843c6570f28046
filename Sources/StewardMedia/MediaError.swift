/// An error from StewardMedia: an image that cannot be sanitised, a source whose permission
/// is missing, an item that was not stored or is not there.
///
/// Compare ``code`` against the static members of ``MediaError/Code``; codes may be added in
/// later releases without breaking clients. ``message`` says what happened and what to do.
/// Whenever `put` throws, nothing was stored: an image is never kept unsanitised.
public struct MediaError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case unsupportedFormat, truncated, malformed, offsetLoop, tooLarge
            case permissionDenied, notStored, notFound
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The bytes are neither a JPEG nor a PNG, or use a feature the sanitiser does not
        /// handle (an unknown critical PNG chunk).
        public static let unsupportedFormat = Code(.unsupportedFormat)
        /// The file ends inside a segment, a chunk or the image data.
        public static let truncated = Code(.truncated)
        /// A structure is inconsistent: a length or offset past the end, a count too large for
        /// the file, a bad checksum, a marker where none may be.
        public static let malformed = Code(.malformed)
        /// EXIF directory offsets point back to a directory already read (a loop).
        public static let offsetLoop = Code(.offsetLoop)
        /// The image is larger than the store takes (64 MiB less its envelope), or its
        /// rebuilt metadata does not fit its segment.
        public static let tooLarge = Code(.tooLarge)
        /// The source's permission (camera, photos) is not granted.
        public static let permissionDenied = Code(.permissionDenied)
        /// The consent gate did not store the image (consent refused or the category is not
        /// declared for the purpose).
        public static let notStored = Code(.notStored)
        /// No image has that id.
        public static let notFound = Code(.notFound)

        /// The code's name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do.
    public let message: String
    /// The byte offset in the image the error is about, when there is one.
    public let offset: Int?

    init(_ code: Code, _ message: String, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    /// The code, the message and, where known, the byte offset.
    public var description: String {
        var text = "MediaError(\(code)): \(message)"
        if let offset { text += " [at byte \(offset)]" }
        return text
    }
}
