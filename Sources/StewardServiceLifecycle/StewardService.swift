public import ServiceLifecycle
public import Steward

/// Steward as a `Service` of a swift-service-lifecycle `ServiceGroup`: a server (or any app
/// built on service groups) runs it next to its other services, and Steward shuts down with
/// them.
///
/// `run()` does the periodic work (telemetry held in memory stored every `flushInterval`,
/// expired data removed every `retentionInterval`) until the group shuts down; delivery runs on
/// its own meanwhile (`Steward.Configuration.automaticDelivery`, on by default; with it off,
/// nothing is sent until the shutdown's bounded delivery). On a graceful shutdown
/// (SIGTERM, when the group listens for it) it calls `Steward.shutdown(within:)`: what is
/// held in memory is stored, what is queued is delivered for up to ``shutdownBound``, and the
/// instance closes; what was not delivered stays queued for the next start. On cancellation it
/// stores and closes at once, sending nothing more.
///
/// A group shuts its services down last to first: list this service before the server, so the
/// server's last requests are logged and counted before Steward closes.
///
/// ```swift
/// import Logging
/// import ServiceLifecycle
/// import Steward
/// import StewardServiceLifecycle
///
/// let steward = try Steward.start(configuration)
/// let group = ServiceGroup(
///     services: [StewardService(steward), server],
///     gracefulShutdownSignals: [.sigterm], logger: Logger(label: "app"))
/// try await group.run()
/// ```
public struct StewardService: Service {
    /// The instance this service runs and shuts down.
    public let steward: Steward
    /// How long a graceful shutdown may deliver before the instance closes.
    public var shutdownBound: Duration
    /// How often telemetry held in memory is stored.
    public var flushInterval: Duration
    /// How often expired data is removed.
    public var retentionInterval: Duration

    /// A service for `steward`, started already (by `Steward.start(_:)`).
    public init(
        _ steward: Steward, shutdownBound: Duration = .seconds(5), flushInterval: Duration = .seconds(30),
        retentionInterval: Duration = .seconds(3_600)
    ) {
        self.steward = steward
        self.shutdownBound = shutdownBound
        self.flushInterval = flushInterval
        self.retentionInterval = retentionInterval
    }

    /// Runs the periodic work until the group shuts down, then shuts Steward down: within
    /// ``shutdownBound`` on a graceful shutdown, at once on cancellation. Returns once the
    /// instance is closed; never throws.
    public func run() async throws {
        let steward = self.steward
        let (flush, retention) = (flushInterval, retentionInterval)
        await cancelWhenGracefulShutdown {
            await steward.runPeriodicWork(flushInterval: flush, retentionInterval: retention)
        }
        if Task.isCancelled {
            steward.stop()
        } else {
            await steward.shutdown(within: shutdownBound)
        }
    }
}
