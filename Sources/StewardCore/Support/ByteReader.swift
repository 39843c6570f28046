/// Steward's one reader of binary data from outside: files, records, kernel structures.
///
/// Every read checks its range first (with overflow-safe arithmetic) and returns nil when the
/// bytes run out, never traps. Reads are either at an offset (`u32(at:)`) or sequential from
/// ``offset`` (`u32()`), in little-endian order unless ``bigEndian`` is set. Format readers
/// (the outbox's stored payloads, telemetry batches, crash records, ELF files, POSIX ACLs,
/// image metadata) turn a nil into their own typed error.
///
/// ```swift
/// var reader = ByteReader([0x01, 0x00, 0x00, 0x00, 0x61])
/// reader.u32()        // 1
/// reader.take(1)      // [0x61]
/// reader.isAtEnd      // true
/// ```
package struct ByteReader: Sendable {
    /// The bytes read.
    package let bytes: [UInt8]
    /// Whether multi-byte values are big-endian (network order, TIFF "MM", ELF MSB).
    package var bigEndian: Bool
    /// Where the next sequential read starts (0 ... `bytes.count`).
    package private(set) var offset = 0

    /// A reader at the start of `bytes`.
    package init(_ bytes: [UInt8], bigEndian: Bool = false) {
        self.bytes = bytes
        self.bigEndian = bigEndian
    }

    /// How many bytes there are.
    package var count: Int { bytes.count }
    /// The bytes from ``offset`` to the end.
    package var remaining: Int { bytes.count - offset }
    /// Whether every byte was read.
    package var isAtEnd: Bool { offset == bytes.count }

    // MARK: - At an offset

    /// The `count` bytes at `start`, or nil when they are not all there.
    package func slice(at start: Int, count: Int) -> ArraySlice<UInt8>? {
        guard start >= 0, count >= 0, start <= bytes.count, count <= bytes.count - start else { return nil }
        return bytes[start..<(start + count)]
    }

    /// The byte at `at`, or nil.
    package func u8(at: Int) -> UInt8? {
        guard at >= 0, at < bytes.count else { return nil }
        return bytes[at]
    }

    /// The 16-bit value at `at`, or nil.
    package func u16(at: Int) -> UInt16? { integer(at: at, size: 2).map { UInt16(truncatingIfNeeded: $0) } }
    /// The 32-bit value at `at`, or nil.
    package func u32(at: Int) -> UInt32? { integer(at: at, size: 4).map { UInt32(truncatingIfNeeded: $0) } }
    /// The 64-bit value at `at`, or nil.
    package func u64(at: Int) -> UInt64? { integer(at: at, size: 8) }

    private func integer(at start: Int, size: Int) -> UInt64? {
        bytes.withUnsafeBytes { raw in
            switch size {
            case 2: Self.integer(UInt16.self, in: raw, at: start, bigEndian: bigEndian).map(UInt64.init)
            case 4: Self.integer(UInt32.self, in: raw, at: start, bigEndian: bigEndian).map(UInt64.init)
            default: Self.integer(UInt64.self, in: raw, at: start, bigEndian: bigEndian)
            }
        }
    }

    /// The `T` at `offset` of `raw`, little-endian unless `bigEndian`, or nil when its bytes
    /// are not all there: the one bounds-checked integer read, also for readers that work on
    /// memory they already hold (the vault's segments, read in place on its hot path).
    @inline(__always)
    package static func integer<T: FixedWidthInteger>(
        _ type: T.Type, in raw: UnsafeRawBufferPointer, at offset: Int, bigEndian: Bool = false
    ) -> T? {
        guard offset >= 0, offset <= raw.count, MemoryLayout<T>.size <= raw.count - offset else { return nil }
        let value = raw.loadUnaligned(fromByteOffset: offset, as: T.self)
        return bigEndian ? T(bigEndian: value) : T(littleEndian: value)
    }

    // MARK: - Sequential

    /// The next `count` bytes, or nil (and nothing consumed) when they are not all there.
    package mutating func take(_ count: Int) -> ArraySlice<UInt8>? {
        guard let slice = slice(at: offset, count: count) else { return nil }
        offset += count
        return slice
    }

    /// The next byte, or nil.
    package mutating func u8() -> UInt8? { take(1)?.first }
    /// The next 16-bit value, or nil.
    package mutating func u16() -> UInt16? { advance(2, u16(at: offset)) }
    /// The next 32-bit value, or nil.
    package mutating func u32() -> UInt32? { advance(4, u32(at: offset)) }
    /// The next 64-bit value, or nil.
    package mutating func u64() -> UInt64? { advance(8, u64(at: offset)) }

    /// A UTF-8 string of a `u32` length then its bytes, or nil when cut short or not valid
    /// UTF-8 (nothing consumed then).
    package mutating func lengthPrefixedString() -> String? {
        let start = offset
        guard let count = u32(), let raw = take(Int(count)), let text = String(validating: raw, as: UTF8.self) else {
            offset = start
            return nil
        }
        return text
    }

    /// Moves ``offset`` back to `position` (0 ... `bytes.count`), for a reader that looked ahead.
    package mutating func rewind(to position: Int) {
        offset = Swift.min(Swift.max(position, 0), bytes.count)
    }

    /// `value` (read at ``offset``), moving past its `size` bytes when there is one.
    private mutating func advance<T>(_ size: Int, _ value: T?) -> T? {
        if value != nil { offset += size }
        return value
    }
}
