import Foundation
import Testing

/// `steward media` as a user runs it.
extension CLITests {
    static let mediaSerial = "SN-CLI-CANARY-31"
    static let mediaOwner = "Carol CLI-Owner"

    /// A small EXIF JPEG (little-endian) with GPS, a body serial, an owner, the camera model and
    /// a comment, followed by minimal pixel segments.
    static func sampleJPEG() -> [UInt8] {
        func le16(_ v: Int) -> [UInt8] { [UInt8(v & 0xFF), UInt8((v >> 8) & 0xFF)] }
        func le32(_ v: Int) -> [UInt8] { le16(v & 0xFFFF) + le16(v >> 16) }
        func entry(_ tag: Int, _ type: Int, _ count: Int, _ value: [UInt8]) -> [UInt8] {
            le16(tag) + le16(type) + le32(count) + value
        }
        func segment(_ marker: UInt8, _ payload: [UInt8]) -> [UInt8] {
            [0xFF, marker] + [UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload
        }
        let model = Array("CLI-Model\0".utf8), serial = Array((mediaSerial + "\0").utf8),
            owner = Array((mediaOwner + "\0").utf8)
        // IFD0 at 8 (4 entries), Exif IFD and GPS IFD after it, then the long values.
        let ifd0At = 8, exifAt = ifd0At + 2 + 12 * 4 + 4, gpsAt = exifAt + 2 + 12 * 2 + 4,
            dataAt = gpsAt + 2 + 12 * 2 + 4
        let modelAt = dataAt, serialAt = modelAt + model.count, ownerAt = serialAt + serial.count
        var tiff: [UInt8] = [0x49, 0x49] + le16(42) + le32(ifd0At)
        tiff +=
            le16(4) + entry(0x0110, 2, model.count, le32(modelAt)) + entry(0x0112, 3, 1, le16(1) + [0, 0])
            + entry(0x8769, 4, 1, le32(exifAt)) + entry(0x8825, 4, 1, le32(gpsAt)) + le32(0)
        tiff +=
            le16(2) + entry(0xA430, 2, owner.count, le32(ownerAt)) + entry(0xA431, 2, serial.count, le32(serialAt))
            + le32(0)
        tiff +=
            le16(2) + entry(0x0001, 2, 2, Array("N".utf8) + [0, 0, 0])
            + entry(0x0003, 2, 2, Array("E".utf8) + [0, 0, 0]) + le32(0)
        tiff += model + serial + owner
        var file: [UInt8] = [0xFF, 0xD8]
        file += segment(0xE1, Array("Exif".utf8) + [0, 0] + tiff)
        file += segment(0xFE, Array("comment \(mediaOwner)".utf8))
        file += segment(0xDB, [0] + [UInt8](repeating: 1, count: 64))
        file += segment(0xC0, [8, 0, 8, 0, 8, 1, 1, 0x11, 0])
        file += segment(0xDA, [1, 1, 0, 0, 63, 0])
        file += [0x12, 0x34, 0xFF, 0x00, 0x56, 0x78, 0xFF, 0xD9]
        return file
    }

    func writeSample(_ dir: String) throws -> String {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/photo.jpg"
        #expect(FileManager.default.createFile(atPath: path, contents: Data(Self.sampleJPEG())))
        return path
    }

    func mediaList(_ dir: String) throws -> [[String: Any]] {
        let result = try run(["media", "list", "--json", "--data-dir", dir])
        #expect(result.status == 0, "\(result.stderr)")
        return try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
    }

    @Test func mediaAddReportsTheRemovedMetadataAndListDeleteAndDeleteAllWork() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let photo = try writeSample(dir + "-in")
        defer { try? FileManager.default.removeItem(atPath: dir + "-in") }

        let added = try run(["media", "add", photo, "--data-dir", dir])
        #expect(added.status == 0, "\(added.stderr)")
        let removedLine = try #require(added.stdout.split(separator: "\n").first { $0.hasPrefix("removed metadata:") })
        for name in ["GPSLatitudeRef", "GPSLongitudeRef", "BodySerialNumber", "CameraOwnerName", "Comment"] {
            #expect(removedLine.contains(name), "\(name) in \(removedLine)")
        }
        #expect(
            added.stdout.contains("kept metadata: Model, Orientation"),
            "the example manifest declares imageMetadata for serviceProvision")

        let second = try run(["media", "add", photo, "--source", "upload", "--json", "--data-dir", dir])
        #expect(second.status == 0, "\(second.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(second.stdout.utf8)) as? [String: Any])
        #expect((report["removed"] as? [String])?.contains("BodySerialNumber") == true)

