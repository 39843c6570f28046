import Foundation
import Synchronization
import Testing
@testable import StewardCore
import StewardTesting
#if canImport(Glibc)
import Glibc
import SwiftOverlayShims
#elseif canImport(Musl)
import Musl
#endif

/// Values from outside Steward — a host clock, a public argument, a file name, a file's size or
/// mtime, the OS environment — at their most hostile: each gives a clamped result or a typed
/// error, never a trap (Documentation/OutsideValues.md). `swift test --filter OutsideValueTests`.
@Suite struct OutsideValueTests {}

/// Dates a host may hand in or a clock may show, as seconds since 1970: NaN, ±infinity,
/// `.distantFuture`, `.distantPast`, and beyond what milliseconds in an `Int64` hold. (Test
/// arguments are seconds, not dates: Foundation's `Date.description`, which the test library
/// uses to name arguments, itself traps for NaN.)
let hostileSeconds: [Double] = [
    .nan, .infinity, -.infinity, Date.distantFuture.timeIntervalSince1970, Date.distantPast.timeIntervalSince1970, 1e17,
    -1e17,
]

/// A temporary folder on tmpfs when there is one: tmpfs keeps any 64-bit mtime (ext4 clamps to
/// 1901…2446), which the mtime tests need.
func tmpfsScratch(_ name: String) throws -> String {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = base + "/steward-\(name)-\(UUID().uuidString)"
    #expect(mkdir(path, 0o700) == 0)
    return path
}

/// Sets a file's mtime to `seconds` since 1970 (any 64-bit value the file system keeps).
func setModificationTime(_ path: String, seconds: Int) {
    var modified = timespec()
    modified.tv_sec = seconds
    var times = [timespec(), modified]
    #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
}

/// Makes `path` a sparse file of `size` bytes (nothing is written).
func makeSparseFile(_ path: String, size: Int) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    #expect(fd >= 0)
    #expect(ftruncate(fd, off_t(size)) == 0)
    close(fd)
}

// MARK: - Vault

extension OutsideValueTests {
    @Suite struct VaultValues {
        let dir = NSTemporaryDirectory() + "steward-outside-vault-\(UUID().uuidString)"
        let keys = InMemoryKeyProvider()
        let clock = ManualWallClock(now: Date(timeIntervalSince1970: 1_767_225_600))

        func open(_ options: VaultOptions = VaultOptions(), clock: (any WallClock)? = nil) throws -> Vault {
            try Vault.open(directory: dir, keyProvider: keys, options: options, clock: clock ?? self.clock)
        }

        @Test(arguments: hostileSeconds)
        func aVaultWorksWhateverItsClockShows(_ seconds: Double) throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let shown = Date(timeIntervalSince1970: seconds)
            let vault = try open(clock: ManualWallClock(now: shown))
            let id = try vault.append(
                [1], to: "notes", category: .usageEvents, purpose: .analytics, retention: .seconds(60))
            try vault.commit()
            let record = try #require(try vault.record(id, in: "notes"))
            #expect(record.created.timeIntervalSince1970.isFinite)
            #expect(record.created >= CheckedTime.earliest && record.created <= CheckedTime.latest)
            _ = try vault.purgeExpired()
            _ = try vault.purgeExpiredCounted()
            _ = try vault.remove(id, from: "notes")
            try vault.commit()
            #expect(try vault.summary().collections.first?.records == 0)
            try vault.close()
            try open(clock: ManualWallClock(now: shown)).close()
        }

