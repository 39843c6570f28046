import Foundation
import Testing
@testable import StewardCrash

@Suite struct SymbolicationScrubberTests {
    static let cases: [(String, String)] = [
        ("/home/ana/app/main.swift", "~/app/main.swift"),
        ("/home/ana", "~"),
        ("/home/ana/", "~/"),
        ("could not open /home/ana/notes.txt: denied", "could not open ~/notes.txt: denied"),
        ("'/home/ana/x'", "'~/x'"),
        ("path=/home/ana/x", "path=~/x"),
        ("/home/anastasia/x", "~/x"),                         // another user's home
        ("/home/bob/.cache/lib.so", "~/.cache/lib.so"),
        ("/root/build/app", "~/build/app"),
        ("/root", "~"),
        ("/rooted/x", "/rooted/x"),
        ("/mnt/home/bob/x", "/mnt/home/<user>/x"),
        ("/usr/lib/libc.so.6", "/usr/lib/libc.so.6"),
        ("user ana logged in", "user <user> logged in"),
        ("ana", "<user>"),
        ("/srv/ana/data", "/srv/<user>/data"),
        ("ana.txt and ana-laptop", "<user>.txt and <user>-laptop"),
        ("banana anagram Ana", "banana anagram Ana"),          // not whole words; case-sensitive
        ("ana_x xana", "ana_x xana"),
        ("", ""),
        ("héllo ana ✓", "héllo <user> ✓"),
    ]

    @Test(arguments: cases)
    func scrubsHomeDirectoriesAndTheUserName(input: String, expected: String) {
        let scrubber = Scrubber(homeDirectory: "/home/ana/", userName: "ana")
        #expect(scrubber.scrub(input) == expected)
    }

    @Test func scrubsAHomeDirectoryOutsideHome() {
        let scrubber = Scrubber(homeDirectory: "/var/lib/svc-steward", userName: "svc-steward")
        #expect(scrubber.scrub("/var/lib/svc-steward/cache/x") == "~/cache/x")
        #expect(scrubber.scrub("/var/lib/svc-stewardx/cache") == "/var/lib/svc-stewardx/cache")
        #expect(scrubber.scrub("run by svc-steward today") == "run by <user> today")
    }

    @Test(arguments: ["al", "", "x"])
    func leavesShortUserNamesAlone(name: String) {
        let scrubber = Scrubber(homeDirectory: nil, userName: name)
        #expect(scrubber.userName == nil)
        #expect(scrubber.scrub("al x said hi") == "al x said hi")
        #expect(scrubber.scrub("/home/al/x") == "~/x")
    }

    @Test func aRootHomeDirectoryIsNotAPrefixOfEverything() {
        let scrubber = Scrubber(homeDirectory: "/", userName: "root")
        #expect(scrubber.homeDirectory == nil)
        #expect(scrubber.scrub("/usr/lib/x") == "/usr/lib/x")
        #expect(scrubber.scrub("/root/x by root") == "~/x by <user>")
    }

    @Test func scrubsEveryPathAndTextOfAReport() {
        let scrubber = Scrubber(homeDirectory: "/home/ana", userName: "ana")
        let frame = StackFrame(instructionAddress: 1, function: "main", package: "/home/ana/bin/app",
                               filename: "/home/ana/src/main.swift", line: 3)
        let report = CrashReport(
            id: "0", timestamp: .init(timeIntervalSince1970: 0), handled: true,
            error: CrashError(type: "E", message: "ana failed at /home/ana/x"),
            crashedThread: CrashThread(id: 1, name: "ana-worker", frames: [frame]),
            images: [BinaryImage(path: "/home/ana/bin/app", start: 0, end: 1)],
            breadcrumbs: [Breadcrumb(timestamp: .init(timeIntervalSince1970: 0), category: "file",
                                     message: "opened /home/ana/a", data: ["who": "ana"])])
        let scrubbed = scrubber.scrub(report: report)
        #expect(scrubbed.crashedThread.frames[0].package == "~/bin/app")
        #expect(scrubbed.crashedThread.frames[0].filename == "~/src/main.swift")
        #expect(scrubbed.crashedThread.name == "<user>-worker")
        #expect(scrubbed.images[0].path == "~/bin/app")
        #expect(scrubbed.error?.message == "<user> failed at ~/x")
        #expect(scrubbed.breadcrumbs[0].message == "opened ~/a")
        #expect(scrubbed.breadcrumbs[0].data == ["who": "<user>"])
    }
}
