import Foundation
import StewardCore
@_spi(Testing) @testable import StewardCrash
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The v1 memory hierarchy, where root can make cgroups (the machines here mount v1).
let memoryHierarchyV1 = "/sys/fs/cgroup/memory"

/// Whether this process can make a v1 memory cgroup: root, and the v1 memory hierarchy mounted
/// writable (a v2-only system has no `memory/` folder; a container may mount it read-only).
let canMakeV1MemoryCgroup: Bool = {
    let probe = memoryHierarchyV1 + "/steward-probe-\(UUID().uuidString)"
    guard mkdir(probe, 0o755) == 0 else { return false }
    rmdir(probe)
    return true
}()

/// A process the kernel's OOM killer ends (SIGKILL: no handler runs, nothing is written) is
/// attributed at the next launch from its memory cgroup's `oom_kill` count.
@Suite("Deaths without a signal: a real OOM kill in a memory cgroup")
struct OutOfMemoryKillTests {
    /// The room the child leaves itself above what it uses once its session and report are
    /// stored: the limit it sets before it allocates.
    static let room: UInt64 = 64 << 20
    /// The cgroup's limit while the child sets up (Steward's start, a handled report): large,
    /// since a build with the address sanitizer charges its allocator's quarantine and shadow
    /// pages to the cgroup too, and must not be killed before the report is stored.
    static let setupLimit: UInt64 = 1 << 30

    /// A vault (key in a file, so a child can open it), a ledger granting crash reporting and a
    /// reporter over `dir`, with a given session id.
    static func open(_ dir: String, sessionID: String?) throws -> (Vault, CrashReporter) {
        let vault = try Vault.open(
            directory: dir + "/vault", keyProvider: FileKeyProvider(directory: dir + "/keys"),
            clock: SystemWallClock())
        let ledger = try ConsentLedger(manifest: crashTestManifest(), vault: vault, clock: SystemWallClock())
        if ledger.consentState(for: .crashReporting) != .granted { try ledger.grant([.crashReporting]) }
        let gate = ConsentGate(ledger: ledger, vault: vault, clock: SystemWallClock())
        let configuration = CrashReporter.Configuration(
            crashDirectory: dir + "/crash",
            context: CrashContext(release: "tests@1.0", environment: "test", sessionID: sessionID))
        return (vault, CrashReporter(configuration: configuration, vault: vault, consent: gate))
    }

