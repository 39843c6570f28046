import Foundation
import Synchronization
import Testing
@testable import StewardCore
import StewardTesting

@Suite struct ConsentGateTests {
    let dir = NSTemporaryDirectory() + "steward-gate-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()
    let clock = ManualWallClock(now: Date(timeIntervalSince1970: 1_800_000_000))

    struct Setup {
        var vault: Vault
        var ledger: ConsentLedger
        var audit: AuditLedger
        var gate: ConsentGate
    }

    func setUp(_ policy: PendingPolicy) throws -> Setup {
        let vault = try Vault.open(directory: dir, keyProvider: keys, clock: clock)
        let ledger = try ConsentLedger(manifest: consentTestManifest(), vault: vault, clock: clock)
        let audit = try AuditLedger(vault: vault, clock: clock)
        let gate = ConsentGate(ledger: ledger, vault: vault, audit: audit, policies: [.analytics: policy], clock: clock)
        return Setup(vault: vault, ledger: ledger, audit: audit, gate: gate)
    }

    func counts(_ audit: AuditLedger, _ purpose: Purpose = .analytics) -> (collected: Int, dropped: [DropReason: Int]) {
        let entries = audit.entries().filter { $0.purpose == purpose }
        var dropped: [DropReason: Int] = [:]
        for e in entries { for (k, v) in e.dropped { dropped[k, default: 0] += v } }
        return (entries.reduce(0) { $0 + $1.collected }, dropped)
    }

