public import Foundation
import StewardCore

/// A release-health session update: Sentry's `session` envelope item.
///
/// Follows Sentry's developer documentation, "Sessions": `sid`, `did`, `init`, `started`,
/// `timestamp`, `status`, `errors`, `duration` and `attrs` (`release`, `environment`).
/// Sentry's rules, which the caller keeps:
/// - the first update of a session has ``isInitial`` set;
/// - ``started``, ``distinctID``, ``release`` and ``environment`` never change between updates;
/// - after a terminal status (`exited`, `crashed`, `abnormal`) no more updates are sent;
/// - send the `crashed` update in the same envelope as the crash event.
///
/// A `crashed` update always counts at least one error (the crash), as the specification asks.
///
/// ```swift
/// let session = SentrySession(id: sessionID, distinctID: deviceID, started: launch,
///                             timestamp: now, status: .crashed, errors: 1, duration: 12.5,
///                             release: "scanner@1.4.2", environment: "production")
/// let envelope = SentryEnvelope(eventID: nil, dsn: dsn, sentAt: now, items: [session.envelopeItem])
/// ```
public struct SentrySession: Hashable, Sendable {
    /// Where a session stands.
    public enum Status: String, Hashable, Sendable, CaseIterable {
        /// In progress and healthy (may also be the last word on a session).
        case ok
        /// Ended normally.
        case exited
        /// Ended in a crash.
        case crashed
        /// Ended abnormally without a crash (power loss, `kill -9`): recorded at the next launch.
        case abnormal
    }

    /// The session id (`sid`): a UUID, 32 hex digits or 36 characters with dashes.
    public var id: String
    /// The distinct id (`did`): Steward's app-scoped device id, never a raw identifier.
    public var distinctID: String?
    /// Whether this is the session's first update (`init`).
    public var isInitial: Bool
    /// When the session started (`started`).
    public var started: Date
    /// When this update happened (`timestamp`); Sentry uses the receive time when absent.
    public var timestamp: Date?
    /// The status (`status`).
    public var status: Status
    /// Errors so far (`errors`), including the crash for a `crashed` session.
    public var errors: Int
    /// Seconds the session has lasted (`duration`).
    public var duration: Double?
    /// The release (`attrs.release`), required by Sentry.
    public var release: String
    /// The environment (`attrs.environment`); `production` when absent, as Sentry recommends.
    public var environment: String?

    /// A session update; see the properties.
    ///
    /// - Parameters:
    ///   - id: The session id, a UUID.
    ///   - distinctID: The app-scoped device id.
    ///   - isInitial: Whether this is the first update of the session.
    ///   - started: When the session started.
    ///   - timestamp: When this update happened.
    ///   - status: The status.
    ///   - errors: Errors so far.
    ///   - duration: Seconds the session has lasted.
    ///   - release: The release.
    ///   - environment: The environment.
    ///
    /// ```swift
    /// let start = SentrySession(id: sid, started: now, status: .ok, release: "app@1.0")
    /// ```
    public init(
        id: String, distinctID: String? = nil, isInitial: Bool = false, started: Date, timestamp: Date? = nil,
        status: Status, errors: Int = 0, duration: Double? = nil, release: String, environment: String? = nil
    ) {
        self.id = id
        self.distinctID = distinctID
        self.isInitial = isInitial
        self.started = started
        self.timestamp = timestamp
        self.status = status
        self.errors = errors
        self.duration = duration
        self.release = release
        self.environment = environment
    }

    /// The `crashed` update for a crash report's session, or nil when the report has no
    /// session id or no release (Sentry requires both).
    ///
    /// The session is marked initial when it never sent an update before the crash (Sentry:
    /// "a session does not have to be started in order to crash").
    ///
    /// - Parameters:
    ///   - report: The crash report; its context supplies id, device id, release, environment.
    ///   - started: When the session started.
    ///   - isInitial: Whether no update was sent for this session before.
    ///   - errors: Errors counted before the crash; the crash adds one (saturating at `Int.max`).
    ///
    /// ```swift
    /// let update = SentrySession.crashed(for: report, started: launch, isInitial: false, errors: 0)
    /// ```
    public static func crashed(for report: CrashReport, started: Date, isInitial: Bool, errors: Int = 0)
        -> SentrySession?
    {
        guard let id = report.context.sessionID, let release = report.context.release else { return nil }
        return SentrySession(
            id: id, distinctID: report.context.deviceID, isInitial: isInitial, started: started,
            timestamp: report.timestamp, status: .crashed, errors: errors.saturatingAdding(1),
            duration: max(0, report.timestamp.timeIntervalSince(started)),
            release: release, environment: report.context.environment)
    }

    /// The JSON payload.
    ///
    /// ```swift
    /// session.payload()["status"] // "crashed"
    /// ```
    public func payload() -> SentryJSON {
        var object: [String: SentryJSON] = [
            "sid": .string(id),
            "init": .bool(isInitial),
            "started": .string(SentryFormat.timestamp(started)),
            "status": .string(status.rawValue),
            "errors": .int(Int64(status == .crashed ? max(errors, 1) : max(errors, 0))),
            "attrs": ["release": .string(release), "environment": .string(environment ?? "production")],
        ]
        if let distinctID { object["did"] = .string(distinctID) }
        if let timestamp { object["timestamp"] = .string(SentryFormat.timestamp(timestamp)) }
        if let duration, duration.isFinite { object["duration"] = .double(duration) }
        return .object(object)
    }

    /// The `session` envelope item, with the payload as compact sorted JSON.
    ///
    /// ```swift
    /// envelope.items.append(session.envelopeItem)
    /// ```
    public var envelopeItem: SentryEnvelope.Item {
        SentryEnvelope.Item(type: "session", payload: payload().encoded())
    }
}
