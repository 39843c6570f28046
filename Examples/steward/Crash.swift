import ArgumentParser
import Foundation
import StewardCore
import StewardCrash
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// `steward crash`: crash for real, and see the reports the next launch made.
struct CrashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "crash",
        abstract: "Trigger a real crash, list and show crash reports.",
        discussion: """
            Every steward command first turns raw crash records left by an earlier run into reports; \
            they are kept only under the crashReporting consent (held while it is pending).
            """,
        subcommands: [Trigger.self, List.self, Show.self],
        defaultSubcommand: List.self)

    /// The pieces a crash reporter needs for the data directory.
    struct Opened {
        var vault: Vault
        var ledger: ConsentLedger
        var gate: ConsentGate
        var reporter: CrashReporter
    }

    /// The pending policy for crash reports while consent is pending: encrypted in the vault
    /// for a week.
    static let pendingPolicy: PendingPolicy = .encryptedDisk(maxAge: .seconds(7 * 86_400))

    static func open(_ options: DataOptions) throws -> Opened {
        let manifest = try options.loadManifest()
        let directory = try options.resolvedDataDirectory()
        let vault = try Vault.open(dataDirectory: directory)
        do {
            let ledger = try ConsentLedger(manifest: manifest, vault: vault)
            let audit = try AuditLedger(vault: vault)
            let gate = ConsentGate(
                ledger: ledger, vault: vault, audit: audit, policies: [.crashReporting: pendingPolicy])
            // The CLI is a developer's tool: source lines too (libdw; llvm-symbolizer where it is missing).
            var configuration = CrashReporter.Configuration(dataDirectory: directory, context: context(options))
            configuration.symbolication = .functionNamesAndSourceLocations
            let reporter = CrashReporter(configuration: configuration, vault: vault, consent: gate)
            return Opened(vault: vault, ledger: ledger, gate: gate, reporter: reporter)
        } catch {
            try? vault.close()
            throw error
        }
    }

    /// The context the CLI's reports carry.
    static func context(_ options: DataOptions) -> CrashContext {
        var uts = utsname()
        uname(&uts)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
        return CrashContext(
            release: "\(options.appID)@0.1.0", environment: "example", sessionID: CrashReporter.makeSessionID(),
            osName: "Linux", kernelVersion: text(uts.release), arch: text(uts.machine), executable: "steward")
    }

    /// Turns raw records left by an earlier run into reports, before a command runs. Quiet
    /// when there is nothing to do; never fails the command.
    static func processPending(_ options: DataOptions) {
        guard let directory = try? options.resolvedDataDirectory(),
            let names = try? FileManager.default.contentsOfDirectory(atPath: directory + "/crash"),
            names.contains(where: { $0.hasSuffix(".stewardcrash") })
        else { return }
        do {
            let opened = try open(options)
            defer { try? opened.vault.close() }
            let result = opened.reporter.processPending()
            for (report, outcome) in zip(result.reports, result.outcomes) {
                let what = report.signal.map { "\($0.name)" } ?? "crash"
                FileHandle.standardError.write(
                    Data(
                        "steward: a \(what) of an earlier run became crash report \(report.id.prefix(8)): \(describe(outcome))\n"
                            .utf8))
            }
            for problem in result.problems {
                FileHandle.standardError.write(Data("steward: crash record: \(problem)\n".utf8))
            }
            if result.crashedOnLaunch {
                FileHandle.standardError.write(
                    Data("steward: the app crashed at launch repeatedly (crashedOnLaunch)\n".utf8))
            }
        } catch {
            FileHandle.standardError.write(
                Data("steward: pending crash records could not be processed yet: \(error)\n".utf8))
        }
    }

    static func describe(_ outcome: GateOutcome) -> String {
        switch outcome {
        case .stored: "stored (crash reporting is granted)"
        case .held: "held encrypted until crash reporting consent is answered"
        case .dropped(let reason): "dropped (\(reason))"
        }
    }

    struct Trigger: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Crash this process for real, after installing the crash handler.",
            discussion:
                "Kinds: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")). The next steward run turns the record into a report."
        )

        enum Kind: String, CaseIterable, ExpressibleByArgument {
            case segv, abort, fatal, index, unwrap, precondition, assert, cast, arithmetic, overflow, fpe, thread, task
        }

        // The process dies before it could print a result, so no --json.
        @OptionGroup var options: DataOptions
        @Argument(help: "What kind of crash.") var kind: Kind
        @Option(help: "A breadcrumb to leave before crashing.") var breadcrumb: String?

        func run() async throws {
            let opened = try CrashCommand.open(options)
            try opened.reporter.install()
            if let breadcrumb { opened.reporter.addBreadcrumb(message: breadcrumb, category: "app") }
            opened.reporter.addBreadcrumb(message: "steward crash trigger \(kind.rawValue)", category: "cli")
            // The vault is closed (and its lock released) before the crash, as an app's would
            // be at any moment: the record needs nothing from it.
            try opened.vault.close()
            FileHandle.standardError.write(Data("steward: crashing now (\(kind.rawValue))\n".utf8))
            Crasher.crash(kind)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the crash reports kept in the vault.")
        @OptionGroup var options: CommonOptions

        func run() async throws {
            let opened = try CrashCommand.open(options.data)
            defer { try? opened.vault.close() }
            let reports = try opened.reporter.storedReports()
            let held =
                (try? opened.vault.records(in: ConsentGate.pendingCollection).filter { $0.purpose == .crashReporting }
                    .count) ?? 0
            if options.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                struct Listing: Encodable { var reports: [CrashReport]; var heldForConsent: Int }
                print(
                    String(decoding: try encoder.encode(Listing(reports: reports, heldForConsent: held)), as: UTF8.self)
                )
                return
            }
            if reports.isEmpty { print("No crash reports are kept.") }
            var rows = [["ID", "WHEN", "WHAT", "TOP FRAME"]]
            for report in reports {
                let what =
                    report.signal.map { "\($0.name)\($0.codeName.map { " \($0)" } ?? "")" } ?? report.error?.type ?? "?"
                let top = report.crashedThread.frames.first(where: { $0.function != nil })?.function ?? "?"
                rows.append([
                    String(report.id.prefix(8)), Format.date(report.timestamp),
                    what + (report.partial ? " (partial)" : ""), String(top.prefix(60)),
                ])
            }
            if !reports.isEmpty { print(Format.table(rows).joined(separator: "\n")) }
            if held > 0 {
                print(
                    "\(held) report(s) held encrypted until crash reporting consent is answered (steward consent grant crashReporting)."
                )
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one crash report.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The report id (or its first characters).") var id: String

        func run() async throws {
            let opened = try CrashCommand.open(options.data)
            defer { try? opened.vault.close() }
            let matches = try opened.reporter.storedReports().filter { $0.id.hasPrefix(id.lowercased()) }
            guard let report = matches.first, matches.count == 1 else {
                throw ValidationError(
                    matches.isEmpty
                        ? "no crash report has the id \(id) (steward crash list shows them)"
                        : "\(id) matches \(matches.count) reports; give more characters")
            }
            if options.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                encoder.dateEncodingStrategy = .iso8601
                print(String(decoding: try encoder.encode(report), as: UTF8.self))
                return
            }
            print(CrashText.render(report))
        }
    }
}

