import Foundation
@testable import StewardCore
@testable import StewardCrash
import StewardDevice
import StewardMedia
import StewardPermissions
@testable import StewardTelemetry
import StewardTesting

/// Every decoder of what Steward stored in the vault itself: records the vault authenticated
/// but that may come from a newer (or buggy) version, fed to the module that reads them.
///
/// Input: a selector byte (which consumer), then up to 8 length-prefixed records, appended to
/// that consumer's collection with the category and purpose it uses. The consumer is then
/// opened and its read paths run: the audit ledger, permission decisions, crash reports, the
/// crash launch state and sessions, telemetry batches and state (and a submit to an uploader), the device
/// identifiers, media items, items held for pending consent, consent receipts, and queued
/// outbox payloads (loaded and sent to a recording transport).
///
/// Checks: nothing traps and only typed errors come out.
public enum FuzzStoredRecords: FuzzTarget {
    public static let name = "FuzzStoredRecords"

    /// A consumer: its collection, category and purpose, and what to run after the records are in.
    struct Consumer: Sendable {
        var collection: String
        var category: DataCategory
        var purpose: Purpose
        var run: @Sendable (Vault, ConsentLedger) throws -> Void
    }

    static let consumers: [Consumer] = [
        Consumer(collection: AuditLedger.collection, category: .consentRecords, purpose: .privacyCompliance) {
            vault, _ in
            let audit = try AuditLedger(vault: vault, clock: fuzzClock)
            _ = audit.entries()
            audit.recordCollected(.usageEvents, purpose: .analytics)
            try audit.flush()
        },
        Consumer(collection: PermissionGate.collection, category: .permissionDecisions, purpose: .privacyCompliance) {
            vault, ledger in
            let gate = try PermissionGate(
                manifest: exampleManifest, vault: vault, prompter: ScriptedPrompter(), probe: ManualPermissionProbe(),
                consent: ledger, clock: fuzzClock)
            for declaration in exampleManifest.permissions { _ = gate.status(of: declaration.permission) }
            _ = try gate.decisions()
        },
        Consumer(collection: CrashReporter.collection, category: .crashDiagnostics, purpose: .crashReporting) {
            vault, ledger in
            try ledger.grant([.crashReporting])
            let reporter = crashReporter(vault, ledger)
            for report in try reporter.storedReports() {
                _ = SentryEventEncoder().envelope(for: report, dsn: nil, sentAt: fuzzNow).encode()
            }
        },
        Consumer(collection: CrashReporter.stateCollection, category: .crashDiagnostics, purpose: .privacyCompliance) {
            vault, ledger in
            let reporter = crashReporter(vault, ledger)
            _ = reporter.processPending()
            _ = reporter.crashedOnLaunch
        },
        Consumer(collection: CrashReporter.sessionsCollection, category: .crashDiagnostics, purpose: .crashReporting) {
            vault, ledger in
            try ledger.grant([.crashReporting])
            let reporter = crashReporter(vault, ledger)
            _ = reporter.processPending()
            reporter.recordSessionStart()
            reporter.endSession()
            let uploader = try Uploader(
                recipient: "crashBackend", transport: RecordingTransport(), vault: vault, consent: ledger,
                manifest: exampleManifest, audit: try AuditLedger(vault: vault, clock: fuzzClock), wallClock: fuzzClock)
            _ = try reporter.submit(to: uploader)
            try ledger.deny([.crashReporting])
        },
        Consumer(collection: Telemetry.collection, category: .usageEvents, purpose: .analytics) { vault, ledger in
            try ledger.grant([.analytics])
            try telemetrySubmit(vault, ledger)
        },
        Consumer(collection: Telemetry.stateCollection, category: .consentRecords, purpose: .privacyCompliance) {
            vault, ledger in
            try telemetrySubmit(vault, ledger)
        },
        Consumer(collection: DeviceIdentifiers.collection, category: .deviceIdentifiers, purpose: .deviceAuthentication)
        { vault, ledger in
            let ids = try DeviceIdentifiers(
                appID: "org.example.fuzz", vault: vault, consent: ledger,
                permissions: StaticPermissions(granted: [.deviceIdentity]))
            _ = try ids.installationID()
            _ = try ids.isTrackingLimited()
            _ = try ids.advertisingID()
            _ = try ids.pseudonymousMAC([0x02, 0, 0, 0, 0, 1])
        },
        Consumer(collection: MediaStore.collection, category: .images, purpose: .serviceProvision) { vault, ledger in
            let store = try MediaStore(
                gate: ConsentGate(ledger: ledger, vault: vault, clock: fuzzClock), vault: vault,
                permissions: StaticPermissions(granted: [.camera, .photos]), clock: fuzzClock)
            for item in try store.list() {
                _ = try store.get(item.id)
                _ = try store.edits(of: item.id)
            }
            _ = try store.export(to: Scratch.fresh("media-export"))
            if let first = try store.list().first { _ = try store.delete(first.id) }
        },
        Consumer(collection: ConsentGate.pendingCollection, category: .usageEvents, purpose: .analytics) {
            vault, ledger in
            let gate = ConsentGate(
                ledger: ledger, vault: vault, policies: [.analytics: .encryptedDisk(maxAge: .seconds(86_400))],
                clock: fuzzClock)
            try ledger.grant([.analytics])
            try gate.reconcile()
        },
        Consumer(collection: ConsentLedger.collection, category: .consentRecords, purpose: .privacyCompliance) {
            vault, _ in
            let ledger = try ConsentLedger(manifest: exampleManifest, vault: vault, clock: fuzzClock)
            _ = ledger.integrity
            _ = try ledger.exportReceipts()
        },
        Consumer(collection: Uploader.collection(for: "telemetryBackend"), category: .usageEvents, purpose: .analytics)
        { vault, ledger in
            try ledger.grant([.analytics])
            let uploader = try Uploader(
                recipient: "telemetryBackend", transport: RecordingTransport(), vault: vault, consent: ledger,
                manifest: exampleManifest, audit: try AuditLedger(vault: vault, clock: fuzzClock), wallClock: fuzzClock)
            _ = blocking { await uploader.drain() }
        },
    ]

