import Foundation
@testable import Steward
import StewardTesting
import Testing

/// The OpenTelemetry exporter variables, read as the specification's examples show, with
/// Steward's privacy rules on top.
@Suite struct OTelEnvironmentTests {
    private func read(_ environment: [String: String], code: (inout Steward.Configuration) -> Void = { _ in })
        throws -> (OTelEnvironment, [String])
    {
        var configuration = Steward.Configuration(
            appID: "org.steward.otel-tests", manifest: try DisclosureTests.exampleManifest())
        code(&configuration)
        var problems: [String] = []
        let result = OTelEnvironment.read(environment, configuration: configuration, problems: &problems)
        return (result, problems)
    }

    @Test func theBaseEndpointGetsTheSignalPathsAndPerSignalEndpointsAreUsedAsTheyAre() throws {
        // The specification's examples.
        var (otel, problems) = try read(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318"])
        #expect(problems.isEmpty)
        #expect(otel.logs?.endpoint.absoluteString == "http://localhost:4318/v1/logs")
        #expect(otel.metrics?.endpoint.absoluteString == "http://localhost:4318/v1/metrics")
        (otel, _) = try read(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318/mycollector/"])
        #expect(otel.logs?.endpoint.absoluteString == "http://localhost:4318/mycollector/v1/logs")
        (otel, _) = try read([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://localhost:4318",
            "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://example.com:4318/custom/path",
        ])
        #expect(otel.logs?.endpoint.absoluteString == "http://example.com:4318/custom/path")
        #expect(otel.metrics?.endpoint.absoluteString == "http://localhost:4318/v1/metrics")
        // Nothing set: no endpoint, no transport.
        (otel, problems) = try read([:])
        #expect(otel.logs == nil && otel.metrics == nil && problems.isEmpty)
        // The host's endpoint in code wins.
        (otel, _) = try read(["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://example.com/x"]) {
            $0.otlpEndpoint = URL(string: "https://collector.example.com:4318")
        }
        #expect(otel.logs?.endpoint.absoluteString == "https://collector.example.com:4318/v1/logs")
    }

    @Test func headersTimeoutCompressionAndCertificatesApplyGeneralThenPerSignal() throws {
        let (otel, problems) = try read([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example.com",
            "OTEL_EXPORTER_OTLP_HEADERS": "api-key=key,other-config-value=value,Authorization=Bearer%20t0k",
            "OTEL_EXPORTER_OTLP_METRICS_HEADERS": "api-key=metrics-key",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "500",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ssl/ca.pem",
            "OTEL_EXPORTER_OTLP_LOGS_CLIENT_CERTIFICATE": "/etc/ssl/client.pem",
            "OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY": "/etc/ssl/client.key",
        ]) { $0.otlpHeaders = ["other-config-value": "from code"] }
        #expect(problems.isEmpty, "\(problems)")
        let logs = try #require(otel.logs?.http)
        let metrics = try #require(otel.metrics?.http)
        #expect(logs.headers == ["api-key": "key", "other-config-value": "from code", "Authorization": "Bearer t0k"])
        #expect(
            metrics.headers == ["api-key": "metrics-key", "other-config-value": "from code"],
            "the signal's variable replaces the general one; code still wins")
        #expect(logs.timeout == .milliseconds(500) && !logs.compressesRequests)
        #expect(logs.caBundlePath == "/etc/ssl/ca.pem" && metrics.caBundlePath == "/etc/ssl/ca.pem")
        #expect(logs.clientCertificatePath == "/etc/ssl/client.pem" && logs.clientKeyPath == "/etc/ssl/client.key")
        #expect(metrics.clientCertificatePath == nil)
    }

    @Test func aProtocolStewardDoesNotSpeakOrABadValueIsAStartProblemThatNeverQuotesASecret() throws {
        let (_, problems) = try read([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example.com",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "soon",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "brotli",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization",
        ])
        let text = problems.joined(separator: "\n")
        #expect(problems.count == 5, "\(text)")
        #expect(text.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc") && text.contains("http/json"))
        #expect(text.contains("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL=http/protobuf"))
        #expect(text.contains("OTEL_EXPORTER_OTLP_TIMEOUT") && text.contains("OTEL_EXPORTER_OTLP_COMPRESSION"))
        #expect(text.contains("OTEL_EXPORTER_OTLP_HEADERS"))
        #expect(try read(["OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"]).1.isEmpty)

        // A malformed header entry is named by its variable only.
        let (_, secret) = try read([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.example.com",
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%ZZs3cret",
        ])
        #expect(secret.count == 1 && !secret.joined().contains("s3cret"), "\(secret)")
    }

    @Test func resourceAttributesThatIdentifyAreRefusedAndTheServiceNameIsTaken() throws {
        var (otel, problems) = try read([
            "OTEL_SERVICE_NAME": "kiosk",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=staging,service.name=ignored,team=fleet%20ops",
        ])
        #expect(problems.isEmpty, "\(problems)")
        #expect(otel.serviceName == "kiosk", "OTEL_SERVICE_NAME wins over the attribute")
        #expect(otel.resourceAttributes == ["deployment.environment": "staging", "team": "fleet ops"])
        (otel, _) = try read(["OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attributes"])
        #expect(otel.serviceName == "from-attributes")
        for identifying in [
            "host.name=build-07", "user.id=42", "enduser.id=ana", "device.id=abc", "service.instance.id=x",
            "os.type=linux", "note=\(ProcessInfo.processInfo.hostName)",
        ] {
            (otel, problems) = try read(["OTEL_RESOURCE_ATTRIBUTES": identifying])
            #expect(problems.count == 1 && otel.resourceAttributes.isEmpty, "\(identifying): \(problems)")
        }
    }

    @Test func theProblemsStopTheStartWithEveryOneListed() throws {
        var configuration = try FacadeFixture().configuration()
        configuration.transports = [:]
        configuration.otelEnvironment = [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://otel.example.com",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_RESOURCE_ATTRIBUTES": "host.name=build-07",
        ]
        do {
            _ = try Steward.start(configuration)
            Issue.record("started with a protocol Steward does not speak")
        } catch {
            #expect(error.code == .invalidConfiguration)
            #expect(error.problems.count == 2, "\(error.problems)")
        }
        // An endpoint the manifest does not disclose, or one signal without the other.
        for (environment, expected) in [
            (["OTEL_EXPORTER_OTLP_ENDPOINT": "https://elsewhere.example.net"], "endpoint hosts"),
            (["OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://otel.example.com/v1/logs"], "METRICS_ENDPOINT"),
            (["OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:s3cret@otel.example.com?k=v"], "credentials"),
        ] {
            configuration.otelEnvironment = environment
            #expect {
                try Steward.start(configuration)
            } throws: { error in
                let text = (error as? StewardError)?.problems.joined(separator: "\n") ?? ""
                return text.contains(expected) && !text.contains("s3cret")
            }
        }
    }

