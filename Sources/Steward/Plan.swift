import Foundation
import StewardCore
import StewardCrash
import StewardDevice
import StewardHTTP
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Steward {
    /// A configuration checked before anything is opened: every problem is found at once.
    struct Plan {
        let dataDirectory: String
        let disclosure: Disclosure
        let configuration: Configuration
        /// The HTTPS transports made from the DSN and the OTLP endpoint.
        let httpTransports: [RecipientID: any Transport]
        /// `service.name` and the extra resource attributes from the environment.
        let serviceName: String
        let resourceAttributes: [String: String]

        static func check(_ configuration: Configuration) throws(StewardError) -> Plan {
            var problems: [String] = []
            let manifest = configuration.manifest
            do {
                try StewardPaths.validate(appID: configuration.appID)
                _ = try AppScopedID.applicationID(for: configuration.appID)
            } catch {
                problems.append("appID: \(error)")
            }
            var directory = configuration.dataDirectory ?? ""
            if configuration.dataDirectory == nil {
                do {
                    directory = try StewardPaths.defaultDataDirectory(appID: configuration.appID)
                } catch {
                    problems.append("dataDirectory: \(error)")
                }
            } else if !directory.hasPrefix("/") {
                directory = FileManager.default.currentDirectoryPath + "/" + directory
            }
            if !(0...1).contains(configuration.crashSampleRate) {
                problems.append(
                    "crashSampleRate: \(configuration.crashSampleRate) is not a fraction; give a value from 0 (send none) to 1 (send all)"
                )
            }
            if case .directory(let path) = configuration.plaintextOutbox, !path.hasPrefix("/") {
                problems.append("plaintextOutbox: '\(path)' is not an absolute path; give the folder's full path")
            }
            var isFolder: ObjCBool = false
            if !directory.isEmpty, FileManager.default.fileExists(atPath: directory, isDirectory: &isFolder),
                !isFolder.boolValue
            {
                problems.append("dataDirectory: \(directory) exists and is not a folder; give a folder Steward may own")
            }
            for recipient in configuration.transports.keys.sorted() where manifest.declaration(of: recipient) == nil {
                problems.append(
                    "transports: the recipient '\(recipient)' is not declared in the manifest; declare it (with its region and endpoint hosts) or remove its transport"
                )
            }
            var disclosure: Disclosure?
            do {
                // The disclosure says what this configuration does: a crash recipient behind a
                // Sentry DSN takes no deletion request (an envelope URL takes only envelopes),
                // and a plaintext outbox is named where it is.
                var disclosed = manifest
                if configuration.sentryDSN != nil, configuration.transports[configuration.crashRecipient] == nil,
                    let index = disclosed.recipients.firstIndex(where: { $0.id == configuration.crashRecipient }),
                    disclosed.recipients[index].deletionRoute.method == .request
                {
                    disclosed.recipients[index].deletion = .manual(
                        contact:
                            "the crash-report service's own data deletion (its project settings or API), through the app's publisher"
                    )
                }
                disclosure = try Disclosure(
                    manifest: disclosed, modules: configuration.modules, now: configuration.wallClock.checkedNow,
                    plaintextOutbox: directory.isEmpty
                        ? nil : configuration.plaintextOutbox?.path(dataDirectory: directory))
            } catch let error as DisclosureError {
                problems += error.problems.map { "manifest \($0.path): \($0.message)" }
            } catch {
                problems.append("manifest: \(error)")
            }
            var http: [RecipientID: any Transport] = [:]
            if let dsn = configuration.sentryDSN {
                do {
                    let parsed = try SentryDSN(dsn)
                    http[configuration.crashRecipient] = try HTTPTransport(
                        endpoint: parsed.envelopeURL, configuration: configuration.http,
                        wallClock: configuration.wallClock)
                } catch {
                    problems.append("sentryDSN: \(error)")
                }
                if manifest.declaration(of: configuration.crashRecipient) == nil {
                    problems.append(
                        "sentryDSN: crash reports go to the recipient '\(configuration.crashRecipient)', which the manifest does not declare; declare it or set crashRecipient"
                    )
                }
            }
            // The environment's OTLP settings matter only where Steward makes the telemetry
            // transport itself: an app without telemetry, or with a transport of its own, is not
            // stopped by variables set for other programs.
            let telemetryRecipient = manifest.declaration(of: configuration.telemetryRecipient)
            let readsEnvironment =
                configuration.modules.contains(.telemetry) && telemetryRecipient != nil
                && configuration.transports[configuration.telemetryRecipient] == nil
            let otel = OTelEnvironment.read(
                readsEnvironment ? configuration.otelEnvironment : [:], configuration: configuration,
                problems: &problems)
            if configuration.otlpEndpoint == nil, let declared = telemetryRecipient?.endpointHosts, !declared.isEmpty {
                // An endpoint from the environment must be one the manifest discloses (or this
                // machine's own collector).
                for signal in [otel.logs, otel.metrics].compactMap({ $0 }) {
                    let host = signal.endpoint.host?.lowercased() ?? ""
                    if !EndpointPolicy.isLoopback(host: host), !declared.map({ $0.lowercased() }).contains(host) {
                        let problem =
                            "OTEL_EXPORTER_OTLP_*ENDPOINT: the host \(host) is not among the endpoint hosts the manifest declares for '\(configuration.telemetryRecipient)' (\(declared.joined(separator: ", "))); declare it there or change the variable"
                        if !problems.contains(problem) { problems.append(problem) }
                    }
                }
            }
            if configuration.otlpEndpoint == nil, (otel.logs == nil) != (otel.metrics == nil) {
                problems.append(
                    "OTEL_EXPORTER_OTLP_\(otel.logs == nil ? "LOGS" : "METRICS")_ENDPOINT is not set while the other signal's is: Steward sends logs and metrics; set OTEL_EXPORTER_OTLP_ENDPOINT or both per-signal endpoints"
                )
            }
            if configuration.transports[configuration.telemetryRecipient] == nil,
                otel.logs != nil || otel.metrics != nil
            {
                // Each signal to its own endpoint, with its own settings.
                func make(_ signal: OTelEnvironment.Signal?, _ name: String) -> HTTPTransport? {
                    guard let signal else { return nil }
                    do {
                        return try HTTPTransport(
                            endpoint: signal.endpoint, configuration: signal.http, wallClock: configuration.wallClock)
                    } catch {
                        let problem = "\(configuration.otlpEndpoint != nil ? "otlpEndpoint" : name): \(error)"
                        if !problems.contains(problem) { problems.append(problem) }
                        return nil
                    }
                }
                let logs = make(otel.logs, "OTLP logs endpoint")
                let metrics = make(otel.metrics, "OTLP metrics endpoint")
                http[configuration.telemetryRecipient] = OTLPSignalTransport(logs: logs, metrics: metrics)
                if manifest.declaration(of: configuration.telemetryRecipient) == nil {
                    problems.append(
                        "otlpEndpoint: telemetry goes to the recipient '\(configuration.telemetryRecipient)', which the manifest does not declare; declare it or set telemetryRecipient"
                    )
                }
            }
            guard problems.isEmpty, let disclosure else {
                throw StewardError(.invalidConfiguration, problems: problems)
            }
            return Plan(
                dataDirectory: directory, disclosure: disclosure, configuration: configuration, httpTransports: http,
                serviceName: otel.serviceName ?? configuration.appID, resourceAttributes: otel.resourceAttributes)
        }

        /// The recipients Steward delivers to (the host's, and the crash and telemetry
        /// recipients when declared), each with its transport: the host's, else the HTTPS one
        /// from the DSN or endpoint, else the plaintext outbox when the host asked for one,
        /// else none (payloads stay queued in the vault). Undeclared recipients get no entry.
        func transports(consent: any ConsentChecking) throws -> (
            transports: [RecipientID: (any Transport)?], outbox: FileTransport?
        ) {
            var result: [RecipientID: (any Transport)?] = [:]
            var fileTransport: FileTransport?
            var recipients = Set(configuration.transports.keys)
            for recipient in [configuration.crashRecipient, configuration.telemetryRecipient]
            where configuration.manifest.declaration(of: recipient) != nil {
                recipients.insert(recipient)
            }
            for recipient in recipients.sorted() {
                if let transport = configuration.transports[recipient] ?? httpTransports[recipient] {
                    result[recipient] = .some(transport)
                } else if let outbox = configuration.plaintextOutbox {
                    if fileTransport == nil {
                        fileTransport = try FileTransport(
                            directory: outbox.path(dataDirectory: dataDirectory), consent: consent)
                    }
                    result[recipient] = .some(fileTransport)
                } else {
                    result[recipient] = .some(nil)
                }
            }
            return (result, fileTransport)
        }

        /// The CPU architecture, as the OpenTelemetry `host.arch` convention spells it.
        static let architecture: String = {
            var name = utsname()
            guard uname(&name) == 0 else { return "unknown" }
            let machine = withUnsafeBytes(of: &name.machine) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            switch machine {
            case "x86_64": return "amd64"
            case "aarch64": return "arm64"
            case "i686", "i386": return "x86"
            case "armv7l", "armv6l": return "arm32"
            case "ppc64le", "ppc64": return "ppc64"
            case "s390x": return "s390x"
            default: return machine
            }
        }()
    }
}
