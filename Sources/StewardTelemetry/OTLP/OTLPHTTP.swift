/// The fixed parts of OTLP/HTTP with the JSON encoding: the content type and the default paths.
///
/// The OTLP specification (opentelemetry-proto `docs/specification.md`, "OTLP/HTTP Request" and
/// "JSON Protobuf Encoding") requires `Content-Type: application/json` on JSON requests and
/// responses, and names `/v1/logs` and `/v1/metrics` as the default paths for
/// `ExportLogsServiceRequest` and `ExportMetricsServiceRequest` bodies.
///
/// ```swift
/// let url = collector + OTLPHTTP.logsPath          // "https://collector:4318/v1/logs"
/// headers["Content-Type"] = OTLPHTTP.contentType   // "application/json"
/// ```
public enum OTLPHTTP {
    /// `application/json`: the content type of OTLP/HTTP JSON requests and responses.
    public static let contentType = "application/json"
    /// `/v1/logs`: the default path for log records (Steward's events).
    public static let logsPath = "/v1/logs"
    /// `/v1/metrics`: the default path for metrics.
    public static let metricsPath = "/v1/metrics"
    /// 4318: the default OTLP/HTTP port.
    public static let defaultPort = 4318
}
