import CStewardCrash
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What systemd-coredump kept of a process that died of a signal Steward does not catch
/// (SIGQUIT, SIGSYS, SIGXCPU, SIGXFSZ) or that died before its handler could write (a crash
/// before ``CrashReporter/install()``, no key for the record): a core file in
/// `/var/lib/systemd/coredump` named `core.COMM.UID.BOOTID.PID.USEC[.COMPRESSION]`, with the
/// signal in its `user.coredump.signal` extended attribute. Read at the next launch for a
/// session that vanished; see Crash.md, "Deaths without a signal".
struct CoreDump: Hashable, Sendable {
    /// Who the session's process was: enough to find its core among others'.
    struct Process: Codable, Hashable, Sendable {
        /// Its process id.
        var pid: Int32
        /// The boot it ran in (`/proc/sys/kernel/random/boot_id`, 32 lowercase hex digits): pids
        /// are reused across boots.
        var bootID: String
    }

    /// The core file's name (no folder).
    var file: String
    /// The pid in its name.
    var pid: Int32
    /// The boot id in its name.
    var bootID: String
    /// When the process died (microseconds since 1970 in its name).
    var microseconds: UInt64
    /// The signal it died of (its `user.coredump.signal` attribute), when the file says.
    var signal: Int32?

    /// Where systemd-coredump keeps cores.
    static let defaultDirectory = "/var/lib/systemd/coredump"
    /// The most folder entries looked at (systemd keeps a bounded number; a flooded folder is
    /// not read to its end).
    static let maximumEntries = 10_000

    /// This process, for its session.
    static func current(bootIDFile: String = "/proc/sys/kernel/random/boot_id") -> Process? {
        guard let bytes = readRegularFile(bootIDFile, limit: 128), let bootID = bootID(bytes) else { return nil }
        return Process(pid: getpid(), bootID: bootID)
    }

    /// A boot id file's text (`0a54c194-9337-48ee-9b31-4d80d5f7d162\n`) as the 32 lowercase hex
    /// digits core file names use; nil for anything else.
    static func bootID(_ bytes: [UInt8]) -> String? {
        guard bytes.count <= 128 else { return nil }
        var digits: [UInt8] = []
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "f"): digits.append(byte)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digits.append(byte + 0x20)
            case UInt8(ascii: "-"), UInt8(ascii: "\n"): continue
            default: return nil
            }
        }
        guard digits.count == 32 else { return nil }
        return String(decoding: digits, as: UTF8.self)
    }

    /// A core file's name taken apart: `core.COMM.UID.BOOTID.PID.USEC` and an optional
    /// compression suffix (`zst`, `xz`, `lz4`). systemd escapes dots in COMM (`\x2e`), so the
    /// fields split on dots; nil for any other name.
    static func parse(name: String) -> CoreDump? {
        guard name.utf8.count <= 512 else { return nil }
        var fields = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        if let last = fields.last, ["zst", "xz", "lz4"].contains(last) { fields.removeLast() }
        guard fields.count == 6, fields[0] == "core", !fields[1].isEmpty,
            MemoryCgroup.decimal(fields[2].utf8) != nil,
            let bootID = bootID(Array(fields[3].utf8)), bootID == fields[3],
            let pidValue = MemoryCgroup.decimal(fields[4].utf8), let pid = Int32(exactly: pidValue), pid > 0,
            let microseconds = MemoryCgroup.decimal(fields[5].utf8)
        else { return nil }
        return CoreDump(file: name, pid: pid, bootID: bootID, microseconds: microseconds, signal: nil)
    }

    /// The value of a `user.coredump.signal` attribute: a signal number, 1…64; nil otherwise.
    static func signal(attribute bytes: [UInt8]) -> Int32? {
        guard let value = MemoryCgroup.number(bytes), value >= 1, value <= 64 else { return nil }
        return Int32(value)
    }

    /// The core of `process` that systemd-coredump kept in `directory`, written no earlier than
    /// `since` (a second's slack: the name's time is the kernel's, the session's the clock's);
    /// nil when there is none or the folder cannot be read.
    static func find(for process: Process, since: Date, directory: String = defaultDirectory) -> CoreDump? {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        let start = since.timeIntervalSince1970 - 1
        for name in names.prefix(maximumEntries) {
            guard var dump = parse(name: name), dump.pid == process.pid, dump.bootID == process.bootID,
                Double(dump.microseconds) / 1e6 >= start
            else { continue }
            dump.signal = readSignal(directory + "/" + name)
            return dump
        }
        return nil
    }

    /// The `user.coredump.signal` attribute of `path` (16 bytes at most), without following a
    /// symbolic link.
    static func readSignal(_ path: String) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 16)
        let count = buffer.withUnsafeMutableBytes {
            steward_crash_read_xattr(path, "user.coredump.signal", $0.baseAddress, $0.count)
        }
        guard count > 0, count <= buffer.count else { return nil }
        return signal(attribute: Array(buffer.prefix(count)))
    }
}
