public import Foundation
import StewardCore

/// The OpenTelemetry exporter settings given through environment variables, read as the
/// specification's "OTLP Exporter Configuration" says, with Steward's privacy rules on top.
/// `Steward.start` applies them; a host that builds its own transport reads them here.
///
/// - `OTEL_EXPORTER_OTLP_ENDPOINT` is a base URL: `/v1/logs` and `/v1/metrics` are appended
///   to its path. `OTEL_EXPORTER_OTLP_LOGS_ENDPOINT` and `_METRICS_ENDPOINT` are used as they
///   are.
/// - `_HEADERS` (`name=value,name2=value2`, percent-decoded), `_TIMEOUT` (milliseconds),
///   `_COMPRESSION` (`gzip` or `none`), `_CERTIFICATE` (a CA bundle), `_CLIENT_KEY`,
///   `_CLIENT_CERTIFICATE`: the general variable, then the signal's own
///   (`OTEL_EXPORTER_OTLP_LOGS_HEADERS`...) over it.
/// - `_PROTOCOL`: Steward speaks OTLP/HTTP with JSON, so only `http/json` is accepted; `grpc` or
///   `http/protobuf` is a problem, never silently ignored.
/// - `OTEL_SERVICE_NAME`, else a `service.name` in `OTEL_RESOURCE_ATTRIBUTES`, names the
///   service. The other resource attributes are kept, except those that identify a person, a
///   host or a device, those Steward sets itself, and any whose value holds an identifier of
///   this device: each is a problem naming the key.
///
/// Every problem is listed in ``problems``; none quotes a header value (a secret) or a refused
/// attribute's value.
///
/// ```swift
/// let otlp = OTLPEnvironment(reading: ProcessInfo.processInfo.environment)
/// guard otlp.problems.isEmpty else { throw MyError.badEnvironment(otlp.problems) }
/// if let endpoint = otlp.logs.endpoint { /* make a transport with otlp.logs.headers ... */ }
/// ```
public struct OTLPEnvironment: Hashable, Sendable {
    /// One signal's settings, each nil when the environment does not set it.
    public struct Signal: Hashable, Sendable {
        /// The full URL the signal's requests go to.
        public var endpoint: URL?
        /// Header fields (secrets: never shown).
        public var headers: [String: String] = [:]
        /// The whole request's timeout.
        public var timeout: Duration?
        /// Whether bodies are gzip-compressed.
        public var compresses: Bool?
        /// A CA bundle to trust instead of the system store.
        public var certificatePath: String?
        /// A client certificate (mutual TLS).
        public var clientCertificatePath: String?
        /// The client certificate's private key.
        public var clientKeyPath: String?
    }

    /// Logs (`/v1/logs`: Steward's events and deletion requests).
    public var logs = Signal()
    /// Metrics (`/v1/metrics`).
    public var metrics = Signal()
    /// `service.name`, when the environment sets it.
    public var serviceName: String?
    /// The resource attributes kept.
    public var resourceAttributes: [String: String] = [:]
    /// What cannot be used, one sentence each.
    public var problems: [String] = []

    /// The resource keys Steward sets itself (`service.name` excepted: it may be renamed).
    public static let stewardResourceKeys: Set<String> = [
        "device.id", "device.model.identifier", "host.arch", "os.type", "os.version", "service.version",
    ]

    /// Resource keys that identify a person, a host or a device: refused, with every key that
    /// starts with one of them (`process.command` refuses `process.command_line` too).
    public static let identifyingResourceKeys = [
        "user.", "enduser.", "host.name", "host.id", "host.ip", "host.mac", "device.", "client.", "network.",
        "net.", "k8s.pod.uid", "k8s.node.uid", "container.id", "process.pid", "process.command",
        "process.owner", "process.executable.path", "session.", "geo.", "cloud.account.id", "cloud.resource_id",
        "aws.log", "faas.instance", "service.instance.id",
    ]

    /// The longest variable value read (64 KiB); a longer one is a problem.
    public static let maximumValueLength = 64 * 1024

