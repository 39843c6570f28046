import StewardCore

/// Removes the user's identity from paths and texts before a report is stored.
///
/// Given the home directory and user name captured in the crash context, it rewrites:
/// 1. the home directory, where it starts a path, to `~` (`/home/ana/app` → `~/app`);
/// 2. any other `/home/<name>` and `/root` at the start of a path to `~` (another user's
///    home, or root's); inside a longer path (`/mnt/home/bob/x`) the name becomes `<user>`;
/// 3. the user name anywhere else, as a whole word or path component, case-sensitively, to
///    `<user>` (only names of three characters or more: shorter ones would hit ordinary
///    words).
///
/// Then the device's identifiers and secrets, as the one ``IdentifierFilter`` finds them
/// (machine ID, MACs, host name, IP addresses, card numbers; in texts also the values after
/// secret names such as `token=…`), become placeholders (`[machine-id]`, `[mac]`, `[host]`,
/// `[ip]`, `[card]`, `[filtered]`); a breadcrumb's data under a secret's name becomes
/// `[filtered]`.
///
/// It is applied to image paths, frame packages and file names, error messages, thread
/// names and breadcrumb texts. Environment variables need no scrubbing: Steward never
/// captures them, so they appear nowhere in a report.
struct Scrubber: Hashable, Sendable {
    /// The home directory, without trailing slashes; nil when unknown or `/`.
    let homeDirectory: String?
    /// The user name; nil when unknown or shorter than three characters.
    let userName: String?
    /// The device's identifiers and secret shapes.
    let filter: IdentifierFilter
    /// Short texts found clean (with secret values searched), so the same breadcrumb
    /// messages, categories and data are not searched again on every breadcrumb.
    private let clean = CleanTextMemo()

    static func == (a: Scrubber, b: Scrubber) -> Bool { a.homeDirectory == b.homeDirectory && a.userName == b.userName }
    func hash(into hasher: inout Hasher) {
        hasher.combine(homeDirectory)
        hasher.combine(userName)
    }

    init(homeDirectory: String?, userName: String?, filter: IdentifierFilter = .current) {
        self.filter = filter
        var home = homeDirectory ?? ""
        while home.count > 1, home.hasSuffix("/") { home.removeLast() }
        self.homeDirectory = home.hasPrefix("/") && home.count > 1 ? home : nil
        if let userName, userName.count >= 3, !userName.contains("/") {
            self.userName = userName
        } else {
            self.userName = nil
        }
    }

    static let userPlaceholder = "<user>"

    /// The text with the home directory, home paths and user name replaced.
    func scrub(_ text: String, secretValues: Bool = true) -> String {
        guard secretValues else { return scrubUncached(text, secretValues: false) }
        if clean.contains(text) { return text }
        let scrubbed = scrubUncached(text, secretValues: true)
        if scrubbed.utf8.elementsEqual(text.utf8) { clean.insert(text) }
        return scrubbed
    }

    private func scrubUncached(_ text: String, secretValues: Bool) -> String {
        var text = text
        if text.utf8.contains(UInt8(ascii: "/")) || userName != nil {
            var bytes = Array(text.utf8)
            if let homeDirectory { bytes = replaceHome(Array(homeDirectory.utf8), in: bytes) }
            bytes = replaceOtherHomes(in: bytes)
            if let userName { bytes = replaceWord(Array(userName.utf8), in: bytes) }
            text = String(decoding: bytes, as: UTF8.self)
        }
        return filter.redact(text, secretValues: secretValues)
    }

    /// A path or symbol: identifiers replaced, but `token:` is code there, not a secret.
    func scrubPath(_ text: String) -> String { scrub(text, secretValues: false) }

    /// A report with every path and text scrubbed.
    func scrub(report: CrashReport) -> CrashReport {
        var report = report
        report.crashedThread = scrub(thread: report.crashedThread)
        report.otherThreads = report.otherThreads.map { scrub(thread: $0) }
        report.images = report.images.map { scrub(image: $0) }
        if var error = report.error {
            error.type = scrub(error.type)
            error.message = scrub(error.message)
            report.error = error
        }
        report.breadcrumbs = report.breadcrumbs.map { scrub(breadcrumb: $0) }
        report.salvageNotes = report.salvageNotes.map { scrub($0) }
        report.context.executable = report.context.executable.map { scrubPath($0) }
        if var kill = report.outOfMemory {
            kill.cgroup = scrub(kill.cgroup)
            report.outOfMemory = kill
        }
        if var hang = report.hang {
            hang.name = scrub(hang.name)
            report.hang = hang
        }
        return report
    }

