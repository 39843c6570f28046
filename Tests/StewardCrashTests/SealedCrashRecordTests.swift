import CStewardCrash
import Foundation
import StewardCore
import Synchronization
@testable import StewardCrash
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Raw crash records are sealed by the handler: nothing of a crash is readable on disk without
/// the vault's key, and a changed record is detected.
@Suite struct SealedCrashRecordTests {
    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }

    @Test func theHandlersChaCha20Poly1305MatchesRFC8439() {
        // RFC 8439, 2.8.2.
        var data = Array(
            "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it."
                .utf8)
        let key = (0x80...0x9F).map { UInt8($0) }
        let nonce: [UInt8] = [0x07, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47]
        let aad = Self.hex("50515253c0c1c2c3c4c5c6c7")
        var tag = [UInt8](repeating: 0, count: 16)
        steward_crash_seal(key, nonce, aad, aad.count, &data, data.count, &tag)
        #expect(Array(data.prefix(16)) == Self.hex("d31a8d34648e60db7b86afbc53ef7ec2"))
        #expect(tag == Self.hex("1ae10b594f09e26a7e902ecbd0600691"))
    }

    @Test(arguments: [0, 1, 15, 16, 17, 63, 64, 65, 1000, 4096])
    func whatTheHandlerSealsOpenSSLOpensAndAnyChangeFails(length: Int) throws {
        var random = SystemRandomNumberGenerator()
        let key = (0..<32).map { _ in UInt8.random(in: 0...255, using: &random) }
        let nonce = (0..<12).map { _ in UInt8.random(in: 0...255, using: &random) }
        let aad = (0..<(length % 41)).map { _ in UInt8.random(in: 0...255, using: &random) }
        let plain = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
        var data = plain
        var tag = [UInt8](repeating: 0, count: 16)
        steward_crash_seal(key, nonce, aad, aad.count, &data, data.count, &tag)
        if length >= 16 { #expect(data != plain) }
        #expect(try ChaCha20Poly1305.open(data[...], tag: tag[...], key: key, nonce: nonce, aad: aad) == plain)
        var otherTag = tag
        otherTag[length % 16] ^= 1
        #expect(throws: CryptoError.self) {
            try ChaCha20Poly1305.open(data[...], tag: otherTag[...], key: key, nonce: nonce, aad: aad)
        }
        if length > 0 {
            var changed = data
            changed[length / 2] ^= 0x80
            #expect(throws: CryptoError.self) {
                try ChaCha20Poly1305.open(changed[...], tag: tag[...], key: key, nonce: nonce, aad: aad)
            }
        }
        var otherNonce = nonce
        otherNonce[11] ^= 1
        #expect(throws: CryptoError.self) {
            try ChaCha20Poly1305.open(data[...], tag: tag[...], key: key, nonce: otherNonce, aad: aad)
        }
    }

    @Test func aRecordOnDiskHoldsNothingOfTheCrashInPlaintext() throws {
        let canary = "CANARY-\(UUID().uuidString.prefix(8))"
        let sample = try writeSampleRecord(
            context: Array(#"{"context":{"release":"\#(canary)"}}"#.utf8),
            breadcrumbs: [
                Breadcrumb(timestamp: Date(), category: "nav", message: "opened \(canary)", data: ["k": canary])
            ])
        // Opened, the record holds everything.
        let record = RawCrashRecord.parse(sample.bytes)
        #expect(String(decoding: record.context, as: UTF8.self).contains(canary))
        #expect(record.breadcrumbs.last?.message == "opened \(canary)")
        #expect(record.maps?.contains(testBinaryPath()) == true)
        // On disk: none of it, no path of the maps, no thread name.
        let file = Data(sample.file)
        for needle in [canary, testBinaryPath(), "libswiftCore", "/proc", "[stack]", "nav"] {
            #expect(file.range(of: Data(needle.utf8)) == nil, "\(needle) is in the file")
        }
        let header = try #require(SealedCrashRecord.header(of: sample.file))
        #expect(header.salt == testRecordSalt)
        #expect(header.pid == UInt32(getpid()))
        // Chunk 0 holds only the header and the signal, so a record cut anywhere still names it.
        let firstChunk = sample.file[40..<44].reversed().reduce(0) { $0 << 8 | Int($1) }
        #expect(firstChunk == 16 + 48)
    }

    @Test func aChangedOrCutRecordIsDetectedAndWhatCameBeforeIsKept() throws {
        let sample = try writeSampleRecord()
        let header = try #require(SealedCrashRecord.header(of: sample.file))
        // A byte changed in the last chunk: the chunks before it open, the record is partial.
        var changed = sample.file
        changed[changed.count - 20] ^= 0x01
        let opened = SealedCrashRecord.open(changed, header: header, key: testRecordKey)
        #expect(opened.chunks > 0 && !opened.sawLast)
        #expect(opened.note?.contains("did not authenticate") == true)
        let partial = RawCrashRecord.parse(opened.stream)
        #expect(partial.signalNumber == SIGSEGV && !partial.complete)
        // A changed header (another pid) opens nothing.
        var otherPid = sample.file
        otherPid[32] ^= 0x01
        #expect(
            SealedCrashRecord.open(
                otherPid, header: try #require(SealedCrashRecord.header(of: otherPid)), key: testRecordKey
            ).chunks == 0)
        // Flags this version does not write: not a record it reads.
        var flagged = sample.file
        flagged[12] = 1
        #expect(SealedCrashRecord.header(of: flagged) == nil)
        // A chunk length beyond what a chunk holds (and beyond Int32) stops the reading there.
        var huge = sample.file
        for i in 40..<44 { huge[i] = 0xFF }
        #expect(
            SealedCrashRecord.open(huge, header: header, key: testRecordKey).note?.contains("more than a chunk holds")
                == true)
        // Cut after the first chunk: the signal survives.
        let cut = Array(sample.file.prefix(40 + 4 + 64 + 16 + 10))
        let salvaged = SealedCrashRecord.open(cut, header: header, key: testRecordKey)
        #expect(salvaged.chunks == 1 && !salvaged.sawLast)
        #expect(RawCrashRecord.parse(salvaged.stream).signalNumber == SIGSEGV)
        // Untouched: every chunk opens, and the stream is the record.
        let full = SealedCrashRecord.open(sample.file, header: header, key: testRecordKey)
        #expect(full.sawLast && full.note == nil && full.stream == sample.bytes)
    }

    @Test func withoutAKeyOrWithRecordingOffTheHandlerWritesNothing() throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try crashHandlerGlobalState.withLock { _ in
            try CrashHandler.install(directory: folder)
            defer { CrashHandler.uninstall() }
            // Recording is off until consent is applied: a crash now leaves nothing.
            CrashHandler.setRecordKey(testRecordKey, salt: testRecordSalt)
            try CrashHandler.testWriteRecord(signal: SIGSEGV)
            #expect(try crashRecords(in: folder).isEmpty, "recording starts off")
            // On, but no key: nothing either, never plaintext.
            CrashHandler.clearRecordKey()
            CrashHandler.setRecording(true)
            defer { CrashHandler.setRecording(false) }
            #expect(throws: CrashHandlerError.self) { try CrashHandler.testWriteRecord(signal: SIGSEGV) }
            #expect(try crashRecords(in: folder).isEmpty)
        }
    }

    @Test func theRecordingRuleFollowsConsentAndThePendingPolicy() {
        #expect(CrashReporter.recordsCrashes(.granted, pending: .drop))
        #expect(!CrashReporter.recordsCrashes(.denied, pending: .encryptedDisk(maxAge: .seconds(60))))
        #expect(CrashReporter.recordsCrashes(.pending, pending: .encryptedDisk(maxAge: .seconds(60))))
        #expect(!CrashReporter.recordsCrashes(.pending, pending: .memory(limit: 10)))
        #expect(!CrashReporter.recordsCrashes(.pending, pending: .drop))
    }
}
