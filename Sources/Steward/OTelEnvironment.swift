import Foundation
import StewardCore
import StewardHTTP
import StewardTelemetry

/// The OpenTelemetry exporter settings a host may give through the environment, read as the
/// OpenTelemetry specification's "OTLP Exporter Configuration" says, with Steward's privacy
/// rules on top:
///
/// - `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: `/v1/logs` and `/v1/metrics` are appended.
///   `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` and `_METRICS_ENDPOINT` are used as they are.
/// - `_HEADERS` (`key=value,key2=value2`, percent-decoded), `_TIMEOUT` (milliseconds),
///   `_COMPRESSION` (`gzip` or `none`), `_CERTIFICATE` (a CA bundle), `_CLIENT_KEY`,
///   `_CLIENT_CERTIFICATE` (mutual TLS): the general variable, then the signal's own
///   (`OTEL_EXPORTER_OTLP_LOGS_HEADERS`...) on top of it.
/// - `_PROTOCOL`: Steward speaks OTLP/HTTP with JSON, so only `http/json` is accepted; `grpc`
///   or `http/protobuf` is a start error, never silently ignored.
/// - `OTEL_SERVICE_NAME` names the service (`service.name`, else the app id);
///   `OTEL_RESOURCE_ATTRIBUTES` adds resource attributes, except those that identify a person,
///   a host or a device (refused: a start error naming the key), those Steward sets itself, and
///   any whose value holds an identifier of this device.
///
/// What the host sets in code wins: `otlpEndpoint` over the endpoint variables, `otlpHeaders`
/// over `_HEADERS` per name, the rest of `http` where the variables are unset. Every problem is
/// reported at once, as a `Plan` problem; header values never appear in one.
struct OTelEnvironment {
    /// One signal's settings.
    struct Signal {
        /// The full URL requests go to.
        var endpoint: URL
        var http: HTTPTransport.Configuration
    }

    /// Logs and metrics, when an endpoint is known (from code or the environment).
    var logs: Signal?
    var metrics: Signal?
    /// `service.name`, when the environment sets it.
    var serviceName: String?
    /// Extra resource attributes.
    var resourceAttributes: [String: String] = [:]

    /// Resource keys Steward sets itself.
    static let stewardKeys: Set<String> = [
        "device.id", "device.model.identifier", "host.arch", "os.type", "os.version", "service.version",
    ]

    /// Resource key prefixes and keys that identify a person, a host or a device.
    static let identifyingPrefixes = [
        "user.", "enduser.", "host.name", "host.id", "host.ip", "host.mac", "device.", "client.", "network.",
        "net.", "k8s.pod.uid", "k8s.node.uid", "container.id", "process.pid", "process.command",
        "process.owner", "process.executable.path", "session.", "geo.", "cloud.account.id", "cloud.resource_id",
        "aws.log", "faas.instance", "service.instance.id",
    ]

    /// Reads `environment` over what `configuration` sets; problems are appended.
    static func read(
        _ environment: [String: String], configuration: Steward.Configuration, problems: inout [String]
    ) -> OTelEnvironment {
        var result = OTelEnvironment()
        func value(_ name: String) -> String? {
            guard let raw = environment[name]?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
            return raw
        }
        for name in [
            "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        ] {
            if let protocolName = value(name), protocolName != "http/json" {
                problems.append(
                    "\(name)=\(protocolName): Steward sends OTLP over HTTP as JSON only; set it to http/json or unset it"
                )
            }
        }
        var base = configuration.otlpEndpoint
        if base == nil, let text = value("OTEL_EXPORTER_OTLP_ENDPOINT") {
            if let url = URL(string: text), url.host != nil {
                base = url
            } else {
                problems.append("OTEL_EXPORTER_OTLP_ENDPOINT: '\(text)' is not a URL with a host")
            }
        }
        for (signal, path) in [("LOGS", OTLPHTTP.logsPath), ("METRICS", OTLPHTTP.metricsPath)] {
            var endpoint = base.map { Self.appending(path, to: $0) }
            let name = "OTEL_EXPORTER_OTLP_\(signal)_ENDPOINT"
            if configuration.otlpEndpoint == nil, let text = value(name) {
                if let url = URL(string: text), url.host != nil {
                    endpoint = url
                } else {
                    problems.append("\(name): '\(text)' is not a URL with a host")
                }
            }
            guard let endpoint else { continue }
            var http = configuration.http
            for prefix in ["OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_\(signal)_"] {
                apply(prefix, value, to: &http, problems: &problems)
            }
            // The host's headers in code win over the environment's, name by name.
            for (name, headerValue) in configuration.otlpHeaders {
                for existing in http.headers.keys where existing.lowercased() == name.lowercased() {
                    http.headers.removeValue(forKey: existing)
                }
                http.headers[name] = headerValue
            }
            let settings = Signal(endpoint: endpoint, http: http)
            if signal == "LOGS" { result.logs = settings } else { result.metrics = settings }
        }
        result.serviceName = value("OTEL_SERVICE_NAME")
        if let text = value("OTEL_RESOURCE_ATTRIBUTES") {
            switch Self.pairs(text) {
            case .failure(let entry):
                problems.append("OTEL_RESOURCE_ATTRIBUTES: '\(entry)' is not key=value (percent-encoded)")
            case .success(let pairs):
                let filter = IdentifierFilter.current
                for (key, attribute) in pairs {
                    if key == "service.name" {
                        result.serviceName = result.serviceName ?? attribute
                    } else if stewardKeys.contains(key) {
                        problems.append("OTEL_RESOURCE_ATTRIBUTES: \(key) is set by Steward; remove it")
                    } else if identifyingPrefixes.contains(where: { key == $0 || key.hasPrefix($0) })
                        || filter.contains(attribute) || filter.isSecretKey(key)
                    {
                        problems.append(
                            "OTEL_RESOURCE_ATTRIBUTES: \(key) identifies a person, a host or a device (or its value does); Steward sends no such resource attribute; remove it"
                        )
                    } else {
                        result.resourceAttributes[key] = attribute
                    }
                }
            }
        }
        return result
    }

