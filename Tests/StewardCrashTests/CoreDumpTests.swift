import Foundation
import StewardCore
@_spi(Testing) @testable import StewardCrash
import StewardTesting
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// systemd-coredump's cores, found at the next launch for a session that vanished.
@Suite("Deaths without a signal: a core systemd-coredump kept")
struct CoreDumpTests {
    static let bootID = "0a54c194933748ee9b314d80d5f7d162"

    @Test func aBootIDFileBecomesThirtyTwoLowercaseHexDigits() {
        #expect(CoreDump.bootID(Array("0A54C194-9337-48ee-9b31-4d80d5f7d162\n".utf8)) == Self.bootID)
        #expect(CoreDump.bootID(Array("0a54c194-9337-48ee-9b31\n".utf8)) == nil, "too short")
        #expect(CoreDump.bootID(Array("0a54c194-9337-48ee-9b31-4d80d5f7d16g\n".utf8)) == nil, "not hex")
        #expect(CoreDump.bootID(Array(repeating: UInt8(ascii: "a"), count: 200)) == nil, "too long")
        #expect(CoreDump.current()?.pid == getpid(), "this machine's boot id reads")
    }

    @Test func aCoreFileNameIsTakenApart() throws {
        let name = "core.steward\\x2ecli.1000.\(Self.bootID).4242.1765100000123456.zst"
        let dump = try #require(CoreDump.parse(name: name))
        #expect(dump.pid == 4242 && dump.bootID == Self.bootID && dump.microseconds == 1_765_100_000_123_456)
        #expect(dump.file == name)
        #expect(CoreDump.parse(name: "core.app.0.\(Self.bootID).1.2")?.pid == 1, "no compression suffix")
        #expect(CoreDump.parse(name: "core.app.0.\(Self.bootID).1.2.xz") != nil)
        for bad in [
            "core.app.0.\(Self.bootID).1",  // no time
            "core.app.0.\(Self.bootID).0.2",  // pid 0
            "core.app.0.\(Self.bootID).4294967296.2",  // pid past Int32
            "core.app.0.\(Self.bootID).1.99999999999999999999999",  // time past UInt64
            "core.app.0.\(Self.bootID.uppercased()).1.2",  // systemd writes lowercase
            "core..0.\(Self.bootID).1.2",  // no command
            "core.app.x.\(Self.bootID).1.2",  // uid not a number
            "core.a.b.0.\(Self.bootID).1.2",  // a dot systemd would have escaped
            "dump.app.0.\(Self.bootID).1.2",
            "core.app.0.\(Self.bootID).1.2.gz",
            "",
        ] {
            #expect(CoreDump.parse(name: bad) == nil, "\(bad)")
        }
        #expect(CoreDump.parse(name: String(repeating: "core.", count: 200)) == nil)
    }

    @Test func theSignalAttributeIsASignalNumber() {
        #expect(CoreDump.signal(attribute: Array("3".utf8)) == SIGQUIT)
        #expect(CoreDump.signal(attribute: Array("31\n".utf8)) == 31)
        for bad in ["0", "65", "-3", "abc", "", "99999999999999999999999"] {
            #expect(CoreDump.signal(attribute: Array(bad.utf8)) == nil, "\(bad)")
        }
    }

    /// A core as systemd-coredump leaves it: the name, and the signal as an extended attribute.
    static func writeCore(in folder: String, pid: Int32, bootID: String, at date: Date, signal: Int32?) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let microseconds = UInt64(date.timeIntervalSince1970 * 1e6)
        let path = folder + "/core.steward\\x2etests.0.\(bootID).\(pid).\(microseconds).zst"
        try Data("not really zstd".utf8).write(to: URL(fileURLWithPath: path))
        if let signal {
            let value = Array(String(signal).utf8)
            // libc's setxattr (Glibc's module map leaves sys/xattr.h out).
            typealias SetXattr =
                @convention(c) (
                    UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer, Int, Int32
                ) -> Int32
            let symbol = try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setxattr"))
            let setxattr = unsafeBitCast(symbol, to: SetXattr.self)
            try #require(setxattr(path, "user.coredump.signal", value, value.count, 0) == 0, "errno \(errno)")
        }
    }

    /// Session 1 starts and "vanishes"; `between` runs; session 2 launches. The reason session 1
    /// was closed with.
    func vanish(between: (ReporterFixture, Date) throws -> Void) throws -> String? {
        let f = try ReporterFixture()
        defer { try? FileManager.default.removeItem(atPath: f.dir) }
        f.configuration.coreDumpDirectory = f.dir + "/coredump"
        let first = try f.startVanishingSession()
        let open = try #require(try CrashReporter.loadSessions(f.vault).open.first { $0.id == first })
        #expect(open.process?.pid == getpid(), "the open session keeps its pid and boot id")
        try between(f, open.started)
        f.relaunch()
        _ = f.reporter.processPending()
        let sessions = try CrashReporter.loadSessions(f.vault)
        let update = try #require(sessions.updates.first { $0.id == first && $0.status == "abnormal" })
        #expect(update.process == nil, "the pid stays on the open session only")
        #expect(try f.reporter.storedReports().isEmpty, "a core is a reason, not a report")
        return update.reason
    }

    @Test func aCoreOfTheSessionsProcessNamesTheSignal() throws {
        let reason = try vanish { f, started in
            let me = try #require(CoreDump.current())
            try Self.writeCore(
                in: f.dir + "/coredump", pid: me.pid, bootID: me.bootID, at: started.addingTimeInterval(5),
                signal: SIGQUIT)
        }
        #expect(reason == "dumped core: killed by SIGQUIT (systemd-coredump kept its core, pid \(getpid()))")
    }

    @Test func aCoreWithoutTheSignalAttributeStillCounts() throws {
        let reason = try vanish { f, started in
            let me = try #require(CoreDump.current())
            try Self.writeCore(in: f.dir + "/coredump", pid: me.pid, bootID: me.bootID, at: started, signal: nil)
        }
        #expect(reason == "dumped core: killed by a signal (systemd-coredump kept its core, pid \(getpid()))")
    }

    @Test(arguments: ["another pid", "another boot", "before the session", "no core"])
    func aCoreOfAnotherProcessOrTimeIsNotThisSessions(_ case: String) throws {
        let reason = try vanish { f, started in
            let me = try #require(CoreDump.current())
            let folder = f.dir + "/coredump"
            switch `case` {
            case "another pid":
                try Self.writeCore(in: folder, pid: me.pid &+ 1, bootID: me.bootID, at: started, signal: SIGQUIT)
            case "another boot":
                try Self.writeCore(
                    in: folder, pid: me.pid, bootID: String(repeating: "f", count: 32), at: started, signal: SIGQUIT)
            case "before the session":
                try Self.writeCore(
                    in: folder, pid: me.pid, bootID: me.bootID, at: started.addingTimeInterval(-60), signal: SIGQUIT)
            default:
                break
            }
        }
        #expect(reason == "killed, reason unknown")
    }
}
