import Foundation
public import StewardCore
import Synchronization

extension Telemetry {
    /// The instrumentation scope Steward's records carry.
    public static let scope = (name: "org.steward.telemetry", version: StewardVersion.current)

    /// Stores what is in memory, then queues every stored batch for `uploader`'s recipient as
    /// an OTLP `/v1/logs` request (one per purpose and category), and removes the batches it
    /// queued. The uploader checks consent again when it sends.
    ///
    /// - Returns: How many events were queued.
    @discardableResult
    public func submit(to uploader: Uploader, resource: TelemetryResource) throws -> Int {
        try flush()
        let encoder = OTLPEncoder()
        try submitDeletionRequests(to: uploader, resource: resource, encoder: encoder)
        try anonymiser.save()
        var queued = 0
        // Batch by batch (the vault decrypts 256 records at a time), never the whole backlog in
        // memory: each batch leaves the collection as its payload is queued.
        try vault.forEachRecord(in: Self.collection) { record in
            // Batches whose category this recipient may not receive stay for their own recipient.
            guard manifest.declaration(of: record.category)?.recipients.contains(uploader.recipient) == true else {
                return
            }
            guard let events = BatchCoding.decode(record.data), !events.isEmpty else {
                try vault.remove(record.id, from: Self.collection)
                return
            }
            let key = "telemetry-\(record.id)"
            if uploader.isQueued(idempotencyKey: key) {
                // Handed over before a crash kept this copy: the outbox has it, not yet sent.
                try vault.remove(record.id, from: Self.collection)
                try vault.commit(collections: [Self.collection])
                return
            }
            let body = encoder.logs(resource: resource, scope: Self.scope, records: events)
            let payload = Payload(
                recipient: uploader.recipient, purpose: record.purpose, categories: [record.category],
                contentType: OTLPHTTP.contentType, headers: [Payload.pathHeader: OTLPHTTP.logsPath], body: body,
                idempotencyKey: key, created: record.created)
            // The batch leaves the telemetry collection once the outbox holds it durably, and
            // before the uploader can send it: a crash in between finds it queued (above),
            // never sent twice.
            let removeBatch = { [vault] in
                try vault.remove(record.id, from: Self.collection)
                try vault.commit(collections: [Self.collection])
            }
            switch try uploader.submit(payload, handedOver: removeBatch) {
            case .queued, .heldForConsent: queued += events.count
            case .dropped: try removeBatch()  // refused by consent or declaration: not kept either
            }
        }
        try vault.commit()
        return queued
    }
}
