import Foundation
import StewardCore
import StewardCrash
import StewardMedia
import StewardPermissions
import StewardTelemetry

/// The machine-readable export (`steward-export.json`): everything Steward holds about the
/// user, with dates, purposes and recipients.
struct ExportDocument: Encodable {
    struct Identifiers: Encodable {
        /// The app-scoped id (systemd's app-specific machine id): stable for this app on this
        /// machine.
        var appScopedID: String?
        var installationID: String?
        var advertisingID: String?
        var trackingLimited: Bool?
        /// Keyed-hash pseudonyms of identifier attributes, per purpose.
        var telemetryPseudonyms: [String: [String]] = [:]
    }

    struct Consent: Encodable {
        var states: [String: String]
        var receipts: [ConsentReceipt]
    }

    struct StoredEvents: Encodable {
        var stored: Date
        var expires: Date?
        var purpose: Purpose
        var category: DataCategory
        var recipients: [RecipientID]
        var events: [TelemetryEventRecord]
    }

    struct QueuedPayload: Encodable {
        var recipient: RecipientID
        var purpose: Purpose
        var categories: [DataCategory]
        var created: Date
        var contentType: String
        var body: String
    }

    struct Image: Encodable {
        var file: String
        var item: MediaItem
    }

    // The core's parts, filled by the facade.
    var format = "steward.export/1"
    var generated: Date
    var appID: String
    var policyVersion: String
    var controller: Controller?
    var consent: Consent
    var queued: [QueuedPayload]
    var audit: [AuditEntry]
    var access: DataRights.AccessReport
    // The modules' parts, filled by each module's ``FacadeModule`` hooks.
    var identifiers = Identifiers()
    var permissionDecisions: [PermissionDecision] = []
    var telemetry: [StoredEvents] = []
    var crashReports: [CrashReport] = []
    var media: [Image] = []

    /// Items per kind.
    var counts: [String: Int] {
        [
            "consentReceipts": consent.receipts.count,
            "permissionDecisions": permissionDecisions.count,
            "telemetryEvents": telemetry.reduce(0) { $0 + $1.events.count },
            "queuedPayloads": queued.count,
            "crashReports": crashReports.count,
            "auditEntries": audit.count,
            "images": media.count,
        ]
    }
}

/// The human-readable summary of an export (`summary.md`).
enum ExportSummaryText {
    static func markdown(_ document: ExportDocument) -> String {
        let dates = ISO8601DateFormatter()
        func date(_ value: Date?) -> String { value.map { dates.string(from: $0) } ?? "—" }
        var lines: [String] = []
        lines.append("# What Steward holds about you")
        lines.append("")
        lines.append(
            "Exported \(date(document.generated)) from the app `\(document.appID)` (privacy policy version \(document.policyVersion))."
        )
        if let controller = document.controller {
            lines.append("Questions about your data: \(controller.name), \(controller.contact).")
        }
        lines.append(
            "The machine-readable version of everything below is `steward-export.json`; your images are in `media/`.")
        lines.append("")
        lines.append("## Identifiers")
        lines.append("")
        lines.append("- App-scoped device id: \(document.identifiers.appScopedID ?? "not available")")
        lines.append("- Installation id: \(document.identifiers.installationID ?? "not available")")
        lines.append(
            "- Advertising id: \(document.identifiers.advertisingID ?? "not available")\(document.identifiers.trackingLimited == true ? " (tracking limited: all zeros when sent)" : "")"
        )
        for (purpose, pseudonyms) in document.identifiers.telemetryPseudonyms.sorted(by: { $0.key < $1.key }) {
            lines.append("- Pseudonyms used for \(purpose): \(pseudonyms.count)")
        }
        lines.append("")
        lines.append("## Your consent")
        lines.append("")
        for (purpose, state) in document.consent.states.sorted(by: { $0.key < $1.key }) {
            lines.append("- \(purpose): \(state)")
        }
        lines.append(
            "- \(document.consent.receipts.count) consent receipt(s) recorded, the latest on \(date(document.consent.receipts.last.map { Date(timeIntervalSince1970: Double($0.timestamp) / 1000) }))"
        )
        lines.append("")
        lines.append("## Permission decisions")
        lines.append("")
        if document.permissionDecisions.isEmpty { lines.append("None.") }
        for decision in document.permissionDecisions {
            lines.append("- \(date(decision.date)): \(decision.permission) — \(decision.kind)")
        }
        lines.append("")
        lines.append("## Data held, per category")
        lines.append("")
        lines.append("| Category | Records | Since | Why | Kept for | May go to | Sent to |")
        lines.append("| --- | --- | --- | --- | --- | --- | --- |")
        for holding in document.access.categories {
            let kept = holding.retentionDays.map { $0 == 0 ? "not kept" : "\($0) days" } ?? "until you delete it"
            lines.append(
                "| \(holding.category) | \(holding.records) | \(date(holding.since)) | \(holding.purposes.map(\.rawValue).joined(separator: ", ")) | \(kept) | \(holding.recipients.map(\.rawValue).joined(separator: ", ")) | \(holding.disclosedTo.map(\.rawValue).joined(separator: ", ")) |"
            )
        }
        lines.append("")
        lines.append("## Usage events stored")
        lines.append("")
        let events = document.telemetry.reduce(0) { $0 + $1.events.count }
        lines.append(
            "\(events) event(s) in \(document.telemetry.count) batch(es); \(document.queued.count) payload(s) waiting to be sent."
        )
        lines.append("")
        lines.append("## Crash reports")
        lines.append("")
        if document.crashReports.isEmpty { lines.append("None.") }
        for report in document.crashReports {
            let what = report.signal.map { $0.name } ?? report.error.map { $0.type } ?? "report"
            lines.append("- \(date(report.timestamp)): \(what) (\(report.id))")
        }
        lines.append("")
        lines.append("## Images")
        lines.append("")
        if document.media.isEmpty { lines.append("None.") }
        for image in document.media {
            lines.append(
                "- `\(image.file)`: \(image.item.kind.rawValue) from \(image.item.source.rawValue), for \(image.item.purpose)"
            )
        }
        lines.append("")
        lines.append("## What was sent, and to whom")
        lines.append("")
        for entry in document.audit where !entry.disclosed.isEmpty {
            for disclosure in entry.disclosed {
                lines.append(
                    "- \(entry.day): \(disclosure.count) item(s) of \(entry.category) for \(entry.purpose) to \(disclosure.recipient) (\(disclosure.legalBasis.rawValue))"
                )
            }
        }
        if !document.audit.contains(where: { !$0.disclosed.isEmpty }) { lines.append("Nothing was sent.") }
        lines.append("")
        return lines.joined(separator: "\n")
    }
}
