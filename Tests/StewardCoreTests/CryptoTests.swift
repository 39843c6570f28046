import Testing
@testable import StewardCore

// Tests for Steward's cryptographic primitives: AES-256-GCM, HMAC-SHA256, SHA-256, keys and
// the CSPRNG. Every published vector below was transcribed from its standard and checked
// against at least two independent copies; the source is named next to each one.

// MARK: - Helpers

/// Decodes a hexadecimal string; spaces are ignored so vectors can keep their published grouping.
private func hex(_ s: String) -> [UInt8] {
    let digits = Array(s.utf8.filter { $0 != UInt8(ascii: " ") })
    precondition(digits.count % 2 == 0, "odd number of hex digits in \(s)")
    func nibble(_ c: UInt8) -> UInt8 {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: preconditionFailure("not a hex digit in \(s)")
        }
    }
    return stride(from: 0, to: digits.count, by: 2).map { nibble(digits[$0]) << 4 | nibble(digits[$0 + 1]) }
}

/// Seals with a caller-chosen nonce through the internal known-answer entry point.
private func seal(
    _ plaintext: [UInt8], authenticating aad: [UInt8], nonce: [UInt8], with cipher: AESGCM.Cipher
) throws -> AESGCM.SealedBox {
    var combined = [UInt8](repeating: 0, count: plaintext.count + AESGCM.overhead)
    try plaintext.withUnsafeBytes { p in
        try aad.withUnsafeBytes { a in
            try nonce.withUnsafeBytes { n in
                try combined.withUnsafeMutableBytes { out in
                    try cipher.seal(p, authenticating: a, nonce: n, into: out)
                }
            }
        }
    }
    return try AESGCM.SealedBox(combined: combined)
}

