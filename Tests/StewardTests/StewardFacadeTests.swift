import Foundation
@testable import Steward
import StewardTesting
import Testing
import ZIPFoundation

/// A data folder of its own, removed afterwards.
final class FacadeFixture: @unchecked Sendable {  // Used by one test at a time.
    let directory = NSTemporaryDirectory() + "steward-facade-\(UUID().uuidString)"
    let clock = ManualWallClock(now: Date())
    let telemetryTransport = RecordingTransport(clock: ContinuousClock())
    let crashTransport = RecordingTransport(clock: ContinuousClock())
    let prompter = ScriptedPrompter()

    func configuration() throws -> Steward.Configuration {
        var configuration = Steward.Configuration(
            appID: "org.steward.facade-tests", manifest: try DisclosureTests.exampleManifest(),
            dataDirectory: directory, prompter: prompter)
        configuration.permissionProbe = ManualPermissionProbe()
        configuration.wallClock = clock
        configuration.transports = ["telemetryBackend": telemetryTransport, "crashBackend": crashTransport]
        configuration.release = "1.2.3"
        // The suite runs in one process with other suites: the crash handlers stay out of it
        // (the crash tests own them); pending records are still processed.
        configuration.installsCrashHandler = false
        configuration.telemetry = Telemetry.Configuration(batchSize: 8)
        // The tests send explicitly and count what went; the automatic delivery has its own.
        configuration.automaticDelivery = nil
        // Hermetic: no OTEL_* variable of the machine running the tests applies, and the vault
        // key stays in files whatever keyring or credential the machine offers.
        configuration.otelEnvironment = [:]
        configuration.keyStoreEnvironment = [:]
        return configuration
    }

    /// Every regular file under the data folder.
    func files() -> [String] {
        (FileManager.default.enumerator(atPath: directory)?.allObjects as? [String] ?? [])
            .map { directory + "/" + $0 }
            .filter {
                var isFolder: ObjCBool = false;
                return FileManager.default.fileExists(atPath: $0, isDirectory: &isFolder) && !isFolder.boolValue
            }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

/// A PNG with a text chunk holding `text` and pixel data holding `pixels` (never decoded).
func pngImage(text: String, pixels: String) -> [UInt8] {
    func u32(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
    func crc(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0xEDB8_8320 : c >> 1 }
        }
        return ~c
    }
    func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return u32(UInt32(data.count)) + body + u32(crc(body))
    }
    return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", u32(4) + u32(4) + [8, 2, 0, 0, 0])
        + chunk("tEXt", Array("Author".utf8) + [0] + Array(text.utf8)) + chunk("IDAT", Array(pixels.utf8))
        + chunk("IEND", [])
}

/// The `steward` executable next to the test bundle.
func stewardBinary() -> URL {
    let exe = URL(
        fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? CommandLine.arguments[0])
    var dir = exe.deletingLastPathComponent()
    while dir.path != "/" && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("steward").path) {
        dir = dir.deletingLastPathComponent()
    }
    return dir.appendingPathComponent("steward")
}

/// Serialized: the suites share the one-instance-per-process rule.
@Suite(.serialized) struct StewardFacadeTests {
    @Test func aBrokenConfigurationFailsWithEveryProblemListed() throws {
        var manifest = try DisclosureTests.exampleManifest()
        manifest.purposes.append(.init(id: .analytics, description: "twice", legalBasis: .consent))
        var configuration = Steward.Configuration(
            appID: "not an app id!", manifest: manifest,
            dataDirectory: NSTemporaryDirectory() + "steward-never-\(UUID().uuidString)")
        configuration.transports = ["nobody": RecordingTransport(clock: ContinuousClock())]
        configuration.sentryDSN = "not a dsn"
        configuration.otlpEndpoint = URL(string: "http://collector.example.com:4318")
        configuration.installsCrashHandler = false
        do {
            _ = try Steward.start(configuration)
            Issue.record("a broken configuration started")
        } catch {
            #expect(error.code == .invalidConfiguration)
            let problems = error.problems.joined(separator: "\n")
            #expect(error.problems.count >= 5, "\(problems)")
            #expect(problems.contains("appID"))
            #expect(problems.contains("analytics"), "the manifest's duplicate purpose")
            #expect(problems.contains("'nobody'"))
            #expect(problems.contains("sentryDSN"))
            #expect(problems.contains("otlpEndpoint"))
        }
        #expect(!FileManager.default.fileExists(atPath: configuration.dataDirectory!), "nothing was created")
    }

