import Foundation
public import StewardCore
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Catches every fatal crash of the process, loses none, and turns each into a
/// ``CrashReport`` on the next launch — kept and sent only under the crash-reporting consent.
///
/// - ``install()`` sets the signal handlers (once per process: signal handlers are the one
///   thing the OS makes process-wide). At a crash, the handler (C, allocation-free) writes a
///   raw record into ``Configuration/crashDirectory`` and chains to the previous handler — the
///   Swift runtime's backtracer still prints its report.
/// - ``processPending()`` (at start, before anything else) reads each raw record, symbolicates
///   and scrubs it, stores the report through the `ConsentGate` under `Purpose.crashReporting`
///   (stored when granted, held under the pending policy, dropped when denied), and unlinks the
///   raw file. A damaged record is salvaged as far as it goes and marked partial.
/// - Crashes within ``Configuration/launchCrashWindow`` of the start,
///   ``Configuration/launchCrashCount`` times in a row, set ``crashedOnLaunch``: the host can
///   enter a safe mode and send the reports before going on.
/// - ``report(error:message:)`` records a handled error with the current stack.
/// - ``watchForHangs(name:threshold:)``, ``watchMainActorForHangs(threshold:)`` and
///   ``watchConcurrencyPoolForHangs(threshold:)`` report hangs, with the stuck thread's stack.
///
/// ```swift
/// let crashes = CrashReporter(configuration: .init(dataDirectory: dir, context: context),
///                             vault: vault, consent: gate)
/// try crashes.install()
/// let pending = crashes.processPending()
/// if crashes.crashedOnLaunch { enterSafeMode() }
/// crashes.addBreadcrumb(message: "opened scanner", category: "navigation")
/// ```
public final class CrashReporter: Sendable {
    /// The vault collection reports are kept in.
    public static let collection = "crashes"

    /// How the reporter works.
    public struct Configuration: Sendable {
        /// Where the handler writes raw records (0700; created by ``CrashReporter/install()``).
        public var crashDirectory: String
        /// The context every report carries: release, environment, device id (app-scoped),
        /// OS, model.
        public var context: CrashContext
        /// A crash sooner than this after ``CrashReporter/install()`` is a launch crash.
        /// Default 5 s (Bugly's). Clamped to 0…1 hour where it is used, so any duration
        /// (negative, or up to `Duration(attoseconds: .max)`) is safe.
        public var launchCrashWindow: Duration
        /// Launch crashes in a row that set ``CrashReporter/crashedOnLaunch``. Default 3.
        public var launchCrashCount: Int
        /// How long reports are kept (default: 90 days). Saturating: a retention past the year
        /// 9999 (up to `Duration(attoseconds: .max)`) keeps them until removed; zero or negative
        /// lets the next purge remove them.
        public var retention: Duration
        /// How much symbolication happens on this machine (see ``Symbolication``). Default:
        /// function names from the ELF symbol tables.
        public var symbolication: Symbolication
        /// The fraction of reports queued for delivery, 0…1 (default 1: all). Each report is
        /// kept or left out once, when it is first offered; one left out is never sent (it
        /// stays in the vault, for the user's export, until its retention ends) and is counted
        /// as dropped (`sampling`). A value outside 0…1 is clamped to it; NaN counts as 1.
        public var sampleRate: Double
        /// Called with each report before it is queued for delivery: return it (changed, to
        /// redact: the envelope is built from what it returns, the stored report stays as
        /// recorded), or nil to drop it (never sent; counted as dropped, `filtered`). It runs
        /// on the thread that queues (``CrashReporter/submit(to:dsn:)``), never in the signal
        /// handler.
        public var beforeQueueing: (@Sendable (CrashReport) -> CrashReport?)?
        /// Whether a crash's record keeps the Swift runtime's fatal error message (`fatalError`,
        /// `precondition`, "Index out of range", a failed cast, …), which the next launch puts in
        /// the report's ``CrashReport/error`` after scrubbing it. Default true. The handler copies
        /// the message the runtime publishes for crash reporters; stderr is never touched. Off,
        /// the handler leaves the message out (the runtime still prints it on stderr).
        public var capturesFatalErrorMessages: Bool
        /// Where the memory cgroup is read from (tests point it at a folder of their own).
        var memoryCgroupFiles = MemoryCgroup.Files()
        /// Where systemd-coredump's cores are looked for (tests point it at a folder of their own).
        var coreDumpDirectory = CoreDump.defaultDirectory