        let items = try mediaList(dir)
        #expect(items.count == 2)
        #expect(
            items.allSatisfy {
                $0["source"] as? String == "upload" && $0["format"] as? String == "jpeg"
                    && $0["category"] as? String == "images"
            })
        #expect((items.first?["removedMetadata"] as? [String])?.contains("CameraOwnerName") == true)
        let firstID = try #require(items.first?["id"] as? Int)
        let secondID = try #require(items.last?["id"] as? Int)

        // The exported copy is the sanitised image: no serial, no owner.
        let export = try run(["media", "export", dir + "-out", "--data-dir", dir])
        defer { try? FileManager.default.removeItem(atPath: dir + "-out") }
        #expect(export.status == 0, "\(export.stderr)")
        let exported = try #require(FileManager.default.contents(atPath: dir + "-out/\(firstID).jpg"))
        let text = String(decoding: exported, as: UTF8.self)
        #expect(!text.contains(Self.mediaSerial) && !text.contains(Self.mediaOwner) && text.contains("CLI-Model"))

        let deleted = try run(["media", "delete", String(firstID), "--data-dir", dir])
        #expect(deleted.status == 0, "\(deleted.stderr)")
        #expect(try mediaList(dir).compactMap { $0["id"] as? Int } == [secondID])
        #expect(try run(["media", "delete", String(firstID), "--data-dir", dir]).status != 0, "already deleted")

        _ = try run(["media", "add", photo, "--data-dir", dir])
        let all = try run(["media", "delete", "--all", "--data-dir", dir])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(all.stdout.contains("deleted 2 images"))
        #expect(try mediaList(dir).isEmpty)
        #expect(try run(["media", "list", "--data-dir", dir]).stdout.contains("no images are stored"))
        #expect(try run(["media", "delete", "--data-dir", dir]).status != 0, "an id or --all is required")
    }

    @Test func mediaAddOfAPNGWhoseEXIFValuesOverlapToGigabytesEndsWithATypedErrorAndStatus1() throws {
        // The attacker's PNG of issue 14 (Fuzz/FailCases/FuzzImage): once SIGILL in the CLI.
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let png = root.appendingPathComponent(
            "Fuzz/FailCases/FuzzImage/png-exif-4500-orientations-of-a-million-bytes.png"
        ).path
        let added = try run(["media", "add", png, "--data-dir", dir])
        #expect(added.status == 1, "\(added.stderr)")
        #expect(added.stderr.contains("MediaError(malformed)") && added.stderr.contains("overlap"), "\(added.stderr)")
        #expect(try mediaList(dir).isEmpty)
    }

    @Test func mediaAddRefusesCameraAndGalleryImagesWithoutTheirPermission() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let photo = try writeSample(dir + "-in")
        defer { try? FileManager.default.removeItem(atPath: dir + "-in") }
        let pictures = dir + "-pictures"
        try FileManager.default.createDirectory(atPath: pictures, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: pictures) }
        let env = ["XDG_PICTURES_DIR": pictures]

        let camera = try run(["media", "add", photo, "--source", "camera", "--data-dir", dir], environment: env)
        #expect(camera.status != 0)
        #expect(camera.stderr.contains("camera permission"))
        let gallery = try run(["media", "add", photo, "--source", "gallery", "--data-dir", dir], environment: env)
        #expect(gallery.status != 0)
        #expect(gallery.stderr.contains("photos permission"))
        #expect(try mediaList(dir).isEmpty, "nothing was stored")

        let grant = try run(
            ["permissions", "request", "photos", "--answer", "allow", "--data-dir", dir], environment: env)
        #expect(grant.status == 0, "\(grant.stderr)")
        let allowed = try run(
            ["media", "add", photo, "--source", "gallery", "--json", "--data-dir", dir], environment: env)
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(try mediaList(dir).compactMap { $0["source"] as? String } == ["gallery"])
        #expect(
            try run(["media", "add", photo, "--source", "scanner", "--data-dir", dir]).status != 0,
            "unknown sources are refused")
    }

    @Test func mediaAddRefusesAFileThatIsNotAnImageAndStoresNothing() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "-in", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir + "-in") }
        let truncated = Array(Self.sampleJPEG().prefix(60))
        #expect(FileManager.default.createFile(atPath: dir + "-in/cut.jpg", contents: Data(truncated)))
        let result = try run(["media", "add", dir + "-in/cut.jpg", "--data-dir", dir])
        #expect(result.status != 0)
        #expect(result.stderr.contains("MediaError"))
        #expect(try mediaList(dir).isEmpty)
    }
}
