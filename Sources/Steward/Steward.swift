import Foundation
public import StewardCore
public import StewardCrash
public import StewardDevice
public import StewardMedia
import StewardHTTP
public import StewardPermissions
public import StewardTelemetry
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one entry point: starts every module over one data folder, wires them together, and
/// gives the host the user's data rights and the generated disclosure.
///
/// ```swift
/// import Steward
///
/// var configuration = Steward.Configuration(appID: "org.example.scanner", manifest: try .decode(json: manifestBytes))
/// configuration.otlpEndpoint = URL(string: "https://collector.example.com:4318")
/// let steward = try Steward.start(configuration)
/// try steward.consent.grant([.analytics])
/// steward.telemetry.record("screen_view", attributes: ["screen": .string("scan")])
/// _ = try await steward.permissions.request(.camera)
/// await steward.send()
/// ```
///
/// What start does, in order: checks the configuration (every problem at once), claims the
/// process (one instance per process), opens the vault, the consent ledger, the audit ledger
/// and the consent gate, the permission gate (with the age gate), the device identifiers
/// (raw identifiers follow the `deviceIdentity` permission), telemetry and metrics (consent
/// at record and send time, deletion requests after a withdrawal), the crash reporter (its
/// handler follows crash-reporting consent), processes crash records left by an earlier run,
/// and makes one uploader per recipient.
public final class Steward: Sendable {
    /// The configuration it started with.
    public let configuration: Configuration
    /// The data folder.
    public let dataDirectory: String
    /// The manifest it enforces.
    public var manifest: PrivacyManifest { configuration.manifest }
    /// The encrypted vault every module keeps its data in.
    public let vault: Vault
    /// The user's consent per purpose, with receipts and the age gate.
    public let consent: ConsentLedger
    /// Stores data under its purpose's consent (and pending policy).
    public let consentGate: ConsentGate
    /// What was collected, dropped and disclosed, per day, category and purpose.
    public let audit: AuditLedger
    /// Run-time permissions.
    public let permissions: PermissionGate
    /// The device's privacy-safe identifiers (raw ones need the `deviceIdentity` permission).
    public let device: DeviceIdentifiers
    /// Crash reports, breadcrumbs, handled errors, launch crashes and sessions.
    public let crashes: CrashReporter
    /// Declared events.
    public let telemetry: Telemetry
    /// Counters, gauges and histograms.
    public let metrics: TelemetryMetrics
    /// Images, their metadata control and retention (expired images are removed at start).
    public let media: MediaStore
    /// The generated disclosure of what the SDK enforces.
    public let disclosure: Disclosure
    /// One uploader per recipient Steward delivers to (crash and telemetry recipients).
    public let uploaders: [RecipientID: Uploader]
    /// What start made of the crash records an earlier run left.
    public let pendingCrashes: CrashReporter.PendingResult
    /// Whether this instance still runs (false after ``stop()`` or an erase).
    public var isRunning: Bool { running.load(ordering: .acquiring) }

    /// The user's data rights: access report, export, erase.
    public var rights: DataRights { DataRights(steward: self) }

    let crashInstalled: Bool
    /// The transport behind each uploader that has one.
    let transports: [RecipientID: any Transport]
    /// The plaintext outbox, when the host asked for one.
    let outbox: FileTransport?
    /// The consent observer that carries a withdrawal to the uploaders and the plaintext outbox.
    let consentObserver: UUID
    let running = Atomic<Bool>(true)
    let resourceCache = Mutex<TelemetryResource?>(nil)

    /// Whether an instance runs in this process.
    private static let processClaim = Atomic<Bool>(false)

