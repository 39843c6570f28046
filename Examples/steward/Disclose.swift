import ArgumentParser
import Foundation
import Steward

/// `steward disclose`: the privacy disclosure generated from the manifest Steward enforces.
struct DiscloseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disclose",
        abstract: "Print the privacy disclosure generated from the manifest, as Markdown, HTML or JSON.",
        discussion: """
            The disclosure lists exactly the manifest's data categories, purposes, recipients, \
            permissions and events, with legal bases, retention, cross-border transfers, \
            children, rights and security measures. A manifest with problems, or one missing a \
            category or purpose that Steward's modules store data under, gives no disclosure: \
            every problem is listed and the exit status is 1.
            """)

    /// An output format.
    enum Format: String, ExpressibleByArgument, CaseIterable {
        case markdown, html, json
    }

    @OptionGroup var options: CommonOptions

    @Option(help: "The output format: markdown, html or json (--json is the same as --format json).")
    var format: Format?

    @Option(help: "Write the disclosure to this file instead of standard output.")
    var output: String?

    @Option(
        name: .customLong("home-region"),
        help:
            "The controller's and users' region (ISO 3166-1 alpha-2, such as CN); recipients elsewhere are cross-border transfers. Default: where most recipients are."
    )
    var homeRegion: String?

    func validate() throws {
        if options.json, let format, format != .json {
            throw ValidationError("--json asks for JSON but --format asks for \(format.rawValue); give one of them")
        }
    }

    func run() throws {
        let manifest = try options.loadManifest()
        let disclosure = try Disclosure(manifest: manifest, homeRegion: homeRegion)
        let text: String
        switch options.json ? .json : (format ?? .markdown) {
        case .markdown: text = disclosure.markdown()
        case .html: text = disclosure.html()
        case .json: text = try disclosure.json()
        }
        guard let output else {
            print(text, terminator: text.hasSuffix("\n") ? "" : "\n")
            return
        }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
        } catch {
            throw ValidationError("cannot write the disclosure to \(output): \(error.localizedDescription)")
        }
    }
}