    @Test func aGrantedPurposeIsStoredAndCounted() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.drop)
        try s.ledger.grant([.analytics])
        guard case .stored(let id) = try s.gate.store([1], in: "events", category: .usageEvents, purpose: .analytics)
        else {
            Issue.record("expected stored")
            return
        }
        let record = try #require(try s.vault.record(id, in: "events"))
        #expect(record.expires == clock.now.addingTimeInterval(30 * 86_400), "the category's retention applies")
        #expect(counts(s.audit).collected == 1)
    }

    @Test func undeclaredDataIsDroppedAndCounted() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.drop)
        #expect(
            try s.gate.store([1], in: "events", category: .usageEvents, purpose: .advertising) == .dropped(.undeclared))
        #expect(
            try s.gate.store([1], in: "events", category: .crashDiagnostics, purpose: .analytics)
                == .dropped(.undeclared),
            "a category may be used only for the purposes it declares")
        #expect(
            try s.gate.store([1], in: "events", category: "secretStuff", purpose: .analytics) == .dropped(.undeclared))
        #expect(counts(s.audit).dropped[.undeclared] == 2)
    }

    @Test func theDropPolicyKeepsNothingWhilePending() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.drop)
        #expect(try s.gate.store([1], in: "events", category: .usageEvents, purpose: .analytics) == .dropped(.consent))
        try s.ledger.grant([.analytics])
        #expect(try s.vault.records(in: "events").isEmpty)
        #expect(counts(s.audit).dropped[.consent] == 1)
    }

    @Test func memoryHeldItemsArePromotedOnGrantWithTheirOriginalTimes() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.memory(limit: 10))
        let first = clock.now
        #expect(try s.gate.store([1], in: "events", category: .usageEvents, purpose: .analytics) == .held)
        clock.advance(by: .seconds(60))
        #expect(try s.gate.store([2], in: "events", category: .usageEvents, purpose: .analytics) == .held)
        #expect(s.gate.heldInMemory(for: .analytics) == 2)
        clock.advance(by: .seconds(3_600))
        try s.ledger.grant([.analytics])
        let records = try s.vault.records(in: "events")
        #expect(records.map(\.data) == [[1], [2]])
        #expect(records.map(\.created) == [first, first.addingTimeInterval(60)])
        #expect(
            records[0].expires == first.addingTimeInterval(30 * 86_400),
            "retention counts from collection, not promotion")
        #expect(s.gate.heldInMemory(for: .analytics) == 0)
        #expect(counts(s.audit).collected == 2)
    }

    @Test func heldItemsArePurgedOnDenial() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.memory(limit: 10))
        try s.gate.store([1], in: "events", category: .usageEvents, purpose: .analytics)
        try s.ledger.deny([.analytics])
        #expect(s.gate.heldInMemory(for: .analytics) == 0)
        try s.ledger.grant([.analytics])
        #expect(try s.vault.records(in: "events").isEmpty, "nothing denied comes back on a later grant")
        #expect(counts(s.audit).dropped[.consent] == 1)
        #expect(try s.gate.store([2], in: "events", category: .usageEvents, purpose: .analytics) != .held)
    }

    @Test func theMemoryLimitDropsTheOldestAndCountsThem() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.memory(limit: 3))
        for i in 0..<5 { try s.gate.store([UInt8(i)], in: "events", category: .usageEvents, purpose: .analytics) }
        #expect(s.gate.heldInMemory(for: .analytics) == 3)
        #expect(counts(s.audit).dropped[.quota] == 2)
        try s.ledger.grant([.analytics])
        #expect(try s.vault.records(in: "events").map(\.data) == [[2], [3], [4]])
    }

    @Test func encryptedDiskHoldingSurvivesARestartAndIsPromotedOnGrant() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let created = clock.now
        do {
            let s = try setUp(.encryptedDisk(maxAge: .seconds(7 * 86_400)))
            #expect(
                try s.gate.store(Array("held".utf8), in: "events", category: .usageEvents, purpose: .analytics) == .held
            )
            try s.vault.close()
        }
        clock.advance(by: .seconds(86_400))
        let s = try setUp(.encryptedDisk(maxAge: .seconds(7 * 86_400)))
        #expect(try s.vault.records(in: "events").isEmpty)
        try s.ledger.grant([.analytics])
        let records = try s.vault.records(in: "events")
        #expect(records.map(\.data) == [Array("held".utf8)])
        #expect(records.first?.created == created)
        #expect(try s.vault.records(in: ConsentGate.pendingCollection).isEmpty)
    }

    @Test func encryptedDiskHoldingIsPurgedOnDenial() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.encryptedDisk(maxAge: .seconds(3_600)))
        try s.gate.store([1], in: "events", category: .usageEvents, purpose: .analytics)
        #expect(try s.vault.records(in: ConsentGate.pendingCollection).count == 1)
        try s.ledger.deny([.analytics])
        #expect(try s.vault.records(in: ConsentGate.pendingCollection).isEmpty)
        #expect(try s.vault.records(in: "events").isEmpty)
    }

    @Test func anItemPastItsMaximumPendingAgeIsNeverPromoted() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.encryptedDisk(maxAge: .seconds(3_600)))
        try s.gate.store([2], in: "events", category: .usageEvents, purpose: .analytics)
        try s.vault.commit()
        clock.advance(by: .seconds(3_601))
        #expect(try s.vault.purgeExpired() == 1)
        try s.ledger.grant([.analytics])
        #expect(try s.vault.records(in: "events").isEmpty)
    }

    /// Items arriving on other threads while consent flips are neither lost nor stored twice.
    /// Each task keeps storing until it has seen both outcomes (held before the grant, stored
    /// after it), so the switch always happens while stores are running.
    @Test func noItemIsLostOrDuplicatedWhileConsentIsGranted() async throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let s = try setUp(.memory(limit: 100_000))
        let gate = s.gate
        let ledger = s.ledger
        let tally = Tally()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for t in 0..<4 {
                group.addTask {
                    var sawHeld = false, sawStored = false
                    var i = 0
                    while !(sawHeld && sawStored) && i < 60_000 {
                        let outcome = try gate.store(
                            [UInt8(t), UInt8(i & 0xFF), UInt8((i >> 8) & 0xFF), UInt8(i >> 16)],
                            in: "events", category: .usageEvents, purpose: .analytics)
                        tally.calls.add(1, ordering: .relaxed)
                        switch outcome {
                        case .stored: sawStored = true; tally.direct.add(1, ordering: .relaxed)
                        case .held: sawHeld = true; tally.held.add(1, ordering: .relaxed)
                        case .dropped: break
                        }
                        i += 1
                        if i % 16 == 0 { await Task.yield() }
                    }
                }
            }
            group.addTask {
                // Grant while the stores are running: after some items were held.
                while gate.heldInMemory(for: .analytics) < 100 { await Task.yield() }
                try ledger.grant([.analytics])
            }
            try await group.waitForAll()
        }
        let calls = tally.calls.load(ordering: .relaxed)
        let held = tally.held.load(ordering: .relaxed), direct = tally.direct.load(ordering: .relaxed)
        #expect(held >= 100 && direct >= 4, "both paths ran: \(held) held, \(direct) stored directly")
        #expect(held + direct == calls)
        let stored = try s.vault.records(in: "events").map(\.data)
        #expect(stored.count == calls, "every item stored once: \(stored.count) of \(calls)")
        #expect(Set(stored).count == stored.count, "no item stored twice")
        #expect(s.gate.heldInMemory(for: .analytics) == 0)
        #expect(counts(s.audit).collected == calls)
    }
}

/// Counts of what a concurrent test's stores did.
final class Tally: Sendable {
    let calls = Atomic<Int>(0)
    let direct = Atomic<Int>(0)
    let held = Atomic<Int>(0)
}
