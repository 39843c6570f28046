import Foundation
import StewardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `steward crash` as a user runs it: real crashes in child processes, reports on the next run.
extension CLITests {
    /// Swift's runtime traps (fatalError, bounds, unwrap) raise SIGILL on x86_64 (ud2) and
    /// SIGTRAP on aarch64 (brk).
    static let trapSignal: Int32 = {
        #if arch(x86_64)
        SIGILL
        #else
        SIGTRAP
        #endif
    }()

    static let crashKinds: [(kind: String, signal: Int32, function: String)] = [
        ("segv", SIGSEGV, "triggerSegv"),
        ("abort", SIGABRT, "triggerAbort"),
        ("fatal", trapSignal, "triggerFatal"),
        ("index", trapSignal, "triggerIndex"),
        ("unwrap", trapSignal, "triggerUnwrap"),
        ("precondition", trapSignal, "triggerPrecondition"),
        ("assert", trapSignal, "triggerAssert"),
        ("cast", SIGABRT, "triggerCast"),
        ("arithmetic", trapSignal, "triggerArithmetic"),
        ("overflow", SIGSEGV, "triggerOverflow"),
        ("fpe", SIGFPE, "steward_crash_trigger_divide"),
        ("thread", SIGSEGV, "triggerSegvOnThread"),
        ("task", SIGSEGV, "triggerSegvInTask"),
    ]

    /// The error each Swift trap's report carries (type, a part of the message): the runtime's
    /// message (the tests' steward is a debug build, where `assertionFailure` stops too), or, for
    /// arithmetic overflow, which has none, the trap's name in the debug information.
    static let expectedErrors: [String: (type: String, message: String)] = [
        "fatal": ("Fatal error", "steward crash trigger fatal (steward/Crash.swift:"),
        "index": ("Fatal error", "Index out of range"),
        "unwrap": ("Fatal error", "Unexpectedly found nil while unwrapping an Optional value"),
        "precondition": ("Precondition failed", "steward crash trigger precondition"),
        "assert": ("Fatal error", "steward crash trigger assert (steward/Crash.swift:"),
        "cast": ("Swift runtime error", "Could not cast value of type 'steward.CrashTriggerValue'"),
        "arithmetic": ("Swift runtime failure", "arithmetic overflow"),
        // Not a Swift trap: a fault next to the stack pointer, named from the registers.
        "overflow": ("Stack overflow", "the stack ran out: a fault at 0x"),
    ]

