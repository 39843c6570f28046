import Foundation
import Synchronization
import Testing
@testable import StewardCore
import StewardTesting

/// Consent under damage, quotas, children and hostile stored records.
@Suite struct ConsentHardeningTests {
    let dir = NSTemporaryDirectory() + "steward-hardening-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()

    func vault(_ options: VaultOptions = VaultOptions()) throws -> Vault {
        try Vault.open(directory: dir, keyProvider: keys, options: options)
    }

    @Test func aBrokenReceiptChainRestartsOnceAndLaterStartsAreIntact() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let v = try vault()
            let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: v)
            try ledger.grant([.analytics])
            try ledger.grant([.crashReporting])
            // Damage: a receipt in the middle is lost.
            let second = try #require(try v.records(in: ConsentLedger.collection).dropFirst().first)
            try v.remove(second.id, from: ConsentLedger.collection)
            try v.close()
        }
        do {
            let v = try vault()
            let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: v)
            #expect(!ledger.integrity.isValid, "the break is reported")
            #expect(ledger.consentState(for: .crashReporting) == .pending, "consent is asked again after damage")
            try ledger.grant([.analytics])
            try v.close()
        }
        let v = try vault()
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: v)
        #expect(ledger.integrity.isValid, "the new chain verifies: \(ledger.integrity)")
        #expect(ledger.consentState(for: .analytics) == .granted, "answers given after the restart persist")
        let all = try ledger.receipts()
        #expect(!ConsentReceipt.verifyChain(all).isValid, "the full history still shows where it broke")
        #expect(ConsentReceipt.verifyChain(ConsentReceipt.currentChain(all)).isValid)
    }

    @Test func theQuotaNeverEvictsConsentReceiptsOrTheAuditLedger() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var options = VaultOptions()
        options.quota = 16 << 10
        options.segmentSize = 4 << 10
        let v = try vault(options)
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: v)
        let audit = try AuditLedger(vault: v)
        try ledger.grant([.analytics])
        audit.recordCollected(.usageEvents, purpose: .analytics)
        try audit.flush()
        for _ in 0..<200 {
            try v.append([UInt8](repeating: 7, count: 300), to: "events", category: .usageEvents, purpose: .analytics)
            try v.commit()
        }
        #expect(try v.summary().evicted > 0, "the quota was exercised")
        #expect(try v.records(in: ConsentLedger.collection).count == 2)
        #expect(try v.records(in: AuditLedger.collection).count == 1)
        try v.close()
        #expect(
            try ConsentLedger(manifest: consentTestManifest(), vault: vault(options)).consentState(for: .analytics)
                == .granted)
    }

    @Test func onceBelowTheAgeOnlyAGuardianGrantsEvenAfterAGuardianConsented() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault(), jurisdiction: .us)
        try ledger.setAge(10)
        try ledger.grant([.analytics], by: .guardian)
        #expect(ledger.ageSignal == .guardianConsent)
        #expect { try ledger.grant([.crashReporting]) } throws: { ($0 as? ConsentError)?.code == .guardianRequired }
        // Reporting the age again (at every launch, say) keeps the guardian's choices.
        try ledger.setAge(10)
        #expect(ledger.ageSignal == .guardianConsent)
        #expect(ledger.consentState(for: .analytics) == .granted)
        // Growing up lifts the guardian requirement once a guardian says so; the age gate's
        // denials stay until granted.
        try ledger.setAge(13, by: .guardian)
        #expect(ledger.consentState(for: .crashReporting) == .denied)
        try ledger.grant([.crashReporting])
        #expect(ledger.consentState(for: .crashReporting) == .granted)
    }

    @Test func belowTheAgeSticksUntilAGuardianAnswersAnOlderAge() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault(), jurisdiction: .us)
        try ledger.setAge(10)
        let receipts = try ledger.receipts().count
        // The child answers again with an older age: refused, and nothing changes.
        #expect { try ledger.setAge(30) } throws: { ($0 as? ConsentError)?.code == .guardianRequired }
        #expect { try ledger.setAgeSignal(.atOrAbove) } throws: { ($0 as? ConsentError)?.code == .guardianRequired }
        #expect(ledger.ageSignal == .below)
        #expect(ledger.consentState(for: .analytics) == .denied)
        #expect(try ledger.receipts().count == receipts, "a refused answer leaves no receipt")
        #expect { try ledger.grant([.analytics]) } throws: { ($0 as? ConsentError)?.code == .guardianRequired }
        // After a guardian's consent, too.
        try ledger.grant([.analytics], by: .guardian)
        #expect { try ledger.setAge(30) } throws: { ($0 as? ConsentError)?.code == .guardianRequired }
        #expect(ledger.ageSignal == .guardianConsent)
        // A guardian's answer lifts it.
        #expect(try ledger.setAge(30, by: .guardian) == .atOrAbove)
        #expect(ledger.ageSignal == .atOrAbove)
        try ledger.grant([.crashReporting])
        #expect(ledger.consentState(for: .crashReporting) == .granted)
    }

    @Test func aNewPolicyVersionKeepsAChildsPurposesDeniedAndTheGateHoldsNothing() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let v = try vault()
            try ConsentLedger(manifest: consentTestManifest(version: "1"), vault: v, jurisdiction: .cn).setAge(12)
            try v.close()
        }
        let v = try vault()
        let ledger = try ConsentLedger(manifest: consentTestManifest(version: "2"), vault: v)
        #expect(ledger.ageSignal == .below)
        #expect(ledger.consentState(for: .analytics) == .denied)
        let audit = try AuditLedger(vault: nil)
        let gate = ConsentGate(
            ledger: ledger, vault: v, audit: audit, policies: [.analytics: .encryptedDisk(maxAge: .seconds(86_400))])
        #expect(try gate.store([1], in: "events", category: .usageEvents, purpose: .analytics) == .dropped(.ageGate))
        #expect(try v.records(in: ConsentGate.pendingCollection).isEmpty)
        #expect(audit.entries().first?.dropped[.ageGate] == 1)
    }

    @Test func receiptsThatDifferOnlyInAnAbsentOrEmptyFieldHashDifferently() {
        let base = ConsentReceipt(
            version: ConsentReceipt.currentVersion, receiptID: "r", sequence: 0, timestamp: 0, actor: .user,
            policyVersion: "1",
            jurisdiction: nil, ageSignal: .unknown, reason: nil, purposes: [], previousHash: ConsentReceipt.genesisHash,
            hash: "")
        var empty = base
        empty.jurisdiction = ""
        empty.reason = ""
        #expect(base.canonicalBytes != empty.canonicalBytes)
        var injected = base
        injected.receiptID = "r\nsequence=0"
        #expect(injected.canonicalBytes != base.canonicalBytes)
        #expect(
            !String(decoding: injected.canonicalBytes, as: UTF8.self).contains("\nsequence=0\nsequence"),
            "newlines in values are escaped")
    }

    @Test func anObserverThatChangesConsentGetsAnErrorInsteadOfCrashingTheHost() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault())
        let errors = Mutex<[ConsentError.Code]>([])
        ledger.addObserver { [weak ledger] changes in
            guard changes.contains(where: { $0.purpose == .analytics && $0.state == .denied }) else { return }
            do { try ledger?.deny([.crashReporting]) } catch let error as ConsentError {
                errors.withLock { $0.append(error.code) }
            } catch {}
        }
        try ledger.grant([.analytics, .crashReporting])
        try ledger.deny([.analytics])
        #expect(errors.withLock { $0 } == [.reentrantChange])
        try ledger.deny([.crashReporting])  // outside the observer it works
        #expect(ledger.consentState(for: .crashReporting) == .denied)
    }

    @Test func anUnknownAgeDoesNotUndoWhatIsKnownAboutAChild() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault(), jurisdiction: .us)
        try ledger.setAge(9)
        try ledger.setAgeSignal(.unknown)
        #expect(ledger.ageSignal == .below)
        #expect { try ledger.grant([.analytics]) } throws: { ($0 as? ConsentError)?.code == .guardianRequired }
    }

    @Test func whileAGuardianHasNotAnsweredANewPolicyTheGateHoldsNothingOfTheChilds() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let v = try vault()
            let ledger = try ConsentLedger(manifest: consentTestManifest(version: "1"), vault: v, jurisdiction: .us)
            try ledger.setAge(9)
            try ledger.grant([.analytics], by: .guardian)
            try v.close()
        }
        let v = try vault()
        let ledger = try ConsentLedger(manifest: consentTestManifest(version: "2"), vault: v)
        #expect(ledger.ageSignal == .guardianConsent)
        #expect(ledger.consentState(for: .analytics) == .pending, "the guardian is asked again")
        let gate = ConsentGate(ledger: ledger, vault: v, policies: [.analytics: .memory(limit: 100)])
        #expect(try gate.store([1], in: "events", category: .usageEvents, purpose: .analytics) == .dropped(.ageGate))
        #expect(gate.heldInMemory(for: .analytics) == 0)
    }

    @Test func anUnreadableReceiptFromBeforeARestartDoesNotBreakTheNewChain() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let v = try vault()
            try ConsentLedger(manifest: consentTestManifest(), vault: v).grant([.analytics])
            // An unreadable record in the old history (damage the vault could not see).
            try v.append(
                Array("not a receipt".utf8), to: ConsentLedger.collection, category: .consentRecords,
                purpose: .privacyCompliance)
            try v.commit()
            try v.close()
        }
        do {
            let v = try vault()
            let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: v)
            #expect(!ledger.integrity.isValid)
            try ledger.grant([.crashReporting])
            try v.close()
        }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault())
        #expect(ledger.integrity.isValid, "\(ledger.integrity)")
        #expect(ledger.consentState(for: .crashReporting) == .granted)
    }

    @Test func aCarriageReturnCannotHideALineFeedInTheCanonicalForm() {
        func receipt(actor: String, policy: String) -> ConsentReceipt {
            ConsentReceipt(
                version: ConsentReceipt.currentVersion, receiptID: "r", sequence: 0, timestamp: 0,
                actor: ConsentActor(actor),
                policyVersion: policy, jurisdiction: nil, ageSignal: .unknown, reason: nil, purposes: [],
                previousHash: ConsentReceipt.genesisHash, hash: "")
        }
        let a = receipt(actor: "user\r", policy: "1\r\npolicyVersion=2")
        let b = receipt(actor: "user\r\npolicyVersion=1\r", policy: "2")
        #expect(a.canonicalBytes != b.canonicalBytes)
    }

    @Test func storedAuditCountsThatWouldOverflowSaturateInsteadOfTrapping() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = try vault()
        let entry = AuditEntry(
            day: "2026-11-29", category: .usageEvents, purpose: .analytics, collected: .max, dropped: [.consent: .max])
        for _ in 0..<2 {
            try v.append(
                Array(try JSONEncoder().encode([entry])), to: AuditLedger.collection, category: .consentRecords,
                purpose: .privacyCompliance)
        }
        try v.commit()
        let audit = try AuditLedger(vault: v)
        audit.recordCollected(.usageEvents, purpose: .analytics)
        #expect(audit.entries().first { $0.day == "2026-11-29" }?.collected == .max)
    }
}

