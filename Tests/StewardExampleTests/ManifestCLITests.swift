import Foundation
import Testing

extension CLITests {
    @Test func manifestInitWritesACrashOnlyStarterThatChecksCleanForItsModules() throws {
        let folder = NSTemporaryDirectory() + "steward-manifest-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let file = folder + "/manifest.json"
        let written = try run(["manifest", "init", "--modules", "crash", "--output", file])
        #expect(written.status == 0, "\(written.stderr)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.contains("crashDiagnostics") && !text.contains("usageEvents"))
        let checked = try run(["manifest", "check", file, "--modules", "crash"])
        #expect(checked.status == 0 && checked.stdout.contains("no problems"), "\(checked.stdout)")
        // For every module, the same file lacks the device module's declarations.
        let all = try run(["manifest", "check", file])
        #expect(all.status == 1 && all.stdout.contains("deviceIdentifiers"), "\(all.stdout)")
        // Module problems are found after decoding; they too point into the file.
        let problems = all.stdout.split(separator: "\n").filter { $0.hasPrefix(file + ": ") }
        #expect(!problems.isEmpty)
        for problem in problems {
            #expect(problem.hasPrefix(file + ": line "), "\(problem)")
        }
        #expect(all.stdout.contains(": $.dataCategories"), "\(all.stdout)")
        // It refuses to overwrite.
        #expect(try run(["manifest", "init", "--output", file]).status != 0)
    }

    @Test func manifestCheckListsEveryProblemWithItsLineAndColumn() throws {
        let file = NSTemporaryDirectory() + "steward-manifest-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: file) }
        try "{\n \"policyVersion\": 1,\n \"purposes\": [ {\"id\": \"x\"} ]\n}\n".write(
            toFile: file, atomically: true, encoding: .utf8)
        let result = try run(["manifest", "check", file])
        #expect(result.status == 1)
        #expect(result.stdout.contains("line 2, column 19: $.policyVersion"), "\(result.stdout)")
        #expect(result.stdout.contains("line 3, column 16: $.purposes[0].legalBasis"))
        #expect(result.stdout.contains("4 problems."))
    }
}
