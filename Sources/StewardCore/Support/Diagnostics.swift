import Synchronization

/// One thing Steward did, and why: for the host's logs (the facade writes them through
/// swift-log when `Steward.Configuration.logger` is set).
///
/// Never personal data: a message is a fixed sentence, and metadata holds only Steward's own
/// names (recipient, purpose, category and collection ids from the manifest, error codes),
/// counts and durations. Payload bodies, attribute values, identifiers, header values, paths
/// under the home folder and server answers are never in an event.
public struct DiagnosticEvent: Hashable, Sendable {
    /// How much it matters.
    public enum Level: Int, Comparable, Hashable, Sendable {
        /// Routine detail (a batch stored).
        case debug
        /// Normal operation worth a line (a payload accepted).
        case info
        /// Something held back or put off (a purpose pending, a retry scheduled).
        case notice
        /// Data given up or set aside (a rejection, an expiry, a quarantined record).
        case warning
        /// Steward could not do its job (the vault failed).
        case error

        /// Whether `lhs` matters less than `rhs`.
        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    /// How much it matters.
    public var level: Level
    /// A stable dotted code (`upload.accepted`, `upload.retry`, `vault.quarantined`).
    public var code: String
    /// A fixed sentence saying what happened.
    public var message: String
    /// Names, counts and durations (see the type's discussion).
    public var metadata: [String: String]

    /// An event; see the properties.
    public init(_ level: Level, _ code: String, _ message: String, _ metadata: [String: String] = [:]) {
        self.level = level
        self.code = code
        self.message = message
        self.metadata = metadata
    }
}

/// Where Steward's ``DiagnosticEvent``s go: one handler per process (Steward runs once per
/// process), nil by default (nothing is built or written). Set it to a closure that writes
/// them to the host's log; `Steward.start` sets it from `Configuration.logger` and `stop()`
/// clears it.
///
/// ```swift
/// StewardDiagnostics.handler = { event in print("[\(event.level)] \(event.code): \(event.message) \(event.metadata)") }
/// ```
public enum StewardDiagnostics {
    private static let current = Mutex<(@Sendable (DiagnosticEvent) -> Void)?>(nil)
    private static let enabled = Atomic<Bool>(false)

    /// The handler events go to; nil: none (the default).
    public static var handler: (@Sendable (DiagnosticEvent) -> Void)? {
        get { current.withLock { $0 } }
        set {
            current.withLock { $0 = newValue }
            enabled.store(newValue != nil, ordering: .releasing)
        }
    }

    /// Hands the event to the handler, if there is one; the event is not even built otherwise.
    package static func emit(_ event: @autoclosure () -> DiagnosticEvent) {
        guard enabled.load(ordering: .acquiring), let handler = current.withLock({ $0 }) else { return }
        handler(event())
    }
}
