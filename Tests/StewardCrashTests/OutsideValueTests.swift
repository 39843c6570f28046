import Foundation
import StewardCore
@_spi(Testing) @testable import StewardCrash
import StewardTesting
import Testing
#if canImport(Glibc)
import Glibc
import SwiftOverlayShims
#elseif canImport(Musl)
import Musl
#endif

/// Values from outside the crash reporter — raw record files, file mtimes, stored launch state,
/// public durations and counts — at their most hostile: clamped or set aside, never a trap.
/// `swift test --filter StewardCrashTests.OutsideValueTests`.
@Suite(.serialized) struct OutsideValueTests {
    /// A complete raw record (Documentation/CrashRecordFormat.md) of a SIGSEGV with the given
    /// monotonic times of the crash (SIGNAL) and of the handler's installation (INSTALL).
    static func rawRecord(crashMonotonic: Int64, installMonotonic: Int64, pid: Int32 = 0) -> [UInt8] {
        var bytes = Array("STWDCRSH".utf8) + leBytes(UInt32(1)) + leBytes(UInt32(0))
        // SIGNAL: signo, si_code, fault address, pid, tid, realtime ns, monotonic ns.
        bytes += leBytes(UInt32(1)) + leBytes(UInt32(40))
        bytes += leBytes(Int32(SIGSEGV)) + leBytes(Int32(1)) + leBytes(UInt64(0x10)) + leBytes(pid) + leBytes(Int32(1))
        // Crashed now (a report older than the uploader's maximum age would not be sent).
        let now = Int64(Date().timeIntervalSince1970) * 1_000_000_000
        bytes += leBytes(now) + leBytes(crashMonotonic)
        // INSTALL: realtime ns, monotonic ns.
        bytes += leBytes(UInt32(10)) + leBytes(UInt32(16)) + leBytes(now - 10_000_000_000) + leBytes(installMonotonic)
        // END.
        bytes += leBytes(UInt32(0xFFFF)) + leBytes(UInt32(0))
        return bytes
    }

    static func write(_ record: [UInt8], into directory: String, name: String = "crash-1.stewardcrash") throws {
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Data(record).write(to: URL(fileURLWithPath: directory + "/" + name))
    }

    @Test(arguments: [(Int64(0), Int64.min), (.max, -1), (.max, .min), (-5, .min)] as [(Int64, Int64)])
    func installAndCrashTimesThatWouldOverflowGiveNoTimeSinceStart(crash: Int64, install: Int64) throws {
        let f = try ReporterFixture()
        try Self.write(f.seal(Self.rawRecord(crashMonotonic: crash, installMonotonic: install)), into: f.dir + "/crash")
        let result = f.reporter.processPending()
        #expect(result.reports.count == 1, "\(result.problems)")
        #expect(result.reports.first?.secondsSinceStart == nil)
        #expect(!result.crashedOnLaunch)
        #expect(f.rawRecords.isEmpty)
    }

    @Test func saneTimesStillGiveTheTimeSinceStart() throws {
        let f = try ReporterFixture()
        try Self.write(
            f.seal(Self.rawRecord(crashMonotonic: 7_500_000_000, installMonotonic: 5_000_000_000)),
            into: f.dir + "/crash")
        #expect(f.reporter.processPending().reports.first?.secondsSinceStart == 2.5)
    }

    @Test func aStoredLaunchCrashCountOfIntMaxSaturates() throws {
        let f = try ReporterFixture()
        try f.reporter.saveState(CrashReporter.LaunchState(consecutive: .max))
        f.relaunch()
        try Self.write(
            f.seal(Self.rawRecord(crashMonotonic: 2_000_000_000, installMonotonic: 1_000_000_000)),
            into: f.dir + "/crash")
        let result = f.reporter.processPending()
        #expect(result.reports.count == 1)
        #expect(result.crashedOnLaunch)
        #expect(try CrashReporter.loadLaunchState(f.vault).consecutive == .max)
    }

