import struct Foundation.Date
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A segment file of one collection.
final class Segment {
    let number: UInt32
    let path: String
    var fd: FileDescriptor
    /// Bytes in the file (committed, plus uncommitted bytes already written).
    var size: Int
    /// Bytes of live record frames.
    var liveBytes: Int = 0

    init(number: UInt32, path: String, fd: consuming FileDescriptor, size: Int) {
        self.number = number
        self.path = path
        self.fd = fd
        self.size = size
    }
}

/// Where a record frame is and what its header says.
struct IndexEntry {
    var id: UInt64
    var segment: UInt32
    var offset: Int
    var length: Int
    var created: Int64
    var expires: Int64
    var category: UInt32
    var purpose: UInt32
    var live: Bool
}

/// A tombstone frame that must be kept while the record it removes still exists on disk.
struct Tombstone {
    var segment: UInt32
    var offset: Int
    var length: Int
}

/// One collection: its folder, segments and index.
struct CollectionStore {
    let name: String
    let directory: String
    var segments: [UInt32: Segment] = [:]
    /// The segment appends go to; nil until the next append starts one.
    var active: UInt32?
    /// The highest segment number in the folder, including files left untouched as foreign.
    var highestNumber: UInt32 = 0
    /// Records on disk or staged, sorted by id; dead ones stay until their segment is rewritten.
    var entries: [IndexEntry] = []
    /// Tombstones by the id they remove.
    var tombstones: [UInt64: Tombstone] = [:]
    /// Frames appended but not yet written to the active segment.
    var pending: [UInt8] = []
    /// File offset in the active segment at which `pending` starts.
    var pendingBase = 0
    /// Length of the active segment's committed prefix.
    var committedSize = 0
    /// Frames staged since the last commit (written or not).
    var uncommittedFrames = 0
    var liveCount = 0
    /// The first part of every frame's associated data: vault id ‖ u8 name length ‖ name.
    let aadPrefix: [UInt8]

    init(name: String, directory: String, vaultID: [UInt8]) {
        self.name = name
        self.directory = directory
        self.aadPrefix = vaultID + [UInt8(name.utf8.count)] + Array(name.utf8)
    }

    func index(of id: UInt64) -> Int? {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].id < id { low = mid + 1 } else { high = mid }
        }
        return low < entries.count && entries[low].id == id ? low : nil
    }
}

/// Strings kept once per vault and referred to by number in the index.
struct InternTable {
    private(set) var strings: [String] = []
    private var numbers: [String: UInt32] = [:]
    /// The last name looked up by its bytes and its number: nil until the first lookup (an
    /// empty name must not match an empty cache and get a number it was never given).
    private var last: (bytes: [UInt8], number: UInt32)?

    mutating func number(for string: String) -> UInt32 {
        if let n = numbers[string] { return n }
        // 2^32 distinct names cannot fit in memory first, so the count never wraps.
        let n = UInt32(strings.count)
        strings.append(string)
        numbers[string] = n
        return n
    }

    /// The number for UTF-8 `bytes`, comparing with the last one first (records arrive in runs).
    mutating func number(for bytes: UnsafeRawBufferPointer) -> UInt32 {
        if let last, bytes.count == last.bytes.count, last.bytes.withUnsafeBytes({ $0.elementsEqual(bytes) }) {
            return last.number
        }
        let n = number(for: String(decoding: bytes, as: UTF8.self))
        last = (Array(bytes), n)
        return n
    }
}

extension InternTable {
    /// The number of `string` if it was ever seen, without adding it.
    func existingNumber(for string: String) -> UInt32? {
        strings.firstIndex(of: string).map { UInt32($0) }
    }
}
