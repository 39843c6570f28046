import Foundation
@testable import StewardCrash
import Testing

@Suite struct SentrySessionTests {
    let started = Date(timeIntervalSince1970: 1_795_000_000)
    let now = Date(timeIntervalSince1970: 1_795_000_060.125)

    @Test(arguments: SentrySession.Status.allCases)
    func everyStatusEncodesPerTheSessionSpecification(_ status: SentrySession.Status) throws {
        let session = SentrySession(
            id: "7c7b6585-f901-4351-bf8d-02711b721929", distinctID: "d-5f1e0c", isInitial: true,
            started: started, timestamp: now, status: status, errors: 0, duration: 60.125,
            release: "scanner@1.4.2", environment: "staging")
        #expect(
            session.payload() == [
                "sid": "7c7b6585-f901-4351-bf8d-02711b721929",
                "did": "d-5f1e0c",
                "init": true,
                "started": "2026-11-18T11:06:40.000Z",
                "timestamp": "2026-11-18T11:07:40.125Z",
                "status": .string(status.rawValue),
                // A crash is always an error too.
                "errors": status == .crashed ? 1 : 0,
                "duration": 60.125,
                "attrs": ["release": "scanner@1.4.2", "environment": "staging"],
            ])
        let item = session.envelopeItem
        #expect(item.type == "session")
        #expect(try SentryJSON.parse(item.payload) == session.payload())
    }

    @Test func statusNamesAreSentrys() {
        #expect(SentrySession.Status.allCases.map(\.rawValue) == ["ok", "exited", "crashed", "abnormal"])
    }

    @Test func minimalSessionLeavesOptionalFieldsOutAndDefaultsTheEnvironment() {
        let session = SentrySession(
            id: "7c7b6585f9014351bf8d02711b721929", started: started, status: .ok, release: "app@1")
        #expect(
            session.payload() == [
                "sid": "7c7b6585f9014351bf8d02711b721929",
                "init": false,
                "started": "2026-11-18T11:06:40.000Z",
                "status": "ok",
                "errors": 0,
                "attrs": ["release": "app@1", "environment": "production"],
            ])
        #expect(
            session.envelopeItem.payload
                == Array(
                    #"{"attrs":{"environment":"production","release":"app@1"},"errors":0,"init":false,"sid":"7c7b6585f9014351bf8d02711b721929","started":"2026-11-18T11:06:40.000Z","status":"ok"}"#
                        .utf8))
    }

    @Test func erroredSessionKeepsItsCount() {
        let session = SentrySession(id: "s", started: started, status: .exited, errors: 3, release: "app@1")
        #expect(session.payload()["errors"] == 3)
    }

    @Test func crashedUpdateForAReportCountsTheCrashAndItsDuration() throws {
        let update = try #require(
            SentrySession.crashed(
                for: SentryFixture.crash, started: SentryFixture.launchTime,
                isInitial: true, errors: 2))
        #expect(update.status == .crashed)
        #expect(update.errors == 3)
        #expect(update.isInitial)
        #expect(update.duration == 2.5)
        #expect(update.distinctID == "d-5f1e0c")
        #expect(update.timestamp == SentryFixture.crashTime)
        #expect(update.release == "scanner@1.4.2")
    }

    @Test func crashedUpdateNeedsASessionIDAndARelease() {
        var report = SentryFixture.crash
        report.context.release = nil
        #expect(SentrySession.crashed(for: report, started: started, isInitial: false) == nil)
        report = SentryFixture.crash
        report.context.sessionID = nil
        #expect(SentrySession.crashed(for: report, started: started, isInitial: false) == nil)
    }

    @Test func datesBeforeTheEpochAndOnLeapDaysFormatInUTC() {
        let before = SentrySession(id: "s", started: Date(timeIntervalSince1970: -0.5), status: .ok, release: "r")
        #expect(before.payload()["started"] == "1969-12-31T23:59:59.500Z")
        let leap = SentrySession(
            id: "s", started: Date(timeIntervalSince1970: 951_782_400.999), status: .ok, release: "r")
        #expect(leap.payload()["started"] == "2000-02-29T00:00:00.999Z")
    }

    @Test func datesFromDamagedRecordsAreClampedInsteadOfTrapping() {
        let far = SentrySession(id: "s", started: Date(timeIntervalSince1970: .infinity), status: .ok, release: "r")
        #expect(far.payload()["started"] == "9999-12-31T23:59:59.999Z")
        let early = SentrySession(id: "s", started: Date(timeIntervalSince1970: -1e300), status: .ok, release: "r")
        #expect(early.payload()["started"] == "0001-01-01T00:00:00.000Z")
        let nan = SentrySession(id: "s", started: Date(timeIntervalSince1970: .nan), status: .ok, release: "r")
        #expect(nan.payload()["started"] == "1970-01-01T00:00:00.000Z")
    }
}
