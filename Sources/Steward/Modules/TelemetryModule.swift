import StewardCore
public import StewardTelemetry
import Synchronization

extension Telemetry: FacadeModule {
    /// Telemetry, consent-checked at record and send time; it asks its own recipient to delete
    /// after a withdrawal (the facade asks the others).
    static func open(_ context: FacadeContext, permissions: any PermissionChecking) throws -> Telemetry {
        let configuration = context.configuration
        var telemetryConfiguration = configuration.telemetry
        telemetryConfiguration.permissions = permissions
        let telemetry = try Telemetry(
            manifest: context.manifest, vault: context.vault, consent: context.consent, gate: context.gate,
            audit: context.audit, configuration: telemetryConfiguration, clock: context.clock)
        let asks = DeletionRoutes(configuration).notRequestable(configuration.telemetryRecipient) == nil
        telemetry.deletionRequestRecipients.withLock { $0 = asks ? [configuration.telemetryRecipient] : [] }
        return telemetry
    }

    func queue(for steward: Steward, into report: inout Steward.SendReport) {
        if let uploader = steward.uploaders[steward.configuration.telemetryRecipient] {
            do { report.eventsQueued = try submit(to: uploader, resource: steward.telemetryResource()) } catch {
                report.problems.append("telemetry: \(error)")
            }
        } else {
            // No recipient to queue for: what is held in memory is stored at least.
            do { try flush() } catch { report.problems.append("telemetry: \(error)") }
        }
    }

    func runPeriodicWork(_ intervals: PeriodicIntervals, steward: Steward) async {
        await run(flushingEvery: intervals.flush)
    }

    func stop() { try? flush() }

    func contribute(to report: inout DataRights.AccessReport, steward: Steward) {
        // Telemetry's requests after a withdrawal wait in its own state until the next send.
        let unqueued = deletionRequestsNotYetQueued
        if unqueued > 0 {
            report.pendingDeletionRequests[steward.configuration.telemetryRecipient, default: 0] += unqueued
        }
    }

    func contribute(to document: inout ExportDocument, steward: Steward) throws {
        document.identifiers.telemetryPseudonyms = pseudonymsInUse.mapKeys(\.rawValue)
        for record in try steward.vault.records(in: Telemetry.collection) {
            document.telemetry.append(
                ExportDocument.StoredEvents(
                    stored: record.created, expires: record.expires, purpose: record.purpose, category: record.category,
                    recipients: steward.manifest.declaration(of: record.category)?.recipients ?? [],
                    events: storedEvents(in: record)))
        }
    }

    func noteIdentifiers(into erasure: inout ErasureNotes) {
        erasure.pseudonymousIDs = pseudonymsInUse.values.flatMap { $0 }.sorted()
    }

    func discardBeforeErase() { discardPending() }
}

extension TelemetryMetrics: FacadeModule {
    /// Counters, gauges and histograms, consent-checked at record time.
    static func open(_ context: FacadeContext) -> TelemetryMetrics {
        TelemetryMetrics(consent: context.consent, clock: context.clock, audit: context.audit)
    }

    func queue(for steward: Steward, into report: inout Steward.SendReport) {
        guard let uploader = steward.uploaders[steward.configuration.telemetryRecipient] else { return }
        do { report.metricPointsQueued = try submit(to: uploader, resource: steward.telemetryResource()) } catch {
            report.problems.append("metrics: \(error)")
        }
    }
}

extension Steward {
    /// Declared events.
    public var telemetry: Telemetry { modules.telemetry }
    /// Counters, gauges and histograms.
    public var metrics: TelemetryMetrics { modules.metrics }
}
