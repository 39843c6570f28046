/// A recipient of data declared in the privacy manifest: a processor or a third party.
///
/// ```swift
/// let r: RecipientID = "crashBackend"
/// ```
public struct RecipientID: StringIdentifier {
    /// The identifier's spelling.
    public let rawValue: String
    /// Creates the identifier with the spelling `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A capability the app asks the user for at run time.
///
/// ```swift
/// let p: Permission = .camera
/// ```
public struct Permission: StringIdentifier {
    /// The identifier's spelling.
    public let rawValue: String
    /// Creates the identifier with the spelling `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Reading the device's identity (machine ID, MAC addresses), needed for device
    /// authentication at login.
    public static let deviceIdentity: Permission = "deviceIdentity"
    /// Reading and writing files in the app's storage.
    public static let storage: Permission = "storage"
    /// Using a camera.
    public static let camera: Permission = "camera"
    /// Reading the user's photos or gallery.
    public static let photos: Permission = "photos"
    /// Coarse location.
    public static let location: Permission = "location"
    /// Precise location.
    public static let locationPrecise: Permission = "locationPrecise"
    /// Using a microphone.
    public static let microphone: Permission = "microphone"
    /// Showing notifications.
    public static let notifications: Permission = "notifications"
}

/// A legal jurisdiction, by code: an ISO 3166-1 alpha-2 country (`DE`, `CN`, `US`) or a
/// region (`EU`).
public struct Jurisdiction: StringIdentifier {
    /// The identifier's spelling.
    public let rawValue: String
    /// Creates the identifier with the spelling `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The European Union (GDPR; 16 unless a member state lowers it).
    public static let eu: Jurisdiction = "EU"
    /// The United States (COPPA: 13).
    public static let us: Jurisdiction = "US"
    /// China (PIPL: 14).
    public static let cn: Jurisdiction = "CN"
    /// The United Kingdom (UK GDPR: 13).
    public static let gb: Jurisdiction = "GB"
}

/// The name of a telemetry event declared in the privacy manifest.
public struct EventName: StringIdentifier {
    /// The identifier's spelling.
    public let rawValue: String
    /// Creates the identifier with the spelling `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }
}
