public import StewardCore

/// A change of a permission's status.
public struct PermissionChange: Hashable, Sendable {
    /// What caused a change.
    public enum Cause: Hashable, Sendable {
        /// The user answered a prompt.
        case answer(PermissionAnswer)
        /// The grant was revoked.
        case revoked
        /// The decisions were reset.
        case reset
        /// The operating system's check changed.
        case system
        /// The age gate's restriction changed.
        case ageGate
    }

    /// The permission.
    public var permission: Permission
    /// The status before.
    public var previous: PermissionStatus
    /// The status now.
    public var status: PermissionStatus
    /// Why it changed.
    public var cause: Cause
}

extension DataCategory {
    /// The user's permission decisions (answers, revocations, resets).
    public static let permissionDecisions: DataCategory = "permissionDecisions"
}