    @Test func theEnvironmentIsNotReadForAnAppWithoutTelemetryOrWithItsOwnTransport() throws {
        var configuration = try FacadeFixture().configuration()
        configuration.otelEnvironment = [
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "https://elsewhere.example.net",
        ]
        // The fixture has its own telemetry transport: the variables are for other programs.
        var problems: [String] = []
        _ = try Steward.Plan.check(configuration)
        configuration.transports = [:]
        configuration.modules = [.crash, .device, .permissions]
        _ = try Steward.Plan.check(configuration)
        configuration.modules.insert(.telemetry)
        do {
            _ = try Steward.Plan.check(configuration)
        } catch {
            problems = error.problems
        }
        #expect(problems.count == 2, "with telemetry on, both problems: \(problems)")
    }

    @Test func aConfigurationNeverShowsItsSecrets() throws {
        var configuration = try FacadeFixture().configuration()
        configuration.otlpHeaders = ["Authorization": "Bearer s3cret"]
        configuration.otelEnvironment = ["OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cret"]
        configuration.sentryDSN = "https://s3cret@sentry.example.com/42"
        configuration.otlpEndpoint = URL(string: "https://user:s3cret@collector.example.com:4318/?token=s3cret")
        var dumped = ""
        dump(configuration, to: &dumped)
        for text in [String(describing: configuration), String(reflecting: configuration), dumped] {
            #expect(!text.contains("s3cret"), "\(text)")
        }
    }
}

extension StewardFacadeTests {
    /// A host that sets nothing but environment variables reaches an authenticated collector.
    @Test func environmentVariablesAloneReachAnAuthenticatedCollector() async throws {
        let f = FacadeFixture()
        let collector = try LoopbackServer()
        defer { collector.stop() }
        var configuration = try f.configuration()
        configuration.transports = ["crashBackend": f.crashTransport]
        configuration.otelEnvironment = [
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url.absoluteString,
            "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20t0k3n",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "none",
            "OTEL_SERVICE_NAME": "kiosk",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=staging",
        ]
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        try steward.consent.grant([.analytics])
        #expect(steward.telemetry.record("screen_view", attributes: ["screen": .string("home")]) == .recorded)
        let report = await steward.send()
        #expect(report.uploads["telemetryBackend"]?.accepted == 1, "\(report)")
        let request = try #require(collector.requests.first)
        #expect(request.path == "/v1/logs")
        #expect(request.headers["authorization"] == "Bearer t0k3n")
        let body = String(decoding: request.body, as: UTF8.self)
        #expect(body.contains(#"{"key":"service.name","value":{"stringValue":"kiosk"}}"#), "\(body)")
        #expect(body.contains(#"{"key":"deployment.environment","value":{"stringValue":"staging"}}"#))
        // The token is nowhere in the data folder.
        for file in f.files() {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
            #expect(bytes.range(of: Data("t0k3n".utf8)) == nil, "\(file)")
        }
    }
}
