import StewardCore

/// The memory mappings of a process, parsed from the text of `/proc/<pid>/maps`, and the
/// file-backed images they belong to.
///
/// Parsing never fails: a line that does not have the expected shape is skipped and counted
/// in ``skippedLines``. Each line reads
/// `start-end perms offset dev inode [path]`, all numbers in hex except the inode (decimal);
/// the path runs to the end of the line and may contain spaces; a file that was removed after
/// it was mapped carries a ` (deleted)` suffix.
struct MemoryMaps: Hashable, Sendable {
    /// One line of the maps file.
    struct Mapping: Hashable, Sendable {
        /// The first address.
        var start: UInt64
        /// One past the last address.
        var end: UInt64
        /// `rwxp` style permissions, as written.
        var permissions: String
        /// The file offset the mapping starts at.
        var offset: UInt64
        /// The device, `major:minor` in hex, as written.
        var device: String
        /// The inode (0 for anonymous mappings).
        var inode: UInt64
        /// The path without the ` (deleted)` suffix; `[vdso]`, `[stack]`, `[heap]` for the
        /// kernel's pseudo paths; nil for anonymous memory.
        var path: String?
        /// True when the path carried the ` (deleted)` suffix.
        var deleted: Bool

        /// Whether the path names a file (it starts with `/`).
        var isFileBacked: Bool { path?.hasPrefix("/") ?? false }
        /// Whether the mapping is executable.
        var isExecutable: Bool { permissions.utf8.dropFirst(2).first == UInt8(ascii: "x") }

        func contains(_ address: UInt64) -> Bool { address >= start && address < end }
    }

    /// One file mapped into memory, possibly in several mappings.
    struct Image: Hashable, Sendable {
        /// The file's path (without ` (deleted)`).
        var path: String
        /// The lowest mapping start of that path.
        var start: UInt64
        /// The highest mapping end of that path.
        var end: UInt64
        /// The mapping whose file offset is 0, which holds the ELF header; nil when none is
        /// (the image's lowest mapping is then used for the load base).
        var baseMapping: Mapping?
        /// All its mappings, in address order.
        var mappings: [Mapping]
        /// True when any of its mappings said ` (deleted)`: the file on disk, if any, is not
        /// the one that was mapped.
        var deleted: Bool

        /// The mapping whose start is the load base: the offset-0 mapping, or the lowest one.
        var loadMapping: Mapping { baseMapping ?? mappings[0] }

        func contains(_ address: UInt64) -> Bool { address >= start && address < end }
    }

    /// The mappings, in the order of the file (ascending addresses).
    var mappings: [Mapping]
    /// The file-backed images, ascending by start address.
    var images: [Image]
    /// How many non-empty lines could not be parsed.
    var skippedLines: Int

    /// Parses the text of a maps file.
    init(parsing text: String) {
        var mappings: [Mapping] = []
        var skipped = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if let mapping = MemoryMaps.parseLine(Substring(line)) {
                mappings.append(mapping)
            } else if !line.allSatisfy({ $0 == " " || $0 == "\t" || $0 == "\r" }) {
                skipped += 1
            }
        }
        self.init(mappings: mappings, skippedLines: skipped)
    }

    /// Groups already parsed mappings into images.
    init(mappings: [Mapping], skippedLines: Int = 0) {
        self.mappings = mappings
        self.skippedLines = skippedLines
        var byPath: [String: Image] = [:]
        var order: [String] = []
        for mapping in mappings where mapping.isFileBacked {
            guard let path = mapping.path else { continue }
            if var image = byPath[path] {
                image.start = min(image.start, mapping.start)
                image.end = max(image.end, mapping.end)
                if mapping.offset == 0, image.baseMapping == nil || mapping.start < image.baseMapping!.start {
                    image.baseMapping = mapping
                }
                image.mappings.append(mapping)
                image.deleted = image.deleted || mapping.deleted
                byPath[path] = image
            } else {
                order.append(path)
                byPath[path] = Image(
                    path: path, start: mapping.start, end: mapping.end,
                    baseMapping: mapping.offset == 0 ? mapping : nil,
                    mappings: [mapping], deleted: mapping.deleted)
            }
        }
        images = order.compactMap { path in
            guard var image = byPath[path] else { return nil }
            image.mappings.sort { $0.start < $1.start }
            return image
        }.sorted { $0.start < $1.start }
    }

    /// The mapping that holds `address`, if any.
    func mapping(containing address: UInt64) -> Mapping? {
        mappings.first { $0.contains(address) }
    }

    /// The image one of whose mappings holds `address`, if any. An address in the gap between
    /// two mappings of the same file does not count.
    func image(containing address: UInt64) -> Image? {
        // Binary search for the last image starting at or below the address, then look back
        // a little: images of different files may interleave (rarely).
        var low = 0
        var high = images.count
        while low < high {
            let mid = (low + high) / 2
            if images[mid].start <= address { low = mid + 1 } else { high = mid }
        }
        var index = low - 1
        var looked = 0
        while index >= 0, looked < 8 {
            let image = images[index]
            if image.contains(address), image.mappings.contains(where: { $0.contains(address) }) { return image }
            index -= 1
            looked += 1
        }
        return nil
    }

    // MARK: - Parsing one line

    static func parseLine(_ line: Substring) -> Mapping? {
        var rest = line.utf8[...]
        guard let range = nextField(&rest), let permissions = nextField(&rest),
            let offsetField = nextField(&rest), let device = nextField(&rest),
            let inodeField = nextField(&rest)
        else { return nil }
        guard let dash = range.firstIndex(of: UInt8(ascii: "-")),
            let start = hex(range[range.startIndex..<dash]),
            let end = hex(range[range.index(after: dash)...]), start <= end
        else { return nil }
        guard permissions.count == 4,
            permissions.allSatisfy({ "rwxps-".utf8.contains($0) })
        else { return nil }
        guard let offset = hex(offsetField) else { return nil }
        guard device.contains(UInt8(ascii: ":")),
            device.allSatisfy({ $0 == UInt8(ascii: ":") || Hex.nibble($0) != nil })
        else { return nil }
        guard let inode = decimal(inodeField) else { return nil }

        // The path starts after the padding spaces and runs to the end of the line.
        while let first = rest.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            rest = rest.dropFirst()
        }
        while let last = rest.last, last == UInt8(ascii: "\r") { rest = rest.dropLast() }
        var path: String? = rest.isEmpty ? nil : String(decoding: rest, as: UTF8.self)
        var deleted = false
        if let text = path, text.hasSuffix(" (deleted)") {
            deleted = true
            path = String(text.dropLast(" (deleted)".count))
        }
        return Mapping(
            start: start, end: end, permissions: String(decoding: permissions, as: UTF8.self),
            offset: offset, device: String(decoding: device, as: UTF8.self),
            inode: inode, path: path, deleted: deleted)
    }

    private static func nextField(_ rest: inout Substring.UTF8View.SubSequence) -> Substring.UTF8View.SubSequence? {
        while let first = rest.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        let end = rest.firstIndex { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") } ?? rest.endIndex
        let field = rest[rest.startIndex..<end]
        rest = rest[end...]
        return field
    }

    private static func hex(_ digits: Substring.UTF8View.SubSequence) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16, digits.allSatisfy({ Hex.nibble($0) != nil }) else { return nil }
        return UInt64(Substring(digits), radix: 16)
    }

    private static func decimal(_ digits: Substring.UTF8View.SubSequence) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20,
            digits.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") })
        else { return nil }
        return UInt64(Substring(digits))
    }
}