/// A report as text.
enum CrashText {
    static func render(_ report: CrashReport) -> String {
        var lines = [
            "Crash report \(report.id)\(report.partial ? " (partial: \(report.salvageNotes.joined(separator: "; ")))" : "")"
        ]
        lines.append(
            "  when:     \(Format.date(report.timestamp))\(report.secondsSinceStart.map { String(format: ", %.3f s after start", $0) } ?? "")"
        )
        if let signal = report.signal {
            lines.append(
                "  signal:   \(signal.name) (\(signal.number))\(signal.codeName.map { " \($0)" } ?? "")\(signal.faultAddress.map { " at 0x" + String($0, radix: 16) } ?? "")"
            )
        }
        if let error = report.error { lines.append("  error:    \(error.type): \(error.message)") }
        if let ns = report.handlerNanoseconds {
            lines.append(String(format: "  handler:  %.3f ms to write the record", Double(ns) / 1e6))
        }
        lines.append("  release:  \(report.context.release ?? "-")  environment: \(report.context.environment ?? "-")")
        lines.append("  thread:   \(report.crashedThread.name ?? "?") (\(report.crashedThread.id))")
        for (index, frame) in report.crashedThread.frames.prefix(30).enumerated() {
            let location = frame.filename.map { " at \($0)\(frame.line.map { ":\($0)" } ?? "")" } ?? ""
            let image = frame.package.map { " [\(($0 as NSString).lastPathComponent)]" } ?? ""
            lines.append(
                String(format: "  %2d  0x%016llx  ", index, frame.instructionAddress) + (frame.function ?? "?") + image
                    + location)
        }
        if !report.otherThreads.isEmpty {
            lines.append("  other threads: \(report.otherThreads.count) (from the Swift runtime's backtrace)")
        }
        if !report.breadcrumbs.isEmpty {
            lines.append("  breadcrumbs:")
            for crumb in report.breadcrumbs.suffix(10) {
                lines.append("    \(Format.date(crumb.timestamp)) [\(crumb.category)] \(crumb.message)")
            }
        }
        return lines.joined(separator: "\n")
    }
}

