import Foundation
import StewardCore
@testable import StewardHTTP
import StewardTesting
import Synchronization
import Testing

/// A network namespace and a veth pair the test makes: one end here (198.18.N.1/30, from the
/// benchmarking range RFC 2544 sets aside), the other in the namespace (198.18.N.2/30). Setting
/// the namespace's end down takes the carrier from this end: the kernel reports it, and routes
/// to the peer lead over a link without carrier. Needs root and iproute2 (the bootstrap script
/// installs it); removed with ``remove()``.
final class VethLink: Sendable {
    static let ip =
        ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        } ?? "/usr/sbin/ip"

    /// Whether this machine lets the test make namespaces: root, iproute2, and a namespace that
    /// can be made and removed.
    static let available: Bool = {
        guard geteuid() == 0, FileManager.default.isExecutableFile(atPath: ip) else { return false }
        let probe = "stwprobe\(getpid())"
        guard (try? run(ip, ["netns", "add", probe])) != nil else { return false }
        _ = try? run(ip, ["netns", "del", probe])
        return true
    }()

    let namespace: String
    let localName: String
    let peerName: String
    let localAddress: String
    let peerAddress: String

    init() throws {
        let tag = String(UInt32.random(in: 0..<0xFF_FFFF), radix: 16)
        namespace = "steward-\(tag)"
        localName = "stw\(tag)a"
        peerName = "stw\(tag)b"
        let subnet = Int.random(in: 0..<256)
        let host = 4 * Int.random(in: 0..<64)
        localAddress = "198.18.\(subnet).\(host + 1)"
        peerAddress = "198.18.\(subnet).\(host + 2)"
        do {
            try ip("netns", "add", namespace)
            try ip("link", "add", localName, "type", "veth", "peer", "name", peerName, "netns", namespace)
            try ip("addr", "add", localAddress + "/30", "dev", localName)
            try ip("link", "set", localName, "up")
            try ip("-n", namespace, "link", "set", "lo", "up")
            try ip("-n", namespace, "addr", "add", peerAddress + "/30", "dev", peerName)
            try ip("-n", namespace, "link", "set", peerName, "up")
        } catch {
            remove()
            throw error
        }
    }

    /// Sets the namespace's end up or down (this end gains or loses its carrier).
    func setPeer(up: Bool) throws {
        try ip("-n", namespace, "link", "set", peerName, up ? "up" : "down")
    }

    /// Removes the namespace (its end of the pair with it, and so the pair).
    func remove() {
        _ = try? run(Self.ip, ["netns", "del", namespace])
        _ = try? run(Self.ip, ["link", "del", localName])
    }

    private func ip(_ arguments: String...) throws {
        _ = try run(Self.ip, arguments)
    }
}

/// Counts the sends that reach the transport underneath.
final class CountingTransport: Transport {
    let base: any Transport
    let sends = Atomic<Int>(0)
    init(_ base: any Transport) { self.base = base }
    var networkNeed: NetworkNeed { base.networkNeed }
    func send(_ payload: Payload) async -> Delivery {
        sends.add(1, ordering: .relaxed)
        return await base.send(payload)
    }
}

/// Delivery pauses while the link to the recipient is down and resumes when the kernel reports
/// it back: a real veth pair, a real HTTPS server in the namespace, the kernel's netlink events.
@Suite(
    .serialized, .timeLimit(.minutes(2)),
    .enabled(
        if: VethLink.available && opensslPath != nil,
        "needs root, iproute2 and openssl (the bootstrap installs the tools)"))
struct LinkEventsTests {
    static func payload(_ n: Int) -> Payload {
        // s_server -www answers a request line starting with `GET `: the body carries one.
        Payload(
            recipient: "telemetryBackend", purpose: .analytics, categories: [.usageEvents],
            contentType: "text/plain", body: Array("GET / HTTP/1.0\r\n\r\n".utf8), idempotencyKey: "link-\(n)",
            created: Date())
    }

    /// Polls `condition` every 50 ms for up to `limit`.
    static func eventually(within limit: Duration = .seconds(20), _ condition: () -> Bool) async -> Bool {
        let clock = ContinuousClock()
        let end = clock.now + limit
        while clock.now < end {
            if condition() { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return condition()
    }

    @Test func aLinkGoingDownPausesDeliveryAndItsReturnResumesIt() async throws {
        let link = try VethLink()
        defer { link.remove() }
        let server = try TLSFixture(address: link.peerAddress, namespace: link.namespace)
        defer { server.stop() }
        let monitor = try NetworkMonitor()
        defer { monitor.close() }
        let f = try OTLPFixture()
        let http = try HTTPTransport(
            endpoint: server.url, configuration: HTTPSTransportTests.configuration(caBundlePath: server.caPath))
        #expect(http.networkNeed == .hosts([link.peerAddress]))
        let transport = CountingTransport(http)
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: f.manifest, audit: f.audit, network: monitor)
        let worker = Task { await uploader.run() }
        defer { worker.cancel() }

        // Link up: a payload goes out as soon as it is queued.
        #expect(monitor.canReach(.hosts([link.peerAddress])))
        try uploader.submit(Self.payload(1))
        #expect(await Self.eventually { uploader.pendingCount == 0 }, "delivered while the link is up")
        #expect(transport.sends.load(ordering: .relaxed) == 1)

        // The peer goes down: the kernel's event reaches the monitor, and the next payload waits
        // without a single attempt (and without a timer: nothing but an event could wake it).
        let eventsBefore = monitor.changeCount
        try link.setPeer(up: false)
        #expect(await Self.eventually { monitor.changeCount > eventsBefore }, "the kernel reported the carrier loss")
        #expect(!monitor.canReach(.hosts([link.peerAddress])))
        #expect(monitor.canReach(.hosts(["127.0.0.1"])), "loopback is not paused")
        try uploader.submit(Self.payload(2))
        try await Task.sleep(for: .seconds(1))
        #expect(transport.sends.load(ordering: .relaxed) == 1, "no attempt while the link is down")
        #expect(uploader.pendingCount == 1)
        let flush = await uploader.drain()
        #expect(flush.sends == 0 && flush.awaitingNetwork == 1, "\(flush)")

        // The peer comes back: the event alone resumes delivery.
        try link.setPeer(up: true)
        #expect(await Self.eventually { uploader.pendingCount == 0 }, "delivered once the link is back")
        #expect(transport.sends.load(ordering: .relaxed) == 2)
        #expect(f.audit.entries().contains { $0.category == .usageEvents && $0.disclosed.contains { $0.count == 2 } })
    }
}
