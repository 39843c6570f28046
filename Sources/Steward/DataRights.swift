public import Foundation
public import StewardCore
import StewardCrash
import StewardDevice
import StewardMedia
import StewardPermissions
import StewardTelemetry
import ZIPFoundation

/// The user's rights over what Steward holds about them: see it (``accessReport()``), take it
/// away (``export(to:)``) and erase it (``erase(deliverWithin:)``).
///
/// ```swift
/// let report = try steward.rights.accessReport()          // per category: what, since when, why, how long
/// try steward.rights.export(to: "/home/ana/steward-export.zip")
/// let erased = try await steward.rights.erase()           // the instance stops; start a new one
/// ```
public struct DataRights: Sendable {
    let steward: Steward

    // MARK: - Access report

    /// What Steward holds in one data category.
    public struct CategoryHolding: Codable, Hashable, Sendable {
        /// The category.
        public var category: DataCategory
        /// The manifest's description of it.
        public var description: String
        /// Records held (each may hold many events, a report, a decision).
        public var records: Int
        /// The purposes the held records serve.
        public var purposes: [Purpose]
        /// The oldest record's date.
        public var since: Date?
        /// How long the manifest keeps it: days, nil for "until deleted".
        public var retentionDays: Int?
        /// When the next record expires, if any expires.
        public var nextExpiry: Date?
        /// Who may receive it (the manifest's recipients).
        public var recipients: [RecipientID]
        /// Who received some of it, per the audit ledger.
        public var disclosedTo: [RecipientID]
    }

    /// Everything held, per category, plus what waits in the outbox and the raw crash folder.
    public struct AccessReport: Codable, Hashable, Sendable {
        /// When the report was made.
        public var generated: Date
        /// The data folder.
        public var dataDirectory: String
        /// Per category, in the manifest's order, then Steward's own records
        /// (`consentRecords`).
        public var categories: [CategoryHolding]
        /// Payloads queued for delivery, per recipient.
        public var queued: [RecipientID: Int]
        /// Deletion requests not yet accepted, per recipient (they are retried until accepted;
        /// included in ``queued`` once queued; telemetry's requests after a withdrawal count from
        /// the withdrawal on, before the next send queues them).
        public var pendingDeletionRequests: [RecipientID: Int]
        /// Crash records not yet turned into reports.
        public var unprocessedCrashRecords: Int
        /// Payloads written to the plaintext outbox (``Steward/Configuration/plaintextOutbox``)
        /// and still there, per recipient: out of the vault, waiting for the host's shipper.
        public var plaintextOutbox: [RecipientID: Int] = [:]
        /// The plaintext outbox folder, when the host asked for one.
        public var plaintextOutboxDirectory: String?
    }

    /// Per category: what is held, since when, why and for how long, and who received it.
    public func accessReport() throws -> AccessReport {
        let manifest = steward.manifest
        let vault = steward.vault
        struct Tally {
            var records = 0
            var purposes: Set<Purpose> = []
            var since: Date?
            var nextExpiry: Date?
        }
        var tallies: [DataCategory: Tally] = [:]
        for collection in try vault.collections() {
            try vault.forEachRecord(in: collection) { record in
                var tally = tallies[record.category] ?? Tally()
                tally.records += 1
                tally.purposes.insert(record.purpose)
                tally.since = min(tally.since ?? record.created, record.created)
                if let expires = record.expires { tally.nextExpiry = min(tally.nextExpiry ?? expires, expires) }
                tallies[record.category] = tally
            }
        }
        var disclosed: [DataCategory: Set<RecipientID>] = [:]
        for entry in steward.audit.entries() {
            for disclosure in entry.disclosed where disclosure.count > 0 {
                disclosed[entry.category, default: []].insert(disclosure.recipient)
            }
        }
        var order = manifest.dataCategories.map(\.id)
        for category in tallies.keys.sorted() where !order.contains(category) { order.append(category) }
        let categories = order.compactMap { category -> CategoryHolding? in
            let declaration = manifest.declaration(of: category)
            let tally = tallies[category] ?? Tally()
            guard declaration != nil || tally.records > 0 else { return nil }
            return CategoryHolding(
                category: category,
                description: declaration?.description
                    ?? "Steward's own records of your choices and of its duties (consent receipts, permission decisions, the audit ledger, bookkeeping), kept to show and honour them",
                records: tally.records, purposes: tally.purposes.sorted(), since: tally.since,
                retentionDays: declaration?.retentionDays, nextExpiry: tally.nextExpiry,
                recipients: declaration?.recipients ?? [], disclosedTo: (disclosed[category] ?? []).sorted())
        }
        var queued: [RecipientID: Int] = [:]
        var deletions: [RecipientID: Int] = [:]
        for (recipient, uploader) in steward.uploaders {
            if uploader.pendingCount > 0 { queued[recipient] = uploader.pendingCount }
            if uploader.pendingDeletionRequests > 0 { deletions[recipient] = uploader.pendingDeletionRequests }
        }
        var report = AccessReport(
            generated: steward.configuration.wallClock.checkedNow, dataDirectory: steward.dataDirectory,
            categories: categories, queued: queued, pendingDeletionRequests: deletions, unprocessedCrashRecords: 0)
        for module in steward.modules.all { module.contribute(to: &report, steward: steward) }
        if let outbox = steward.outbox {
            // An unreadable folder is not a reason to withhold the rest of the report.
            report.plaintextOutbox = (try? outbox.countByRecipient()) ?? [:]
            report.plaintextOutboxDirectory = outbox.directory
        }
        return report
    }

