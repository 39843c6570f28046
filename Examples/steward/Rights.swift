import ArgumentParser
import Foundation
import Steward

/// Starts the facade on the command's data folder, as an app does (no crash handlers: the
/// command is short and crash records were processed before it ran).
func startSteward(_ options: CommonOptions) throws -> Steward {
    var configuration = Steward.Configuration(
        appID: options.appID, manifest: try options.loadManifest(),
        dataDirectory: try options.resolvedDataDirectory())
    configuration.installsCrashHandler = false
    // Commands are short and explicit: data goes only with `steward flush`.
    configuration.automaticDelivery = nil
    if options.plaintextOutbox { configuration.plaintextOutbox = .inDataDirectory }
    return try Steward.start(configuration)
}

/// `steward access`: what is held, per category, since when, why and for how long.
struct AccessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access",
        abstract:
            "Show what Steward holds about you, per data category: since when, why, for how long, and who received it.")

    @OptionGroup var options: CommonOptions

    func run() throws {
        let steward = try startSteward(options)
        defer { steward.stop() }
        let report = try steward.rights.accessReport()
        if options.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
            return
        }
        let dates = ISO8601DateFormatter()
        print("Held in \(report.dataDirectory):")
        for holding in report.categories {
            let kept =
                holding.retentionDays.map { $0 == 0 ? "not kept" : "kept \($0) days" } ?? "kept until you delete it"
            let since = holding.since.map { " since \(dates.string(from: $0))" } ?? ""
            let why = holding.purposes.isEmpty ? "" : " for \(holding.purposes.map(\.rawValue).joined(separator: ", "))"
            let sent =
                holding.disclosedTo.isEmpty
                ? "" : "; sent to \(holding.disclosedTo.map(\.rawValue).joined(separator: ", "))"
            print("  \(holding.category): \(holding.records) record(s)\(since)\(why); \(kept)\(sent)")
        }
        for (recipient, count) in report.queued.sorted(by: { $0.key < $1.key }) {
            print("  queued for \(recipient): \(count)")
        }
        for (recipient, count) in report.pendingDeletionRequests.sorted(by: { $0.key < $1.key }) {
            print("  deletion requests pending for \(recipient): \(count) (retried until accepted)")
        }
        if report.unprocessedCrashRecords > 0 {
            print("  crash records not yet processed: \(report.unprocessedCrashRecords)")
        }
        if let folder = report.plaintextOutboxDirectory {
            for (recipient, count) in report.plaintextOutbox.sorted(by: { $0.key < $1.key }) {
                print(
                    "  in the plaintext outbox \(folder) for \(recipient): \(count) (not encrypted; removed when you withdraw consent)"
                )
            }
        }
    }
}

/// `steward export PATH`: everything held, for the user to take away.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Export everything Steward holds about you: a ZIP archive (PATH ending in .zip) or a new folder.",
        discussion:
            "Inside: steward-export.json (machine-readable), summary.md (to read) and media/ (your images, as stored).")

    @OptionGroup var options: CommonOptions
    @Argument(help: "Where to write the export: a path ending in .zip, or a folder that does not exist yet.") var path:
        String

    func run() throws {
        let steward = try startSteward(options)
        defer { steward.stop() }
        let target = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let summary = try steward.rights.export(to: target)
        if options.json {
            let json = try JSONSerialization.data(
                withJSONObject: ["path": summary.path, "files": summary.files, "counts": summary.counts],
                options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: json, as: UTF8.self))
            return
        }
        print("Exported to \(summary.path):")
        for (kind, count) in summary.counts.sorted(by: { $0.key < $1.key }) { print("  \(kind): \(count)") }
    }
}

/// `steward erase`: everything held goes; recipients are asked to delete their copies.
struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Erase everything Steward holds about you and ask every recipient that received data to delete it.",
        discussion:
            "Asks first unless --yes is given. The vault is crypto-erased (its key first), raw crash records are removed, consents go back to pending, and deletion requests are queued (kept in the new vault, pending, for a recipient without an endpoint)."
    )

    @OptionGroup var options: CommonOptions
    @Flag(help: "Do not ask for confirmation.") var yes = false

    func run() async throws {
        if !yes {
            print(
                "Erase everything Steward holds in \(try options.resolvedDataDirectory())? This cannot be undone. [y/N] ",
                terminator: "")
            let answer = readLine()?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
            guard answer == "y" || answer == "yes" else {
                print("Nothing was erased.")
                throw ExitCode(1)
            }
        }
        let steward = try startSteward(options)
        defer { steward.stop() }
        let report = try await steward.rights.erase()
        if options.json {
            let json = try JSONSerialization.data(
                withJSONObject: [
                    "deletionRequests": report.deletionRequests.map(\.rawValue),
                    "delivered": report.delivered.map(\.rawValue),
                    "removedFiles": report.removedFiles,
                    "notRequested": Dictionary(
                        uniqueKeysWithValues: report.notRequested.map { ($0.key.rawValue, $0.value) }),
                ], options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: json, as: UTF8.self))
            return
        }
        print("Erased: the vault's key and files, \(report.removedFiles) other file(s).")
        if report.deletionRequests.isEmpty {
            print("No recipient had received data: no deletion request was needed.")
        } else {
            print(
                "Deletion requests: \(report.deletionRequests.map(\.rawValue).joined(separator: ", ")) (delivered: \(report.delivered.isEmpty ? "none yet" : report.delivered.map(\.rawValue).joined(separator: ", ")))."
            )
        }
        for (recipient, how) in report.notRequested.sorted(by: { $0.key < $1.key }) {
            print("Not asked (\(recipient.rawValue)): \(how).")
        }
    }
}