    @Test func startingTwiceIsAClearErrorAndStopReleasesTheProcess() throws {
        let f = FacadeFixture()
        let first = try Steward.start(try f.configuration())
        let configuration = try f.configuration()
        do {
            _ = try Steward.start(configuration)
            Issue.record("a second instance started")
        } catch {
            #expect(error.code == .alreadyStarted)
        }
        first.stop()
        first.stop()
        let second = try Steward.start(try f.configuration())
        #expect(second.isRunning)
        #expect(!first.isRunning)
        second.stop()
    }

    @Test func aStartThatFailsAfterTheModulesOpenedReleasesEverything() throws {
        let f = FacadeFixture()
        var broken = try f.configuration()
        // The modules open, then the delivery cannot make its outbox (no folder under /proc).
        broken.transports = [:]
        broken.plaintextOutbox = .directory("/proc/steward-no-such-outbox-\(UUID().uuidString)")
        do {
            _ = try Steward.start(broken)
            Issue.record("a start whose outbox cannot be made succeeded")
        } catch {
            #expect(error.code == .startFailed, "\(error)")
        }
        // The process claim and the vault's lock went with the failed start.
        let steward = try Steward.start(try f.configuration())
        #expect(steward.isRunning)
        steward.stop()
    }

    @Test func aFailedStartKeepsItsTypedCause() throws {
        let f = FacadeFixture()
        try FileManager.default.createDirectory(
            atPath: f.directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        // Another owner of the data folder: the vault is locked.
        let other = try Vault.open(dataDirectory: f.directory, clock: f.clock)
        let configuration = try f.configuration()
        do {
            _ = try Steward.start(configuration)
            Issue.record("started on a vault another owner holds")
        } catch {
            #expect(error.code == .startFailed)
            #expect((error.underlying as? VaultError)?.code == .locked, "\(String(describing: error.underlying))")
            #expect(error == StewardError(.startFailed, problems: error.problems), "the cause is not part of equality")
        }
        try other.close()
        let steward = try Steward.start(try f.configuration())
        steward.stop()
    }

    @Test func modulesAreWiredTogether() async throws {
        let f = FacadeFixture()
        let steward = try Steward.start(try f.configuration())
        defer { steward.stop() }
        #expect(steward.disclosure == (try Disclosure(manifest: steward.manifest, now: f.clock.now)))
        // Raw identifiers follow the permission gate.
        #expect(throws: DeviceIdentityError.self) { try steward.device.rawMachineID() }
        // Consent reaches telemetry: denied drops, granted keeps, send delivers as OTLP with the
        // app-scoped id as device.id.
        try steward.consent.deny([.analytics])
        #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .dropped(.consent))
        try steward.consent.grant([.analytics])
        #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("scan")]) == .recorded)
        let report = await steward.send()
        #expect(report.eventsQueued == 1)
        let payload = try #require(f.telemetryTransport.payloads.first)
        let body = String(decoding: payload.body, as: UTF8.self)
        #expect(payload.headers[Payload.pathHeader] == "/v1/logs")
        #expect(body.contains("\"scan\""))
        #expect(!body.contains("\"home\""), "nothing recorded under denied consent is sent")
        if let appScoped = try? steward.device.appScopedID() {
            #expect(body.contains(appScoped.uuidString), "device.id is the app-scoped id")
        }
        if let machine = try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8).trimmingCharacters(
            in: .whitespacesAndNewlines),
            !machine.isEmpty
        {
            #expect(!body.contains(machine), "never the machine id")
        }
    }

