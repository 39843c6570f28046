/// Answers whether a run-time permission is granted right now.
///
/// StewardCore defines only this question; the permissions module answers it (prompting,
/// persistence, OS checks), and feature modules ask it — StewardDevice asks for
/// ``Permission/deviceIdentity`` before handing out a raw machine ID or MAC address.
///
/// Implementations must be cheap and safe to call from any thread, and must answer `false`
/// for a permission the manifest does not declare.
public protocol PermissionChecking: Sendable {
    /// Whether `permission` is granted.
    func isGranted(_ permission: Permission) -> Bool
}

/// A fixed answer per permission, for hosts without a permission model yet and for tests.
public struct StaticPermissions: PermissionChecking {
    /// The granted permissions.
    public var granted: Set<Permission>

    /// Grants exactly `granted`.
    public init(granted: Set<Permission> = []) { self.granted = granted }

    /// Whether `permission` is in ``granted``.
    public func isGranted(_ permission: Permission) -> Bool { granted.contains(permission) }
}