    @Test(
        "A child OOM-killed in a memory cgroup (64 MiB above its use once set up) becomes an out-of-memory report at the next launch, with the limit and the session's breadcrumbs",
        .enabled(
            if: canMakeV1MemoryCgroup,
            "needs root and a writable cgroup v1 memory hierarchy at /sys/fs/cgroup/memory (not mounted on cgroup v2-only systems)"
        ))
    func oomKillInAMemoryCgroup() async throws {
        let dir = NSTemporaryDirectory() + "steward-oom-\(UUID().uuidString)"
        let cgroup = memoryHierarchyV1 + "/steward-test-\(UUID().uuidString)"
        try #require(mkdir(cgroup, 0o755) == 0, "mkdir \(cgroup): errno \(errno)")
        defer {
            // Empty once the child is dead: then it can go.
            rmdir(cgroup)
            try? FileManager.default.removeItem(atPath: dir)
        }
        // With swap, the kernel would swap rather than kill: memory plus swap gets the same limit
        // (memory first: memory plus swap may never be below it).
        try "\(Self.setupLimit)\n".write(
            toFile: cgroup + "/memory.limit_in_bytes", atomically: false, encoding: .utf8)
        try? "\(Self.setupLimit)\n".write(
            toFile: cgroup + "/memory.memsw.limit_in_bytes", atomically: false, encoding: .utf8)
        let control = try String(contentsOfFile: cgroup + "/memory.oom_control", encoding: .utf8)
        try #require(control.contains("oom_kill_disable 0"), "the OOM killer is disabled in \(cgroup)")
        try #require(control.contains("oom_kill 0"), "this kernel does not count oom_kill (Linux 4.13 and later do)")
        // Crash reporting granted, before the child opens the vault.
        let sessionID = CrashReporter.makeSessionID()
        do {
            let (vault, _) = try Self.open(dir, sessionID: nil)
            try vault.close()
        }

        await #expect(processExitsWith: .signal(SIGKILL)) {
            [dir = dir as String, cgroup = cgroup as String, sessionID = sessionID as String] in
            // Into the cgroup first: the session starts there and reads its count (0).
            try "\(getpid())\n".write(toFile: cgroup + "/cgroup.procs", atomically: false, encoding: .utf8)
            let (_, reporter) = try OutOfMemoryKillTests.open(dir, sessionID: sessionID)
            try reporter.install()
            reporter.recordSessionStart()
            reporter.addBreadcrumb(message: "loading the big file", category: "test")
            reporter.report(error: CocoaError(.fileReadTooLarge), message: "the big file is too big")
            reporter.flushHandledErrors()
            // Then the real limit: what the child uses now and 64 MiB more (memory first when
            // lowering, then memory plus swap to the same value).
            let usage = try String(contentsOfFile: cgroup + "/memory.usage_in_bytes", encoding: .utf8)
            let limit = (UInt64(usage.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) + OutOfMemoryKillTests.room
            try "\(limit)\n".write(toFile: cgroup + "/memory.limit_in_bytes", atomically: false, encoding: .utf8)
            try? "\(limit)\n".write(toFile: cgroup + "/memory.memsw.limit_in_bytes", atomically: false, encoding: .utf8)
            // Then memory, touched page by page, until the kernel kills the process.
            while true {
                // Never freed: each megabyte stays charged to the cgroup.
                guard let block = malloc(1 << 20) else { continue }
                memset(block, 1, 1 << 20)
            }
        }

        let after = try String(contentsOfFile: cgroup + "/memory.oom_control", encoding: .utf8)
        #expect(after.contains("oom_kill 1"), "the kernel counted the kill: \(after)")
        let limitText = try String(contentsOfFile: cgroup + "/memory.limit_in_bytes", encoding: .utf8)
        let limit = try #require(UInt64(limitText.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(limit < Self.setupLimit, "the child lowered the limit before it allocated")
        // The next launch, while the cgroup is still there to be read.
        let (vault, reporter) = try Self.open(dir, sessionID: nil)
        defer { try? vault.close() }
        _ = reporter.processPending()
        let reports = try reporter.storedReports()
        let oom = try #require(reports.first { $0.outOfMemory != nil }, "no out-of-memory report")
        #expect(reports.count { $0.outOfMemory != nil } == 1)
        let kill = try #require(oom.outOfMemory)
        #expect(kill.cgroupVersion == 1)
        #expect(kill.cgroup == "/" + URL(fileURLWithPath: cgroup).lastPathComponent)
        #expect(kill.limit == limit, "the cgroup's limit as the next launch reads it: the one the child set")
        #expect(kill.kills == 1)
        #expect((kill.peak ?? 0) >= limit - (1 << 20), "the peak reached the limit: \(kill.peak ?? 0)")
        #expect(oom.error?.type == "OutOfMemory")
        #expect(oom.error?.message.contains("limit ") == true)
        #expect(oom.context.sessionID == sessionID)
        #expect(!oom.handled && oom.signal == nil)
        #expect(oom.breadcrumbs.map(\.message).contains("loading the big file"), "the session's breadcrumbs")
        // The handled error the child stored is there too, and the session is closed abnormal with the reason.
        #expect(reports.contains { $0.handled && $0.context.sessionID == sessionID })
        let sessions = try CrashReporter.loadSessions(vault)
        let update = try #require(sessions.updates.first { $0.id == sessionID && $0.status == "abnormal" })
        #expect(update.reason == "out of memory: killed by the kernel's OOM killer")
        #expect(!sessions.open.contains { $0.id == sessionID })
    }
}
