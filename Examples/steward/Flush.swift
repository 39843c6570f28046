import ArgumentParser
import Foundation
import StewardCore
import StewardCrash
import StewardHTTP
import StewardTelemetry

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

    func run() async throws {
        let manifest = try options.loadManifest()
        let directory = try options.resolvedDataDirectory()
        let vault = try Vault.open(dataDirectory: directory)
        defer { try? vault.close() }
        let ledger = try ConsentLedger(manifest: manifest, vault: vault)
        let audit = try AuditLedger(vault: vault)
        let gate = ConsentGate(ledger: ledger, vault: vault, audit: audit, policies: [:], defaultPolicy: .encryptedDisk(maxAge: .seconds(7 * 86_400)))
        var configuration = HTTPTransport.Configuration()
        configuration.caBundlePath = caBundle
        let outbox = try FileTransport(directory: directory + "/outbox")

        let telemetryTransport: any Transport = try otlp.map { try HTTPTransport(endpoint: try url($0), configuration: configuration) } ?? outbox
        let telemetryUploader = try Uploader(recipient: "telemetryBackend", transport: telemetryTransport, vault: vault, consent: ledger,
                                             manifest: manifest, audit: audit)
        let telemetry = try Telemetry(manifest: manifest, vault: vault, consent: ledger, gate: gate, audit: audit)
        let resource = TelemetryResource(serviceName: options.appID, serviceVersion: "0.1.0")
        let events = try telemetry.submit(to: telemetryUploader, resource: resource)
        let telemetryReport = await telemetryUploader.drain()
        print("telemetry: \(events) event(s) queued; \(describe(telemetryReport)) → \(otlp ?? "outbox")")

        let dsn = try sentryDSN.map { try SentryDSN($0) }
        let crashTransport: any Transport = try dsn.map { try HTTPTransport(endpoint: $0.envelopeURL, configuration: configuration) } ?? outbox
        let crashUploader = try Uploader(recipient: "crashBackend", transport: crashTransport, vault: vault, consent: ledger,
                                         manifest: manifest, audit: audit)
        let reporter = CrashReporter(configuration: .init(dataDirectory: directory), vault: vault, consent: gate)
        let reports = try reporter.submit(to: crashUploader, dsn: dsn)
        let crashReport = await crashUploader.drain()
        print("crashes: \(reports) report(s) queued; \(describe(crashReport)) → \(dsn.map { $0.envelopeURL.absoluteString } ?? "outbox")")
        try audit.flush()
    }

    private func url(_ text: String) throws -> URL {
        guard let url = URL(string: text) else { throw ValidationError("'\(text)' is not a URL") }
        return url
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
