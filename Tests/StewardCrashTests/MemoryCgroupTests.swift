import Foundation
import StewardCore
@_spi(Testing) @testable import StewardCrash
import StewardTesting
import Synchronization
import Testing

/// The memory cgroup files as Linux writes them (v1 and v2), malformed ones, and the next
/// launch's classification of a vanished session against a cgroup folder the test writes.
@Suite struct MemoryCgroupTests {
    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func theV1MemoryLineWinsOnAHybridSystemAndV2IsUsedAlone() {
        let hybrid = """
            9:name=systemd:/
            4:memory:/process_api/88dd
            2:cpu,cpuacct:/
            0::/
            """
        #expect(MemoryCgroup.membership(Self.bytes(hybrid))! == (1, "/process_api/88dd"))
        let combined = "3:cpuacct,memory:/a\n"
        #expect(MemoryCgroup.membership(Self.bytes(combined))! == (1, "/a"))
        let unified = "0::/user.slice/user-1000.slice/app.scope\n"
        #expect(MemoryCgroup.membership(Self.bytes(unified))! == (2, "/user.slice/user-1000.slice/app.scope"))
        // The path is everything after the second colon, colons included.
        #expect(MemoryCgroup.membership(Self.bytes("0::/a:b\n"))! == (2, "/a:b"))
    }

    @Test(arguments: [
        "", "\n\n", "memory:/a", "x:memory:/a", "4:memory:relative", "4:memory:/a/../b", "4:memory:/a//b",
        "4:memory:/./a", "1:cpu:/", "0:cpu:/a", "4:memory:/a\u{0}b",
    ])
    func aMembershipFileWithoutAValidMemoryLineGivesNothing(_ text: String) {
        #expect(MemoryCgroup.membership(Self.bytes(text)) == nil)
    }

    @Test func invalidBytesInAPathAreRefused() {
        #expect(MemoryCgroup.membership([0x30, 0x3A, 0x3A, 0x2F, 0xFF]) == nil)
    }

    @Test func theOOMKillCountIsReadFromV1OOMControlAndV2Events() {
        let control = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
        #expect(MemoryCgroup.keyedValue("oom_kill", in: Self.bytes(control)) == 3)
        let events = "low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n"
        #expect(MemoryCgroup.keyedValue("oom_kill", in: Self.bytes(events)) == 2)
        // A kernel before 4.13 has no oom_kill line.
        #expect(MemoryCgroup.keyedValue("oom_kill", in: Self.bytes("oom_kill_disable 0\nunder_oom 0\n")) == nil)
    }

    @Test(arguments: [
        "oom_kill -1", "oom_kill 18446744073709551616", "oom_kill 1 2", "oom_kill 0x10", "oom_kill", "oom_kill +1",
        "oom_kill 99999999999999999999999",
    ])
    func aMalformedOrOverflowingCountGivesNothing(_ text: String) {
        #expect(MemoryCgroup.keyedValue("oom_kill", in: Self.bytes(text)) == nil)
    }

    @Test func limitsAreBytesAndNoLimitIsNil() {
        #expect(MemoryCgroup.limit(Self.bytes("67108864\n")) == 67_108_864)
        #expect(MemoryCgroup.limit(Self.bytes("max\n")) == nil, "v2 without a limit")
        #expect(MemoryCgroup.limit(Self.bytes("9223372036854771712\n")) == nil, "v1 without a limit")
        #expect(MemoryCgroup.number(Self.bytes("18446744073709551615\n")) == UInt64.max)
        #expect(MemoryCgroup.number(Self.bytes("18446744073709551616\n")) == nil)
        #expect(MemoryCgroup.number(Self.bytes("")) == nil)
        #expect(MemoryCgroup.number(Self.bytes("12 MB")) == nil)
    }

    @Test func aCountThatWentDownIsNotARise() {
        let then = MemoryCgroup(version: 2, path: "/a", oomKills: 5)
        #expect(MemoryCgroup(version: 2, path: "/a", oomKills: 7).oomKills(since: then) == 2)
        #expect(MemoryCgroup(version: 2, path: "/a", oomKills: 1).oomKills(since: then) == nil)
        #expect(MemoryCgroup(version: 2, path: "/b", oomKills: 9).oomKills(since: then) == nil)
        #expect(MemoryCgroup(version: 2, path: "/a", oomKills: nil).oomKills(since: then) == nil)
    }

    @Test func byteCountsAreDescribedInBinaryUnits() {
        #expect(MemoryCgroup.describe(bytes: 512) == "512 B")
        #expect(MemoryCgroup.describe(bytes: 64 << 20) == "64 MiB")
        #expect(MemoryCgroup.describe(bytes: 3 << 29) == "1.5 GiB")
        #expect(MemoryCgroup.describe(bytes: .max) == "16 EiB")
    }