    private init(
        configuration: Configuration, dataDirectory: String, vault: Vault, consent: ConsentLedger,
        consentGate: ConsentGate,
        audit: AuditLedger, permissions: PermissionGate, device: DeviceIdentifiers, crashes: CrashReporter,
        telemetry: Telemetry, metrics: TelemetryMetrics, media: MediaStore, disclosure: Disclosure,
        uploaders: [RecipientID: Uploader],
        pendingCrashes: CrashReporter.PendingResult, crashInstalled: Bool, transports: [RecipientID: any Transport],
        outbox: FileTransport?, consentObserver: UUID
    ) {
        self.configuration = configuration
        self.dataDirectory = dataDirectory
        self.vault = vault
        self.consent = consent
        self.consentGate = consentGate
        self.audit = audit
        self.permissions = permissions
        self.device = device
        self.crashes = crashes
        self.telemetry = telemetry
        self.metrics = metrics
        self.media = media
        self.disclosure = disclosure
        self.uploaders = uploaders
        self.pendingCrashes = pendingCrashes
        self.crashInstalled = crashInstalled
        self.transports = transports
        self.outbox = outbox
        self.consentObserver = consentObserver
    }

    // MARK: - Start

    /// Starts Steward: see the type's discussion for what it does.
    ///
    /// - Throws: ``StewardError`` — ``StewardError/Code/invalidConfiguration`` listing every
    ///   problem of the configuration at once; ``StewardError/Code/alreadyStarted`` when an
    ///   instance runs in this process (no second set of signal handlers);
    ///   ``StewardError/Code/startFailed`` when the data cannot be opened (a vault locked by
    ///   another process, a wrong key).
    public static func start(_ configuration: Configuration) throws(StewardError) -> Steward {
        let plan = try Plan.check(configuration)
        guard processClaim.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else {
            throw StewardError(
                .alreadyStarted,
                problems: [
                    "Steward runs already in this process; use that instance, or call stop() on it before starting another"
                ])
        }
        do {
            return try open(configuration, plan: plan)
        } catch {
            processClaim.store(false, ordering: .releasing)
            throw StewardError(.startFailed, problems: ["\(error)"])
        }
    }