private func flippingBit(_ bit: Int, of bytes: [UInt8]) -> [UInt8] {
    var copy = bytes
    copy[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
    return copy
}

// MARK: - AES-256-GCM known answers

/// One AES-256-GCM vector with a 96-bit IV and a 128-bit tag.
struct GCMVector: Sendable, CustomTestStringConvertible {
    let name: String
    let key: String
    let iv: String
    let plaintext: String
    let aad: String
    let ciphertext: String
    let tag: String

    var testDescription: String { name }
}

/// Test cases 13–16 are from McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)",
/// Appendix B (the 256-bit-key cases; 17 and 18 use 64- and 480-bit IVs and are left out).
/// The `gcmEncryptExtIV256.rsp` entries are from NIST CAVP's gcmtestvectors.zip.
private let gcmVectors: [GCMVector] = [
    GCMVector(
        name: "McGrew-Viega test case 13: empty plaintext, empty AAD",
        key: "00000000000000000000000000000000 00000000000000000000000000000000",
        iv: "000000000000000000000000",
        plaintext: "",
        aad: "",
        ciphertext: "",
        tag: "530f8afbc74536b9a963b4f1c4cb738b"),
    GCMVector(
        name: "McGrew-Viega test case 14: 16-byte plaintext, no AAD",
        key: "00000000000000000000000000000000 00000000000000000000000000000000",
        iv: "000000000000000000000000",
        plaintext: "00000000000000000000000000000000",
        aad: "",
        ciphertext: "cea7403d4d606b6e074ec5d3baf39d18",
        tag: "d0d1c8a799996bf0265b98b5d48ab919"),
    GCMVector(
        name: "McGrew-Viega test case 15: 64-byte plaintext, no AAD",
        key: "feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308",
        iv: "cafebabefacedbaddecaf888",
        plaintext: """
            d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72 \
            1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b391aafd255
            """,
        aad: "",
        ciphertext: """
            522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa \
            8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662898015ad
            """,
        tag: "b094dac5d93471bdec1a502270e3cc6c"),
    GCMVector(
        name: "McGrew-Viega test case 16: 60-byte plaintext, 20-byte AAD",
        key: "feffe9928665731c6d6a8f9467308308 feffe9928665731c6d6a8f9467308308",
        iv: "cafebabefacedbaddecaf888",
        plaintext: """
            d9313225f88406e5a55909c5aff5269a 86a7a9531534f7da2e4c303d8a318a72 \
            1c3c0c95956809532fcf0e2449a6b525 b16aedf5aa0de657ba637b39
            """,
        aad: "feedfacedeadbeeffeedfacedeadbeef abaddad2",
        ciphertext: """
            522dc1f099567d07f47f37a32a84427d 643a8cdcbfe5c0c97598a2bd2555d1aa \
            8cb08e48590dbb3da7b08b1056828838 c5f61e6393ba7a0abcc9f662
            """,
        tag: "76fc6ece0f4e1768cddf8853bb2d551b"),
    GCMVector(
        name: "CAVP gcmEncryptExtIV256 [PTlen=0][AADlen=0] Count=0",
        key: "b52c505a37d78eda5dd34f20c22540ea1b58963cf8e5bf8ffa85f9f2492505b4",
        iv: "516c33929df5a3284ff463d7",
        plaintext: "",
        aad: "",
        ciphertext: "",
        tag: "bdc1ac884d332457a1d2664f168c76f0"),
    GCMVector(
        name: "CAVP gcmEncryptExtIV256 [PTlen=0][AADlen=128] Count=0 (AAD only)",
        key: "78dc4e0aaf52d935c3c01eea57428f00ca1fd475f5da86a49c8dd73d68c8e223",
        iv: "d79cf22d504cc793c3fb6c8a",
        plaintext: "",
        aad: "b96baa8c1c75a671bfb2d08d06be5f36",
        ciphertext: "",
        tag: "3e5d486aa2e30b22e040b85723a06e76"),
    GCMVector(
        name: "CAVP gcmEncryptExtIV256 [PTlen=128][AADlen=0] Count=0",
        key: "31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22",
        iv: "0d18e06c7c725ac9e362e1ce",
        plaintext: "2db5168e932556f8089a0622981d017d",
        aad: "",
        ciphertext: "fa4362189661d163fcd6a56d8bf0405a",
        tag: "d636ac1bbedd5cc3ee727dc2ab4a9489"),
    GCMVector(
        name: "CAVP gcmEncryptExtIV256 [PTlen=128][AADlen=128] Count=0",
        key: "92e11dcdaa866f5ce790fd24501f92509aacf4cb8b1339d50c9c1240935dd08b",
        iv: "ac93a1a6145299bde902f21a",
        plaintext: "2d71bcfa914e4ac045b2aa60955fad24",
        aad: "1e0889016f67601c8ebea4943bc23ad6",
        ciphertext: "8995ae2e6df3dbf96fac7b7137bae67f",
        tag: "eca5aa77d51d4a0a14d9c51e1da474ab"),
]

@Suite("AES-256-GCM known answers")
struct AESGCMKnownAnswerTests {
    @Test("The vector table has the shapes it claims: 32-byte keys, 96-bit IVs, 128-bit tags")
    func vectorTableIsWellFormed() {
        for v in gcmVectors {
            #expect(hex(v.key).count == 32, "\(v.name)")
            #expect(hex(v.iv).count == 12, "\(v.name)")
            #expect(hex(v.tag).count == 16, "\(v.name)")
            #expect(hex(v.ciphertext).count == hex(v.plaintext).count, "\(v.name)")
        }
        // (plaintext bytes, AAD bytes) the table must cover.
        let shapes = Set(gcmVectors.map { "\(hex($0.plaintext).count)/\(hex($0.aad).count)" })
        for required in ["0/0", "16/0", "64/0", "60/20", "0/16"] {
            #expect(shapes.contains(required), "no vector with plaintext/AAD sizes \(required)")
        }
    }

    @Test("Sealing with the vector's nonce gives exactly the published ciphertext and tag", arguments: gcmVectors)
    func sealMatchesPublishedVector(_ v: GCMVector) throws {
        let cipher = try AESGCM.Cipher(key: SymmetricKey(copying: hex(v.key)))
        let box = try seal(hex(v.plaintext), authenticating: hex(v.aad), nonce: hex(v.iv), with: cipher)
        #expect(box.nonce == hex(v.iv))
        #expect(box.ciphertext == hex(v.ciphertext))
        #expect(box.tag == hex(v.tag))
        #expect(box.combined == hex(v.iv) + hex(v.ciphertext) + hex(v.tag))
    }

    @Test("Opening the published box gives the published plaintext", arguments: gcmVectors)
    func openPublishedBoxGivesPlaintext(_ v: GCMVector) throws {
        let key = try SymmetricKey(copying: hex(v.key))
        let box = try AESGCM.SealedBox(nonce: hex(v.iv), ciphertext: hex(v.ciphertext), tag: hex(v.tag))
        #expect(try AESGCM.open(box, using: key, authenticating: hex(v.aad)) == hex(v.plaintext))

        let fromCombined = try AESGCM.SealedBox(combined: hex(v.iv) + hex(v.ciphertext) + hex(v.tag))
        #expect(fromCombined == box)
        #expect(try AESGCM.Cipher(key: key).open(fromCombined, authenticating: hex(v.aad)) == hex(v.plaintext))
    }

    @Test("A published box with its last tag bit flipped does not open", arguments: gcmVectors)
    func publishedBoxWithFlippedTagFails(_ v: GCMVector) throws {
        let key = try SymmetricKey(copying: hex(v.key))
        let tag = flippingBit(127, of: hex(v.tag))
        let box = try AESGCM.SealedBox(nonce: hex(v.iv), ciphertext: hex(v.ciphertext), tag: tag)
        let error = #expect(throws: CryptoError.self) {
            try AESGCM.open(box, using: key, authenticating: hex(v.aad))
        }
        #expect(error?.code == .authenticationFailed)
    }

    @Test("The known-answer entry point refuses a nonce that is not 12 bytes", arguments: [0, 8, 11, 13, 16])
    func fixedNonceSealRefusesWrongNonceSize(_ count: Int) throws {
        let cipher = try AESGCM.Cipher(key: SymmetricKey.random())
        let error = #expect(throws: CryptoError.self) {
            _ = try seal([1, 2, 3], authenticating: [], nonce: [UInt8](repeating: 0, count: count), with: cipher)
        }
        #expect(error?.code == .invalidInput)
    }
}

