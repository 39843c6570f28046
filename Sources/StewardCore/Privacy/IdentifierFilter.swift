import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one filter of device identifiers and secrets, used wherever text Steward did not write
/// itself may leave the device or reach the disk: event and metric attributes, breadcrumbs,
/// handled-error messages, crash reports and resource attributes.
///
/// **What it finds.**
/// - This device's identifiers, as literal values (ASCII case ignored): the machine ID in hex
///   and in dashed UUID form, from `/etc/machine-id` and from each path given to
///   ``include(machineIDPath:)``; every MAC address of the device's network interfaces
///   (`/sys/class/net/*/address`) in the usual notations (`00:1b:21:aa:bb:cc`,
///   `00-1b-21-aa-bb-cc`, `001b.21aa.bbcc`, `001b21aabbcc`, so MAC-based interface names such
///   as `wlx001b21aabbcc` too); the host name (one shorter than four characters, such as `vm`,
///   only as the whole text); the home directory; the user name (three characters or more, as
///   a whole word).
/// - Shapes that are identifiers or secrets whoever they belong to: IPv4 addresses (with a
///   port too) and IPv6 addresses, MAC addresses (six hex pairs with `:` or `-`), payment card
///   numbers (13–19 digits, spaces or dashes between, passing the Luhn check), and the value
///   after a secret's name in `name=value` or `name: value` and after `Bearer`.
/// - Secret names, as Sentry's client-side data scrubbing defaults list them
///   (``isSecretKey(_:)-swift.type.method``): password, passwd, mysql_pwd, secret, api_key, apikey, auth,
///   credential, private_key, privatekey, token, session_id, sessionid, cookie, csrf, xsrf,
///   bearer (as substrings, as Sentry's server-side scrubbing matches them: `author` too).
///
/// **What callers do with it.** ``contains(_:)`` for values that are dropped whole (attribute
/// values), ``redact(_:secretValues:)`` for free text that is kept with each finding replaced by a
/// placeholder (`[machine-id]`, `[mac]`, `[host]`, `[ip]`, `[card]`, `[filtered]`, `~`,
/// `<user>`), ``isSecretKey(_:)-swift.type.method`` for keys whose value is dropped or filtered.
///
/// ```swift
/// let filter = IdentifierFilter.current
/// filter.redact("upload from 10.0.0.7 failed, token=abc")  // "upload from [ip] failed, token=[filtered]"
/// ```
public struct IdentifierFilter: Sendable {
    /// A literal value to find, with what replaces it.
    struct Needle: Sendable, Hashable {
        /// Lowercase ASCII (other bytes as they are).
        let bytes: [UInt8]
        let placeholder: String
        /// Only as a whole word (the user name).
        let wholeWord: Bool
        /// Only as the whole text (host names shorter than four characters, such as `vm`).
        var wholeValue = false
    }

    let needles: [Needle]
    /// The home directory (no trailing slash), replaced by `~` where a path starts with it.
    let homeDirectory: String?

