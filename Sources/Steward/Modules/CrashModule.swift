import Foundation
import StewardCore
public import StewardCrash

extension CrashReporter: FacadeModule {
    /// The crash reporter: installs its handler when the configuration asks (recording follows
    /// crash-reporting consent), then turns the records an earlier run left into reports.
    static func open(_ context: FacadeContext) throws -> (CrashReporter, CrashReporter.PendingResult) {
        let configuration = context.configuration
        let crashContext = CrashContext(
            release: configuration.release, environment: configuration.environment, osName: "Linux",
            arch: Steward.Plan.architecture,
            executable: CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent }, dist: configuration.dist
        )
        var crashConfiguration = CrashReporter.Configuration(
            dataDirectory: context.dataDirectory, context: crashContext)
        crashConfiguration.sampleRate = configuration.crashSampleRate
        crashConfiguration.beforeQueueing = configuration.beforeQueueingCrashReport
        crashConfiguration.capturesFatalErrorMessages = configuration.capturesFatalErrorMessages
        let crashes = CrashReporter(
            configuration: crashConfiguration, vault: context.vault, consent: context.gate, clock: context.clock)
        // Left out: no handlers, and no records of an earlier run are read.
        guard configuration.modules.contains(.crash) else { return (crashes, CrashReporter.PendingResult()) }
        if configuration.installsCrashHandler { try crashes.install() }
        let pending = crashes.processPending()
        if !pending.reports.isEmpty || !pending.problems.isEmpty {
            StewardDiagnostics.emit(
                DiagnosticEvent(
                    pending.problems.isEmpty ? .info : .warning, "crash.pending",
                    "Crash records an earlier run left were turned into reports",
                    ["reports": String(pending.reports.count), "problems": String(pending.problems.count)]))
        }
        return (crashes, pending)
    }

    func queue(for steward: Steward, into report: inout Steward.SendReport) {
        guard let uploader = steward.uploaders[steward.configuration.crashRecipient] else { return }
        do {
            report.crashReportsQueued = try submit(
                to: uploader, dsn: steward.configuration.sentryDSN.flatMap { try? SentryDSN($0) })
        } catch {
            report.problems.append("crash reports: \(error)")
        }
    }

    /// Ends the session as a clean exit and removes the handlers (a reporter that did not
    /// install them leaves them alone).
    func stop() {
        endSession()
        uninstall()
    }

    func release() { uninstall() }

    /// Handled errors not stored yet are forgotten, never written after the erase.
    func discardBeforeErase() { discardHandledErrors() }

    func contribute(to report: inout DataRights.AccessReport, steward: Steward) {
        report.unprocessedCrashRecords = rawRecordNames().count
    }

    func contribute(to document: inout ExportDocument, steward: Steward) throws {
        document.crashReports = try storedReports()
    }

    func eraseOutsideVault() throws -> Int {
        let names = rawRecordNames(includingBookkeeping: true)
        for name in names { try FileManager.default.removeItem(atPath: configuration.crashDirectory + "/" + name) }
        return names.count
    }

    /// The files of the crash folder: raw records (hidden files are the handler's own), or
    /// everything but the lock and sequence files.
    private func rawRecordNames(includingBookkeeping: Bool = false) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: configuration.crashDirectory)) ?? []
        return includingBookkeeping
            ? names.filter { $0 != ".lock" && $0 != ".sequence" } : names.filter { !$0.hasPrefix(".") }
    }
}

extension Steward {
    /// Crash reports, breadcrumbs, handled errors, launch crashes and sessions.
    public var crashes: CrashReporter { modules.crashes }
    /// What start made of the crash records an earlier run left.
    public var pendingCrashes: CrashReporter.PendingResult { modules.pendingCrashes }
}
