import Foundation
import Testing

/// The documentation's Swift blocks are compiled by this target (scripts/snippets.sh puts one
/// file per block in Generated/ before `make test` builds). This test makes sure none was
/// left out: every ```swift fence of README.md and Documentation/*.md has its file, or is
/// listed as skipped with a reason.
@Suite struct DocSnippetTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let generated = root.appendingPathComponent("Tests/DocSnippetTests/Generated")

    /// `DOC_LINE` for every ```swift fence (DOC without `Documentation/` and `.md`).
    static func fences() throws -> [String] {
        let documentation = root.appendingPathComponent("Documentation")
        let docs =
            [root.appendingPathComponent("README.md")]
            + (try FileManager.default.contentsOfDirectory(at: documentation, includingPropertiesForKeys: nil))
            .filter { $0.pathExtension == "md" }
        var found: [String] = []
        for doc in docs {
            let name = doc.deletingPathExtension().lastPathComponent
            let lines = try String(contentsOf: doc, encoding: .utf8).components(separatedBy: "\n")
            var inBlock = false
            for (index, line) in lines.enumerated() {
                // A fence: three backticks and an info string without backticks (a line such
                // as "``` ``Transport`` ```." is inline code).
                if inBlock {
                    if line.trimmingCharacters(in: .whitespaces) == "```" { inBlock = false }
                } else if line.hasPrefix("```"), !line.dropFirst(3).contains("`") {
                    inBlock = true
                    if line.trimmingCharacters(in: .whitespaces) == "```swift" { found.append("\(name)_\(index + 1)") }
                }
            }
        }
        return found.sorted()
    }

    @Test func everySwiftBlockOfTheDocumentationIsCompiledOrSkippedWithAReason() throws {
        let fences = try Self.fences()
        #expect(fences.count > 30, "the README and the guides hold dozens of Swift blocks")
        guard FileManager.default.fileExists(atPath: Self.generated.path) else {
            Issue.record("Generated/ is missing: run scripts/snippets.sh (make test does) before building")
            return
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.generated.path)
            .filter { $0.hasSuffix(".swift") && $0 != "Skipped.swift" }.map { String($0.dropLast(6)) }
        let skipped = try String(contentsOf: Self.generated.appendingPathComponent("Skipped.swift"), encoding: .utf8)
            .split(separator: "\n").filter { $0.hasPrefix("// skipped ") }.map { line -> String in
                // "// skipped Documentation/Testing.md:145: why" → "Testing_145"
                let parts = line.dropFirst("// skipped ".count).split(separator: ":", maxSplits: 2)
                let doc = URL(fileURLWithPath: String(parts[0])).deletingPathExtension().lastPathComponent
                #expect(parts.count == 3 && !parts[2].trimmingCharacters(in: .whitespaces).isEmpty, "a reason: \(line)")
                return "\(doc)_\(parts.count > 1 ? String(parts[1]) : "")"
            }
        #expect((files + skipped).sorted() == fences)
    }
}
