import Foundation
import StewardCore
import StewardTelemetry

extension DeletionRequest {
    /// The payload for `recipient` under the facade's configuration: the OTLP log record for the
    /// telemetry recipient (with the resource telemetry sends), the JSON document for the others.
    static func payload(
        _ request: DeletionRequest, to recipient: RecipientID, configuration: Steward.Configuration,
        serviceName: String, now: Date
    ) -> Payload {
        let resource =
            recipient == configuration.telemetryRecipient
            ? TelemetryResource(
                serviceName: serviceName, serviceVersion: configuration.release, osType: "linux",
                deviceID: request.deviceID)
            : nil
        return request.payload(to: recipient, resource: resource, appID: configuration.appID, now: now)
    }
}