    func scrub(thread: CrashThread) -> CrashThread {
        var thread = thread
        thread.name = thread.name.map { scrub($0) }
        thread.frames = thread.frames.map { scrub(frame: $0) }
        return thread
    }

    func scrub(frame: StackFrame) -> StackFrame {
        var frame = frame
        frame.package = frame.package.map { scrubPath($0) }
        frame.filename = frame.filename.map { scrubPath($0) }
        frame.function = frame.function.map { scrubPath($0) }
        return frame
    }

    func scrub(image: BinaryImage) -> BinaryImage {
        var image = image
        image.path = scrubPath(image.path)
        return image
    }

    func scrub(breadcrumb: Breadcrumb) -> Breadcrumb {
        var breadcrumb = breadcrumb
        breadcrumb.category = scrub(breadcrumb.category)
        breadcrumb.message = scrub(breadcrumb.message)
        breadcrumb.data = Dictionary(
            breadcrumb.data.map {
                (scrub($0.key), IdentifierFilter.isSecretKey($0.key) ? "[filtered]" : scrub($0.value))
            },
            uniquingKeysWith: { first, _ in first })
        return breadcrumb
    }

    // MARK: - Byte-level matching

    /// Letters, digits, `_` and any non-ASCII byte: what a name is made of.
    private static func isWordByte(_ byte: UInt8) -> Bool {
        byte >= 0x80 || (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z"))
            || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: "_")
    }

    /// What may appear in a path component besides word bytes.
    private static func isPathByte(_ byte: UInt8) -> Bool {
        isWordByte(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "/")
            || byte == UInt8(ascii: "~") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "@")
    }

    private static func matches(_ needle: [UInt8], in bytes: [UInt8], at index: Int) -> Bool {
        guard index + needle.count <= bytes.count else { return false }
        for offset in 0..<needle.count where bytes[index + offset] != needle[offset] { return false }
        return true
    }

    /// Whether a path may start at `index`: at the start, or after a byte that is not part of
    /// a path (a space, a quote, `=`, `:`, …).
    private static func startsPath(_ bytes: [UInt8], _ index: Int) -> Bool {
        index == 0 || !isPathByte(bytes[index - 1])
    }

    /// Whether a path component ends at `index`.
    private static func endsComponent(_ bytes: [UInt8], _ index: Int) -> Bool {
        index == bytes.count
            || !isWordByte(bytes[index]) && bytes[index] != UInt8(ascii: ".")
                && bytes[index] != UInt8(ascii: "-")
            || bytes[index] == UInt8(ascii: "/")
    }

    private func replaceHome(_ home: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/"), Scrubber.startsPath(bytes, index),
                Scrubber.matches(home, in: bytes, at: index), Scrubber.endsComponent(bytes, index + home.count)
            {
                result.append(UInt8(ascii: "~"))
                index += home.count
            } else {
                result.append(bytes[index])
                index += 1
            }
        }
        return result
    }

    private func replaceOtherHomes(in bytes: [UInt8]) -> [UInt8] {
        let homePrefix = Array("/home/".utf8)
        let root = Array("/root".utf8)
        let placeholder = Array(Scrubber.userPlaceholder.utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/") {
                if Scrubber.matches(homePrefix, in: bytes, at: index) {
                    // The name runs to the next `/` or to a byte that ends the path.
                    var end = index + homePrefix.count
                    while end < bytes.count, bytes[end] != UInt8(ascii: "/"), Scrubber.isPathByte(bytes[end]) {
                        end += 1
                    }
                    if end > index + homePrefix.count {
                        if Scrubber.startsPath(bytes, index) {
                            result.append(UInt8(ascii: "~"))
                        } else {
                            result += homePrefix + placeholder
                        }
                        index = end
                        continue
                    }
                } else if Scrubber.startsPath(bytes, index), Scrubber.matches(root, in: bytes, at: index),
                    Scrubber.endsComponent(bytes, index + root.count)
                {
                    result.append(UInt8(ascii: "~"))
                    index += root.count
                    continue
                }
            }
            result.append(bytes[index])
            index += 1
        }
        return result
    }

    private func replaceWord(_ word: [UInt8], in bytes: [UInt8]) -> [UInt8] {
        let placeholder = Array(Scrubber.userPlaceholder.utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == word[0], index == 0 || !Scrubber.isWordByte(bytes[index - 1]),
                Scrubber.matches(word, in: bytes, at: index),
                index + word.count == bytes.count || !Scrubber.isWordByte(bytes[index + word.count])
            {
                result += placeholder
                index += word.count
            } else {
                result.append(bytes[index])
                index += 1
            }
        }
        return result
    }
}
