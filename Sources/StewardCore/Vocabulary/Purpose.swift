/// Why data is processed: an extensible, string-backed identifier.
///
/// Steward's well-known purposes are static members; an app declares its own in its privacy
/// manifest with any other spelling.
///
/// ```swift
/// let p: Purpose = .analytics
/// let custom = Purpose("warrantyClaims")
/// ```
public struct Purpose: StringIdentifier {
    /// The identifier's spelling.
    public let rawValue: String
    /// Creates the identifier with the spelling `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Providing the service the user asked for (necessary for the service).
    public static let serviceProvision: Purpose = "serviceProvision"
    /// Authenticating the device at login (necessary for the service).
    public static let deviceAuthentication: Purpose = "deviceAuthentication"
    /// Crash reporting for stability.
    public static let crashReporting: Purpose = "crashReporting"
    /// Anonymised usage analytics.
    public static let analytics: Purpose = "analytics"
    /// Personalising content.
    public static let personalization: Purpose = "personalization"
    /// Advertising.
    public static let advertising: Purpose = "advertising"
    /// Push notifications.
    public static let pushNotifications: Purpose = "pushNotifications"
}

/// What kind of data a record holds: an extensible, string-backed identifier.
///
/// ```swift
/// let c: DataCategory = .crashDiagnostics
/// ```
public struct DataCategory: StringIdentifier {
    /// The identifier's spelling.
    public let rawValue: String
    /// Creates the identifier with the spelling `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Hardware model and vendor.
    public static let deviceModel: DataCategory = "deviceModel"
    /// Operating-system name and version.
    public static let osVersion: DataCategory = "osVersion"
    /// Device configuration (CPU, memory, runtime environment).
    public static let deviceConfiguration: DataCategory = "deviceConfiguration"
    /// Unique device identifiers (machine ID, installation and advertising IDs).
    public static let deviceIdentifiers: DataCategory = "deviceIdentifiers"
    /// Network MAC addresses.
    public static let macAddress: DataCategory = "macAddress"
    /// Network connection status.
    public static let connectionStatus: DataCategory = "connectionStatus"
    /// IP addresses.
    public static let ipAddress: DataCategory = "ipAddress"
    /// Coarse location.
    public static let coarseLocation: DataCategory = "coarseLocation"
    /// Precise location.
    public static let preciseLocation: DataCategory = "preciseLocation"
    /// Crash diagnostics.
    public static let crashDiagnostics: DataCategory = "crashDiagnostics"
    /// Usage events.
    public static let usageEvents: DataCategory = "usageEvents"
    /// Images.
    public static let images: DataCategory = "images"
    /// Image metadata (EXIF, XMP).
    public static let imageMetadata: DataCategory = "imageMetadata"
}
