import ArgumentParser
import Foundation
import Steward

/// `steward manifest`: a starter manifest for the modules an app uses, and a check of one.
struct ManifestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Write a starter privacy manifest, or check one and list every problem with its line and column.",
        subcommands: [Init.self, Check.self])

    /// The modules named on the command line.
    struct ModuleOptions: ParsableArguments {
        @Option(
            help:
                "The modules the app uses, comma-separated: crash, telemetry, device, permissions (default: all). The manifest need declare only what these store."
        )
        var modules: String?

        func parsed() throws -> Set<Disclosure.Module> {
            guard let modules else { return Set(Disclosure.Module.allCases) }
            var result: Set<Disclosure.Module> = []
            for name in modules.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                guard let module = Disclosure.Module(rawValue: name) else {
                    throw ValidationError(
                        "unknown module '\(name)'; give some of: \(Disclosure.Module.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                result.insert(module)
            }
            return result
        }
    }

    /// `steward manifest init`.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a starter manifest for the chosen modules (to standard output, or --output FILE).",
            discussion: """
                The manifest declares what the modules store, for which purpose, for how long and \
                for whom, with placeholder wording and recipients: edit the controller, the \
                descriptions, the regions and the hosts to match your privacy policy, then run \
                `steward manifest check`. `--modules crash` gives the smallest: one purpose, one \
                category, one recipient.
                """)

        @OptionGroup var modules: ModuleOptions

        @Option(help: "Write the manifest to this file (it must not exist) instead of standard output.")
        var output: String?

        func run() throws {
            let manifest = StarterManifest.make(for: try modules.parsed())
            let bytes = try manifest.encodeJSON()
            guard let output else {
                FileHandle.standardOutput.write(Data(bytes))
                print()
                return
            }
            guard !FileManager.default.fileExists(atPath: output) else {
                throw ValidationError("\(output) exists; give a new file")
            }
            try Data(bytes).write(to: URL(fileURLWithPath: output), options: .withoutOverwriting)
            print("Wrote \(output): edit it to match your privacy policy, then run `steward manifest check \(output)`.")
        }
    }

    /// `steward manifest check FILE`.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check a manifest: every problem, each with its line, column and JSON path; exit status 1 if any.",
            discussion: """
                Checks the JSON, the manifest's own rules and what the chosen modules need \
                declared (as Steward.start does with Configuration.modules).
                """)

        @Argument(help: "The manifest file.")
        var file: String

        @OptionGroup var modules: ModuleOptions

        func run() throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            let lines: [String]
            do {
                let manifest = try PrivacyManifest.decode(json: Array(data))
                do {
                    _ = try Disclosure(manifest: manifest, modules: try modules.parsed())
                    print("\(file): no problems.")
                    return
                } catch let error as DisclosureError {
                    lines = ManifestProblem.locate(error.problems, inJSON: Array(data)).map(\.located)
                }
            } catch let error as ManifestError {
                lines = error.problems.map(\.located)
            }
            for line in lines { print("\(file): \(line)") }
            print("\(lines.count) problem\(lines.count == 1 ? "" : "s").")
            throw ExitCode(1)
        }
    }
}

/// The starter manifests `steward manifest init` writes.
enum StarterManifest {
    static func make(for modules: Set<Disclosure.Module>) -> PrivacyManifest {
        var purposes: [PurposeDeclaration] = []
        var categories: [DataCategoryDeclaration] = []
        var recipients: [RecipientDeclaration] = []
        var events: [EventDeclaration] = []
        if modules.contains(.crash) {
            purposes.append(
                .init(
                    id: .crashReporting,
                    description: "Send a report when the app crashes, so we can find and fix the fault.",
                    legalBasis: .consent))
            categories.append(
                .init(
                    id: .crashDiagnostics,
                    description:
                        "What the app was doing when it crashed: the stack trace, loaded libraries and recent steps.",
                    purposes: [.crashReporting], retentionDays: 90, sensitivity: .personal, leavesDevice: true,
                    recipients: ["crashBackend"]))
            recipients.append(
                .init(
                    id: "crashBackend", name: "Crash report service (Sentry-compatible)", role: .processor,
                    region: "DE",
                    endpointHosts: ["sentry.example.com"]))
        }
        if modules.contains(.telemetry) {
            purposes.append(
                .init(id: .analytics, description: "Count how the app is used, to improve it.", legalBasis: .consent))
            categories.append(
                .init(
                    id: .usageEvents, description: "Which screens are opened and which features are used.",
                    purposes: [.analytics], retentionDays: 30, sensitivity: .personal, leavesDevice: true,
                    recipients: ["telemetryBackend"]))
            recipients.append(
                .init(
                    id: "telemetryBackend", name: "Usage statistics service (OpenTelemetry)", role: .processor,
                    region: "DE", endpointHosts: ["collector.example.com"]))
            events.append(
                .init(
                    name: "screen_view", purpose: .analytics, category: .usageEvents,
                    attributes: [.init(name: "screen", type: .string, classification: .plain, maxLength: 64)]))
        }
        if modules.contains(.device) {
            purposes.append(
                .init(
                    id: .deviceAuthentication, description: "Recognise this installation, to keep the account secure.",
                    legalBasis: .necessaryForService))
            categories.append(
                .init(
                    id: .deviceIdentifiers,
                    description: "An installation ID, and an app-scoped device ID derived from the machine ID.",
                    purposes: [.deviceAuthentication], retentionDays: nil, sensitivity: .personal, leavesDevice: false,
                    recipients: []))
        }
        return PrivacyManifest(
            policyVersion: "1", controller: .init(name: "Your company", contact: "privacy@example.com"),
            purposes: purposes, dataCategories: categories, recipients: recipients, events: events)
    }
}