// MARK: - HMAC-SHA256 (RFC 4231)

struct HMACVector: Sendable, CustomTestStringConvertible {
    let name: String
    let key: [UInt8]
    let data: [UInt8]
    let mac: String
    /// RFC 4231 test case 5 publishes only the first 128 bits of the code.
    let truncatedTo: Int?

    var testDescription: String { name }
}

/// RFC 4231, "Identifiers and Test Vectors for HMAC-SHA-224, HMAC-SHA-256, HMAC-SHA-384, and
/// HMAC-SHA-512", section 4, HMAC-SHA-256 results of test cases 1–7.
private let rfc4231Vectors: [HMACVector] = [
    HMACVector(
        name: "RFC 4231 test case 1: 20-byte key, \"Hi There\"",
        key: [UInt8](repeating: 0x0b, count: 20),
        data: Array("Hi There".utf8),
        mac: "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
        truncatedTo: nil),
    HMACVector(
        name: "RFC 4231 test case 2: key shorter than the output, \"Jefe\"",
        key: Array("Jefe".utf8),
        data: Array("what do ya want for nothing?".utf8),
        mac: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        truncatedTo: nil),
    HMACVector(
        name: "RFC 4231 test case 3: 50 bytes of 0xdd under 20 bytes of 0xaa",
        key: [UInt8](repeating: 0xaa, count: 20),
        data: [UInt8](repeating: 0xdd, count: 50),
        mac: "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
        truncatedTo: nil),
    HMACVector(
        name: "RFC 4231 test case 4: 25-byte key 0x01...0x19, 50 bytes of 0xcd",
        key: hex("0102030405060708090a0b0c0d0e0f10111213141516171819"),
        data: [UInt8](repeating: 0xcd, count: 50),
        mac: "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
        truncatedTo: nil),
    HMACVector(
        name: "RFC 4231 test case 5: output truncated to 128 bits",
        key: [UInt8](repeating: 0x0c, count: 20),
        data: Array("Test With Truncation".utf8),
        mac: "a3b6167473100ee06e0c796c2955552b",
        truncatedTo: 16),
    HMACVector(
        name: "RFC 4231 test case 6: 131-byte key, hashed first",
        key: [UInt8](repeating: 0xaa, count: 131),
        data: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8),
        mac: "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        truncatedTo: nil),
    HMACVector(
        name: "RFC 4231 test case 7: 131-byte key and 152-byte data",
        key: [UInt8](repeating: 0xaa, count: 131),
        data: Array(
            ("This is a test using a larger than block-size key and a larger than block-size data. "
                + "The key needs to be hashed before being used by the HMAC algorithm.").utf8),
        mac: "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
        truncatedTo: nil),
]

