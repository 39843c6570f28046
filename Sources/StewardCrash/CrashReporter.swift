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
        /// Function names, and source files and lines from DWARF through `llvm-symbolizer`
        /// where it is installed. Costs a process per image: for development, not for a
        /// launch path measured in milliseconds.
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
    }

    /// The configuration.
    public let configuration: Configuration
    let vault: Vault
    let consent: ConsentGate
    private let clock: any WallClock
    var clockNow: Date { clock.checkedNow }
    private let state = Mutex(State())
    private let launchCrashes = Atomic<Int>(0)
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
    private let symbolicator: Symbolicator
    /// This process's home folder and user name, looked up once (NSS may be slow).
    private let processScrubber: Scrubber

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
        self.processScrubber = Self.scrubber()
        self.sessionID = configuration.context.sessionID ?? Self.makeSessionID()
        self.sessionStarted = clock.checkedNow
        self.symbolicator = Symbolicator(
            symbolizerPath: configuration.symbolication == .functionNamesAndSourceLocations
                ? LLVMSymbolizer.find() : nil)
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
        state.withLock {
            $0.installed = true
            $0.installMonotonic = Self.monotonicNanoseconds()
        }
        updateRecording()
        // Every thread Steward starts from now on gets its own alternate signal stack.
        StewardThread.setPreparation { try? CrashHandler.prepareCurrentThread() }
        // The session's start is recorded off the caller's path (a vault commit).
        StewardThread.start(name: "steward-session") { [weak self] in self?.recordSessionStart() }
        scheduleLaunchConfirmation()
    }

    /// Removes the handlers (the previous ones are restored). For tests and orderly shutdown.
    public func uninstall() {
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
            CrashHandler.uninstall()
            CrashHandler.clearRecordKey()
        }
    }

    /// Gives the calling thread its own alternate signal stack, so a stack overflow on it is
    /// still reported. Threads Steward starts have one; call this first thing on threads the
    /// host starts itself.
    public func prepareCurrentThread() throws {
        try CrashHandler.prepareCurrentThread()
    }

    /// Replaces the context later records carry (a new release, a new session).
    public func updateContext(_ context: CrashContext) throws {
        try publishContext(context)
    }

    /// Adds a breadcrumb to the ring the handler copies into a record: lock-free, no
    /// allocation on the hot path beyond formatting; texts are scrubbed of the home folder
    /// and user name, and truncated to fit.
    public func addBreadcrumb(
        message: String, category: String = "default", level: Breadcrumb.Level = .info, data: [String: String] = [:]
    ) {
        let scrubber = processScrubber
        CrashHandler.addBreadcrumb(
            scrubber.scrub(
                breadcrumb: Breadcrumb(
                    timestamp: clock.checkedNow, level: level, category: category, message: message, data: data)))
    }

    // MARK: - Next launch

    /// Whether the app crashed within ``Configuration/launchCrashWindow`` of its start
    /// ``Configuration/launchCrashCount`` times in a row (Bugly's rule): the host may enter a
    /// safe mode and send the reports before it goes on. Reset once a launch survives the window.
    public var crashedOnLaunch: Bool { launchCrashes.load(ordering: .relaxed) >= configuration.launchCrashCount }

    /// Turns every raw record in the crash folder into a report, stores it under the
    /// crash-reporting consent, and unlinks the raw file. Never throws: each problem is
    /// listed in the result. Call it at start, before the app does anything else.
    @discardableResult
    public func processPending() -> PendingResult {
        var result = PendingResult()
        let directory = configuration.crashDirectory
        // No folder: nothing crashed (earlier sessions are still closed below).
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var consecutive = launchCrashes.load(ordering: .relaxed)
        // Read every record first: a crash inside the handler leaves two records of one crash
        // (the partial one it was writing and a NESTED one) that become one report.
        var records: [(name: String, raw: RawCrashRecord)] = []
        // At most `maximumRecordsPerLaunch` records a launch (each up to 8 MiB in memory at
        // once): a folder flooded with records is worked through over several launches.
        for name in names.sorted().lazy.filter({ $0.hasSuffix(".stewardcrash") }).prefix(Self.maximumRecordsPerLaunch) {
            let path = directory + "/" + name
            guard let bytes = readRegularFile(path, limit: RawCrashRecord.maximumSize) else {
                result.problems.append(
                    "\(name): not a regular file of at most \(RawCrashRecord.maximumSize) bytes; removed")
                try? FileSystem.removeFile(path)
                continue
            }
            guard let header = SealedCrashRecord.header(of: bytes) else {
                // Unsealed: written by an earlier Steward, damaged, or planted. Not trusted.
                result.problems.append(
                    "\(name): not a sealed crash record (format \(SealedCrashRecord.version)); removed unread")
                try? FileSystem.removeFile(path)
                continue
            }
            let key: [UInt8]
            do {
                key = try vault.derivedKey(label: SealedCrashRecord.keyLabel, salt: header.salt)
            } catch {
                result.problems.append("\(name): no key to open it (\(error)); kept for the next launch")
                continue
            }
            let sealed = SealedCrashRecord.open(bytes, header: header, key: key)
            let pid = Int32(bitPattern: header.pid)
            if !sealed.sawLast, Self.isBeingWritten(path: path, pid: pid) {
                // Its process is alive and wrote it a moment ago: still being written. Next launch.
                continue
            }
            guard sealed.chunks > 0 else {
                result.problems.append(
                    "\(name): \(sealed.note ?? "no chunk") — it cannot be authenticated (altered, or sealed under another vault key); removed"
                )
                try? FileSystem.removeFile(path)
                continue
            }
            var raw = RawCrashRecord.parse(sealed.stream)
            if let note = sealed.note {
                raw.notes.append(note)
                raw.partial = true
            }
            records.append((name, raw))
        }
        var consumedRuntimeFiles: Set<String> = []
        for (name, raw) in records {
            if raw.nestedSignal != nil,
                records.contains(where: {
                    $0.name != name && $0.raw.pid == raw.pid && $0.raw.tid == raw.tid && $0.raw.nestedSignal == nil
                })
            {
                continue  // merged into its outer record below
            }
            var paths = [directory + "/" + name]
            var outer = raw
            if let nested = records.first(where: {
                $0.name != name && $0.raw.pid == raw.pid && $0.raw.tid == raw.tid && $0.raw.nestedSignal != nil
            }) {
                outer.notes.append(
                    "the crash handler itself crashed (signal \(nested.raw.nestedSignal ?? 0)) while writing this record"
                )
                outer.partial = true
                paths.append(directory + "/" + nested.name)
            }
            var report = makeReport(outer)
            let scrubber = Self.scrubber(outer)
            if let pid = outer.pid,
                let (runtimePath, runtime) = RuntimeBacktrace.find(pid: pid, near: report.timestamp, in: directory)
            {
                runtime.merge(into: &report, scrub: { scrubber.scrub($0) })
                report = scrubber.scrub(report: report)
                paths.append(runtimePath)
                consumedRuntimeFiles.insert(runtimePath)
            }
            do {
                let outcome = try store(report)
                try vault.commit()
                result.reports.append(report)
                result.outcomes.append(outcome)
                // Unlinked only once the report is durable (or deliberately not kept).
                for path in paths { try? FileSystem.removeFile(path) }
            } catch {
                result.problems.append(
                    "\(name): the report could not be stored (\(error)); the raw record is kept for the next launch")
                continue
            }
            if let seconds = report.secondsSinceStart, seconds <= launchCrashWindowSeconds {
                // Read back from the vault: saturate rather than trap on a planted count.
                consecutive = consecutive.saturatingAdding(1)
            } else {
                consecutive = 0
            }
        }
        // The runtime's reports of crashes Steward has no record of (before install(), or a
        // record already gone) hold unscrubbed paths: they do not stay.
        for name in names where name.hasSuffix(".json") {
            let path = directory + "/" + name
            if !consumedRuntimeFiles.contains(path), Self.age(of: path) > 600 { try? FileSystem.removeFile(path) }
        }
        if !records.isEmpty || !names.isEmpty { Self.syncDirectory(directory) }
        if !result.reports.isEmpty {
            launchCrashes.store(consecutive, ordering: .relaxed)
            try? saveLaunchState(consecutive)
        }
        closeEarlierSessions(crashed: Set(result.reports.compactMap(\.context.sessionID)))
        result.crashedOnLaunch = crashedOnLaunch
        scheduleLaunchConfirmation()
        return result
    }

    /// Records a handled error with the current stack, marked handled.
    ///
    /// - Returns: The report, as stored (or held, or dropped, by consent).
    @discardableResult
    public func report(error: any Error, message: String? = nil) throws -> CrashReport {
        let addresses = Thread.callStackReturnAddresses.map { UInt64(truncatingIfNeeded: $0.uintValue) }
        let maps = readRegularFile("/proc/self/maps", limit: 8 << 20).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let scrubber = processScrubber
        var frames: [StackFrame] = addresses.map { StackFrame(instructionAddress: $0) }
        var images: [BinaryImage] = []
        if configuration.symbolication != .none, !addresses.isEmpty {
            (frames, images) = symbolicator.symbolicate(addresses: addresses, maps: maps, firstIsReturnAddress: true)
        }
        var context = configuration.context
        context.sessionID = context.sessionID ?? sessionID
        var report = CrashReport(
            id: Self.eventID(), timestamp: clock.checkedNow, handled: true,
            // Scrubbed once, with the rest of the report, below.
            error: CrashError(type: String(reflecting: type(of: error)), message: message ?? "\(error)"),
            crashedThread: CrashThread(
                id: Self.currentThreadID(), name: Thread.current.name, frames: frames, crashed: false),
            images: images, breadcrumbs: CrashHandler.breadcrumbs(), context: context)
        report = scrubber.scrub(report: report)
        sessionErrors.add(1, ordering: .relaxed)
        _ = try store(report)
        try vault.commit()
        return report
    }

    /// The reports kept in the vault, oldest first.
    public func storedReports() throws -> [CrashReport] {
        let decoder = JSONDecoder()
        var reports: [CrashReport] = []
        try vault.forEachRecord(in: Self.collection) { record in
            if let report = try? decoder.decode(CrashReport.self, from: Data(record.data)) { reports.append(report) }
        }
        return reports
    }

    /// Tells the reporter that this launch survived: the launch-crash count starts again.
    /// Called automatically once ``Configuration/launchCrashWindow`` has passed after
    /// ``install()``.
    public func confirmLaunchSucceeded() {
        guard launchCrashes.exchange(0, ordering: .relaxed) != 0 else { return }
        try? saveLaunchState(0)
    }

    // MARK: - Private

    private func makeReport(_ raw: RawCrashRecord) -> CrashReport {
        let blob = raw.context.isEmpty ? nil : try? JSONDecoder().decode(ContextBlob.self, from: Data(raw.context))
        // Without a context (a record cut short), this process's home and user stand in.
        let scrubber = Self.scrubber(raw)
        var frames: [StackFrame]
        var images: [BinaryImage] = []
        let addresses = Self.bestFrames(raw)
        frames = addresses.map { StackFrame(instructionAddress: $0) }
        if configuration.symbolication != .none, !addresses.isEmpty, let maps = raw.maps {
            (frames, images) = symbolicator.symbolicate(addresses: addresses, maps: maps, firstIsReturnAddress: false)
        }
        var notes = raw.notes
        if raw.nestedSignal != nil { notes.append("the crash handler itself crashed; the record holds the minimum") }
        let signal = raw.signalNumber.map {
            CrashSignal(
                number: $0, name: SignalNames.name($0), code: raw.signalCode ?? 0,
                codeName: SignalNames.codeName(signal: $0, code: raw.signalCode ?? 0),
                faultAddress: SignalNames.hasFaultAddress($0) ? raw.faultAddress : nil)
        }
        // Both times come from the record file: a negative install time is not one the
        // handler writes, and the difference is taken without overflow.
        var seconds: Double?
        if let crash = raw.monotonicNs, let install = raw.installMonotonicNs, install >= 0, crash >= install {
            let (difference, overflow) = crash.subtractingReportingOverflow(install)
            if !overflow { seconds = Double(difference) / 1e9 }
        }
        let report = CrashReport(
            id: Self.eventID(),
            timestamp: raw.realtimeNs.map { Date(timeIntervalSince1970: Double($0) / 1e9) } ?? clock.checkedNow,
            handled: false, partial: raw.partial, signal: signal,
            crashedThread: CrashThread(
                id: Int64(raw.tid ?? 0), name: raw.threadName, frames: frames, registers: raw.registers, crashed: true),
            images: images, breadcrumbs: raw.breadcrumbs, context: blob?.context ?? CrashContext(),
            secondsSinceStart: seconds, handlerNanoseconds: raw.timingNs, salvageNotes: notes)
        return scrubber.scrub(report: report)
    }

    private func store(_ report: CrashReport) throws -> GateOutcome {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try consent.store(
            Array(try encoder.encode(report)), in: Self.collection, category: .crashDiagnostics,
            purpose: .crashReporting, retention: configuration.retention)
    }

    /// What the handler writes into each record (CONTEXT section).
    struct ContextBlob: Codable {
        var context: CrashContext
        var homeDirectory: String?
        var userName: String?
    }

    private func publishContext(_ context: CrashContext? = nil) throws {
        var context = context ?? configuration.context
        context.sessionID = context.sessionID ?? sessionID
        let blob = ContextBlob(context: context, homeDirectory: Self.homeDirectory(), userName: Self.userName())
        try CrashHandler.setContext(Array(try JSONEncoder().encode(blob)))
    }

    /// The DWARF unwind when it starts at the crashed instruction (it skipped the handler's
    /// own frames), else the frame-pointer walk (which always starts there), else whatever
    /// there is.
    static func bestFrames(_ raw: RawCrashRecord) -> [UInt64] {
        let pc = raw.registers["rip"] ?? raw.registers["pc"]
        if let first = raw.dwarfFrames.first, first == pc, raw.dwarfFrames.count >= 2 { return raw.dwarfFrames }
        if !raw.framePointerFrames.isEmpty { return raw.framePointerFrames }
        return raw.dwarfFrames
    }

    /// Whether `path` is a record its (live) process may still be writing.
    /// The most raw records one ``processPending()`` reads; the rest wait for the next launch.
    static let maximumRecordsPerLaunch = 32

    static func isBeingWritten(path: String, pid: Int32?) -> Bool {
        guard let pid, pid > 0, age(of: path) < 60 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Seconds since `path` was last modified (infinity when unknown).
    static func age(of path: String) -> Double {
        var info = stat()
        guard stat(path, &info) == 0 else { return .infinity }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        // The mtime is outside input (tmpfs and btrfs keep any 64-bit value): saturate.
        return Double(now.tv_sec.saturatingSubtracting(info.st_mtim.tv_sec))
    }

    /// Makes unlinks in `directory` durable.
    static func syncDirectory(_ directory: String) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    private static func scrubber(_ raw: RawCrashRecord? = nil) -> Scrubber {
        if let raw, !raw.context.isEmpty,
            let blob = try? JSONDecoder().decode(ContextBlob.self, from: Data(raw.context))
        {
            return Scrubber(homeDirectory: blob.homeDirectory, userName: blob.userName)
        }
        return Scrubber(homeDirectory: homeDirectory(), userName: userName())
    }

    private static func homeDirectory() -> String? {
        if let home = ProcessInfo.processInfo.environment["HOME"], !home.isEmpty { return home }
        return nil
    }

    private static func userName() -> String? { IdentifierFilter.userName() }

    struct LaunchState: Codable {
        var consecutive: Int
        /// Reports already queued for delivery (by id).
        var submitted: [String]?
    }

    /// The sessions, kept apart from ``LaunchState`` under `crashReporting`: recorded only
    /// while crash reporting is granted, purged with the purpose's data when it is denied.
    /// (Earlier versions kept them in the launch state under `privacyCompliance`; those are
    /// ignored and go with the next save.)
    struct SessionState: Codable {
        /// Sessions of processes that installed and have not ended yet: this process's, and
        /// earlier ones until a launch closes them (crashed or abnormal).
        var open: [StoredSession] = []
        /// Session updates not sent yet.
        var updates: [StoredSession] = []
        /// Sessions that ended in a crash, recorded under consent: their `crashed` update rides
        /// with the crash's report when it is submitted (and starts at the session's recorded
        /// start, the grant's time at the earliest).
        var crashed: [StoredSession] = []

        init() {}

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            open = try container.decodeIfPresent([StoredSession].self, forKey: .open) ?? []
            updates = try container.decodeIfPresent([StoredSession].self, forKey: .updates) ?? []
            crashed = try container.decodeIfPresent([StoredSession].self, forKey: .crashed) ?? []
        }
    }

    /// A session update as kept in the vault.
    struct StoredSession: Codable, Hashable {
        var id: String
        var started: Date
        var timestamp: Date
        var status: String
        var isInitial: Bool
        var errors: Int
        var release: String?
        var environment: String?
        var deviceID: String?
    }

    static func loadLaunchState(_ vault: Vault) throws -> LaunchState {
        var state = LaunchState(consecutive: 0)
        try vault.forEachRecord(in: stateCollection) { record in
            if let decoded = try? JSONDecoder().decode(LaunchState.self, from: Data(record.data)) { state = decoded }
        }
        return state
    }

    private func saveLaunchState(_ consecutive: Int) throws {
        try updateState { $0.consecutive = consecutive }
    }

    /// Loads, changes and saves the persisted state, serialised within the process.
    func updateState(_ change: (inout LaunchState) -> Void) throws {
        try persistedStateLock.withLock { _ in
            var state = try Self.loadLaunchState(vault)
            change(&state)
            try saveState(state)
        }
    }

    static func loadSessions(_ vault: Vault) throws -> SessionState {
        var sessions = SessionState()
        try vault.forEachRecord(in: sessionsCollection) { record in
            if let decoded = try? JSONDecoder().decode(SessionState.self, from: Data(record.data)) {
                sessions = decoded
            }
        }
        return sessions
    }

    /// Loads, changes and saves the sessions, serialised within the process; only while crash
    /// reporting is granted (otherwise nothing is read or written).
    func updateSessions(_ change: (inout SessionState) -> Void) throws {
        try persistedStateLock.withLock { _ in
            guard consent.ledger.consentState(for: .crashReporting) == .granted else { return }
            var sessions = try Self.loadSessions(vault)
            change(&sessions)
            try saveSessions(sessions)
        }
    }

    func saveSessions(_ sessions: SessionState) throws {
        var old: [RecordID] = []
        try vault.forEachRecord(in: Self.sessionsCollection) { old.append($0.id) }
        let id = try vault.append(
            Array(try JSONEncoder().encode(sessions)), to: Self.sessionsCollection,
            category: .crashDiagnostics, purpose: .crashReporting)
        for id in old { try vault.remove(id, from: Self.sessionsCollection) }
        // A withdrawal may have purged the purpose between the check and the append (the ledger
        // publishes the denial first, then purges): then this record goes too.
        if consent.ledger.consentState(for: .crashReporting) != .granted {
            _ = try vault.remove(id, from: Self.sessionsCollection)
        }
        try vault.commit(collections: [Self.sessionsCollection])
    }

    func saveState(_ state: LaunchState) throws {
        var old: [RecordID] = []
        try vault.forEachRecord(in: Self.stateCollection) { old.append($0.id) }
        try vault.append(
            Array(try JSONEncoder().encode(state)), to: Self.stateCollection,
            category: .crashDiagnostics, purpose: .privacyCompliance)
        for id in old { try vault.remove(id, from: Self.stateCollection) }
        try vault.commit(collections: [Self.stateCollection])
    }

    /// Once installed and with launch crashes counted, confirms the launch when it has lived
    /// through the window (measured from installation).
    private func scheduleLaunchConfirmation() {
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
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw CrashReporterError(.install, "the crash folder \(path) cannot be created: \(error)")
        }
        var info = stat()
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
    public static func prepareCurrentThread() throws {
        try CrashHandler.prepareCurrentThread()
    }

    static func eventID() -> String {
        UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased()
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

/// A crash reporter that cannot be set up; the message says why and what to do.
public struct CrashReporterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case alreadyInstalled, install }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The process has crash handlers installed already.
        public static let alreadyInstalled = Code(.alreadyInstalled)
        /// The crash folder or the handlers could not be set up.
        public static let install = Code(.install)

        /// The code's name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// What is wrong, and what would work.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
