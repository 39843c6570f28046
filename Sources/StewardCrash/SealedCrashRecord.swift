import CStewardCrash
import StewardCore

/// A crash record file as the handler writes it (format 2, Documentation/CrashRecordFormat.md):
/// a 40-byte plaintext header, then chunks of the record stream (the format 1 sections), each
/// sealed with ChaCha20-Poly1305 under a key derived from the vault's key.
///
/// Nothing of a crash is readable on disk without the vault's key: the handler seals each chunk
/// before it writes it. The header holds only the magic, the version, the salt the key was
/// derived with, the pid and the record's number in its process. Each chunk's nonce is the pid,
/// the record number (top bit set on the last chunk) and the chunk's index; the header is its
/// associated data, so a changed header, a reordered, altered or replaced chunk fails to open,
/// and a record cut short lacks its last chunk.
struct SealedCrashRecord: Sendable {
    /// The plaintext header.
    struct Header: Hashable, Sendable {
        var salt: [UInt8]
        var pid: UInt32
        var number: UInt32
        var bytes: [UInt8]
    }

    /// The record stream of the chunks that opened, in order.
    var stream: [UInt8]
    /// How many chunks opened.
    var chunks: Int
    /// Whether the last of them was the record's last chunk.
    var sawLast: Bool
    /// Why reading stopped before the last chunk, when it did (offsets only, never content).
    var note: String?

    static let headerByteCount = Int(STEWARD_CRASH_SEALED_HEADER)
    static let version = UInt32(STEWARD_CRASH_SEALED_VERSION)
    static let chunkCapacity = Int(STEWARD_CRASH_CHUNK_MAX)
    /// What the record key is derived for (with the header's salt) from the vault's key.
    static let keyLabel = "steward.crash-record/1"

    /// The header of `bytes`, or nil when they are not a sealed record (too short, another magic
    /// or version).
    static func header(of bytes: [UInt8]) -> Header? {
        // Flags (bytes 12..<16) are 0 in every record this version writes: anything else is
        // not a record it knows how to read.
        guard bytes.count >= headerByteCount, Array(bytes[0..<8]) == RawCrashRecord.magic,
            u32(bytes, 8) == version, u32(bytes, 12) == 0
        else { return nil }
        return Header(
            salt: Array(bytes[16..<32]), pid: u32(bytes, 32), number: u32(bytes, 36),
            bytes: Array(bytes[0..<headerByteCount]))
    }

    /// Opens the chunks of `bytes` (whose header is `header`) with `key`, in order, until one
    /// is missing, cut short or fails to authenticate.
    static func open(_ bytes: [UInt8], header: Header, key: [UInt8]) -> SealedCrashRecord {
        var result = SealedCrashRecord(stream: [], chunks: 0, sawLast: false, note: nil)
        var at = headerByteCount
        var index: UInt32 = 0
        while at < bytes.count && !result.sawLast {
            guard bytes.count - at >= 4 else {
                result.note = "the record ends inside a chunk header at byte \(at)"; break
            }
            // UInt32 into Int: exact on 32-bit platforms too (a larger value is refused below).
            let length = Int(exactly: u32(bytes, at)) ?? Int.max
            guard length <= chunkCapacity else {
                result.note = "chunk \(index) claims \(length) bytes, more than a chunk holds"; break
            }
            guard bytes.count - at - 4 >= length + ChaCha20Poly1305.tagByteCount else {
                result.note = "the record ends inside chunk \(index) (byte \(at))"
                break
            }
            let body = bytes[(at + 4)..<(at + 4 + length)]
            let tag = bytes[(at + 4 + length)..<(at + 4 + length + ChaCha20Poly1305.tagByteCount)]
            var opened: [UInt8]?
            for last in [false, true] {
                if let plain = try? ChaCha20Poly1305.open(
                    body, tag: tag, key: key, nonce: nonce(header, index: index, last: last), aad: header.bytes)
                {
                    opened = plain
                    result.sawLast = last
                    break
                }
            }
            guard let plain = opened else {
                result.note =
                    "chunk \(index) (byte \(at)) did not authenticate: the record was damaged or altered after it was written; the rest is dropped"
                break
            }
            result.stream += plain
            result.chunks += 1
            at += 4 + length + ChaCha20Poly1305.tagByteCount
            // The index never wraps: a file holds at most 8 MiB, a chunk at least 20 bytes.
            index &+= 1
        }
        if result.note == nil && !result.sawLast && result.chunks > 0 {
            result.note = "the record's last chunk is missing: it was cut short"
        }
        if result.sawLast && at < bytes.count {
            result.note = "\(bytes.count - at) bytes after the record's last chunk were ignored"
        }
        return result
    }

    /// Seals `stream` as the handler does (chunks of up to 4096 bytes; the last marked last
    /// when `complete`). For tests, fuzz seeds and records made outside a crash.
    static func seal(_ stream: [UInt8], key: [UInt8], salt: [UInt8], pid: UInt32, number: UInt32, complete: Bool = true)
        -> [UInt8]
    {
        var header = RawCrashRecord.magic
        header +=
            le(version) + le(UInt32(0)) + salt.prefix(16) + [UInt8](repeating: 0, count: Swift.max(0, 16 - salt.count))
        header += le(pid) + le(number)
        let parsed = Header(salt: Array(header[16..<32]), pid: pid, number: number, bytes: header)
        var out = header
        var chunks: [ArraySlice<UInt8>] = stride(from: 0, to: stream.count, by: chunkCapacity).map {
            stream[$0..<Swift.min($0 + chunkCapacity, stream.count)]
        }
        if chunks.isEmpty { chunks = [[]] }
        for (index, chunk) in chunks.enumerated() {
            var data = Array(chunk)
            var tag = [UInt8](repeating: 0, count: 16)
            let last = complete && index == chunks.count - 1
            let nonce = nonce(parsed, index: UInt32(truncatingIfNeeded: index), last: last)
            key.withUnsafeBufferPointer { k in
                data.withUnsafeMutableBufferPointer { d in
                    steward_crash_seal(k.baseAddress, nonce, header, header.count, d.baseAddress, d.count, &tag)
                }
            }
            out += le(UInt32(data.count)) + data + tag
        }
        return out
    }

    private static func nonce(_ header: Header, index: UInt32, last: Bool) -> [UInt8] {
        le(header.pid) + le(header.number | (last ? 0x8000_0000 : 0)) + le(index)
    }

    private static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32 { RawCrashRecord.u32(bytes, at) }

    private static func le(_ value: UInt32) -> [UInt8] {
        [
            UInt8(truncatingIfNeeded: value), UInt8(truncatingIfNeeded: value >> 8),
            UInt8(truncatingIfNeeded: value >> 16), UInt8(truncatingIfNeeded: value >> 24),
        ]
    }
}
