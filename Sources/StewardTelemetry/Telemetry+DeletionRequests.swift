import Foundation
public import StewardCore
import Synchronization

extension Telemetry {
    /// The event name of a deletion request (``DeletionRequest/eventName``).
    public static let deletionRequestEvent: EventName = DeletionRequest.eventName

    /// Who may hold the data of `request`'s purpose, with the categories each got: the
    /// recipients of the categories its events fill, and every recipient the audit ledger shows
    /// received data under it (metrics included) — limited to
    /// ``deletionRequestRecipients`` when set.
    func owed(_ request: Anonymiser.DeletionRequest) -> [RecipientID: Set<DataCategory>] {
        var received: [RecipientID: Set<DataCategory>] = [:]
        for category in Set(manifest.events.filter({ $0.purpose == request.purpose }).map(\.category)) {
            for recipient in manifest.declaration(of: category)?.recipients ?? [] {
                received[recipient, default: []].insert(category)
            }
        }
        for entry in audit?.entries() ?? [] where entry.purpose == request.purpose {
            for disclosure in entry.disclosed where disclosure.count > 0 {
                received[disclosure.recipient, default: []].insert(entry.category)
            }
        }
        if let only = deletionRequestRecipients.withLock({ $0 }) {
            received = received.filter { only.contains($0.key) }
        }
        return received
    }

    /// Queues, for `uploader`'s recipient, the deletion request of every purpose withdrawn
    /// after having been granted: a log record carrying each pseudonymous id used under the
    /// purpose, sent under the legal obligation to honour the withdrawal (no consent needed),
    /// retried by the uploader until accepted.
    func submitDeletionRequests(to uploader: Uploader, resource: TelemetryResource, encoder: OTLPEncoder) throws {
        for request in anonymiser.pendingDeletionRequests {
            let received = owed(request)
            let recipients = Set(received.keys)
            if recipients.isEmpty {
                // No recipient of telemetry's may hold the purpose's data: nothing to ask.
                anonymiser.deletionRequestQueued(request, to: uploader.recipient, of: [])
                continue
            }
            guard let mineSet = received[uploader.recipient], request.queuedTo?.contains(uploader.recipient) != true
            else { continue }
            // `withdrawn` is read back from the vault: the request's conversions saturate.
            let deletion = DeletionRequest(
                scope: .purposes, purposes: [request.purpose], categories: Array(mineSet),
                pseudonymousIDs: request.pseudonyms, deviceID: resource.deviceID, requested: request.withdrawn)
            let payload = deletion.payload(
                to: uploader.recipient, resource: resource, appID: resource.serviceName,
                now: clock.checkedNow, encoder: encoder)
            if case .dropped = try uploader.submitObligation(payload) { continue }
            anonymiser.deletionRequestQueued(request, to: uploader.recipient, of: recipients)
        }
    }
}
