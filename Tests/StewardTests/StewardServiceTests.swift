import Foundation
import Logging
import ServiceLifecycle
@testable import Steward
import StewardServiceLifecycle
import StewardTesting
import Testing

/// Steward in a ServiceGroup: the group's graceful shutdown stores, delivers and closes. (An
/// extension of the facade's serialized suite: one Steward runs per process.)
extension StewardFacadeTests {
    @Test func aGracefulShutdownOfTheServiceGroupDeliversWhatIsHeldAndClosesSteward() async throws {
        let f = FacadeFixture()
        let transport = f.telemetryTransport
        let steward = try Steward.start(try f.configuration())
        try steward.consent.grant([.analytics])
        #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .recorded)

        let group = ServiceGroup(
            configuration: .init(
                services: [.init(service: StewardService(steward, shutdownBound: .seconds(30)))],
                logger: Logger(label: "steward-service-tests")))
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(200))
        #expect(steward.isRunning)
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!steward.isRunning, "the graceful shutdown closed Steward")
        #expect(transport.acceptedPayloads.count == 1, "the event held in memory was delivered on the way out")
    }

    @Test func cancellingTheServiceGroupStoresAndClosesWithoutSending() async throws {
        let f = FacadeFixture()
        let transport = f.telemetryTransport
        let steward = try Steward.start(try f.configuration())
        try steward.consent.grant([.analytics])
        _ = steward.telemetry.record("screen_view", attributes: ["screen": .string("home")])
        let group = ServiceGroup(
            configuration: .init(services: [.init(service: StewardService(steward))], logger: Logger(label: "t")))
        let running = Task { try await group.run() }
        try await Task.sleep(for: .milliseconds(200))
        running.cancel()
        _ = try? await running.value
        #expect(!steward.isRunning)
        #expect(transport.payloads.isEmpty, "cancellation sends nothing")
        // Stored, not lost: the next start finds the event.
        let next = try Steward.start(try f.configuration())
        defer { next.stop() }
        let held = try next.rights.accessReport().categories.first { $0.category == "usageEvents" }?.records ?? 0
        #expect(held == 1)
    }
}
