public import Foundation
public import StewardCore

/// Steward's deletion request, format version 1: what the user asked a recipient to delete,
/// after a withdrawal (scope `purposes`) or an erase (scope `all`).
///
/// One format in two encodings, both built here: an OTLP log record named
/// `steward.deletion_request` for the telemetry recipient (it travels with that recipient's
/// logs, to `/v1/logs`), and a JSON document (`application/json`) for every other recipient
/// whose manifest route is `request`. The fields and their names are the same in both;
/// Documentation/Backends.md ("Deletion requests") is the reference a backend parses against.
public struct DeletionRequest: Hashable, Sendable {
    /// The version of this format, sent in every request. A backend refuses versions it does
    /// not know rather than guessing.
    public static let formatVersion = 1
    /// The OTLP event name, and the JSON document's `type`.
    public static let eventName: EventName = "steward.deletion_request"

    /// What the request covers.
    public enum Scope: String, Codable, Hashable, Sendable {
        /// Everything the recipient holds of this installation (an erase).
        case all
        /// Only the data of ``DeletionRequest/purposes`` (a withdrawal).
        case purposes
    }

    /// What the request covers.
    public var scope: Scope
    /// The withdrawn purposes (with scope `all`, every purpose the recipient received data under).
    public var purposes: [Purpose]
    /// The data categories the recipient received under them.
    public var categories: [DataCategory]
    /// Every pseudonymous id (keyed hash) the recipient knows the user by; may be empty.
    public var pseudonymousIDs: [String]
    /// The app-scoped device id, when known (in OTLP: the resource's `device.id`).
    public var deviceID: String?
    /// When the user withdrew or asked for the erase.
    public var requested: Date

    /// A request; lists are sorted and deduplicated, so equal requests encode identically.
    public init(
        scope: Scope, purposes: [Purpose], categories: [DataCategory], pseudonymousIDs: [String] = [],
        deviceID: String? = nil, requested: Date
    ) {
        self.scope = scope
        self.purposes = Set(purposes).sorted()
        self.categories = Set(categories).sorted()
        self.pseudonymousIDs = Set(pseudonymousIDs).sorted()
        self.deviceID = deviceID
        self.requested = requested
    }

    /// The `Idempotency-Key`: the same for every retry of one request, and different for two
    /// requests that differ in scope, purposes, categories or time (a withdrawal's request and
    /// the one that follows a send accepted after it may fall in the same millisecond).
    public var idempotencyKey: String {
        let purposes = purposes.map(\.rawValue).joined(separator: "+")
        let categories = categories.map(\.rawValue).joined(separator: "+")
        return "deletion-\(scope.rawValue)-\(purposes)-\(categories)-\(requested.unixMilliseconds ?? 0)"
    }

    /// The OTLP log record (attributes `steward.deletion.version`, `steward.scope`,
    /// `steward.purposes`, `steward.categories`, `steward.pseudonymous_ids`; lists
    /// comma-separated; `timeUnixNano` is ``requested``).
    public func logRecord(observed: Date) -> TelemetryEventRecord {
        TelemetryEventRecord(
            name: Self.eventName, purpose: .privacyCompliance, category: categories.first ?? .usageEvents,
            // Saturating conversions: the dates come from the host's clock or the vault.
            timeUnixNano: requested.unixNanoseconds ?? 0, observedTimeUnixNano: observed.unixNanoseconds ?? 0,
            attributes: [
                "steward.deletion.version": .int(Int64(Self.formatVersion)),
                "steward.scope": .string(scope.rawValue),
                "steward.purposes": .string(purposes.map(\.rawValue).joined(separator: ",")),
                "steward.categories": .string(categories.map(\.rawValue).joined(separator: ",")),
                "steward.pseudonymous_ids": .string(pseudonymousIDs.joined(separator: ",")),
            ])
    }

    /// The JSON document: `type`, `version`, `scope`, `purposes`, `categories`,
    /// `pseudonymousIDs`, `appID`, `deviceID` (left out when unknown), `requested` (ISO 8601).
    public func jsonDocument(appID: String) -> [UInt8] {
        struct Body: Encodable {
            var type = DeletionRequest.eventName.rawValue
            var version = DeletionRequest.formatVersion
            var scope: Scope
            var purposes: [Purpose]
            var categories: [DataCategory]
            var pseudonymousIDs: [String]
            var appID: String
            var deviceID: String?
            var requested: Date
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        let body = Body(
            scope: scope, purposes: purposes, categories: categories, pseudonymousIDs: pseudonymousIDs,
            appID: appID, deviceID: deviceID, requested: requested)
        return Array((try? encoder.encode(body)) ?? Data())
    }

    /// The payload for `recipient`: the OTLP log record when `resource` is given (the telemetry
    /// recipient), the JSON document otherwise. Sent under `privacyCompliance`, with no consent
    /// needed (`Uploader/submitObligation(_:)`).
    public func payload(
        to recipient: RecipientID, resource: TelemetryResource?, appID: String, now: Date,
        encoder: OTLPEncoder = OTLPEncoder()
    ) -> Payload {
        if let resource {
            let body = encoder.logs(resource: resource, scope: Telemetry.scope, records: [logRecord(observed: now)])
            return Payload(
                recipient: recipient, purpose: .privacyCompliance, categories: categories,
                contentType: OTLPHTTP.contentType,
                headers: [Payload.pathHeader: OTLPHTTP.logsPath], body: body, idempotencyKey: idempotencyKey,
                created: now)
        }
        return Payload(
            recipient: recipient, purpose: .privacyCompliance, categories: categories, contentType: "application/json",
            body: jsonDocument(appID: appID), idempotencyKey: idempotencyKey, created: now)
    }
}