    @Test(arguments: [Duration(attoseconds: .max), .seconds(Int64.max) + .seconds(1), .seconds(Int64.max)])
    func anAbsurdLaunchCrashWindowCountsAsOneHour(_ window: Duration) throws {
        let f = try ReporterFixture(window: window)
        try Self.write(
            f.seal(Self.rawRecord(crashMonotonic: 3_000_000_000_000, installMonotonic: 0)), into: f.dir + "/crash",
            name: "a.stewardcrash")
        try Self.write(
            f.seal(Self.rawRecord(crashMonotonic: 3_700_000_000_000, installMonotonic: 0)), into: f.dir + "/crash",
            name: "b.stewardcrash")
        let result = f.reporter.processPending()
        #expect(result.reports.count == 2)
        // 3,000 s after start is within the hour, 3,700 s is not: the count starts again.
        #expect(try CrashReporter.loadLaunchState(f.vault).consecutive == 0)
        #expect(f.reporter.launchCrashWindowSeconds == 3_600)
    }

    @Test(arguments: [Duration(attoseconds: .min), .seconds(-5)])
    func aNegativeLaunchCrashWindowMakesNoCrashALaunchCrash(_ window: Duration) throws {
        let f = try ReporterFixture(window: window)
        try Self.write(f.seal(Self.rawRecord(crashMonotonic: 1, installMonotonic: 0)), into: f.dir + "/crash")
        #expect(f.reporter.processPending().reports.count == 1)
        #expect(try CrashReporter.loadLaunchState(f.vault).consecutive == 0)
    }

    @Test func aRuntimeReportWithTheLowestMtimeIsRemovedAsOld() throws {
        let f = try ReporterFixture()
        let folder =
            (FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
            + "/steward-crash-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        f.configuration.crashDirectory = folder
        f.relaunch()
        try Self.write(Array("{}".utf8), into: folder, name: "prog-1-1.json")
        var modified = timespec()
        modified.tv_sec = .min
        var times = [timespec(), modified]
        #expect(utimensat(AT_FDCWD, folder + "/prog-1-1.json", &times, 0) == 0)
        _ = f.reporter.processPending()
        #expect(!FileManager.default.fileExists(atPath: folder + "/prog-1-1.json"))
    }

    @Test(arguments: [Duration(attoseconds: .max), .seconds(Int64.max)])
    func sendNowWithAnAbsurdTimeoutWaitsForTheDeliveryInsteadOfTrapping(_ timeout: Duration) async throws {
        let f = try ReporterFixture()
        try Self.write(f.seal(Self.rawRecord(crashMonotonic: 2, installMonotonic: 1)), into: f.dir + "/crash")
        _ = f.reporter.processPending()
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "crashBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: crashTestManifest(), audit: try AuditLedger(vault: f.vault))
        let report = try await f.reporter.sendNow(through: uploader, timeout: timeout)
        #expect(report?.accepted ?? 0 >= 1)
    }

    @Test(arguments: [Duration.zero, .seconds(-1), Duration(attoseconds: .min)])
    func sendNowWithAZeroOrNegativeTimeoutReturnsAtOnce(_ timeout: Duration) async throws {
        let f = try ReporterFixture()
        let uploader = try Uploader(
            recipient: "crashBackend", transport: RecordingTransport(clock: ContinuousClock()), vault: f.vault,
            consent: f.ledger, manifest: crashTestManifest(), audit: try AuditLedger(vault: f.vault))
        _ = try await f.reporter.sendNow(through: uploader, timeout: timeout)
    }

    @Test func aCrashedSessionUpdateSaturatesItsErrorCount() throws {
        let update = try #require(
            SentrySession.crashed(
                for: SentryFixture.crash, started: SentryFixture.launchTime, isInitial: false,
                errors: .max))
        #expect(update.errors == .max)
        #expect(update.payload()["errors"] != nil)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, 1e17])
    func aReporterWorksWhateverItsClockShows(_ seconds: Double) throws {
        let f = try ReporterFixture()
        let reporter = CrashReporter(
            configuration: f.configuration, vault: f.vault, consent: f.gate,
            clock: ManualWallClock(now: Date(timeIntervalSince1970: seconds)))
        struct ScanFailed: Error {}
        let id = reporter.report(error: ScanFailed())
        let stored = try reporter.storedReports()
        #expect(stored.count == 1 && stored.first?.id == id)
        #expect(stored.first?.timestamp.timeIntervalSince1970.isFinite == true)
    }
}
