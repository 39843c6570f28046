import Foundation
import StewardCore
import CStewardCrash
@_spi(Testing) @testable import StewardCrash
import Synchronization
import StewardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A crash backend and the purposes a reporter needs.
func crashTestManifest() -> PrivacyManifest {
    PrivacyManifest(
        policyVersion: "2026-11",
        purposes: [
            .init(id: .serviceProvision, description: "Run the app", legalBasis: .necessaryForService),
            .init(id: .crashReporting, description: "Crash reports", legalBasis: .consent),
        ],
        dataCategories: [
            .init(
                id: .crashDiagnostics, description: "Crashes", purposes: [.crashReporting], retentionDays: 90,
                sensitivity: .personal, leavesDevice: true, recipients: ["crashBackend"])
        ],
        recipients: [.init(id: "crashBackend", name: "Self-hosted Sentry", role: .processor, region: "DE")])
}

/// A vault, a consent ledger and gate, and a reporter whose records are written in-process by
/// the handler's own writer (no crash needed for the next-launch path).
final class ReporterFixture: @unchecked Sendable {
    // One test at a time uses it; `reporter` is replaced by `relaunch()`.
    let dir = NSTemporaryDirectory() + "steward-reporter-\(UUID().uuidString)"
    let clock = ManualWallClock()
    let vault: Vault
    let ledger: ConsentLedger
    let gate: ConsentGate
    private(set) var reporter: CrashReporter
    var configuration: CrashReporter.Configuration

    init(consent: ConsentState = .granted, window: Duration = .seconds(5)) throws {
        vault = try Vault.open(directory: dir + "/vault", keyProvider: InMemoryKeyProvider(), clock: clock)
        ledger = try ConsentLedger(manifest: crashTestManifest(), vault: vault, clock: clock)
        if consent == .granted { try ledger.grant([.crashReporting]) }
        if consent == .denied { try ledger.deny([.crashReporting]) }
        gate = ConsentGate(
            ledger: ledger, vault: vault, policies: [.crashReporting: .encryptedDisk(maxAge: .seconds(86_400))],
            clock: clock)
        configuration = CrashReporter.Configuration(
            crashDirectory: dir + "/crash",
            context: CrashContext(release: "tests@1.0", environment: "test", sessionID: CrashReporter.makeSessionID()),
            launchCrashWindow: window)
        reporter = CrashReporter(configuration: configuration, vault: vault, consent: gate, clock: clock)
    }

    /// A new reporter over the same vault, as at the next launch.
    func relaunch() {
        reporter.uninstall()
        reporter = CrashReporter(configuration: configuration, vault: vault, consent: gate, clock: clock)
    }

    /// Starts a session of its own (a new session id) that will "vanish": installs under the
    /// crash tests' lock, records the session's start, runs `during` (still installed), and
    /// uninstalls without ending the session, as a killed process leaves it. Its session id.
    func startVanishingSession(during: () throws -> Void = {}) throws -> String {
        configuration.context.sessionID = nil
        relaunch()
        let id = reporter.sessionID
        try crashHandlerGlobalState.withLock { _ in
            try reporter.install()
            defer { reporter.uninstall() }
            reporter.recordSessionStart()
            try during()
        }
        return id
    }

    /// Installs, writes `count` raw records as the handler would, uninstalls.
    func writeRecords(_ count: Int, breadcrumb: String? = nil) throws {
        try reporter.install()
        defer { reporter.uninstall() }
        if let breadcrumb { reporter.addBreadcrumb(message: breadcrumb, category: "test") }
        for _ in 0..<count { try reporter.writeRecordForTesting(signal: SIGSEGV) }
    }

