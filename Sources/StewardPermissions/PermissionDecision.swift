public import Foundation
public import StewardCore

/// One decision about a permission, as kept in the vault: the user's answer to a prompt, a
/// revocation or a reset.
public struct PermissionDecision: Codable, Hashable, Sendable {
    /// What was decided.
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        /// Allowed until revoked.
        case allow
        /// Allowed for the process that asked.
        case allowOnce
        /// Denied once.
        case deny
        /// Denied for good.
        case denyAlways
        /// A grant taken back (``PermissionGate/revoke(_:)``): counts as a denial.
        case revoke
        /// History forgotten (``PermissionGate/reset(_:)``): asked again next time.
        case reset

        /// The decision an answer makes.
        public init(_ answer: PermissionAnswer) {
            switch answer {
            case .allow: self = .allow
            case .allowOnce: self = .allowOnce
            case .deny: self = .deny
            case .denyAlways: self = .denyAlways
            }
        }
    }

    /// The format version of the stored record.
    public var version: Int
    /// The permission.
    public var permission: Permission
    /// What was decided.
    public var kind: Kind
    /// When.
    public var date: Date
    /// The process that decided (see ``PermissionGate/processSession``): an allow-once answer
    /// holds only there.
    public var session: String
    /// The manifest's policy version at the time.
    public var policyVersion: String
    /// The rationale the user was shown, for answers to a prompt.
    public var rationale: String?

    /// The current format version.
    public static let currentVersion = 1

    /// A decision.
    public init(
        permission: Permission, kind: Kind, date: Date, session: String, policyVersion: String, rationale: String? = nil
    ) {
        self.version = Self.currentVersion
        self.permission = permission
        self.kind = kind
        self.date = date
        self.session = session
        self.policyVersion = policyVersion
        self.rationale = rationale
    }
}

/// The user's side of a permission, replayed from its decisions: the state machine.
///
/// | Decision   | Resulting status                                                        |
/// |------------|-------------------------------------------------------------------------|
/// | allow      | granted; the denial count starts again                                  |
/// | allowOnce  | granted in the process that answered, notDetermined in any later one    |
/// | deny       | denied; permanentlyDenied if it is the second denial since a grant      |
/// | denyAlways | permanentlyDenied                                                       |
/// | revoke     | denied (counts as one denial); permanentlyDenied stays                  |
/// | reset      | notDetermined; the denial count starts again                            |
///
/// The operating system, the manifest and the age gate are not part of it: ``PermissionGate``
/// lays their restrictions over this status.
public struct PermissionHistory: Hashable, Sendable {
    /// The user's side of the status: notDetermined, granted, denied or permanentlyDenied.
    public private(set) var status: PermissionStatus = .notDetermined
    /// Denials since the last grant or reset.
    public private(set) var denials = 0
    /// Decisions applied.
    public private(set) var count = 0

    /// No decision yet.
    public init() {}

    /// Replays `decisions`, oldest first, as seen from the process `session`.
    public init(replaying decisions: some Sequence<PermissionDecision>, session: String) {
        for decision in decisions { apply(decision, session: session) }
    }

    /// Applies one decision, as seen from the process `session`.
    public mutating func apply(_ decision: PermissionDecision, session: String) {
        count += 1
        switch decision.kind {
        case .allow:
            status = .granted
            denials = 0
        case .allowOnce:
            status = decision.session == session ? .granted : .notDetermined
            denials = 0
        case .deny:
            denials += 1
            if status != .permanentlyDenied { status = denials >= 2 ? .permanentlyDenied : .denied }
        case .denyAlways:
            denials += 1
            status = .permanentlyDenied
        case .revoke:
            denials = max(denials, 1)
            if status != .permanentlyDenied { status = .denied }
        case .reset:
            status = .notDetermined
            denials = 0
        }
    }
}