    @Test("every crash kind really crashes and becomes a report on the next run", arguments: crashKinds)
    func crashTriggerMakesAReport(kind: String, signal: Int32, function: String) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["consent", "grant", "crashReporting", "--data-dir", dir]).status == 0)
        let crash = try run(["crash", "trigger", kind, "--data-dir", dir])
        #expect(
            crash.signaled, "steward crash trigger \(kind) exited with \(crash.status) instead of dying of a signal")
        #expect(crash.status == signal, "expected signal \(signal), got \(crash.status)")
        // The runtime's backtracer runs after Steward's handler unless the environment turned it
        // off (scripts/test-sanitizer.sh does: its helper hangs in sanitized children).
        if ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"]?.contains("enable=no") != true {
            // (It heads a trap it can name from the debug information with that name instead.)
            #expect(
                crash.stderr.contains("Program crashed") || crash.stderr.contains("*** Swift runtime failure: "),
                "the Swift runtime's backtrace must still reach stderr")
        }
        let records = try FileManager.default.contentsOfDirectory(atPath: dir + "/crash").filter {
            $0.hasSuffix(".stewardcrash")
        }
        #expect(records.count == 1, "one raw record, found \(records)")

        let list = try run(["crash", "list", "--json", "--data-dir", dir])
        #expect(list.status == 0, "\(list.stderr)")
        #expect(list.stderr.contains("became crash report"), "the next run processed the record first")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])
        let reports = try #require(json["reports"] as? [[String: Any]])
        try #require(reports.count == 1)
        let report = reports[0]
        #expect((report["signal"] as? [String: Any])?["number"] as? Int == Int(signal))
        #expect(report["partial"] as? Bool == false)
        let thread = try #require(report["crashedThread"] as? [String: Any])
        let frames = try #require(thread["frames"] as? [[String: Any]])
        let top = frames.prefix(12).compactMap { $0["function"] as? String }
        #expect(top.contains { $0.contains(function) }, "\(function) is not among the top frames: \(top)")
        #expect((report["handlerNanoseconds"] as? Int ?? 0) > 0)
        let error = report["error"] as? [String: Any]
        if let expected = Self.expectedErrors[kind] {
            #expect(error?["type"] as? String == expected.type, "\(String(describing: error))")
            let message = error?["message"] as? String ?? ""
            #expect(message.contains(expected.message), "\(message)")
        } else {
            // A signal of no Swift trap: the runtime said nothing, and no message is made up.
            #expect(error == nil, "\(String(describing: error))")
        }
        let left = try FileManager.default.contentsOfDirectory(atPath: dir + "/crash").filter {
            $0.hasSuffix(".stewardcrash")
        }
        #expect(left.isEmpty, "the raw record is unlinked once the report is stored")
    }

    @Test func aCrashUnderPendingConsentIsHeldAndUnderDeniedConsentDropped() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = try run(["crash", "trigger", "segv", "--data-dir", dir])
        let pending = try run(["crash", "list", "--data-dir", dir])
        #expect(
            pending.stdout.contains("1 report(s) held encrypted until crash reporting consent is answered"),
            "\(pending.stdout)")
        #expect(try run(["consent", "grant", "crashReporting", "--data-dir", dir]).status == 0)
        let granted = try run(["crash", "list", "--json", "--data-dir", dir])
        let reports =
            (try JSONSerialization.jsonObject(with: Data(granted.stdout.utf8)) as? [String: Any])?["reports"] as? [Any]
        #expect(reports?.count == 1, "the held report is stored once consent is granted")

        #expect(try run(["consent", "deny", "crashReporting", "--data-dir", dir]).status == 0)
        let crash = try run(["crash", "trigger", "abort", "--data-dir", dir])
        #expect(crash.signaled && crash.status == SIGABRT, "the process still dies of its signal")
        let records = try FileManager.default.contentsOfDirectory(atPath: dir + "/crash").filter {
            $0.hasSuffix(".stewardcrash")
        }
        #expect(records.isEmpty, "with crash reporting denied, a crash leaves nothing on disk")
        let denied = try run(["crash", "list", "--json", "--data-dir", dir])
        let after =
            (try JSONSerialization.jsonObject(with: Data(denied.stdout.utf8)) as? [String: Any])?["reports"] as? [Any]
        #expect(after?.isEmpty == true, "denying consent deleted the kept report, and the new crash was not recorded")
    }

    @Test(arguments: ["pending", "granted", "denied"])
    func beforeTheNextLaunchNoFileUnderTheDataFolderHoldsAnythingOfTheCrashInPlaintext(consent: String) throws {
        // A home folder and user name anyone would recognise, and a breadcrumb to look for.
        let canary = "CANARYHOME\(UUID().uuidString.prefix(6))"
        let home = temporaryDirectory() + "-" + canary
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: home) }
        let dir = home + "/data"
        let environment = ["HOME": home, "USER": canary, "LOGNAME": canary]
        if consent != "pending" {
            #expect(
                try run(
                    ["consent", consent == "granted" ? "grant" : "deny", "crashReporting", "--data-dir", dir],
                    environment: environment
                ).status == 0)
        }
        let crash = try run(
            ["crash", "trigger", "segv", "--data-dir", dir, "--breadcrumb", "breadcrumb \(canary)"],
            environment: environment)
        #expect(crash.signaled && crash.status == SIGSEGV)
        let records = try FileManager.default.contentsOfDirectory(atPath: dir + "/crash").filter {
            $0.hasSuffix(".stewardcrash")
        }
        #expect(
            records.count == (consent == "denied" ? 0 : 1),
            "pending (encryptedDisk, the CLI's policy) and granted record, denied does not: \(records)")
        // Every file under the data folder, before any later run opens the record.
        let needles = [canary, home, "steward-cli", "/proc/", "libswiftCore.so", "triggerSegv"]
        var scanned = 0
        let files = FileManager.default.enumerator(atPath: dir)
        while let name = files?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: dir + "/" + name, isDirectory: &isDirectory),
                !isDirectory.boolValue,
                let bytes = FileManager.default.contents(atPath: dir + "/" + name)
            else { continue }
            scanned += 1
            for needle in needles {
                #expect(bytes.range(of: Data(needle.utf8)) == nil, "\(name) holds \(needle) in plaintext")
            }
        }
        #expect(scanned >= (consent == "denied" ? 2 : 3), "the record, the vault and the key were scanned")
        guard consent != "denied" else { return }
        // The next launch still opens it.
        #expect(
            try run(["consent", "grant", "crashReporting", "--data-dir", dir], environment: environment).status == 0)
        let list = try run(["crash", "list", "--json", "--data-dir", dir], environment: environment)
        let reports =
            (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["reports"]
            as? [[String: Any]]
        #expect(reports?.count == 1, "\(list.stderr)")
        #expect(list.stdout.contains("breadcrumb"), "the breadcrumb is in the report")
        #expect(!list.stdout.contains(home), "the home folder is scrubbed from the report")
    }

    @Test func showPrintsTheReportAndAnUnknownIDIsAClearError() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["consent", "grant", "crashReporting", "--data-dir", dir]).status == 0)
        _ = try run(["crash", "trigger", "segv", "--data-dir", dir, "--breadcrumb", "opened the scanner"])
        let list = try run(["crash", "list", "--json", "--data-dir", dir])
        let reports =
            (try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any])?["reports"]
            as? [[String: Any]]
        let id = try #require(reports?.first?["id"] as? String)
        let show = try run(["crash", "show", String(id.prefix(8)), "--data-dir", dir])
        #expect(show.status == 0)
        #expect(show.stdout.contains("SIGSEGV (11) SEGV_MAPERR at 0x8"))
        #expect(show.stdout.contains("triggerSegv"))
        #expect(show.stdout.contains("[app] opened the scanner"))
        let missing = try run(["crash", "show", "ffffffff", "--data-dir", dir])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("no crash report has the id ffffffff"))
    }
}

extension CLITests {
    /// Whether this process may make a PID namespace (root, and util-linux's unshare).
    static let canRunAsPID1 = geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare")

    @Test(
        .enabled(
            if: CLITests.canRunAsPID1, "needs root and /usr/bin/unshare to run steward as PID 1 of a new PID namespace"),
        arguments: [("segv", true, SIGSEGV), ("abort", false, 128 + SIGABRT)])
    func asPID1InAContainerTheCrashStillEndsTheProcess(kind: String, signaled: Bool, status: Int32) throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let process = try ChildProcess(
            "/usr/bin/unshare",
            arguments: [
                "--pid", "--fork", "--mount-proc", Self.binary.path, "crash", "trigger", kind, "--data-dir", dir,
            ],
            standardOutput: .nullDevice, standardError: .nullDevice)
        // A fault kills PID 1 with its signal (unshare passes it on); abort, which PID 1 would
        // survive, ends in exit status 128 + SIGABRT.
        #expect(process.wait() == (signaled ? .signaled(status) : .exited(status)))
        let records = try FileManager.default.contentsOfDirectory(atPath: dir + "/crash").filter {
            $0.hasSuffix(".stewardcrash")
        }
        #expect(records.count == 1)
    }
}
