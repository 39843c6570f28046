import Foundation

/// The memory cgroup a process runs in, and what the kernel's counters of that cgroup said:
/// the OOM kills so far, the limit and the peak. Read at a session's start (kept, sealed, with
/// the open session) and again at the next launch for a session that vanished: a rise of the
/// OOM kill count in between says the OOM killer ended it.
///
/// Everything here parses outside bytes (procfs and cgroupfs files, and the values kept in the
/// vault): lines and fields are bounded, numbers are checked conversions, nothing traps; a file
/// that does not parse gives nil. The fuzz target `FuzzMemoryCgroup` runs the parsers.
struct MemoryCgroup: Codable, Hashable, Sendable {
    /// The cgroup version: 1 (the `memory` controller's own hierarchy) or 2 (the unified one).
    var version: Int
    /// The cgroup's path as `/proc/self/cgroup` gives it: absolute, relative to the hierarchy's
    /// mount point, never with `.` or `..` components.
    var path: String
    /// The kernel's count of OOM kills in this cgroup (`oom_kill`); nil when the kernel does not
    /// count them (before Linux 4.13).
    var oomKills: UInt64?
    /// The memory limit in bytes; nil when there is none (`max`, or v1's page-counter maximum)
    /// or it could not be read.
    var limit: UInt64?
    /// The most memory the cgroup has used, in bytes (v2 `memory.peak`, Linux 5.19 and later;
    /// v1 `memory.max_usage_in_bytes`); nil when unknown.
    var peak: UInt64?

    /// Where the files are: the real ones by default; tests point elsewhere.
    struct Files: Hashable, Sendable {
        /// The process's cgroup membership (`/proc/self/cgroup`).
        var membership = "/proc/self/cgroup"
        /// Where the cgroup hierarchies are mounted (`/sys/fs/cgroup`): v1's memory hierarchy at
        /// `memory/`, v2's at the root itself or, on hybrid systems, at `unified/`.
        var root = "/sys/fs/cgroup"
    }

    /// The longest cgroup path accepted (Linux's `PATH_MAX`).
    static let maximumPathLength = 4096
    /// The most bytes read of any of these files: they are a few hundred bytes.
    static let maximumFileSize = 64 << 10
    /// v1 writes "no limit" as the page counter's maximum (2^63 - 1 rounded down to a page);
    /// any value from 2^62 on is read as no limit.
    static let unlimitedFrom: UInt64 = 1 << 62

    // MARK: - Reading

    /// This process's memory cgroup and its counters now; nil when it has none that can be
    /// read (no cgroup filesystem, a path that does not parse, a counter file not readable).
    static func current(_ files: Files = Files()) -> MemoryCgroup? {
        guard let bytes = readRegularFile(files.membership, limit: maximumFileSize),
            let (version, path) = membership(bytes)
        else { return nil }
        return read(version: version, path: path, files: files)
    }

    /// The counters of the cgroup at `path` now; nil when its OOM counter file cannot be read
    /// (the cgroup is gone, or the filesystem is not mounted where expected).
    static func read(version: Int, path: String, files: Files = Files()) -> MemoryCgroup? {
        // A path from the vault is outside input too: checked again before it names a file.
        guard isValidPath(path) else { return nil }
        let suffix = path == "/" ? "" : path
        switch version {
        case 1:
            let folder = files.root + "/memory" + suffix
            guard let control = readRegularFile(folder + "/memory.oom_control", limit: maximumFileSize) else {
                return nil
            }
            return MemoryCgroup(
                version: 1, path: path, oomKills: keyedValue("oom_kill", in: control),
                limit: readRegularFile(folder + "/memory.limit_in_bytes", limit: maximumFileSize).flatMap(limit),
                peak: readRegularFile(folder + "/memory.max_usage_in_bytes", limit: maximumFileSize).flatMap(number))
        case 2:
            for folder in [files.root + suffix, files.root + "/unified" + suffix] {
                guard let events = readRegularFile(folder + "/memory.events", limit: maximumFileSize) else { continue }
                return MemoryCgroup(
                    version: 2, path: path, oomKills: keyedValue("oom_kill", in: events),
                    limit: readRegularFile(folder + "/memory.max", limit: maximumFileSize).flatMap(limit),
                    peak: readRegularFile(folder + "/memory.peak", limit: maximumFileSize).flatMap(number))
            }
            return nil
        default:
            return nil
        }
    }