    private static func open(_ configuration: Configuration, plan: Plan) throws -> Steward {
        let manifest = configuration.manifest
        let clock = configuration.wallClock
        let directory = plan.dataDirectory
        let vault: Vault
        if let keyProvider = configuration.keyProvider {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            vault = try Vault.open(directory: directory + "/vault", keyProvider: keyProvider, clock: clock)
        } else {
            vault = try Vault.open(dataDirectory: directory, clock: clock)
        }
        do {
            let consent = try ConsentLedger(
                manifest: manifest, vault: vault, jurisdiction: configuration.jurisdiction, clock: clock)
            let audit = try AuditLedger(vault: vault, clock: clock)
            let gate = ConsentGate(
                ledger: consent, vault: vault, audit: audit, policies: configuration.pendingPolicies,
                defaultPolicy: configuration.defaultPendingPolicy, clock: clock)
            let permissions = try PermissionGate(
                manifest: manifest, vault: vault, prompter: configuration.prompter,
                probe: configuration.permissionProbe, consent: consent, clock: clock)
            let device = try DeviceIdentifiers(
                appID: configuration.appID, vault: vault, consent: consent, permissions: permissions,
                machineIDPath: configuration.machineIDPath)
            var telemetryConfiguration = configuration.telemetry
            telemetryConfiguration.permissions = permissions
            let telemetry = try Telemetry(
                manifest: manifest, vault: vault, consent: consent, gate: gate, audit: audit,
                configuration: telemetryConfiguration, clock: clock)
            // Telemetry asks its own recipient; the facade asks the others (see below).
            let telemetryAsks = DeletionRoutes(configuration).notRequestable(configuration.telemetryRecipient) == nil
            telemetry.deletionRequestRecipients.withLock {
                $0 = telemetryAsks ? [configuration.telemetryRecipient] : []
            }
            let metrics = TelemetryMetrics(consent: consent, clock: clock, audit: audit)
            let media = try MediaStore(gate: gate, vault: vault, permissions: permissions, clock: clock)

            let context = CrashContext(
                release: configuration.release, osName: "Linux", arch: Plan.architecture,
                executable: CommandLine.arguments.first.map { ($0 as NSString).lastPathComponent })
            let crashes = CrashReporter(
                configuration: .init(dataDirectory: directory, context: context), vault: vault, consent: gate,
                clock: clock)
            var installed = false
            if configuration.installsCrashHandler {
                try crashes.install()
                installed = true
            }
            let pending = crashes.processPending()

            var uploaders: [RecipientID: Uploader] = [:]
            let planned = try plan.transports(consent: consent)
            var transports = planned.transports
            let outbox = planned.outbox
            // The OTLP transport Steward made itself counts a Collector's partial rejections.
            let otlp = configuration.telemetryRecipient
            if configuration.transports[otlp] == nil, case .some(.some(let made)) = transports[otlp],
                var http = made as? HTTPTransport
            {
                http.acceptedResponseHandler = OTLPPartialSuccess.auditing(into: audit)
                transports[otlp] = .some(http)
            }
            for (recipient, transport) in transports {
                uploaders[recipient] = try Uploader(
                    recipient: recipient, transport: transport, vault: vault, consent: consent,
                    manifest: manifest, audit: audit, policy: configuration.uploadPolicy, wallClock: clock)
            }
            takeBackLegacyOutbox(directory + "/outbox", configuration: configuration, uploaders: uploaders)
            let chosen = transports.compactMapValues { $0 }
            // A withdrawal reaches every queue at once: queued payloads leave the uploaders, a
            // send under way is cancelled, and the plaintext outbox loses that purpose's files.
            let queues = Array(uploaders.values)
            let routes = DeletionRoutes(configuration)
            /// A deletion request (scope `purposes`) for `recipient`'s data of `purpose`.
            @Sendable func deletionRequest(to recipient: RecipientID, purpose: Purpose, categories: [DataCategory])
                -> Payload
            {
                let now = clock.checkedNow
                let request = DeletionRequest(
                    scope: .purposes, purposes: [purpose], categories: categories,
                    deviceID: try? device.appScopedID().uuidString, requested: now)
                return DeletionRequest.payload(request, to: recipient, configuration: configuration, now: now)
            }
            // A send the recipient accepted after the withdrawal (too late to cancel) is
            // followed by a deletion request too.
            for (recipient, uploader) in uploaders
            where recipient != configuration.telemetryRecipient && routes.notRequestable(recipient) == nil {
                uploader.onAcceptedAfterWithdrawal { [weak uploader] purpose, categories in
                    _ = try? uploader?.submitObligation(
                        deletionRequest(to: recipient, purpose: purpose, categories: categories))
                }
            }
            let consentObserver = consent.addObserver { [uploaders] changes in
                guard changes.contains(where: { $0.state == .denied }) else { return }
                for uploader in queues { uploader.consentChanged() }
                for change in changes where change.state == .denied { _ = try? outbox?.purge(purpose: change.purpose) }
                // Every other recipient that received data of a withdrawn purpose is asked to
                // delete it (telemetry's recipient gets telemetry's own request, with the
                // pseudonyms it knows the user by).
                let withdrawn = changes.filter { $0.state == .denied && $0.previous == .granted }
                let entries = withdrawn.isEmpty ? [] : audit.entries()
                for change in withdrawn {
                    for (recipient, uploader) in uploaders
                    where recipient != configuration.telemetryRecipient && routes.notRequestable(recipient) == nil {
                        let categories = Set(
                            entries.filter { entry in
                                entry.purpose == change.purpose
                                    && entry.disclosed.contains { $0.recipient == recipient && $0.count > 0 }
                            }.map(\.category))
                        guard !categories.isEmpty else { continue }
                        _ = try? uploader.submitObligation(
                            deletionRequest(to: recipient, purpose: change.purpose, categories: categories.sorted()))
                    }
                }
            }
            return Steward(
                configuration: configuration, dataDirectory: directory, vault: vault, consent: consent,
                consentGate: gate,
                audit: audit, permissions: permissions, device: device, crashes: crashes, telemetry: telemetry,
                metrics: metrics, media: media, disclosure: plan.disclosure, uploaders: uploaders,
                pendingCrashes: pending,
                crashInstalled: installed, transports: chosen, outbox: outbox, consentObserver: consentObserver)
        } catch {
            try? vault.close()
            throw error
        }
    }

