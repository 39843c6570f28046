import Foundation
import Testing

/// `steward disclose` as a user runs it: the built binary, its output and exit codes.
extension CLITests {
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
    }

    /// The bundled manifest's JSON, parsed, for the ids the disclosure must list.
    static func exampleManifestJSON() throws -> [String: Any] {
        let data = try Data(contentsOf: repositoryRoot.appendingPathComponent("Examples/steward/example-manifest.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    static func ids(_ list: Any?, _ key: String = "id") -> [String] {
        (list as? [[String: Any]] ?? []).compactMap { $0[key] as? String }
    }

    @Test func theCommittedExampleDisclosureIsWhatDiscloseGeneratesNow() throws {
        let committed = try String(
            contentsOf: Self.repositoryRoot.appendingPathComponent("Documentation/ExampleDisclosure.md"),
            encoding: .utf8)
        let result = try run(["disclose", "--data-dir", temporaryDirectory()])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(
            result.stdout == committed,
            """
            Documentation/ExampleDisclosure.md is out of date; regenerate it with
            swift run steward disclose > Documentation/ExampleDisclosure.md
            """)
    }

    @Test func discloseJSONListsExactlyTheBundledManifestsItems() throws {
        let dir = temporaryDirectory()
        let result = try run(["disclose", "--format", "json", "--data-dir", dir])
        #expect(result.status == 0, "\(result.stderr)")
        let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let manifest = try Self.exampleManifestJSON()
        #expect(Self.ids(json["dataCategories"]) == Self.ids(manifest["dataCategories"]))
        #expect(Self.ids(json["purposes"]) == Self.ids(manifest["purposes"]))
        #expect(Self.ids(json["recipients"]) == Self.ids(manifest["recipients"]))
        #expect(Self.ids(json["permissions"], "permission") == Self.ids(manifest["permissions"], "permission"))
        #expect(Self.ids(json["events"], "name") == Self.ids(manifest["events"], "name"))
        #expect(!FileManager.default.fileExists(atPath: dir), "disclose reads no data and creates nothing")
        // --json is the same as --format json.
        #expect(try run(["disclose", "--json", "--data-dir", dir]).stdout == result.stdout)
    }

    @Test func discloseHTMLIsAStandaloneDocument() throws {
        let result = try run(["disclose", "--format", "html", "--data-dir", temporaryDirectory()])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasPrefix("<!DOCTYPE html>"))
        #expect(result.stdout.hasSuffix("</html>\n"))
        #expect(result.stdout.contains("<section id=\"crossBorder\">"))
    }

    @Test func discloseMarkdownIsTheDefault() throws {
        let dir = temporaryDirectory()
        let plain = try run(["disclose", "--data-dir", dir])
        let markdown = try run(["disclose", "--format", "markdown", "--data-dir", dir])
        #expect(plain.status == 0 && markdown.status == 0)
        #expect(plain.stdout == markdown.stdout)
        #expect(plain.stdout.hasPrefix("# Privacy disclosure"))
    }

    @Test func discloseOutputWritesTheFileAndPrintsNothing() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/disclosure.html"
        let result = try run(["disclose", "--format", "html", "--output", file, "--data-dir", dir + "/data"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.isEmpty)
        let written = try String(contentsOfFile: file, encoding: .utf8)
        #expect(written == (try run(["disclose", "--format", "html", "--data-dir", dir + "/data"])).stdout)
    }

    @Test func aBadFormatIsAClearErrorAndNonZeroExit() throws {
        let result = try run(["disclose", "--format", "pdf", "--data-dir", temporaryDirectory()])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("'pdf' is invalid"))
        for format in ["markdown", "html", "json"] { #expect(result.stderr.contains("'\(format)'")) }
    }

    @Test func jsonAndAnotherFormatConflict() throws {
        let result = try run(["disclose", "--json", "--format", "html", "--data-dir", temporaryDirectory()])
        #expect(result.status != 0)
        #expect(result.stderr.contains("--json"))
    }

    @Test func aBrokenManifestFileListsEveryProblem() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var manifest = try Self.exampleManifestJSON()
        manifest["policyVersion"] = ""
        var categories = try #require(manifest["dataCategories"] as? [[String: Any]])
        categories[0]["purposes"] = ["analytic"]
        categories[1]["retentionDays"] = -1
        manifest["dataCategories"] = categories
        manifest["unexpected"] = true
        let file = dir + "/manifest.json"
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: file))
        let result = try run(["disclose", "--manifest", file, "--data-dir", dir + "/data"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        for path in [
            "$.policyVersion", "$.dataCategories[0].purposes[0]", "$.dataCategories[1].retentionDays", "$.unexpected",
        ] {
            #expect(result.stderr.contains(path + ":"), "\(path) in \(result.stderr)")
        }
        #expect(result.stderr.contains("4 problems"))
    }

    @Test func aManifestMissingWhatTheSDKStoresGivesNoDisclosure() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var manifest = try Self.exampleManifestJSON()
        let categories = try #require(manifest["dataCategories"] as? [[String: Any]])
        manifest["dataCategories"] = categories.filter { $0["id"] as? String != "crashDiagnostics" }
        let file = dir + "/manifest.json"
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: file))
        let result = try run(["disclose", "--manifest", file, "--data-dir", dir + "/data"])
        #expect(result.status == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("crash module"))
        #expect(result.stderr.contains("\"crashDiagnostics\""))
    }

    @Test func theHomeRegionDecidesWhichRecipientsAreCrossBorder() throws {
        let manifest = try Self.exampleManifestJSON()
        let recipients = try #require(manifest["recipients"] as? [[String: Any]])
        for home in ["CN", "SG", "DE"] {
            let result = try run(["disclose", "--json", "--home-region", home, "--data-dir", temporaryDirectory()])
            #expect(result.status == 0, "\(result.stderr)")
            let json = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            let transfers = try #require(json["crossBorderTransfers"] as? [String: Any])
            let expected = recipients.filter { $0["region"] as? String != home }.compactMap { $0["id"] as? String }
            #expect(transfers["recipients"] as? [String] == expected, "home \(home)")
        }
        let bad = try run(["disclose", "--home-region", "Germany", "--data-dir", temporaryDirectory()])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("\"Germany\""))
    }
}