        @Test(arguments: [Double.nan, .infinity, -.infinity])
        func appendWithACreationDateThatIsNotFiniteThrowsInvalidTime(_ seconds: Double) throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let vault = try open()
            let error = #expect(throws: VaultError.self) {
                try vault.append(
                    [1], to: "notes", category: .usageEvents, purpose: .analytics,
                    created: Date(timeIntervalSince1970: seconds))
            }
            #expect(error?.code == .invalidTime)
            try vault.commit()
            #expect(try vault.records(in: "notes").isEmpty, "nothing was staged")
        }

        @Test func appendClampsAFiniteCreationDateToYears0001Through9999() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let vault = try open()
            let far = try vault.append(
                [1], to: "notes", category: .usageEvents, purpose: .analytics,
                created: Date(timeIntervalSince1970: 1e17))
            let future = try vault.append(
                [2], to: "notes", category: .usageEvents, purpose: .analytics, created: .distantFuture)
            let past = try vault.append(
                [3], to: "notes", category: .usageEvents, purpose: .analytics, created: .distantPast)
            try vault.commit()
            #expect(try vault.record(far, in: "notes")?.created == Date(millisecondsSince1970: 253_402_300_799_999))
            #expect(try vault.record(future, in: "notes")?.created == .distantFuture)
            #expect(try vault.record(past, in: "notes")?.created == CheckedTime.earliest)
        }

        @Test(arguments: [
            Duration(attoseconds: .max), .seconds(Int64.max), .seconds(Int64.max) + .seconds(1),
            // Once wrapped to about Int64.min ms: a "keep forever" record expired at once.
            .seconds(9_223_372_036_854_775) + .milliseconds(999),
            .seconds(10_000 * 365 * 86_400),
        ])
        func aRetentionPastTheYear9999KeepsTheRecordForever(_ retention: Duration) throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let vault = try open()
            let id = try vault.append(
                [1], to: "notes", category: .usageEvents, purpose: .analytics, retention: retention)
            try vault.commit()
            #expect(try vault.record(id, in: "notes")?.expires == nil)
            clock.advance(by: .seconds(Int64.max))
            #expect(try vault.purgeExpired() == 0)
            #expect(try vault.record(id, in: "notes") != nil)
        }

        @Test(arguments: [Duration.zero, .seconds(-1), Duration(attoseconds: .min), .seconds(Int64.min)])
        func aZeroOrNegativeRetentionExpiresAtOnce(_ retention: Duration) throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let vault = try open()
            try vault.append([1], to: "notes", category: .usageEvents, purpose: .analytics, retention: retention)
            try vault.commit()
            #expect(try vault.purgeExpired() == 1)
        }

        @Test func theAuditLedgerTakesAnAbsurdRetention() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let vault = try open()
            let audit = try AuditLedger(vault: vault, clock: clock, retention: Duration(attoseconds: .max))
            audit.recordCollected(.usageEvents, purpose: .analytics)
            try audit.flush()
            #expect(try vault.records(in: AuditLedger.collection).map(\.expires) == [nil])
        }

        @Test func aNegativeQuotaIsRefusedWithInvalidOptionsBeforeAnythingIsEvicted() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            do {
                let vault = try open()
                try vault.append([1], to: "notes", category: .usageEvents, purpose: .analytics)
                try vault.close()
            }
            var options = VaultOptions()
            options.quota = -1
            #expect { try open(options) } throws: { ($0 as? VaultError)?.code == .invalidOptions }
            #expect(try open().records(in: "notes").map(\.data) == [[1]])
        }

        @Test func anEvictionCountOfIntMaxInVaultStatsSaturates() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try open().close()
            try Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]).write(
                to: URL(fileURLWithPath: dir + "/vault.stats"))
            var options = VaultOptions()
            options.quota = 4_000
            let vault = try open(options)
            #expect(try vault.summary().evicted == .max)
            for i in 0..<8 {
                try vault.append(
                    [UInt8](repeating: UInt8(i), count: 1_000), to: "notes", category: .usageEvents, purpose: .analytics
                )
            }
            try vault.commit()
            #expect(try vault.summary().evicted == .max)
            #expect(try vault.records(in: "notes").count < 8, "the quota still evicts")
        }

        @Test func aSegmentNamedWithTheHighestNumberIsLeftAloneAndAppendsGoOn() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try open().close()
            try FileManager.default.createDirectory(
                atPath: dir + "/collections/notes/4294967295.seg", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            let vault = try open()
            try vault.append([1], to: "notes", category: .usageEvents, purpose: .analytics)
            try vault.commit()
            #expect(try vault.records(in: "notes").map(\.data) == [[1]])
            #expect(try vault.summary().problems.contains { $0.contains("4294967295.seg") })
        }

        @Test func aCollectionWhoseSegmentNumbersRanOutThrowsInsteadOfWrapping() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try open().close()
            try FileManager.default.createDirectory(
                atPath: dir + "/collections/notes/4294967294.seg", withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            let vault = try open()
            #expect { try vault.append([1], to: "notes", category: .usageEvents, purpose: .analytics) } throws: {
                ($0 as? VaultError)?.code == .io && ($0 as? VaultError)?.message.contains("exhausted") == true
            }
            // Other collections are not affected.
            try vault.append([2], to: "other", category: .usageEvents, purpose: .analytics)
            try vault.commit()
            #expect(try vault.records(in: "other").count == 1)
        }

        @Test func aSparseVaultMetaClaimingATerabyteIsRefusedBeforeAnythingIsAllocated() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try open().close()
            makeSparseFile(dir + "/vault.meta", size: 1 << 40)
            #expect { try open() } throws: { ($0 as? VaultError)?.code == .notAVault }
        }

        @Test func aSparseLockFileIsNotReadWholeByTheSecondOpener() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let first = try open()
            makeSparseFile(dir + "/lock", size: 1 << 40)
            #expect { try open() } throws: { ($0 as? VaultError)?.code == .locked }
            try first.close()
        }

        @Test func aSparseVaultStatsIsIgnored() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try open().close()
            makeSparseFile(dir + "/vault.stats", size: 1 << 40)
            #expect(try open().summary().evicted == 0)
        }
    }
}