        /// A configuration with records in `crashDirectory`.
        public init(
            crashDirectory: String, context: CrashContext = CrashContext(), launchCrashWindow: Duration = .seconds(5),
            launchCrashCount: Int = 3, retention: Duration = .seconds(90 * 86_400),
            symbolication: Symbolication = .functionNames
        ) {
            self.crashDirectory = crashDirectory
            self.context = context
            self.launchCrashWindow = launchCrashWindow
            self.launchCrashCount = max(1, launchCrashCount)
            self.retention = retention
            self.symbolication = symbolication
            self.sampleRate = 1
            self.beforeQueueing = nil
            self.capturesFatalErrorMessages = true
        }

        /// A configuration with records in `DATA/crash`.
        public init(dataDirectory: String, context: CrashContext = CrashContext()) {
            self.init(crashDirectory: dataDirectory + "/crash", context: context)
        }
    }

    /// How much symbolication happens on this machine. Backends such as Sentry symbolicate
    /// again from uploaded debug files, using each image's build ID.
    public enum Symbolication: Hashable, Sendable {
        /// Addresses and images only (with build IDs for the backend).
        case none
        /// Function names from the ELF symbol tables, demangled: the default.
        case functionNames
        /// Function names, and source files, lines and columns from the images' own DWARF,
        /// with inlined calls as frames of their own, read in process by elfutils' libdw
        /// (`libdw.so.1`, loaded when the reporter is made with this mode) where it is installed; where it is not, from
        /// `llvm-symbolizer` where that is (a process per image: for development). Images
        /// without DWARF keep function names only. See Crash.md for the cost.
        case functionNamesAndSourceLocations
    }

    /// What one ``CrashReporter/processPending()`` did.
    public struct PendingResult: Sendable {
        /// The reports made from raw records, oldest first.
        public var reports: [CrashReport] = []
        /// What the consent gate did with each (stored, held, dropped).
        public var outcomes: [GateOutcome] = []
        /// Records that could not be processed, and why (the raw file is kept for the next try
        /// unless it is unreadable as a record at all).
        public var problems: [String] = []
        /// Whether the app crashed at launch too often in a row (see ``CrashReporter/crashedOnLaunch``).
        public var crashedOnLaunch = false

        /// An empty result: nothing was pending.
        public init() {}
    }

    /// The configuration.
    public let configuration: Configuration
    let vault: Vault
    let consent: ConsentGate
    let clock: any WallClock
    var clockNow: Date { clock.checkedNow }
    private let state = Mutex(State())
    let launchCrashes = Atomic<Int>(0)
    /// Serialises read-modify-write of the persisted state (launch count, sessions, queue).
    let persistedStateLock = Mutex(())
    /// This process's session (crash-free rates): the context's id, or a new one.
    public let sessionID: String
    /// When this process's session started.
    let sessionStarted: Date
    /// Handled errors reported in this session.
    let sessionErrors = Atomic<Int>(0)
    /// Whether this reporter recorded its session's start (once, whoever gets there first).
    let sessionStartRecorded = Atomic<Bool>(false)
    /// Held while a session start is checked and saved: install's thread and a grant may both
    /// try, and the one that finds it done must also find it saved.
    let sessionStartLock = Mutex(())
    /// Parsed ELF files are cached here, for this reporter's lifetime.
    let symbolicator: Symbolicator
    /// This process's home folder and user name, looked up once (NSS may be slow), with the
    /// device's identifier filter: built on first use (a breadcrumb, a handled error) or by the
    /// session thread install starts, never on start's path (reading the device's MACs and
    /// machine ID was a fifth of a fresh process's start).
    var processScrubber: Scrubber {
        lazyScrubber.withLock { scrubber in
            if let scrubber { return scrubber }
            let built = Self.scrubber()
            scrubber = built
            return built
        }
    }
    private let lazyScrubber = Mutex<Scrubber?>(nil)
    /// Handled errors captured on their callers' threads, stored by a worker of their own.
    let handled = HandledErrors()
    /// The hang watches' thread (started with the first watch).
    let hangWatchdog = HangWatchdog()

    private struct State {
        var installed = false
        var installMonotonic: UInt64 = 0
        var confirmationScheduled = false
    }

    /// The vault collection of Steward's own launch bookkeeping.
    static let stateCollection = "steward.crash"
    /// The vault collection of the sessions (``SessionState``), under `crashReporting`.
    static let sessionsCollection = "steward.crash.sessions"

