import ArgumentParser
import Foundation
import StewardCore
import StewardMedia
import StewardPermissions

/// `steward media`: images kept in the vault, with their metadata removed first.
struct MediaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "media",
        abstract: "Add, list, export and delete the images kept in the vault.",
        discussion: """
            Images are sanitised before they are stored: location, serial numbers, owner names, comments, \
            XMP and thumbnails are removed (capture time and camera model stay where the manifest declares \
            imageMetadata for the purpose; location only with --keep-location and the location permissions). \
            Camera images need the camera permission, gallery images the photos permission \
            (steward permissions request camera). Originals are deleted when the images retention ends.
            """,
        subcommands: [Add.self, List.self, Delete.self, Export.self],
        defaultSubcommand: List.self)

    /// The vault and the media store of the data directory, its permissions from the data
    /// directory's permission gate; expired images are removed on opening.
    static func open(_ options: CommonOptions) throws -> (Vault, MediaStore) {
        let opened = try PermissionsCommand.open(options, prompter: FixedAnswerPrompter(answers: [:]))
        do {
            let gate = ConsentGate(ledger: opened.ledger, vault: opened.vault)
            return (opened.vault, try MediaStore(gate: gate, vault: opened.vault, permissions: opened.gate))
        } catch {
            try? opened.vault.close()
            throw error
        }
    }

    static func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sanitise a JPEG or PNG file and keep it in the vault; prints the metadata removed.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The image file.") var file: String
        @Option(help: "Where the image came from: camera, gallery or upload.") var source: String = "upload"
        @Option(help: "Why it is kept, as the manifest names it.") var purpose: String = Purpose.serviceProvision
            .rawValue
        @Flag(
            name: .customLong("keep-location"),
            help: "Keep the GPS location (also needs the location and locationPrecise permissions).")
        var keepLocation = false

        struct Report: Codable {
            var item: MediaItem?
            var held: Bool
            var removed: [String]
            var kept: [String]
        }

        func validate() throws {
            guard MediaSource(rawValue: source) != nil else {
                throw ValidationError("--source takes camera, gallery or upload")
            }
        }

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("cannot read \(file)")
            }
            let (vault, store) = try MediaCommand.open(options)
            defer { try? vault.close() }
            let result = try store.put(
                Array(data), source: MediaSource(rawValue: source) ?? .upload, purpose: Purpose(purpose),
                keepLocation: keepLocation)
            if options.json {
                try MediaCommand.printJSON(
                    Report(
                        item: result.item, held: result.isHeld, removed: result.report.removed, kept: result.report.kept
                    ))
                return
            }
            if let item = result.item {
                print(
                    "stored image \(item.id) (\(item.format.rawValue), \(Format.bytes(item.byteCount)), \(item.source.rawValue), \(item.purpose.rawValue), kept until \(Format.date(item.expires)))"
                )
            } else {
                print("held until \(purpose) consent is answered")
            }
            print(
                "removed metadata: "
                    + (result.report.removed.isEmpty ? "none" : result.report.removed.joined(separator: ", ")))
            print(
                "kept metadata: " + (result.report.kept.isEmpty ? "none" : result.report.kept.joined(separator: ", ")))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the stored images and edits.")
        @OptionGroup var options: CommonOptions

        func run() async throws {
            let (vault, store) = try MediaCommand.open(options)
            defer { try? vault.close() }
            let items = try store.list()
            if options.json {
                try MediaCommand.printJSON(items)
                return
            }
            guard !items.isEmpty else {
                print("no images are stored")
                return
            }
            var rows = [["ID", "KIND", "SOURCE", "FORMAT", "SIZE", "CREATED", "EXPIRES", "ORIGINAL", "REMOVED"]]
            for item in items {
                rows.append([
                    item.id.description, item.kind.rawValue, item.source.rawValue, item.format.rawValue,
                    Format.bytes(item.byteCount),
                    Format.date(item.created), Format.date(item.expires), item.original?.description ?? "-",
                    "\(item.removedMetadata.count) items",
                ])
            }
            print(Format.table(rows).joined(separator: "\n"))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete an image (and its edits), or every image with --all.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The image's id (steward media list).") var id: String?
        @Flag(help: "Delete every image: \"delete my images\".") var all = false

        func validate() throws {
            guard all != (id != nil) else { throw ValidationError("give an image id or --all") }
            if let id, MediaID(id) == nil { throw ValidationError("\(id) is not an image id") }
        }

        func run() async throws {
            let (vault, store) = try MediaCommand.open(options)
            defer { try? vault.close() }
            if all {
                let count = try store.deleteAll()
                if options.json {
                    try MediaCommand.printJSON(["deleted": count])
                } else {
                    print("deleted \(count) images")
                }
                return
            }
            guard let id = id.flatMap(MediaID.init) else { return }
            let deleted = try store.delete(id).map(\.description)
            if options.json {
                try MediaCommand.printJSON(["deleted": deleted])
            } else {
                print("deleted image \(deleted.joined(separator: ", "))")
            }
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write every stored image and an index.json to a folder.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "The folder to write to (created 0700).") var folder: String

        func run() async throws {
            let (vault, store) = try MediaCommand.open(options)
            defer { try? vault.close() }
            let entries = try store.export(to: folder)
            if options.json {
                try MediaCommand.printJSON(entries)
            } else {
                print("exported \(entries.count) images to \(folder)")
            }
        }
    }
}