@Suite("HMAC-SHA256")
struct HMACSHA256Tests {
    @Test("The one-shot code matches RFC 4231", arguments: rfc4231Vectors)
    func oneShotMatchesRFC4231(_ v: HMACVector) throws {
        let key = try SymmetricKey(copying: v.key)
        let code = try HMACSHA256.authenticationCode(for: v.data, using: key)
        #expect(code.count == HMACSHA256.byteCount)
        if let truncatedTo = v.truncatedTo {
            #expect(Array(code.prefix(truncatedTo)) == hex(v.mac))
            // A truncated code is not a full code: the validator compares all 32 bytes.
            #expect(try !HMACSHA256.isValidAuthenticationCode(hex(v.mac), for: v.data, using: key))
        } else {
            #expect(code == hex(v.mac))
            #expect(try HMACSHA256.isValidAuthenticationCode(hex(v.mac), for: v.data, using: key))
        }
    }

    @Test(
        "Feeding the message in pieces gives the one-shot code", arguments: rfc4231Vectors,
        [1, 3, 7, 32, 63, 64, 65, 1000])
    func incrementalEqualsOneShot(_ v: HMACVector, pieceSize: Int) throws {
        let key = try SymmetricKey(copying: v.key)
        let oneShot = try HMACSHA256.authenticationCode(for: v.data, using: key)

        var mac = try HMACSHA256(key: key)
        var offset = 0
        while offset < v.data.count {
            let end = min(offset + pieceSize, v.data.count)
            try mac.update(Array(v.data[offset..<end]))
            offset = end
        }
        let incremental = try mac.finalize()

        #expect(incremental == oneShot)
        if let truncatedTo = v.truncatedTo {
            #expect(Array(incremental.prefix(truncatedTo)) == hex(v.mac))
        } else {
            #expect(incremental == hex(v.mac))
        }
    }

    @Test("Empty updates change nothing, and the raw-buffer update equals the array update")
    func emptyAndRawBufferUpdates() throws {
        let v = rfc4231Vectors[1]
        let key = try SymmetricKey(copying: v.key)
        var mac = try HMACSHA256(key: key)
        try mac.update([])
        try v.data.prefix(10).withUnsafeBytes { try mac.update($0) }
        try mac.update([])
        try Array(v.data.dropFirst(10)).withUnsafeBytes { try mac.update($0) }
        #expect(try mac.finalize() == hex(v.mac))
    }

    @Test("The validator refuses a code with any single bit flipped")
    func validatorRefusesFlippedBits() throws {
        let v = rfc4231Vectors[0]
        let key = try SymmetricKey(copying: v.key)
        for bit in 0..<(8 * HMACSHA256.byteCount) {
            #expect(
                try !HMACSHA256.isValidAuthenticationCode(flippingBit(bit, of: hex(v.mac)), for: v.data, using: key),
                "bit \(bit)")
        }
    }

    @Test("The validator refuses a code under another key, for other data, or of another length")
    func validatorRefusesMismatches() throws {
        let v = rfc4231Vectors[0]
        let key = try SymmetricKey(copying: v.key)
        let code = hex(v.mac)
        #expect(
            try !HMACSHA256.isValidAuthenticationCode(
                code, for: v.data, using: SymmetricKey(copying: [UInt8](repeating: 0x0c, count: 20))))
        #expect(try !HMACSHA256.isValidAuthenticationCode(code, for: Array("Hi there".utf8), using: key))
        #expect(try !HMACSHA256.isValidAuthenticationCode(Array(code.dropLast()), for: v.data, using: key))
        #expect(try !HMACSHA256.isValidAuthenticationCode(code + [0], for: v.data, using: key))
        #expect(try !HMACSHA256.isValidAuthenticationCode([], for: v.data, using: key))
    }
}

// MARK: - SHA-256 (FIPS 180-2)

/// FIPS 180-2, Appendix B.1 ("abc") and B.2 (the 448-bit message); the empty-string digest is
/// the well-known SHA-256 of zero bytes (also in NIST's SHAVS short-message set, Len = 0).
private let sha256Vectors: [(message: String, digest: String)] = [
    ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    ),
]

@Suite("SHA-256")
struct SHA256Tests {
    @Test("The digest matches FIPS 180-2", arguments: sha256Vectors)
    func digestMatchesFIPS180(_ message: String, _ digest: String) {
        let bytes = Array(message.utf8)
        #expect(SHA256.hash(bytes) == hex(digest))
        #expect(bytes.withUnsafeBytes { SHA256.hash($0) } == hex(digest))
        #expect(SHA256.hash(bytes).count == SHA256.byteCount)
    }
}

// MARK: - Tampering

/// A random key, plaintext and AAD, sealed once.
private struct Sealed {
    let key: SymmetricKey
    let plaintext: [UInt8]
    let aad: [UInt8]
    let box: AESGCM.SealedBox

