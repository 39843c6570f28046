import ArgumentParser
import Foundation
import Steward
import StewardCore
import StewardDevice
import StewardCrash
import StewardHTTP
import StewardPermissions
import StewardTelemetry
import Synchronization

/// `steward demo`: the end-to-end walk through what Steward does, on embedded defaults.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract:
            "Walk through Steward end to end: device, permissions, consent, a real crash, telemetry, delivery, withdrawal, retention, access, export, erase.",
        discussion:
            "Runs in a fresh temporary data directory unless --data-dir names one; --keep leaves it in place. Deliveries go to the plaintext outbox folder (DATA/outbox, asked for by name: outside the vault's protection, so you can read what would be sent) unless --otlp or --sentry-dsn name endpoints."
    )

    // A narrated walk-through, not a result: no --json.
    @OptionGroup var options: DataOptions

    @Flag(help: "Keep the demo's data directory instead of erasing it at the end.")
    var keep = false
    @Option(
        help:
            "Deliver telemetry to this OTLP/HTTP endpoint (e.g. https://collector.example.com:4318) instead of the outbox."
    )
    var otlp: String?
    @Option(
        name: .customLong("sentry-dsn"),
        help: "Deliver crash reports to this Sentry (or GlitchTip) DSN instead of the outbox.")
    var sentryDSN: String?
    @Option(
        name: .customLong("ca-bundle"), help: "A CA bundle (PEM) to trust for the endpoints instead of the system's.")
    var caBundle: String?

    func run() async throws {
        let manifest = try options.loadManifest()
        let dataDirectory: String
        if options.dataDirectory != nil {
            dataDirectory = try options.resolvedDataDirectory()
            // The demo erases what it made at the end; it must never touch anything else.
            if let contents = try? FileManager.default.contentsOfDirectory(atPath: dataDirectory), !contents.isEmpty {
                throw ValidationError(
                    "the demo needs a new or empty --data-dir, and \(dataDirectory) is not empty; the demo erases its data directory at the end"
                )
            }
        } else {
            dataDirectory = NSTemporaryDirectory() + "steward-demo-" + UUID().uuidString.prefix(8).lowercased()
        }
        let started = ContinuousClock.now
        var step = 0
        let steps = keep ? 13 : 16
        func say(_ title: String) {
            step += 1
            let elapsed = started.duration(to: .now)
            print(
                "\n[\(step)/\(steps), \(String(format: "%.1f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)) s] \(title)"
            )
        }
        var http = HTTPTransport.Configuration()
        http.caBundlePath = caBundle
        let dsn = try sentryDSN.map { try SentryDSN($0) }
        let crashTransport: (any Transport)? = try dsn.map {
            try HTTPTransport(endpoint: $0.envelopeURL, configuration: http)
        }
        let telemetryTransport: (any Transport)? = try otlp.map { text in
            guard let url = URL(string: text) else { throw ValidationError("'\(text)' is not a URL") }
            return try HTTPTransport(endpoint: url, configuration: http)
        }

        print("Steward demo — app \(options.appID), policy \(manifest.policyVersion), data in \(dataDirectory)")

        say("Open the vault. A new vault gets a fresh 32-byte key in a 0600 file inside a 0700 folder.")
        var vault = try Vault.open(dataDirectory: dataDirectory)
        let keyPath = dataDirectory + "/keys/vault.key"
        print("   key file \(keyPath): mode \(mode(keyPath)), folder mode \(mode(dataDirectory + "/keys"))")

        say("Load the privacy manifest and the consent ledger: purposes that need consent start pending.")
        var ledger = try ConsentLedger(manifest: manifest, vault: vault)
        var audit = try AuditLedger(vault: vault)
        var gate = ConsentGate(
            ledger: ledger, vault: vault, audit: audit,
            policies: [
                .analytics: .memory(limit: 1_000), .crashReporting: .encryptedDisk(maxAge: .seconds(7 * 86_400)),
            ])
        print(indent(ConsentReport(ledger).text()))

        say(
            "What device is this, and which identifiers may the app use? Raw MACs stay behind the deviceIdentity permission."
        )
        let profile = DeviceProfile.read()
        let interfaces = profile.networkInterfaces.value ?? []
        print(
            "   \(profile.operatingSystem.prettyName.value ?? "unknown OS"), kernel \(profile.kernel.release.value ?? "?") \(profile.kernel.architecture.value ?? ""), \(profile.hardware.cpuCores.value.map { "\($0) cores" } ?? "")"
        )
        print(
            "   environment: \(profile.runtimeEnvironments.isEmpty ? "bare metal" : profile.runtimeEnvironments.map { "\($0.kind)" }.joined(separator: ", ")); connectivity: \(profile.connectivity.value.map { "\($0)" } ?? "unknown")"
        )
        print(
            "   \(interfaces.count) network interface(s): \(interfaces.map(\.name).joined(separator: ", ")); raw MACs: \(interfaces.first?.currentMAC.unavailableReason ?? "shown")"
        )
        // The demo's user answers from a script; a real app plugs in its dialog (or TerminalPrompter).
        let prompter = DemoPrompter(answers: [.deny, .allow])
        let permissions = try PermissionGate(
            manifest: manifest, vault: vault, prompter: prompter,
            probe: LinuxPermissionProbe(.init(dataDirectory: dataDirectory)), consent: ledger)
        let identifiers = try DeviceIdentifiers(
            appID: options.appID, vault: vault, consent: ledger, permissions: permissions)
        let appScoped = (try? identifiers.appScopedID().uuidString) ?? "unavailable (no machine ID)"
        print("   app-scoped ID \(appScoped) (systemd's app-specific ID: other apps get unrelated ones)")
        print(
            "   installation ID \(try identifiers.installationID().uuidString) (random, in the vault, gone with erase)")
        print(
            "   advertising ID \(try identifiers.advertisingID().uuidString) (zeros unless advertising is declared and granted and tracking is not limited)"
        )

        // deviceIdentity shows the raw machine ID appear; where the OS restricts it (no machine ID),
        // the walk uses notifications, which the OS never restricts.
        let walk: Permission =
            permissions.status(of: .deviceIdentity).name == "restricted" ? .notifications : .deviceIdentity
        say("Permissions: the app asks for \(walk), the user denies, the app explains and asks again, the user allows.")
        let permissionChanges = permissions.changes()
        print(
            "   raw machine ID before asking: \((try? identifiers.rawMachineID().description) ?? "withheld (deviceIdentity is \(permissions.status(of: .deviceIdentity)))")"
        )
        print(
            "   first request → \(try await permissions.request(walk)); should show rationale: \(permissions.shouldShowRationale(for: walk))"
        )
        print("   second request → \(try await permissions.request(walk))")
        print(
            "   raw machine ID now: \((try? identifiers.rawMachineID().description.prefix(8)).map { "\($0)… (shown in full only to the app)" } ?? "withheld (deviceIdentity is \(permissions.status(of: .deviceIdentity)))")"
        )
        // Each answer changed the status once; the stream holds exactly those changes.
        var changeIterator = permissionChanges.makeAsyncIterator()
        for _ in 0..<prompter.asked {
            if let change = await changeIterator.next() {
                print("   change observed: \(change.permission) \(change.previous.name) → \(change.status.name)")
            }
        }
        let camera = try await permissions.request(.camera)
        print("   camera → \(camera)\(camera.name == "restricted" ? " — not asked: the OS decides first" : "")")
        do {
            try await permissions.request("bluetooth")
        } catch let error as PermissionError {
            print("   bluetooth → refused: \(error.message.prefix(110))…")
        }

        let canary = "demo-secret-" + UUID().uuidString
        say(
            "A real crash: a child process installs the crash handler and dies of SIGSEGV; the next launch makes the report."
        )
        try vault.close()
        let child = try runCrashingChild(dataDirectory: dataDirectory, breadcrumb: "opened scan screen \(canary)")
        print(
            "   child `steward crash trigger segv` died of \(child.signal); its handler wrote \(child.records) raw record(s) (0600 in a 0700 folder)"
        )
        if let line = child.runtimeLine { print("   the Swift runtime's backtracer still ran after ours: \"\(line)\"") }
        vault = try Vault.open(dataDirectory: dataDirectory)
        ledger = try ConsentLedger(manifest: manifest, vault: vault)
        audit = try AuditLedger(vault: vault)
        gate = ConsentGate(
            ledger: ledger, vault: vault, audit: audit,
            policies: [
                .analytics: .memory(limit: 1_000), .crashReporting: .encryptedDisk(maxAge: .seconds(7 * 86_400)),
            ])
        let reporter = CrashReporter(
            configuration: .init(dataDirectory: dataDirectory, context: CrashCommand.context(options)), vault: vault,
            consent: gate)
        let pending = reporter.processPending()
        for (crashReport, outcome) in zip(pending.reports, pending.outcomes) {
            let top = crashReport.crashedThread.frames.first(where: { $0.function != nil })?.function ?? "?"
            print(
                "   next launch: report \(crashReport.id.prefix(8)): \(crashReport.signal?.name ?? "?") \(crashReport.signal?.codeName ?? "") at 0x\(String(crashReport.signal?.faultAddress ?? 0, radix: 16)), top frame \(top.prefix(50)), \(crashReport.breadcrumbs.count) breadcrumb(s), handler \(String(format: "%.2f", Double(crashReport.handlerNanoseconds ?? 0) / 1e6)) ms"
            )
            print(
                "   the report is \(outcome == .held ? "held (encrypted on disk)" : "\(outcome)") while crash reporting is pending; the raw record is gone: \(child.recordsLeft(dataDirectory) == 0)"
            )
        }
        for problem in pending.problems { print("   problem: \(problem)") }

        say("Collect data before the user answers: held under each purpose's pending policy, not stored.")
        var outcomes: [String] = []
        for screen in ["home", "scan", "results", "settings", "scan"] {
            let outcome = try gate.store(
                Array(#"{"event":"screen_view","screen":"\#(screen)"}"#.utf8), in: "analytics", category: .usageEvents,
                purpose: .analytics)
            outcomes.append("\(outcome)")
        }
        let device = try gate.store(
            Array(#"{"model":"ThinkCentre M70q","os":"debian 12"}"#.utf8), in: "device", category: .deviceModel,
            purpose: .serviceProvision)
        try vault.commit()
        print(
            "   5 analytics events: \(Set(outcomes).joined(separator: ", ")) (in memory); 1 device record: \(device) (service provision needs no consent)"
        )

        say("The user grants analytics and crash reporting: held data is stored with its original times.")
        try ledger.grant([.analytics, .crashReporting])
        try audit.flush()
        print(indent(try InspectReport.make(vault: vault, dataDirectory: dataDirectory).text()))

        say("Check that no plaintext reached the disk: search every file for a secret we stored.")
        let leaks = filesContaining(Array(canary.utf8), under: dataDirectory)
        print("   searched for \"\(canary.prefix(20))…\": \(leaks.isEmpty ? "found in no file" : "FOUND in \(leaks)")")

        say(
            "Deliver the crash report to its processor through the uploader, as a Sentry envelope, \(dsn == nil ? "into the outbox folder" : "to \(dsn!.envelopeURL)")."
        )
        let outbox = try FileTransport(directory: dataDirectory + "/outbox")
        let uploader = try Uploader(
            recipient: "crashBackend", transport: crashTransport ?? outbox, vault: vault, consent: ledger,
            manifest: manifest, audit: audit)
        // As a Sentry envelope (event + crashed session), exactly what a Sentry or GlitchTip server takes.
        try reporter.submit(to: uploader, dsn: dsn)
        let report = await uploader.drain()
        try audit.flush()
        let files =
            (try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/outbox"))?.filter {
                !$0.hasPrefix(".")
            }.sorted() ?? []
        print("   accepted \(report.accepted); outbox now holds: \(files.joined(separator: ", "))")
        print(
            "   (the demo asked for the plaintext outbox by name: bodies are kept exactly as they would be sent, outside the vault; without it they stay queued in the vault)"
        )

        say(
            "Telemetry under each answer: analytics granted, personalization pending, push notifications denied; delivered as OTLP."
        )
        try ledger.deny([.pushNotifications])
        let telemetry = try Telemetry(manifest: manifest, vault: vault, consent: ledger, gate: gate, audit: audit)
        let recorded: [(EventName, [String: AttributeValue])] = [
            ("screen_view", ["screen": .string("scan"), "duration_ms": .int(420)]),
            (
                "login",
                ["device_id": .string("3f9c-raw-device-id"), "method": .string("password"), "success": .bool(true)]
            ),
            ("location_fix", ["location": .string("48.13743,11.57549"), "accuracy_m": .double(8)]),
            ("push_opened", ["campaign": .string("spring")]),
        ]
        for (name, attributes) in recorded {
            let purpose = manifest.events.first { $0.name == name }?.purpose.rawValue ?? "?"
            print(
                "   \(name.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)) (\(purpose), \(ledger.consentState(for: Purpose(rawValue: purpose)).rawValue)): \(telemetry.record(name, attributes: attributes))"
            )
        }
        let telemetryUploader = try Uploader(
            recipient: "telemetryBackend", transport: telemetryTransport ?? outbox, vault: vault, consent: ledger,
            manifest: manifest, audit: audit)
        let resource = TelemetryResource(serviceName: options.appID, serviceVersion: "0.1.0")
        try telemetry.submit(to: telemetryUploader, resource: resource)
        let telemetryReport = await telemetryUploader.drain()
        try audit.flush()
        let telemetryFiles = ((try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/outbox")) ?? [])
            .filter { $0.contains("telemetryBackend") && $0.hasSuffix(".body") }.sorted()
        let sentText = telemetryFiles.compactMap {
            FileManager.default.contents(atPath: dataDirectory + "/outbox/" + $0)
        }.map { String(decoding: $0, as: UTF8.self) }.joined()
        print(
            "   accepted \(telemetryReport.accepted) OTLP request(s): \(telemetryFiles.joined(separator: ", ")); the held location_fix waits for personalization"
        )
        print(
            "   the raw device id reached the outbox: \(sentText.contains("3f9c-raw-device-id")) (sent as a keyed hash)"
        )

        say(
            "The user withdraws analytics consent: everything kept for it is deleted, physically, and its recipients are asked to delete too."
        )
        let before = try vault.records(in: "analytics").count
        try ledger.deny([.analytics])
        print(
            "   removed \(before - (try vault.records(in: "analytics").count)) record(s); their segments were rewritten, so the ciphertext is gone too."
        )
        try telemetry.submit(to: telemetryUploader, resource: resource)
        let deletion = await telemetryUploader.drain()
        try audit.flush()
        print(
            "   deletion request delivered to telemetryBackend: \(deletion.accepted == 1) (steward.deletion_request, under the legal obligation, with the pseudonymous ids)"
        )

        say("Retention: a record kept for 0 seconds has expired at once; purgeExpired removes it.")
        try vault.append(
            Array("short-lived".utf8), to: "device", category: .connectionStatus, purpose: .serviceProvision,
            retention: .zero)
        try vault.commit()
        print("   removed \(try vault.purgeExpired()) expired record(s).")

        say("Restart: close and reopen. Committed records and consent survive; the lock keeps a second opener out.")
        try vault.close()
        vault = try Vault.open(dataDirectory: dataDirectory)
        ledger = try ConsentLedger(manifest: manifest, vault: vault)
        audit = try AuditLedger(vault: vault)
        gate = ConsentGate(ledger: ledger, vault: vault, audit: audit)
        _ = gate
        do {
            _ = try Vault.open(dataDirectory: dataDirectory)
        } catch let error as VaultError {
            print("   a second open is refused: \(error.message)")
        }
        let receipts = try ledger.receipts()
        print(
            "   consent: analytics \(ledger.consentState(for: .analytics).rawValue), crashReporting \(ledger.consentState(for: .crashReporting).rawValue); \(receipts.count) receipts, chain \(ConsentReceipt.verifyChain(receipts).isValid ? "intact" : "BROKEN")"
        )
        print(indent(try InspectReport.make(vault: vault, dataDirectory: dataDirectory).text()))

        if keep {
            try vault.close()
            print("\nKept \(dataDirectory). Try: steward inspect --data-dir \(dataDirectory)")
            return
        }
        // The data rights, through the one entry point a host app uses: Steward.start.
        try vault.close()
        var configuration = Steward.Configuration(
            appID: options.appID, manifest: manifest, dataDirectory: dataDirectory)
        configuration.installsCrashHandler = false
        configuration.automaticDelivery = nil  // the demo sends when it says so
        // The demo's transports (its outbox folder has one owner at a time).
        configuration.transports["crashBackend"] = crashTransport ?? outbox
        configuration.transports["telemetryBackend"] = telemetryTransport ?? outbox
        let steward = try Steward.start(configuration)
        defer { steward.stop() }

        say(
            "The user's right of access: what is held, per category, since when, why, for how long, and who received it."
        )
        for holding in try steward.rights.accessReport().categories
        where holding.records > 0 || !holding.disclosedTo.isEmpty {
            let kept = holding.retentionDays.map { "\($0) days" } ?? "until deleted"
            let sent =
                holding.disclosedTo.isEmpty
                ? "not sent" : "sent to \(holding.disclosedTo.map(\.rawValue).joined(separator: ", "))"
            print("   \(holding.category): \(holding.records) record(s), kept \(kept), \(sent)")
        }

        say("Export: everything held, in one archive the user takes away (steward-export.json, summary.md, media/).")
        let archive = NSTemporaryDirectory() + "steward-demo-export-\(UUID().uuidString.prefix(8)).zip"
        let exported = try steward.rights.export(to: archive)
        print(
            "   \(archive): "
                + exported.counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        try? FileManager.default.removeItem(atPath: archive)

        say(
            "Erase everything: crypto-erase (the key first), raw crash records and the outbox removed, deletion requests to every recipient that received data."
        )
        let erased = try await steward.rights.erase()
        let leftAfter = filesContaining(Array(canary.utf8), under: dataDirectory)
        print(
            "   deletion requests: \(erased.deletionRequests.map(\.rawValue).joined(separator: ", ")) (delivered: \(erased.delivered.map(\.rawValue).joined(separator: ", ")))"
        )
        print(
            "   key file from before present: \(FileManager.default.fileExists(atPath: keyPath) && mode(keyPath) != "?" ? "a new one (new vault)" : "no"); the secret is readable in \(leftAfter.isEmpty ? "no file" : "\(leftAfter)")"
        )
        try? FileManager.default.removeItem(atPath: dataDirectory)
        let elapsed = started.duration(to: .now)
        print(
            "\nDone in \(String(format: "%.1f", Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)) s."
        )
    }

    /// What a crashing child left behind.
    struct CrashedChild {
        var signal: String
        var records: Int
        var runtimeLine: String?

        func recordsLeft(_ dataDirectory: String) -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: dataDirectory + "/crash")) ?? []).filter {
                $0.hasSuffix(".stewardcrash")
            }.count
        }
    }

    /// Runs `steward crash trigger segv` on the demo's data directory and waits for it to die.
    private func runCrashingChild(dataDirectory: String, breadcrumb: String) throws -> CrashedChild {
        let process = Process()
        process.executableURL = URL(
            fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0])
        var arguments = [
            "crash", "trigger", "segv", "--data-dir", dataDirectory, "--app-id", options.appID, "--breadcrumb",
            breadcrumb,
        ]
        if let manifest = options.manifest { arguments += ["--manifest", manifest] }
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let signal =
            process.terminationReason == .uncaughtSignal
            ? (process.terminationStatus == SIGSEGV ? "SIGSEGV" : "signal \(process.terminationStatus)")
            : "exit \(process.terminationStatus)"
        let runtime = stderr.split(separator: "\n").first { $0.contains("Program crashed") }.map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        var child = CrashedChild(signal: signal, records: 0, runtimeLine: runtime)
        child.records = child.recordsLeft(dataDirectory)
        return child
    }

    private func mode(_ path: String) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let permissions = attributes[.posixPermissions] as? Int
        else { return "?" }
        return "0" + String(permissions, radix: 8)
    }

    private func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "   " + $0 }.joined(separator: "\n")
    }

    private func filesUnder(_ root: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        return enumerator.compactMap { $0 as? String }.map { root + "/" + $0 }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    private func filesContaining(_ needle: [UInt8], under root: String) -> [String] {
        filesUnder(root).filter { path in
            guard let data = FileManager.default.contents(atPath: path) else { return false }
            return Data(data).range(of: Data(needle)) != nil
        }
    }
}

/// The demo's user: answers from a script and shows each question as a dialog would.
private final class DemoPrompter: PermissionPrompter {
    private let script: Mutex<(answers: [PermissionAnswer], asked: Int)>

    init(answers: [PermissionAnswer]) { script = Mutex((answers, 0)) }

    /// How many questions were answered.
    var asked: Int { script.withLock { $0.asked } }

    func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer {
        let answer: PermissionAnswer = script.withLock { s in
            s.asked += 1
            return s.answers.isEmpty ? .deny : s.answers.removeFirst()
        }
        print(
            "   ┌ Allow \"\(prompt.permission)\"? \(prompt.showRationale ? "(asked again, with the reason first) " : "")\(prompt.rationale)"
        )
        print("   └ the user answers: \(answer.spelling)")
        return answer
    }
}