    /// The record at `path`, opened with the key the vault derives for it (as the next launch does).
    func openRecord(_ path: String) throws -> RawCrashRecord {
        let bytes = Array(try #require(FileManager.default.contents(atPath: path)))
        let header = try #require(SealedCrashRecord.header(of: bytes))
        return try RawCrashRecord.read(
            path: path, key: vault.derivedKey(label: SealedCrashRecord.keyLabel, salt: header.salt))
    }

    /// `stream` (format 1 sections) sealed as the handler seals it, under a key of this vault.
    func seal(_ stream: [UInt8], pid: UInt32 = 1, number: UInt32 = 0) throws -> [UInt8] {
        let salt = try SecureRandom.bytes(count: 16)
        return SealedCrashRecord.seal(
            stream, key: try vault.derivedKey(label: SealedCrashRecord.keyLabel, salt: salt), salt: salt, pid: pid,
            number: number)
    }

    /// Every regular file under the fixture's folder (vault, crash records, anything else).
    func allFiles() -> [String] {
        guard let names = FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] else { return [] }
        return names.map { dir + "/" + $0 }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    var rawRecords: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir + "/crash")) ?? []).filter {
            $0.hasSuffix(".stewardcrash")
        }.sorted()
    }

    deinit {
        reporter.uninstall()
        try? vault.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite(.serialized) struct CrashReporterTests {
    @Test func aRecordBecomesAStoredReportAndTheRawFileIsUnlinked() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            try f.writeRecords(1, breadcrumb: "opened the scanner")
            #expect(f.rawRecords.count == 1)
            f.relaunch()
            let result = f.reporter.processPending()
            #expect(result.problems.isEmpty, "\(result.problems)")
            let report = try #require(result.reports.first)
            #expect(result.outcomes.first.map { if case .stored = $0 { true } else { false } } == true)
            #expect(report.signal?.name == "SIGSEGV")
            #expect(!report.handled && !report.partial)
            #expect(report.context.release == "tests@1.0")
            #expect(
                report.breadcrumbs.last?.message == "opened the scanner",
                "the ring is process-wide: earlier tests' breadcrumbs may come first")
            #expect(!report.crashedThread.frames.isEmpty)
            #expect(report.crashedThread.frames.contains { $0.function != nil }, "frames are symbolicated")
            #expect(report.images.contains { $0.buildID != nil }, "images carry build IDs for the backend")
            #expect(f.rawRecords.isEmpty, "the raw record is the only plaintext and goes once the report is stored")
            #expect(try f.reporter.storedReports().map(\.id) == [report.id])
        }
    }

    @Test func aReporterThatNeverInstalledDoesNotStopTheInstalledOnesRecords() throws {
        try crashHandlerGlobalState.withLock { _ in
            let installed = try ReporterFixture()
            let other = try ReporterFixture()
            try installed.reporter.install()
            defer { installed.reporter.uninstall() }
            // A second instance (a facade started without handlers) stops: nothing of it was installed.
            other.reporter.uninstall()
            try installed.reporter.writeRecordForTesting(signal: SIGSEGV)
            #expect(installed.rawRecords.count == 1, "the installed reporter still records")
        }
    }

    @Test func aFloodedFolderIsWorkedThroughOverSeveralLaunches() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            let limit = CrashReporter.maximumRecordsPerLaunch
            try f.writeRecords(limit + 3)
            #expect(f.rawRecords.count == limit + 3)
            f.relaunch()
            let first = f.reporter.processPending()
            #expect(first.problems.isEmpty, "\(first.problems)")
            #expect(first.reports.count == limit, "at most \(limit) records are read in one launch")
            #expect(f.rawRecords.count == 3, "the rest wait on disk, sealed, for the next launch")
            f.relaunch()
            let second = f.reporter.processPending()
            #expect(second.reports.count == 3)
            #expect(f.rawRecords.isEmpty)
            #expect(
                Set(try f.reporter.storedReports().map(\.id)).count == limit + 3, "nothing lost, nothing stored twice")
        }
    }

    @Test(arguments: [ConsentState.pending, .denied])
    func withoutConsentTheReportIsHeldOrDroppedAndNeverStored(consent: ConsentState) throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture(consent: consent)
            try f.writeRecords(1)
            if consent == .denied {
                // Denied: the handler does not record at all (a sealed record is made only
                // while granted, or pending under encryptedDisk, the fixture's policy).
                #expect(f.rawRecords.isEmpty, "nothing of a crash reaches the disk while denied")
                f.relaunch()
                #expect(f.reporter.processPending().outcomes.isEmpty)
                #expect(try f.reporter.storedReports().isEmpty)
                return
            }
            #expect(f.rawRecords.count == 1, "pending under encryptedDisk: one sealed record")
            f.relaunch()
            let result = f.reporter.processPending()
            let outcome = try #require(result.outcomes.first)
            switch (consent, outcome) {
            case (.pending, .held), (.denied, .dropped): break
            default: Issue.record("consent \(consent) gave \(outcome)")
            }
            #expect(try f.reporter.storedReports().isEmpty)
            #expect(f.rawRecords.isEmpty, "handled either way: the raw plaintext does not linger")
            if consent == .pending {
                try f.ledger.grant([.crashReporting])
                #expect(try f.reporter.storedReports().count == 1, "a held report is stored once consent is granted")
            }
        }
    }

    @Test func aTruncatedOrDamagedRecordIsSalvagedAndMarkedPartial() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            try f.writeRecords(2)
            let records = f.rawRecords
            let first = f.dir + "/crash/" + records[0]
            let bytes = try #require(FileManager.default.contents(atPath: first))
            // Cut inside the maps section: the signal survives, the end marker does not.
            try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: first))
            let second = f.dir + "/crash/" + records[1]
            var damaged = try #require(FileManager.default.contents(atPath: second))
            // Altered after its first chunk (which names the signal): what comes before stays.
            for index in stride(from: 200, to: damaged.count, by: 97) { damaged[index] ^= 0xA5 }
            try damaged.write(to: URL(fileURLWithPath: second))
            try Data("garbage, not a record".utf8).write(
                to: URL(fileURLWithPath: f.dir + "/crash/crash-1-2-3.stewardcrash"))
            // A record altered in its first chunk: nothing authenticates, nothing is trusted.
            var forged = try #require(FileManager.default.contents(atPath: second))
            forged[50] ^= 0x01
            try forged.write(to: URL(fileURLWithPath: f.dir + "/crash/crash-2-2-3.stewardcrash"))
            // Written by this (live) process: aged, so they read as left by a process that died.
            for name in f.rawRecords { try ageFileBytes(f.dir + "/crash/" + name) }
            f.relaunch()
            let result = f.reporter.processPending()
            #expect(
                result.reports.count == 2,
                "each record whose first chunk authenticates becomes a report: \(result.problems)")
            #expect(result.reports.allSatisfy { $0.partial })
            #expect(result.reports.allSatisfy { $0.signal?.name == "SIGSEGV" })
            #expect(
                result.reports.contains { $0.salvageNotes.contains { $0.contains("did not authenticate") } },
                "the alteration is noted")
            #expect(
                result.problems.contains { $0.contains("crash-1-2-3") && $0.contains("not a sealed crash record") },
                "\(result.problems)")
            #expect(
                result.problems.contains { $0.contains("crash-2-2-3") && $0.contains("cannot be authenticated") },
                "\(result.problems)")
            #expect(f.rawRecords.isEmpty)
        }
    }

    @Test func aRecordItsLiveProcessIsStillWritingIsLeftForLater() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            try f.writeRecords(1)
            let path = f.dir + "/crash/" + f.rawRecords[0]
            let bytes = try #require(FileManager.default.contents(atPath: path))
            try bytes.prefix(200).write(to: URL(fileURLWithPath: path))  // no END yet; our pid is alive
            f.relaunch()
            #expect(f.reporter.processPending().reports.isEmpty)
            #expect(f.rawRecords.count == 1, "the record stays for the next launch")
            try ageFileBytes(path)
            #expect(
                f.reporter.processPending().reports.first?.partial == true,
                "once its writer is gone (or it is old), it is salvaged")
        }
    }

    @Test func aCrashInsideTheHandlerBecomesOneReport() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            try f.writeRecords(1)
            let path = f.dir + "/crash/" + f.rawRecords[0]
            let outer = try f.openRecord(path)
            let bytes = try #require(FileManager.default.contents(atPath: path))
            try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: path))
            // The minimal record the handler writes when it crashes itself (SIGNAL, NESTED, END).
            var nested = Array("STWDCRSH".utf8) + leBytes(UInt32(1)) + leBytes(UInt32(0))
            nested +=
                leBytes(UInt32(1)) + leBytes(UInt32(40)) + leBytes(Int32(SIGSEGV)) + leBytes(Int32(1))
                + leBytes(UInt64(0))
                + leBytes(outer.pid ?? 0) + leBytes(outer.tid ?? 0) + leBytes(outer.realtimeNs ?? 0)
                + leBytes(outer.monotonicNs ?? 0)
            nested +=
                leBytes(UInt32(9)) + leBytes(UInt32(4)) + leBytes(Int32(SIGSEGV)) + leBytes(UInt32(0xFFFF))
                + leBytes(UInt32(0))
            let nestedPath = f.dir + "/crash/crash-9-\(outer.pid ?? 0)-\(outer.tid ?? 0).stewardcrash"
            try Data(try f.seal(nested, pid: UInt32(bitPattern: outer.pid ?? 0), number: 1)).write(
                to: URL(fileURLWithPath: nestedPath))
            for name in f.rawRecords { try ageFileBytes(f.dir + "/crash/" + name) }
            f.relaunch()
            let result = f.reporter.processPending()
            #expect(result.reports.count == 1, "one crash, one report")
            #expect(result.reports.first?.partial == true)
            #expect(result.reports.first?.salvageNotes.contains { $0.contains("handler itself crashed") } == true)
            #expect(f.rawRecords.isEmpty)
        }
    }

    @Test func threeCrashesRightAfterStartAreACrashLoopUntilALaunchSurvives() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            try f.writeRecords(2)
            f.relaunch()
            #expect(!f.reporter.processPending().crashedOnLaunch, "two launch crashes are not yet a loop")
            try f.writeRecords(1)
            f.relaunch()
            let result = f.reporter.processPending()
            #expect(result.crashedOnLaunch)
            #expect(result.reports.first?.secondsSinceStart.map { $0 < 5 } == true)
            // The count is kept in the vault: the next launch still knows.
            f.relaunch()
            #expect(f.reporter.crashedOnLaunch)
            f.reporter.confirmLaunchSucceeded()
            #expect(!f.reporter.crashedOnLaunch)
            f.relaunch()
            #expect(!f.reporter.crashedOnLaunch, "a launch that survived resets the count for good")
        }
    }

    @Test func aCrashLongAfterStartIsNotALaunchCrash() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture(window: .zero)
            try f.writeRecords(3)
            f.relaunch()
            #expect(!f.reporter.processPending().crashedOnLaunch)
        }
    }

    @Test func theSwiftRuntimesJSONBacktraceIsMergedIntoTheReport() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            try f.writeRecords(1)
            let path = f.dir + "/crash/" + f.rawRecords[0]
            let raw = try f.openRecord(path)
            let pc = try #require(CrashReporter.bestFrames(raw).first)
            let json = """
                {"kind": "crashReport", "description": "Bad pointer dereference", "faultAddress": "0x8", "threads": [
                  {"name": "main", "crashed": true, "frames": [{"kind": "programCounter", "address": "0x\(String(pc, radix: 16))",
                    "description": "triggerIt() + 12", "image": "app", "sourceLocation": {"file": "\(NSHomeDirectory())/src/App.swift", "line": 42, "column": 7}}]},
                  {"name": "worker", "crashed": false, "frames": [{"kind": "returnAddress", "address": "0x1234", "description": "work() + 3", "image": "app"}]}
                ], "images": []}
                """
            try Data(json.utf8).write(to: URL(fileURLWithPath: f.dir + "/crash/app-\(getpid())-0.json"))
            f.relaunch()
            let report = try #require(f.reporter.processPending().reports.first)
            #expect(report.runtimeBacktraceMerged)
            #expect(report.crashedThread.frames.first?.line == 42)
            #expect(report.crashedThread.frames.first?.filename == "~/src/App.swift", "the home folder is scrubbed")
            #expect(report.otherThreads.map(\.name) == ["worker"])
            #expect(report.otherThreads.first?.frames.first?.function == "work()")
            #expect(
                !FileManager.default.fileExists(atPath: f.dir + "/crash/app-\(getpid())-0.json"),
                "the runtime's file goes too")
        }
    }

    @Test func aHandledErrorIsCapturedOnTheCallersThreadAndStoredByTheWorkerWithTheBreadcrumbsBeforeIt() throws {
        struct ScanFailed: Error, CustomStringConvertible {
            var description: String { "scan failed" }
        }
        let f = try ReporterFixture()
        let marker = "before-\(UUID().uuidString.prefix(8))"
        f.reporter.addBreadcrumb(message: marker, category: "test")
        let ids = (0..<5).map { _ in f.reporter.report(error: ScanFailed()) }
        f.reporter.addBreadcrumb(message: "after the errors", category: "test")
        f.reporter.flushHandledErrors()
        let stored = try f.vault.records(in: CrashReporter.collection).compactMap {
            try? JSONDecoder().decode(CrashReport.self, from: Data($0.data))
        }
        #expect(stored.map(\.id) == ids, "all five, in order, with the ids report() returned")
        for report in stored {
            #expect(report.handled && report.error?.message == "scan failed")
            #expect(report.breadcrumbs.contains { $0.message == marker })
            #expect(!report.breadcrumbs.contains { $0.message == "after the errors" }, "only what came before")
            #expect(report.crashedThread.id == steward_crash_thread_id(), "the reporting thread (this test's)")
        }
    }

    @Test func atMostAThousandHandledErrorsWaitAndAFlushFromTheWorkerItselfDoesNotDeadlock() throws {
        struct Failed: Error {}
        let f = try ReporterFixture()
        // Hold the worker, so everything reported waits.
        let release = DispatchSemaphore(value: 0)
        f.reporter.handled.worker.async { release.wait() }
        for _ in 0..<(CrashReporter.maximumWaitingHandledErrors + 5) { f.reporter.report(error: Failed()) }
        release.signal()
        f.reporter.flushHandledErrors()
        #expect(try f.vault.records(in: CrashReporter.collection).count == CrashReporter.maximumWaitingHandledErrors)
        // On the worker's own queue a flush stores inline instead of waiting for itself.
        f.reporter.report(error: Failed())
        let done = DispatchSemaphore(value: 0)
        f.reporter.handled.worker.async {
            f.reporter.flushHandledErrors()
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 30) == .success, "no deadlock")
    }

    @Test func theLoadedImageGenerationChangesWhenALibraryIsLoaded() throws {
        let before = steward_crash_image_generation()
        #expect(steward_crash_image_generation() == before, "steady while nothing is loaded")
        // A glibc library no test links: loading it changes the count of loaded objects.
        let handle = try #require(dlopen("libanl.so.1", RTLD_NOW) ?? dlopen("libutil.so.1", RTLD_NOW))
        defer { dlclose(handle) }
        #expect(steward_crash_image_generation() != before)
    }

    @Test func aHandledErrorIsReportedWithTheCurrentStack() throws {
        struct ScanFailed: Error {}
        let f = try ReporterFixture()
        let report = try reportFromNamedFunction(f.reporter, ScanFailed())
        #expect(report.handled)
        #expect(report.error?.type.contains("ScanFailed") == true)
        #expect(
            report.crashedThread.frames.contains { $0.function?.contains("reportFromNamedFunction") == true },
            "the stack names the function that reported")
        #expect(try f.reporter.storedReports().first?.id == report.id)
    }

    @Test func threadsStewardStartsGetAnAlternateSignalStackOnceInstalled() throws {
        /// The alternate stack of a new Steward thread (0: none).
        func altStackSize() -> Int {
            let size = Mutex(0)
            let done = DispatchSemaphore(value: 0)
            StewardThread.start(name: "steward.test") {
                var current = stack_t()
                sigaltstack(nil, &current)
                size.withLock { $0 = current.ss_flags & Int32(SS_DISABLE) != 0 ? 0 : current.ss_size }
                done.signal()
            }
            done.wait()
            return size.withLock { $0 }
        }
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            #expect(altStackSize() == 0, "nothing is prepared before a reporter is installed")
            try f.reporter.install()
            defer { f.reporter.uninstall() }
            #expect(altStackSize() >= 64 * 1024, "a stack overflow on a Steward thread must still be reported")
        }
    }

    @Test func sessionsStartAndEndExitedAbnormalOrCrashed() async throws {
        let f = try ReporterFixture()
        /// The session statuses (by session id) in everything queued so far.
        func sessionUpdates(_ transport: RecordingTransport) throws -> [(id: String, status: String)] {
            try transport.payloads.flatMap { payload in
                try SentryEnvelope.decode(payload.body).items.filter { $0.type == "session" }.compactMap {
                    item -> (String, String)? in
                    guard let json = try? SentryJSON.parse(item.payload), case .object(let fields) = json,
                        let sid = fields["sid"]?.stringValue, let status = fields["status"]?.stringValue
                    else { return nil }
                    return (sid, status)
                }
            }
        }
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "crashBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: crashTestManifest(), audit: try AuditLedger(vault: f.vault), wallClock: f.clock)
        // Session 1 starts, then its process vanishes without a crash or an orderly end.
        let first = f.reporter.sessionID
        try crashHandlerGlobalState.withLock { _ in
            try f.reporter.install()
            f.reporter.recordSessionStart()
            f.reporter.uninstall()
        }
        // Session 2 (the next launch) finds session 1 still open: abnormal. Then it crashes.
        f.configuration.context.sessionID = nil
        f.relaunch()
        let second = f.reporter.sessionID
        #expect(second != first)
        try crashHandlerGlobalState.withLock { _ in
            _ = f.reporter.processPending()
            try f.reporter.install()
            f.reporter.recordSessionStart()
            try f.reporter.writeRecordForTesting(signal: SIGSEGV)
            f.reporter.uninstall()
        }
        // Session 3 processes session 2's crash (crashed, not abnormal) and ends normally.
        f.relaunch()
        let third = f.reporter.sessionID
        try crashHandlerGlobalState.withLock { _ in
            _ = f.reporter.processPending()
            try f.reporter.install()
            f.reporter.recordSessionStart()
            f.reporter.endSession()
            f.reporter.uninstall()
        }
        try f.reporter.submit(to: uploader)
        _ = await uploader.drain()
        let updates = try sessionUpdates(transport)
        func statuses(_ id: String) -> [String] { updates.filter { $0.id == id }.map(\.status).sorted() }
        #expect(statuses(first) == ["abnormal", "ok"])
        #expect(statuses(second) == ["crashed", "ok"], "a crashed session is not also abnormal")
        #expect(statuses(third) == ["exited", "ok"])
    }

    @Test func unsentSessionUpdatesAreBoundedSoStartDoesNotGrowWithHistory() throws {
        let f = try ReporterFixture()
        // Two hundred launches' updates without a send: only the newest are kept.
        try f.reporter.updateSessions { sessions in
            for n in 0..<200 {
                let date = Date(timeIntervalSince1970: Double(n))
                sessions.updates.append(
                    CrashReporter.StoredSession(
                        id: "s\(n)", started: date, timestamp: date, status: "exited", isInitial: false, errors: 0,
                        release: "app@1", environment: nil, deviceID: nil))
            }
        }
        let kept = try CrashReporter.loadSessions(f.vault).updates
        #expect(kept.count == CrashReporter.maximumUnsentSessions)
        #expect(kept.last?.id == "s199" && kept.first?.id == "s\(200 - CrashReporter.maximumUnsentSessions)")
    }

    @Test func sessionsAreRecordedOnlyWhileCrashReportingIsGrantedAndPurgedOnDenial() async throws {
        let f = try ReporterFixture(consent: .pending)
        func stored() throws -> [CrashReporter.StoredSession] {
            let sessions = try CrashReporter.loadSessions(f.vault)
            return sessions.open + sessions.updates
        }
        // Pending: nothing is recorded, in the vault or anywhere else.
        try crashHandlerGlobalState.withLock { _ in
            try f.reporter.install()
            f.reporter.recordSessionStart()
            f.reporter.endSession()
            f.reporter.uninstall()
        }
        #expect(try stored().isEmpty)
        #expect(try f.vault.records(in: CrashReporter.sessionsCollection).isEmpty)
        #expect(try CrashReporter.loadLaunchState(f.vault).consecutive == 0)
        // Granted later in the process: the session starts then, under crashReporting.
        f.relaunch()
        f.clock.advance(by: .seconds(60))
        try crashHandlerGlobalState.withLock { _ in
            try f.reporter.install()
            f.reporter.recordSessionStart()
            #expect(try stored().isEmpty, "still pending")
            try f.ledger.grant([.crashReporting])
            f.reporter.recordSessionStart()
            f.reporter.uninstall()
        }
        let started = try stored()
        #expect(started.map(\.status) == ["ok", "ok"], "open, and the initial update")
        #expect(started.allSatisfy { $0.started >= f.clock.now }, "nothing of the time before the grant")
        let records = try f.vault.records(in: CrashReporter.sessionsCollection)
        #expect(records.count == 1)
        #expect(records.allSatisfy { $0.purpose == .crashReporting && $0.category == .crashDiagnostics })
        // Denied: purged, and nothing is recorded or queued afterwards, even after a new grant.
        try f.ledger.deny([.crashReporting])
        #expect(try stored().isEmpty)
        f.reporter.endSession()
        f.relaunch()
        _ = crashHandlerGlobalState.withLock { _ in f.reporter.processPending() }
        #expect(try stored().isEmpty)
        try f.ledger.grant([.crashReporting])
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "crashBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: crashTestManifest(), audit: try AuditLedger(vault: f.vault), wallClock: f.clock)
        try f.reporter.submit(to: uploader)
        _ = await uploader.drain()
        #expect(transport.payloads.isEmpty, "no session of the pending or denied time is sent")
    }

    /// Random launches, grants, denials, crashes, orderly ends and sends: a session is stored
    /// only while crash reporting is granted and covers no time before the grant, only sessions
    /// of granted launches are sent, and no session id or release is readable in any file under
    /// the data folder.
    @Test(arguments: 0..<4)
    func sessionsFollowConsentThroughRandomLaunches(seed: UInt64) async throws {
        var random = SplitMix64(seed: 0x5E55_0000 + seed)
        let f = try ReporterFixture(consent: .pending)
        let release = "rel-MARK\(seed)Q"
        f.configuration.context.release = release
        f.configuration.context.sessionID = CrashReporter.makeSessionID()
        f.configuration.symbolication = .none  // not under test; symbolicating the test binary takes most of a launch
        f.relaunch()
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "crashBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: crashTestManifest(), audit: try AuditLedger(vault: f.vault), wallClock: f.clock)
        var sessionIDs: Set<String> = [f.reporter.sessionID]
        var grantedSessions: Set<String> = []
        var lastGrant: Date?
        var granted: Bool { f.ledger.consentState(for: .crashReporting) == .granted }
        func stored() throws -> [CrashReporter.StoredSession] {
            let sessions = try CrashReporter.loadSessions(f.vault)
            return sessions.open + sessions.updates
        }
        func sentSessionIDs() -> Set<String> {
            Set(
                transport.payloads.flatMap { payload in
                    ((try? SentryEnvelope.decode(payload.body).items) ?? []).filter { $0.type == "session" }.compactMap
                    { item -> String? in
                        guard let json = try? SentryJSON.parse(item.payload), case .object(let fields) = json else {
                            return nil
                        }
                        return fields["sid"]?.stringValue
                    }
                })
        }
        var steps = 0
        for step in 0..<30 {
            f.clock.advance(by: .seconds(60))
            switch random.int(in: 0..<6) {
            case 0, 1:
                // A consent change while the app runs (installed).
                let grant = random.int(in: 0..<3) != 0
                try crashHandlerGlobalState.withLock { _ in
                    try f.reporter.install()
                    if grant {
                        if !granted { lastGrant = f.clock.now }
                        try f.ledger.grant([.crashReporting])
                        grantedSessions.insert(f.reporter.sessionID)
                    } else {
                        try f.ledger.deny([.crashReporting])
                        lastGrant = nil
                    }
                    f.reporter.recordSessionStart()
                    f.reporter.uninstall()
                }
            case 2, 3, 4:
                // A launch that crashes, ends in order, or vanishes.
                f.configuration.context.sessionID = CrashReporter.makeSessionID()
                f.relaunch()
                sessionIDs.insert(f.reporter.sessionID)
                if granted { grantedSessions.insert(f.reporter.sessionID) }
                let end = random.int(in: 0..<3)
                try crashHandlerGlobalState.withLock { _ in
                    _ = f.reporter.processPending()
                    try f.reporter.install()
                    f.reporter.recordSessionStart()
                    if end == 0 { try f.reporter.writeRecordForTesting(signal: SIGSEGV) }
                    if end == 1 { f.reporter.endSession() }
                    f.reporter.uninstall()
                }
            default:
                _ = try f.reporter.submit(to: uploader)
                _ = await uploader.drain()
            }
            steps += 1
            let sessions = try stored()
            if !granted {
                #expect(
                    sessions.isEmpty,
                    "seed \(seed) step \(step): a session is stored while crash reporting is not granted")
                #expect(try f.vault.records(in: CrashReporter.sessionsCollection).isEmpty)
            }
            if let lastGrant {
                for session in sessions where session.started < lastGrant {
                    Issue.record("seed \(seed) step \(step): session \(session.id) covers time before the grant")
                }
            }
            let unconsented = sentSessionIDs().subtracting(grantedSessions)
            #expect(
                unconsented.isEmpty,
                "seed \(seed) step \(step): sessions of launches never granted were sent: \(unconsented)")
            for file in f.allFiles() {
                guard let bytes = FileManager.default.contents(atPath: file) else { continue }
                for needle in sessionIDs.union([release]) where bytes.range(of: Data(needle.utf8)) != nil {
                    Issue.record("seed \(seed) step \(step): \(file) holds \(needle) in plaintext")
                }
            }
        }
        #expect(steps == 30)
    }

    @Test func sendNowDeliversWithinItsTimeout() async throws {
        let f = try ReporterFixture()
        try crashHandlerGlobalState.withLock { _ in
            try f.writeRecords(3)
            f.relaunch()
            #expect(f.reporter.processPending().crashedOnLaunch)
        }
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "crashBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: crashTestManifest(), audit: try AuditLedger(vault: f.vault))
        let report = try await f.reporter.sendNow(through: uploader, timeout: .seconds(30))
        #expect(report?.accepted ?? 0 >= 3, "the three crash reports reached the backend before the app went on")
    }

    @Test func secondInstallInTheProcessIsAClearError() throws {
        try crashHandlerGlobalState.withLock { _ in
            let f = try ReporterFixture()
            try f.reporter.install()
            let other = CrashReporter(configuration: f.configuration, vault: f.vault, consent: f.gate)
            let error = #expect(throws: CrashReporterError.self) { try other.install() }
            #expect(error?.code == .alreadyInstalled)
        }
    }

    @Test func reportsAreQueuedAsSentryEnvelopesOnceEach() async throws {
        let f = try ReporterFixture()
        try crashHandlerGlobalState.withLock { _ in
            try f.writeRecords(1)
            f.relaunch()
            _ = f.reporter.processPending()
        }
        let transport = RecordingTransport(clock: ContinuousClock())
        let audit = try AuditLedger(vault: f.vault)
        let uploader = try Uploader(
            recipient: "crashBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: crashTestManifest(), audit: audit)
        let dsn = try SentryDSN("https://public@sentry.example.com/42")
        #expect(try f.reporter.submit(to: uploader, dsn: dsn) == 1)
        #expect(try f.reporter.submit(to: uploader, dsn: dsn) == 0, "a report is queued once")
        let report = await uploader.drain()
        // The event, and perhaps the session's start (recorded on install()'s thread).
        #expect(report.accepted >= 1)
        let payload = try #require(transport.payloads.first, "the crash report is sent first")
        #expect(payload.contentType == "application/x-sentry-envelope")
        #expect(payload.headers["X-Sentry-Auth"]?.contains("sentry_key=public") == true)
        let envelope = try SentryEnvelope.decode(payload.body)
        #expect(envelope.eventID == (try f.reporter.storedReports().first?.id))
        #expect(envelope.items.first?.type == "event")
    }
}

@inline(never)
func reportFromNamedFunction(_ reporter: CrashReporter, _ error: any Error) throws -> CrashReport {
    let id = reporter.report(error: error)
    return try #require(try reporter.storedReports().first { $0.id == id })
}

/// Sets a file's modification time five minutes back.
func ageFileBytes(_ path: String) throws {
    try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-300)], ofItemAtPath: path)
}

/// The little-endian bytes of an integer.
func leBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}
