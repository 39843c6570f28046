import Foundation
import Testing
@testable import StewardCore
import StewardTesting

@Suite struct AuditLedgerTests {
    let dir = NSTemporaryDirectory() + "steward-audit-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()
    // 2026-11-29T23:59:00Z: a minute before the UTC day changes.
    let clock = ManualWallClock(now: Date(timeIntervalSince1970: 1_795_996_740))

    func vault() throws -> Vault { try Vault.open(directory: dir, keyProvider: keys, clock: clock) }

    @Test func countsAreKeptPerUTCDayCategoryAndPurpose() throws {
        let audit = try AuditLedger(vault: nil, clock: clock)
        audit.recordCollected(.usageEvents, purpose: .analytics, count: 3)
        audit.recordDropped(.usageEvents, purpose: .analytics, reason: .consent)
        audit.recordDropped(.usageEvents, purpose: .analytics, reason: .sampling, count: 2)
        audit.recordDisclosed(.usageEvents, purpose: .analytics, recipient: "otlp", legalBasis: .consent, count: 3)
        audit.recordDisclosed(.crashDiagnostics, purpose: .crashReporting, recipient: "sentry", legalBasis: .consent)
        clock.advance(by: .seconds(60))
        audit.recordCollected(.usageEvents, purpose: .analytics)
        #expect(
            audit.entries() == [
                AuditEntry(
                    day: "2026-11-29", category: .crashDiagnostics, purpose: .crashReporting,
                    disclosed: [AuditDisclosure(recipient: "sentry", legalBasis: .consent, count: 1)]),
                AuditEntry(
                    day: "2026-11-29", category: .usageEvents, purpose: .analytics, collected: 3,
                    dropped: [.consent: 1, .sampling: 2],
                    disclosed: [AuditDisclosure(recipient: "otlp", legalBasis: .consent, count: 3)]),
                AuditEntry(day: "2026-11-30", category: .usageEvents, purpose: .analytics, collected: 1),
            ])
    }

    @Test(arguments: [
        (0.0, "1970-01-01"), (86_399.0, "1970-01-01"), (86_400.0, "1970-01-02"), (951_782_400.0, "2000-02-29"),
        (1_795_996_740.0, "2026-11-29"), (4_107_542_400.0, "2100-03-01"), (-1.0, "1969-12-31"),
    ])
    func theDayIsTheUTCCalendarDay(_ seconds: Double, _ day: String) {
        #expect(AuditLedger.day(Date(timeIntervalSince1970: seconds)) == day)
    }

    @Test func flushedCountsSurviveARestartAndAddUp() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            let v = try vault()
            let audit = try AuditLedger(vault: v, clock: clock)
            audit.recordCollected(.usageEvents, purpose: .analytics, count: 2)
            try audit.flush()
            audit.recordCollected(.usageEvents, purpose: .analytics, count: 5)
            audit.recordDropped(.usageEvents, purpose: .analytics, reason: .ageGate)
            try audit.flush()
            // never flushed: lost with the process
            audit.recordCollected(.usageEvents, purpose: .analytics, count: 100)
            try v.close()
        }
        let audit = try AuditLedger(vault: vault(), clock: clock)
        #expect(
            audit.entries() == [
                AuditEntry(
                    day: "2026-11-29", category: .usageEvents, purpose: .analytics, collected: 7, dropped: [.ageGate: 1]
                )
            ])
    }

    @Test func manySmallFlushesAreMergedIntoOneRecordWithTheSameSums() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = try vault()
        do {
            let audit = try AuditLedger(vault: v, clock: clock)
            for _ in 0..<20 {
                audit.recordDisclosed(
                    .crashDiagnostics, purpose: .crashReporting, recipient: "sentry", legalBasis: .consent)
                try audit.flush()
            }
        }
        #expect(try v.records(in: AuditLedger.collection).count == 20)
        let reopened = try AuditLedger(vault: v, clock: clock)
        #expect(try v.records(in: AuditLedger.collection).count == 1)
        #expect(
            reopened.entries().first?.disclosed == [
                AuditDisclosure(recipient: "sentry", legalBasis: .consent, count: 20)
            ])
        #expect(try AuditLedger(vault: v, clock: clock).entries() == reopened.entries())
    }

    @Test func auditRecordsAreKeptUnderStewardsOwnPurposeAndSurviveConsentPurges() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = try vault()
        let audit = try AuditLedger(vault: v, clock: clock)
        audit.recordCollected(.usageEvents, purpose: .analytics)
        try audit.flush()
        #expect(try v.purge(purpose: .analytics) == 0)
        let record = try #require(try v.records(in: AuditLedger.collection).first)
        #expect(record.purpose == .privacyCompliance)
        #expect(record.category == .consentRecords)
        #expect(record.expires != nil, "audit records have a retention")
    }

    @Test func aFlushWithNothingNewWritesNothing() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let v = try vault()
        let audit = try AuditLedger(vault: v, clock: clock)
        try audit.flush()
        #expect(try v.records(in: AuditLedger.collection).isEmpty)
    }
}