    init(plaintextCount: Int = 37, aadCount: Int = 20) throws {
        key = try SymmetricKey.random()
        plaintext = try SecureRandom.bytes(count: plaintextCount)
        aad = try SecureRandom.bytes(count: aadCount)
        box = try AESGCM.seal(plaintext, using: key, authenticating: aad)
    }
}

enum BoxPart: String, CaseIterable, Sendable {
    case ciphertext, tag, nonce, aad
}

enum AADChange: String, CaseIterable, Sendable {
    case omitted, extendedByOneByte, lastByteDropped, replacedBySameLengthZeros
}

@Suite("AES-256-GCM tampering")
struct AESGCMTamperTests {
    @Test("The untouched box opens (control for the tamper tests)")
    func untouchedBoxOpens() throws {
        let s = try Sealed()
        #expect(try AESGCM.open(s.box, using: s.key, authenticating: s.aad) == s.plaintext)
    }

    @Test("Flipping any single bit makes open fail with authenticationFailed", arguments: BoxPart.allCases)
    func flippingAnyBitFails(_ part: BoxPart) throws {
        let s = try Sealed()
        let cipher = try AESGCM.Cipher(key: s.key)
        let bits: Int
        switch part {
        case .ciphertext: bits = 8 * s.box.ciphertext.count
        case .tag: bits = 8 * s.box.tag.count
        case .nonce: bits = 8 * s.box.nonce.count
        case .aad: bits = 8 * s.aad.count
        }
        #expect(bits > 0)
        for bit in 0..<bits {
            var nonce = s.box.nonce, ciphertext = s.box.ciphertext, tag = s.box.tag, aad = s.aad
            switch part {
            case .ciphertext: ciphertext = flippingBit(bit, of: ciphertext)
            case .tag: tag = flippingBit(bit, of: tag)
            case .nonce: nonce = flippingBit(bit, of: nonce)
            case .aad: aad = flippingBit(bit, of: aad)
            }
            let box = try AESGCM.SealedBox(nonce: nonce, ciphertext: ciphertext, tag: tag)
            let error = #expect(throws: CryptoError.self, "\(part) bit \(bit)") {
                try cipher.open(box, authenticating: aad)
            }
            #expect(error?.code == .authenticationFailed, "\(part) bit \(bit)")
        }
    }

    @Test("Changing the associated data makes open fail", arguments: AADChange.allCases)
    func changedAADFails(_ change: AADChange) throws {
        let s = try Sealed()
        let aad: [UInt8]
        switch change {
        case .omitted: aad = []
        case .extendedByOneByte: aad = s.aad + [0]
        case .lastByteDropped: aad = Array(s.aad.dropLast())
        case .replacedBySameLengthZeros: aad = [UInt8](repeating: 0, count: s.aad.count)
        }
        let error = #expect(throws: CryptoError.self) {
            try AESGCM.open(s.box, using: s.key, authenticating: aad)
        }
        #expect(error?.code == .authenticationFailed)
    }

    @Test("A box sealed without AAD does not open when AAD is presented")
    func aadAddedAfterSealingFails() throws {
        let key = try SymmetricKey.random()
        let box = try AESGCM.seal(Array("no header".utf8), using: key)
        let error = #expect(throws: CryptoError.self) {
            try AESGCM.open(box, using: key, authenticating: [0])
        }
        #expect(error?.code == .authenticationFailed)
    }

    @Test(
        "A combined box cut short but still 28 bytes or more fails authentication",
        arguments: [1, 2, 15, 16, 17, 36, 37])
    func truncatedCombinedBoxFailsAuthentication(_ bytesRemoved: Int) throws {
        let s = try Sealed(plaintextCount: 37)
        let combined = s.box.combined
        #expect(combined.count - bytesRemoved >= AESGCM.overhead)

        let cutAtEnd = try AESGCM.SealedBox(combined: Array(combined.dropLast(bytesRemoved)))
        let errorAtEnd = #expect(throws: CryptoError.self) {
            try AESGCM.open(cutAtEnd, using: s.key, authenticating: s.aad)
        }
        #expect(errorAtEnd?.code == .authenticationFailed)

        let cutAtStart = try AESGCM.SealedBox(combined: Array(combined.dropFirst(bytesRemoved)))
        let errorAtStart = #expect(throws: CryptoError.self) {
            try AESGCM.open(cutAtStart, using: s.key, authenticating: s.aad)
        }
        #expect(errorAtStart?.code == .authenticationFailed)
    }

    @Test("A combined box shorter than 28 bytes is invalid input", arguments: [0, 1, 12, 16, 27])
    func shortCombinedBoxIsInvalidInput(_ length: Int) throws {
        let s = try Sealed(plaintextCount: 0)
        #expect(s.box.combined.count == AESGCM.overhead)
        let error = #expect(throws: CryptoError.self) {
            _ = try AESGCM.SealedBox(combined: Array(s.box.combined.prefix(length)))
        }
        #expect(error?.code == .invalidInput)

        // The raw-buffer API checks the same bound.
        let cipher = try AESGCM.Cipher(key: s.key)
        let short = Array(s.box.combined.prefix(length))
        let rawError = #expect(throws: CryptoError.self) {
            try short.withUnsafeBytes { c in
                try [UInt8]().withUnsafeBytes { a in
                    var out = [UInt8]()
                    try out.withUnsafeMutableBytes { o in try cipher.open(c, authenticating: a, into: o) }
                }
            }
        }
        #expect(rawError?.code == .invalidInput)
    }

    @Test("A box whose ciphertext is emptied opens with neither the original nor an empty plaintext")
    func emptiedCiphertextFails() throws {
        let s = try Sealed()
        let box = try AESGCM.SealedBox(nonce: s.box.nonce, ciphertext: [], tag: s.box.tag)
        let error = #expect(throws: CryptoError.self) {
            try AESGCM.open(box, using: s.key, authenticating: s.aad)
        }
        #expect(error?.code == .authenticationFailed)
    }

    @Test("Opening under a different key fails")
    func differentKeyFails() throws {
        let s = try Sealed()
        let other = try SymmetricKey.random()
        #expect(!other.isEqual(to: s.key))
        let error = #expect(throws: CryptoError.self) {
            try AESGCM.open(s.box, using: other, authenticating: s.aad)
        }
        #expect(error?.code == .authenticationFailed)
    }

    @Test("Opening under a key differing in one bit fails")
    func keyDifferingInOneBitFails() throws {
        let keyBytes = try SecureRandom.bytes(count: 32)
        let key = try SymmetricKey(copying: keyBytes)
        let box = try AESGCM.seal(Array("payload".utf8), using: key)
        for bit in [0, 7, 128, 255] {
            let neighbour = try SymmetricKey(copying: flippingBit(bit, of: keyBytes))
            let error = #expect(throws: CryptoError.self, "key bit \(bit)") {
                try AESGCM.open(box, using: neighbour)
            }
            #expect(error?.code == .authenticationFailed, "key bit \(bit)")
        }
    }

    @Test("A failed raw-buffer open leaves zeros in the output buffer")
    func failedRawOpenZeroesOutput() throws {
        let s = try Sealed()
        let cipher = try AESGCM.Cipher(key: s.key)
        let tampered = s.box.nonce + s.box.ciphertext + flippingBit(0, of: s.box.tag)
        var output = [UInt8](repeating: 0xA5, count: s.plaintext.count)
        let error = #expect(throws: CryptoError.self) {
            try tampered.withUnsafeBytes { c in
                try s.aad.withUnsafeBytes { a in
                    try output.withUnsafeMutableBytes { o in try cipher.open(c, authenticating: a, into: o) }
                }
            }
        }
        #expect(error?.code == .authenticationFailed)
        #expect(output == [UInt8](repeating: 0, count: s.plaintext.count))
    }

    @Test("AESGCM.Cipher refuses a key that is not 32 bytes", arguments: [1, 16, 24, 31, 33, 64])
    func cipherRefusesWrongKeySize(_ byteCount: Int) throws {
        let key = try SymmetricKey.random(byteCount: byteCount)
        let error = #expect(throws: CryptoError.self) {
            _ = try AESGCM.Cipher(key: key)
        }
        #expect(error?.code == .invalidKeySize)

        let sealError = #expect(throws: CryptoError.self) {
            _ = try AESGCM.seal([1, 2, 3], using: key)
        }
        #expect(sealError?.code == .invalidKeySize)
    }

    @Test("A key of zero bytes cannot be made")
    func emptyKeyIsRefused() {
        let copyError = #expect(throws: CryptoError.self) {
            _ = try SymmetricKey(copying: [UInt8]())
        }
        #expect(copyError?.code == .invalidKeySize)
        let randomError = #expect(throws: CryptoError.self) {
            _ = try SymmetricKey.random(byteCount: 0)
        }
        #expect(randomError?.code == .invalidKeySize)
    }

    @Test("A box with a nonce other than 12 bytes or a tag other than 16 bytes is invalid input")
    func sealedBoxRefusesWrongPartSizes() {
        for nonceCount in [0, 11, 13] {
            let error = #expect(throws: CryptoError.self, "nonce \(nonceCount)") {
                _ = try AESGCM.SealedBox(
                    nonce: [UInt8](repeating: 0, count: nonceCount), ciphertext: [],
                    tag: [UInt8](repeating: 0, count: 16))
            }
            #expect(error?.code == .invalidInput)
        }
        for tagCount in [0, 12, 15, 17] {
            let error = #expect(throws: CryptoError.self, "tag \(tagCount)") {
                _ = try AESGCM.SealedBox(
                    nonce: [UInt8](repeating: 0, count: 12), ciphertext: [], tag: [UInt8](repeating: 0, count: tagCount)
                )
            }
            #expect(error?.code == .invalidInput)
        }
    }
}

