import Foundation
import StewardCore

/// One feature module as the facade sees it. The facade keeps its modules in one list
/// (``Steward/Modules``) and walks it for every duty that touches them all: queueing for
/// delivery, periodic work, stop, the access report, the export and the erase. A module
/// implements only the hooks it needs; the others do nothing.
///
/// Adding a module to the facade: one file in `Sources/Steward/Modules/` holding the module's
/// `open` (how it is made from a ``FacadeContext`` and the modules opened before it), its
/// conformance to this protocol and its public accessor on ``Steward``, plus one field and one
/// line in ``Steward/Modules``. (Package.swift and Exports.swift name the new target, as for any
/// target.) A module with a new kind of data for the export adds its field to
/// ``ExportDocument`` too: the export is a documented format (`steward.export/1`), so a new
/// key is a deliberate change of it.
protocol FacadeModule: Sendable {
    /// Queues what is ready for its recipient (``Steward/send(timeout:)``), noting counts and
    /// problems in `report`. Runs on a thread of its own.
    func queue(for steward: Steward, into report: inout Steward.SendReport)

    /// Runs the module's periodic work until the calling task is cancelled
    /// (``Steward/runPeriodicWork(flushInterval:retentionInterval:)``).
    func runPeriodicWork(_ intervals: PeriodicIntervals, steward: Steward) async

    /// Stores what it holds in memory and ends what it started (``Steward/stop()``).
    func stop()

    /// Ends what it started without writing anything (the erase path).
    func release()

    /// Adds what it alone knows to the access report.
    func contribute(to report: inout DataRights.AccessReport, steward: Steward)

    /// Adds what it holds to the export (media files go through ``exportFiles()``).
    func contribute(to document: inout ExportDocument, steward: Steward) throws

    /// Files of its own for the export, with their paths inside it.
    func exportFiles(into document: inout ExportDocument) throws -> [(name: String, bytes: [UInt8])]

    /// Notes, before the erase, the ids a recipient may know the user by.
    func noteIdentifiers(into erasure: inout ErasureNotes)

    /// Drops what it holds in memory, just before the vault is erased.
    func discardBeforeErase()

    /// Removes what it wrote outside the vault (the vault itself is crypto-erased); returns the
    /// files removed.
    func eraseOutsideVault() throws -> Int
}

extension FacadeModule {
    func queue(for steward: Steward, into report: inout Steward.SendReport) {}
    func runPeriodicWork(_ intervals: PeriodicIntervals, steward: Steward) async {}
    func stop() {}
    func release() {}
    func contribute(to report: inout DataRights.AccessReport, steward: Steward) {}
    func contribute(to document: inout ExportDocument, steward: Steward) throws {}
    func exportFiles(into document: inout ExportDocument) throws -> [(name: String, bytes: [UInt8])] { [] }
    func noteIdentifiers(into erasure: inout ErasureNotes) {}
    func discardBeforeErase() {}
    func eraseOutsideVault() throws -> Int { 0 }
}

/// The periodic work's pace (already clamped to 1 s…2^31 s).
struct PeriodicIntervals: Sendable {
    /// How often what is held in memory is stored.
    var flush: Duration
    /// How often expired data is removed.
    var retention: Duration
}

/// The ids recipients know the user by, noted before an erase for the deletion requests.
struct ErasureNotes: Sendable {
    /// The app-scoped device id.
    var deviceID: String?
    /// Keyed-hash pseudonyms sent in place of identifiers.
    var pseudonymousIDs: [String] = []
}

/// What every module is opened with: the configuration and the shared core (the vault, the
/// consent ledger and gate, the audit ledger).
struct FacadeContext {
    let configuration: Steward.Configuration
    let plan: Steward.Plan
    let dataDirectory: String
    let keys: KeyChoice
    let vault: Vault
    let consent: ConsentLedger
    let gate: ConsentGate
    let audit: AuditLedger
    var manifest: PrivacyManifest { configuration.manifest }
    var clock: any WallClock { configuration.wallClock }
}
