public import StewardCore

/// What the operating system allows for a permission, whatever the user answers.
///
/// The user's answer never overrides the OS: a permission whose check is ``unavailable(reason:)``
/// is ``PermissionStatus/restricted(_:)`` with that reason, and is not asked for.
public enum SystemAccess: Hashable, Sendable {
    /// The OS lets this process use the capability; `detail` says through what
    /// (for example "/dev/video0 (UVC Camera)").
    case available(detail: String)
    /// The OS allows part of it; `scope` says which part (for example "/dev/video0; not
    /// /dev/video2: no write access").
    case limited(scope: String)
    /// The OS would refuse; `reason` names the problem and how to fix it.
    case unavailable(reason: String)
}

/// Checks what the operating system allows for a permission.
///
/// Implementations must not prompt, must not block for long (they read small files under
/// /dev, /sys, /proc, /etc and the data folder) and must be safe to call from any thread.
/// A permission they know nothing about is ``SystemAccess/available(detail:)``: only a
/// known obstacle restricts.
public protocol PermissionProbing: Sendable {
    /// What the OS allows for `permission` right now.
    func check(_ permission: Permission) -> SystemAccess
}

/// The application sandbox the process runs in, if any.
public enum Sandbox: Hashable, Sendable {
    /// Not sandboxed (or a sandbox Steward does not recognise).
    case none
    /// Flatpak, with the application id when known.
    case flatpak(appID: String?)
    /// Snap, with the snap name when known.
    case snap(name: String?)
}
