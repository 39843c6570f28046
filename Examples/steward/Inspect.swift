import ArgumentParser
import Foundation
import StewardCore

/// `steward inspect`: what the vault holds, without showing any of it.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show what the vault holds: collections, records, bytes, dates, expired and quarantined records.",
        discussion:
            "Opens the vault (which takes its lock), checks every record's authentication, and prints counts and dates only, never contents."
    )

    @OptionGroup var options: CommonOptions

    func run() throws {
        let dataDirectory = try options.resolvedDataDirectory()
        let report = try InspectReport.make(dataDirectory: dataDirectory)
        if options.json {
            print(try report.jsonString())
        } else {
            print(report.text())
        }
    }
}

/// What `inspect` prints, as a value so `demo` and tests share it.
struct InspectReport: Codable {
    var dataDirectory: String
    var exists: Bool
    var vault: VaultSummary?
    /// Where the vault key is kept: the store recorded for the folder (`file` without a record).
    var keyStore: String?
    /// The audit ledger: per day, category and purpose, what was collected, dropped, disclosed.
    var audit: [AuditEntry] = []

    static func make(dataDirectory: String) throws -> InspectReport {
        guard FileManager.default.fileExists(atPath: dataDirectory + "/vault/vault.meta") else {
            return InspectReport(dataDirectory: dataDirectory, exists: false, vault: nil)
        }
        let vault = try Vault.open(dataDirectory: dataDirectory)
        defer { try? vault.close() }
        return try make(vault: vault, dataDirectory: dataDirectory)
    }

    static func make(vault: Vault, dataDirectory: String) throws -> InspectReport {
        try vault.verify()
        let audit = try AuditLedger(vault: vault).entries()
        let store = try KeyStore.recorded(inDataDirectory: dataDirectory) ?? .file
        return InspectReport(
            dataDirectory: dataDirectory, exists: true, vault: try vault.summary(), keyStore: store.description,
            audit: audit)
    }

    func jsonString() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    func text() -> String {
        guard let vault else {
            return "No vault in \(dataDirectory) yet: nothing is stored. (Steward creates it on first use.)"
        }
        var lines = ["Vault in \(vault.directory)"]
        if let keyStore { lines.append("  key store: \(keyStore)") }
        lines.append(
            "  \(vault.collections.count) collection(s), \(vault.records) record(s), \(Format.bytes(vault.fileBytes)) on disk, \(vault.quarantined) quarantined, \(vault.evicted) evicted"
        )
        if !vault.collections.isEmpty {
            var table = [["COLLECTION", "RECORDS", "BYTES", "OLDEST", "NEWEST", "EXPIRED"]]
            for c in vault.collections {
                table.append([
                    c.name, String(c.records), Format.bytes(c.bytes), Format.date(c.oldest), Format.date(c.newest),
                    String(c.expired),
                ])
            }
            lines += Format.table(table).map { "  " + $0 }
        }
        for problem in vault.problems { lines.append("  problem: \(problem)") }
        if audit.isEmpty {
            lines.append("Audit ledger: nothing counted yet.")
        } else {
            lines.append("Audit ledger (per UTC day, category and purpose):")
            var table = [["DAY", "CATEGORY", "PURPOSE", "COLLECTED", "DROPPED", "DISCLOSED"]]
            for e in audit {
                let dropped = e.dropped.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(
                    separator: ", ")
                let disclosed = e.disclosed.map { "\($0.count) to \($0.recipient) (\($0.legalBasis.rawValue))" }.joined(
                    separator: ", ")
                table.append([
                    e.day, e.category.rawValue, e.purpose.rawValue, String(e.collected),
                    dropped.isEmpty ? "-" : dropped, disclosed.isEmpty ? "-" : disclosed,
                ])
            }
            lines += Format.table(table).map { "  " + $0 }
        }
        return lines.joined(separator: "\n")
    }
}

enum Format {
    static func bytes(_ n: Int) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1 << 20 { return String(format: "%.1f KiB", Double(n) / 1024) }
        return String(format: "%.1f MiB", Double(n) / 1048576)
    }

    static func date(_ d: Date?) -> String {
        guard let d else { return "-" }
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }

    static func table(_ rows: [[String]]) -> [String] {
        guard let first = rows.first else { return [] }
        let widths = first.indices.map { i in rows.map { $0[i].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }
}
