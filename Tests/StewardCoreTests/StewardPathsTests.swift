import Testing
@testable import StewardCore

/// Where the data folder goes by default, and that there is no shared fallback.
@Suite struct StewardPathsTests {
    @Test func xdgDataHomeComesFirstAndARelativeOneIsIgnored() throws {
        #expect(
            try StewardPaths.defaultDataDirectory(
                appID: "org.a.b", environment: ["XDG_DATA_HOME": "/x/data/", "HOME": "/home/u"])
                == "/x/data/steward/org.a.b")
        #expect(
            try StewardPaths.defaultDataDirectory(
                appID: "org.a.b", environment: ["XDG_DATA_HOME": "data", "HOME": "/home/u"])
                == "/home/u/.local/share/steward/org.a.b")
    }

    @Test func withoutHomeThePasswordDatabaseGivesTheFolder() throws {
        let path = try StewardPaths.defaultDataDirectory(
            appID: "org.a.b", environment: [:], passwordDatabaseHome: { "/var/lib/svc" })
        #expect(path == "/var/lib/svc/.local/share/steward/org.a.b")
    }

    @Test func withNoHomeAnywhereTheErrorNamesTheWaysToGiveOneAndNothingFallsBackToTmp() {
        for home in [nil, "", "relative", "/"] as [String?] {
            #expect(throws: NoDataDirectoryError.self) {
                try StewardPaths.defaultDataDirectory(
                    appID: "org.a.b", environment: ["HOME": "rel"], passwordDatabaseHome: { home })
            }
        }
        let text = NoDataDirectoryError().description
        #expect(text.contains("XDG_DATA_HOME") && text.contains("--data-dir") && text.contains("dataDirectory"))
    }
}
