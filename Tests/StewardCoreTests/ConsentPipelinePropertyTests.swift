import Foundation
import Synchronization
import Testing
@testable import StewardCore
import StewardTesting

/// Random interleavings of consent changes, pending-policy choices, restarts and payload
/// submissions, through the real ledger, gate and uploader, against a recording transport.
///
/// Invariants:
/// - no payload reaches the transport unless its purpose is granted at that moment;
/// - nothing granted is lost: at the end, with every purpose granted, exactly the items that
///   were never refused (denied, dropped by policy, lost from memory at a restart) have been
///   delivered, each once.
@Suite struct ConsentPipelinePropertyTests {
    static let purposes: [Purpose] = [.analytics, .crashReporting, .personalization]
    static let categoryOf: [Purpose: DataCategory] = [
        .analytics: .usageEvents, .crashReporting: .crashDiagnostics, .personalization: .deviceConfiguration,
    ]
    static let recipient: RecipientID = "backend"

    static func manifest(version: String) -> PrivacyManifest {
        PrivacyManifest(
            policyVersion: version,
            purposes: [.init(id: .serviceProvision, description: "Service", legalBasis: .necessaryForService)]
                + purposes.map { .init(id: $0, description: $0.rawValue, legalBasis: .consent) },
            dataCategories: purposes.map {
                .init(
                    id: categoryOf[$0]!, description: "c", purposes: [$0], retentionDays: 30, sensitivity: .personal,
                    leavesDevice: true, recipients: [recipient])
            },
            recipients: [.init(id: recipient, name: "Backend", role: .processor, region: "DE")])
    }

    /// Everything one run opens over its data directory, rebuilt at each restart.
    final class Stack: @unchecked Sendable {
        // @unchecked Sendable: used from the test's one task at a time.
        let vault: Vault
        let ledger: ConsentLedger
        let gate: ConsentGate
        let uploader: Uploader

        init(
            dir: String, keys: InMemoryKeyProvider, version: String, policies: [Purpose: PendingPolicy],
            transport: RecordingTransport
        ) throws {
            vault = try Vault.open(directory: dir, keyProvider: keys)
            let manifest = ConsentPipelinePropertyTests.manifest(version: version)
            ledger = try ConsentLedger(manifest: manifest, vault: vault)
            let audit = try AuditLedger(vault: vault)
            gate = ConsentGate(ledger: ledger, vault: vault, audit: audit, policies: policies)
            uploader = try Uploader(
                recipient: ConsentPipelinePropertyTests.recipient, transport: transport, vault: vault, consent: ledger,
                manifest: manifest, audit: audit,
                policy: UploadPolicy(
                    initialBackoff: .milliseconds(1), maxBackoff: .milliseconds(2), maxAttempts: 1_000,
                    maxAge: .seconds(3_600)))
        }
    }

    enum Fate: Equatable { case alive, refused }

