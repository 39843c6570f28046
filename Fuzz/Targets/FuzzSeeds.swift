import Foundation
@_spi(Testing) @testable import StewardCrash
@testable import StewardCore
import StewardDevice
import StewardMedia
import StewardPermissions
@testable import StewardTelemetry
import StewardTesting

/// Writes the seed corpora that come from running Steward itself: a real vault (with the fixed
/// key), real consent receipts, a real crash record written by the signal handler's code,
/// real outbox and telemetry records. `MakeSeeds` calls this; the files are checked in, and
/// regenerating them is only needed when a format changes (old seeds stay: they are what
/// earlier versions wrote).
public enum FuzzSeeds {
    /// Writes every generated seed under `corpus/TARGET/NAME`.
    public static func write(to corpus: String) throws {
        func put(_ target: String, _ name: String, _ bytes: [UInt8]) {
            Scratch.write(bytes, to: "\(corpus)/\(target)/\(name)")
        }

        // A vault: records in two categories, a removal, two commits.
        let folder = Scratch.fresh("seed-vault")
        let vault = try Vault.open(directory: folder, keyProvider: FixedKeyProvider(), clock: fuzzClock)
        try vault.append(
            Array("first".utf8), to: "notes", category: .usageEvents, purpose: .analytics, retention: .seconds(86_400))
        let second = try vault.append(
            Array(repeating: 7, count: 300), to: "notes", category: .crashDiagnostics, purpose: .crashReporting)
        try vault.commit()
        _ = try vault.remove(second, from: "notes")
        try vault.append([], to: "notes", category: "c", purpose: "p", created: Date(timeIntervalSince1970: 0))
        try vault.commit()
        try vault.close()
        let meta = [UInt8](FileManager.default.contents(atPath: folder + "/vault.meta") ?? Data())
        let segment = [UInt8](
            FileManager.default.contents(atPath: folder + "/collections/notes/" + SegmentFormat.segmentFileName(1))
                ?? Data())
        put(FuzzVaultSegment.name, "vault-two-commits-and-a-removal", [0] + meta + segment)
        put(FuzzVaultSegment.name, "vault-two-commits-and-a-removal-crc-repaired", [1] + meta + segment)
        put(FuzzVaultMeta.name, "vault-meta", [0] + meta)
        put(FuzzVaultMeta.name, "vault-meta-with-stats", [1, 3, 0, 0, 0, 0, 0, 0, 0] + meta)

        // Consent receipts: first start, a grant, a denial, an age signal.
        let consentFolder = Scratch.fresh("seed-consent")
        let consentVault = try Vault.open(directory: consentFolder, keyProvider: FixedKeyProvider(), clock: fuzzClock)
        let ledger = try ConsentLedger(
            manifest: exampleManifest, vault: consentVault, jurisdiction: "EU", clock: fuzzClock)
        try ledger.grant([.analytics, .crashReporting])
        try ledger.deny([.analytics])
        _ = try ledger.setAge(15)
        put(FuzzConsentReceipts.name, "ledger-export", try ledger.exportReceipts())
        try consentVault.close()

        // A crash record, written by the handler's own writer (as after a real crash).
        let crashFolder = Scratch.fresh("seed-crash")
        let crashVault = try Vault.open(
            directory: crashFolder + "/vault", keyProvider: FixedKeyProvider(), clock: fuzzClock)
        let crashLedger = try ConsentLedger(manifest: exampleManifest, vault: crashVault, clock: fuzzClock)
        try crashLedger.grant([.crashReporting])
        let gate = ConsentGate(ledger: crashLedger, vault: crashVault, clock: fuzzClock)
        let reporter = CrashReporter(
            configuration: .init(crashDirectory: crashFolder + "/crash"), vault: crashVault, consent: gate,
            clock: fuzzClock)
        try reporter.install()
        reporter.addBreadcrumb(message: "before the crash", category: "seed")
        try reporter.writeRecordForTesting(signal: 11)
        reporter.uninstall()
        for name in try FileManager.default.contentsOfDirectory(atPath: crashFolder + "/crash")
        where name.hasSuffix(".stewardcrash") {
            // The record stream, opened as the next launch opens it (the target seals it again).
            let file = [UInt8](FileManager.default.contents(atPath: crashFolder + "/crash/" + name) ?? Data())
            guard let header = SealedCrashRecord.header(of: file) else { continue }
            let key = try crashVault.derivedKey(label: SealedCrashRecord.keyLabel, salt: header.salt)
            put(FuzzCrashRecord.name, "segv-record", SealedCrashRecord.open(file, header: header, key: key).stream)
        }
        let maps = [UInt8](FileManager.default.contents(atPath: "/proc/self/maps") ?? Data())
        put(FuzzMemoryMaps.name, "proc-self-maps", maps)

        // Sentry: a DSN, an envelope of a report, a JSON value.
        let dsn = try SentryDSN("https://public:secret@sentry.example.com:9000/sentry/42")
        let report = CrashReport(
            id: "0123456789abcdef0123456789abcdef", timestamp: fuzzNow, handled: false,
            signal: CrashSignal(number: 11, name: "SIGSEGV", code: 1, faultAddress: 0x10),
            crashedThread: CrashThread(
                id: 1, name: "main", frames: [StackFrame(instructionAddress: 0x4000, function: "main")]))
        let envelope = SentryEventEncoder().envelope(for: report, dsn: dsn, sentAt: fuzzNow)
        put(FuzzSentry.name, "dsn", [0] + Array("https://public:secret@sentry.example.com:9000/sentry/42".utf8))
        put(FuzzSentry.name, "envelope", [1] + envelope.encode())
        put(FuzzSentry.name, "json", [2] + SentryEventEncoder().event(for: report).encoded())

        // Telemetry: a stored batch (binary, and the unreleased JSON form it must refuse), OTLP answers.
        let records = [
            TelemetryEventRecord(
                name: "screen_view", purpose: .analytics, category: .usageEvents,
                timeUnixNano: 1_767_225_600_000_000_000,
                observedTimeUnixNano: 1_767_225_600_000_000_001,
                attributes: ["screen": .string("scan"), "count": .int(3), "ratio": .double(0.5), "first": .bool(true)],
                severityNumber: 9, traceID: "0af7651916cd43dd8448eb211c80319c", spanID: "b7ad6b7169203331"),
            TelemetryEventRecord(
                name: "app_start", purpose: .analytics, category: .usageEvents, timeUnixNano: 0,
                observedTimeUnixNano: 0,
                attributes: [:], severityNumber: 0, traceID: nil, spanID: nil),
        ]
        put(FuzzBatchCoding.name, "batch", [0] + BatchCoding.encode(records))
        put(FuzzBatchCoding.name, "batch-json", [0] + Array(try JSONEncoder().encode(records)))
        put(FuzzOTLPResponse.name, "empty-object", Array("{}".utf8))
        put(
            FuzzOTLPResponse.name, "partial-success",
            Array(#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"2 records had no body"}}"#.utf8))
        put(
            FuzzOTLPResponse.name, "partial-success-proto-names",
            Array(#"{"partial_success":{"rejected_data_points":5,"error_message":""}}"#.utf8))

        // Upload: an outbox record, an outbox folder, Retry-After values, a key file.
        let payload = Payload(
            recipient: "telemetry", purpose: .analytics, categories: [.usageEvents], contentType: "application/json",
            headers: ["Steward-Path": "/v1/logs"], body: Array(#"{"resourceLogs":[]}"#.utf8),
            idempotencyKey: "4f1e6c3a-key", created: fuzzNow)
        put(FuzzOutboxRecord.name, "outbox-record", [0] + payload.outboxRecord())
        func entry(_ kind: UInt8, _ name: String, _ contents: [UInt8]) -> [UInt8] {
            [kind] + [UInt8(name.utf8.count), 0] + Array(name.utf8) + [
                UInt8(contents.count & 0xFF), UInt8(contents.count >> 8),
            ] + contents
        }
        put(
            FuzzOutboxFolder.name, "sequence-and-a-pair",
            entry(1, "", Array("000000000041\n".utf8)) + entry(2, "000000000040-telemetry", Array("{}".utf8)))
        put(
            FuzzOutboxFolder.name, "orphan-body-and-tmp",
            entry(0, "000000000007-telemetry.body", []) + entry(0, ".x.tmp", [1]))
        let nowBits = fuzzNow.timeIntervalSinceReferenceDate.bitPattern
        let nowBytes = (0..<8).map { UInt8(truncatingIfNeeded: nowBits >> (8 * $0)) }
        for (name, value) in [
            ("seconds", "120"), ("imf-fixdate", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("rfc850", "Sunday, 06-Nov-94 08:49:37 GMT"), ("asctime", "Sun Nov  6 08:49:37 1994"),
        ] {
            put(FuzzRetryAfter.name, name, nowBytes + Array(value.utf8))
        }
        put(FuzzKeyFile.name, "key", [0] + Array(0..<32))
        for (name, text) in [
            (
                "device-values",
                "id 01234567-89AB-CDEF-0123-456789ABCDEF on wlx001b21aabbcc (kiosk-07.lan) /home/ana/x by ana"
            ),
            ("shapes", "from 10.0.0.7:8080 and fe80::1, 3c:22:fb:01:02:03, card 4111 1111 1111 1111"),
            ("secrets", #"token=abc&x=1 {"password": "hunter2"} Authorization: Bearer eyJh"#),
        ] {
            put(FuzzIdentifierFilter.name, name, [0] + Array(text.utf8))
        }

        // HTTP: a request with headers, a path, an endpoint, an answer.
        put(
            FuzzHTTPRequest.name, "headers",
            [0, 2] + [4, 0] + Array("X-Id".utf8) + [3, 0] + Array("abc".utf8) + [4, 0] + Array("Team".utf8) + [1, 0]
                + Array("a".utf8))
        put(FuzzHTTPRequest.name, "path", [1] + [8, 0] + Array("/v1/logs".utf8) + [1])
        put(FuzzHTTPRequest.name, "endpoint", [2] + [22, 0] + Array("https://127.0.0.1:4318".utf8))
        put(
            FuzzHTTPRequest.name, "answer-429",
            [3, 0xAD, 0x01, 1, 3, 0] + Array("120".utf8) + nowBytes + Array("slow down".utf8))

        // The manifest.
        put(FuzzManifest.name, "example-manifest.json", try exampleManifest.encodeJSON())

        try writeStoredRecordSeeds(crashRecord: crashFolder, put: put)
    }

    /// Seeds of ``FuzzStoredRecords``: each consumer's collection as the modules write it.
    static func writeStoredRecordSeeds(crashRecord crashFolder: String, put: (String, String, [UInt8]) -> Void) throws {
        let folder = Scratch.fresh("seed-stored")
        let vault = try Vault.open(directory: folder, keyProvider: FixedKeyProvider(), clock: fuzzClock)
        let ledger = try ConsentLedger(manifest: exampleManifest, vault: vault, clock: fuzzClock)
        let audit = try AuditLedger(vault: vault, clock: fuzzClock)
        let gate = ConsentGate(
            ledger: ledger, vault: vault, audit: audit,
            policies: [.personalization: .encryptedDisk(maxAge: .seconds(86_400))], clock: fuzzClock)
        // Held on disk while personalization is pending.
        try gate.store(Array("held".utf8), in: "notes", category: .usageEvents, purpose: .personalization)
        try ledger.grant([.analytics, .crashReporting])
        audit.recordCollected(.usageEvents, purpose: .analytics, count: 3)
        audit.recordDisclosed(.usageEvents, purpose: .analytics, recipient: "telemetryBackend", legalBasis: .consent)
        try audit.flush()

        let permissions = try PermissionGate(
            manifest: exampleManifest, vault: vault, prompter: ScriptedPrompter([.allow, .deny]),
            probe: ManualPermissionProbe(), consent: ledger, clock: fuzzClock)
        _ = blocking { try? await permissions.request(.camera) }
        _ = blocking { try? await permissions.request(.microphone) }

        let reporter = CrashReporter(
            configuration: .init(crashDirectory: crashFolder + "/crash", symbolication: .none), vault: vault,
            consent: gate, clock: fuzzClock)
        _ = reporter.processPending()

        let telemetry = try Telemetry(
            manifest: exampleManifest, vault: vault, consent: ledger, gate: gate, audit: audit, clock: fuzzClock)
        _ = telemetry.record("screen_view", attributes: ["screen": .string("scan"), "duration_ms": .int(1200)])
        _ = telemetry.record("app_start", attributes: ["cold_start": .bool(true), "launch_ms": .int(300)])
        try telemetry.flush()
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: RecordingTransport(answers: [], otherwise: .retry(after: nil)),
            vault: vault, consent: ledger, manifest: exampleManifest, audit: audit, wallClock: fuzzClock)
        _ = try telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "seed"))
        _ = telemetry.record("screen_view", attributes: ["screen": .string("map"), "duration_ms": .int(80)])
        try telemetry.flush()
        try vault.commit()
        func seed(_ index: Int, _ collection: String) throws -> [UInt8] {
            var seed: [UInt8] = [UInt8(index)]
            for record in try vault.records(in: collection).suffix(8) where record.data.count <= 8192 {
                seed += [UInt8(record.data.count & 0xFF), UInt8(record.data.count >> 8)] + record.data
            }
            return seed
        }
        var seeds: [String: [UInt8]] = [:]
        for (index, consumer) in FuzzStoredRecords.consumers.enumerated() {
            seeds[consumer.collection] = try seed(index, consumer.collection)
        }
        try ledger.deny([.analytics])  // a deletion request in the telemetry state, queued to the outbox
        try telemetry.flush()
        _ = try telemetry.submit(to: uploader, resource: TelemetryResource(serviceName: "seed"))
        for (index, consumer) in FuzzStoredRecords.consumers.enumerated()
        where consumer.collection == Telemetry.stateCollection || consumer.collection.hasPrefix("steward.outbox.") {
            seeds[consumer.collection + "-after-withdrawal"] = try seed(index, consumer.collection)
        }

        let ids = try DeviceIdentifiers(
            appID: "org.example.seed", vault: vault, consent: ledger,
            permissions: StaticPermissions(granted: [.deviceIdentity]))
        _ = try ids.installationID()
        _ = try ids.advertisingID()

        let store = try MediaStore(
            gate: gate, vault: vault, permissions: StaticPermissions(granted: [.camera, .photos]), clock: fuzzClock)
        let imageSeed = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Corpus/FuzzImage/jpeg-exif-xmp-iptc-icc-le.jpg").path
        if let image = FileManager.default.contents(atPath: imageSeed) {
            let original = try store.put([UInt8](image), source: .camera, purpose: .serviceProvision)
            if let item = original.item { _ = try store.putEdit([UInt8](image), of: item.id) }
        }
        try vault.commit()

        for (index, consumer) in FuzzStoredRecords.consumers.enumerated()
        where consumer.collection == MediaStore.collection
            || consumer.collection == DeviceIdentifiers.collection
        {
            seeds[consumer.collection] = try seed(index, consumer.collection)
        }
        for (name, bytes) in seeds { put(FuzzStoredRecords.name, name, bytes) }
        try vault.close()
    }
}