    /// Earlier versions of Steward delivered to `DATA/outbox`, in plaintext, when no endpoint
    /// was set.
    /// Unless the host now asks for that folder by name (or has it open as a transport of its
    /// own), its payloads go back into the vault, queued for their recipient as before, and
    /// their files are removed. A payload whose recipient has no uploader any more, or whose
    /// purpose is now denied, is not kept (nothing could deliver it).
    private static func takeBackLegacyOutbox(
        _ folder: String, configuration: Configuration, uploaders: [RecipientID: Uploader]
    ) {
        guard configuration.plaintextOutbox != .inDataDirectory, configuration.plaintextOutbox != .directory(folder),
            FileSystem.exists(folder), let legacy = try? FileTransport(directory: folder)
        else { return }
        _ = try? legacy.takeAll { payload in
            guard let uploader = uploaders[payload.recipient] else { return }
            if payload.purpose == .privacyCompliance {
                try uploader.submitObligation(payload)
            } else {
                try uploader.submit(payload)
            }
        }
    }

    // MARK: - Delivery

    /// What one ``send(timeout:)`` did, per recipient.
    public struct SendReport: Sendable {
        /// Telemetry events queued for their recipient.
        public var eventsQueued = 0
        /// Metric points queued.
        public var metricPointsQueued = 0
        /// Crash reports queued.
        public var crashReportsQueued = 0
        /// Each uploader's report.
        public var uploads: [RecipientID: UploadReport] = [:]
        /// What went wrong on the way (the data stays queued for the next send).
        public var problems: [String] = []
    }

    /// Queues what is ready — stored telemetry events (and deletion requests), the metrics of
    /// the interval, crash reports — for their recipients, then delivers every queue, each
    /// uploader until it is idle or `timeout` passes. Consent is checked again at send time.
    /// Blocking work runs off the concurrency pool.
    ///
    /// `timeout` is clamped to 0…2^31 s: zero or negative stops the delivery almost at once
    /// (what is queued stays queued), and an absurd one (`Duration(attoseconds: .max)`) does
    /// not trap.
    @discardableResult
    public func send(timeout: Duration = .seconds(30)) async -> SendReport {
        guard isRunning else { return SendReport(problems: ["Steward was stopped"]) }
        var report = await Self.offPool { [self] in queueAll() }
        await withTaskGroup(of: (RecipientID, UploadReport).self) { group in
            for (recipient, uploader) in uploaders {
                group.addTask { (recipient, await Self.drain(uploader, within: timeout)) }
            }
            for await (recipient, upload) in group { report.uploads[recipient] = upload }
        }
        try? audit.flush()
        return report
    }

    /// Drains `uploader` until it is idle or `timeout` passes; then the drain is cancelled and
    /// returns soon after with what it did.
    static func drain(_ uploader: Uploader, within timeout: Duration) async -> UploadReport {
        await withTaskGroup(of: UploadReport?.self) { race in
            race.addTask { await uploader.drain() }
            race.addTask {
                try? await checkedSleep(for: timeout)
                return nil
            }
            let first = await race.next() ?? nil
            race.cancelAll()
            if let first { return first }
            return await race.next().flatMap { $0 } ?? UploadReport()
        }
    }