// MARK: - Nonces and the combined form

@Suite("AES-256-GCM nonces and round trips")
struct AESGCMNonceTests {
    @Test("1,000 seals of one plaintext under one key give 1,000 distinct nonces and ciphertexts")
    func thousandSealsHaveDistinctNonces() throws {
        let key = try SymmetricKey.random()
        let cipher = try AESGCM.Cipher(key: key)
        let plaintext = Array("the same message, every time".utf8)
        var nonces = Set<[UInt8]>()
        var ciphertexts = Set<[UInt8]>()
        var tags = Set<[UInt8]>()
        for _ in 0..<1_000 {
            let box = try cipher.seal(plaintext)
            #expect(box.nonce.count == AESGCM.nonceByteCount)
            nonces.insert(box.nonce)
            ciphertexts.insert(box.ciphertext)
            tags.insert(box.tag)
        }
        #expect(nonces.count == 1_000)
        #expect(ciphertexts.count == 1_000)
        #expect(tags.count == 1_000)
    }

    @Test("The static seal also draws a fresh nonce each time")
    func staticSealDrawsFreshNonces() throws {
        let key = try SymmetricKey.random()
        var nonces = Set<[UInt8]>()
        for _ in 0..<100 {
            nonces.insert(try AESGCM.seal([0x42], using: key).nonce)
        }
        #expect(nonces.count == 100)
    }