    /// A filter of exactly these device values (for tests and for hosts that know better):
    /// machine IDs in hex, MAC addresses in any notation, host names, a home directory and a
    /// user name.
    public init(
        machineIDs: [String] = [], macAddresses: [String] = [], hostNames: [String] = [],
        homeDirectory: String? = nil, userName: String? = nil
    ) {
        var needles: Set<Needle> = []
        func add(_ text: String, _ placeholder: String, wholeWord: Bool = false, shortAsWholeValue: Bool = false) {
            let bytes = Array(text.utf8).map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }
            if shortAsWholeValue, !bytes.isEmpty, bytes.count < 4 {
                needles.insert(Needle(bytes: bytes, placeholder: placeholder, wholeWord: true, wholeValue: true))
                return
            }
            guard bytes.count >= 3 else { return }
            needles.insert(Needle(bytes: bytes, placeholder: placeholder, wholeWord: wholeWord || bytes.count < 4))
        }
        for id in machineIDs {
            let hex = Self.hexDigits(id)
            guard hex.count == 32 else { continue }
            add(hex, "[machine-id]")
            let h = Array(hex)
            add(
                String(h[0..<8]) + "-" + String(h[8..<12]) + "-" + String(h[12..<16]) + "-" + String(h[16..<20]) + "-"
                    + String(h[20..<32]), "[machine-id]")
        }
        for mac in macAddresses {
            let hex = Self.hexDigits(mac)
            guard hex.count == 12, hex != "000000000000", hex != "ffffffffffff" else { continue }
            let h = Array(hex)
            let pairs = stride(from: 0, to: 12, by: 2).map { String(h[$0..<$0 + 2]) }
            add(pairs.joined(separator: ":"), "[mac]")
            add(pairs.joined(separator: "-"), "[mac]")
            add(String(h[0..<4]) + "." + String(h[4..<8]) + "." + String(h[8..<12]), "[mac]")
            add(hex, "[mac]")
        }
        // As a whole word (`kiosk-07.lan`, `user@kiosk-07`), not inside a longer one.
        for host in hostNames where !host.isEmpty && host != "localhost" {
            add(host, "[host]", wholeWord: true, shortAsWholeValue: true)
        }
        if let userName, userName.utf8.count >= 3, !userName.contains("/") { add(userName, "<user>", wholeWord: true) }
        // Longest first: a MAC's plain hex inside a longer match is replaced once.
        self.needles = needles.sorted {
            $0.bytes.count != $1.bytes.count
                ? $0.bytes.count > $1.bytes.count : $0.bytes.lexicographicallyPrecedes($1.bytes)
        }
        var home = homeDirectory ?? ""
        while home.count > 1, home.hasSuffix("/") { home.removeLast() }
        self.homeDirectory = home.hasPrefix("/") && home.count > 1 ? home : nil
    }

    // MARK: - This device

    private struct Shared {
        var filter: IdentifierFilter?
        /// The machine IDs read from configured paths, most recent last; at most
        /// ``maximumConfiguredIDs`` (a process has one; a test process makes many, and every
        /// ID is a value each text is searched for).
        var configuredIDs: [String] = []
        var macSources: [String: @Sendable () -> [String]] = [:]
    }

    static let maximumConfiguredIDs = 16

    private static let generationCounter = Atomic<UInt64>(0)

    /// Changes whenever what ``current`` finds may change (a machine ID or a MAC source was
    /// added): a memo of results of ``current`` is valid for one generation.
    package static var generation: UInt64 { generationCounter.load(ordering: .acquiring) }

    private static let shared = Mutex(Shared())

    /// The filter of this device, read on first use (machine IDs, MACs, host name, home, user)
    /// and again after ``include(machineIDPath:)`` or ``include(macSource:named:)``.
    public static var current: IdentifierFilter {
        shared.withLock { s in
            if let filter = s.filter { return filter }
            let filter = device(
                machineIDPaths: ["/etc/machine-id"], extraIDs: s.configuredIDs,
                extraMACs: s.macSources.values.flatMap { $0() })
            s.filter = filter
            return filter
        }
    }

    /// Adds the machine ID read from `path` (a configured `machineIDPath`) to ``current``; the
    /// last 16 such IDs are kept (one per configured path; a test process makes many).
    public static func include(machineIDPath path: String) {
        // Read once, here: a rebuild reads only /etc/machine-id again.
        guard let bytes = FileSystem.readSmallFile(path, limit: 64) else { return }
        let id = hexDigits(String(decoding: bytes, as: UTF8.self))
        guard id.count == 32 else { return }
        shared.withLock { s in
            if s.configuredIDs.last == id { return }
            s.configuredIDs.removeAll { $0 == id }
            s.configuredIDs.append(id)
            if s.configuredIDs.count > maximumConfiguredIDs {
                s.configuredIDs.removeFirst(s.configuredIDs.count - maximumConfiguredIDs)
            }
            s.filter = nil
            generationCounter.add(1, ordering: .releasing)
        }
    }

    /// Adds MAC addresses only a module of a higher layer can read (the permanent addresses
    /// behind randomised ones, through `ETHTOOL_GPERMADDR`): `source` runs when ``current`` is
    /// next built. Registering the same `name` again is ignored: the first source stays.
    public static func include(macSource source: @escaping @Sendable () -> [String], named name: String) {
        shared.withLock { s in
            guard s.macSources[name] == nil else { return }
            s.macSources[name] = source
            s.filter = nil
            generationCounter.add(1, ordering: .releasing)
        }
    }

    /// Reads this device's values.
    static func device(machineIDPaths: [String], extraIDs: [String] = [], extraMACs: [String] = []) -> IdentifierFilter
    {
        var ids: [String] = extraIDs
        for path in machineIDPaths {
            // Bounded: the file's size is not Steward's to trust (a machine id is 33 bytes).
            if let bytes = FileSystem.readSmallFile(path, limit: 64) {
                ids.append(String(decoding: bytes, as: UTF8.self))
            }
        }
        var macs: [String] = []
        if case .success(let names) = DirectoryListing.entries("/sys/class/net") {
            for name in names where !name.hasPrefix(".") {
                if let bytes = FileSystem.readSmallFile("/sys/class/net/\(name)/address", limit: 128) {
                    macs.append(String(decoding: bytes, as: UTF8.self))
                }
                // A MAC-based name (`wlx` and 12 hex digits) spells an address out.
                if name.utf8.count == 15, Array(name.utf8)[2] == UInt8(ascii: "x") {
                    macs.append(String(name.dropFirst(3)))
                }
            }
        }
        var hosts: [String] = []
        var host = [CChar](repeating: 0, count: 256)
        if gethostname(&host, host.count) == 0 {
            hosts.append(String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        // root is not a person's name (and would take every "root" out of every text).
        return IdentifierFilter(
            machineIDs: ids, macAddresses: macs + extraMACs, hostNames: hosts,
            homeDirectory: Self.environment("HOME"), userName: geteuid() == 0 ? nil : Self.userName())
    }

    private static func environment(_ name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let text = String(cString: value)
        return text.isEmpty ? nil : text
    }

    /// The effective user's login name, from the password database.
    package static func userName() -> String? {
        var record = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        guard getpwuid_r(geteuid(), &record, &buffer, buffer.count, &result) == 0, result != nil,
            let name = record.pw_name
        else { return nil }
        return String(cString: name)
    }

    /// The hex digits of `text`, lowercase, when it is made of hex digits and the separators
    /// `:`, `-`, `.` and white space only; "" otherwise.
    static func hexDigits(_ text: String) -> String {
        var out: [UInt8] = []
        for byte in text.utf8 {
            if let value = Hex.nibble(byte) {
                out.append(Hex.digits[Int(value)])
            } else if byte == UInt8(ascii: ":") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
                || byte == 0x20 || byte == 0x0A || byte == 0x09
            {
                continue
            } else {
                return ""
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: - Secret names

    private static let secretWords = [
        "password", "passwd", "mysql_pwd", "secret", "api_key", "apikey", "auth", "credential",
        "private_key", "privatekey", "token", "session_id", "sessionid", "cookie", "csrf", "xsrf", "bearer",
    ]

    /// Whether `key` names a secret (ASCII case ignored, `-` read as `_`): it contains one of
    /// Sentry's default scrubbed words. `Idempotency-Key` and `Content-Type` do not.
    public static func isSecretKey(_ key: String) -> Bool {
        if let found = key.utf8.withContiguousStorageIfAvailable({ isSecretWord($0, 0..<$0.count) }) { return found }
        return Array(key.utf8).withUnsafeBufferPointer { isSecretWord($0, 0..<$0.count) }
    }

    /// See ``isSecretKey(_:)``.
    public func isSecretKey(_ key: String) -> Bool { Self.isSecretKey(key) }

    private static let secretWordBytes = secretWords.map { Array($0.utf8) }
    private static let bearer = Array("bearer".utf8)

    /// Whether `range` of `bytes`, read like ``isSecretKey(_:)``, contains a secret word.
    private static func isSecretWord(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        secretWordBytes.contains { word in
            guard word.count <= range.count else { return false }
            var start = range.lowerBound
            while start + word.count <= range.upperBound {
                if matchesWord(bytes, start..<start + word.count, word) { return true }
                start += 1
            }
            return false
        }
    }

    /// Whether `range` equals `word` with ASCII case ignored and `-` read as `_`.
    private static func matchesWord(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, _ word: [UInt8]) -> Bool {
        guard range.count == word.count else { return false }
        for (offset, expected) in word.enumerated() {
            var byte = lower(bytes[range.lowerBound + offset])
            if byte == UInt8(ascii: "-") { byte = UInt8(ascii: "_") }
            if byte != expected { return false }
        }
        return true
    }

    // MARK: - Finding

    /// Whether `text` holds anything the filter finds (an attribute value that must be dropped).
    public func contains(_ text: String) -> Bool {
        // Native strings are contiguous UTF-8: scanned in place, without a copy.
        if let found = text.utf8.withContiguousStorageIfAvailable({ !findings(in: $0).isEmpty }) { return found }
        return Array(text.utf8).withUnsafeBufferPointer { !findings(in: $0).isEmpty }
    }

    /// `text` with every finding replaced by its placeholder; without `secretValues`, the values
    /// after secret names are left (for symbol names and paths, where `token:` is code).
    ///
    /// Redaction runs again on its own result (up to four passes) until nothing new is found: a
    /// placeholder can make a word of what was glued to a finding (`kiosk-07` in
    /// `kiosk-0700:1b:21:aa:bb:cc` becomes a word once the MAC is `[mac]`).
    public func redact(_ text: String, secretValues: Bool = true) -> String {
        var current = text
        for _ in 0..<4 {
            let next = redactOnce(current, secretValues: secretValues)
            if next == current { return next }
            current = next
        }
        return current
    }

    private func redactOnce(_ text: String, secretValues: Bool) -> String {
        let bytes = Array(text.utf8)
        let found = bytes.withUnsafeBufferPointer { findings(in: $0, secretValues: secretValues) }
        guard !found.isEmpty else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        for finding in found {
            out += bytes[index..<finding.range.lowerBound]
            out += Array(finding.placeholder.utf8)
            index = finding.range.upperBound
        }
        out += bytes[index...]
        return String(decoding: out, as: UTF8.self)
    }

    struct Finding {
        let range: Range<Int>
        let placeholder: String
    }

    /// Every finding, sorted, without overlaps (the earliest, then the longest wins).
    func findings(in bytes: UnsafeBufferPointer<UInt8>, secretValues: Bool = true) -> [Finding] {
        guard !bytes.isEmpty else { return [] }
        var found: [Finding] = []
        if let homeDirectory { found += Self.paths(Array(homeDirectory.utf8), in: bytes, placeholder: "~") }
        for needle in needles { found += Self.occurrences(needle, in: bytes) }
        found += Self.shapes(in: bytes)
        if secretValues { found += Self.secretValues(in: bytes) }
        guard found.count > 1 else { return found }
        found.sort {
            $0.range.lowerBound != $1.range.lowerBound
                ? $0.range.lowerBound < $1.range.lowerBound : $0.range.count > $1.range.count
        }
        // Overlapping findings merge into one (the earlier one's placeholder), so no tail of a
        // longer finding is left in the text.
        var kept: [Finding] = []
        for finding in found {
            if let last = kept.last, finding.range.lowerBound < last.range.upperBound {
                if finding.range.upperBound > last.range.upperBound {
                    kept[kept.count - 1] = Finding(
                        range: last.range.lowerBound..<finding.range.upperBound, placeholder: last.placeholder)
                }
            } else {
                kept.append(finding)
            }
        }
        return kept
    }

    private static func lower(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }

    /// Letters, digits, `_` and any non-ASCII byte.
    private static func isWordByte(_ byte: UInt8) -> Bool {
        byte >= 0x80 || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == UInt8(ascii: "_")
    }

    private static func occurrences(_ needle: Needle, in bytes: UnsafeBufferPointer<UInt8>) -> [Finding] {
        let n = needle.bytes
        guard n.count <= bytes.count, !needle.wholeValue || n.count == bytes.count else { return [] }
        var found: [Finding] = []
        var start = 0
        let last = bytes.count - n.count
        while start <= last {
            if lower(bytes[start]) == n[0] {
                var i = 1
                while i < n.count, lower(bytes[start + i]) == n[i] { i += 1 }
                if i == n.count,
                    !needle.wholeWord
                        || ((start == 0 || !isWordByte(bytes[start - 1]))
                            && (start + n.count == bytes.count || !isWordByte(bytes[start + n.count])))
                {
                    found.append(Finding(range: start..<start + n.count, placeholder: needle.placeholder))
                    start += n.count
                    continue
                }
            }
            start += 1
        }
        return found
    }

    /// The home directory where a path starts with it and the component ends there.
    private static func paths(_ home: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, placeholder: String) -> [Finding] {
        var found: [Finding] = []
        var start = 0
        while start + home.count <= bytes.count {
            if bytes[start] == home[0],
                UnsafeBufferPointer(rebasing: bytes[start..<start + home.count]).elementsEqual(home),
                start == 0
                    || !(isWordByte(bytes[start - 1]) || bytes[start - 1] == UInt8(ascii: "/")
                        || bytes[start - 1] == UInt8(ascii: ".")),
                start + home.count == bytes.count
                    || !isWordByte(bytes[start + home.count]) && bytes[start + home.count] != UInt8(ascii: "-")
                        && bytes[start + home.count] != UInt8(ascii: ".")
            {
                found.append(Finding(range: start..<start + home.count, placeholder: placeholder))
                start += home.count
            } else {
                start += 1
            }
        }
        return found
    }

    private static func isHex(_ byte: UInt8) -> Bool { Hex.nibble(byte) != nil }

    /// Tokens that are IP addresses, MAC addresses or card numbers.
    private static func shapes(in bytes: UnsafeBufferPointer<UInt8>) -> [Finding] {
        var found: [Finding] = []
        // Card numbers: runs of 13–19 digits with single spaces or dashes between them.
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            guard byte >= 0x30 && byte <= 0x39, index == 0 || !isWordByte(bytes[index - 1]) else {
                index += 1
                continue
            }
            var count = 0
            var end = index
            var cursor = index
            while cursor < bytes.count, count <= 19 {
                let b = bytes[cursor]
                if b >= 0x30 && b <= 0x39 {
                    count += 1
                    cursor += 1
                    end = cursor
                } else if b == 0x20 || b == UInt8(ascii: "-"), cursor + 1 < bytes.count,
                    bytes[cursor + 1] >= 0x30 && bytes[cursor + 1] <= 0x39
                {
                    cursor += 1
                } else {
                    break
                }
            }
            if (13...19).contains(count), end == bytes.count || !isWordByte(bytes[end]), luhn(bytes, index..<end) {
                found.append(Finding(range: index..<end, placeholder: "[card]"))
            }
            index = max(end, index + 1)
        }
        // Addresses: tokens between separators, with a digit or hex and a `.` or `:`.
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count, !isSeparator(bytes[end]) { end += 1 }
            if end > start { found += address(in: bytes, start..<end) }
            start = end + 1
        }
        return found
    }

    private static func isSeparator(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "/"), UInt8(ascii: "["),
            UInt8(ascii: "]"),
            UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: "="),
            UInt8(ascii: "<"),
            UInt8(ascii: ">"), UInt8(ascii: "@"), UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "|"):
            return true
        default:
            return false
        }
    }

    /// The token `range` (trimmed of trailing punctuation) as an address finding, if it is one.
    private static func address(in bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> [Finding] {
        var upper = range.upperBound
        while upper > range.lowerBound, bytes[upper - 1] == UInt8(ascii: ".") || bytes[upper - 1] == UInt8(ascii: ":") {
            upper -= 1
        }
        let lowerBound = range.lowerBound
        guard upper - lowerBound >= 7, upper - lowerBound <= 64 else { return [] }
        let slice = UnsafeBufferPointer(rebasing: bytes[lowerBound..<upper])
        guard slice.contains(where: { $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "-") })
        else { return [] }
        let token = Array(slice)
        if isMAC(token) { return [Finding(range: lowerBound..<upper, placeholder: "[mac]")] }
        guard token.contains(where: { $0 >= 0x30 && $0 <= 0x39 }) || token.contains(UInt8(ascii: ":")) else {
            return []
        }
        let text = String(decoding: token, as: UTF8.self)
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return [Finding(range: lowerBound..<upper, placeholder: "[ip]")] }
        if token.contains(UInt8(ascii: ":")) {
            if inet_pton(AF_INET6, text, &v6) == 1 { return [Finding(range: lowerBound..<upper, placeholder: "[ip]")] }
            // An IPv4 address with a port: 10.0.0.1:8080.
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            if parts.count == 2, inet_pton(AF_INET, String(parts[0]), &v4) == 1, !parts[1].isEmpty,
                parts[1].allSatisfy(\.isNumber)
            {
                return [Finding(range: lowerBound..<upper, placeholder: "[ip]")]
            }
            // A label before it: addr:10.0.0.7, peer=host:10.0.0.7:443.
            var found: [Finding] = []
            var offset = lowerBound
            for part in parts {
                let count = part.utf8.count
                if count >= 7, inet_pton(AF_INET, String(part), &v4) == 1 {
                    found.append(Finding(range: offset..<offset + count, placeholder: "[ip]"))
                }
                offset += count + 1
            }
            return found
        }
        return []
    }

    /// Six hex pairs joined by `:` or by `-` (one separator throughout).
    private static func isMAC(_ token: [UInt8]) -> Bool {
        guard token.count == 17 else { return false }
        let separator = token[2]
        guard separator == UInt8(ascii: ":") || separator == UInt8(ascii: "-") else { return false }
        for (i, byte) in token.enumerated() {
            if i % 3 == 2 { if byte != separator { return false } } else if !isHex(byte) { return false }
        }
        return true
    }

    /// The Luhn check over the digits of `range` (other bytes skipped).
    private static func luhn(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) -> Bool {
        var sum = 0
        var offset = 0
        for index in range.reversed() where bytes[index] >= 0x30 && bytes[index] <= 0x39 {
            var d = Int(bytes[index] - 0x30)
            if offset % 2 == 1 {
                d *= 2
                if d > 9 { d -= 9 }
            }
            sum += d
            offset += 1
        }
        return sum % 10 == 0
    }

    /// The values after a secret's name (`token=abc`, `"password": "x"`, `Bearer abc`).
    private static func secretValues(in bytes: UnsafeBufferPointer<UInt8>) -> [Finding] {
        guard bytes.count >= 5 else { return [] }
        var found: [Finding] = []
        var index = 0
        while index < bytes.count {
            // A word of letters, digits, `_` and `-`.
            guard isWordByte(bytes[index]) || bytes[index] == UInt8(ascii: "-"),
                index == 0 || !(isWordByte(bytes[index - 1]) || bytes[index - 1] == UInt8(ascii: "-"))
            else {
                index += 1
                continue
            }
            var end = index
            while end < bytes.count, isWordByte(bytes[end]) || bytes[end] == UInt8(ascii: "-") { end += 1 }
            defer { index = max(end, index + 1) }
            guard end - index >= 3, isSecretWord(bytes, index..<end) else { continue }
            let isBearer = end - index == 6 && matchesWord(bytes, index..<end, Self.bearer)
            // After the name: optional closing quote and spaces, then `=` or `:` (or a space
            // after Bearer), optional spaces and an opening quote, then the value.
            var cursor = end
            if cursor < bytes.count, bytes[cursor] == UInt8(ascii: "\"") || bytes[cursor] == UInt8(ascii: "'") {
                cursor += 1
            }
            while cursor < bytes.count, bytes[cursor] == 0x20 { cursor += 1 }
            if !isBearer {
                guard cursor < bytes.count, bytes[cursor] == UInt8(ascii: "=") || bytes[cursor] == UInt8(ascii: ":")
                else { continue }
                cursor += 1
            } else if cursor == end {
                continue
            }
            while cursor < bytes.count, bytes[cursor] == 0x20 { cursor += 1 }
            var quote: UInt8?
            if cursor < bytes.count, bytes[cursor] == UInt8(ascii: "\"") || bytes[cursor] == UInt8(ascii: "'") {
                quote = bytes[cursor]
                cursor += 1
            }
            let valueStart = cursor
            while cursor < bytes.count {
                let b = bytes[cursor]
                if let quote {
                    if b == quote { break }
                } else if b == 0x20 || b == UInt8(ascii: ",") || b == UInt8(ascii: ";") || b == UInt8(ascii: "&")
                    || b == UInt8(ascii: "}") || b == 0x0A
                {
                    break
                }
                cursor += 1
            }
            if cursor > valueStart { found.append(Finding(range: valueStart..<cursor, placeholder: "[filtered]")) }
        }
        return found
    }
}
