import Foundation
import StewardCore
import StewardHTTP
import StewardTelemetry

/// The OTLP settings of the facade: the host's code (`otlpEndpoint`, `otlpHeaders`, `http`)
/// over the environment's (`OTLPEnvironment`, read from `otelEnvironment`). What the host sets
/// in code wins: `otlpEndpoint` over the endpoint variables, `otlpHeaders` over `_HEADERS` name
/// by name, the environment's other settings over `http`'s defaults.
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

    /// Reads `environment` under `configuration`; problems are appended.
    static func read(
        _ environment: [String: String], configuration: Steward.Configuration, problems: inout [String]
    ) -> OTelEnvironment {
        let otlp = OTLPEnvironment(reading: environment)
        problems += otlp.problems
        var result = OTelEnvironment(serviceName: otlp.serviceName, resourceAttributes: otlp.resourceAttributes)
        for (path, variables) in [(OTLPHTTP.logsPath, otlp.logs), (OTLPHTTP.metricsPath, otlp.metrics)] {
            let endpoint =
                configuration.otlpEndpoint.map { OTLPEnvironment.appending(path, to: $0) } ?? variables.endpoint
            guard let endpoint else { continue }
            var http = configuration.http
            // The environment's headers, then the host's own in code, which win name by name.
            for (name, value) in variables.headers.sorted(by: { $0.key < $1.key })
                + configuration.otlpHeaders.sorted(by: { $0.key < $1.key })
            {
                http.headers.setHeader(name, value)
            }
            if let timeout = variables.timeout { http.timeout = timeout }
            if let compresses = variables.compresses { http.compressesRequests = compresses }
            if let path = variables.certificatePath { http.caBundlePath = path }
            if let path = variables.clientCertificatePath { http.clientCertificatePath = path }
            if let path = variables.clientKeyPath { http.clientKeyPath = path }
            let signal = Signal(endpoint: endpoint, http: http)
            if path == OTLPHTTP.logsPath { result.logs = signal } else { result.metrics = signal }
        }
        return result
    }
}

/// The transport of the OTLP recipient that Steward makes: each signal (`/v1/logs`,
/// `/v1/metrics`, from the payload's path) to its own endpoint, with its own settings.
struct OTLPSignalTransport: Transport {
    let logs: HTTPTransport?
    let metrics: HTTPTransport?
    /// Called with each accepted payload (as queued, with its path) and the answer's body.
    var acceptedResponseHandler: (@Sendable (Payload, [UInt8]) -> Void)?

    /// Either signal's endpoint will do.
    var networkNeed: NetworkNeed {
        var hosts: [String] = []
        for transport in [logs, metrics].compactMap({ $0 }) {
            switch transport.networkNeed {
            case .none: continue
            case .anyNetwork: return .anyNetwork
            case .hosts(let some): hosts += some
            }
        }
        return hosts.isEmpty ? .none : .hosts(Array(Set(hosts)).sorted())
    }

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