// MARK: - Consent

extension OutsideValueTests {
    @Suite struct ConsentValues {
        let dir = NSTemporaryDirectory() + "steward-outside-consent-\(UUID().uuidString)"
        let keys = InMemoryKeyProvider()

        @Test(arguments: hostileSeconds)
        func theConsentLedgerAndGateWorkWhateverTheClockShows(_ seconds: Double) throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let clock = ManualWallClock(now: Date(timeIntervalSince1970: seconds))
            let vault = try Vault.open(directory: dir, keyProvider: keys, clock: clock)
            let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault, clock: clock)
            let gate = ConsentGate(
                ledger: ledger, vault: vault, policies: [.analytics: .encryptedDisk(maxAge: .seconds(60))], clock: clock
            )
            #expect(try gate.store([1], in: "events", category: .usageEvents, purpose: .analytics) == .held)
            try ledger.grant([.analytics])
            try vault.commit()
            #expect(try vault.records(in: "events").count == 1)
            let receipts = try ledger.receipts()
            #expect(!receipts.isEmpty)
            #expect(receipts.allSatisfy { $0.timestamp >= -62_135_596_800_000 && $0.timestamp <= 253_402_300_799_999 })
        }

        @Test(arguments: [Duration(attoseconds: .max), .seconds(Int64.max) + .seconds(1)])
        func anAbsurdRetentionOrMaxAgeThroughTheGateKeepsTheDataForever(_ retention: Duration) throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let clock = ManualWallClock()
            let vault = try Vault.open(directory: dir, keyProvider: keys, clock: clock)
            let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault, clock: clock)
            let gate = ConsentGate(
                ledger: ledger, vault: vault, policies: [.analytics: .encryptedDisk(maxAge: retention)], clock: clock)
            #expect(
                try gate.store([1], in: "events", category: .usageEvents, purpose: .analytics, retention: retention)
                    == .held)
            #expect(try vault.records(in: ConsentGate.pendingCollection).map(\.expires) == [nil])
            try ledger.grant([.analytics])
            #expect(try vault.records(in: "events").map(\.expires) == [nil])
        }

        @Test(arguments: [Int.max, Int.min, -5])
        func aManifestBuiltInSwiftWithAnAbsurdRetentionIsRefusedByTheLedger(_ days: Int) throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let clock = ManualWallClock()
            var manifest = consentTestManifest()
            manifest.dataCategories[0].retentionDays = days
            let vault = try Vault.open(directory: dir, keyProvider: keys, clock: clock)
            // No unchecked manifest reaches consent: the ledger validates as decode(json:) does.
            let error = try #require(throws: ConsentError.self) {
                try ConsentLedger(manifest: manifest, vault: vault, clock: clock)
            }
            #expect(error.code == .invalidManifest)
            #expect(error.message.contains("retentionDays"))
        }

        @Test func aHeldItemWhoseStoredCreationDateIsAbsurdIsPromotedWithTheDateClamped() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let clock = ManualWallClock()
            let vault = try Vault.open(directory: dir, keyProvider: keys, clock: clock)
            let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault, clock: clock)
            try ledger.grant([.analytics])
            // What the gate reads back from the vault: `created` is JSON (seconds since 2001).
            let envelope = #"{"collection":"events","category":"usageEvents","created":1e300,"data":[7]}"#
            try vault.append(
                Array(envelope.utf8), to: ConsentGate.pendingCollection, category: .usageEvents, purpose: .analytics)
            try vault.commit()
            _ = ConsentGate(ledger: ledger, vault: vault, clock: clock)
            let promoted = try vault.records(in: "events")
            #expect(promoted.map(\.data) == [[7]])
            #expect(promoted.first?.created == Date(millisecondsSince1970: 253_402_300_799_999))
            #expect(try vault.records(in: ConsentGate.pendingCollection).isEmpty)
        }
    }
}