    @Test(
        "The combined form round-trips through SealedBox(combined:)", arguments: [0, 1, 15, 16, 17, 64, 1_000, 65_537])
    func combinedFormRoundTrips(_ plaintextCount: Int) throws {
        let key = try SymmetricKey.random()
        let plaintext = try SecureRandom.bytes(count: plaintextCount)
        let aad = Array("record header".utf8)
        let box = try AESGCM.seal(plaintext, using: key, authenticating: aad)

        #expect(box.ciphertext.count == plaintextCount)
        #expect(box.tag.count == AESGCM.tagByteCount)
        let combined = box.combined
        #expect(combined.count == plaintextCount + AESGCM.overhead)
        #expect(Array(combined.prefix(AESGCM.nonceByteCount)) == box.nonce)
        #expect(Array(combined.suffix(AESGCM.tagByteCount)) == box.tag)

        let reparsed = try AESGCM.SealedBox(combined: combined)
        #expect(reparsed == box)
        #expect(try AESGCM.open(reparsed, using: key, authenticating: aad) == plaintext)
    }

    @Test("The raw-buffer seal and open agree with each other and with the array API")
    func rawBufferRoundTrip() throws {
        let key = try SymmetricKey.random()
        let cipher = try AESGCM.Cipher(key: key)
        let plaintext = try SecureRandom.bytes(count: 100)
        let aad = try SecureRandom.bytes(count: 9)

        var sealed = [UInt8](repeating: 0, count: plaintext.count + AESGCM.overhead)
        try plaintext.withUnsafeBytes { p in
            try aad.withUnsafeBytes { a in
                try sealed.withUnsafeMutableBytes { o in try cipher.seal(p, authenticating: a, into: o) }
            }
        }
        var opened = [UInt8](repeating: 0, count: plaintext.count)
        try sealed.withUnsafeBytes { c in
            try aad.withUnsafeBytes { a in
                try opened.withUnsafeMutableBytes { o in try cipher.open(c, authenticating: a, into: o) }
            }
        }
        #expect(opened == plaintext)
        #expect(try AESGCM.open(AESGCM.SealedBox(combined: sealed), using: key, authenticating: aad) == plaintext)
    }

