import Foundation
import StewardCore
@testable import StewardHTTP
import StewardTesting
import Testing

/// Timeouts and clocks from outside the transport at their most hostile: clamped, never a trap.
/// `swift test --filter StewardHTTPTests.OutsideValueTests`.
@Suite struct OutsideValueTests {
    @Test(arguments: [Duration(attoseconds: .max), .seconds(Int64.max), .seconds(Int64.max) + .seconds(1)])
    func anAbsurdTimeoutIsClampedToLibcurlsLimitAndTheSendGoesThrough(_ timeout: Duration) async throws {
        let server = try LoopbackServer()
        defer { server.stop() }
        let configuration = HTTPTransport.Configuration(
            connectTimeout: timeout, timeout: timeout, usesEnvironmentProxies: false)
        let transport = try HTTPTransport(endpoint: server.url, configuration: configuration)
        #expect(await transport.send(samplePayload()) == .accepted)
    }

    @Test(
        arguments: [
            (Duration(attoseconds: .max), Int(Int32.max)), (.seconds(Int64.max), Int(Int32.max)),
            (.seconds(30 * 86_400), Int(Int32.max)),
            (.seconds(30), 30_000), (.milliseconds(1), 1), (.microseconds(1_500), 2), (Duration(attoseconds: 1), 1),
        ] as [(Duration, Int)])
    func timeoutsBecomeWholeMillisecondsRoundedUpWithinLibcurlsRange(_ duration: Duration, _ milliseconds: Int) {
        #expect(HTTPTransport.milliseconds(duration) == milliseconds)
    }

    @Test(arguments: [Double.nan, .infinity, -.infinity, 1e17])
    func aRetryAfterDateIsResolvedWhateverTheClockShows(_ seconds: Double) async throws {
        let server = try LoopbackServer(replies: [
            .respond(status: 503, headers: ["Retry-After: Wed, 21 Oct 2015 07:28:00 GMT"], body: [])
        ])
        defer { server.stop() }
        let transport = try HTTPTransport(
            endpoint: server.url, configuration: HTTPTransport.Configuration(usesEnvironmentProxies: false),
            wallClock: FixedWallClock(now: Date(timeIntervalSince1970: seconds)))
        guard case .retry(let after) = await transport.send(samplePayload()) else {
            Issue.record("a 503 is retried")
            return
        }
        #expect(after.map { $0 >= .zero && $0 <= .seconds(RetryAfter.maximumSeconds) } ?? true)
    }
}