// MARK: - File transport

extension OutsideValueTests {
    @Suite struct OutboxValues {
        let directory = NSTemporaryDirectory() + "steward-outside-outbox-\(UUID().uuidString)/outbox"
        var root: String { FileSystem.parentPath(directory) }

        func payload(_ n: Int = 1) -> Payload {
            Payload(
                recipient: "crashBackend", purpose: .crashReporting, categories: [.crashDiagnostics],
                contentType: "application/json",
                body: [UInt8(n)], idempotencyKey: "event-\(n)", created: Date(timeIntervalSince1970: 1_767_225_600))
        }

        func makeOutbox() throws {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }

        @Test(arguments: [
            "18446744073709551615-x.json", "18446744073709551615-x.body", "18446744073709551000-crashBackend.json",
        ])
        func aFileNamedWithANumberNearUInt64MaxIsATypedErrorAndTheFolderIsLeftAsItWas(_ name: String) async throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeOutbox()
            #expect(FileManager.default.createFile(atPath: directory + "/" + name, contents: Data()))
            let error = #expect(throws: UploadError.self) { try FileTransport(directory: directory) }
            #expect(error?.code == .outboxExhausted)
            #expect(error?.message.contains(name) == true, "the message names the file: \(error?.message ?? "")")
            #expect(FileManager.default.fileExists(atPath: directory + "/" + name), "nothing was removed")
            // Moving the file away (what the message says) makes the outbox usable again.
            try FileManager.default.removeItem(atPath: directory + "/" + name)
            let transport = try FileTransport(directory: directory)
            #expect(await transport.send(payload()) == .accepted)
        }

        @Test func aSequenceFileNearUInt64MaxIsATypedError() throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeOutbox()
            try Data("18446744073709551000\n".utf8).write(to: URL(fileURLWithPath: directory + "/.sequence"))
            let error = #expect(throws: UploadError.self) { try FileTransport(directory: directory) }
            #expect(error?.code == .outboxExhausted)
            #expect(error?.message.contains(".sequence") == true)
        }

        @Test func numbersWithRoomForABlockStillWorkAndNeverGoBack() async throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeOutbox()
            let start = UInt64.max - 2_048
            try Data("\(start)\n".utf8).write(to: URL(fileURLWithPath: directory + "/.sequence"))
            let transport = try FileTransport(directory: directory)
            #expect(await transport.send(payload(1)) == .accepted)
            #expect(await transport.send(payload(2)) == .accepted)
            #expect(try transport.sidecars().map(\.sequence) == [start, start + 1])
        }

        @Test func aSequenceFileThatIsAFIFODoesNotHangTheTransport() async throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeOutbox()
            #expect(mkfifo(directory + "/.sequence", 0o600) == 0)
            // In a child with a watchdog: opening a FIFO for reading waits for a writer, forever.
            await #expect(processExitsWith: .success, "the transport blocked on the FIFO or crashed") {
                [directory = directory as String] in
                alarm(5)
                _ = try FileTransport(directory: directory)
            }
        }

        @Test func aSparseSequenceFileIsIgnoredAndSendStillWorks() async throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeOutbox()
            makeSparseFile(directory + "/.sequence", size: 1 << 40)
            let transport = try FileTransport(directory: directory)
            #expect(await transport.send(payload()) == .accepted)
            #expect(try transport.sidecars().count == 1)
        }

        @Test func aSparseOrUnreadableSidecarIsSkippedNotFatal() async throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            let transport = try FileTransport(directory: directory)
            #expect(await transport.send(payload()) == .accepted)
            #expect(FileManager.default.createFile(atPath: directory + "/000000500000-x.body", contents: Data()))
            makeSparseFile(directory + "/000000500000-x.json", size: 1 << 40)
            #expect(symlink("/etc/passwd", directory + "/000000500001-x.json") == 0)
            #expect(try transport.sidecars().map(\.idempotencyKey) == ["event-1"])
        }
    }
}

// MARK: - Uploader