    // MARK: - Classification at the next launch

    /// A v2 cgroup folder with `memory.events`, `memory.max` and `memory.peak`, and a
    /// membership file naming it.
    final class FakeCgroup {
        let root = NSTemporaryDirectory() + "steward-cgroup-\(UUID().uuidString)"
        var files: MemoryCgroup.Files { MemoryCgroup.Files(membership: root + "/cgroup", root: root + "/fs") }

        init() throws {
            try FileManager.default.createDirectory(atPath: root + "/fs/app.slice", withIntermediateDirectories: true)
            try "0::/app.slice\n".write(toFile: root + "/cgroup", atomically: true, encoding: .utf8)
            try "67108864\n".write(toFile: root + "/fs/app.slice/memory.max", atomically: true, encoding: .utf8)
            try "66000000\n".write(toFile: root + "/fs/app.slice/memory.peak", atomically: true, encoding: .utf8)
            try setKills(0)
        }

        func setKills(_ count: Int) throws {
            try "low 0\nhigh 0\nmax 4\noom 1\noom_kill \(count)\noom_group_kill 0\n".write(
                toFile: root + "/fs/app.slice/memory.events", atomically: true, encoding: .utf8)
        }

        deinit { try? FileManager.default.removeItem(atPath: root) }
    }

    /// Session 1 starts (reading the fake cgroup), "vanishes"; `between` runs; session 2 launches.
    func vanish(between: (FakeCgroup) throws -> Void) throws -> (ReporterFixture, String, [CrashReport]) {
        let f = try ReporterFixture()
        let cgroup = try FakeCgroup()
        f.configuration.memoryCgroupFiles = cgroup.files
        // (Under the lock: the breadcrumb ring is the process's, one test at a time writes to it.)
        let first = try f.startVanishingSession {
            f.reporter.addBreadcrumb(message: "opened the big file", category: "test")
            f.reporter.report(error: CocoaError(.fileReadTooLarge))
            f.reporter.flushHandledErrors()
        }
        try between(cgroup)
        f.relaunch()
        _ = f.reporter.processPending()
        let reports = try f.reporter.storedReports().filter { $0.outOfMemory != nil }
        return (f, first, reports)
    }

    @Test func aRiseOfTheCgroupsOOMKillCountMakesAnOutOfMemoryReportAndTheReason() throws {
        let (f, first, reports) = try vanish { try $0.setKills(1) }
        let report = try #require(reports.first)
        #expect(reports.count == 1)
        #expect(
            report.outOfMemory
                == OutOfMemoryKill(cgroup: "/app.slice", cgroupVersion: 2, limit: 64 << 20, peak: 66_000_000, kills: 1))
        #expect(report.error?.type == "OutOfMemory")
        #expect(report.error?.message.contains("limit 64 MiB") == true)
        #expect(report.context.sessionID == first && !report.handled && report.signal == nil)
        #expect(report.breadcrumbs.last?.message == "opened the big file", "the last report's breadcrumbs")
        let update = try #require(
            try CrashReporter.loadSessions(f.vault).updates.first { $0.id == first && $0.status == "abnormal" })
        #expect(update.reason == CrashReporter.VanishedReason.outOfMemory(report.outOfMemory!).description)
        #expect(update.cgroup == nil, "the cgroup stays on the open session only")
        // In Sentry's terms: sentry-cocoa's OOM convention.
        guard case .object(let event) = SentryEventEncoder().event(for: report),
            case .object(let exceptions)? = event["exception"], case .array(let values)? = exceptions["values"],
            case .object(let exception)? = values.first, case .object(let mechanism)? = exception["mechanism"]
        else { Issue.record("no exception"); return }
        #expect(exception["type"]?.stringValue == "OutOfMemory")
        #expect(mechanism["type"]?.stringValue == "out_of_memory")
        #expect(mechanism["handled"] == .bool(false))
        #expect(event["level"]?.stringValue == "fatal")
    }

    @Test func noRiseMeansKilledForAnUnknownReasonAndNoReport() throws {
        let (f, first, reports) = try vanish { _ in }
        #expect(reports.isEmpty)
        let update = try #require(
            try CrashReporter.loadSessions(f.vault).updates.first { $0.id == first && $0.status == "abnormal" })
        #expect(update.reason == "killed, reason unknown")
    }

    @Test func aCgroupGoneByTheNextLaunchIsNotAnOOMKill() throws {
        let (f, first, reports) = try vanish { try FileManager.default.removeItem(atPath: $0.root + "/fs/app.slice") }
        #expect(reports.isEmpty)
        let update = try #require(
            try CrashReporter.loadSessions(f.vault).updates.first { $0.id == first && $0.status == "abnormal" })
        #expect(update.reason == "killed, reason unknown")
    }
}
