import Foundation
import StewardCore
import StewardMedia
import StewardTesting
import Testing

@Suite struct MediaStoreTests {
    static let day: Duration = .seconds(86_400)

    func mediaError(_ body: () throws -> Void) -> MediaError? {
        do { try body() } catch let error as MediaError { return error } catch { return nil }
        return nil
    }

    // MARK: Metadata rules from the manifest and permissions

    @Test func theStoredImageHasExactlyTheMetadataTheManifestDeclaresAndTheSamePixels() throws {
        let harness = try MediaHarness()
        let (file, pixels) = TestImages.jpeg()
        // The example manifest declares imageMetadata for serviceProvision: capture time and model stay.
        let result = try harness.store.put(file, source: .camera, purpose: .serviceProvision)
        let item = try #require(result.item)
        let stored = try #require(try harness.store.get(item.id))
        #expect(Set(try ImageMetadata(reading: stored.bytes).exifTags) == ExpectedTags.withMetadata)
        #expect(Array(stored.bytes.suffix(pixels.count)) == pixels)
        #expect(item.removedMetadata.contains("GPSLatitude") && item.removedMetadata.contains("BodySerialNumber"))
        #expect(item.removedMetadata == result.report.removed)
        #expect(item.kind == .original && item.source == .camera && item.format == .jpeg && item.category == .images)
        #expect(item.byteCount == stored.bytes.count)
    }

