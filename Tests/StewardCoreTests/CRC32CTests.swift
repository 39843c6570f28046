@testable import StewardCore
import Testing

/// The vault's frame checksum: the CRC-32C instruction and the tables agree with each other and
/// with the published check values, for every length and alignment.
@Suite struct CRC32CTests {
    @Test func knownCheckValues() {
        // RFC 3720 (iSCSI) B.4 and the CRC catalogue's check value for "123456789".
        let vectors: [([UInt8], UInt32)] = [
            (Array("123456789".utf8), 0xE306_9283),
            ([UInt8](repeating: 0, count: 32), 0x8A91_36AA),
            ([UInt8](repeating: 0xFF, count: 32), 0x62A8_AB43),
            (Array(0..<32), 0x46DD_794E),
        ]
        for (bytes, expected) in vectors {
            #expect(bytes.withUnsafeBytes { CRC32C.update(0, $0) } == expected)
            #expect(bytes.withUnsafeBytes { CRC32C.software(0, $0) } == expected)
        }
    }

    @Test func instructionAndTablesAgreeOnEveryLengthAndOffset() {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let bytes: [UInt8] = (0..<600).map { _ in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        bytes.withUnsafeBytes { all in
            for offset in 0..<9 {
                for count in 0...(all.count - offset) where count < 80 || count % 37 == 0 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[offset..<(offset + count)])
                    #expect(
                        CRC32C.update(0x1234_5678, slice) == CRC32C.software(0x1234_5678, slice),
                        "offset \(offset), count \(count)")
                }
            }
        }
    }
}
