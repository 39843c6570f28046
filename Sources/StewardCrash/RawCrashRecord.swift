import Foundation
import StewardCore
import CStewardCrash

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libc's `read`, by a name the `read` methods below cannot shadow.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// A raw crash record as the handler wrote it (Documentation/CrashRecordFormat.md), parsed
/// section by section. Parsing never traps: whatever cannot be read is dropped, noted in
/// ``notes`` and marks the record ``partial``.
struct RawCrashRecord: Hashable, Sendable {
    /// One register, in the order the record lists them.
    struct Register: Hashable, Sendable {
        var name: String
        var value: UInt64
    }

    /// The format version from the header (nil when the header is unreadable).
    var formatVersion: UInt32?
    /// SIGNAL: the signal number, `si_code`, fault address, pid, tid, and the clocks at the crash.
    var signalNumber: Int32?
    var signalCode: Int32?
    var faultAddress: UInt64?
    var pid: Int32?
    var tid: Int32?
    var realtimeNs: Int64?
    var monotonicNs: Int64?
    /// THREAD_NAME.
    var threadName: String?
    /// REGISTERS, in record order.
    var registerList: [Register] = []
    /// FRAMES from the DWARF unwinder: the crashed instruction first, then return addresses.
    var dwarfFrames: [UInt64] = []
    /// FRAMES from the frame-pointer walk, same order.
    var framePointerFrames: [UInt64] = []
    /// MAPS: the lines of /proc/self/maps at the crash for the images the frames point into
    /// (every MAPS section, joined; older records hold the whole text).
    var maps: String?
    /// The MAPS sections' bytes while parsing, joined in place (decoded once at the end).
    private var mapsBytes: [UInt8] = []
    private var hasMaps = false
    /// BREADCRUMBS, oldest first.
    var breadcrumbs: [Breadcrumb] = []
    /// CONTEXT: the blob Swift set before the crash (empty when none).
    var context: [UInt8] = []
    /// INSTALL: the clocks when the handler was installed.
    var installRealtimeNs: Int64?
    var installMonotonicNs: Int64?
    /// TIMING: nanoseconds from handler entry to the end of writing (before fsync).
    var timingNs: UInt64?
    /// NESTED: the signal that hit the handler itself.
    var nestedSignal: Int32?
    /// The Swift runtime's fatal error message (MESSAGE section), as the runtime wrote it.
    var fatalMessage: String?
    /// Whether the END section was read: the handler finished the record.
    var complete = false
    /// Whether anything was dropped, or END is missing.
    var partial = false
    /// What was dropped and why (tags, offsets and lengths only: never content).
    var notes: [String] = []

    /// REGISTERS by name.
    var registers: [String: UInt64] {
        var result: [String: UInt64] = [:]
        for register in registerList { result[register.name] = register.value }
        return result
    }

    /// The largest record ``read(path:)`` accepts (a record holds at most 1 MiB of maps).
    static let maximumSize = 8 * 1024 * 1024
    /// The most the handler writes of each section (CStewardCrash.h and crash_handler.c): a
    /// larger section is not the handler's and is dropped.
    static let maximumMapsBytes = 1 << 20
    static let maximumBreadcrumbs = Int(STEWARD_CRASH_BREADCRUMB_COUNT)
    static let maximumContextBytes = Int(STEWARD_CRASH_CONTEXT_MAX)
    static let maximumMessageBytes = Int(STEWARD_CRASH_MESSAGE_MAX)
    /// The format version this parser reads.
    static let supportedVersion: UInt32 = 1
    static let magic = Array("STWDCRSH".utf8)

    // MARK: - Reading

    /// Why a record file could not be read.
    struct ReadError: Error, Hashable, Sendable, CustomStringConvertible {
        /// What went wrong, as an extensible set of codes.
        struct Code: Hashable, Sendable, CustomStringConvertible {
            private enum Value: Hashable, Sendable {
                case notARegularFile, tooLarge, system, notSealed, unauthenticated
            }
            private let value: Value
            private init(_ value: Value) { self.value = value }
            /// The path names a directory, link, FIFO, device or socket.
            static let notARegularFile = Code(.notARegularFile)
            /// The file is larger than ``RawCrashRecord/maximumSize``.
            static let tooLarge = Code(.tooLarge)
            /// open, fstat or read failed.
            static let system = Code(.system)
            /// The file is not a sealed record (``SealedCrashRecord``).
            static let notSealed = Code(.notSealed)
            /// Not even the record's first chunk opens with the key.
            static let unauthenticated = Code(.unauthenticated)
            var description: String { "\(value)" }
        }

