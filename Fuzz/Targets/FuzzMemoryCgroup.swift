import Foundation
@testable import StewardCrash

/// What a session's start and the next launch read of the process's memory cgroup:
/// `/proc/self/cgroup` (v1 and v2 lines), the flat keyed counter files (`memory.oom_control`,
/// `memory.events`), the one-number files (`memory.limit_in_bytes`, `memory.max`, `memory.peak`),
/// and a whole cgroup folder of such files read through the path a membership file names.
///
/// Input: a selector byte, then the file. Checks: nothing traps; a membership path is absolute
/// and free of `.`, `..` and empty components; a number that parses is written back as the same
/// digits (no sign, no leading zero unless it is 0) and a limit is below v1's "no limit" value;
/// a count never rises against itself.
public enum FuzzMemoryCgroup: FuzzTarget {
    public static let name = "FuzzMemoryCgroup"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let bytes = Array(input.dropFirst())
        switch selector % 4 {
        case 0:
            guard let (version, path) = MemoryCgroup.membership(bytes) else { return }
            try require(version == 1 || version == 2, "membership gave version \(version)")
            try require(MemoryCgroup.isValidPath(path), "membership gave the path \(path.debugDescription)")
            try require(!path.split(separator: "/").contains(".."), "a path with .. got through")
        case 1:
            for key in ["oom_kill", "oom_kill_disable", "under_oom", "max"] {
                guard let value = MemoryCgroup.keyedValue(key, in: bytes) else { continue }
                let kernel = MemoryCgroup(version: 2, path: "/", oomKills: value)
                try require(kernel.oomKills(since: kernel) == 0, "\(value) rose against itself")
            }
        case 2:
            if let value = MemoryCgroup.number(bytes) {
                let digits = bytes.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: " ") }
                let canonical = digits.count == 1 || digits.first != UInt8(ascii: "0")
                try require(
                    !canonical || String(value) == String(decoding: digits, as: UTF8.self),
                    "\(value) does not write back as \(String(decoding: digits, as: UTF8.self).debugDescription)")
            }
            if let limit = MemoryCgroup.limit(bytes) {
                try require(limit < MemoryCgroup.unlimitedFrom, "the limit \(limit) is v1's no-limit value")
            }
            // systemd-coredump's names, boot ids and signal attributes (the next launch reads them too).
            if let signal = CoreDump.signal(attribute: bytes) {
                try require(signal >= 1 && signal <= 64, "the signal attribute gave \(signal)")
            }
            if let bootID = CoreDump.bootID(bytes) {
                try require(
                    bootID.utf8.count == 32
                        && bootID.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) },
                    "the boot id \(bootID.debugDescription) is not 32 lowercase hex digits")
            }
            if let dump = CoreDump.parse(name: String(decoding: bytes, as: UTF8.self)) {
                try require(dump.pid > 0, "a core name gave the pid \(dump.pid)")
            }
        default:
            // A whole folder: the membership file names a v1 or v2 cgroup whose files hold the rest.
            let folder = Scratch.fresh("cgroup")
            let parts = bytes.split(separator: 0, maxSplits: 3, omittingEmptySubsequences: false).map(Array.init)
            let membership = parts.first ?? []
            Scratch.write(membership, to: folder + "/cgroup")
            let files = MemoryCgroup.Files(membership: folder + "/cgroup", root: folder + "/fs")
            if let (version, path) = MemoryCgroup.membership(membership), path.utf8.count < 200 {
                let directory = folder + "/fs" + (version == 1 ? "/memory" : "") + (path == "/" ? "" : path)
                try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
                let names =
                    version == 1
                    ? ["memory.oom_control", "memory.limit_in_bytes", "memory.max_usage_in_bytes"]
                    : ["memory.events", "memory.max", "memory.peak"]
                for (name, content) in zip(names, parts.dropFirst()) {
                    Scratch.write(content, to: directory + "/" + name)
                }
            }
            guard let cgroup = MemoryCgroup.current(files) else { return }
            try require(MemoryCgroup.isValidPath(cgroup.path), "read a cgroup at \(cgroup.path.debugDescription)")
            try require(cgroup.limit.map { $0 < MemoryCgroup.unlimitedFrom } ?? true, "an unlimited limit was kept")
            // Read again, unchanged: no rise.
            if let again = MemoryCgroup.read(version: cgroup.version, path: cgroup.path, files: files) {
                try require((again.oomKills(since: cgroup) ?? 0) == 0, "an unchanged cgroup counted a kill")
            }
        }
    }
}