    // MARK: - Export

    /// What ``export(to:)`` wrote.
    public struct ExportSummary: Hashable, Sendable {
        /// The archive or folder written.
        public var path: String
        /// The files in it (relative paths).
        public var files: [String]
        /// Items per kind (`consentReceipts`, `permissionDecisions`, `telemetryEvents`,
        /// `crashReports`, `auditEntries`, `queuedPayloads`, `images`).
        public var counts: [String: Int]
    }

    /// Writes everything Steward holds about the user to `path`: a ZIP archive when the path
    /// ends in `.zip`, a folder otherwise (created 0700; it must not exist yet, or be empty).
    ///
    /// Inside: `steward-export.json`, the machine-readable document (identifiers, consent
    /// states and receipts, permission decisions, stored telemetry events, queued payloads,
    /// crash reports, the audit ledger, media, and the access report — with dates, purposes and
    /// recipients); `summary.md`, the same for a person to read; `media/`, the images as stored
    /// (sanitised). The export is the user's own copy: plaintext, files 0600.
    ///
    /// Every file is created with mode 0600 and `O_EXCL` before its first byte is written. The
    /// archive is assembled in memory (the export's size, the images included) and written
    /// once: nothing is staged in a temporary folder, so an export cut short leaves no
    /// plaintext copy behind, only, at worst, a partial archive or folder at `path` itself.
    @discardableResult
    public func export(to path: String) throws -> ExportSummary {
        let isZip = path.lowercased().hasSuffix(".zip")
        let files = FileManager.default
        if !isZip, let existing = try? files.contentsOfDirectory(atPath: path), !existing.isEmpty {
            throw StewardError(
                .exportFailed, problems: ["\(path) exists and is not empty; give a new folder or a path ending in .zip"]
            )
        }
        if isZip, FileSystem.exists(path) {
            throw StewardError(.exportFailed, problems: ["\(path) exists; give a new path"])
        }

        var full = try collect()
        var moduleFiles: [(name: String, bytes: [UInt8])] = []
        for module in steward.modules.all { moduleFiles += try module.exportFiles(into: &full) }

        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        var contents: [(name: String, bytes: [UInt8])] = [
            ("steward-export.json", Array(try encoder.encode(full))),
            ("summary.md", Array(ExportSummaryText.markdown(full).utf8)),
        ]
        contents += moduleFiles
        do {
            if isZip {
                try FileSystem.createNewFile(
                    try Self.zip(contents, at: steward.configuration.wallClock.checkedNow), at: path)
            } else {
                try files.createDirectory(
                    atPath: path + "/media", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
                _ = chmod(path, 0o700)
                for (name, bytes) in contents { try FileSystem.createNewFile(bytes, at: path + "/" + name) }
            }
        } catch let error as StewardError {
            throw error
        } catch {
            throw StewardError(.exportFailed, problems: ["\(path) could not be written: \(error)"], underlying: error)
        }
        return ExportSummary(path: path, files: contents.map(\.name).sorted(), counts: full.counts)
    }

    /// A ZIP archive (deflated) of `contents`, built in memory.
    private static func zip(_ contents: [(name: String, bytes: [UInt8])], at date: Date) throws -> [UInt8] {
        let archive = try Archive(data: Data(), accessMode: .create)
        for (name, bytes) in contents {
            let data = Data(bytes)
            try archive.addEntry(
                with: name, type: .file, uncompressedSize: Int64(data.count), modificationDate: date,
                permissions: 0o600, compressionMethod: .deflate
            ) { position, size in
                let start = Int(position)
                return data.subdata(in: start..<Swift.min(start + size, data.count))
            }
        }
        guard let bytes = archive.data else {
            throw StewardError(.exportFailed, problems: ["the archive could not be assembled"])
        }
        return Array(bytes)
    }

    /// Everything held: the core's records, then each module's (files such as images are added
    /// by the caller).
    func collect() throws -> ExportDocument {
        let steward = self.steward
        var queued: [ExportDocument.QueuedPayload] = []
        for (recipient, _) in steward.uploaders.sorted(by: { $0.key < $1.key }) {
            for record in try steward.vault.records(in: Uploader.collection(for: recipient)) {
                guard let payload = Payload(outboxRecord: record.data) else { continue }
                queued.append(
                    ExportDocument.QueuedPayload(
                        recipient: recipient, purpose: payload.purpose, categories: payload.categories,
                        created: payload.created,
                        contentType: payload.contentType,
                        body: String(validating: payload.body, as: UTF8.self) ?? "(\(payload.body.count) binary bytes)")
                )
            }
        }
        var document = ExportDocument(
            generated: steward.configuration.wallClock.checkedNow, appID: steward.configuration.appID,
            policyVersion: steward.manifest.policyVersion, controller: steward.manifest.controller,
            consent: .init(
                states: steward.consent.states.mapKeys(\.rawValue).mapValues(\.rawValue),
                receipts: try steward.consent.receipts()),
            queued: queued, audit: steward.audit.entries(), access: try accessReport())
        for module in steward.modules.all { try module.contribute(to: &document, steward: steward) }
        return document
    }

    // MARK: - Erase

    /// What ``erase(deliverWithin:)`` did.
    public struct ErasureReport: Hashable, Sendable {
        /// Recipients that had received data and were sent (or queued) a deletion request. A
        /// recipient with no destination configured keeps its request queued in the vault,
        /// listed in ``AccessReport/pendingDeletionRequests`` until a destination is set.
        public var deletionRequests: [RecipientID]
        /// Deletion requests the recipients accepted before the call returned; the others stay
        /// queued and go out at the next ``Steward/send(timeout:)``.
        public var delivered: [RecipientID]
        /// Files removed besides the vault (crash records, the outbox).
        public var removedFiles: Int
        /// Recipients that received data but cannot take Steward's deletion request, with how
        /// to reach them instead: those the manifest declares with deletion `manual` (their
        /// contact), and the crash recipient behind a Sentry DSN (an envelope URL accepts only
        /// envelopes; ask through the Sentry project's own data deletion).
        public var notRequested: [RecipientID: String] = [:]
    }

    /// Erases everything Steward holds about the user, then asks every recipient that received
    /// data to delete it too.
    ///
    /// 1. Notes who received data (the audit ledger) and the ids they know the user by (the
    ///    app-scoped device id, the telemetry pseudonyms).
    /// 2. Stops this instance, crypto-erases the vault (the key goes first: nothing written can
    ///    be decrypted after that), and removes the raw crash records and what the outbox folder
    ///    holds.
    ///    Afterwards no file under the data folder holds anything readable from before.
    /// 3. Opens a new, empty vault (a new key; consents back to pending; new installation and
    ///    advertising ids) and queues a deletion request to each of those recipients under the
    ///    legal obligation to honour it (no consent needed), then tries to deliver them for up to
    ///    `deliverWithin` (clamped to 0…2^31 s, so any duration is safe). What is not
    ///    delivered stays queued for the next start.
    ///
    /// The instance is stopped afterwards: call ``Steward/start(_:)`` again to go on.
    ///
    /// The app-scoped id is derived from the machine id and the app id (as systemd's is), so it
    /// stays the same: it is how recipients find the erased data.
    public func erase(deliverWithin: Duration = .seconds(5)) async throws -> ErasureReport {
        let steward = self.steward
        guard steward.isRunning else {
            throw StewardError(.stopped, problems: ["this instance was stopped; start Steward again"])
        }
        // 1. Who received what.
        var received: [RecipientID: Set<DataCategory>] = [:]
        var purposes: [RecipientID: Set<Purpose>] = [:]
        for entry in steward.audit.entries() where entry.purpose != .privacyCompliance {
            for disclosure in entry.disclosed where disclosure.count > 0 {
                received[disclosure.recipient, default: []].insert(entry.category)
                purposes[disclosure.recipient, default: []].insert(entry.purpose)
            }
        }
        var known = ErasureNotes()
        for module in steward.modules.all { module.noteIdentifiers(into: &known) }

        // 2. Erase.
        steward.release()
        let removed = try await Steward.offPool { () -> Result<Int, any Error> in
            Result {
                for module in steward.modules.all { module.discardBeforeErase() }
                try steward.vault.erase()
                var removed = 0
                // The folders stay (an outbox transport may still hold its lock in them); what
                // was written in them goes. The outbox's lock and sequence files hold no data.
                let files = FileManager.default
                // A folder of the host's choosing may hold other things: only the payloads go.
                if let outbox = steward.outbox, outbox.directory != steward.dataDirectory + "/outbox" {
                    removed += try outbox.removeAllPayloads()
                }
                for module in steward.modules.all { removed += try module.eraseOutsideVault() }
                let folder = steward.dataDirectory + "/outbox"
                for name in (try? files.contentsOfDirectory(atPath: folder)) ?? []
                where name != ".lock" && name != ".sequence" {
                    removed += 1
                    try files.removeItem(atPath: folder + "/" + name)
                }
                return removed
            }
        }.get()

        // 3. A new vault, and the deletion requests.
        let configuration = steward.configuration
        let notRequested = DeletionRoutes(configuration).notRequestable(Set(received.keys))
        let requests = received.keys.filter {
            configuration.manifest.declaration(of: $0) != nil && notRequested[$0] == nil
        }.sorted()
        guard !requests.isEmpty else {
            return ErasureReport(deletionRequests: [], delivered: [], removedFiles: removed, notRequested: notRequested)
        }
        // The same key store: the folder's record still names it.
        let vault = try Vault.open(
            directory: steward.dataDirectory + "/vault", keyProvider: steward.keys.provider,
            clock: configuration.wallClock)
        defer { try? vault.close() }
        let ledger = try ConsentLedger(
            manifest: configuration.manifest, vault: vault, jurisdiction: configuration.jurisdiction,
            clock: configuration.wallClock)
        let audit = try AuditLedger(vault: vault, clock: configuration.wallClock)
        let now = configuration.wallClock.checkedNow
        var uploaders: [Uploader] = []
        for recipient in requests {
            // The stopped instance's transports (a plaintext outbox has one owner at a time);
            // a recipient without one keeps its request queued in the new vault, pending.
            let transport: (any Transport)? = steward.transports[recipient]
            let uploader = try Uploader(
                recipient: recipient, transport: transport, vault: vault, consent: ledger,
                manifest: configuration.manifest, audit: audit, policy: configuration.uploadPolicy,
                wallClock: configuration.wallClock)
            let request = DeletionRequest(
                scope: .all, purposes: Array(purposes[recipient] ?? []), categories: Array(received[recipient] ?? []),
                pseudonymousIDs: known.pseudonymousIDs, deviceID: known.deviceID, requested: now)
            let payload = DeletionRequest.payload(
                request, to: recipient, configuration: configuration, plan: steward.plan, now: now)
            try uploader.submitObligation(payload)
            uploaders.append(uploader)
        }
        var delivered: [RecipientID] = []
        await withTaskGroup(of: (RecipientID, Bool).self) { group in
            for uploader in uploaders {
                group.addTask {
                    (uploader.recipient, await Steward.drain(uploader, within: deliverWithin).accepted > 0)
                }
            }
            for await (recipient, accepted) in group where accepted { delivered.append(recipient) }
        }
        try? audit.flush()
        return ErasureReport(
            deletionRequests: requests, delivered: delivered.sorted(), removedFiles: removed, notRequested: notRequested
        )
    }
}

/// Which recipients Steward's deletion request can reach, from the manifest's deletion routes
/// and the configured transports.
struct DeletionRoutes {
    let configuration: Steward.Configuration