/// A clock whose second reading is 1.7e20 s after its first: instants a host clock might
/// give, far enough apart that adding to their distance overflows `Duration`.
private final class FarJumpingClock: Clock, Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant {
            let (sum, overflow) = offset.attoseconds.addingReportingOverflow(duration.attoseconds)
            return Instant(offset: Duration(attoseconds: overflow ? (duration > .zero ? .max : .min) : sum))
        }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }
    private let readings = Mutex(0)
    var now: Instant {
        readings.withLock { count in
            count += 1
            return Instant(offset: count == 1 ? .zero : Duration(attoseconds: .max - 1))
        }
    }
    var minimumResolution: Duration { .nanoseconds(1) }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try await Task.sleep(nanoseconds: 1_000_000)
    }
}

/// Answers `.retry` to the first send and `.accepted` after, counting sends.
private final class RetryOnceTransport: Transport {
    let sends = Mutex(0)
    func send(_ payload: Payload) async -> Delivery {
        sends.withLock { count in
            count += 1
            return count == 1 ? .retry(after: .seconds(1)) : .accepted
        }
    }
}

extension OutsideValueTests {
    @Suite struct UploaderValues {
        static let recipient: RecipientID = "backend"
        static let manifest = PrivacyManifest(
            policyVersion: "1", purposes: [.init(id: .crashReporting, description: "Stability", legalBasis: .consent)],
            dataCategories: [
                .init(
                    id: .crashDiagnostics, description: "Crashes", purposes: [.crashReporting], sensitivity: .personal,
                    leavesDevice: true, recipients: [recipient])
            ],
            recipients: [.init(id: recipient, name: "Backend", role: .processor, region: "DE")])
        let dir = NSTemporaryDirectory() + "steward-outside-upload-\(UUID().uuidString)"
        let wall = ManualWallClock()

        func payload(created: Date) -> Payload {
            Payload(
                recipient: Self.recipient, purpose: .crashReporting, categories: [.crashDiagnostics],
                contentType: "application/json",
                body: [1], idempotencyKey: "k-\(UUID().uuidString)", created: created)
        }

        func uploader(
            policy: UploadPolicy = UploadPolicy(), transport: any Transport,
            clock: any Clock<Duration> = ContinuousClock()
        ) throws -> (Uploader, Vault) {
            let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider(), clock: wall)
            let uploader = try Uploader(
                recipient: Self.recipient, transport: transport, vault: vault,
                consent: FixedConsent([.crashReporting: .granted]),
                manifest: Self.manifest, audit: AuditLedger(vault: nil, clock: wall), policy: policy, clock: clock,
                wallClock: wall)
            return (uploader, vault)
        }

        @Test(arguments: [Duration(attoseconds: .max), .seconds(Int64.max) + .seconds(1), Duration(attoseconds: .min)])
        func anyMaxAgeIsAcceptedAndAPayloadIsHandledByIt(_ maxAge: Duration) async throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let transport = RecordingTransport(clock: ContinuousClock(), respond: { _, _ in .accepted })
            let (uploader, _) = try uploader(policy: UploadPolicy(maxAge: maxAge), transport: transport)
            #expect(try uploader.submit(payload(created: .distantPast)) == .queued)
            let report = await uploader.drain()
            if maxAge > .zero {
                #expect(report.accepted == 1, "a huge maximum age never expires")
            } else {
                #expect(report.dropped[.deliveryExpired] == 1, "a negative maximum age expires everything")
            }
        }

        @Test(arguments: [Double.nan, .infinity, -.infinity])
        func aPayloadCreatedAtANonFiniteDateIsDatedNow(_ seconds: Double) async throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let transport = RecordingTransport(clock: ContinuousClock(), respond: { _, _ in .accepted })
            let (uploader, vault) = try uploader(transport: transport)
            #expect(try uploader.submit(payload(created: Date(timeIntervalSince1970: seconds))) == .queued)
            let stored = try vault.records(in: Uploader.collection(for: Self.recipient)).compactMap {
                Payload(outboxRecord: $0.data)
            }
            #expect(stored.map(\.created) == [wall.now])
            #expect(await uploader.drain().accepted == 1)
        }

        @Test func aHostClockThatJumpsPastAnyDurationDoesNotTrapTheBackoff() async throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let transport = RetryOnceTransport()
            let (uploader, _) = try uploader(transport: transport, clock: FarJumpingClock())
            #expect(try uploader.submit(payload(created: wall.now)) == .queued)
            let run = Task { await uploader.run() }
            // The retry's deadline is computed from the jumped clock; the uploader keeps going.
            while transport.sends.withLock({ $0 }) < 1 { try await Task.sleep(nanoseconds: 1_000_000) }
            try await Task.sleep(nanoseconds: 50_000_000)
            run.cancel()
            await run.value
            #expect(
                uploader.pendingCount == 1, "still queued: the jump put its retry time beyond reach, nothing was lost")
        }
    }
}