    @Test func withoutImageMetadataDeclaredForThePurposeCaptureTimeAndModelGoToo() throws {
        var manifest = try MediaHarness.exampleManifest()
        let index = try #require(manifest.dataCategories.firstIndex { $0.id == .imageMetadata })
        manifest.dataCategories[index].purposes = [.personalization]
        let harness = try MediaHarness(manifest: manifest)
        let item = try #require(
            try harness.store.put(TestImages.jpeg().file, source: .gallery, purpose: .serviceProvision).item)
        let stored = try #require(try harness.store.get(item.id))
        #expect(Set(try ImageMetadata(reading: stored.bytes).exifTags) == ExpectedTags.strict)
        #expect(harness.store.metadataPolicy(for: .serviceProvision) == .strict)
    }

    @Test func locationIsKeptOnlyWithTheChoiceThePermissionsAndADeclaringPurpose() throws {
        let all: Set<Permission> = [.camera, .photos, .location, .locationPrecise]
        let cases: [(Set<Permission>, Bool, Purpose, Bool)] = [
            (all, true, .serviceProvision, true),
            (all, false, .serviceProvision, false),  // the user did not choose to keep it
            (all.subtracting([.locationPrecise]), true, .serviceProvision, false),
            (all.subtracting([.location]), true, .serviceProvision, false),
            (all, true, .personalization, false),  // preciseLocation is not declared for it
        ]
        for (granted, choice, purpose, kept) in cases {
            let harness = try MediaHarness(permissions: StaticPermissions(granted: granted))
            if purpose == .personalization { try harness.ledger.grant([.personalization]) }
            let item = try #require(
                try harness.store.put(TestImages.png().file, source: .camera, purpose: purpose, keepLocation: choice)
                    .item)
            let stored = try #require(try harness.store.get(item.id))
            let tags = Set(try ImageMetadata(reading: stored.bytes).exifTags)
            #expect(
                tags == (kept ? ExpectedTags.withLocation : ExpectedTags.withMetadata),
                "\(granted) \(choice) \(purpose)")
            #expect(item.removedMetadata.contains("GPSLatitude") == !kept)
        }
    }

    // MARK: Sources and consent

    @Test func cameraAndGalleryImagesNeedTheirPermission() throws {
        let harness = try MediaHarness(permissions: StaticPermissions(granted: []))
        let file = TestImages.jpeg().file
        #expect(
            mediaError { try harness.store.put(file, source: .camera, purpose: .serviceProvision) }?.code
                == .permissionDenied)
        #expect(
            mediaError { try harness.store.put(file, source: .gallery, purpose: .serviceProvision) }?.code
                == .permissionDenied)
        #expect(try harness.store.list().isEmpty)
        #expect(try harness.store.put(file, source: .upload, purpose: .serviceProvision).item != nil)

        let cameraOnly = try MediaHarness(permissions: StaticPermissions(granted: [.camera]))
        #expect(try cameraOnly.store.put(file, source: .camera, purpose: .serviceProvision).item?.source == .camera)
        #expect(
            mediaError { try cameraOnly.store.put(file, source: .gallery, purpose: .serviceProvision) }?.code
                == .permissionDenied)
        let photosOnly = try MediaHarness(permissions: StaticPermissions(granted: [.photos]))
        #expect(try photosOnly.store.put(file, source: .gallery, purpose: .serviceProvision).item?.source == .gallery)
        #expect(
            mediaError { try photosOnly.store.put(file, source: .camera, purpose: .serviceProvision) }?.code
                == .permissionDenied)
    }

    @Test func consentDecidesWhetherAnImageIsStoredHeldOrRefused() throws {
        let harness = try MediaHarness()
        let file = TestImages.jpeg().file
        #expect(try harness.store.put(file, source: .upload, purpose: .personalization).isHeld)
        #expect(try harness.store.list().isEmpty)
        try harness.ledger.grant([.personalization])
        let promoted = try harness.store.list()
        #expect(promoted.count == 1, "the held image is stored once consent is given")
        #expect(promoted.first?.purpose == .personalization)
        try harness.ledger.deny([.personalization])
        #expect(try harness.store.list().isEmpty, "withdrawing consent deletes the images kept for it")
        #expect(
            mediaError { try harness.store.put(file, source: .upload, purpose: .personalization) }?.code == .notStored)
        #expect(
            mediaError { try harness.store.put(file, source: .upload, purpose: .analytics) }?.code == .notStored,
            "images are not declared for analytics")
        #expect(try harness.store.list().isEmpty)
    }

    // MARK: Edits, deletion, export

    @Test func deletingAnImageDeletesItsEditsAndDeleteAllDeletesEverything() throws {
        let harness = try MediaHarness()
        let a = try #require(
            try harness.store.put(TestImages.jpeg().file, source: .camera, purpose: .serviceProvision).item)
        let b = try #require(try harness.store.putEdit(TestImages.png().file, of: a.id).item)
        let c = try #require(try harness.store.putEdit(TestImages.jpeg(bigEndian: true).file, of: b.id).item)
        let d = try #require(
            try harness.store.put(TestImages.png().file, source: .gallery, purpose: .serviceProvision).item)
        #expect(b.kind == .edit && b.original == a.id && b.source == .camera)
        #expect(c.original == b.id)
        #expect(try harness.store.edits(of: a.id).map(\.id) == [b.id])
        #expect(try harness.store.list().map(\.id) == [a.id, b.id, c.id, d.id])

        #expect(try harness.store.delete(a.id) == [a.id, b.id, c.id])
        #expect(try harness.store.list().map(\.id) == [d.id])
        #expect(try harness.store.get(a.id) == nil)
        #expect(mediaError { try harness.store.delete(a.id) }?.code == .notFound)
        #expect(mediaError { try harness.store.putEdit(TestImages.png().file, of: a.id) }?.code == .notFound)

        _ = try harness.store.put(TestImages.jpeg().file, source: .upload, purpose: .serviceProvision)
        #expect(try harness.store.deleteAll() == 2)
        #expect(try harness.store.list().isEmpty)
        // Physically gone: no segment file holds a record any more.
        #expect(try harness.vault.summary().collections.first { $0.name == MediaStore.collection }?.records ?? 0 == 0)
    }

    @Test func exportWritesTheSanitisedImagesAndAnIndex() throws {
        let harness = try MediaHarness()
        let a = try #require(
            try harness.store.put(TestImages.jpeg().file, source: .camera, purpose: .serviceProvision).item)
        let b = try #require(try harness.store.putEdit(TestImages.png().file, of: a.id).item)
        let folder = harness.directory + "-export"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let entries = try harness.store.export(to: folder)
        #expect(entries.map(\.file) == ["\(a.id).jpg", "\(b.id).png"])
        for entry in entries {
            let bytes = try #require(FileManager.default.contents(atPath: folder + "/" + entry.file))
            #expect(Array(bytes) == (try harness.store.get(entry.item.id))?.bytes)
            for text in ExpectedTags.forbiddenStrings { #expect(!TestImages.contains(Array(bytes), text)) }
        }
        let index = try #require(FileManager.default.contents(atPath: folder + "/index.json"))
        let json = try #require(try JSONSerialization.jsonObject(with: index) as? [[String: Any]])
        #expect(json.count == 2)
        let second = try #require(json.last?["item"] as? [String: Any])
        #expect(second["original"] as? Int == Int(a.id.rawValue))
        #expect(second["kind"] as? String == "edit")
        #expect((second["removedMetadata"] as? [String])?.contains("tEXt Author") == true)
        let mode = try FileManager.default.attributesOfItem(atPath: folder + "/index.json")[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test func nothingOfTheImageIsOnDiskInPlaintext() throws {
        let harness = try MediaHarness()
        let result = try harness.store.put(TestImages.jpeg().file, source: .camera, purpose: .serviceProvision)
        let item = try #require(result.item)
        // The canary lies in the scan data, which is kept byte for byte: it is in the image…
        #expect(TestImages.contains(try #require(try harness.store.get(item.id)).bytes, TestImages.pixelCanary))
        // …but in no file of the vault, and neither is the kept camera model.
        let files = harness.filesOnDisk()
        #expect(!files.isEmpty)
        for (name, bytes) in files {
            #expect(!TestImages.contains(bytes, TestImages.pixelCanary), "\(name)")
            #expect(!TestImages.contains(bytes, TestImages.model), "\(name)")
        }
    }

    // MARK: Retention

    @Test func a31DayOldOriginalIsGoneAndItsEditFollowsTheImagesRetentionFromItsOwnCreation() throws {
        let harness = try MediaHarness(manifest: try MediaHarness.manifestWithoutEdits())
        let original = try #require(
            try harness.store.put(TestImages.jpeg().file, source: .camera, purpose: .serviceProvision).item)
        harness.clock.advance(by: Self.day * 10)
        let edit = try #require(try harness.store.putEdit(TestImages.png().file, of: original.id).item)
        #expect(edit.category == .images, "without an imageEdits category, edits are images")
        #expect(original.expires == original.created.addingTimeInterval(30 * 86_400))
        #expect(edit.expires == edit.created.addingTimeInterval(30 * 86_400))

        harness.clock.advance(by: Self.day * 21)  // day 31
        #expect(try harness.store.purgeExpired() == [original.id])
        #expect(try harness.store.get(original.id) == nil)
        let survivor = try #require(try harness.store.get(edit.id), "an edit outlives its expired original")
        #expect(survivor.item.original == original.id)

        harness.clock.advance(by: Self.day * 10)  // day 41: the edit's own 30 days are over
        #expect(try harness.store.purgeExpired() == [edit.id])
        #expect(try harness.store.list().isEmpty)
    }

    @Test func editsFollowTheImageEditsCategoryWhenTheManifestDeclaresIt() throws {
        let harness = try MediaHarness(manifest: try MediaHarness.manifestWithEdits(days: 365))
        let original = try #require(
            try harness.store.put(TestImages.jpeg().file, source: .camera, purpose: .serviceProvision).item)
        let edit = try #require(try harness.store.putEdit(TestImages.png().file, of: original.id).item)
        #expect(edit.category == .imageEdits)
        #expect(original.category == .images)
        harness.clock.advance(by: Self.day * 31)
        #expect(try harness.store.purgeExpired(now: harness.clock.now) == [original.id])
        #expect(try harness.store.list().map(\.id) == [edit.id])
        #expect(try harness.store.purgeExpired(now: harness.clock.now.addingTimeInterval(300 * 86_400)).isEmpty)
        #expect(try harness.store.purgeExpired(now: harness.clock.now.addingTimeInterval(335 * 86_400)) == [edit.id])
    }

    @Test func retentionIsEnforcedWhenTheStoreOpens() throws {
        let harness = try MediaHarness()
        let old = try #require(
            try harness.store.put(TestImages.jpeg().file, source: .camera, purpose: .serviceProvision).item)
        harness.clock.advance(by: Self.day * 20)
        let young = try #require(
            try harness.store.put(TestImages.png().file, source: .camera, purpose: .serviceProvision).item)
        harness.clock.advance(by: Self.day * 11)
        #expect(try harness.store.list().count == 2, "nothing purges before the store opens or is asked")
        try harness.reopen()
        #expect(try harness.store.list().map(\.id) == [young.id])
        #expect(old.id != young.id)
    }

    @Test func thePeriodicRetentionTaskPurgesOnItsClock() async throws {
        let harness = try MediaHarness()
        let item = try #require(
            try harness.store.put(TestImages.jpeg().file, source: .camera, purpose: .serviceProvision).item)
        let ticks = ManualClock()
        let store = harness.store
        let task = Task { await store.runRetention(every: .seconds(3_600), clock: ticks) }
        await ticks.waitForSleepers(1)
        harness.clock.advance(by: Self.day * 31)
        #expect(try harness.store.get(item.id) != nil, "not before the next tick")
        ticks.advance(by: .seconds(3_600))
        await ticks.waitForSleepers(1)  // asleep again: the purge of this tick is done
        #expect(try harness.store.get(item.id) == nil)
        task.cancel()
        await task.value
    }
}