@Suite struct ConsentGateHardeningTests {
    let dir = NSTemporaryDirectory() + "steward-gate2-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()

    @Test func theGateRefusesStewardsOwnCollections() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = try Vault.open(directory: dir, keyProvider: keys)
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: v)
        try ledger.grant([.analytics])
        let gate = ConsentGate(ledger: ledger, vault: v)
        #expect {
            try gate.store([1], in: ConsentLedger.collection, category: .usageEvents, purpose: .analytics)
        } throws: {
            ($0 as? VaultError)?.code == .invalidCollectionName
        }
        #expect(ConsentReceipt.verifyChain(try ledger.receipts()).isValid)
    }

    @Test func aMemoryLimitOfZeroDropsAndSaysSo() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = try Vault.open(directory: dir, keyProvider: keys)
        let gate = ConsentGate(
            ledger: try ConsentLedger(manifest: consentTestManifest(), vault: v), vault: v,
            policies: [.analytics: .memory(limit: 0)])
        #expect(try gate.store([1], in: "events", category: .usageEvents, purpose: .analytics) == .dropped(.quota))
        #expect(gate.heldInMemory(for: .analytics) == 0)
    }

    @Test func diskHeldItemsOfAPurposeGrantedWithoutAGateArePromotedWhenAGateStarts() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let policies: [Purpose: PendingPolicy] = [.analytics: .encryptedDisk(maxAge: .seconds(86_400))]
        do {
            let v = try Vault.open(directory: dir, keyProvider: keys)
            let gate = ConsentGate(
                ledger: try ConsentLedger(manifest: consentTestManifest(), vault: v), vault: v, policies: policies)
            #expect(try gate.store([42], in: "events", category: .usageEvents, purpose: .analytics) == .held)
            try v.close()
        }
        do {  // granted from somewhere without a gate (the CLI)
            let v = try Vault.open(directory: dir, keyProvider: keys)
            try ConsentLedger(manifest: consentTestManifest(), vault: v).grant([.analytics])
            try v.close()
        }
        let v = try Vault.open(directory: dir, keyProvider: keys)
        _ = ConsentGate(
            ledger: try ConsentLedger(manifest: consentTestManifest(), vault: v), vault: v, policies: policies)
        #expect(try v.records(in: "events").map(\.data) == [[42]])
        #expect(try v.records(in: ConsentGate.pendingCollection).isEmpty)
    }

    @Test func expiredRecordsAreCountedAsRetentionDrops() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let clock = ManualWallClock()
        let v = try Vault.open(directory: dir, keyProvider: keys, clock: clock)
        let audit = try AuditLedger(vault: v, clock: clock)
        try v.append([1], to: "events", category: .usageEvents, purpose: .analytics, retention: .seconds(60))
        try v.append([2], to: "events", category: .usageEvents, purpose: .analytics, retention: .seconds(60))
        try v.append(
            [3], to: "crashes", category: .crashDiagnostics, purpose: .crashReporting, retention: .seconds(3_600))
        try v.commit()
        clock.advance(by: .seconds(61))
        #expect(try audit.purgeExpired(in: v) == 2)
        #expect(audit.entries().first { $0.category == .usageEvents }?.dropped[.retention] == 2)
        #expect(try v.records(in: "crashes").count == 1)
    }
}

@Suite struct OutboxRecoveryTests {
    @Test func aSidecarWhoseBodyIsMissingIsRemovedWhenTheOutboxOpens() throws {
        let dir = NSTemporaryDirectory() + "steward-outbox-recovery-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do { _ = try FileTransport(directory: dir) }
        let orphan = dir + "/000000000007-crashBackend.json"
        #expect(FileManager.default.createFile(atPath: orphan, contents: Data("{}".utf8)))
        let complete = dir + "/000000000003-crashBackend"
        #expect(FileManager.default.createFile(atPath: complete + ".body", contents: Data("b".utf8)))
        #expect(FileManager.default.createFile(atPath: complete + ".json", contents: Data("{}".utf8)))
        _ = try FileTransport(directory: dir)
        #expect(!FileManager.default.fileExists(atPath: orphan), "a sidecar never points at a missing body")
        #expect(FileManager.default.fileExists(atPath: complete + ".json"), "complete deliveries stay")
    }
}