    private func queueAll() -> SendReport {
        var report = SendReport()
        let resource = telemetryResource()
        if let uploader = uploaders[configuration.telemetryRecipient] {
            do { report.eventsQueued = try telemetry.submit(to: uploader, resource: resource) } catch {
                report.problems.append("telemetry: \(error)")
            }
            do { report.metricPointsQueued = try metrics.submit(to: uploader, resource: resource) } catch {
                report.problems.append("metrics: \(error)")
            }
        } else {
            do { try telemetry.flush() } catch { report.problems.append("telemetry: \(error)") }
        }
        if let uploader = uploaders[configuration.crashRecipient] {
            do {
                report.crashReportsQueued = try crashes.submit(
                    to: uploader, dsn: configuration.sentryDSN.flatMap { try? SentryDSN($0) })
            } catch {
                report.problems.append("crash reports: \(error)")
            }
        }
        return report
    }

    /// The OTLP resource of this app on this device: `device.id` is the app-scoped ID only,
    /// never the machine ID.
    func telemetryResource() -> TelemetryResource {
        if let cached = resourceCache.withLock({ $0 }) { return cached }
        let profile = DeviceProfile.read()
        // Resource values come from the host and the system: none may carry an identifier of
        // the device or a secret (a model string with a serial, a release with a host name).
        let filter = IdentifierFilter.current
        func safe(_ value: String?) -> String? { value.flatMap { filter.contains($0) ? nil : $0 } }
        let resource = TelemetryResource(
            serviceName: configuration.appID, serviceVersion: safe(configuration.release), osType: "linux",
            osVersion: safe(profile.operatingSystem.versionID.value ?? profile.kernel.release.value),
            hostArch: Plan.architecture, deviceModelIdentifier: safe(profile.hardware.model.value),
            deviceID: try? device.appScopedID().uuidString)
        resourceCache.withLock { $0 = resource }
        return resource
    }

    /// Runs `work` on a thread of its own and waits for it: vault commits (fsync) stay off the
    /// Swift concurrency pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { continuation in
            StewardThread.start(name: "steward.facade") { continuation.resume(returning: work()) }
        }
    }

    // MARK: - Periodic work

    /// Runs the periodic work until the calling task is cancelled: telemetry held in memory is
    /// stored every `flushInterval` (batches also go when full), and expired images are
    /// removed every `retentionInterval` (expired vault records go with `vault.purgeExpired()`,
    /// run at the same pace). Start it once, in a task of the host's.
    ///
    /// Both intervals are clamped to 1 s…2^31 s: zero or a negative interval runs the work
    /// every second (it does not spin), and an absurd one (`Duration(attoseconds: .max)`)
    /// waits 2^31 s instead of trapping.
    ///
    /// ```swift
    /// let periodic = Task { await steward.runPeriodicWork() }
    /// // ...
    /// periodic.cancel()
    /// ```
    public func runPeriodicWork(flushInterval: Duration = .seconds(30), retentionInterval: Duration = .seconds(3_600))
        async
    {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [telemetry] in await telemetry.run(flushingEvery: flushInterval) }
            group.addTask { [self] in
                let retentionInterval = retentionInterval.periodicInterval
                while !Task.isCancelled {
                    try? await checkedSleep(for: retentionInterval)
                    guard !Task.isCancelled, isRunning else { return }
                    _ = await Self.offPool { [media, vault] in
                        _ = try? media.purgeExpired()
                        _ = try? vault.purgeExpired()
                    }
                }
            }
        }
    }

    // MARK: - Stop

    /// Stores what telemetry holds in memory, ends the crash session as a clean exit, removes
    /// the crash handlers, closes the vault and releases the process, so ``start(_:)`` may run
    /// again. Safe to call twice.
    public func stop() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        try? telemetry.flush()
        try? audit.flush()
        crashes.endSession()
        if crashInstalled { crashes.uninstall() }
        consent.removeObserver(consentObserver)
        try? vault.close()
        Self.processClaim.store(false, ordering: .releasing)
    }

    /// Ends this instance without writing anything more (the erase path): the handlers go, the
    /// process is released.
    func release() {
        guard running.exchange(false, ordering: .acquiringAndReleasing) else { return }
        if crashInstalled { crashes.uninstall() }
        consent.removeObserver(consentObserver)
        Self.processClaim.store(false, ordering: .releasing)
    }
}
