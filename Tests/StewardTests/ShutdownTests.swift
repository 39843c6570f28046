import Foundation
@testable import Steward
import StewardTesting
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A TCP listener on 127.0.0.1 that never accepts: the kernel completes connections into its
/// backlog and takes the request bytes, and no answer ever comes (a collector that hangs).
private final class SilentListener: Sendable {
    let port: UInt16
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard fd >= 0, bound else {
            close(fd)
            throw POSIXError(.EADDRNOTAVAIL)
        }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }
}

extension StewardFacadeTests {
    @Test func shutdownWithinABoundAgainstAHangingCollectorReturnsAndLosesNothing() async throws {
        let f = FacadeFixture()
        let listener = try SilentListener()
        var configuration = try f.configuration()
        configuration.transports = ["crashBackend": f.crashTransport]
        configuration.otlpEndpoint = URL(string: "http://127.0.0.1:\(listener.port)/v1/logs")
        // Without the bound, one request alone would wait a minute for its answer.
        configuration.http.timeout = .seconds(60)
        let steward = try Steward.start(configuration)
        try steward.consent.grant([.analytics])
        #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .recorded)

        let clock = ContinuousClock()
        let started = clock.now
        let report = await steward.shutdown(within: .seconds(1))
        let took = started.duration(to: clock.now)
        // The bound plus the second a cancelled transfer may take, with room for a loaded
        // machine; far below the minute the request would otherwise wait.
        #expect(took < .seconds(20), "shutdown took \(took)")
        #expect(report.eventsQueued == 1, "the event held in memory was stored and queued")
        #expect(report.uploads["telemetryBackend"]?.accepted == 0)
        #expect(!steward.isRunning)
        #expect(await steward.shutdown(within: .seconds(1)).problems == ["Steward was stopped"])

        // Nothing was lost: the next start finds the event queued for its recipient.
        var offline = try f.configuration()
        offline.transports = [:]
        let next = try Steward.start(offline)
        defer { next.stop() }
        #expect(try next.rights.accessReport().queued["telemetryBackend"] == 1)
    }

    @Test func shutdownDeliversWhatIsQueuedThenStops() async throws {
        let f = FacadeFixture()
        let steward = try Steward.start(try f.configuration())
        try steward.consent.grant([.analytics])
        #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .recorded)
        let report = await steward.shutdown(within: .seconds(30))
        #expect(report.uploads["telemetryBackend"]?.accepted == 1)
        #expect(f.telemetryTransport.payloads.count == 1, "delivered before the instance closed")
        #expect(!steward.isRunning)
        // The process was released: start works again.
        let next = try Steward.start(try f.configuration())
        next.stop()
    }
}

extension StewardFacadeTests {
    private struct CheckoutFailed: Error {}

    @Test func crashReportsCarryEnvironmentAndDistAndTheHostsFilterRedactsOrDrops() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.environment = "staging"
        configuration.dist = "build-42"
        configuration.beforeQueueingCrashReport = { report in
            guard report.error?.message.contains("drop me") != true else { return nil }
            var redacted = report
            redacted.error?.message = "(redacted by the host)"
            return redacted
        }
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.crashReporting])
        let kept = steward.crashes.report(error: CheckoutFailed(), message: "order 1234 for ana failed")
        steward.crashes.report(error: CheckoutFailed(), message: "drop me")
        let report = await steward.send()
        #expect(report.crashReportsQueued == 1)
        let bodies = f.crashTransport.payloads.map { String(decoding: $0.body, as: UTF8.self) }
        let event = try #require(bodies.first { $0.contains(kept) })
        #expect(event.contains(#""environment":"staging""#) && event.contains(#""dist":"build-42""#), "\(event)")
        #expect(event.contains("(redacted by the host)") && !event.contains("ana"))
        #expect(!bodies.contains { $0.contains("drop me") })
        // The stored report stays as recorded (the user's export shows it).
        #expect(try steward.crashes.storedReports().contains { $0.error?.message.contains("ana") == true })
        let dropped = steward.audit.entries().filter { $0.category == .crashDiagnostics }
        #expect(dropped.contains { $0.dropped[.filtered] == 1 }, "\(dropped)")
    }

    @Test(arguments: [true, false])
    func theFatalErrorMessageSettingReachesTheCrashReporter(_ captures: Bool) throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        #expect(configuration.capturesFatalErrorMessages, "on by default")
        configuration.capturesFatalErrorMessages = captures
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        #expect(steward.crashes.configuration.capturesFatalErrorMessages == captures)
    }

    @Test func aCrashSampleRateOfZeroSendsNoReportAndCountsEachAsSampledOut() async throws {
        let f = FacadeFixture()
        var configuration = try f.configuration()
        configuration.crashSampleRate = 0
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.crashReporting])
        steward.crashes.report(error: CheckoutFailed())
        steward.crashes.report(error: CheckoutFailed())
        #expect(await steward.send().crashReportsQueued == 0)
        #expect(await steward.send().crashReportsQueued == 0, "a report left out is not offered again")
        #expect(
            !f.crashTransport.payloads.contains { String(decoding: $0.body, as: UTF8.self).contains("CheckoutFailed") })
        let entries = steward.audit.entries().filter { $0.category == .crashDiagnostics }
        #expect(entries.reduce(0) { $0 + ($1.dropped[.sampling] ?? 0) } == 2, "\(entries)")
    }

    @Test(arguments: [-0.1, 1.5, Double.nan, Double.infinity])
    func aCrashSampleRateOutsideZeroToOneIsAStartError(_ rate: Double) throws {
        var configuration = try FacadeFixture().configuration()
        configuration.crashSampleRate = rate
        #expect { try Steward.start(configuration) } throws: {
            ($0 as? StewardError)?.problems.contains { $0.hasPrefix("crashSampleRate") } == true
        }
    }
}
