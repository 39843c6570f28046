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
        // A bound for liveness only, generous: the delivery's tasks share the test process's
        // concurrency pool with every other suite's synchronous work (a CI run on two loaded
        // cores once took more than the 90-second default).
        #expect(await collector.waitForRequests(1, within: .seconds(600)), "delivered within the wait")
        #expect(collector.requests.first?.path == "/v1/logs")
        // Delivered and accepted: nothing stays queued.
        var queued = try steward.rights.accessReport().queued["telemetryBackend"] ?? 0
        for _ in 0..<100 where queued > 0 {
            try await Task.sleep(for: .milliseconds(50))
            queued = try steward.rights.accessReport().queued["telemetryBackend"] ?? 0
        }
        #expect(queued == 0)
    }

    /// By size: a full batch goes out without waiting for the interval (an hour here).
    @Test func aFullBatchIsDeliveredWithoutWaitingForTheInterval() async throws {
        let f = FacadeFixture()
        let collector = try LoopbackServer()
        defer { collector.stop() }
        var configuration = try f.configuration()
        configuration.transports = ["crashBackend": f.crashTransport]
        configuration.otlpEndpoint = collector.url
        configuration.automaticDelivery = .init(interval: .seconds(3_600))
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.analytics])
        // After the pass at start (which would queue a partial batch too):
        while steward.queuePasses.load(ordering: .acquiring) == 0 { try await Task.sleep(for: .milliseconds(10)) }
        // Seven events: less than a batch (the fixture's batch size is 8), nothing goes.
        for n in 0..<7 { _ = steward.telemetry.record("screen_view", attributes: ["screen": .string("s\(n)")]) }
        try await Task.sleep(for: .seconds(2))
        #expect(collector.requests.isEmpty, "a partial batch waits for the interval")
        _ = steward.telemetry.record("screen_view", attributes: ["screen": .string("s7")])
        #expect(
            await collector.waitForRequests(1, within: .seconds(600)),
            "the full batch went without waiting for the hour (a liveness bound, see above)")
        #expect(collector.requests.first?.path == "/v1/logs")
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
