import Foundation
import Testing
@testable import StewardCore
import StewardTesting

/// A small manifest: two purposes that need consent, one that does not.
func consentTestManifest(version: String = "2026-11", minimumAges: [MinimumAge] = []) -> PrivacyManifest {
    PrivacyManifest(
        policyVersion: version,
        purposes: [
            .init(id: .serviceProvision, description: "Run the app", legalBasis: .necessaryForService),
            .init(id: .analytics, description: "Usage statistics", legalBasis: .consent),
            .init(id: .crashReporting, description: "Crash reports", legalBasis: .consent),
        ],
        dataCategories: [
            .init(
                id: .usageEvents, description: "Screens", purposes: [.analytics], retentionDays: 30,
                sensitivity: .personal, leavesDevice: false),
            .init(
                id: .crashDiagnostics, description: "Crashes", purposes: [.crashReporting], retentionDays: 90,
                sensitivity: .personal, leavesDevice: false),
            .init(
                id: .deviceModel, description: "Model", purposes: [.serviceProvision], sensitivity: .low,
                leavesDevice: false),
        ],
        minimumAges: minimumAges)
}

@Suite struct ConsentLedgerTests {
    let dir = NSTemporaryDirectory() + "steward-consent-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()
    let clock = ManualWallClock()

    func vault() throws -> Vault { try Vault.open(directory: dir, keyProvider: keys, clock: clock) }

    @Test func onFirstStartConsentPurposesArePendingAndOthersGrantedWithAReceipt() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault(), clock: clock)
        #expect(ledger.consentState(for: .analytics) == .pending)
        #expect(ledger.consentState(for: .crashReporting) == .pending)
        #expect(ledger.consentState(for: .serviceProvision) == .granted)
        #expect(ledger.consentState(for: .advertising) == .denied, "an undeclared purpose is never on")
        let receipts = try ledger.receipts()
        #expect(receipts.count == 1)
        #expect(receipts[0].actor == .systemDefault)
        #expect(receipts[0].policyVersion == "2026-11")
    }

    @Test func grantsAndDenialsPersistAcrossRestartsWithReceipts() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let v = try vault()
            let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: v, jurisdiction: "DE", clock: clock)
            try ledger.grant([.analytics, .crashReporting])
            try ledger.deny([.crashReporting])
            try v.close()
        }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault(), clock: clock)
        #expect(ledger.consentState(for: .analytics) == .granted)
        #expect(ledger.consentState(for: .crashReporting) == .denied)
        #expect(ledger.jurisdiction == "DE")
        let receipts = try ledger.receipts()
        #expect(receipts.map(\.actor) == [.systemDefault, .user, .user])
        #expect(receipts[1].purposes.map(\.purpose) == [.analytics, .crashReporting])
        #expect(
            receipts[2].purposes == [
                ReceiptPurpose(purpose: .crashReporting, legalBasis: .consent, previous: .granted, state: .denied)
            ])
        #expect(ConsentReceipt.verifyChain(receipts).isValid)
        #expect(ledger.integrity.isValid)
    }

    @Test func aPurposeThatDoesNotNeedConsentCannotBeDenied() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault(), clock: clock)
        #expect { try ledger.deny([.serviceProvision]) } throws: {
            ($0 as? ConsentError)?.message.contains("necessaryForService") == true
        }
        #expect(ledger.consentState(for: .serviceProvision) == .granted)
        #expect { try ledger.grant(["warrantyClaims"]) } throws: {
            ($0 as? ConsentError)?.message.contains("not a purpose the manifest declares") == true
        }
    }

    @Test func aNewPolicyVersionAsksAgain() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let v = try vault()
            try ConsentLedger(manifest: consentTestManifest(version: "1"), vault: v, clock: clock).grant([.analytics])
            try v.close()
        }
        let ledger = try ConsentLedger(manifest: consentTestManifest(version: "2"), vault: vault(), clock: clock)
        #expect(ledger.consentState(for: .analytics) == .pending)
        #expect(ledger.consentState(for: .serviceProvision) == .granted)
        let last = try #require(try ledger.receipts().last)
        #expect(last.policyVersion == "2")
        #expect(last.reason?.contains("new policy version") == true)
    }

    @Test func denyingAPurposePurgesItsDataFromTheVault() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = try vault()
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: v, clock: clock)
        try ledger.grant([.analytics])
        try v.append([1, 2, 3], to: "events", category: .usageEvents, purpose: .analytics)
        try v.append([4], to: "device", category: .deviceModel, purpose: .serviceProvision)
        try v.commit()
        try ledger.deny([.analytics])
        #expect(try v.records(in: "events").isEmpty)
        #expect(try v.records(in: "device").count == 1)
        #expect(try ledger.receipts().count == 3, "receipts are kept under their own purpose, not purged")
    }

    @Test func theHandleCheckFollowsEveryChange() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault(), clock: clock)
        let analytics = try #require(ledger.handle(for: .analytics))
        #expect(ledger.handle(for: .advertising) == nil)
        #expect(!ledger.isGranted(analytics))
        try ledger.grant([.analytics])
        #expect(ledger.isGranted(analytics) && ledger.isGranted(.analytics))
        try ledger.deny([.analytics])
        #expect(!ledger.isGranted(analytics))
        #expect(ledger.consentState(for: .analytics) == .denied)
        try ledger.grant([.analytics])
        #expect(ledger.consentState(for: .analytics) == .granted)
    }

    @Test func changesArriveOnEveryStreamAndObserver() async throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault(), clock: clock)
        let first = ledger.changes(), second = ledger.changes()
        let seen = Mutex<[ConsentChange]>([])
        ledger.addObserver { changes in seen.withLock { $0 += changes } }
        try ledger.grant([.analytics])
        try ledger.deny([.analytics], by: .user)
        var a = first.makeAsyncIterator(), b = second.makeAsyncIterator()
        for expected in [ConsentState.granted, .denied] {
            #expect(await a.next()?.state == expected)
            #expect(await b.next()?.state == expected)
        }
        #expect(seen.withLock { $0.map(\.state) } == [.granted, .denied])
        #expect(seen.withLock { $0.allSatisfy { $0.purpose == .analytics && !$0.receiptID.isEmpty } })
    }
}

