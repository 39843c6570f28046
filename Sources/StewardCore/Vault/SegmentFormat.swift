import CStewardLinux
/// The on-disk layout of vault files, version 1. Documented for users in
/// Documentation/VaultFormat.md; keep the two in step.
///
/// All integers are little-endian.
enum SegmentFormat {
    static let version: UInt16 = 1

    // MARK: Segment header (32 bytes)
    //  0  8  magic "STEWSEG\0"
    //  8  2  format version
    // 10  2  header length (32)
    // 12  4  segment number
    // 16 16  vault id
    static let segmentMagic: [UInt8] = Array("STEWSEG".utf8) + [0]
    static let segmentHeaderLength = 32

    // MARK: Frame
    //  0  4  frame magic 0x46 0x52 0x4D 0xA7 ("FRM\xA7")
    //  4  1  kind: 1 record, 2 tombstone, 3 commit
    //  5  1  flags (0; a tombstone's reason)
    //  6  2  header length H (44 + category length + purpose length)
    //  8  4  sealed body length B (nonce + ciphertext + tag; at least 28)
    // 12  4  CRC-32C of bytes [0, 12) and [16, H + B)
    // 16  8  record id (tombstone: the removed record; commit: highest id allocated)
    // 24  8  created, ms since 1970 (signed)
    // 32  8  expires, ms since 1970 (signed); Int64.max = never
    // 40  2  category length C
    // 42  2  purpose length P
    // 44  C  category (UTF-8), then P bytes of purpose (UTF-8)
    //  H  B  AES-256-GCM sealed body: nonce ‖ ciphertext ‖ tag
    // AAD of the body: vault id ‖ u8 collection-name length ‖ collection name ‖ frame bytes
    // [0, 12) ‖ frame bytes [16, H). The CRC is not in the AAD: it is computed after sealing.
    static let frameMagic: [UInt8] = [0x46, 0x52, 0x4D, 0xA7]
    static let frameMagicValue: UInt32 = 0xA74D_5246
    static let fixedFrameHeader = 44
    static let maximumBody = 64 << 20
    /// The largest segment file Steward reads: a full segment plus one maximal record, with
    /// room to spare. Anything larger is not a segment it wrote.
    static let maximumSegmentFile = 256 << 20
    static let never = Int64.max
    /// 9999-12-31T23:59:59.999Z in ms since 1970: an expiry later than this is "never".
    static let latestMilliseconds: Int64 = 253_402_300_799_999
    /// The highest segment number Steward writes. A file named with a higher number is not
    /// the vault's (left untouched), and a collection whose numbers reach it stops with an
    /// error instead of wrapping.
    static let maximumSegmentNumber: UInt32 = .max - 1

    enum Kind: UInt8 {
        case record = 1
        case tombstone = 2
        case commit = 3
    }

    /// Why a tombstone was written.
    enum Reason: UInt8 {
        case removed = 0
        case expired = 1
        case purposePurged = 2
        case evicted = 3
        case quarantined = 4
    }

    // MARK: Meta file (vault.meta, 68 bytes)
    //  0  8  magic "STEWMETA"
    //  8  2  format version
    // 10  6  reserved (0)
    // 16 16  vault id
    // 32  8  created, ms since 1970
    // 40 28  key check: AES-256-GCM seal of no bytes (nonce ‖ tag) with AAD
    //        "steward-vault-keycheck" ‖ vault id, so a wrong key is told apart from damage
    static let metaMagic: [UInt8] = Array("STEWMETA".utf8)
    static let metaLength = 68  // 40 bytes of header + 28-byte sealed key check
    /// The largest vault.meta Steward reads (room for a longer meta of a newer version, whose
    /// version field must still be read to refuse it clearly).
    static let maximumMetaFile = 4096
    static func keyCheckAAD(vaultID: [UInt8]) -> [UInt8] { Array("steward-vault-keycheck".utf8) + vaultID }

    // MARK: Helpers

    static func put<T: FixedWidthInteger>(_ value: T, into bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func segmentHeader(number: UInt32, vaultID: [UInt8]) -> [UInt8] {
        var bytes = segmentMagic
        bytes.reserveCapacity(segmentHeaderLength)
        put(version, into: &bytes)
        put(UInt16(segmentHeaderLength), into: &bytes)
        put(number, into: &bytes)
        bytes += vaultID
        return bytes
    }

    static func segmentFileName(_ number: UInt32) -> String {
        let digits = String(number)
        return String(repeating: "0", count: max(0, 8 - digits.count)) + digits + ".seg"
    }

    /// The number of a segment file name as ``segmentFileName(_:)`` writes it (8 digits, more
    /// only when the number needs them, then `.seg`), at most ``maximumSegmentNumber``. Any
    /// other spelling of a number (`000000001.seg` beside `00000001.seg`) is not a segment name,
    /// so no file is read twice under one number.
    static func segmentNumber(fromFileName name: String) -> UInt32? {
        guard name.hasSuffix(".seg"), name.count >= 12, name.dropLast(4).allSatisfy({ $0.isASCII && $0.isNumber }),
            let number = UInt32(name.dropLast(4)), number <= maximumSegmentNumber, segmentFileName(number) == name
        else { return nil }
        return number
    }
}

/// CRC-32C (Castagnoli), slicing-by-8. Detects torn and damaged frames without the key.
enum CRC32C {
    static let tables: [UInt32] = {
        var t = [UInt32](repeating: 0, count: 8 * 256)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            t[i] = c
        }
        for i in 0..<256 {
            var c = t[i]
            for k in 1..<8 {
                c = t[Int(c & 0xFF)] ^ (c >> 8)
                t[k * 256 + i] = c
            }
        }
        return t
    }()

    /// Whether the CPU has the CRC-32C instruction (SSE 4.2), checked once.
    static let hardware = steward_crc32c_hw_available() != 0

    @inline(__always)
    static func update(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        if hardware, let base = buffer.baseAddress { return ~steward_crc32c_hw(~crc, base, buffer.count) }
        return software(crc, buffer)
    }

    /// The table-driven CRC (slicing by 8), for CPUs without the instruction and as the
    /// reference the tests compare the instruction with.
    static func software(_ crc: UInt32, _ buffer: UnsafeRawBufferPointer) -> UInt32 {
        var c = ~crc
        var i = 0
        let n = buffer.count
        tables.withUnsafeBufferPointer { t in
            while n - i >= 8 {
                let lo = buffer.loadUnaligned(fromByteOffset: i, as: UInt32.self).littleEndian ^ c
                let hi = buffer.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self).littleEndian
                c =
                    t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t[Int((c ^ UInt32(buffer[i])) & 0xFF)] ^ (c >> 8)
                i += 1
            }
        }
        return ~c
    }

    /// CRC of a frame: bytes [0, 12) and [16, count).
    static func frame(_ frame: UnsafeRawBufferPointer) -> UInt32 {
        let first = update(0, UnsafeRawBufferPointer(rebasing: frame[0..<12]))
        return update(first, UnsafeRawBufferPointer(rebasing: frame[16...]))
    }
}
