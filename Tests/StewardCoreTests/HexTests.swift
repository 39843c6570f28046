@testable import StewardCore
import StewardTesting
import Testing

@Suite struct HexTests {
    @Test func encodesLowercaseAndDecodesEitherCase() {
        #expect(Hex.encode([0x00, 0x0f, 0xa5, 0xff]) == "000fa5ff")
        #expect(Hex.encode([UInt8]()) == "")
        #expect(Hex.decode("000FA5ff") == [0x00, 0x0f, 0xa5, 0xff])
        #expect(Hex.decode("") == [])
    }

    @Test func refusesOddLengthsAndNonDigits() {
        for text in ["0", "abc", "0g", "zz", "0x00", " 00", "00 ", "é0"] {
            #expect(Hex.decode(text) == nil, "\(text)")
        }
    }

    @Test func roundTripsRandomBytes() {
        var random = SplitMix64(seed: 0x4E5)
        for length in 0..<64 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            #expect(Hex.decode(Hex.encode(bytes)) == bytes)
            #expect(Hex.encode(bytes).utf8.count == length * 2)
        }
    }
}
