#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import CStewardDwarf
import Synchronization

/// Source file, line and column, with inlined calls expanded, for addresses of one ELF file
/// that carries DWARF, read by elfutils' libdw (loaded with `dlopen`; see `CStewardDwarf`).
///
/// One instance holds one libdw session (`Dwfl`) for the file, opened once and kept for the
/// symbolicator's lifetime; lookups are serialised, since a session is not thread-safe.
/// Everything taken from libdw is checked: strings are bounded and decoded leniently, lines
/// and columns outside 1 ... `Int32.max` are dropped, and at most ``maximumFrames`` frames
/// come back per address.
final class DWARFSourceLines: Sendable {
    /// One frame of a location.
    struct Location: Hashable, Sendable {
        /// The function (for an inlined call, the inlined one), as DWARF names it: a linkage
        /// name (mangled) or a plain name.
        var function: String?
        var file: String?
        var line: Int?
        var column: Int?
        /// Whether this is an inlined call rather than the function that holds the address.
        var inlined: Bool
    }

    /// The most frames (inlined calls plus the function) one address expands to.
    static let maximumFrames = 32
    /// The longest name or path taken from DWARF, in bytes.
    static let maximumStringBytes = 4096

    private let handle: Mutex<OpaquePointer?>

    /// Whether libdw could be loaded on this machine.
    static var isAvailable: Bool { steward_dwarf_available() != 0 }

    /// The file at `path`, or nil when libdw is missing or the file has no DWARF of its own.
    init?(path: String) {
        guard let opened = steward_dwarf_open(path) else { return nil }
        handle = Mutex(opened)
    }

    deinit {
        handle.withLock { pointer in
            steward_dwarf_close(pointer)
            pointer = nil
        }
    }

    /// The frames at `address` (in the file's virtual address space), innermost first: each
    /// inlined call, then the function. Empty when DWARF knows nothing of the address.
    func locations(at address: UInt64) -> [Location] {
        handle.withLock { pointer -> [Location] in
            guard let pointer else { return [] }
            return withUnsafeTemporaryAllocation(of: steward_dwarf_frame.self, capacity: Self.maximumFrames) {
                buffer -> [Location] in
                guard let base = buffer.baseAddress else { return [] }
                let count = Int(steward_dwarf_lookup(pointer, address, base, Int32(Self.maximumFrames)))
                guard count > 0 else { return [] }
                return (0..<min(count, Self.maximumFrames)).map { index in
                    let frame = buffer[index]
                    return Location(
                        function: Self.string(frame.function), file: Self.string(frame.file),
                        line: Self.positive(frame.line), column: Self.positive(frame.column),
                        inlined: frame.inlined != 0)
                }
            }
        }
    }

    private static func positive(_ value: Int64) -> Int? {
        value > 0 && value <= Int64(Int32.max) ? Int(value) : nil
    }

    private static func string(_ pointer: UnsafePointer<CChar>?) -> String? {
        guard let pointer else { return nil }
        let length = strnlen(pointer, maximumStringBytes)
        guard length > 0 else { return nil }
        let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
        return String(decoding: bytes, as: UTF8.self)
    }
}
