import Foundation
import Testing

/// `steward consent` as a user runs it: the built binary, its output and exit codes.
extension CLITests {
    @Test func consentShowListsEveryPurposeOfTheBundledManifestWithItsBasis() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(["consent", "show", "--json", "--data-dir", dir])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let purposes = try #require(json["purposes"] as? [[String: Any]])
        let states = Dictionary(
            uniqueKeysWithValues: purposes.map { ($0["purpose"] as? String ?? "", $0["state"] as? String ?? "") })
        #expect(
            states == [
                "serviceProvision": "granted", "deviceAuthentication": "granted", "crashReporting": "pending",
                "analytics": "pending", "personalization": "pending", "pushNotifications": "pending",
            ])
    }

    @Test func grantDenyAndHistoryLeaveAnIntactReceiptChain() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["consent", "grant", "analytics", "crashReporting", "--data-dir", dir]).status == 0)
        let deny = try run(["consent", "deny", "analytics", "--data-dir", dir])
        #expect(deny.status == 0)
        #expect(deny.stdout.contains("analytics") && deny.stdout.contains("denied"))
        let history = try run(["consent", "history", "--data-dir", dir])
        #expect(history.stdout.contains("analytics granted→denied"))
        #expect(history.stdout.contains("Receipt chain: 3 receipt(s), intact."))
        let json = try run(["consent", "history", "--json", "--data-dir", dir])
        let receipts = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(receipts.count == 3)
        #expect(receipts.map { $0["actor"] as? String } == ["default", "user", "user"])
    }

    @Test func denyingAnEssentialPurposeFailsWithItsLegalBasis() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let result = try run(["consent", "deny", "serviceProvision", "--data-dir", dir])
        #expect(result.status != 0)
        #expect(result.stderr.contains("necessaryForService") && result.stderr.contains("cannot be denied"))
    }

    @Test func theAgeGateDeniesConsentPurposesUntilAGuardianGrants() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["consent", "grant", "analytics", "--data-dir", dir]).status == 0)
        let age = try run(["consent", "age", "13", "--jurisdiction", "CN", "--data-dir", dir])
        #expect(age.status == 0)
        #expect(age.stdout.contains("(minimum 14): below"))
        let child = try run(["consent", "grant", "analytics", "--data-dir", dir])
        #expect(child.status != 0)
        #expect(child.stderr.contains("only a guardian"))
        let guardian = try run(["consent", "grant", "analytics", "--by", "guardian", "--json", "--data-dir", dir])
        #expect(guardian.status == 0)
        #expect(guardian.stdout.contains("\"ageSignal\" : \"guardianConsent\""))
    }

    @Test func aMalformedManifestIsReportedWithEveryProblemAndItsPath() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let manifest = dir + "/bad.json"
        try Data(
            #"{"policyVersion": "", "purposes": [{"id": "analytics", "description": "x", "legalBasis": "vibes"}], "dataCategories": []}"#
                .utf8
        )
        .write(to: URL(fileURLWithPath: manifest))
        let result = try run(["consent", "--manifest", manifest, "--data-dir", dir + "/data"])
        #expect(result.status != 0)
        #expect(result.stderr.contains("$.purposes[0].legalBasis"))
        #expect(result.stderr.contains("$.policyVersion"))
        #expect(
            !FileManager.default.fileExists(atPath: dir + "/data"),
            "nothing is created for a manifest that does not load")
    }
}
