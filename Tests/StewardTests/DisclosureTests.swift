import Foundation
import Steward
import StewardCore
import StewardTesting
import Testing

/// The generated disclosure: exactly the manifest's items, escaped, refused when it would be
/// wrong.
@Suite struct DisclosureTests {
    // MARK: Inputs

    /// The CLI's bundled example manifest, read from the source tree.
    static func exampleManifest() throws -> PrivacyManifest {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("Examples/steward/example-manifest.json"))
        return try PrivacyManifest.decode(json: Array(data))
    }

    /// A valid manifest with random purposes, categories, recipients, permissions and events,
    /// each with a unique description, that declares what Steward's modules need.
    static func randomManifest(seed: UInt64) -> PrivacyManifest {
        var rng = SplitMix64(seed: seed)
        func token() -> String { String(rng.next(), radix: 36) }
        var purposes: [PurposeDeclaration] = [
            .init(id: .crashReporting, description: "Crash reports \(token())", legalBasis: .consent),
            .init(id: .deviceAuthentication, description: "Sign-in \(token())", legalBasis: .necessaryForService),
        ]
        for index in 0..<rng.int(in: 0...6) {
            let basis = LegalBasis.allCases[rng.int(in: 0..<LegalBasis.allCases.count)]
            purposes.append(
                .init(id: Purpose("purpose\(index)"), description: "Purpose \(index) \(token())", legalBasis: basis))
        }
        let regions = ["CN", "DE", "SG", "US"]
        var recipients: [RecipientDeclaration] = []
        for index in 0..<rng.int(in: 0...6) {
            recipients.append(
                .init(
                    id: RecipientID("recipient\(index)"), name: "Recipient \(index) \(token())",
                    role: rng.int(in: 0...3) == 0 ? .thirdParty : .processor,
                    region: regions[rng.int(in: 0..<regions.count)], endpointHosts: ["r\(index).example.com"]))
        }
        func subset<T>(_ all: [T], atLeastOne: Bool) -> [T] {
            let picked = all.filter { _ in rng.int(in: 0...1) == 0 }
            return picked.isEmpty && atLeastOne && !all.isEmpty ? [all[rng.int(in: 0..<all.count)]] : picked
        }
        var categories: [DataCategoryDeclaration] = [
            .init(
                id: .crashDiagnostics, description: "Crash data \(token())", purposes: [.crashReporting],
                retentionDays: 90,
                sensitivity: .personal, leavesDevice: false),
            .init(
                id: .deviceIdentifiers, description: "Identifiers \(token())", purposes: [.deviceAuthentication],
                sensitivity: .sensitive, leavesDevice: false),
        ]
        for index in 0..<rng.int(in: 1...8) {
            var chosen = subset(purposes.map(\.id), atLeastOne: true)
            let sentTo = subset(recipients, atLeastOne: false)
            // A third party needs a consent-based purpose (validation).
            if sentTo.contains(where: { $0.role == .thirdParty }), !chosen.contains(.crashReporting) {
                chosen.append(.crashReporting)
            }
            let retention: Int? = [nil, 0, rng.int(in: 1...3650)][rng.int(in: 0...2)]
            categories.append(
                .init(
                    id: DataCategory("category\(index)"), description: "Category \(index) \(token())",
                    purposes: chosen, retentionDays: retention,
                    sensitivity: Sensitivity.allCases[rng.int(in: 0..<Sensitivity.allCases.count)],
                    leavesDevice: !sentTo.isEmpty, recipients: sentTo.map(\.id)))
        }
        var permissions: [PermissionDeclaration] = []
        for index in 0..<rng.int(in: 0...4) {
            permissions.append(
                .init(
                    permission: Permission("permission\(index)"), rationale: "Rationale \(index) \(token())",
                    purposes: subset(purposes.map(\.id), atLeastOne: true)))
        }
        var events: [EventDeclaration] = []
        for index in 0..<rng.int(in: 0...3) {
            let category = categories[rng.int(in: 0..<categories.count)]
            events.append(
                .init(
                    name: EventName("event\(index)"), purpose: category.purposes[0], category: category.id,
                    attributes: [
                        .init(name: "id", type: .string, classification: .identifier),
                        .init(name: "where", type: .location, classification: .quasiIdentifier),
                    ]))
        }
        let controller: Controller? =
            rng.int(in: 0...1) == 0 ? nil : .init(name: "Controller \(token())", contact: "privacy@example.com")
        return PrivacyManifest(
            policyVersion: "v\(seed)", controller: controller, purposes: purposes, dataCategories: categories,
            recipients: recipients, permissions: permissions,
            minimumAges: [.init(jurisdiction: "CN", age: rng.int(in: 13...16))], events: events)
    }

    static func manifests() throws -> [(name: String, manifest: PrivacyManifest)] {
        try [("example", exampleManifest())] + (1...12).map { ("random seed \($0)", randomManifest(seed: UInt64($0))) }
    }

    // MARK: Helpers

    /// The Markdown's `## ` sections, by title.
    static func markdownSections(_ markdown: String) -> [String: String] {
        var sections: [String: String] = [:]
        for chunk in markdown.components(separatedBy: "\n## ").dropFirst() {
            let title = String(chunk.prefix { $0 != "\n" })
            sections[title] = String(chunk.dropFirst(title.count))
        }
        return sections
    }

    /// The HTML's `<section>` elements, by id.
    static func htmlSections(_ html: String) -> [String: String] {
        var sections: [String: String] = [:]
        for chunk in html.components(separatedBy: "<section id=\"").dropFirst() {
            let id = String(chunk.prefix { $0 != "\"" })
            sections[id] = String(chunk.prefix(while: { _ in true }).components(separatedBy: "</section>")[0])
        }
        return sections
    }

    static func occurrences(of needle: String, in text: String?) -> Int {
        guard let text, !needle.isEmpty else { return 0 }
        return text.components(separatedBy: needle).count - 1
    }

    /// `text` as HTML content: the five characters the renderer escapes.
    static func htmlEscaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
            .replacingOccurrences(of: "'", with: "&#39;")
    }

    static func jsonObject(_ disclosure: Disclosure) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(try disclosure.json().utf8)) as? [String: Any])
    }

    static func strings(_ list: Any?, _ key: String) -> [String] {
        (list as? [[String: Any]] ?? []).compactMap { $0[key] as? String }
    }

    // MARK: Exactly the manifest's items

    @Test func jsonListsExactlyTheManifestsCategoriesPurposesRecipientsPermissionsAndEvents() throws {
        for (name, manifest) in try Self.manifests() {
            #expect(manifest.validate().isEmpty, "\(name) is valid")
            let json = try Self.jsonObject(try Disclosure(manifest: manifest))
            #expect(Self.strings(json["dataCategories"], "id") == manifest.dataCategories.map(\.id.rawValue), "\(name)")
            #expect(
                Self.strings(json["dataCategories"], "description") == manifest.dataCategories.map(\.description),
                "\(name)")
            #expect(Self.strings(json["purposes"], "id") == manifest.purposes.map(\.id.rawValue), "\(name)")
            #expect(Self.strings(json["purposes"], "description") == manifest.purposes.map(\.description), "\(name)")
            #expect(
                Self.strings(json["purposes"], "legalBasis") == manifest.purposes.map(\.legalBasis.rawValue), "\(name)")
            #expect(Self.strings(json["recipients"], "id") == manifest.recipients.map(\.id.rawValue), "\(name)")
            #expect(Self.strings(json["recipients"], "name") == manifest.recipients.map(\.name), "\(name)")
            #expect(
                Self.strings(json["permissions"], "permission") == manifest.permissions.map(\.permission.rawValue),
                "\(name)")
            #expect(Self.strings(json["permissions"], "rationale") == manifest.permissions.map(\.rationale), "\(name)")
            #expect(Self.strings(json["events"], "name") == manifest.events.map(\.name.rawValue), "\(name)")
            // Each category's purposes and recipients, and each recipient's categories, as declared.
            for (entry, declared) in zip(json["dataCategories"] as? [[String: Any]] ?? [], manifest.dataCategories) {
                #expect(entry["purposes"] as? [String] == declared.purposes.map(\.rawValue))
                #expect(entry["recipients"] as? [String] == declared.recipients.map(\.rawValue))
                #expect(entry["leavesDevice"] as? Bool == declared.leavesDevice)
            }
            for (entry, declared) in zip(json["recipients"] as? [[String: Any]] ?? [], manifest.recipients) {
                let receives = manifest.dataCategories.filter { $0.recipients.contains(declared.id) }.map(\.id.rawValue)
                #expect(entry["categories"] as? [String] == receives)
            }
        }
    }

    @Test func markdownAndHTMLShowEachDescriptionOnceInItsSection() throws {
        for (name, manifest) in try Self.manifests() {
            let disclosure = try Disclosure(manifest: manifest)
            let markdown = disclosure.markdown(), html = disclosure.html()
            let md = Self.markdownSections(markdown), web = Self.htmlSections(html)
            let cases: [(texts: [String], markdownSection: String, htmlSection: String)] = [
                (manifest.dataCategories.map(\.description), "What we collect", "collected"),
                (manifest.purposes.map(\.description), "Why we use it, and on what legal basis", "purposes"),
                (manifest.recipients.map(\.name), "Who receives it", "recipients"),
                (manifest.permissions.map(\.rationale), "Permissions we ask for", "permissions"),
            ]
            for (texts, markdownSection, htmlSection) in cases {
                #expect(md[markdownSection] != nil && web[htmlSection] != nil, "\(name): \(markdownSection)")
                for text in texts {
                    #expect(
                        Self.occurrences(of: text, in: md[markdownSection]) == 1,
                        "\(name): \(text) in \(markdownSection)")
                    #expect(
                        Self.occurrences(of: Self.htmlEscaped(text), in: web[htmlSection]) == 1,
                        "\(name): \(text) in \(htmlSection)")
                }
            }
            // Descriptions and rationales appear nowhere else.
            for text in manifest.dataCategories.map(\.description) + manifest.purposes.map(\.description)
                + manifest.permissions.map(\.rationale)
            {
                #expect(Self.occurrences(of: text, in: markdown) == 1, "\(name): \(text)")
                #expect(Self.occurrences(of: Self.htmlEscaped(text), in: html) == 1, "\(name): \(text)")
            }
            for category in manifest.dataCategories {
                #expect(
                    Self.occurrences(
                        of:
                            "`\(category.id.rawValue)` | \(disclosure.dataCategories.first { $0.id == category.id }?.retention ?? "?") |",
                        in: md["How long we keep it"]) == 1, "\(name): retention of \(category.id)")
            }
        }
    }

    @Test func htmlIsAStandaloneDocument() throws {
        let html = try Disclosure(manifest: try Self.exampleManifest()).html()
        #expect(html.hasPrefix("<!DOCTYPE html>\n<html lang=\"en\">"))
        #expect(html.contains("<meta charset=\"utf-8\">"))
        #expect(html.hasSuffix("</html>\n"))
        #expect(Self.occurrences(of: "<section", in: html) == Self.occurrences(of: "</section>", in: html))
        #expect(Self.occurrences(of: "<section", in: html) == Self.htmlSections(html).count)
    }

    @Test func jsonIsStableAndSorted() throws {
        let manifest = try Self.exampleManifest()
        let first = try Disclosure(manifest: manifest).json(), second = try Disclosure(manifest: manifest).json()
        #expect(first == second)
        let decoded = try JSONDecoder().decode(Disclosure.self, from: Data(first.utf8))
        #expect(decoded == (try Disclosure(manifest: manifest)))
        // Top-level keys in sorted order.
        let keys = first.split(separator: "\n").filter { $0.hasPrefix("  \"") }.map { $0.split(separator: "\"")[1] }
        #expect(keys == keys.sorted())
        #expect(keys.count == (try Self.jsonObject(decoded)).count)
    }

    @Test func jsonWrittenBeforeMetricsWereDisclosedStillDecodes() throws {
        var manifest = try Self.exampleManifest()
        manifest.metrics = []
        let json = try Disclosure(manifest: manifest).json()
        var object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        #expect(object.removeValue(forKey: "metrics") != nil, "the current JSON has the key")
        let older = try JSONSerialization.data(withJSONObject: object)
        let decoded = try JSONDecoder().decode(Disclosure.self, from: older)
        #expect(decoded.metrics.isEmpty)
        #expect(decoded == (try Disclosure(manifest: manifest)))
        // Any other key is still required: a truncated document is an error, not a default.
        object.removeValue(forKey: "rights")
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Disclosure.self, from: try JSONSerialization.data(withJSONObject: object))
        }
    }

    // MARK: Escaping

    @Test func hostileStringsAreEscapedInHTMLAndMarkdown() throws {
        let hostile = #"<script>alert("x&y")</script> 'q' [link](http://evil) *b*"#
        var manifest = try Self.exampleManifest()
        manifest.controller = Controller(name: hostile, contact: hostile, address: hostile)
        manifest.purposes[0].description = hostile + " purpose"
        manifest.dataCategories[0].description = hostile + " category"
        manifest.recipients[0].name = hostile + " recipient"
        manifest.permissions[0].rationale = hostile + " permission"
        #expect(manifest.validate().isEmpty)
        let disclosure = try Disclosure(manifest: manifest)

        let html = disclosure.html()
        #expect(!html.contains("<script"))
        #expect(!html.contains("x&y"))
        #expect(!html.contains("'q'"))
        let escaped = "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt; &#39;q&#39;"
        for suffix in [" purpose", " category", " recipient", " permission"] {
            #expect(html.contains(escaped + " [link](http://evil) *b*" + suffix), "\(suffix)")
        }
        #expect(html.contains("<title>Privacy disclosure — \(escaped)"))

        let markdown = disclosure.markdown()
        // Every markup character is backslash-escaped: none is left bare.
        #expect(!markdown.replacingOccurrences(of: "\\<", with: "").contains("<script"))
        #expect(!markdown.contains(" [link]"))
        #expect(markdown.contains(#"\<script\>alert("x\&y")\</script\> 'q' \[link\](http://evil) \*b\* category"#))

        let json = try Self.jsonObject(disclosure)
        #expect(Self.strings(json["dataCategories"], "description").first == hostile + " category")
    }

    // MARK: Refusals

    @Test func anInvalidManifestGivesEveryProblem() throws {
        var manifest = try Self.exampleManifest()
        manifest.policyVersion = ""
        manifest.dataCategories[1].purposes.append("analytic")
        manifest.recipients[2].region = nil
        manifest.permissions[0].rationale = ""
        let expected = manifest.validate()
        #expect(expected.count >= 4)
        let error = try #require(throws: DisclosureError.self) { try Disclosure(manifest: manifest) }
        #expect(error.code == .invalidManifest)
        #expect(error.problems == expected)
        for problem in expected { #expect(error.description.contains(problem.description)) }
    }

    @Test func invalidAndUndeclaredProblemsAreReportedTogether() throws {
        var manifest = try Self.exampleManifest()
        manifest.policyVersion = ""
        manifest.dataCategories.removeAll { $0.id == .crashDiagnostics }
        let error = try #require(throws: DisclosureError.self) { try Disclosure(manifest: manifest) }
        #expect(error.code == .invalidManifest)
        #expect(error.problems.contains { $0.path == "$.policyVersion" })
        #expect(
            error.problems.contains { $0.path == "$.dataCategories" && $0.message.contains("\"crashDiagnostics\"") })
    }

    @Test func aManifestMissingACategoryTheCrashModuleStoresIsRefused() throws {
        var manifest = try Self.exampleManifest()
        manifest.dataCategories.removeAll { $0.id == .crashDiagnostics }
        #expect(manifest.validate().isEmpty)
        let error = try #require(throws: DisclosureError.self) { try Disclosure(manifest: manifest) }
        #expect(error.code == .undeclaredCollection)
        #expect(error.problems.count == 1)
        #expect(error.problems.first?.message.contains("crash module") == true)
        #expect(error.problems.first?.message.contains("\"crashDiagnostics\"") == true)
        // Without the crash module, the same manifest is complete, and no crash bookkeeping is listed.
        let disclosure = try Disclosure(manifest: manifest, modules: [.device, .permissions, .telemetry])
        #expect(!disclosure.stewardRecords.contains { $0.category == .crashDiagnostics })
        #expect(
            try Disclosure(manifest: try Self.exampleManifest()).stewardRecords.contains {
                $0.category == .crashDiagnostics
            })
    }

    @Test func aCategoryThatDoesNotListThePurposeTheSDKStoresItForIsRefused() throws {
        var manifest = try Self.exampleManifest()
        let index = try #require(manifest.dataCategories.firstIndex { $0.id == .crashDiagnostics })
        manifest.dataCategories[index].purposes = [.analytics]
        #expect(manifest.validate().isEmpty)
        let error = try #require(throws: DisclosureError.self) { try Disclosure(manifest: manifest) }
        #expect(error.code == .undeclaredCollection)
        #expect(error.problems.map(\.path) == ["$.dataCategories[\(index)].purposes"])
    }

    @Test func declaringAdvertisingRequiresTheIdentifiersCategoryToListIt() throws {
        var manifest = try Self.exampleManifest()
        manifest.purposes.append(.init(id: .advertising, description: "Ads", legalBasis: .consent))
        let error = try #require(throws: DisclosureError.self) { try Disclosure(manifest: manifest) }
        #expect(error.problems.count == 1)
        #expect(error.problems.first?.message.contains("advertising ID") == true)
        let index = try #require(manifest.dataCategories.firstIndex { $0.id == .deviceIdentifiers })
        manifest.dataCategories[index].purposes.append(.advertising)
        _ = try Disclosure(manifest: manifest)
    }

    @Test func aTelemetryEventsCategoryAndPurposeMustBeDeclared() throws {
        var manifest = try Self.exampleManifest()
        manifest.events.append(.init(name: "extra", purpose: .analytics, category: .images))
        // Validation already refuses it (images is not for analytics); the disclosure reports both.
        let error = try #require(throws: DisclosureError.self) { try Disclosure(manifest: manifest) }
        #expect(error.problems.contains { $0.path.hasPrefix("$.events[") })
        #expect(error.problems.contains { $0.message.contains("the event \"extra\"") })
    }

    @Test func aBadHomeRegionIsAProblem() throws {
        let error = try #require(throws: DisclosureError.self) {
            try Disclosure(manifest: try Self.exampleManifest(), homeRegion: "china")
        }
        #expect(error.problems.count == 1)
        #expect(error.problems.first?.message.contains("\"china\"") == true)
    }

    // MARK: Wording per case

    static func singleCategoryManifest(retentionDays: Int?, basis: LegalBasis) -> PrivacyManifest {
        PrivacyManifest(
            policyVersion: "1",
            purposes: [.init(id: "thing", description: "The thing", legalBasis: basis)],
            dataCategories: [
                .init(
                    id: "stuff", description: "Some stuff", purposes: ["thing"], retentionDays: retentionDays,
                    sensitivity: .personal, leavesDevice: false)
            ])
    }

    @Test(
        arguments: [
            (nil, "until you delete it"), (0, "not stored"), (1, "1 day"), (30, "30 days"), (36_500, "36500 days"),
        ] as [(Int?, String)])
    func retentionIsWordedPerCase(days: Int?, words: String) throws {
        let disclosure = try Disclosure(
            manifest: Self.singleCategoryManifest(retentionDays: days, basis: .consent), modules: [])
        let entry = try #require(disclosure.dataCategories.first)
        #expect(entry.retentionDays == days)
        #expect(entry.retention.hasPrefix(words))
        #expect(disclosure.markdown().contains("- Kept: \(words)"))
        #expect(disclosure.html().contains("<li>Kept: \(words)"))
    }

    @Test(arguments: LegalBasis.allCases)
    func legalBasisIsWordedPerCase(basis: LegalBasis) throws {
        let disclosure = try Disclosure(
            manifest: Self.singleCategoryManifest(retentionDays: 1, basis: basis), modules: [])
        let purpose = try #require(disclosure.purposes.first)
        #expect(purpose.legalBasis == basis)
        #expect(purpose.canBeWithdrawn == (basis == .consent))
        #expect(purpose.legalBasisExplanation.contains("withdraw") == (basis == .consent))
        #expect(purpose.legalBasisExplanation.contains("object") == (basis == .legitimateInterest))
        let title =
            [
                "consent": "consent", "necessaryForService": "necessary for the service",
                "legalObligation": "legal obligation", "legitimateInterest": "legitimate interest",
            ][basis.rawValue] ?? "?"
        #expect(disclosure.markdown().contains("- Legal basis: **\(title)**. \(purpose.legalBasisExplanation)"))
        // Below the minimum age, only consent purposes are switched off.
        #expect(disclosure.children.purposesOffBelowMinimumAge == (basis == .consent ? ["thing"] : []))
        #expect(disclosure.children.purposesContinuing == (basis == .consent ? [] : ["thing"]))
        let withdraw = try #require(disclosure.rights.first { $0.id == "withdrawConsent" })
        #expect(withdraw.commands.contains { $0.command == "steward consent deny PURPOSE" } == (basis == .consent))
        let object = try #require(disclosure.rights.first { $0.id == "object" })
        #expect(object.description.contains("thing") == (basis == .legitimateInterest))
    }

    @Test func childrenListTheManifestsAgesThenTheBuiltInTable() throws {
        let manifest = try Self.exampleManifest()
        let children = try Disclosure(manifest: manifest).children
        let fromManifest = children.minimumAges.filter { $0.source == .manifest }
        #expect(fromManifest.map(\.jurisdiction) == manifest.minimumAges.map(\.jurisdiction))
        #expect(fromManifest.map(\.age) == manifest.minimumAges.map(\.age))
        let builtIn = children.minimumAges.filter { $0.source == .builtIn }
        #expect(
            Set(builtIn.map(\.jurisdiction))
                == Set(AgeGate.builtInMinimumAges.keys).subtracting(manifest.minimumAges.map(\.jurisdiction)))
        let gate = AgeGate(manifest: manifest)
        for entry in children.minimumAges { #expect(gate.minimumAge(in: entry.jurisdiction) == entry.age) }
        #expect(children.defaultMinimumAge == gate.defaultMinimumAge)
    }

    // MARK: Cross-border transfers

    @Test func crossBorderTransfersAreExactlyTheRecipientsOutsideTheHomeRegion() throws {
        for seed in UInt64(1)...20 {
            let manifest = Self.randomManifest(seed: seed)
            for home in ["CN", "DE", "SG", "US", "FR"] {
                let disclosure = try Disclosure(manifest: manifest, homeRegion: home)
                let expected = manifest.recipients.filter { $0.region != home }
                #expect(disclosure.crossBorderTransfers.recipients == expected.map(\.id), "seed \(seed), home \(home)")
                #expect(disclosure.crossBorderTransfers.homeRegion == home)
                #expect(!disclosure.crossBorderTransfers.homeRegionDerived)
                let section = Self.markdownSections(disclosure.markdown())["Cross-border transfers"]
                for recipient in manifest.recipients {
                    #expect(Self.occurrences(of: recipient.name, in: section) == (recipient.region != home ? 1 : 0))
                }
            }
        }
    }

    @Test func withoutAHomeRegionTheMostCommonRecipientRegionIsHome() throws {
        let disclosure = try Disclosure(manifest: try Self.exampleManifest())
        #expect(disclosure.crossBorderTransfers.homeRegion == "CN")
        #expect(disclosure.crossBorderTransfers.homeRegionDerived)
        #expect(disclosure.crossBorderTransfers.recipients == ["crashBackend"])
        #expect(
            Self.markdownSections(disclosure.markdown())["Cross-border transfers"]?.contains(
                "where most of our recipients process data") == true)

        // A tie goes to the first region alphabetically.
        var manifest = Self.singleCategoryManifest(retentionDays: 1, basis: .consent)
        manifest.recipients = [
            .init(id: "b", name: "B", role: .processor, region: "SG"),
            .init(id: "a", name: "A", role: .processor, region: "DE"),
        ]
        manifest.dataCategories[0].leavesDevice = true
        manifest.dataCategories[0].recipients = ["a", "b"]
        let tie = try Disclosure(manifest: manifest, modules: [])
        #expect(tie.crossBorderTransfers.homeRegion == "DE")
        #expect(tie.crossBorderTransfers.recipients == ["b"])
    }

    @Test func noRecipientsMeansNoTransfers() throws {
        let disclosure = try Disclosure(
            manifest: Self.singleCategoryManifest(retentionDays: 1, basis: .consent), modules: [])
        #expect(disclosure.crossBorderTransfers.homeRegion == nil)
        #expect(disclosure.crossBorderTransfers.recipients.isEmpty)
        #expect(disclosure.recipients.isEmpty)
    }

    // MARK: Steward's own records and security claims

    @Test func stewardsOwnRecordsFollowTheModulesInUse() throws {
        let manifest = try Self.exampleManifest()
        let all = try Disclosure(manifest: manifest)
        #expect(Set(all.stewardRecords.map(\.module)) == ["core", "permissions", "crash", "telemetry"])
        let none = try Disclosure(manifest: manifest, modules: [])
        #expect(Set(none.stewardRecords.map(\.module)) == ["core"])
        #expect(none.stewardRecords.allSatisfy { $0.category == .consentRecords })
        #expect(!none.securityMeasures.contains { $0.id == "crashReports" })
        #expect(all.securityMeasures.contains { $0.id == "crashReports" })
        #expect(all.securityMeasures.contains { $0.description.contains("AES-256-GCM") })
        #expect(all.securityMeasures.contains { $0.description.contains("0600") })
    }

    @Test func rightsNameTheCommandsAndTheControllersContact() throws {
        let manifest = try Self.exampleManifest()
        let disclosure = try Disclosure(manifest: manifest)
        #expect(disclosure.rights.map(\.id) == ["access", "export", "erase", "withdrawConsent", "object"])
        let commands = disclosure.rights.flatMap(\.commands).map(\.command)
        for command in ["steward consent deny PURPOSE", "steward export PATH", "steward erase"] {
            #expect(commands.contains(command))
        }
        let contact = try #require(manifest.controller?.contact)
        #expect(disclosure.rights.allSatisfy { $0.contact?.contains(contact) == true })
        let section = Self.markdownSections(disclosure.markdown())["Your rights and how to use them"]
        #expect(section?.contains("`steward export PATH`") == true)
    }
}