    @Test("The raw-buffer seal refuses an output buffer of the wrong size", arguments: [-1, 1])
    func rawBufferSealRefusesWrongOutputSize(_ delta: Int) throws {
        let cipher = try AESGCM.Cipher(key: SymmetricKey.random())
        let plaintext: [UInt8] = [1, 2, 3, 4]
        var output = [UInt8](repeating: 0, count: plaintext.count + AESGCM.overhead + delta)
        let error = #expect(throws: CryptoError.self) {
            try plaintext.withUnsafeBytes { p in
                try output.withUnsafeMutableBytes { o in
                    try cipher.seal(p, authenticating: UnsafeRawBufferPointer(start: nil, count: 0), into: o)
                }
            }
        }
        #expect(error?.code == .invalidInput)
    }

    @Test("One cipher shared between concurrent tasks seals and opens correctly")
    func sharedCipherUnderConcurrency() async throws {
        let cipher = try AESGCM.Cipher(key: SymmetricKey.random())
        let nonces = try await withThrowingTaskGroup(of: [UInt8].self) { group in
            for i in 0..<64 {
                group.addTask {
                    let plaintext = [UInt8](repeating: UInt8(i), count: 100 + i)
                    let aad = [UInt8(i)]
                    let box = try cipher.seal(plaintext, authenticating: aad)
                    let opened = try cipher.open(box, authenticating: aad)
                    guard opened == plaintext else { throw CryptoError(.library, "round trip \(i) differs") }
                    return box.nonce
                }
            }
            var all = Set<[UInt8]>()
            for try await nonce in group { all.insert(nonce) }
            return all
        }
        #expect(nonces.count == 64)
    }
}

// MARK: - Keys and randomness

@Suite("Keys and randomness")
struct KeyAndRandomTests {
    @Test("isEqual(to:) is true for the same bytes and false otherwise")
    func keyEquality() throws {
        let bytes = try SecureRandom.bytes(count: 32)
        let a = try SymmetricKey(copying: bytes)
        let b = try SymmetricKey(copying: bytes)
        #expect(a.isEqual(to: b))
        #expect(b.isEqual(to: a))
        #expect(a.isEqual(to: a))

        #expect(try !a.isEqual(to: SymmetricKey(copying: flippingBit(255, of: bytes))))
        #expect(try !a.isEqual(to: SymmetricKey(copying: flippingBit(0, of: bytes))))
        #expect(try !a.isEqual(to: SymmetricKey(copying: bytes.dropLast())))
        #expect(try !a.isEqual(to: SymmetricKey(copying: bytes + [0])))
        #expect(try !a.isEqual(to: SymmetricKey.random()))
    }

    @Test("A key copied from bytes seals like the bytes it came from")
    func copiedKeyKeepsItsBytes() throws {
        var bytes = try SecureRandom.bytes(count: 32)
        let key = try SymmetricKey(copying: bytes)
        let box = try AESGCM.seal(Array("hello".utf8), using: key)
        // Wiping the caller's copy does not touch the key.
        for i in bytes.indices { bytes[i] = 0 }
        #expect(key.byteCount == 32)
        #expect(try AESGCM.open(box, using: key) == Array("hello".utf8))
    }

    @Test("A random key has 32 bytes by default, and two random keys differ")
    func randomKeys() throws {
        let a = try SymmetricKey.random()
        let b = try SymmetricKey.random()
        #expect(a.byteCount == SymmetricKey.defaultByteCount)
        #expect(a.byteCount == 32)
        #expect(!a.isEqual(to: b))
        #expect(try SymmetricKey.random(byteCount: 64).byteCount == 64)
    }

    @Test("SecureRandom.bytes(count: 32) gives 32 bytes, and two draws differ")
    func secureRandomBytes() throws {
        let first = try SecureRandom.bytes(count: 32)
        let second = try SecureRandom.bytes(count: 32)
        #expect(first.count == 32)
        #expect(second.count == 32)
        #expect(first != second)
        #expect(first != [UInt8](repeating: 0, count: 32))
    }

    @Test("SecureRandom gives the requested sizes, including zero", arguments: [0, 1, 12, 33, 4_096])
    func secureRandomSizes(_ count: Int) throws {
        #expect(try SecureRandom.bytes(count: count).count == count)
    }

    @Test("SecureRandom.uint64 does not repeat over a few draws")
    func secureRandomUInt64() throws {
        var seen = Set<UInt64>()
        for _ in 0..<16 { seen.insert(try SecureRandom.uint64()) }
        #expect(seen.count == 16)
    }
}
