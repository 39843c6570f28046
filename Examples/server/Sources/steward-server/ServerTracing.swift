import OTel
import ServiceLifecycle

/// The server's tracer: swift-otel's, bootstrapped as the process's `InstrumentationSystem`
/// tracer, so that `TracingMiddleware` opens a real span per request and ``StewardTracing``
/// reads its W3C `traceparent` onto Steward's breadcrumbs, reports and log records.
///
/// - A request carrying a `traceparent` header continues that trace (W3C Trace Context, the
///   only propagator); one without starts a new trace with random ids.
/// - Spans are not exported (exporter `none`): what leaves the server is what Steward sends,
///   under the user's consent, and the trace ids travel on those records. An OTLP span exporter
///   would send every request's span whatever the user chose.
/// - The `OTEL_*` variables are not read: `OTEL_TRACES_EXPORTER=otlp` would start that exporter,
///   `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` asks for the gRPC exporter this build leaves out (swift-otel
///   stops the process on that), and `OTEL_PROPAGATORS` could drop the W3C format Steward reads.
///
/// The service returned (the tracer and its span processor) must run in the server's
/// `ServiceGroup`, before the services that make spans, so that it stops after them.
enum ServerTracing {
    /// Bootstraps `InstrumentationSystem` with swift-otel's tracer. Once per process.
    ///
    /// - Returns: The tracer's background service (its span processor and no-op exporter).
    /// - Throws: `OTel.Configuration.Error` for a configuration swift-otel refuses (none is
    ///   expected: the configuration is fixed here).
    static func bootstrap() throws -> some Service {
        var configuration = OTel.Configuration.default
        configuration.serviceName = "steward-server"
        configuration.propagators = [.traceContext]
        configuration.traces.exporter = .none
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        // Problems only: its one start line ("Bootstrapping instrumentation system…") is not
        // the server's story.
        configuration.diagnosticLogLevel = .warning
        return try OTel.bootstrap(configuration: configuration, environment: [:])
    }
}
