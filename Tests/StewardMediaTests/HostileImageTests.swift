import Foundation
import StewardCore
import StewardMedia
import StewardTesting
import Testing

@Suite struct HostileImageTests {
    /// Metadata a stored image may still carry under the strict policy.
    static let allowedContainers: Set<String> = ["JFIF", "EXIF", "ICC profile", "Adobe"]

    /// The error `body` throws, or nil.
    func mediaError(_ body: () throws -> Void) -> MediaError? {
        do { try body() } catch let error as MediaError { return error } catch { return nil }
        return nil
    }

    /// An EXIF JPEG around a hand-made TIFF block.
    func jpeg(tiff: [UInt8]) -> [UInt8] {
        [0xFF, 0xD8] + TestImages.segment(0xE1, Array("Exif".utf8) + [0, 0] + tiff) + TestImages.jpegPixels()
    }

    // Little-endian TIFF helpers.
    func le16(_ v: UInt16) -> [UInt8] { TestImages.u16(v, false) }
    func le32(_ v: UInt32) -> [UInt8] { TestImages.u32(v, false) }
    func entry(_ tag: UInt16, _ type: UInt16, _ count: UInt32, _ value: UInt32) -> [UInt8] {
        le16(tag) + le16(type) + le32(count) + le32(value)
    }

    @Test func anIFDChainThatLoopsBackIsRefused() {
        // IFD0 at 8 with one entry; its next-IFD pointer points at itself.
        let tiff: [UInt8] = [0x49, 0x49] + le16(42) + le32(8) + le16(1) + entry(0x0112, 3, 1, 1) + le32(8)
        #expect(mediaError { _ = try ImageSanitizer.sanitize(jpeg(tiff: tiff), policy: .strict) }?.code == .offsetLoop)
    }

    @Test func anExifPointerBackToIFD0IsRefused() {
        let tiff: [UInt8] = [0x49, 0x49] + le16(42) + le32(8) + le16(1) + entry(0x8769, 4, 1, 8) + le32(0)
        #expect(mediaError { _ = try ImageSanitizer.sanitize(jpeg(tiff: tiff), policy: .strict) }?.code == .offsetLoop)
    }

    @Test func aGPSPointerIntoTheExifDirectoryIsRefused() {
        // Exif at 26, GPS pointing at the same 26.
        let tiff: [UInt8] =
            [0x49, 0x49] + le16(42) + le32(8) + le16(2) + entry(0x8769, 4, 1, 38) + entry(0x8825, 4, 1, 38) + le32(0)
            + le16(1) + entry(0x0112, 3, 1, 1) + le32(0)
        #expect(mediaError { _ = try ImageSanitizer.sanitize(jpeg(tiff: tiff), policy: .strict) }?.code == .offsetLoop)
    }

    @Test(arguments: [UInt16(1), 2, 3, 4, 5, 7, 12])
    func aCountOf0xFFFFFFFFIsRefused(type: UInt16) {
        let tiff: [UInt8] =
            [0x49, 0x49] + le16(42) + le32(8) + le16(1) + entry(0xA431, type, 0xFFFF_FFFF, 26) + le32(0)
        #expect(mediaError { _ = try ImageSanitizer.sanitize(jpeg(tiff: tiff), policy: .strict) }?.code == .malformed)
    }