    init(_ configuration: Steward.Configuration) { self.configuration = configuration }

    /// Of `recipients`, those a deletion request cannot reach, with how to reach them instead.
    func notRequestable(_ recipients: Set<RecipientID>) -> [RecipientID: String] {
        var result: [RecipientID: String] = [:]
        for recipient in recipients {
            if let why = notRequestable(recipient) { result[recipient] = why }
        }
        return result
    }

    /// Why a deletion request cannot reach `recipient`, with how to reach it instead; nil when
    /// it can.
    func notRequestable(_ recipient: RecipientID) -> String? {
        let route = configuration.manifest.recipients.first { $0.id == recipient }?.deletionRoute ?? .request
        if route.method == .manual {
            return
                "the manifest declares deletion by hand: ask at \(route.contact ?? "the recipient's privacy contact")"
        }
        // A Sentry envelope URL can only reject a JSON deletion request (which would then be
        // retried for ever): that recipient is named instead, for the host to ask by hand.
        if recipient == configuration.crashRecipient, configuration.sentryDSN != nil,
            configuration.transports[recipient] == nil
        {
            return
                "a Sentry DSN takes only envelopes; delete the user's events through the Sentry project (its data deletion or API), and declare this recipient's deletion as manual in the manifest"
        }
        return nil
    }
}

extension Dictionary {
    func mapKeys<T: Hashable>(_ transform: (Key) -> T) -> [T: Value] {
        [T: Value](map { (transform($0.key), $0.value) }, uniquingKeysWith: { first, _ in first })
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
