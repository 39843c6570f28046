import ArgumentParser
import Foundation
import StewardCore

/// Where the data is and which manifest: options every subcommand takes, after the
/// subcommand's name. Commands that print no result (`demo`, `crash trigger`) take only these,
/// so `--json` is a usage error there.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data directory (default: $XDG_DATA_HOME/steward/APP-ID).")
    var dataDirectory: String?

    @Option(name: .customLong("app-id"), help: "The application id, reverse-DNS.")
    var appID: String = StewardPaths.defaultAppID

    @Option(help: "A privacy manifest (JSON) to use instead of the bundled example.")
    var manifest: String?

    @Flag(
        name: .customLong("plaintext-outbox"),
        help:
            "Deliver what has no endpoint into DATA/outbox, in plaintext (outside the vault's protection), for a separate shipper. Without it, such payloads stay queued in the vault, and a DATA/outbox left behind is taken back into the vault."
    )
    var plaintextOutbox = false

    /// The manifest named by `--manifest`, or the bundled example.
    func loadManifest() throws -> PrivacyManifest {
        guard let manifest else { return try ExampleManifest.load() }
        guard let data = FileManager.default.contents(atPath: manifest) else {
            throw ValidationError("cannot read the manifest \(manifest)")
        }
        return try PrivacyManifest.decode(json: Array(data))
    }

    /// The data directory to use, absolute.
    func resolvedDataDirectory() throws -> String {
        if let dataDirectory {
            if dataDirectory.hasPrefix("/") { return dataDirectory }
            return FileManagerShim.currentDirectory() + "/" + dataDirectory
        }
        return try StewardPaths.defaultDataDirectory(appID: appID)
    }
}

/// ``DataOptions`` and `--json`: the options of every command that prints a result. A command
/// that takes these prints one JSON document on standard output when `--json` is given.
struct CommonOptions: ParsableArguments {
    @OptionGroup var data: DataOptions

    @Flag(help: "Print JSON instead of text.")
    var json = false

    var dataDirectory: String? { data.dataDirectory }
    var appID: String { data.appID }
    var manifest: String? { data.manifest }
    var plaintextOutbox: Bool { data.plaintextOutbox }
    func loadManifest() throws -> PrivacyManifest { try data.loadManifest() }
    func resolvedDataDirectory() throws -> String { try data.resolvedDataDirectory() }
}

/// Prints `value` as pretty, key-sorted JSON on standard output (dates in ISO 8601).
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

enum FileManagerShim {
    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
