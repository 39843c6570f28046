@testable import StewardCore
import Testing

@Suite struct ByteReaderTests {
    let bytes: [UInt8] = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09]

    @Test func readsBothByteOrdersAtAnOffset() {
        let little = ByteReader(bytes)
        #expect(
            little.u16(at: 0) == 0x0201 && little.u32(at: 1) == 0x0504_0302
                && little.u64(at: 1) == 0x0908_0706_0504_0302)
        let big = ByteReader(bytes, bigEndian: true)
        #expect(big.u16(at: 0) == 0x0102 && big.u32(at: 1) == 0x0203_0405 && big.u64(at: 0) == 0x0102_0304_0506_0708)
        #expect(little.u8(at: 8) == 0x09 && little.slice(at: 7, count: 2) == [0x08, 0x09])
    }

    @Test func refusesEveryRangeOutsideTheBytesWithoutTrapping() {
        let reader = ByteReader(bytes)
        for at in [-1, Int.min, 9, 10, Int.max, Int.max - 3] {
            #expect(reader.u8(at: at) == nil && reader.u32(at: at) == nil && reader.u64(at: at) == nil, "\(at)")
        }
        #expect(reader.u32(at: 6) == nil, "crosses the end")
        #expect(reader.u64(at: 2) == nil)
        #expect(reader.slice(at: 1, count: -1) == nil && reader.slice(at: 1, count: Int.max) == nil)
        #expect(reader.slice(at: Int.max, count: Int.max) == nil)
        #expect(reader.slice(at: 9, count: 0) == [])
    }

    @Test func readsSequentiallyAndConsumesNothingOnFailure() {
        var reader = ByteReader(bytes)
        #expect(reader.u8() == 0x01 && reader.u16() == 0x0302 && reader.u32() == 0x0706_0504)
        #expect(reader.remaining == 2)
        #expect(reader.u32() == nil && reader.offset == 7, "a short read consumes nothing")
        #expect(reader.take(3) == nil && reader.take(2) == [0x08, 0x09] && reader.isAtEnd)
        reader.rewind(to: -5)
        #expect(reader.offset == 0)
    }

    @Test func readsLengthPrefixedUTF8() {
        var reader = ByteReader([2, 0, 0, 0, 0x68, 0x69, 3, 0, 0, 0, 0xFF, 0xFE, 0xFD, 9, 0, 0, 0, 0x61])
        #expect(reader.lengthPrefixedString() == "hi")
        #expect(reader.lengthPrefixedString() == nil && reader.offset == 6, "invalid UTF-8: refused, nothing consumed")
        reader.rewind(to: 13)
        #expect(reader.lengthPrefixedString() == nil && reader.offset == 13, "a length past the end")
    }
}