    static func crashReporter(_ vault: Vault, _ ledger: ConsentLedger) -> CrashReporter {
        CrashReporter(
            configuration: .init(crashDirectory: Scratch.fresh("stored-crash"), symbolication: .none), vault: vault,
            consent: ConsentGate(ledger: ledger, vault: vault, clock: fuzzClock), clock: fuzzClock)
    }

    static func telemetrySubmit(_ vault: Vault, _ ledger: ConsentLedger) throws {
        let audit = try AuditLedger(vault: vault, clock: fuzzClock)
        let telemetry = try Telemetry(
            manifest: exampleManifest, vault: vault, consent: ledger, audit: audit, clock: fuzzClock)
        for record in try vault.records(in: Telemetry.collection) { _ = telemetry.storedEvents(in: record) }
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: RecordingTransport(), vault: vault, consent: ledger,
            manifest: exampleManifest, audit: audit, wallClock: fuzzClock)
        _ = try telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "fuzz"))
    }

    /// Every error type a consumer may throw.
    static let errors: [any Error.Type] =
        vaultErrors + [
            ConsentError.self, MediaError.self, UploadError.self, DecodingError.self,
            EncodingError.self, PermissionError.self, DeviceIdentityError.self, SystemError.self,
            InsecurePathError.self,
        ]

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        var reader = FuzzReader(input)
        let consumer = consumers[Int(reader.byte()) % consumers.count]
        let folder = Scratch.fresh("stored")
        guard let vault = try openFuzzVault(folder) else { throw PropertyViolation("a new vault did not open") }
        var records = 0
        while !reader.isEmpty && records < 8 {
            records += 1
            let bytes = reader.bytes(upTo: 8192)
            _ = try typed("append", vaultErrors) {
                try vault.append(bytes, to: consumer.collection, category: consumer.category, purpose: consumer.purpose)
            }
        }
        _ = try typed("commit", vaultErrors) { try vault.commit() }
        guard
            let ledger = try typed(
                "ConsentLedger", errors,
                { try ConsentLedger(manifest: exampleManifest, vault: vault, clock: fuzzClock) })
        else { return }
        _ = try typed(consumer.collection, errors) { try consumer.run(vault, ledger) }
        _ = try typed("close", vaultErrors) { try vault.close() }
    }
}