    @Test(arguments: 0..<24)
    func noPayloadOfAnUngrantedPurposeIsSentAndNothingGrantedIsLost(seed: UInt64) async throws {
        let dir = NSTemporaryDirectory() + "steward-pipeline-\(seed)-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var rng = SplitMix64(seed: 0x5EED_0000 + seed)
        let keys = InMemoryKeyProvider()
        let violations = Mutex<[String]>([])
        let failuresLeft = Mutex(0)
        // The ledger the transport checks against; replaced at every restart.
        let current = Mutex<ConsentLedger?>(nil)
        let transport = RecordingTransport(clock: ContinuousClock()) { payload, _ in
            if current.withLock({ $0?.consentState(for: payload.purpose) }) != .granted {
                violations.withLock {
                    $0.append("\(payload.idempotencyKey) sent while \(payload.purpose) was not granted")
                }
            }
            return failuresLeft.withLock { n in
                if n > 0 { n -= 1; return .retry(after: nil) }
                return .accepted
            }
        }
        var version = 1
        var policies: [Purpose: PendingPolicy] = [:]
        func choosePolicies() {
            for p in Self.purposes {
                switch rng.int(in: 0...2) {
                case 0: policies[p] = .drop
                case 1: policies[p] = .memory(limit: 10_000)
                default: policies[p] = .encryptedDisk(maxAge: .seconds(86_400))
                }
            }
        }
        choosePolicies()
        var stack = try Stack(dir: dir, keys: keys, version: "v\(version)", policies: policies, transport: transport)
        current.withLock { $0 = stack.ledger }

        // The model: every item by key, where it waits, and whether it may still be delivered.
        var fate: [String: Fate] = [:]
        var purposeOf: [String: Purpose] = [:]
        var inMemory: Set<String> = []  // held by the gate in memory (lost at a restart)
        var inGateStore: [Purpose: [String]] = [:]  // stored by the gate, not yet handed to the uploader
        var next = 0

        /// A denial refuses every item of the purpose not yet delivered; delivered ones stay
        /// delivered (asking the recipient to delete them is telemetry's deletion request).
        func refuseAll(of purpose: Purpose) {
            let delivered = Set(transport.acceptedPayloads.map(\.idempotencyKey))
            for (key, p) in purposeOf where p == purpose && fate[key] == .alive && !delivered.contains(key) {
                fate[key] = .refused
            }
            inGateStore[purpose] = []
        }

        /// Hands what the gate stored to the uploader, as telemetry's flush will.
        func flush() throws {
            for purpose in Self.purposes {
                let collection = "items.\(purpose)"
                for record in try stack.vault.records(in: collection) {
                    let key = String(decoding: record.data, as: UTF8.self)
                    let payload = Payload(
                        recipient: Self.recipient, purpose: purpose, categories: [Self.categoryOf[purpose]!],
                        contentType: "text/plain", body: record.data, idempotencyKey: key, created: record.created)
                    let outcome = try stack.uploader.submit(payload)
                    if case .dropped = outcome { fate[key] = .refused }
                    try stack.vault.remove(record.id, from: collection)
                }
                inGateStore[purpose] = []
            }
            try stack.vault.commit()
        }

        for _ in 0..<60 {
            let purpose = Self.purposes[rng.int(in: 0...2)]
            switch rng.int(in: 0...99) {
            case 0..<30:  // collect an item through the gate
                let key = "item-\(next)"; next += 1
                purposeOf[key] = purpose
                let outcome = try stack.gate.store(
                    Array(key.utf8), in: "items.\(purpose)", category: Self.categoryOf[purpose]!, purpose: purpose)
                switch outcome {
                case .stored: fate[key] = .alive; inGateStore[purpose, default: []].append(key)
                case .held:
                    fate[key] = .alive
                    if case .memory = policies[purpose] { inMemory.insert(key) }
                case .dropped: fate[key] = .refused
                }
            case 30..<45:  // submit a payload straight to the uploader
                let key = "payload-\(next)"; next += 1
                purposeOf[key] = purpose
                let payload = Payload(
                    recipient: Self.recipient, purpose: purpose, categories: [Self.categoryOf[purpose]!],
                    contentType: "text/plain", body: Array(key.utf8), idempotencyKey: key, created: Date())
                if case .dropped = try stack.uploader.submit(payload) {
                    fate[key] = .refused
                } else {
                    fate[key] = .alive
                }
            case 45..<60:
                try stack.ledger.grant([purpose])
                inMemory = inMemory.filter { purposeOf[$0] != purpose }
            case 60..<70:
                try stack.ledger.deny([purpose])
                refuseAll(of: purpose)
                inMemory = inMemory.filter { purposeOf[$0] != purpose }
            case 70..<78:
                try flush()
            case 78..<88:
                failuresLeft.withLock { $0 = rng.int(in: 0...2) }
                _ = await stack.uploader.drain()
            case 88..<94:  // restart, sometimes under a new policy version, with new pending policies
                try stack.vault.close()
                for key in inMemory { fate[key] = .refused }  // memory-held items end with the process
                inMemory = []
                if rng.int(in: 0...1) == 0 { version += 1 }
                choosePolicies()
                stack = try Stack(
                    dir: dir, keys: keys, version: "v\(version)", policies: policies, transport: transport)
                current.withLock { $0 = stack.ledger }
            default:
                stack.uploader.wake()
            }
            #expect(violations.withLock { $0 }.isEmpty, "seed \(seed): \(violations.withLock { $0 })")
        }

        // Grant everything, hand over what the gate stored, deliver everything.
        try stack.ledger.grant(Self.purposes)
        try flush()
        failuresLeft.withLock { $0 = 0 }
        let report = await stack.uploader.drain()
        #expect(report.remaining == 0, "seed \(seed): \(report)")
        #expect(violations.withLock { $0 }.isEmpty, "seed \(seed): \(violations.withLock { $0 })")

        let delivered = transport.acceptedPayloads.map(\.idempotencyKey)
        #expect(delivered.count == Set(delivered).count, "seed \(seed): a payload was delivered twice")
        let expected = Set(fate.filter { $0.value == .alive }.keys)
        let got = Set(delivered)
        #expect(
            got.isSubset(of: expected),
            "seed \(seed): delivered after being refused: \(got.subtracting(expected).sorted())")
        #expect(expected.isSubset(of: got), "seed \(seed): granted but lost: \(expected.subtracting(got).sorted())")
        try stack.vault.close()
    }
}