    /// Reads the variables of `environment` (other names are ignored).
    public init(reading environment: [String: String]) {
        var problems: [String] = []
        func note(_ problem: String) { if !problems.contains(problem) { problems.append(problem) } }
        func value(_ name: String) -> String? {
            guard let raw = environment[name] else { return nil }
            guard raw.utf8.count <= Self.maximumValueLength else {
                note("\(name): longer than \(Self.maximumValueLength) bytes")
                return nil
            }
            let trimmed = raw.trimmingCharacters(in: .whitespaces)
            return trimmed.isEmpty ? nil : trimmed
        }
        func url(_ name: String) -> URL? {
            guard let text = value(name) else { return nil }
            // The text is not quoted: a URL may carry user:password@.
            guard let url = URL(string: text), let scheme = url.scheme, !scheme.isEmpty, url.host != nil else {
                note("\(name): not a URL with a scheme and a host")
                return nil
            }
            guard url.query == nil, url.fragment == nil, url.user == nil, url.password == nil else {
                note(
                    "\(name): a URL with a query, a fragment or credentials; give the collector's URL alone (credentials go in _HEADERS)"
                )
                return nil
            }
            return url
        }
        for name in [
            "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        ] {
            if let protocolName = value(name), protocolName != "http/json" {
                note(
                    "\(name)=\(Self.printable(protocolName)): Steward sends OTLP over HTTP as JSON only; set it to http/json or unset it"
                )
            }
        }
        let base = url("OTEL_EXPORTER_OTLP_ENDPOINT")
        for (signal, path) in [("LOGS", OTLPHTTP.logsPath), ("METRICS", OTLPHTTP.metricsPath)] {
            var settings = Signal()
            settings.endpoint =
                url("OTEL_EXPORTER_OTLP_\(signal)_ENDPOINT") ?? base.map { Self.appending(path, to: $0) }
            for prefix in ["OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_\(signal)_"] {
                if let text = value(prefix + "HEADERS") {
                    // The signal's own variable takes precedence over the general one as a
                    // whole (the specification's rule for every per-signal variable).
                    if prefix != "OTEL_EXPORTER_OTLP_" { settings.headers = [:] }
                    if let pairs = Self.pairs(text) {
                        for (name, headerValue) in pairs {
                            settings.headers.setHeader(name, headerValue)
                        }
                    } else {
                        // An entry may hold a secret: only the variable is named.
                        note("\(prefix)HEADERS: an entry is not name=value (with percent-encoded values)")
                    }
                }
                if let text = value(prefix + "TIMEOUT") {
                    if let milliseconds = Int64(text), milliseconds > 0 {
                        settings.timeout = .milliseconds(milliseconds)
                    } else {
                        note("\(prefix)TIMEOUT: '\(Self.printable(text))' is not a positive number of milliseconds")
                    }
                }
                if let text = value(prefix + "COMPRESSION") {
                    switch text.lowercased() {
                    case "gzip": settings.compresses = true
                    case "none": settings.compresses = false
                    default: note("\(prefix)COMPRESSION: '\(Self.printable(text))' is neither gzip nor none")
                    }
                }
                if let path = value(prefix + "CERTIFICATE") { settings.certificatePath = path }
                if let path = value(prefix + "CLIENT_CERTIFICATE") { settings.clientCertificatePath = path }
                if let path = value(prefix + "CLIENT_KEY") { settings.clientKeyPath = path }
            }
            if signal == "LOGS" { logs = settings } else { metrics = settings }
        }
        serviceName = value("OTEL_SERVICE_NAME")
        if let name = serviceName, IdentifierFilter.current.contains(name) {
            note("OTEL_SERVICE_NAME holds an identifier of this device; give the service's name")
            serviceName = nil
        }
        if let text = value("OTEL_RESOURCE_ATTRIBUTES") {
            if let pairs = Self.pairs(text) {
                let filter = IdentifierFilter.current
                for (key, attribute) in pairs {
                    let shown = Self.printable(key)
                    if key == "service.name" {
                        if filter.contains(attribute) {
                            note("OTEL_RESOURCE_ATTRIBUTES: service.name holds an identifier of this device; remove it")
                        } else {
                            serviceName = serviceName ?? attribute
                        }
                    } else if Self.stewardResourceKeys.contains(key) {
                        note("OTEL_RESOURCE_ATTRIBUTES: \(shown) is set by Steward; remove it")
                    } else if Self.identifyingResourceKeys.contains(where: {
                        key.hasPrefix($0)
                    })
                        || filter.contains(attribute) || filter.isSecretKey(key)
                    {
                        note(
                            "OTEL_RESOURCE_ATTRIBUTES: \(shown) identifies a person, a host or a device (or its value does); Steward sends no such resource attribute; remove it"
                        )
                    } else {
                        resourceAttributes[key] = attribute
                    }
                }
            } else {
                note("OTEL_RESOURCE_ATTRIBUTES: an entry is not key=value (with percent-encoded values)")
            }
        }
        self.problems = problems
    }

    /// `name=value` pairs separated by commas, names and values percent-decoded and trimmed (the
    /// W3C Baggage form the specification uses); nil when an entry is malformed or a name empty.
    static func pairs(_ text: String) -> [(String, String)]? {
        var result: [(String, String)] = []
        for entry in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let equals = entry.firstIndex(of: "="),
                let name = String(entry[..<equals]).trimmingCharacters(in: .whitespaces).removingPercentEncoding,
                let value = String(entry[entry.index(after: equals)...]).trimmingCharacters(in: .whitespaces)
                    .removingPercentEncoding,
                !name.isEmpty
            else { return nil }
            result.append((name, value))
        }
        return result
    }

    /// `base` with `path` (`/v1/logs`) appended to its own path.
    package static func appending(_ path: String, to base: URL) -> URL {
        var text = base.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        return URL(string: text + path) ?? base
    }

    /// `text` for a message: at most 64 characters, control characters replaced.
    static func printable(_ text: String) -> String {
        let cut = text.count > 64 ? String(text.prefix(64)) + "…" : text
        return String(cut.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    }
}
