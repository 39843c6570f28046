import ArgumentParser
import Foundation
import StewardCore

/// `steward consent`: the user's answers per purpose, their receipts, and the age gate.
struct ConsentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "Show and change consent per purpose, apply the age gate, list consent receipts.",
        subcommands: [Show.self, Grant.self, Deny.self, Age.self, History.self],
        defaultSubcommand: Show.self)

    /// Opens the vault and the consent ledger of the data directory.
    static func open(_ options: CommonOptions) throws -> (Vault, ConsentLedger) {
        let manifest = try options.loadManifest()
        let directory = try options.resolvedDataDirectory()
        let vault = try Vault.open(dataDirectory: directory)
        do {
            let ledger = try ConsentLedger(manifest: manifest, vault: vault)
            // A withdrawal reaches the plaintext outbox (--plaintext-outbox) too, as in the facade.
            let outbox = directory + "/outbox"
            if FileManager.default.fileExists(atPath: outbox), let folder = try? FileTransport(directory: outbox) {
                _ = ledger.addObserver { changes in
                    for change in changes where change.state == .denied {
                        _ = try? folder.purge(purpose: change.purpose)
                    }
                }
            }
            return (vault, ledger)
        } catch {
            try? vault.close()
            throw error
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show each purpose's legal basis and consent state.")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let (vault, ledger) = try ConsentCommand.open(options)
            defer { try? vault.close() }
            let report = ConsentReport(ledger)
            print(options.json ? try report.json() : report.text())
        }
    }

    struct Grant: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant consent for purposes.")
        @OptionGroup var options: CommonOptions
        @Option(help: "Who grants: user or guardian.") var by: String = "user"

        func validate() throws {
            guard ["user", "guardian"].contains(by) else { throw ValidationError("--by is user or guardian") }
        }
        @Argument(help: "Purposes, as the manifest names them (e.g. analytics crashReporting).") var purposes: [String]

        func run() throws {
            let (vault, ledger) = try ConsentCommand.open(options)
            defer { try? vault.close() }
            try ledger.grant(purposes.map(Purpose.init(rawValue:)), by: ConsentActor(by))
            print(options.json ? try ConsentReport(ledger).json() : ConsentReport(ledger).text())
        }
    }

    struct Deny: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deny or withdraw consent for purposes; the data kept for them is deleted.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "Purposes, as the manifest names them.") var purposes: [String]

        func run() throws {
            let (vault, ledger) = try ConsentCommand.open(options)
            defer { try? vault.close() }
            try ledger.deny(purposes.map(Purpose.init(rawValue:)))
            print(options.json ? try ConsentReport(ledger).json() : ConsentReport(ledger).text())
        }
    }

    struct Age: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the user's age and apply the age gate.",
            discussion:
                "Below the jurisdiction's minimum age every purpose that needs consent is denied and its data deleted, until a guardian grants it (consent grant --by guardian). Once below, only a guardian can report an older age (--by guardian)."
        )
        @OptionGroup var options: CommonOptions
        @Argument(help: "The user's age in years.") var years: Int
        @Option(help: "The jurisdiction (ISO country code or EU), e.g. CN, DE, US.") var jurisdiction: String?
        @Option(help: "Who answers: user or guardian.") var by: String = "user"

        func validate() throws {
            guard (0...150).contains(years) else { throw ValidationError("an age is between 0 and 150 years") }
            guard ["user", "guardian"].contains(by) else { throw ValidationError("--by is user or guardian") }
        }

        func run() throws {
            let (vault, ledger) = try ConsentCommand.open(options)
            defer { try? vault.close() }
            let signal = try ledger.setAge(
                years, jurisdiction: jurisdiction.map { Jurisdiction(rawValue: $0.uppercased()) }, by: ConsentActor(by))
            if !options.json {
                print(
                    "Age \(years) in \(ledger.jurisdiction?.rawValue ?? "an unknown jurisdiction") (minimum \(ledger.ageGate.minimumAge(in: ledger.jurisdiction))): \(signal.rawValue)"
                )
            }
            print(options.json ? try ConsentReport(ledger).json() : ConsentReport(ledger).text())
        }
    }

    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List the consent receipts, oldest first, and check their hash chain.")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let (vault, ledger) = try ConsentCommand.open(options)
            defer { try? vault.close() }
            if options.json {
                print(String(decoding: try ledger.exportReceipts(), as: UTF8.self))
                return
            }
            let receipts = try ledger.receipts()
            var rows = [["#", "WHEN", "WHO", "POLICY", "CHANGES"]]
            for r in receipts {
                let changes = r.purposes.map { "\($0.purpose) \($0.previous.rawValue)→\($0.state.rawValue)" }.joined(
                    separator: ", ")
                rows.append([
                    String(r.sequence), Format.date(Date(timeIntervalSince1970: Double(r.timestamp) / 1000)),
                    r.actor.rawValue, r.policyVersion,
                    changes.isEmpty ? (r.reason ?? "-") : changes,
                ])
            }
            print(Format.table(rows).joined(separator: "\n"))
            switch ConsentReceipt.verifyChain(receipts) {
            case .valid(let count): print("Receipt chain: \(count) receipt(s), intact.")
            case .broken(let index, let reason): print("Receipt chain BROKEN at \(index): \(reason)")
            }
        }
    }
}

/// What `consent show` prints.
struct ConsentReport: Codable {
    struct Entry: Codable {
        var purpose: Purpose
        var description: String
        var legalBasis: LegalBasis
        var state: ConsentState
    }
    var policyVersion: String
    var jurisdiction: Jurisdiction?
    var ageSignal: AgeSignal
    var minimumAge: Int
    var receiptChainIntact: Bool
    var purposes: [Entry]

    init(_ ledger: ConsentLedger) {
        policyVersion = ledger.manifest.policyVersion
        jurisdiction = ledger.jurisdiction
        ageSignal = ledger.ageSignal
        minimumAge = ledger.ageGate.minimumAge(in: ledger.jurisdiction)
        receiptChainIntact = ledger.integrity.isValid
        purposes = ledger.manifest.purposes.map {
            Entry(
                purpose: $0.id, description: $0.description, legalBasis: $0.legalBasis,
                state: ledger.consentState(for: $0.id))
        }
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func text() -> String {
        var rows = [["PURPOSE", "BASIS", "STATE", "WHAT FOR"]]
        for p in purposes { rows.append([p.purpose.rawValue, p.legalBasis.rawValue, p.state.rawValue, p.description]) }
        var lines = [
            "Policy \(policyVersion); jurisdiction \(jurisdiction?.rawValue ?? "unknown"); age signal \(ageSignal.rawValue) (minimum age \(minimumAge))"
        ]
        lines += Format.table(rows)
        if !receiptChainIntact {
            lines.append("Warning: the consent receipt chain was broken; consent was asked again.")
        }
        return lines.joined(separator: "\n")
    }
}
