import Foundation
import StewardCore
import Testing

@Suite struct VersionTests {
    /// The version the package exposes is the newest released one in CHANGELOG.md.
    @Test func theExposedVersionIsTheChangelogsNewest() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let changelog = try String(contentsOf: root.appendingPathComponent("CHANGELOG.md"), encoding: .utf8)
        let released = changelog.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("## ["), !line.hasPrefix("## [Unreleased]"), let close = line.firstIndex(of: "]")
            else { return nil }
            return String(line[line.index(line.startIndex, offsetBy: 4)..<close])
        }
        #expect(released.first == StewardVersion.current)
        let parts = StewardVersion.current.split(separator: ".")
        #expect(parts.count == 3 && parts.allSatisfy { UInt($0) != nil }, "MAJOR.MINOR.PATCH")
    }
}
