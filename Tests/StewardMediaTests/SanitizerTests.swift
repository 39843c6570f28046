import Foundation
import StewardCore
import StewardMedia
import StewardTesting
import Testing

@Suite struct SanitizerTests {
    static let policies: [(MetadataPolicy, Set<String>)] = [
        (.strict, ExpectedTags.strict),
        (MetadataPolicy(keepCaptureTime: true, keepDeviceModel: true), ExpectedTags.withMetadata),
        (MetadataPolicy(keepCaptureTime: true, keepDeviceModel: true, keepLocation: true), ExpectedTags.withLocation),
        (
            MetadataPolicy(keepLocation: true),
            ExpectedTags.strict.union([
                "GPSInfoIFDPointer", "GPSVersionID", "GPSLatitudeRef", "GPSLatitude", "GPSLongitudeRef", "GPSLongitude",
            ])
        ),
    ]

    @Test(arguments: [false, true])
    func theSampleJPEGCarriesAllItsMetadataBeforeSanitising(bigEndian: Bool) throws {
        let metadata = try ImageMetadata(reading: TestImages.jpeg(bigEndian: bigEndian).file)
        #expect(
            Set(metadata.exifTags).isSuperset(
                of: ExpectedTags.withLocation.union(["BodySerialNumber", "CameraOwnerName", "Artist", "MakerNote"])))
        #expect(
            metadata.containers == [
                "JFIF", "EXIF", "XMP", "XMP exif:GPSLatitude", "XMP photoshop:City", "XMP dc:creator", "ICC profile",
                "APP13 Photoshop/IPTC", "Comment",
            ])
    }

    @Test(arguments: 0..<4)
    func aSanitisedJPEGHasExactlyTheAllowedTagsAndItsPixelSegmentsByteForByte(policyIndex: Int) throws {
        let (policy, expected) = Self.policies[policyIndex]
        for bigEndian in [false, true] {
            let (file, pixels) = TestImages.jpeg(bigEndian: bigEndian, trailer: true)
            let clean = try ImageSanitizer.sanitize(file, policy: policy)
            let metadata = try ImageMetadata(reading: clean.bytes)
            #expect(Set(metadata.exifTags) == expected)
            #expect(metadata.exifTags.count == expected.count, "no tag twice")
            #expect(metadata.containers == ["JFIF", "EXIF", "ICC profile"])
            // DQT, SOF0, DHT, DRI, SOS, the scan data and EOI end the file unchanged.
            #expect(Array(clean.bytes.suffix(pixels.count)) == pixels)
            for text in ExpectedTags.forbiddenStrings { #expect(!TestImages.contains(clean.bytes, text), "\(text)") }
            #expect(TestImages.contains(clean.bytes, TestImages.make) == policy.keepDeviceModel)
            #expect(TestImages.contains(clean.bytes, TestImages.captureTime) == policy.keepCaptureTime)
            // The report names what went.
            let removed = Set(clean.report.removed)
            #expect(
                removed.isSuperset(of: [
                    "BodySerialNumber", "LensSerialNumber", "CameraOwnerName", "Artist", "Copyright", "MakerNote",
                    "XMP", "XMP photoshop:City", "XMP dc:creator", "Comment", "APP13 Photoshop/IPTC", "Thumbnail",
                    "Data after end of image",
                ]))
            #expect(removed.contains("GPSLatitude") == !policy.keepLocation)
            #expect(removed.contains("DateTimeOriginal") == !policy.keepCaptureTime)
            #expect(removed.contains("Model") == !policy.keepDeviceModel)
            #expect(
                Set(clean.report.kept).isSuperset(of: expected.subtracting(["ExifIFDPointer", "GPSInfoIFDPointer"])))
        }
    }

    @Test func keptValuesAreTheOriginalValues() throws {
        let clean = try ImageSanitizer.sanitize(
            TestImages.jpeg().file,
            policy: MetadataPolicy(keepCaptureTime: true, keepDeviceModel: true, keepLocation: true))
        #expect(TestImages.contains(clean.bytes, TestImages.model + "\0"))
        // GPSLatitude 22/1 32/1 1234/100, little-endian.
        let latitude: [UInt8] = [22, 0, 0, 0, 1, 0, 0, 0, 32, 0, 0, 0, 1, 0, 0, 0, 0xD2, 0x04, 0, 0, 100, 0, 0, 0]
        #expect(clean.bytes.indices.contains { i in clean.bytes[i...].starts(with: latitude) })
    }

    @Test func aJPEGWithNothingAllowedLeftLosesItsEXIFSegment() throws {
        var file: [UInt8] = [0xFF, 0xD8]
        let onlySerial = TestImages.tiff(
            ifd0: [TestImages.ascii(0x013B, TestImages.artist)], exif: [TestImages.ascii(0xA431, TestImages.serial)],
            gps: [], ifd1: [], bigEndian: false)
        file += TestImages.segment(0xE1, Array("Exif".utf8) + [0, 0] + onlySerial)
        let pixels = TestImages.jpegPixels()
        file += pixels
        let clean = try ImageSanitizer.sanitize(file, policy: .strict)
        #expect(clean.bytes == [0xFF, 0xD8] + pixels)
        #expect(try ImageMetadata(reading: clean.bytes).containers.isEmpty)
    }

    @Test func theJFIFSegmentLosesItsEmbeddedThumbnailAndKeepsTheRest() throws {
        // A 2 × 2 RGB thumbnail of the original picture, whose bytes spell a canary.
        let thumbnail = Array("THUMBNAIL-CANARY".utf8).prefix(12)
        let fixed: [UInt8] = Array("JFIF".utf8) + [0, 1, 2, 1, 0, 72, 0, 72]
        var file: [UInt8] = [0xFF, 0xD8]
        file += TestImages.segment(0xE0, fixed + [2, 2] + thumbnail)
        file += TestImages.jpegPixels()
        #expect(try ImageMetadata(reading: file).containers == ["JFIF", "JFIF thumbnail"])
        let clean = try ImageSanitizer.sanitize(file, policy: .strict)
        #expect(!TestImages.contains(clean.bytes, "THUMBNAIL"))
        #expect(
            Array(clean.bytes[2..<20]) == TestImages.segment(0xE0, fixed + [0, 0]),
            "version, units and densities stay; the size is 0 × 0")
        #expect(clean.report.removed == ["JFIF thumbnail"])
        #expect(clean.report.kept.contains("JFIF"))
        #expect(try ImageMetadata(reading: clean.bytes).containers == ["JFIF"])
        #expect(Array(clean.bytes.suffix(TestImages.jpegPixels().count)) == TestImages.jpegPixels())
        // A size without the bytes is cleared too; sanitising again changes nothing.
        var sizeOnly: [UInt8] = [0xFF, 0xD8]
        sizeOnly += TestImages.segment(0xE0, fixed + [1, 1]) + TestImages.jpegPixels()
        let cleared = try ImageSanitizer.sanitize(sizeOnly, policy: .strict)
        #expect(cleared.bytes == clean.bytes)
        #expect(try ImageSanitizer.sanitize(clean.bytes, policy: .strict).bytes == clean.bytes)
    }

    @Test func sanitisingTwiceRemovesNothingMore() throws {
        let once = try ImageSanitizer.sanitize(TestImages.jpeg().file, policy: .strict)
        let twice = try ImageSanitizer.sanitize(once.bytes, policy: .strict)
        #expect(twice.bytes == once.bytes)
        #expect(twice.report.removed.isEmpty)
    }

    @Test(arguments: 0..<4)
    func aSanitisedPNGHasExactlyTheAllowedMetadataAndItsImageDataByteForByte(policyIndex: Int) throws {
        let (policy, expected) = Self.policies[policyIndex]
        let (file, ihdr, idat) = TestImages.png()
        let before = try ImageMetadata(reading: file)
        #expect(before.containers == ["tEXt Author", "EXIF", "iTXt XML:com.adobe.xmp", "tIME", "zTXt Comment"])
        let clean = try ImageSanitizer.sanitize(file, policy: policy)
        let metadata = try ImageMetadata(reading: clean.bytes)
        #expect(Set(metadata.exifTags) == expected)
        #expect(metadata.containers == (policy.keepCaptureTime ? ["EXIF", "tIME"] : ["EXIF"]))
        let chunks = TestImages.pngChunks(clean.bytes)
        #expect(chunks.first?.1 == ihdr)
        #expect(chunks.filter { $0.0 == "IDAT" }.map(\.1) == idat, "IDAT chunks unchanged, in order")
        #expect(chunks.last?.0 == "IEND")
        #expect(chunks.map(\.0).contains("pHYs"))
        // Every chunk, including the rebuilt eXIf, has a valid CRC.
        for (_, bytes) in chunks {
            let body = Array(bytes[4..<(bytes.count - 4)])
            #expect(Array(bytes.suffix(4)) == TestImages.u32(TestImages.crc(body), true))
        }
        for text in ExpectedTags.forbiddenStrings { #expect(!TestImages.contains(clean.bytes, text), "\(text)") }
        #expect(
            Set(clean.report.removed).isSuperset(of: [
                "tEXt Author", "XMP", "XMP dc:creator", "zTXt Comment", "BodySerialNumber", "CameraOwnerName",
            ]))
    }

    @Test func unknownAncillaryPNGChunksGoAndUnknownCriticalOnesAreRefused() throws {
        let (file, _, _) = TestImages.png()
        let iend = TestImages.chunk("IEND", [])
        var ancillary = Array(file.dropLast(iend.count))
        ancillary += TestImages.chunk("prVt", Array(TestImages.serial.utf8)) + iend
        let clean = try ImageSanitizer.sanitize(ancillary, policy: .strict)
        #expect(clean.report.removed.contains("prVt"))
        #expect(!TestImages.contains(clean.bytes, TestImages.serial))
        var critical = Array(file.dropLast(iend.count))
        critical += TestImages.chunk("QRST", [1, 2, 3]) + iend
        #expect(throws: MediaError.self) { try ImageSanitizer.sanitize(critical, policy: .strict) }
        do { _ = try ImageSanitizer.sanitize(critical, policy: .strict) } catch let error as MediaError {
            #expect(error.code == .unsupportedFormat)
        }
    }

    @Test func aProgressiveJPEGKeepsEveryScanAndTheTablesBetweenThem() throws {
        var file: [UInt8] = [0xFF, 0xD8]
        file += TestImages.segment(0xE1, Array("Exif".utf8) + [0, 0] + TestImages.exifBlock())
        let dqt = TestImages.segment(0xDB, [0x00] + (1...64).map { UInt8($0) })
        let sof2 = TestImages.segment(0xC2, [8, 0, 16, 0, 16, 1, 1, 0x11, 0])
        let dht = TestImages.segment(0xC4, [0x00] + [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0] + Array(0...11))
        let sos = TestImages.segment(0xDA, [1, 1, 0x00, 0, 0, 0])
        let scan1 = TestImages.scanData(300, seed: 1)
        let comment = TestImages.segment(0xFE, Array(TestImages.comment.utf8))
        let scan2 = TestImages.scanData(300, seed: 2)
        file += dqt + sof2 + dht + sos + scan1 + comment + dht + sos + scan2 + [0xFF, 0xD9]
        let clean = try ImageSanitizer.sanitize(file, policy: .strict)
        let pixels = dqt + sof2 + dht + sos + scan1 + dht + sos + scan2 + [0xFF, 0xD9]
        #expect(Array(clean.bytes.suffix(pixels.count)) == pixels)
        #expect(!TestImages.contains(clean.bytes, TestImages.comment))
        #expect(clean.report.removed.contains("Comment"))
    }
}
