/// Where a permission stands for this app, now.
///
/// `restricted` wins over everything the user said: a permission the manifest does not
/// declare, one the age gate withholds, or one the operating system would refuse is
/// restricted, and is not asked for. `limited` is a grant the operating system honours in part.
public enum PermissionStatus: Hashable, Sendable, CustomStringConvertible {
    /// Never asked (or asked again after ``PermissionGate/reset(_:)``, or allowed only once in
    /// an earlier process).
    case notDetermined
    /// Allowed, for good or for this process (allow once).
    case granted
    /// Denied once: the app may ask again, explaining why first.
    case denied
    /// Denied for good (deny always, or denied twice): the app cannot ask again; only the
    /// user can change it, in the app's settings.
    case permanentlyDenied
    /// Cannot be granted now, whatever the user says; the restriction says why.
    case restricted(PermissionRestriction)
    /// Granted, and the operating system allows part of it; `scope` says which part.
    case limited(scope: String)

    /// Whether the app may use the capability now (granted or limited).
    public var allowsAccess: Bool {
        switch self {
        case .granted, .limited: true
        default: false
        }
    }

    /// The status's name as the CLI and JSON print it: notDetermined, granted, denied,
    /// permanentlyDenied, restricted, limited.
    public var name: String {
        switch self {
        case .notDetermined: "notDetermined"
        case .granted: "granted"
        case .denied: "denied"
        case .permanentlyDenied: "permanentlyDenied"
        case .restricted: "restricted"
        case .limited: "limited"
        }
    }

    /// The restriction's reason or the limited scope; nil for the other statuses.
    public var detail: String? {
        switch self {
        case .restricted(let restriction): restriction.reason
        case .limited(let scope): scope
        default: nil
        }
    }

    /// The name, with the reason or scope when there is one.
    public var description: String { detail.map { "\(name) (\($0))" } ?? name }
}

/// Why a permission cannot be granted now.
public struct PermissionRestriction: Hashable, Sendable, CustomStringConvertible {
    /// Who restricts: the manifest, the age gate or the operating system.
    public struct Source: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Hashable, Sendable { case manifest, ageGate, operatingSystem }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The privacy manifest does not declare the permission.
        public static let manifest = Source(.manifest)
        /// The user is below the minimum age and no guardian has consented.
        public static let ageGate = Source(.ageGate)
        /// The operating system would refuse access (no device, no access rights, sandbox).
        public static let operatingSystem = Source(.operatingSystem)

        /// The source's name: manifest, ageGate, operatingSystem.
        public var description: String { value.rawValue }
    }

    /// Who restricts.
    public var source: Source
    /// Why, and what would lift it.
    public var reason: String

    /// A restriction by `source` for `reason`.
    public init(_ source: Source, reason: String) {
        self.source = source
        self.reason = reason
    }

    /// The reason.
    public var description: String { reason }
}
