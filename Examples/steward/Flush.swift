import ArgumentParser
import Foundation
import Steward

/// `steward flush`: deliver what is queued — telemetry as OTLP, crash reports as Sentry envelopes.
struct FlushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Send queued telemetry (OTLP /v1/logs) and crash reports (Sentry envelopes), under consent.",
        discussion:
            "Without an endpoint, payloads stay queued in the vault, encrypted, until one is given (or they expire). --plaintext-outbox writes them instead, in plaintext and exactly as they would be sent, into DATA/outbox for a separate shipper: that folder is outside the vault's protection. With --json, prints {telemetry, crashes, problems}, each recipient with what was queued, its destination (the URL, \"vault\" or \"plaintextOutbox\") and the uploader's counts."
    )

    @OptionGroup var options: CommonOptions
    @Option(
        help:
            "An OpenTelemetry Collector's OTLP/HTTP endpoint, e.g. https://collector.example.com:4318 (logs go to /v1/logs, metrics to /v1/metrics; http only for loopback)."
    )
    var otlp: String?
    @Option(name: .customLong("sentry-dsn"), help: "A Sentry (or GlitchTip) DSN for crash reports.") var sentryDSN:
        String?
    @Option(name: .customLong("ca-bundle"), help: "A CA bundle (PEM) to trust instead of the system's.") var caBundle:
        String?
    @Option(
        name: .customLong("pin"),
        help: "A public-key pin the endpoints must present: base64 SHA-256 of the SubjectPublicKeyInfo (repeatable).")
    var pins: [String] = []

    func run() async throws {
        var configuration = Steward.Configuration(
            appID: options.appID, manifest: try options.loadManifest(),
            dataDirectory: try options.resolvedDataDirectory())
        configuration.installsCrashHandler = false
        // The command sends once, explicitly, and reports what it did.
        configuration.automaticDelivery = nil
        configuration.http.caBundlePath = caBundle
        configuration.http.pinnedPublicKeys = pins
        configuration.sentryDSN = sentryDSN
        if options.plaintextOutbox { configuration.plaintextOutbox = .inDataDirectory }
        if let otlp {
            guard let url = URL(string: otlp) else { throw ValidationError("'\(otlp)' is not a URL") }
            configuration.otlpEndpoint = url
        }
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        let report = await steward.send()
        let telemetry = report.uploads[configuration.telemetryRecipient] ?? UploadReport()
        let crashes = report.uploads[configuration.crashRecipient] ?? UploadReport()
        let crashDestination = (try? sentryDSN.map { try SentryDSN($0).envelopeURL.absoluteString }) ?? nil
        if options.json {
            try printJSON(
                Result(
                    telemetry: RecipientResult(
                        recipient: configuration.telemetryRecipient.rawValue, queued: report.eventsQueued,
                        destination: otlp ?? noEndpointJSON, upload: telemetry),
                    crashes: RecipientResult(
                        recipient: configuration.crashRecipient.rawValue, queued: report.crashReportsQueued,
                        destination: crashDestination ?? noEndpointJSON, upload: crashes),
                    problems: report.problems))
            return
        }
        print("telemetry: \(report.eventsQueued) event(s) queued; \(describe(telemetry)) → \(otlp ?? noEndpoint)")
        print(
            "crashes: \(report.crashReportsQueued) report(s) queued; \(describe(crashes)) → \(crashDestination ?? noEndpoint)"
        )
        for problem in report.problems { print("problem: \(problem)") }
    }

    private var noEndpoint: String {
        options.plaintextOutbox ? "plaintext outbox (DATA/outbox)" : "no endpoint: kept in the vault, encrypted"
    }

    /// The `destination` of `--json` without an endpoint.
    private var noEndpointJSON: String { options.plaintextOutbox ? "plaintextOutbox" : "vault" }

    /// What `--json` prints.
    struct Result: Encodable {
        /// Telemetry (OTLP logs) for the telemetry recipient.
        var telemetry: RecipientResult
        /// Crash reports (Sentry envelopes) for the crash recipient.
        var crashes: RecipientResult
        /// What went wrong while queueing (the data stays queued).
        var problems: [String]
    }

    /// One recipient's delivery.
    struct RecipientResult: Encodable {
        /// The recipient's id in the manifest.
        var recipient: String
        /// Events (telemetry) or reports (crashes) queued by this flush.
        var queued: Int
        /// The endpoint URL; `vault` when there is none (kept queued, encrypted) or
        /// `plaintextOutbox` with `--plaintext-outbox`.
        var destination: String
        var accepted: Int
        /// Dropped payloads by reason.
        var dropped: [String: Int]
        /// Held for pending consent.
        var held: Int
        /// Queued for a destination (none configured).
        var awaitingDestination: Int
        /// Waiting for the network (the recipient cannot be reached now).
        var awaitingNetwork: Int
        /// Waiting for the hourly byte budget.
        var awaitingBudget: Int
        /// Left to retry at the next flush.
        var retrying: Int
        var problems: [String]

        init(recipient: String, queued: Int, destination: String, upload: UploadReport) {
            self.recipient = recipient
            self.queued = queued
            self.destination = destination
            accepted = upload.accepted
            dropped = Dictionary(upload.dropped.map { ($0.key.rawValue, $0.value) }, uniquingKeysWith: +)
            held = upload.held
            awaitingDestination = upload.awaitingDestination
            awaitingNetwork = upload.awaitingNetwork
            awaitingBudget = upload.awaitingBudget
            retrying = max(
                0,
                upload.remaining - upload.held - upload.awaitingDestination - upload.awaitingNetwork
                    - upload.awaitingBudget)
            problems = upload.problems
        }
    }

    private func describe(_ report: UploadReport) -> String {
        var parts = ["\(report.accepted) accepted"]
        for (reason, count) in report.dropped.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            parts.append("\(count) dropped (\(reason))")
        }
        if report.held > 0 { parts.append("\(report.held) held for consent") }
        if report.awaitingDestination > 0 { parts.append("\(report.awaitingDestination) queued for a destination") }
        if report.awaitingNetwork > 0 { parts.append("\(report.awaitingNetwork) waiting for the network") }
        if report.awaitingBudget > 0 { parts.append("\(report.awaitingBudget) waiting for the hourly byte budget") }
        let retrying =
            report.remaining - report.held - report.awaitingDestination - report.awaitingNetwork - report.awaitingBudget
        if retrying > 0 { parts.append("\(retrying) left to retry") }
        parts += report.problems
        return parts.joined(separator: ", ")
    }
}
