import Foundation
@testable import Steward
import StewardTesting
import Synchronization
import Testing

extension StewardFacadeTests {
    /// A host that only calls `Steward.start` has its data delivered: no `send()`.
    @Test func withoutASendCallTheEventsReachALoopbackCollector() async throws {
        let f = FacadeFixture()
        let collector = try LoopbackServer()
        defer { collector.stop() }
        var configuration = try f.configuration()
        configuration.transports = ["crashBackend": f.crashTransport]
        configuration.otlpEndpoint = collector.url
        configuration.automaticDelivery = .init(interval: .seconds(1))
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.analytics])
        #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .recorded)
        #expect(await collector.waitForRequests(1), "delivered within the wait")
        #expect(collector.requests.first?.path == "/v1/logs")
        // Delivered and accepted: nothing stays queued.
        var queued = try steward.rights.accessReport().queued["telemetryBackend"] ?? 0
        for _ in 0..<100 where queued > 0 {
            try await Task.sleep(for: .milliseconds(50))
            queued = try steward.rights.accessReport().queued["telemetryBackend"] ?? 0
        }
        #expect(queued == 0)
    }

    @Test func theAutomaticDeliveryHoldsWhatConsentHoldsAndStopsWithTheInstance() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.automaticDelivery = .init(interval: .seconds(1))
        let steward = try Steward.start(configuration)
        // Pending: kept under the pending policy, never sent.
        _ = steward.telemetry.record("screen_view", attributes: ["screen": .string("home")])
        try await Task.sleep(for: .seconds(2.5))
        #expect(f.telemetryTransport.payloads.isEmpty, "nothing of a pending purpose goes out")
        steward.stop()
        #expect(steward.automaticDeliveryTask.withLock { $0 } == nil, "stop ends the background delivery")
    }
}

extension StewardFacadeTests {
    /// The facade watches the kernel's link events when a transport needs the network, unless
    /// the host turns the pause off; a transport of files or loopback needs none. (The pause
    /// itself runs on a veth pair in LinkEventsTests, over the same uploader code.)
    @Test func theOfflinePauseWatchesTheNetworkOnlyWhenATransportNeedsIt() throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        do {
            let steward = try Steward.start(configuration)
            defer { steward.stop() }
            #expect(steward.delivery.network == nil, "recording transports need no network")
        }
        f.telemetryTransport.networkNeed = .hosts(["198.18.0.1"])
        do {
            let steward = try Steward.start(configuration)
            defer { steward.stop() }
            let network = try #require(steward.delivery.network, "an endpoint off this machine is watched")
            #expect(network.canReach(.hosts(["127.0.0.1"])))
        }
        configuration.pausesWhileOffline = false
        do {
            let steward = try Steward.start(configuration)
            defer { steward.stop() }
            #expect(steward.delivery.network == nil, "the host turned the pause off")
        }
    }
}