    @Test func periodicWorkStoresHeldEventsAndRemovesExpiredImages() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.telemetry = Telemetry.Configuration(batchSize: 1_000)
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.analytics, .personalization])
        f.prompter.enqueue(.allow)
        _ = try await steward.permissions.request(.photos)
        _ = try steward.media.put(pngImage(text: "Ana", pixels: "PIXELS"), source: .gallery, purpose: .personalization)
        steward.telemetry.record("screen_view", attributes: ["screen": .string("periodic")])
        #expect(try steward.vault.records(in: Telemetry.collection).isEmpty, "far from a full batch")
        f.clock.advance(by: .seconds(31 * 86_400))  // the example manifest keeps images 30 days
        let periodic = Task {
            await steward.runPeriodicWork(flushInterval: .milliseconds(20), retentionInterval: .milliseconds(20))
        }
        defer { periodic.cancel() }
        // Bounded waits for the periodic work (no timing assertion: only that it happens).
        for _ in 0..<500
        where try steward.vault.records(in: Telemetry.collection).isEmpty || !steward.media.list().isEmpty {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try steward.vault.records(in: Telemetry.collection).count == 1, "the held event was stored")
        #expect(try steward.media.list().isEmpty, "the 31-day-old image is gone")
    }

    @Test func aRealCrashInAChildProcessIsReportedAtTheNextStartAndSentUnderConsent() async throws {
        let f = FacadeFixture()
        // A real crash: the example CLI segfaults in a child process on the same data folder.
        let child = try ChildProcess(
            stewardBinary().path, arguments: ["crash", "trigger", "segv", "--data-dir", f.directory],
            // Key files, as the fixture's own start uses: not the keyring of a desktop session.
            environment: ProcessInfo.processInfo.environment.filter {
                !["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "CREDENTIALS_DIRECTORY"].contains($0.key)
            },
            standardOutput: .nullDevice, standardError: .nullDevice)
        #expect(child.wait() == .signaled(SIGSEGV), "the child died of SIGSEGV")

        let steward = try Steward.start(try f.configuration())
        defer { steward.stop() }
        #expect(
            steward.pendingCrashes.reports.count == 1,
            "the record became a report at start: \(steward.pendingCrashes.problems)")
        #expect(steward.pendingCrashes.reports.first?.signal?.number == SIGSEGV)
        let held = await steward.send()
        #expect(held.crashReportsQueued == 0, "nothing is sent while crash reporting is pending")
        #expect(f.crashTransport.payloads.isEmpty)
        try steward.consent.grant([.crashReporting])
        let report = await steward.send()
        #expect(report.crashReportsQueued == 1)
        #expect(f.crashTransport.payloads.contains { $0.contentType == "application/x-sentry-envelope" })
    }

    @Test func theExportHoldsEveryKindOfHeldData() async throws {
        let f = FacadeFixture()
        let steward = try Steward.start(try f.configuration())
        defer { steward.stop() }
        try steward.consent.grant([.analytics, .crashReporting, .personalization])
        f.prompter.enqueue(.allow)
        #expect(try await steward.permissions.request(.photos) == .granted)
        steward.telemetry.record("screen_view", attributes: ["screen": .string("export")])
        try steward.telemetry.flush()
        steward.crashes.report(error: CocoaError(.fileReadCorruptFile), message: "a handled error")
        _ = try steward.media.put(pngImage(text: "Ana", pixels: "PIXELS"), source: .gallery, purpose: .personalization)
        // A payload queued for delivery, not sent yet.
        steward.metrics.counter(name: "scans", purpose: .analytics).add()
        let uploader = try #require(steward.uploaders["telemetryBackend"])
        #expect(try steward.metrics.submit(to: uploader, resource: steward.telemetryResource()) > 0)
        let path = f.directory + "-export.zip"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let staging = {
            Set(
                ((try? FileManager.default.contentsOfDirectory(atPath: NSTemporaryDirectory())) ?? []).filter {
                    $0.hasPrefix("steward-export-")
                })
        }
        let stagingBefore = staging()
        let summary = try steward.rights.export(to: path)
        #expect(staging() == stagingBefore, "nothing is staged in the temporary folder")
        func mode(_ path: String) -> Int? {
            (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int
        }
        #expect(mode(path) == 0o600, "the archive is 0600")
        #expect(summary.files.contains("media/index.json") && summary.files.contains("steward-export.json"))
        #expect(summary.counts["consentReceipts", default: 0] >= 1)
        #expect(summary.counts["permissionDecisions"] == 1)
        #expect(summary.counts["telemetryEvents"] == 1)
        #expect(summary.counts["crashReports"] == 1)
        #expect(summary.counts["auditEntries", default: 0] >= 1)
        #expect(summary.counts["images"] == 1)
        #expect(summary.counts["queuedPayloads"] == 1)

        let unpacked = f.directory + "-unpacked"
        defer { try? FileManager.default.removeItem(atPath: unpacked) }
        try FileManager.default.unzipItem(at: URL(fileURLWithPath: path), to: URL(fileURLWithPath: unpacked))
        let json = try #require(
            try JSONSerialization.jsonObject(
                with: Data(contentsOf: URL(fileURLWithPath: unpacked + "/steward-export.json"))) as? [String: Any])
        for key in [
            "identifiers", "consent", "permissionDecisions", "telemetry", "queued", "crashReports", "audit", "media",
            "access",
        ] {
            #expect(json[key] != nil, "the export has \(key)")
        }
        let identifiers = try #require(json["identifiers"] as? [String: Any])
        #expect(identifiers["installationID"] as? String != nil)
        let access = try #require(json["access"] as? [String: Any])
        let categories = try #require(access["categories"] as? [[String: Any]])
        let usage = try #require(categories.first { $0["category"] as? String == "usageEvents" })
        #expect(usage["records"] as? Int == 2, "the stored batch of events and the queued metrics payload")
        #expect(usage["purposes"] as? [String] == ["analytics"])
        #expect(usage["retentionDays"] as? Int == 180)
        let summaryText = try String(contentsOfFile: unpacked + "/summary.md", encoding: .utf8)
        #expect(summaryText.contains("# What Steward holds about you"))
        #expect(summaryText.contains("usageEvents"))
        #expect(FileManager.default.fileExists(atPath: unpacked + "/media/index.json"))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: unpacked + "/media").contains { $0.hasSuffix(".png") })
        // A folder export holds the same files.
        let folder = f.directory + "-export-folder"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let again = try steward.rights.export(to: folder)
        #expect(again.files.contains("steward-export.json"))
        for name in again.files {
            #expect(mode(folder + "/" + name) == 0o600, "\(name) is 0600")
        }
        #expect(mode(folder) == 0o700)
        #expect(FileManager.default.fileExists(atPath: folder + "/summary.md"))
        #expect(throws: StewardError.self) { try steward.rights.export(to: folder) }
    }

    @Test func eraseNeverPostsADeletionRequestToASentryEnvelopeURLAndNamesThatRecipientInstead() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.transports["crashBackend"] = nil
        // Loopback, port 9 (discard): nothing must be posted there anyway.
        configuration.sentryDSN = "http://public@127.0.0.1:9/42"
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        // The crash recipient received data, as the audit ledger says.
        steward.audit.recordDisclosed(
            .crashDiagnostics, purpose: .crashReporting, recipient: "crashBackend", legalBasis: .consent)
        steward.audit.recordDisclosed(
            .usageEvents, purpose: .analytics, recipient: "telemetryBackend", legalBasis: .consent)
        try steward.audit.flush()
        let report = try await steward.rights.erase(deliverWithin: .seconds(2))
        #expect(report.deletionRequests == ["telemetryBackend"])
        #expect(report.notRequested["crashBackend"]?.contains("Sentry") == true)
    }

    @Test func eraseLeavesNothingReadableQueuesDeletionRequestsAndStartWorksAgain() async throws {
        let f = FacadeFixture()
        let canary = "CANARY-\(UUID().uuidString.prefix(8))"
        var installationBefore: ID128?
        // Crash reports go to the plaintext outbox, asked for by name: plaintext on disk, as delivered.
        var configuration = try f.configuration()
        configuration.transports["crashBackend"] = nil
        configuration.plaintextOutbox = .inDataDirectory
        var oldContents: [Data] = []
        do {
            let steward = try Steward.start(configuration)
            defer { steward.stop() }
            try steward.consent.grant([.analytics, .crashReporting, .personalization])
            installationBefore = try steward.device.installationID()
            steward.telemetry.record("screen_view", attributes: ["screen": .string(String(canary.prefix(12)))])
            steward.telemetry.record("login", attributes: [:])
            steward.crashes.addBreadcrumb(message: canary, category: "test")
            steward.crashes.report(error: CocoaError(.fileReadCorruptFile), message: canary)
            f.prompter.enqueue(.allow)
            _ = try await steward.permissions.request(.photos)
            _ = try steward.media.put(
                pngImage(text: "Ana", pixels: canary), source: .gallery, purpose: .personalization)
            let sent = await steward.send()
            #expect(
                sent.uploads["telemetryBackend"]?.accepted ?? 0 >= 1, "telemetry reached its recipient before the erase"
            )
            let readable = f.files().filter {
                (try? Data(contentsOf: URL(fileURLWithPath: $0)))?.range(of: Data(canary.utf8)) != nil
            }
            #expect(
                !readable.isEmpty && readable.allSatisfy { $0.contains("/outbox/") },
                "before the erase the canary is readable in the delivered crash report, and only there: \(readable)")
            oldContents = f.files().compactMap { try? Data(contentsOf: URL(fileURLWithPath: $0)) }.filter {
                $0.count >= 64
            }
            #expect(!oldContents.isEmpty)
            let before = f.telemetryTransport.payloads.count

            let erased = try await steward.rights.erase(deliverWithin: .seconds(10))
            #expect(!steward.isRunning, "the erased instance is stopped")
            #expect(erased.deletionRequests.contains("telemetryBackend"))
            #expect(erased.delivered.contains("telemetryBackend"))
            let request = try #require(f.telemetryTransport.payloads.dropFirst(before).first)
            #expect(request.purpose == .privacyCompliance)
            #expect(String(decoding: request.body, as: UTF8.self).contains("steward.deletion_request"))
        }
        // Nothing readable from before: the vault's key is gone, and so are its files, the raw
        // crash records and the outbox.
        for file in f.files() {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(bytes.range(of: Data(canary.utf8)) == nil, "\(file) holds the canary")
            // No stretch of any file from before survives (ciphertext included).
            for old in oldContents {
                let middle = old.count / 2
                #expect(
                    bytes.range(of: old[(old.startIndex + middle - 24)..<(old.startIndex + middle + 24)]) == nil,
                    "\(file) holds bytes written before the erase")
            }
        }
        let crashFiles = (try? FileManager.default.contentsOfDirectory(atPath: f.directory + "/crash")) ?? []
        #expect(crashFiles.isEmpty, "no raw crash record is left")

        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        #expect(steward.consent.consentState(for: .analytics) == .pending, "consents are back to pending")
        #expect(try steward.crashes.storedReports().isEmpty)
        #expect(try steward.media.list().isEmpty)
        #expect(try steward.permissions.decisions().isEmpty)
        let installationAfter = try steward.device.installationID()
        #expect(installationAfter != installationBefore, "a new installation id")
        #expect(steward.pendingCrashes.reports.isEmpty, "the raw crash record was erased, not processed")
    }
}
