import ArgumentParser
import Foundation
import StewardCore
import StewardPermissions

/// `steward permissions`: the app's run-time permissions, their status and why.
struct PermissionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "permissions",
        abstract: "List, request, revoke and reset the app's run-time permissions.",
        discussion: """
            A permission is restricted when the manifest does not declare it, the age gate withholds it, \
            or the operating system would refuse it (the reason says which); restricted permissions are not asked for.
            """,
        subcommands: [List.self, Request.self, Revoke.self, Reset.self],
        defaultSubcommand: List.self)

    /// The vault, the consent ledger and the permission gate of the data directory.
    struct Opened {
        var vault: Vault
        var ledger: ConsentLedger
        var gate: PermissionGate
        var probe: LinuxPermissionProbe
    }

    static func open(_ options: CommonOptions, prompter: any PermissionPrompter = TerminalPrompter()) throws -> Opened {
        let manifest = try options.loadManifest()
        let directory = try options.resolvedDataDirectory()
        let vault = try Vault.open(dataDirectory: directory)
        do {
            let ledger = try ConsentLedger(manifest: manifest, vault: vault)
            let probe = LinuxPermissionProbe(.init(dataDirectory: directory))
            let gate = try PermissionGate(
                manifest: manifest, vault: vault, prompter: prompter, probe: probe, consent: ledger)
            return Opened(vault: vault, ledger: ledger, gate: gate, probe: probe)
        } catch {
            try? vault.close()
            throw error
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show each declared permission's status, the reason, and the rationale.")
        @OptionGroup var options: CommonOptions

        func run() async throws {
            let opened = try PermissionsCommand.open(options)
            defer { try? opened.vault.close() }
            let report = PermissionReport(opened.gate, sandbox: opened.probe.sandbox)
            print(options.json ? try report.json() : report.text())
        }
    }

    struct Request: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Ask for a permission: on the terminal, or with the answer given by --answer or --answers-file.",
            discussion:
                "Nothing is asked when the permission is already granted, denied for good, or restricted; the status is shown."
        )
        @OptionGroup var options: CommonOptions
        @Argument(help: "The permission, as the manifest names it (e.g. camera, deviceIdentity).") var permission:
            String
        @Option(help: "The answer, instead of asking: allow, allow-once, deny or deny-always.") var answer: String?
        @Option(
            name: .customLong("answers-file"),
            help: "An operator's JSON table of answers, e.g. {\"camera\": \"allow\", \"*\": \"deny\"}.")
        var answersFile: String?
        @Option(help: "The rationale to show instead of the manifest's.") var rationale: String?

        func validate() throws {
            if let answer, PermissionAnswer(spelling: answer) == nil {
                throw ValidationError("--answer is one of allow, allow-once, deny, deny-always (got '\(answer)')")
            }
            if answer != nil && answersFile != nil {
                throw ValidationError("give --answer or --answers-file, not both")
            }
        }

        func run() async throws {
            let prompter: any PermissionPrompter
            if let answer, let parsed = PermissionAnswer(spelling: answer) {
                prompter = FixedAnswerPrompter(always: parsed)
            } else if let answersFile {
                prompter = try FixedAnswerPrompter(contentsOf: answersFile)
            } else {
                prompter = TerminalPrompter()
            }
            let opened = try PermissionsCommand.open(options, prompter: prompter)
            defer { try? opened.vault.close() }
            let permission = Permission(rawValue: permission)
            let before = (try? opened.gate.decisions(for: permission).count) ?? 0
            let status = try await opened.gate.request(permission, rationale: rationale)
            let decisions = (try? opened.gate.decisions(for: permission)) ?? []
            let report = PermissionReport(opened.gate, sandbox: opened.probe.sandbox, only: [permission])
            print(options.json ? try report.json() : "\(permission): \(status)")
            if !options.json && decisions.count > before && decisions.last?.kind == .allowOnce {
                print("(allowed for this process only: the next run of steward asks again)")
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take back a permission: it becomes denied, and the app may ask again once.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The permission.") var permission: String

        func run() async throws {
            let opened = try PermissionsCommand.open(options)
            defer { try? opened.vault.close() }
            let status = try opened.gate.revoke(Permission(rawValue: permission))
            print(
                options.json
                    ? try PermissionReport(
                        opened.gate, sandbox: opened.probe.sandbox, only: [Permission(rawValue: permission)]
                    ).json() : "\(permission): \(status)")
        }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Forget the answers about a permission (the way out of a permanent denial): it is asked for again next time."
        )
        @OptionGroup var options: CommonOptions
        @Argument(help: "The permission.") var permission: String

        func run() async throws {
            let opened = try PermissionsCommand.open(options)
            defer { try? opened.vault.close() }
            let status = try opened.gate.reset(Permission(rawValue: permission))
            print(
                options.json
                    ? try PermissionReport(
                        opened.gate, sandbox: opened.probe.sandbox, only: [Permission(rawValue: permission)]
                    ).json() : "\(permission): \(status)")
        }
    }
}

/// The permissions as `steward permissions` prints them.
struct PermissionReport {
    struct Row: Codable {
        var permission: String
        var status: String
        var reason: String?
        var restrictedBy: String?
        var scope: String?
        var rationale: String?
        var purposes: [String]
        var shouldShowRationale: Bool
        var decisions: Int
    }
    struct Document: Codable {
        var sandbox: String
        var permissions: [Row]
    }

    var document: Document

    init(_ gate: PermissionGate, sandbox: Sandbox, only: [Permission]? = nil) {
        let decisions = (try? gate.decisions()) ?? []
        let permissions = only ?? gate.manifest.permissions.map(\.permission)
        let rows = permissions.map { permission -> Row in
            let status = gate.status(of: permission)
            var row = Row(
                permission: permission.rawValue, status: status.name, rationale: gate.rationale(for: permission),
                purposes: gate.manifest.declaration(of: permission)?.purposes.map(\.rawValue) ?? [],
                shouldShowRationale: gate.shouldShowRationale(for: permission),
                decisions: decisions.filter { $0.permission == permission }.count)
            switch status {
            case .restricted(let restriction):
                row.reason = restriction.reason
                row.restrictedBy = restriction.source.description
            case .limited(let scope):
                row.scope = scope
            default:
                break
            }
            return row
        }
        let sandboxName: String
        switch sandbox {
        case .none: sandboxName = "none"
        case .flatpak(let id): sandboxName = "flatpak" + (id.map { " (\($0))" } ?? "")
        case .snap(let name): sandboxName = "snap" + (name.map { " (\($0))" } ?? "")
        }
        document = Document(sandbox: sandboxName, permissions: rows)
    }

    func text() -> String {
        var lines = ["Permissions (sandbox: \(document.sandbox))"]
        let width = (document.permissions.map(\.permission.count).max() ?? 0) + 2
        for row in document.permissions {
            let name = row.permission.padding(toLength: width, withPad: " ", startingAt: 0)
            lines.append("  \(name)\(row.status)\(row.restrictedBy.map { " by \($0)" } ?? "")")
            if let rationale = row.rationale { lines.append("      why: \(rationale)") }
            if let reason = row.reason { lines.append("      reason: \(reason)") }
            if let scope = row.scope { lines.append("      scope: \(scope)") }
            if row.shouldShowRationale { lines.append("      denied once: explain why before asking again") }
        }
        return lines.joined(separator: "\n")
    }

    func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(document), as: UTF8.self)
    }
}
