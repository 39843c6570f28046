import ArgumentParser
import Foundation
import StewardCore

/// Options every subcommand takes, after the subcommand's name.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("data-dir"), help: "The data directory (default: $XDG_DATA_HOME/steward/APP-ID).")
    var dataDirectory: String?

    @Option(name: .customLong("app-id"), help: "The application id, reverse-DNS.")
    var appID: String = StewardPaths.defaultAppID

    @Option(help: "A privacy manifest (JSON) to use instead of the bundled example.")
    var manifest: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    @Flag(name: .customLong("plaintext-outbox"), help: "Deliver what has no endpoint into DATA/outbox, in plaintext (outside the vault's protection), for a separate shipper. Without it, such payloads stay queued in the vault, and a DATA/outbox left behind is taken back into the vault.")
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

enum FileManagerShim {
    static func currentDirectory() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buffer, buffer.count) != nil else { return "." }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

#if canImport(Glibc)
import Glibc
#endif