    /// The settings of the variables named `prefix` + HEADERS, TIMEOUT, ... over `http`.
    private static func apply(
        _ prefix: String, _ value: (String) -> String?, to http: inout HTTPTransport.Configuration,
        problems: inout [String]
    ) {
        // The general variables are read once per signal: each problem is reported once.
        func note(_ problem: String) { if !problems.contains(problem) { problems.append(problem) } }
        if let text = value(prefix + "HEADERS") {
            switch pairs(text) {
            case .failure:
                // The entry may hold a secret: only the variable is named.
                note("\(prefix)HEADERS: an entry is not name=value (percent-encoded values)")
            case .success(let pairs):
                for (name, headerValue) in pairs {
                    for existing in http.headers.keys where existing.lowercased() == name.lowercased() {
                        http.headers.removeValue(forKey: existing)
                    }
                    http.headers[name] = headerValue
                }
            }
        }
        if let text = value(prefix + "TIMEOUT") {
            if let milliseconds = Int64(text), milliseconds > 0 {
                http.timeout = .milliseconds(milliseconds)
            } else {
                note("\(prefix)TIMEOUT: '\(text)' is not a positive number of milliseconds")
            }
        }
        if let text = value(prefix + "COMPRESSION") {
            switch text.lowercased() {
            case "gzip": http.compressesRequests = true
            case "none": http.compressesRequests = false
            default: note("\(prefix)COMPRESSION: '\(text)' is neither gzip nor none")
            }
        }
        if let path = value(prefix + "CERTIFICATE") { http.caBundlePath = path }
        if let path = value(prefix + "CLIENT_CERTIFICATE") { http.clientCertificatePath = path }
        if let path = value(prefix + "CLIENT_KEY") { http.clientKeyPath = path }
    }

    /// `key=value` pairs separated by commas, keys and values percent-decoded and trimmed (the
    /// W3C Baggage form the specification uses); the first malformed entry otherwise.
    static func pairs(_ text: String) -> Result<[(String, String)], PairError> {
        var result: [(String, String)] = []
        for entry in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let equals = entry.firstIndex(of: "="),
                let key = String(entry[..<equals]).trimmingCharacters(in: .whitespaces).removingPercentEncoding,
                let value = String(entry[entry.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
                    .removingPercentEncoding,
                !key.isEmpty
            else { return .failure(PairError(entry: String(entry.prefix(while: { $0 != "=" })))) }
            result.append((key, value))
        }
        return .success(result)
    }

    /// A malformed entry (its key part only: a value may be a secret).
    struct PairError: Error, CustomStringConvertible {
        var entry: String
        var description: String { entry }
    }

    /// `base` with `path` (`/v1/logs`) appended to its own path, as the specification appends the
    /// signal path to `OTEL_EXPORTER_OTLP_ENDPOINT`.
    static func appending(_ path: String, to base: URL) -> URL {
        var text = base.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return URL(string: text + path) ?? base
    }
}

/// The transport of the OTLP recipient that Steward makes: each signal (`/v1/logs`,
/// `/v1/metrics`, from the payload's path) to its own endpoint, with its own settings.
struct OTLPSignalTransport: Transport {
    let logs: HTTPTransport?
    let metrics: HTTPTransport?
    /// Called with each accepted payload (as queued, with its path) and the answer's body.
    var acceptedResponseHandler: (@Sendable (Payload, [UInt8]) -> Void)?

    func send(_ payload: Payload) async -> Delivery {
        let path = payload.headers[Payload.pathHeader]
        guard var transport = path == OTLPHTTP.metricsPath ? metrics : path == OTLPHTTP.logsPath ? logs : nil else {
            return .rejected(reason: "no OTLP endpoint for the path \(path ?? "(none)")")
        }
        var exact = payload
        exact.headers.removeValue(forKey: Payload.pathHeader)
        if let handler = acceptedResponseHandler {
            transport.acceptedResponseHandler = { _, body in handler(payload, body) }
        }
        return await transport.send(exact)
    }
}