import Synchronization

@Suite struct ReceiptChainTests {
    func chain() throws -> [ConsentReceipt] {
        let dir = NSTemporaryDirectory() + "steward-chain-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider())
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault)
        try ledger.grant([.analytics])
        try ledger.deny([.analytics])
        try ledger.grant([.crashReporting])
        let exported = try ledger.exportReceipts()
        return try JSONDecoder().decode([ConsentReceipt].self, from: Data(exported))
    }

    @Test func anExportedChainVerifies() throws {
        let receipts = try chain()
        #expect(receipts.count == 4)
        #expect(ConsentReceipt.verifyChain(receipts) == .valid(count: 4))
        #expect(receipts[0].previousHash == ConsentReceipt.genesisHash)
    }

    @Test(arguments: ["state", "actor", "timestamp", "policyVersion", "jurisdiction", "reason"])
    func anEditedReceiptIsDetected(_ field: String) throws {
        var receipts = try chain()
        switch field {
        case "state": receipts[2].purposes[0].state = .granted
        case "actor": receipts[2].actor = .guardian
        case "timestamp": receipts[2].timestamp += 1
        case "policyVersion": receipts[2].policyVersion = "forged"
        case "jurisdiction": receipts[2].jurisdiction = "US"
        default: receipts[2].reason = "forged"
        }
        #expect(
            ConsentReceipt.verifyChain(receipts)
                == .broken(at: 2, reason: "receipt 2 does not match its hash: it was edited"))
    }

    @Test func anEditWithARecomputedHashBreaksTheNextLink() throws {
        var receipts = try chain()
        receipts[1].purposes[0].state = .denied
        receipts[1].hash = receipts[1].computedHash
        guard case .broken(at: 2, _) = ConsentReceipt.verifyChain(receipts) else {
            Issue.record("an edit that recomputes its own hash must break the link to the next receipt")
            return
        }
    }

    @Test func aRemovedOrReorderedReceiptIsDetected() throws {
        var removed = try chain()
        removed.remove(at: 1)
        #expect(!ConsentReceipt.verifyChain(removed).isValid)
        var swapped = try chain()
        swapped.swapAt(1, 2)
        #expect(!ConsentReceipt.verifyChain(swapped).isValid)
    }
}