    @Test func valueOffsetsAndDirectoryCountsPastTheEndAreRefused() {
        let farValue: [UInt8] =
            [0x49, 0x49] + le16(42) + le32(8) + le16(1) + entry(0x010F, 2, 20, 0xFFFF_FFF0) + le32(0)
        #expect(
            mediaError { _ = try ImageSanitizer.sanitize(jpeg(tiff: farValue), policy: .strict) }?.code == .malformed)
        let hugeDirectory: [UInt8] = [0x49, 0x49] + le16(42) + le32(8) + le16(0xFFFF) + entry(0x0112, 3, 1, 1)
        #expect(
            mediaError { _ = try ImageSanitizer.sanitize(jpeg(tiff: hugeDirectory), policy: .strict) }?.code
                == .malformed)
        let farIFD: [UInt8] = [0x49, 0x49] + le16(42) + le32(0x7FFF_FFFF)
        #expect(mediaError { _ = try ImageSanitizer.sanitize(jpeg(tiff: farIFD), policy: .strict) }?.code == .truncated)
        let noMagic: [UInt8] = [0x49, 0x49] + le16(43) + le32(8)
        #expect(
            mediaError { _ = try ImageSanitizer.sanitize(jpeg(tiff: noMagic), policy: .strict) }?.code == .malformed)
    }

    @Test func segmentLengthsPastTheEndAndBrokenMarkersAreRefused() {
        let pixels = TestImages.jpegPixels()
        let long: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE1, 0xFF, 0xF0] + Array("Exif".utf8) + [0, 0]
        #expect(mediaError { _ = try ImageSanitizer.sanitize(long, policy: .strict) }?.code == .truncated)
        let short: [UInt8] = [0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x01] + pixels
        #expect(mediaError { _ = try ImageSanitizer.sanitize(short, policy: .strict) }?.code == .malformed)
        let junk: [UInt8] = [0xFF, 0xD8, 0x12, 0x34] + pixels
        #expect(mediaError { _ = try ImageSanitizer.sanitize(junk, policy: .strict) }?.code == .malformed)
        let noScan: [UInt8] = [0xFF, 0xD8, 0xFF, 0xD9]
        #expect(mediaError { _ = try ImageSanitizer.sanitize(noScan, policy: .strict) }?.code == .malformed)
        let noEnd = Array(pixels.dropLast(2))
        #expect(
            mediaError { _ = try ImageSanitizer.sanitize([0xFF, 0xD8] + noEnd, policy: .strict) }?.code == .truncated)
    }

    @Test func unknownFormatsAreRefused() {
        for bytes: [UInt8] in [
            [], [0xFF], Array("GIF89a".utf8) + [0, 0, 0], Array("not an image at all".utf8), [0xFF, 0xD8, 0xFF],
        ] {
            let code = mediaError { _ = try ImageSanitizer.sanitize(bytes, policy: .strict) }?.code
            #expect(code == .unsupportedFormat || code == .truncated, "\(bytes)")
        }
    }

    @Test func pngChunksWithHugeLengthsOrBadCRCsAreRefused() {
        let (file, _, _) = TestImages.png()
        var huge = file
        // The pHYs chunk's length (right after the 8-byte signature and the 25-byte IHDR chunk).
        huge.replaceSubrange(33..<37, with: [0xFF, 0xFF, 0xFF, 0xFF])
        #expect(mediaError { _ = try ImageSanitizer.sanitize(huge, policy: .strict) }?.code == .malformed)
        var past = file
        past.replaceSubrange(33..<37, with: [0x00, 0x10, 0x00, 0x00])
        #expect(mediaError { _ = try ImageSanitizer.sanitize(past, policy: .strict) }?.code == .truncated)
        var badCRC = file
        badCRC[45] ^= 0x01
        #expect(mediaError { _ = try ImageSanitizer.sanitize(badCRC, policy: .strict) }?.code == .malformed)
    }

    @Test(arguments: [0, 1])
    func everyTruncationOfASmallImageIsRefused(format: Int) {
        let file = format == 0 ? TestImages.jpeg(scanBytes: 120).file : TestImages.png(idatBytes: 60).file
        for length in 0..<file.count {
            let error = mediaError { _ = try ImageSanitizer.sanitize(Array(file.prefix(length)), policy: .strict) }
            #expect(error != nil, "a file cut at \(length) of \(file.count) bytes must be refused")
        }
        #expect(mediaError { _ = try ImageSanitizer.sanitize(file, policy: .strict) } == nil)
    }

    /// A deterministic mutation: flips, overwrites with marker-like bytes, insertions, deletions, truncation.
    static func mutate(_ file: [UInt8], _ random: inout SplitMix64) -> [UInt8] {
        var bytes = file
        for _ in 0..<random.int(in: 1...4) {
            guard !bytes.isEmpty else { break }
            let at = random.int(in: 0..<bytes.count)
            switch random.int(in: 0..<6) {
            case 0: bytes[at] ^= UInt8(1 << random.int(in: 0..<8))
            case 1: bytes[at] = [0xFF, 0x00, 0xD9, 0xDA, 0xE1, 0x7F][random.int(in: 0..<6)]
            case 2: bytes.insert(contentsOf: random.bytes(random.int(in: 1...8)), at: at)
            case 3: bytes.removeSubrange(at..<min(bytes.count, at + random.int(in: 1...16)))
            case 4: bytes = Array(bytes.prefix(at))
            default:
                let end = min(bytes.count, at + 4)
                bytes.replaceSubrange(at..<end, with: [UInt8](repeating: 0xFF, count: end - at))
            }
        }
        return bytes
    }

    @Test func fuzzedImagesNeverCrashAndWhatSurvivesIsClean() throws {
        var random = SplitMix64(seed: 0x5EED_0009)
        let seeds = [
            TestImages.jpeg(scanBytes: 200).file, TestImages.jpeg(bigEndian: true, scanBytes: 200, trailer: true).file,
            TestImages.png(idatBytes: 80).file,
        ]
        var accepted = 0, refused = 0
        for iteration in 0..<4_000 {
            let input = Self.mutate(seeds[iteration % seeds.count], &random)
            do {
                let clean = try ImageSanitizer.sanitize(input, policy: .strict)
                accepted += 1
                let metadata = try ImageMetadata(reading: clean.bytes)
                #expect(Set(metadata.exifTags).isSubset(of: ExpectedTags.renderingTags), "iteration \(iteration)")
                #expect(
                    Set(metadata.containers).isSubset(of: Self.allowedContainers),
                    "iteration \(iteration): \(metadata.containers)")
                #expect(
                    try ImageSanitizer.sanitize(clean.bytes, policy: .strict).report.removed.isEmpty,
                    "iteration \(iteration)")
            } catch is MediaError {
                refused += 1
            }
        }
        // Both paths were exercised.
        #expect(accepted > 100 && refused > 100, "accepted \(accepted), refused \(refused)")
    }

    @Test func fuzzedImagesNeverReachTheStoreUnsanitised() throws {
        let harness = try MediaHarness()
        var random = SplitMix64(seed: 0xF022_0009)
        let seeds = [TestImages.jpeg(scanBytes: 200).file, TestImages.png(idatBytes: 80).file]
        var stored = 0
        for iteration in 0..<250 {
            let input = Self.mutate(seeds[iteration % seeds.count], &random)
            let before = try harness.store.list().count
            do {
                let result = try harness.store.put(input, source: .upload, purpose: .personalization)
                stored += 1
                #expect(result.isHeld, "personalization is pending: held, not stored")
                #expect(try harness.store.list().count == before)
            } catch is MediaError {
                #expect(
                    try harness.store.list().count == before,
                    "iteration \(iteration): a refused image leaves nothing behind")
            }
            do {
                let result = try harness.store.put(input, source: .upload, purpose: .serviceProvision)
                let item = try #require(result.item)
                let image = try #require(try harness.store.get(item.id))
                let metadata = try ImageMetadata(reading: image.bytes)
                #expect(Set(metadata.exifTags).isDisjoint(with: ExpectedTags.forbidden), "iteration \(iteration)")
                #expect(!metadata.exifTags.contains { $0.hasPrefix("GPS") }, "iteration \(iteration)")
                #expect(Set(metadata.containers).isSubset(of: Self.allowedContainers), "iteration \(iteration)")
                #expect(try harness.store.list().count == before + 1)
            } catch is MediaError {
                #expect(
                    try harness.store.list().count == before,
                    "iteration \(iteration): a refused image leaves nothing behind")
            }
        }
        #expect(stored > 10)
    }

    @Test func aFileWithThousandsOfDistinctTagsGetsABoundedReport() throws {
        let count = 2_000
        var tiff: [UInt8] = [0x49, 0x49] + le16(42) + le32(8) + le16(UInt16(count))
        for i in 0..<count { tiff += entry(UInt16(0x1000 + i), 3, 1, 7) }
        tiff += le32(0)
        let clean = try ImageSanitizer.sanitize(jpeg(tiff: tiff), policy: .strict)
        #expect(clean.report.removed.count == 513)
        #expect(clean.report.removed.last == "… more (list truncated)")
        #expect(try ImageMetadata(reading: clean.bytes).exifTags.isEmpty)
    }

    /// A fail case the fuzz campaign or an attacker found, as checked in under Fuzz/FailCases.
    static func failCase(_ target: String, _ name: String) throws -> [UInt8] {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return try [UInt8](Data(contentsOf: root.appendingPathComponent("Fuzz/FailCases/\(target)/\(name)")))
    }

    @Test func aPNGWhoseEXIFRepeatsAMillionByteOrientation4500TimesIsRefusedNotRebuiltToGigabytes() throws {
        // 4,500 Orientation entries of type BYTE, each claiming the same 1,000,000 bytes, and an
        // Exif IFD: the rebuild once added the values up to 4.5 GB and trapped converting the
        // Exif offset to 32 bits (SIGILL in the host).
        let png = try Self.failCase("FuzzImage", "png-exif-4500-orientations-of-a-million-bytes.png")
        let error = mediaError { _ = try ImageSanitizer.sanitize(png, policy: .strict) }
        #expect(error?.code == .malformed)
        #expect(error?.message.contains("overlap") == true, "\(String(describing: error))")
        #expect(mediaError { _ = try ImageMetadata(reading: png) }?.code == .malformed)
        let harness = try MediaHarness()
        #expect(
            mediaError { try harness.store.put(png, source: .upload, purpose: .serviceProvision) }?.code == .malformed)
        #expect(try harness.store.list().isEmpty)
    }

    @Test func aTwoByteAPP1FollowedByAnExifHeaderIsNotTakenForEXIF() throws {
        // FF D8, an APP1 segment of length 2, then the bytes "Exif\0\0" outside it: a walk that
        // matched identifiers past the segment's end sliced the EXIF block backwards and trapped.
        let jpeg = try Self.failCase("FuzzImage", "jpeg-two-byte-app1-before-an-exif-header.jpg")
        #expect(jpeg == [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x02] + Array("Exif".utf8) + [0, 0])
        #expect(mediaError { _ = try ImageSanitizer.sanitize(jpeg, policy: .strict) }?.code == .malformed)
        #expect(mediaError { _ = try ImageMetadata(reading: jpeg) }?.code == .malformed)
        // The same short APP1 inside a whole file is an empty, unnamed segment that is dropped.
        let file: [UInt8] = [0xFF, 0xD8, 0xFF, 0xE1, 0x00, 0x02] + TestImages.jpegPixels()
        let clean = try ImageSanitizer.sanitize(file, policy: .strict)
        #expect(clean.report.removed == ["APP1 (empty)"])
    }

    @Test func keptTagsOfTheWrongShapeOrRepeatedAreRemovedAndTheBlockNeverGrows() throws {
        // Orientation as 40 bytes (it is one SHORT), ColorSpace twice, XResolution as a SHORT.
        let values: [UInt8] = Array(repeating: 7, count: 40)
        let ifd0Count = 4, exifAt = 8 + 2 + 12 * ifd0Count + 4, dataAt = exifAt + 2 + 12 * 2 + 4
        let tiff: [UInt8] =
            [0x49, 0x49] + le16(42) + le32(8) + le16(UInt16(ifd0Count))
            + entry(0x0112, 1, 40, UInt32(dataAt)) + entry(0x011A, 3, 1, 72) + entry(0x0128, 3, 1, 2)
            + entry(0x8769, 4, 1, UInt32(exifAt)) + le32(0)
            + le16(2) + entry(0xA001, 3, 1, 1) + entry(0xA001, 3, 1, 0xFFFF) + le32(0)
            + values
        let clean = try ImageSanitizer.sanitize(jpeg(tiff: tiff), policy: .strict)
        #expect(
            Set(clean.report.removed).isSuperset(of: [
                "Malformed Orientation", "Malformed XResolution", "Duplicate ColorSpace",
            ]))
        #expect(clean.report.kept == ["ResolutionUnit", "ColorSpace"])
        let metadata = try ImageMetadata(reading: clean.bytes)
        #expect(metadata.exifTags == ["ResolutionUnit", "ExifIFDPointer", "ColorSpace"])
        #expect(clean.bytes.count <= jpeg(tiff: tiff).count)
        #expect(try ImageSanitizer.sanitize(clean.bytes, policy: .strict).bytes == clean.bytes)
    }

    @Test func aJPEGOfAMillionTinySegmentsIsSanitisedInMemoryBoundedByItsOutput() throws {
        // 4-byte APP5 segments, then restart markers outside any scan: a parser that kept one
        // part per segment held about 24 bytes of bookkeeping for every 2 to 4 bytes of file.
        var file: [UInt8] = [0xFF, 0xD8]
        file.reserveCapacity(4_500_000)
        for _ in 0..<500_000 { file += [0xFF, 0xE5, 0x00, 0x02] }
        for _ in 0..<500_000 { file += [0xFF, 0xD0] }
        file += TestImages.jpegPixels()
        let clean = try ImageSanitizer.sanitize(file, policy: .strict)
        #expect(clean.report.removed == ["APP5 (empty)"])
        #expect(clean.bytes.count == file.count - 500_000 * 4)
        #expect(try ImageMetadata(reading: file).containers == ["APP5 (empty)"])
    }

    @Test func hostileImagesThroughTheStoreLeaveNothing() throws {
        let harness = try MediaHarness()
        let loop: [UInt8] = [0x49, 0x49] + le16(42) + le32(8) + le16(1) + entry(0x0112, 3, 1, 1) + le32(8)
        let huge: [UInt8] = [0x49, 0x49] + le16(42) + le32(8) + le16(1) + entry(0xA431, 2, 0xFFFF_FFFF, 26) + le32(0)
        for bytes in [
            jpeg(tiff: loop), jpeg(tiff: huge), Array(TestImages.jpeg().file.prefix(300)), Array("plain text".utf8),
        ] {
            #expect(mediaError { try harness.store.put(bytes, source: .upload, purpose: .serviceProvision) } != nil)
        }
        #expect(try harness.store.list().isEmpty)
        #expect(try harness.vault.records(in: MediaStore.collection).isEmpty)
    }
}