    /// A reporter storing through `consent` into `vault`.
    public init(
        configuration: Configuration, vault: Vault, consent: ConsentGate, clock: any WallClock = SystemWallClock()
    ) {
        self.configuration = configuration
        self.vault = vault
        self.consent = consent
        self.clock = clock
        self.sessionID = configuration.context.sessionID ?? Self.makeSessionID()
        self.sessionStarted = clock.checkedNow
        let lines = configuration.symbolication == .functionNamesAndSourceLocations
        self.symbolicator = Symbolicator(dwarfLines: lines, symbolizerPath: lines ? LLVMSymbolizer.find() : nil)
        launchCrashes.store((try? Self.loadLaunchState(vault).consecutive) ?? 0, ordering: .relaxed)
        // While crash reporting is denied, a crash leaves nothing on disk.
        consent.ledger.addObserver { [weak self] changes in
            guard let self, let change = changes.first(where: { $0.purpose == .crashReporting }) else { return }
            self.updateRecording()
            // A session starts when the user grants, never for the time before.
            if change.state == .denied { self.sessionStartRecorded.store(false, ordering: .releasing) }
            if change.state == .granted && self.state.withLock({ $0.installed }) {
                StewardThread.start(name: "steward-session") { [weak self] in self?.recordSessionStart() }
            }
        }
    }

    /// Whether the handler writes a (sealed) record at a crash: while crash reporting is
    /// granted, or pending under the `encryptedDisk` policy (which keeps items sealed on disk
    /// until the answer); not while it is denied or pending under a policy that keeps nothing
    /// on disk (`drop`, `memory`).
    private func updateRecording() {
        let records = Self.recordsCrashes(
            consent.ledger.consentState(for: .crashReporting),
            pending: consent.pendingPolicy(for: .crashReporting))
        state.withLock { s in
            guard s.installed else { return }
            CrashHandler.setRecording(records)
        }
    }

    /// The rule of ``updateRecording()``.
    static func recordsCrashes(_ state: ConsentState, pending: PendingPolicy) -> Bool {
        switch state {
        case .granted: return true
        case .denied: return false
        case .pending:
            if case .encryptedDisk = pending { return true }
            return false
        }
    }

    deinit { hangWatchdog.stop() }

    // MARK: - Installing

    /// Installs the crash handlers: creates the crash folder (0700), publishes the context the
    /// records carry, gives this thread an alternate signal stack.
    ///
    /// - Throws: ``CrashReporterError`` with code `alreadyInstalled` when any reporter of
    ///   this process installed already (signal handlers are process-wide), or `install` when
    ///   the folder or the handlers cannot be set up.
    public func install() throws {
        try Self.makePrivateDirectory(configuration.crashDirectory)
        try publishContext()
        // The key records are sealed with: derived from the vault's key with a salt of this
        // installation's, so the next launch derives it again and nothing is written to the
        // vault here. Derived first, handed to the handler only once this reporter's install
        // succeeded (a second reporter must not replace the installed one's key).
        var key: [UInt8]
        let salt: [UInt8]
        do {
            salt = try SecureRandom.bytes(count: 16)
            key = try vault.derivedKey(label: SealedCrashRecord.keyLabel, salt: salt)
        } catch {
            throw CrashReporterError(
                .install, "no key to seal crash records with (\(error)); crashes will not be recorded")
        }
        defer { for i in key.indices { key[i] = 0 } }
        do {
            try CrashHandler.install(directory: configuration.crashDirectory)
        } catch let error as CrashHandlerError where error.code == .alreadyInstalled {
            throw CrashReporterError(
                .alreadyInstalled,
                "crash handlers are installed already in this process; install one CrashReporter per process (Steward.start does)"
            )
        } catch {
            throw CrashReporterError(.install, "the crash handlers could not be installed: \(error)")
        }
        // Recording is still off (until updateRecording below), so no record races the key.
        CrashHandler.setRecordKey(key, salt: salt)
        CrashHandler.setFatalMessageCapture(configuration.capturesFatalErrorMessages)
        state.withLock {
            $0.installed = true
            $0.installMonotonic = Self.monotonicNanoseconds()
        }
        updateRecording()
        // Every thread Steward starts from now on gets its own alternate signal stack.
        StewardThread.setPreparation { try? CrashHandler.prepareCurrentThread() }
        // The session's start is recorded off the caller's path (a vault commit); then the
        // scrubber is built, so a breadcrumb after that does not wait for it.
        StewardThread.start(name: "steward-session") { [weak self] in
            self?.recordSessionStart()
            _ = self?.processScrubber
        }
        scheduleLaunchConfirmation()
    }