/// A value of a type no cast to `String` succeeds for.
struct CrashTriggerValue {}

/// The crashes `steward crash trigger` causes, each in a function of its own so the report's
/// top frames name it.
enum Crasher {
    static func crash(_ kind: CrashCommand.Trigger.Kind) -> Never {
        switch kind {
        case .segv: triggerSegv()
        case .abort: triggerAbort()
        case .fatal: triggerFatal()
        case .index: triggerIndex(Int(CommandLine.arguments.count) + 7)
        case .unwrap: triggerUnwrap(nil)
        case .precondition: triggerPrecondition(Int(CommandLine.arguments.count))
        case .assert: triggerAssert()
        case .cast: triggerCast(CrashTriggerValue())
        case .arithmetic:
            print(triggerArithmetic(Int.max - 1 + Int(CommandLine.arguments.count & 1)))
            exit(0)
        case .overflow: print(triggerOverflow(1)); exit(0)
        case .fpe: triggerFPE()
        case .thread: triggerOnThread()
        case .task: triggerInTask()
        }
    }

    @inline(never) static func triggerSegv() -> Never {
        let pointer = UnsafeMutablePointer<Int>(bitPattern: 8)
        pointer?.pointee = 1
        fatalError("unreachable")
    }

    @inline(never) static func triggerAbort() -> Never { abort() }

    @inline(never) static func triggerFatal() -> Never { fatalError("steward crash trigger fatal") }

    @inline(never) static func triggerIndex(_ index: Int) -> Never {
        let values = [1, 2, 3]
        print(values[index])
        fatalError("unreachable")
    }

    @inline(never) static func triggerUnwrap(_ value: Int?) -> Never {
        print(value!)
        fatalError("unreachable")
    }

    @inline(never) static func triggerPrecondition(_ count: Int) -> Never {
        precondition(count < 0, "steward crash trigger precondition")
        fatalError("unreachable")
    }

    /// `assertionFailure` stops only debug builds; a release build goes on, so it ends in a
    /// `fatalError` of its own.
    @inline(never) static func triggerAssert() -> Never {
        assertionFailure("steward crash trigger assert")
        fatalError("steward crash trigger assert (a release build: assertionFailure did not stop)")
    }

    @inline(never) static func triggerCast(_ value: Any) -> Never {
        print(value as! String)
        fatalError("unreachable")
    }

    /// Arithmetic overflow traps without a message: the report names it from the debug
    /// information (`Swift runtime failure: arithmetic overflow`).
    @inline(never) static func triggerArithmetic(_ value: Int) -> Int {
        value + 2
    }

    @inline(never) static func triggerOverflow(_ depth: Int) -> Int {
        // Unbounded recursion with a frame the optimiser keeps: a stack overflow. Each frame
        // stores its result after the call; without that store, a release build turned the
        // accumulating recursion into a loop that never overflowed.
        var padding = (depth, depth &+ 1, depth &+ 2, depth &+ 3)
        let result = withUnsafeMutablePointer(to: &padding) { $0.pointee.0 &+ triggerOverflow(depth &+ 1) }
        overflowSink.store(result, ordering: .relaxed)
        return result
    }

    /// Where each frame of ``triggerOverflow(_:)`` stores its result (never read).
    static let overflowSink = Atomic<Int>(0)

    @inline(never) static func triggerFPE() -> Never {
        CrashTrigger.divisionByZero()
    }

    @inline(never) static func triggerOnThread() -> Never {
        let thread = Thread {
            try? CrashReporter.prepareCurrentThread()
            triggerSegvOnThread()
        }
        thread.name = "crash-worker"
        thread.start()
        while true { sleep(1) }
    }

    @inline(never) static func triggerSegvOnThread() -> Never { triggerSegv() }

    @inline(never) static func triggerInTask() -> Never {
        Task.detached { triggerSegvInTask() }
        while true { sleep(1) }
    }

    @inline(never) static func triggerSegvInTask() -> Never { triggerSegv() }
}
