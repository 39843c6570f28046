/// The operating system, as os-release(5) describes it.
///
/// Read from `/etc/os-release`, falling back to `/usr/lib/os-release`. A key that is not set,
/// or whose value is not UTF-8, is unavailable with the reason.
public struct OperatingSystem: Codable, Sendable, Hashable {
    /// `ID`: a lowercase name such as `debian` or `fedora`.
    public var id: Field<String>
    /// `VERSION_ID`: such as `12` or `24.04`; rolling releases usually leave it out.
    public var versionID: Field<String>
    /// `PRETTY_NAME`: a name for people, such as `Debian GNU/Linux 12 (bookworm)`.
    public var prettyName: Field<String>
    /// The file the values came from (`/etc/os-release` or `/usr/lib/os-release`).
    public var source: Field<String>

    /// Creates an operating-system description from its fields.
    public init(id: Field<String>, versionID: Field<String>, prettyName: Field<String>, source: Field<String>) {
        self.id = id
        self.versionID = versionID
        self.prettyName = prettyName
        self.source = source
    }

    /// Reads os-release through `files`.
    ///
    /// - Parameter files: Where to read from.
    /// - Returns: The description; fields are unavailable with a reason when they cannot be read.
    public static func read(files: SystemFiles) -> OperatingSystem {
        var reasons: [String] = []
        for path in ["/etc/os-release", "/usr/lib/os-release"] {
            switch files.bytes(path, limit: 64 << 10) {
            case .value(let bytes):
                let values = OSReleaseParser.parse(bytes)
                func field(_ key: String) -> Field<String> {
                    guard let value = values[key] else {
                        return .unavailable(reason: "\(key) is not set in \(path)")
                    }
                    return value.flatMap {
                        $0.isEmpty ? .unavailable(reason: "\(key) is empty in \(path)") : .value($0)
                    }
                }
                return OperatingSystem(
                    id: field("ID"), versionID: field("VERSION_ID"),
                    prettyName: field("PRETTY_NAME"), source: .value(path))
            case .unavailable(let reason):
                reasons.append(reason)
            }
        }
        let reason = "no readable os-release: " + reasons.joined(separator: "; ")
        return OperatingSystem(
            id: .unavailable(reason: reason), versionID: .unavailable(reason: reason),
            prettyName: .unavailable(reason: reason), source: .unavailable(reason: reason))
    }
}

/// Parses os-release(5): `KEY=value` lines, shell-style quoting and escapes, `#` comments.
///
/// Lines that are not assignments are ignored. A value that is not valid UTF-8 is kept as an
/// unavailable field, so the profile can say why the key is missing.
enum OSReleaseParser {
    static func parse(_ bytes: [UInt8]) -> [String: Field<String>] {
        var values: [String: Field<String>] = [:]
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            guard let (key, valueBytes) = parseLine(Array(line)) else { continue }
            if let value = String(validating: valueBytes, as: UTF8.self) {
                values[key] = .value(value)
            } else {
                values[key] = .unavailable(reason: "\(key) is not valid UTF-8")
            }
        }
        return values
    }

    /// One assignment, or `nil` for comments, blank lines and garbage.
    static func parseLine(_ line: [UInt8]) -> (String, [UInt8])? {
        var start = 0
        while start < line.count, line[start] == UInt8(ascii: " ") || line[start] == UInt8(ascii: "\t") { start += 1 }
        guard start < line.count, line[start] != UInt8(ascii: "#") else { return nil }
        guard let equals = line[start...].firstIndex(of: UInt8(ascii: "=")) else { return nil }
        let keyBytes = line[start..<equals]
        guard let first = keyBytes.first, isKeyStart(first), keyBytes.allSatisfy(isKeyByte) else { return nil }
        let key = String(decoding: keyBytes, as: UTF8.self)
        guard let value = unquote(Array(line[(equals + 1)...])) else { return nil }
        return (key, value)
    }

    /// Removes shell quoting: double quotes (with `\` escapes), single quotes, bare words.
    /// Returns `nil` for an unterminated quote.
    static func unquote(_ raw: [UInt8]) -> [UInt8]? {
        var output: [UInt8] = []
        var index = 0
        var quote: UInt8? = nil
        // Trailing whitespace and carriage returns outside quotes are not part of the value.
        var end = raw.count
        while end > 0, [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r")].contains(raw[end - 1]) { end -= 1 }
        while index < end {
            let byte = raw[index]
            switch quote {
            case UInt8(ascii: "'"):
                if byte == UInt8(ascii: "'") { quote = nil } else { output.append(byte) }
            case UInt8(ascii: "\""):
                if byte == UInt8(ascii: "\"") {
                    quote = nil
                } else if byte == UInt8(ascii: "\\"), index + 1 < end,
                    [UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "$"), UInt8(ascii: "`")].contains(
                        raw[index + 1])
                {
                    output.append(raw[index + 1])
                    index += 1
                } else {
                    output.append(byte)
                }
            default:
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: "\\"), index + 1 < end {
                    output.append(raw[index + 1])
                    index += 1
                } else {
                    output.append(byte)
                }
            }
            index += 1
        }
        return quote == nil ? output : nil
    }

    private static func isKeyStart(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
            || byte == UInt8(ascii: "_")
    }

    private static func isKeyByte(_ byte: UInt8) -> Bool {
        isKeyStart(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }
}