    /// Removes the handlers (the previous ones are restored) and stops every hang watch. For
    /// tests and orderly shutdown.
    public func uninstall() {
        hangWatchdog.stop()
        let wasInstalled = state.withLock { s in
            defer { s.installed = false }
            // Under the lock, as updateRecording sets it: a consent change racing this
            // uninstall cannot turn recording back on afterwards. Only the installed reporter
            // touches the process-wide handler: a reporter that never installed (a second
            // instance, or one started without handlers) must not stop another's records.
            if s.installed { CrashHandler.setRecording(false) }
            return s.installed
        }
        if wasInstalled {
            StewardThread.setPreparation(nil)
            CrashHandler.setFatalMessageCapture(false)
            CrashHandler.uninstall()
            CrashHandler.clearRecordKey()
        }
    }

    /// Gives the calling thread its own alternate signal stack, so a stack overflow on it is
    /// still reported. Threads Steward starts have one; call this first thing on threads the
    /// host starts itself (Foundation `Thread`s, pthreads, a Dispatch block or main-actor code
    /// that may recurse deeply). Once the thread is prepared a call costs one thread-local
    /// load; the stack (64 KiB and a guard page, not resident until used) is unmapped when the
    /// thread ends. Crash.md, "Which threads are covered", lists every kind of thread.
    ///
    /// - Throws: ``CrashReporterError`` `.threads` when the stack cannot be mapped (out of
    ///   memory).
    public func prepareCurrentThread() throws {
        try Self.prepareCurrentThread()
    }

    /// Replaces the context later records carry (a new release, a new session).
    public func updateContext(_ context: CrashContext) throws {
        try publishContext(context)
    }

    /// Adds a breadcrumb to the ring the handler copies into a record: the ring is lock-free;
    /// the scrubber is read under a short lock (a breadcrumb added while the session thread
    /// still builds it, just after start, waits for it); no allocation on the hot path beyond
    /// formatting; texts are scrubbed of the home folder, user name and device identifiers,
    /// and truncated to fit. While the host traces its work (`TraceContext/current`), the
    /// data carries `trace_id` and `span_id`.
    public func addBreadcrumb(
        message: String, category: String = "default", level: Breadcrumb.Level = .info, data: [String: String] = [:]
    ) {
        let scrubber = processScrubber
        var data = data
        if let trace = TraceContext.current {
            data["trace_id"] = trace.traceID
            data["span_id"] = trace.spanID
        }
        CrashHandler.addBreadcrumb(
            scrubber.scrub(
                breadcrumb: Breadcrumb(
                    timestamp: clock.checkedNow, level: level, category: category, message: message, data: data)))
    }

    // MARK: - Private

    /// What the handler writes into each record (CONTEXT section).
    struct ContextBlob: Codable {
        var context: CrashContext
        var homeDirectory: String?
        var userName: String?

        /// The same JSON as `JSONEncoder` makes of it, value for value (absent values left out;
        /// not byte for byte: `/` is not escaped, U+2028 and U+2029 are), written directly: the
        /// first use of `JSONEncoder` in a process was a tenth of a fresh process's start. Read
        /// back with `JSONDecoder`.
        func json() -> [UInt8] {
            /// `"name":"value"` for each present value, a comma before all but an object's first.
            func members(_ fields: [(String, String?)], into out: inout [UInt8]) {
                for case (let name, let value?) in fields {
                    if out.last != UInt8(ascii: "{") { out.append(UInt8(ascii: ",")) }
                    JSONEscape.appendQuoted(name, to: &out)
                    out.append(UInt8(ascii: ":"))
                    JSONEscape.appendQuoted(value, to: &out)
                }
            }
            let c = context
            var out = Array(#"{"context":{"#.utf8)
            out.reserveCapacity(512)
            members(
                [
                    ("release", c.release), ("environment", c.environment), ("dist", c.dist),
                    ("sessionID", c.sessionID), ("deviceID", c.deviceID), ("osName", c.osName),
                    ("osVersion", c.osVersion), ("kernelVersion", c.kernelVersion), ("model", c.model),
                    ("arch", c.arch), ("executable", c.executable),
                ], into: &out)
            out.append(UInt8(ascii: "}"))
            members([("homeDirectory", homeDirectory), ("userName", userName)], into: &out)
            out.append(UInt8(ascii: "}"))
            return out
        }
    }

    private func publishContext(_ context: CrashContext? = nil) throws {
        var context = context ?? configuration.context
        context.sessionID = context.sessionID ?? sessionID
        let blob = ContextBlob(context: context, homeDirectory: Self.homeDirectory(), userName: Self.userName())
        try CrashHandler.setContext(blob.json())
    }

    static func scrubber(_ raw: RawCrashRecord? = nil) -> Scrubber {
        if let raw, !raw.context.isEmpty,
            let blob = try? JSONDecoder().decode(ContextBlob.self, from: Data(raw.context))
        {
            return Scrubber(homeDirectory: blob.homeDirectory, userName: blob.userName)
        }
        return Scrubber(homeDirectory: homeDirectory(), userName: userName())
    }

