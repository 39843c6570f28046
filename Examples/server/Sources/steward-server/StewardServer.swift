import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import ServiceLifecycle
import Steward
import StewardLogging
import StewardMetrics
import StewardServiceLifecycle
import StewardTracing
import UnixSignals

/// The example server: Steward started over a data folder (its vault key in the store the
/// machine offers, said on standard error), swift-log, swift-metrics and tracing bootstrapped
/// with Steward's bridges and swift-otel's tracer (``ServerTracing``), and a Hummingbird
/// application run beside ``StewardService`` and the tracer in one `ServiceGroup` that shuts
/// down gracefully on SIGTERM or SIGINT.
@main
struct StewardServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steward-server",
        abstract: "A small HTTP server reporting its failures, requests and metrics through Steward.",
        discussion: """
            The first line on standard output is 'listening on HOST:PORT' once the server accepts \
            connections. SIGTERM or SIGINT stops it gracefully: requests under way finish, then Steward \
            stores what it holds and delivers, under consent, for up to --shutdown-bound seconds.
            """)

    @Option(help: "The address to listen on.")
    var host = "127.0.0.1"

    @Option(help: "The port to listen on; 0 picks a free one (the first line on standard output says which).")
    var port = 8080

    @Option(help: "Steward's data folder (default: $XDG_DATA_HOME/steward/org.example.steward-server).")
    var dataDir: String?

    @Option(help: "A privacy manifest (JSON) to enforce instead of the bundled server-manifest.json.")
    var manifest: String?

    @Option(
        help:
            "The OTLP/HTTP collector telemetry goes to (https, or http on loopback). Default: the OTEL_EXPORTER_OTLP_ENDPOINT variable, else queued in the vault."
    )
    var otlpEndpoint: String?

    @Option(
        help:
            "The Sentry (or GlitchTip) DSN crash and error reports go to (https, or http on loopback). Default: queued in the vault."
    )
    var sentryDSN: String?

    @Option(help: "How long, in seconds, a graceful shutdown may deliver before Steward closes.")
    var shutdownBound = 5

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be 0…65535, not \(port)") }
        guard (0...600).contains(shutdownBound) else {
            throw ValidationError("--shutdown-bound must be 0…600 seconds, not \(shutdownBound)")
        }
    }

    func run() async throws {
        let steward = try startSteward()
        if let steward {
            // Which store keeps the vault key (Keys.md): read by operators and by the tests.
            FileHandle.standardError.write(Data("steward key store: \(steward.keyStore)\n".utf8))
        }
        bootstrap(steward)
        let tracing = try ServerTracing.bootstrap()
        let logger = Logger(label: "steward-server")
        let (host, port) = (self.host, self.port)
        let application = Application(
            router: Routes.router(steward: steward),
            configuration: .init(address: .hostname(host, port: port), serverName: "steward-server"),
            onServerRunning: { channel in
                // Read by scripts and tests: the port actually bound when --port is 0.
                let line = "listening on \(host):\(channel.localAddress?.port ?? port)\n"
                FileHandle.standardOutput.write(Data(line.utf8))
            },
            logger: logger)
        // A graceful shutdown runs through the services last to first: the server stops
        // accepting and finishes its requests, then Steward stores and delivers what they left,
        // then the tracer ends.
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: tracing)]
        if let steward {
            services.append(.init(service: StewardService(steward, shutdownBound: .seconds(shutdownBound))))
        }
        services.append(.init(service: application))
        let group = ServiceGroup(
            configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }

    /// Steward over the data folder, or nil when it cannot start for a reason of the machine's
    /// (another process holds the folder, the key changed): the server then runs without it, as
    /// Facade.md advises. A configuration that is wrong (a bad manifest, DSN or endpoint) stops
    /// the server with every problem listed.
    private func startSteward() throws -> Steward? {
        var configuration = Steward.Configuration(
            appID: "org.example.steward-server", manifest: try ServerManifest.load(path: manifest),
            dataDirectory: dataDir)
        // A server: no device identifiers and no permission prompts.
        configuration.modules = [.crash, .telemetry]
        configuration.sentryDSN = sentryDSN
        if let otlpEndpoint {
            guard let url = URL(string: otlpEndpoint), url.host != nil else {
                throw ValidationError("--otlp-endpoint is not a URL with a host: \(otlpEndpoint)")
            }
            configuration.otlpEndpoint = url
        }
        // Steward's own diagnostics (a batch delivered, a retry) to standard error.
        configuration.logger = Logger(label: "steward") { StreamLogHandler.standardError(label: $0) }
        let started = Result { () throws(StewardError) in try Steward.start(configuration) }
        switch started {
        case .success(let steward):
            return steward
        case .failure(let error) where error.code == .invalidConfiguration:
            throw error
        case .failure(let error):
            FileHandle.standardError.write(Data("steward-server: running without Steward: \(error)\n".utf8))
            return nil
        }
    }

    /// swift-log, swift-metrics and tracing through Steward's bridges (or standard error alone
    /// without Steward). Once per process, before any `Logger` or metric is made; the tracer
    /// itself is ``ServerTracing``'s.
    private func bootstrap(_ steward: Steward?) {
        guard let steward else {
            LoggingSystem.bootstrap(StreamLogHandler.standardError)
            return
        }
        let options = StewardLogHandler.Options(
            breadcrumbLevel: .info, reportLevel: .error, event: "http_log", eventLevel: .warning)
        LoggingSystem.bootstrap { label in
            MultiplexLogHandler([
                StreamLogHandler.standardError(label: label),
                StewardLogHandler(label: label, steward: steward, options: options),
            ])
        }
        MetricsSystem.bootstrap(StewardMetricsFactory(steward: steward))
        // Span ids of the request (TracingMiddleware) on breadcrumbs, reports and records, read
        // at each call through the tracer InstrumentationSystem is bootstrapped with (ServerTracing).
        StewardTracing.install()
    }
}