    // MARK: - Parsing

    /// The memory cgroup in a `/proc/PID/cgroup` file: the v1 line whose controllers include
    /// `memory` (`4:memory:/a/b`) when there is one, otherwise the v2 line (`0::/a/b`).
    /// Each line is `ID:CONTROLLERS:PATH`; the path may itself hold colons.
    static func membership(_ bytes: [UInt8]) -> (version: Int, path: String)? {
        guard bytes.count <= maximumFileSize else { return nil }
        var unified: String?
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            let fields = line.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3, !fields[0].isEmpty, fields[0].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
                let path = String(validating: fields[2], as: UTF8.self), isValidPath(path)
            else { continue }
            let controllers = fields[1].split(separator: UInt8(ascii: ","))
            if controllers.contains(where: { $0.elementsEqual("memory".utf8) }) { return (1, path) }
            if fields[1].isEmpty, fields[0].elementsEqual("0".utf8), unified == nil { unified = path }
        }
        return unified.map { (2, $0) }
    }

    /// Whether `path` is one a cgroup can have: absolute, at most ``maximumPathLength`` bytes, no
    /// NUL or newline, no empty, `.` or `..` component (so it names a folder under the mount
    /// point and nothing else).
    static func isValidPath(_ path: String) -> Bool {
        let utf8 = path.utf8
        guard utf8.first == UInt8(ascii: "/"), utf8.count <= maximumPathLength,
            !utf8.contains(0), !utf8.contains(UInt8(ascii: "\n"))
        else { return false }
        if path == "/" { return true }
        let components = utf8.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        return components.allSatisfy { !$0.isEmpty && !$0.elementsEqual(".".utf8) && !$0.elementsEqual("..".utf8) }
    }

    /// The value of `key` in a flat keyed file (`memory.events`, `memory.oom_control`: one
    /// `KEY VALUE` a line); nil when the key is absent or its value is not a decimal `UInt64`.
    static func keyedValue(_ key: String, in bytes: [UInt8]) -> UInt64? {
        guard bytes.count <= maximumFileSize else { return nil }
        for line in bytes.split(separator: UInt8(ascii: "\n")) {
            let fields = line.split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
            guard fields.count == 2, fields[0].elementsEqual(key.utf8) else { continue }
            return decimal(fields[1])
        }
        return nil
    }

    /// A file holding one decimal number and a newline (`memory.peak`).
    static func number(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count <= 64 else { return nil }
        var text = bytes[...]
        while let last = text.last, last == UInt8(ascii: "\n") || last == UInt8(ascii: " ") { text = text.dropLast() }
        return decimal(text)
    }

    /// A limit file: a number, or `max` (v2) or a value from ``unlimitedFrom`` on (v1) for none.
    static func limit(_ bytes: [UInt8]) -> UInt64? {
        guard let value = number(bytes), value < unlimitedFrom else { return nil }
        return value
    }

    /// Decimal digits only (no sign, no spaces), at most 20 of them, without overflow.
    static func decimal(_ digits: some Collection<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 20 else { return nil }
        var value: UInt64 = 0
        for digit in digits {
            guard digit >= 0x30, digit <= 0x39 else { return nil }
            let (times, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = times.addingReportingOverflow(UInt64(digit - 0x30))
            guard !overflowA, !overflowB else { return nil }
            value = sum
        }
        return value
    }

    // MARK: - Comparing

    /// OOM kills in this cgroup since `earlier` was read; nil when either count is unknown or
    /// the count went down (the cgroup was removed and made again under the same path: the
    /// counts are not comparable).
    func oomKills(since earlier: MemoryCgroup) -> UInt64? {
        guard version == earlier.version, path == earlier.path, let now = oomKills, let then = earlier.oomKills,
            now >= then
        else { return nil }
        return now - then
    }

    /// A byte count as people read it: `64 MiB`, `1.5 GiB`, `512 B`.
    static func describe(bytes: UInt64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let rounded = (value * 10).rounded() / 10
        return rounded == rounded.rounded() ? "\(Int(rounded)) \(units[unit])" : "\(rounded) \(units[unit])"
    }
}