@Suite struct AgeGateTests {
    @Test(
        arguments: [
            (Jurisdiction.us, 13), (.cn, 14), (.eu, 16), (.gb, 13), ("DE", 16), ("FR", 15), ("IT", 14),
            ("ES", 14), ("DK", 13), ("AT", 14), ("NL", 16), ("CZ", 15), (nil, 13), ("ZZ", 13),
        ] as [(Jurisdiction?, Int)])
    func minimumAgePerJurisdiction(_ jurisdiction: Jurisdiction?, _ age: Int) {
        let gate = AgeGate()
        #expect(gate.minimumAge(in: jurisdiction) == age)
        #expect(gate.signal(forAge: age - 1, in: jurisdiction) == .below)
        #expect(gate.signal(forAge: age, in: jurisdiction) == .atOrAbove)
    }

    @Test func theManifestOverridesTheTable() {
        let gate = AgeGate(manifest: consentTestManifest(minimumAges: [MinimumAge(jurisdiction: .us, age: 16)]))
        #expect(gate.minimumAge(in: .us) == 16)
        #expect(gate.minimumAge(in: .cn) == 14)
    }

    @Test func anUncheckedManifestCannotMakeEveryoneAnAdultOrAChild() {
        let gate = AgeGate(
            manifest: consentTestManifest(minimumAges: [
                MinimumAge(jurisdiction: .us, age: -1), MinimumAge(jurisdiction: .cn, age: 1_000),
                MinimumAge(jurisdiction: "FR", age: 16), MinimumAge(jurisdiction: "FR", age: 0),
            ]))
        #expect(gate.minimumAge(in: .us) == 13, "an age outside 0...21 is ignored")
        #expect(gate.minimumAge(in: .cn) == 14)
        #expect(gate.minimumAge(in: "FR") == 16, "the first entry of a repeated jurisdiction counts")
    }

    @Test func belowTheThresholdEveryConsentPurposeIsDeniedAndPurgedUntilAGuardianConsents() throws {
        let dir = NSTemporaryDirectory() + "steward-age-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider())
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault, jurisdiction: .cn)
        try ledger.grant([.analytics])
        try vault.append([9], to: "events", category: .usageEvents, purpose: .analytics)
        try vault.commit()

        #expect(try ledger.setAge(13) == .below, "PIPL: 14 in China")
        #expect(ledger.consentState(for: .analytics) == .denied)
        #expect(ledger.consentState(for: .crashReporting) == .denied)
        #expect(ledger.consentState(for: .serviceProvision) == .granted, "essential purposes stay on")
        #expect(try vault.records(in: "events").isEmpty, "data kept for denied purposes is purged")
        #expect(try ledger.receipts().last?.actor == .ageGate)

        #expect { try ledger.grant([.analytics]) } throws: {
            ($0 as? ConsentError)?.message.contains("only a guardian") == true
        }
        try ledger.grant([.analytics], by: .guardian)
        #expect(ledger.consentState(for: .analytics) == .granted)
        #expect(ledger.ageSignal == .guardianConsent)
        #expect(try ledger.receipts().last?.actor == .guardian)
    }

    @Test func atOrAboveTheThresholdNothingChanges() throws {
        let dir = NSTemporaryDirectory() + "steward-age-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let ledger = try ConsentLedger(
            manifest: consentTestManifest(), vault: Vault.open(directory: dir, keyProvider: InMemoryKeyProvider()))
        try ledger.grant([.analytics])
        #expect(try ledger.setAge(16, jurisdiction: "DE") == .atOrAbove)
        #expect(ledger.consentState(for: .analytics) == .granted)
        #expect(ledger.jurisdiction == "DE")
    }
}