// MARK: - Crypto

extension OutsideValueTests {
    @Suite struct CryptoValues {
        @Test(arguments: [-1, Int.min, SecureRandom.maximumCount + 1, Int.max])
        func randomBytesOfAnImpossibleCountAreATypedError(_ count: Int) {
            let error = #expect(throws: CryptoError.self) { try SecureRandom.bytes(count: count) }
            #expect(error?.code == .invalidInput)
        }

        @Test func randomBytesWithinTheLimitWork() throws {
            #expect(try SecureRandom.bytes(count: 0).isEmpty)
            #expect(try SecureRandom.bytes(count: SecureRandom.maximumCount).count == SecureRandom.maximumCount)
        }

        @Test(arguments: [SymmetricKey.maximumByteCount + 1, Int.max])
        func aRandomKeyOfAnAbsurdSizeIsATypedError(_ byteCount: Int) {
            let error = #expect(throws: CryptoError.self) { try SymmetricKey.random(byteCount: byteCount) }
            #expect(error?.code == .invalidKeySize)
        }

        @Test func theSoftwareSHA256MatchesLibcryptoAndTheFIPSVectors() {
            func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
            let vectors: [(String, String)] = [
                ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
                ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
                (
                    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
                ),
            ]
            for (text, digest) in vectors {
                #expect(hex(Array(text.utf8).withUnsafeBytes { SoftwareSHA256.hash($0) }) == digest)
            }
            var random = SplitMix64(seed: 14)
            for length in Array(0...200) + [1_000, 4_095, 4_096, 65_537] {
                let bytes = random.bytes(length)
                #expect(bytes.withUnsafeBytes { SoftwareSHA256.hash($0) } == SHA256.hash(bytes), "length \(length)")
            }
        }

        @Test func hashingStillWorksWhenLibcryptoHasNoSHA256() async {
            // A configuration that loads only the null provider: libcrypto fetches no SHA-256.
            let config = NSTemporaryDirectory() + "steward-null-provider-\(UUID().uuidString).cnf"
            _ = FileManager.default.createFile(
                atPath: config,
                contents: Data(
                    """
                    openssl_conf = openssl_init
                    [openssl_init]
                    providers = provider_sect
                    [provider_sect]
                    null = null_sect
                    [null_sect]
                    activate = 1

                    """.utf8))
            defer { try? FileManager.default.removeItem(atPath: config) }
            await #expect(processExitsWith: .success, "hashing trapped without libcrypto's SHA-256") {
                [config = config as String] in
                setenv("OPENSSL_CONF", config, 1)
                let digest = SHA256.hash(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined()
                #expect(OpenSSLAlgorithms.shared.sha256 == nil, "the configuration did not take effect")
                #expect(digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
            }
        }
    }
}

// MARK: - Key provider

extension OutsideValueTests {
    @Suite struct KeyProviderValues {
        @Test func aTemporaryKeyFileWithTheLowestMtimeIsRemovedAsStale() throws {
            let keys = try tmpfsScratch("keys")
            defer { try? FileManager.default.removeItem(atPath: keys) }
            #expect(FileManager.default.createFile(atPath: keys + "/.tmp-leftover", contents: Data([1])))
            setModificationTime(keys + "/.tmp-leftover", seconds: .min)
            _ = try FileKeyProvider(directory: keys).key(named: "vault", createIfMissing: true)
            #expect(!FileManager.default.fileExists(atPath: keys + "/.tmp-leftover"))
        }

        @Test func aTemporaryKeyFileFromTheFarFutureIsKeptAsYoung() throws {
            let keys = try tmpfsScratch("keys")
            defer { try? FileManager.default.removeItem(atPath: keys) }
            #expect(FileManager.default.createFile(atPath: keys + "/.tmp-leftover", contents: Data([1])))
            setModificationTime(keys + "/.tmp-leftover", seconds: .max)
            _ = try FileKeyProvider(directory: keys).key(named: "vault", createIfMissing: true)
            #expect(FileManager.default.fileExists(atPath: keys + "/.tmp-leftover"))
        }
    }
}
