import Foundation
import StewardCore
import StewardTelemetry

extension DeletionRequest {
    /// The payload for `recipient` under the facade's configuration: the OTLP log record for the
    /// telemetry recipient (with the resource telemetry sends), the JSON document for the others.
    static func payload(
        _ request: DeletionRequest, to recipient: RecipientID, configuration: Steward.Configuration,
        plan: Steward.Plan, now: Date
    ) -> Payload {
        var resource: TelemetryResource?
        if recipient == configuration.telemetryRecipient {
            resource = TelemetryResource(
                serviceName: plan.serviceName, serviceVersion: configuration.release, osType: "linux",
                deviceID: request.deviceID)
            resource?.attributes = plan.resourceAttributes
        }
        return request.payload(to: recipient, resource: resource, appID: configuration.appID, now: now)
    }
}