        let code: Code
        let message: String
        var description: String { "RawCrashRecord.ReadError(\(code)): \(message)" }
    }

    /// Reads, opens with `key` and parses the sealed record at `path`: a regular file (symbolic
    /// links are refused) of at most ``maximumSize`` bytes. Chunks after one that does not open
    /// are dropped (noted, and the record is partial).
    static func read(path: String, key: [UInt8]) throws(ReadError) -> RawCrashRecord {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK) } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP {
                throw ReadError(
                    code: .notARegularFile, message: "\(path) is a symbolic link, not a crash record; remove it")
            }
            throw ReadError(code: .system, message: "cannot open \(path): \(String(cString: strerror(code)))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw ReadError(code: .system, message: "cannot stat \(path): \(String(cString: strerror(errno)))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw ReadError(
                code: .notARegularFile, message: "\(path) is not a regular file, not a crash record; remove it")
        }
        guard status.st_size <= maximumSize else {
            throw ReadError(
                code: .tooLarge,
                message:
                    "\(path) is \(status.st_size) bytes, more than a crash record can be (\(maximumSize)); remove it")
        }
        // Read to the end (the size may change under us), never past maximumSize + 1.
        var bytes = [UInt8](repeating: 0, count: maximumSize + 1)
        var total = 0
        while total < bytes.count {
            let n = bytes.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress! + total, $0.count - total) }
            if n < 0 {
                if errno == EINTR { continue }
                throw ReadError(code: .system, message: "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            total += n
        }
        guard total <= maximumSize else {
            throw ReadError(code: .tooLarge, message: "\(path) grew past \(maximumSize) bytes while read; remove it")
        }
        bytes.removeSubrange(total...)
        guard let header = SealedCrashRecord.header(of: bytes) else {
            throw ReadError(code: .notSealed, message: "\(path) is not a sealed crash record")
        }
        let sealed = SealedCrashRecord.open(bytes, header: header, key: key)
        guard sealed.chunks > 0 else {
            throw ReadError(code: .unauthenticated, message: "\(path): \(sealed.note ?? "no chunk")")
        }
        var record = parse(sealed.stream)
        if let note = sealed.note {
            record.notes.append(note)
            record.partial = true
        }
        return record
    }

    // MARK: - Parsing

    /// Parses `bytes`; never traps, whatever they hold.
    static func parse(_ bytes: [UInt8]) -> RawCrashRecord {
        var record = RawCrashRecord()
        guard bytes.count >= 16 else {
            record.partial = true
            record.notes.append(
                bytes.isEmpty ? "the record is empty" : "the record is \(bytes.count) bytes, shorter than its header")
            return record
        }
        guard Array(bytes[0..<8]) == magic else {
            record.partial = true
            record.notes.append("the record does not start with STWDCRSH: not a crash record")
            return record
        }
        let version = u32(bytes, 8)
        record.formatVersion = version
        guard version == supportedVersion else {
            record.partial = true
            record.notes.append(
                "the record has format version \(version); this build reads version \(supportedVersion)")
            return record
        }
        var offset = 16
        while offset < bytes.count {
            guard bytes.count - offset >= 8 else {
                record.partial = true
                record.notes.append(
                    "\(bytes.count - offset) stray bytes at offset \(offset), shorter than a section header")
                break
            }
            let tag = u32(bytes, offset)
            let length = Int(u32(bytes, offset + 4))
            let start = offset + 8
            guard length <= bytes.count - start else {
                record.partial = true
                record.notes.append(
                    "section \(tag) at offset \(offset) claims \(length) bytes, past the end of the record; dropped")
                break
            }
            let payload = Array(bytes[start..<(start + length)])
            offset = start + length
            if tag == UInt32(0xFFFF) {
                record.complete = true
                if offset < bytes.count {
                    record.notes.append("\(bytes.count - offset) bytes after the end section ignored")
                }
                break
            }
            record.read(section: tag, payload: payload, at: start - 8)
        }
        if !record.complete {
            record.partial = true
            record.notes.append("the record has no end section: the handler did not finish it")
        }
        if record.hasMaps { record.maps = String(decoding: record.mapsBytes, as: UTF8.self) }
        record.mapsBytes = []
        return record
    }

    private mutating func drop(_ name: String, at offset: Int, _ why: String) {
        partial = true
        notes.append("\(name) section at offset \(offset) \(why); dropped")
    }

    private mutating func read(section tag: UInt32, payload: [UInt8], at offset: Int) {
        switch tag {
        case 1:  // SIGNAL
            guard payload.count == 40 else { return drop("SIGNAL", at: offset, "is \(payload.count) bytes, not 40") }
            signalNumber = i32(payload, 0)
            signalCode = i32(payload, 4)
            faultAddress = u64(payload, 8)
            pid = i32(payload, 16)
            tid = i32(payload, 20)
            realtimeNs = i64(payload, 24)
            monotonicNs = i64(payload, 32)
        case 2:  // THREAD_NAME
            guard payload.count <= 16 else {
                return drop("THREAD_NAME", at: offset, "is \(payload.count) bytes, more than 16")
            }
            threadName = String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
        case 3:  // REGISTERS
            guard payload.count % 16 == 0 else {
                return drop("REGISTERS", at: offset, "is \(payload.count) bytes, not a multiple of 16")
            }
            var list: [Register] = []
            for base in stride(from: 0, to: payload.count, by: 16) {
                let name = String(decoding: payload[base..<(base + 8)].prefix { $0 != 0 }, as: UTF8.self)
                list.append(Register(name: name, value: u64(payload, base + 8)))
            }
            registerList = list
        case 4:  // FRAMES
            guard payload.count >= 8 else {
                return drop("FRAMES", at: offset, "is \(payload.count) bytes, shorter than its header")
            }
            let method = u32(payload, 0)
            let count = Int(u32(payload, 4))
            guard count <= (payload.count - 8) / 8, payload.count - 8 == count * 8 else {
                return drop("FRAMES", at: offset, "holds \(payload.count - 8) bytes for \(count) frames")
            }
            guard count <= CrashHandler.framesCapacity else {
                return drop(
                    "FRAMES", at: offset,
                    "holds \(count) frames, more than the handler writes (\(CrashHandler.framesCapacity))")
            }
            let frames = (0..<count).map { u64(payload, 8 + $0 * 8) }
            switch method {
            case 1: dwarfFrames = frames
            case 2: framePointerFrames = frames
            default: drop("FRAMES", at: offset, "has unknown method \(method)")
            }
        case 5:  // MAPS
            guard payload.count <= Self.maximumMapsBytes else {
                return drop(
                    "MAPS", at: offset,
                    "is \(payload.count) bytes, more than the handler writes (\(Self.maximumMapsBytes))")
            }
            // The handler writes the images the first frames point into, then (after the
            // DWARF unwind) those only its frames reach: the sections are joined, in place, a
            // line break between two, and no more than one section's limit in all.
            // (Decoded once, after the last section: see parse(_:).)
            if !mapsBytes.isEmpty, mapsBytes.last != 0x0A, mapsBytes.count < Self.maximumMapsBytes {
                mapsBytes.append(0x0A)
            }
            let room = max(0, Self.maximumMapsBytes - mapsBytes.count)
            if payload.count > room {
                partial = true
                notes.append(
                    "the MAPS sections up to offset \(offset) hold more than \(Self.maximumMapsBytes) bytes in all; the rest is left out"
                )
            }
            mapsBytes.append(contentsOf: payload.prefix(room))
            hasMaps = true
        case 6:  // BREADCRUMBS
            let size = Self.breadcrumbSize
            guard payload.count >= 4 else {
                return drop("BREADCRUMBS", at: offset, "is \(payload.count) bytes, shorter than its count")
            }
            let count = Int(u32(payload, 0))
            guard count <= (payload.count - 4) / size, payload.count - 4 == count * size else {
                return drop("BREADCRUMBS", at: offset, "holds \(payload.count - 4) bytes for \(count) breadcrumbs")
            }
            guard count <= Self.maximumBreadcrumbs else {
                return drop(
                    "BREADCRUMBS", at: offset,
                    "holds \(count) breadcrumbs, more than the ring keeps (\(Self.maximumBreadcrumbs))")
            }
            var list: [Breadcrumb] = []
            for index in 0..<count {
                let base = 4 + index * size
                if let breadcrumb = Self.breadcrumb(from: Array(payload[base..<(base + size)])) {
                    list.append(breadcrumb)
                } else {
                    partial = true
                    notes.append(
                        "breadcrumb \(index) of the BREADCRUMBS section at offset \(offset) is malformed; dropped")
                }
            }
            breadcrumbs = list
        case 11:  // BREADCRUMBS_PACKED: u32 count; each u64 ms, u8 level, u16 × 3 lengths, texts
            guard payload.count >= 4 else {
                return drop("BREADCRUMBS_PACKED", at: offset, "is \(payload.count) bytes, shorter than its count")
            }
            let count = Int(u32(payload, 0))
            guard count <= Self.maximumBreadcrumbs else {
                return drop(
                    "BREADCRUMBS_PACKED", at: offset,
                    "holds \(count) breadcrumbs, more than the ring keeps (\(Self.maximumBreadcrumbs))")
            }
            var list: [Breadcrumb] = []
            var cursor = 4
            for index in 0..<count {
                guard payload.count - cursor >= 15 else {
                    return drop("BREADCRUMBS_PACKED", at: offset, "ends inside breadcrumb \(index)")
                }
                let lengths = [
                    Int(Self.u16(payload, cursor + 9)), Int(Self.u16(payload, cursor + 11)),
                    Int(Self.u16(payload, cursor + 13)),
                ]
                let total = lengths.reduce(15, +)
                guard payload.count - cursor >= total else {
                    return drop("BREADCRUMBS_PACKED", at: offset, "ends inside breadcrumb \(index)'s texts")
                }
                let start = cursor + 15
                let category = Array(payload[start..<(start + lengths[0])])
                let message = Array(payload[(start + lengths[0])..<(start + lengths[0] + lengths[1])])
                let data = Array(payload[(start + lengths[0] + lengths[1])..<(cursor + total)])
                if let breadcrumb = Self.breadcrumb(
                    milliseconds: u64(payload, cursor), levelCode: Int(payload[cursor + 8]), category: category,
                    message: message, data: data)
                {
                    list.append(breadcrumb)
                } else {
                    partial = true
                    notes.append(
                        "breadcrumb \(index) of the BREADCRUMBS_PACKED section at offset \(offset) is malformed; dropped"
                    )
                }
                cursor += total
            }
            guard cursor == payload.count else {
                return drop(
                    "BREADCRUMBS_PACKED", at: offset, "holds \(payload.count - cursor) bytes after its breadcrumbs")
            }
            breadcrumbs = list
        case 7:  // CONTEXT
            guard payload.count <= Self.maximumContextBytes else {
                return drop(
                    "CONTEXT", at: offset,
                    "is \(payload.count) bytes, more than the handler keeps (\(Self.maximumContextBytes))")
            }
            context = payload
        case 8:  // TIMING
            guard payload.count == 8 else { return drop("TIMING", at: offset, "is \(payload.count) bytes, not 8") }
            timingNs = u64(payload, 0)
        case 9:  // NESTED
            guard payload.count == 4 else { return drop("NESTED", at: offset, "is \(payload.count) bytes, not 4") }
            nestedSignal = i32(payload, 0)
        case 12:  // MESSAGE
            guard payload.count <= Self.maximumMessageBytes else {
                return drop(
                    "MESSAGE", at: offset,
                    "is \(payload.count) bytes, more than the handler keeps (\(Self.maximumMessageBytes))")
            }
            fatalMessage = String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
        case 10:  // INSTALL
            guard payload.count == 16 else { return drop("INSTALL", at: offset, "is \(payload.count) bytes, not 16") }
            installRealtimeNs = i64(payload, 0)
            installMonotonicNs = i64(payload, 8)
        default:
            notes.append("unknown section \(tag) at offset \(offset) skipped")
        }
    }

    // MARK: - Breadcrumbs (steward_crash_breadcrumb_t)

    /// The layout of `steward_crash_breadcrumb_t` (CStewardCrash.h); a test checks it against C.
    static let breadcrumbSize = 504
    static let categoryOffset = 20, categoryCapacity = 32
    static let messageOffset = 52, messageCapacity = 256
    static let dataOffset = 308, dataCapacity = 192

    /// Decodes one `steward_crash_breadcrumb_t`; nil when a length or the level is out of range.
    static func breadcrumb(from bytes: [UInt8]) -> Breadcrumb? {
        guard bytes.count >= dataOffset + dataCapacity else { return nil }
        let categoryLength = Int(u16(bytes, 12)), messageLength = Int(u16(bytes, 14)), dataLength = Int(u16(bytes, 16))
        guard categoryLength <= categoryCapacity, messageLength <= messageCapacity, dataLength <= dataCapacity
        else { return nil }
        return breadcrumb(
            milliseconds: u64(bytes, 0), levelCode: Int(bytes[8]),
            category: Array(bytes[categoryOffset..<(categoryOffset + categoryLength)]),
            message: Array(bytes[messageOffset..<(messageOffset + messageLength)]),
            data: Array(bytes[dataOffset..<(dataOffset + dataLength)]))
    }

    /// A breadcrumb from its fields (a ring slot's, or a packed section's); nil for a level or
    /// a text longer than the ring holds.
    static func breadcrumb(milliseconds: UInt64, levelCode: Int, category: [UInt8], message: [UInt8], data: [UInt8])
        -> Breadcrumb?
    {
        let levels: [Breadcrumb.Level] = [.debug, .info, .warning, .error, .fatal]
        guard levelCode >= 0, levelCode < levels.count, category.count <= categoryCapacity,
            message.count <= messageCapacity, data.count <= dataCapacity
        else { return nil }
        var fields: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true) {
            if let equals = line.firstIndex(of: "=") {
                fields[String(line[..<equals])] = String(line[line.index(after: equals)...])
            } else {
                fields[String(line)] = ""
            }
        }
        return Breadcrumb(
            timestamp: Date(timeIntervalSince1970: Double(milliseconds) / 1000),
            level: levels[levelCode],
            category: String(decoding: category, as: UTF8.self),
            message: String(decoding: message, as: UTF8.self),
            data: fields)
    }

    // MARK: - Little-endian integers (callers check the bounds)

    // Fixed-width fields through StewardCore's ByteReader: callers check the lengths first, and
    // a field out of range reads as 0 rather than trapping.
    private static func u16(_ b: [UInt8], _ o: Int) -> UInt16 { ByteReader(b).u16(at: o) ?? 0 }
    /// Also the sealed file's reader (``SealedCrashRecord``).
    static func u32(_ b: [UInt8], _ o: Int) -> UInt32 { ByteReader(b).u32(at: o) ?? 0 }
    private static func u64(_ b: [UInt8], _ o: Int) -> UInt64 { ByteReader(b).u64(at: o) ?? 0 }
    private static func i32(_ b: [UInt8], _ o: Int) -> Int32 { Int32(bitPattern: u32(b, o)) }
    private static func i64(_ b: [UInt8], _ o: Int) -> Int64 { Int64(bitPattern: u64(b, o)) }
    private func u32(_ b: [UInt8], _ o: Int) -> UInt32 { Self.u32(b, o) }
    private func u64(_ b: [UInt8], _ o: Int) -> UInt64 { Self.u64(b, o) }
    private func i32(_ b: [UInt8], _ o: Int) -> Int32 { Self.i32(b, o) }
    private func i64(_ b: [UInt8], _ o: Int) -> Int64 { Self.i64(b, o) }
}
