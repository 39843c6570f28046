import ArgumentParser
import Foundation
import Steward

/// `steward flush`: deliver what is queued — telemetry as OTLP, crash reports as Sentry envelopes.
struct FlushCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "flush",
        abstract: "Send queued telemetry (OTLP /v1/logs) and crash reports (Sentry envelopes), under consent.",
        discussion: "Without endpoints, everything goes to the outbox folder (DATA/outbox), exactly as it would be sent.")

    @OptionGroup var options: CommonOptions
    @Option(help: "An OpenTelemetry Collector's OTLP/HTTP endpoint, e.g. https://collector.example.com:4318 (logs go to /v1/logs, metrics to /v1/metrics; http only for loopback).")
    var otlp: String?
    @Option(name: .customLong("sentry-dsn"), help: "A Sentry (or GlitchTip) DSN for crash reports.") var sentryDSN: String?
    @Option(name: .customLong("ca-bundle"), help: "A CA bundle (PEM) to trust instead of the system's.") var caBundle: String?
    @Option(name: .customLong("pin"), help: "A public-key pin the endpoints must present: base64 SHA-256 of the SubjectPublicKeyInfo (repeatable).")
    var pins: [String] = []

    func run() async throws {
        var configuration = Steward.Configuration(appID: options.appID, manifest: try options.loadManifest(),
                                                  dataDirectory: try options.resolvedDataDirectory())
        configuration.installsCrashHandler = false
        configuration.http.caBundlePath = caBundle
        configuration.http.pinnedPublicKeys = pins
        configuration.sentryDSN = sentryDSN
        if let otlp {
            guard let url = URL(string: otlp) else { throw ValidationError("'\(otlp)' is not a URL") }
            configuration.otlpEndpoint = url
        }
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        let report = await steward.send()
        let telemetry = report.uploads[configuration.telemetryRecipient] ?? UploadReport()
        print("telemetry: \(report.eventsQueued) event(s) queued; \(describe(telemetry)) → \(otlp ?? "outbox")")
        let crashes = report.uploads[configuration.crashRecipient] ?? UploadReport()
        let crashDestination = (try? sentryDSN.map { try SentryDSN($0).envelopeURL.absoluteString }) ?? nil
        print("crashes: \(report.crashReportsQueued) report(s) queued; \(describe(crashes)) → \(crashDestination ?? "outbox")")
        for problem in report.problems { print("problem: \(problem)") }
    }

    private func describe(_ report: UploadReport) -> String {
        var parts = ["\(report.accepted) accepted"]
        for (reason, count) in report.dropped.sorted(by: { $0.key.rawValue < $1.key.rawValue }) { parts.append("\(count) dropped (\(reason))") }
        if report.held > 0 { parts.append("\(report.held) held for consent") }
        if report.remaining > report.held { parts.append("\(report.remaining - report.held) left to retry") }
        parts += report.problems
        return parts.joined(separator: ", ")
    }
}
