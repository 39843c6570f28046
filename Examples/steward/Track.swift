import ArgumentParser
import Foundation
import StewardCore
import StewardTelemetry

/// `steward track`: record a declared telemetry event, as the app would.
struct TrackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "track",
        abstract: "Record a declared event with attributes; kept only under its purpose's consent.",
        discussion:
            "Attributes are key=value; the manifest's declaration gives each its type (string, int, double, bool, location \"lat,lon\"). With --json, prints {event, outcome, droppedReason, purpose, consent}."
    )

    @OptionGroup var options: CommonOptions
    @Argument(help: "The event name, as the manifest declares it (e.g. screen_view).") var name: String
    @Option(name: .customLong("attr"), help: "An attribute, key=value (repeatable).") var attributes: [String] = []

    func run() throws {
        let manifest = try options.loadManifest()
        let vault = try Vault.open(dataDirectory: try options.resolvedDataDirectory())
        defer { try? vault.close() }
        let ledger = try ConsentLedger(manifest: manifest, vault: vault)
        let audit = try AuditLedger(vault: vault)
        let gate = ConsentGate(
            ledger: ledger, vault: vault, audit: audit, policies: [:],
            defaultPolicy: .encryptedDisk(maxAge: .seconds(7 * 86_400)))
        let telemetry = try Telemetry(manifest: manifest, vault: vault, consent: ledger, gate: gate, audit: audit)
        guard let declaration = manifest.events.first(where: { $0.name.rawValue == name }) else {
            throw ValidationError(
                "'\(name)' is not an event the manifest declares (declared: \(manifest.events.map(\.name.rawValue).joined(separator: ", ")))"
            )
        }
        var values: [String: AttributeValue] = [:]
        for pair in attributes {
            guard let equals = pair.firstIndex(of: "=") else {
                throw ValidationError("--attr takes key=value, got '\(pair)'")
            }
            let key = String(pair[..<equals]), text = String(pair[pair.index(after: equals)...])
            guard let attribute = declaration.attributes.first(where: { $0.name == key }) else {
                throw ValidationError(
                    "'\(key)' is not an attribute of \(name) (declared: \(declaration.attributes.map(\.name).joined(separator: ", ")))"
                )
            }
            switch attribute.type {
            case .int:
                guard let number = Int64(text) else { throw ValidationError("\(key) is an int, got '\(text)'") }
                values[key] = .int(number)
            case .double:
                guard let number = Double(text) else { throw ValidationError("\(key) is a double, got '\(text)'") }
                values[key] = .double(number)
            case .bool:
                guard let flag = Bool(text) else { throw ValidationError("\(key) is true or false, got '\(text)'") }
                values[key] = .bool(flag)
            case .string, .location:
                values[key] = .string(text)
            }
        }
        let outcome = telemetry.record(EventName(rawValue: name), attributes: values)
        try telemetry.flush()
        try audit.flush()
        let consent = ledger.consentState(for: declaration.purpose).rawValue
        if options.json {
            let result = outcome.isRecorded ? "recorded" : outcome.isHeld ? "held" : "dropped"
            try printJSON(
                Result(
                    event: name, outcome: result, droppedReason: outcome.droppedReason?.rawValue,
                    purpose: declaration.purpose.rawValue, consent: consent))
            return
        }
        print("\(name): \(outcome) (\(declaration.purpose) is \(consent))")
    }

    /// What `--json` prints: the event, what became of it, and its purpose's consent.
    struct Result: Encodable {
        /// The event name.
        var event: String
        /// `recorded`, `held` (pending consent) or `dropped`.
        var outcome: String
        /// Why it was dropped (`consent`, `ageGate`, …); absent otherwise.
        var droppedReason: String?
        /// The event's purpose, as the manifest declares it.
        var purpose: String
        /// That purpose's consent: `granted`, `pending` or `denied`.
        var consent: String
    }
}
