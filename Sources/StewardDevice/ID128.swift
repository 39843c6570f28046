import StewardCore

/// A 128-bit identifier in systemd's sense (`sd_id128_t`): machine IDs, boot IDs, app IDs.
///
/// Written as 32 lowercase hex digits (systemd's plain form) or as a UUID with dashes.
///
/// ```swift
/// let id = try ID128(parsing: "51df0b4bc3b04c9780e299b98ca373b8")
/// id.hexString    // "51df0b4bc3b04c9780e299b98ca373b8"
/// id.uuidString   // "51df0b4b-c3b0-4c97-80e2-99b98ca373b8"
/// ```
public struct ID128: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes.
    public let bytes: [UInt8]

    /// The all-zero id (systemd's `SD_ID128_NULL`).
    public static let null = ID128(unchecked: [UInt8](repeating: 0, count: 16))

    init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// Creates an id from 16 bytes.
    ///
    /// - Throws: ``DeviceIdentityError`` when `bytes` is not 16 bytes long.
    public init(bytes: [UInt8]) throws {
        guard bytes.count == 16 else {
            throw DeviceIdentityError(.malformedID, "a 128-bit id has 16 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Parses 32 hex digits, with or without UUID dashes (8-4-4-4-12), in either case.
    ///
    /// - Throws: ``DeviceIdentityError`` for anything else.
    public init(parsing text: String) throws {
        var digits = Array(text.utf8)
        if digits.count == 36, [8, 13, 18, 23].allSatisfy({ digits[$0] == UInt8(ascii: "-") }) {
            digits.removeAll { $0 == UInt8(ascii: "-") }
        }
        guard digits.count == 32 else {
            throw DeviceIdentityError(
                .malformedID, "a 128-bit id is 32 hex digits (or a UUID), got \(text.utf8.count) characters")
        }
        guard let bytes = Hex.decode(String(decoding: digits, as: UTF8.self)) else {
            throw DeviceIdentityError(.malformedID, "'\(text)' is not hexadecimal")
        }
        self.bytes = bytes
    }

    /// Whether every byte is zero.
    public var isNull: Bool { bytes.allSatisfy { $0 == 0 } }

    /// 32 lowercase hex digits, systemd's plain form.
    public var hexString: String { Hex.encode(bytes) }

    /// The UUID form, lowercase, with dashes (8-4-4-4-12).
    public var uuidString: String {
        let hex = Array(hexString)
        return [
            String(hex[0..<8]), String(hex[8..<12]), String(hex[12..<16]), String(hex[16..<20]), String(hex[20..<32]),
        ].joined(separator: "-")
    }

    /// The plain hex form.
    public var description: String { hexString }

    /// The id with the UUID version 4 and RFC 4122 variant bits set, as systemd does for ids
    /// it derives (`id128_make_v4_uuid`).
    public func asVersion4UUID() -> ID128 {
        var b = bytes
        b[6] = (b[6] & 0x0F) | 0x40
        b[8] = (b[8] & 0x3F) | 0x80
        return ID128(unchecked: b)
    }
}

/// An identifier that could not be read, derived or given out.
public struct DeviceIdentityError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case malformedID, machineIDUnavailable, nullApplicationID, permissionDenied
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// Text or bytes that are not a 128-bit id.
        public static let malformedID = Code(.malformedID)
        /// /etc/machine-id is missing, empty, "uninitialized", unreadable or malformed.
        public static let machineIDUnavailable = Code(.machineIDUnavailable)
        /// The all-zero application id, which systemd refuses too.
        public static let nullApplicationID = Code(.nullApplicationID)
        /// A raw identifier was asked for without the device-identity permission.
        public static let permissionDenied = Code(.permissionDenied)

        /// The code's name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