    private static func homeDirectory() -> String? {
        // getenv, not ProcessInfo's environment (a dictionary of every variable, built per call).
        guard let value = getenv("HOME") else { return nil }
        let home = String(cString: value)
        return home.isEmpty ? nil : home
    }

    private static func userName() -> String? { IdentifierFilter.userName() }

    /// Once installed and with launch crashes counted, confirms the launch when it has lived
    /// through the window (measured from installation).
    func scheduleLaunchConfirmation() {
        guard launchCrashes.load(ordering: .relaxed) > 0 else { return }
        let installedAt: UInt64? = state.withLock { s in
            guard s.installed, !s.confirmationScheduled else { return nil }
            s.confirmationScheduled = true
            return s.installMonotonic
        }
        guard let installedAt else { return }
        let elapsed = Double(Self.monotonicNanoseconds() &- installedAt) / 1e9
        let wait = max(0, launchCrashWindowSeconds - elapsed)
        // A thread of its own: the confirmation writes to the vault (fsync).
        StewardThread.start(name: "steward-launch-watch") { [weak self] in
            Thread.sleep(forTimeInterval: wait)
            self?.confirmLaunchSucceeded()
        }
    }

    private static func makePrivateDirectory(_ path: String) throws {
        var info = stat()
        // An existing folder (every launch after the first) is only checked below.
        if lstat(path, &info) != 0 {
            do {
                try FileManager.default.createDirectory(
                    atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw CrashReporterError(.install, "the crash folder \(path) cannot be created: \(error)")
            }
        }
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw CrashReporterError(.install, "the crash folder \(path) is not a folder")
        }
        guard info.st_uid == geteuid() else {
            throw CrashReporterError(
                .install,
                "the crash folder \(path) belongs to another user (uid \(info.st_uid)); raw crash records must be private to this user"
            )
        }
        if info.st_mode & 0o077 != 0, chmod(path, 0o700) != 0 {
            throw CrashReporterError(
                .install, "the crash folder \(path) is open to other users and cannot be made private")
        }
    }

    /// The kernel id of the calling thread (from /proc/thread-self: "PID/task/TID").
    static func currentThreadID() -> Int64 {
        var buffer = [CChar](repeating: 0, count: 64)
        let count = readlink("/proc/thread-self", &buffer, buffer.count - 1)
        guard count > 0 else { return Int64(getpid()) }
        let text = String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return text.split(separator: "/").last.flatMap { Int64($0) } ?? Int64(getpid())
    }

    /// A new session id (32 hex digits), for ``CrashContext/sessionID``.
    public static func makeSessionID() -> String { eventID() }

    /// Gives the calling thread its own alternate signal stack (see
    /// ``prepareCurrentThread()``); for threads that have no reporter at hand.
    ///
    /// - Throws: ``CrashReporterError`` `.threads` when the stack cannot be mapped (out of
    ///   memory).
    public static func prepareCurrentThread() throws {
        do {
            try CrashHandler.prepareCurrentThread()
        } catch let error as CrashHandlerError {
            throw CrashReporterError(.threads, error.message)
        }
    }

    static func eventID() -> String {
        // 32 lowercase hex digits of a random UUID (version 4, RFC 4122 variant), built in place:
        // one allocation, no Foundation formatting (it is on a handled error's hot path).
        var high = UInt64.random(in: 0...UInt64.max), low = UInt64.random(in: 0...UInt64.max)
        high = (high & ~0xF000) | 0x4000
        low = (low & ~(0xC << 60)) | (0x8 << 60)
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 32) { buffer in
            digits.withUTF8Buffer { hex in
                for index in 0..<16 {
                    buffer[index] = hex[Int((high >> UInt64(60 - 4 * index)) & 0xF)]
                    buffer[16 + index] = hex[Int((low >> UInt64(60 - 4 * index)) & 0xF)]
                }
            }
            return 32
        }
    }

    /// ``Configuration/launchCrashWindow`` in seconds, clamped to 0…3,600: computed from
    /// the 128-bit attoseconds (`components` traps at 2^63 s), so any duration is safe.
    var launchCrashWindowSeconds: Double {
        min(max(configuration.launchCrashWindow.secondsDouble, 0), 3_600)
    }

    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        // CLOCK_MONOTONIC stays below 2^63 ns on Linux; wrapping arithmetic all the same.
        return UInt64(truncatingIfNeeded: now.tv_sec) &* 1_000_000_000 &+ UInt64(truncatingIfNeeded: now.tv_nsec)
    }
}
