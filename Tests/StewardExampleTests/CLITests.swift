import Foundation
import StewardTesting
import Testing

/// Runs the built `steward` binary, as swift-argument-parser's example tests do.
/// Serialized: each test waits for child processes on its thread, and on a two-core machine
/// (two concurrency-pool threads) parallel CLI tests held both threads for minutes under ASan,
/// so other suites' tasks never ran (an HTTP test's send waited past its 90 s window).
@Suite(.serialized) struct CLITests {
    struct Run {
        /// The exit status, or the signal that ended the process (see `signaled`).
        var status: Int32
        /// Whether a signal ended the process.
        var signaled = false
        var stdout: String
        var stderr: String
    }

    /// The `steward` executable next to the test bundle.
    static var binary: URL {
        let exe = URL(
            fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0])
        var dir = exe.deletingLastPathComponent()
        // The test runner may live inside StewardPackageTests.xctest/…; walk up to the bin dir.
        while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("steward").path) {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("steward")
    }

    func run(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil) throws -> Run {
        var env = ProcessInfo.processInfo.environment
        // Hermetic key store: a data folder made here keeps its key in files, never in the
        // keyring of a desktop session or a credential of the machine running the tests.
        // (libsecret finds a session bus through XDG_RUNTIME_DIR too.)
        env["DBUS_SESSION_BUS_ADDRESS"] = nil
        env["XDG_RUNTIME_DIR"] = nil
        env["CREDENTIALS_DIRECTORY"] = nil
        for (k, v) in environment { env[k] = v }
        let process = try ChildProcess(
            Self.binary.path, arguments: arguments, environment: env, standardInput: stdin == nil ? .nullDevice : .pipe,
            standardOutput: .pipe, standardError: .pipe)
        if let stdin, let input = process.standardInput {
            try? input.write(stdin)
            input.close()
        }
        // A command that hangs fails the test instead of the whole run.
        let watchdog = DispatchWorkItem { process.kill(SIGTERM) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 120, execute: watchdog)
        defer { watchdog.cancel() }
        let outcome = try process.finish()
        let stdout = String(decoding: outcome.standardOutput, as: UTF8.self)
        let stderr = String(decoding: outcome.standardError, as: UTF8.self)
        switch outcome.termination {
        case .exited(let status): return Run(status: status, stdout: stdout, stderr: stderr)
        case .signaled(let signal): return Run(status: signal, signaled: true, stdout: stdout, stderr: stderr)
        case .reapedElsewhere: return Run(status: -1, stdout: stdout, stderr: "reaped elsewhere\n" + stderr)
        }
    }

    func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "steward-cli-\(UUID().uuidString)"
    }

    @Test func binaryIsBuilt() {
        #expect(
            FileManager.default.isExecutableFile(atPath: Self.binary.path), "expected steward at \(Self.binary.path)")
    }

    @Test func inspectOnAnEmptyDataDirectorySaysNothingIsStoredAndCreatesNothing() throws {
        let dir = temporaryDirectory()
        let result = try run(["inspect", "--data-dir", dir])
        #expect(result.status == 0)
        #expect(result.stdout.contains("nothing is stored"))
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func inspectJSONDescribesAVaultTheDemoLeftBehind() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let demo = try run(["demo", "--data-dir", dir, "--keep"])
        #expect(demo.status == 0, "demo failed: \(demo.stderr)")
        let result = try run(["inspect", "--json", "--data-dir", dir])
        #expect(result.status == 0, "inspect failed: \(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(json["exists"] as? Bool == true)
        let vault = try #require(json["vault"] as? [String: Any])
        let collections = try #require(vault["collections"] as? [[String: Any]])
        let byName = Dictionary(uniqueKeysWithValues: collections.map { ($0["name"] as? String ?? "", $0) })
        // The demo keeps one crash report and one device record; analytics were purged.
        #expect(byName["crashes"]?["records"] as? Int == 1)
        #expect(byName["device"]?["records"] as? Int == 1)
        #expect(byName["analytics"]?["records"] as? Int ?? 0 == 0)
        #expect(vault["quarantined"] as? Int == 0)
    }

    @Test func inspectTextListsCollectionsWithoutContents() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["demo", "--data-dir", dir, "--keep"]).status == 0)
        let result = try run(["inspect", "--data-dir", dir])
        #expect(result.status == 0)
        let lines = result.stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        #expect(lines.contains { $0.first == "crashes" && $0.dropFirst().first == "1" })
        #expect(lines.contains { $0.first == "device" && $0.dropFirst().first == "1" })
        #expect(lines.contains { $0.first == "analytics" && $0.dropFirst().first == "0" })
        #expect(result.stdout.contains("Audit ledger"))
        #expect(
            result.stdout.contains(" to crashBackend (consent)"),
            "the delivered crash report is accounted as a disclosure")
        #expect(!result.stdout.contains("SIGSEGV"), "inspect must not print record contents")
    }

    @Test func inspectUsesXDGDataHomeAndAppIDByDefault() throws {
        let xdg = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: xdg) }
        #expect(try run(["demo", "--data-dir", xdg + "/steward/org.example.test", "--keep"]).status == 0)
        let result = try run(["inspect", "--app-id", "org.example.test"], environment: ["XDG_DATA_HOME": xdg])
        #expect(result.status == 0)
        #expect(result.stdout.contains(xdg + "/steward/org.example.test/vault"))
    }

    @Test func demoRunsEndToEndAndLeavesNothingBehind() throws {
        let dir = temporaryDirectory()
        let result = try run(["demo", "--data-dir", dir])
        #expect(result.status == 0, "demo failed: \(result.stderr)")
        #expect(result.stdout.contains("found in no file"))
        #expect(result.stdout.contains("5 analytics events: held"))
        // The crash report goes first; a session update of the crashed child may follow, depending
        // on whether its session start was recorded before it crashed (a few milliseconds).
        #expect(
            result.stdout.contains("outbox now holds: 000000000001-crashBackend.body, 000000000001-crashBackend.json"))
        #expect(result.stdout.contains("removed 5 record(s)"))
        #expect(result.stdout.contains("chain intact"))
        // The data rights, through the facade: access, export, erase.
        // The report, the launch state, and the session started when crash reporting was granted.
        #expect(result.stdout.contains("crashDiagnostics: 3 record(s), kept 90 days, sent to crashBackend"))
        #expect(result.stdout.contains("crashReports 1"))
        #expect(
            result.stdout.contains(
                "deletion requests: crashBackend, telemetryBackend (delivered: crashBackend, telemetryBackend)"))
        #expect(result.stdout.contains("the secret is readable in no file"))
        #expect(result.stdout.contains("[16/16, "))
        #expect(result.stdout.contains("first request → denied; should show rationale: true"))
        #expect(result.stdout.contains("second request → granted"))
        #expect(result.stdout.contains(" denied → granted"))
        #expect(result.stdout.contains("push_opened   (pushNotifications, denied): dropped(consent)"))
        #expect(result.stdout.contains("location_fix  (personalization, pending): held"))
        #expect(result.stdout.contains("the raw device id reached the outbox: false"))
        #expect(result.stdout.contains("deletion request delivered to telemetryBackend: true"))
        #expect(result.stdout.contains("bluetooth → refused: permission 'bluetooth' is not declared"))
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test func anInvalidAppIDIsAClearError() throws {
        let result = try run(["inspect", "--app-id", "../etc"], environment: ["XDG_DATA_HOME": "/tmp"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("app id '../etc' is not valid"))
    }

    @Test func aLockedVaultIsAClearErrorNotCorruption() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["demo", "--data-dir", dir, "--keep"]).status == 0)
        // Hold the vault's lock the way another process would.
        let fd = open(dir + "/vault/lock", O_RDWR)
        #expect(fd >= 0)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX | LOCK_NB) == 0)
        let result = try run(["inspect", "--data-dir", dir])
        #expect(result.status != 0)
        #expect(result.stderr.contains("open in another process"))
    }
}

extension CLITests {
    @Test func theDemoRefusesADataDirectoryThatHoldsAnything() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: dir + "/precious.txt", contents: Data("mine".utf8)))
        let result = try run(["demo", "--data-dir", dir])
        #expect(result.status != 0)
        #expect(result.stderr.contains("not empty"))
        #expect(FileManager.default.contents(atPath: dir + "/precious.txt") == Data("mine".utf8))
    }
}
