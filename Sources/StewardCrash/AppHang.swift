/// What a hang report describes: which watch saw the hang, and for how long it had lasted when
/// it was reported (see ``CrashReporter/watchForHangs(name:threshold:)``).
///
/// A hang report is a ``CrashReport`` with `hang` set, `handled` true and no signal: its
/// ``CrashReport/crashedThread`` is the stuck thread (for a starved concurrency pool, one of the
/// pool's threads; the others are in ``CrashReport/otherThreads``), its frames as the thread
/// itself walked them when it was asked.
public struct AppHang: Codable, Hashable, Sendable {
    /// What was watched: a string-backed identifier, so kinds can be added without breaking
    /// clients that switch over them.
    public struct Kind: RawRepresentable, Codable, Hashable, Sendable, CustomStringConvertible {
        /// The identifier as stored and sent (`thread`, `mainActor`, `concurrencyPool`).
        public var rawValue: String
        /// A kind from its identifier.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// A host thread that calls ``HangWatch/heartbeat()``: it missed its heartbeat.
        public static let thread = Kind(rawValue: "thread")
        /// The main actor: a job scheduled on it did not run in time.
        public static let mainActor = Kind(rawValue: "mainActor")
        /// The Swift concurrency pool: a job scheduled on it did not start in time (every pool
        /// thread was busy or blocked).
        public static let concurrencyPool = Kind(rawValue: "concurrencyPool")

        /// The identifier.
        public var description: String { rawValue }
    }

    /// What was watched.
    public var kind: Kind
    /// The watch's name, as the host gave it (scrubbed).
    public var name: String
    /// The watch's threshold, in milliseconds.
    public var thresholdMilliseconds: Int64
    /// How long the thread had missed its heartbeat (or the probe had waited) when the watchdog
    /// noticed, in milliseconds: at least the threshold.
    public var durationMilliseconds: Int64

    /// A hang; see the properties.
    public init(kind: Kind, name: String, thresholdMilliseconds: Int64, durationMilliseconds: Int64) {
        self.kind = kind
        self.name = name
        self.thresholdMilliseconds = thresholdMilliseconds
        self.durationMilliseconds = durationMilliseconds
    }

    /// The exception type Sentry shows, as sentry-cocoa names app hangs.
    public static let exceptionType = "App Hanging"

    /// The report's message: sentry-cocoa's wording for a thread or the main actor (`App hanging
    /// for at least 2000 ms.`); for the concurrency pool, the same with what starved.
    public var message: String {
        if kind == .concurrencyPool {
            return "App hanging for at least \(thresholdMilliseconds) ms: the Swift concurrency pool ran no job."
        }
        return "App hanging for at least \(thresholdMilliseconds) ms."
    }
}
