import Foundation
import Testing
@testable import StewardCrash
import StewardCore

@Suite struct SymbolicationScrubberTests {
    static let cases: [(String, String)] = [
        ("/home/ana/app/main.swift", "~/app/main.swift"),
        ("/home/ana", "~"),
        ("/home/ana/", "~/"),
        ("could not open /home/ana/notes.txt: denied", "could not open ~/notes.txt: denied"),
        ("'/home/ana/x'", "'~/x'"),
        ("path=/home/ana/x", "path=~/x"),
        ("/home/anastasia/x", "~/x"),  // another user's home
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
        ("banana anagram Ana", "banana anagram Ana"),  // not whole words; case-sensitive
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
        let frame = StackFrame(
            instructionAddress: 1, function: "main", package: "/home/ana/bin/app",
            filename: "/home/ana/src/main.swift", line: 3)
        let report = CrashReport(
            id: "0", timestamp: .init(timeIntervalSince1970: 0), handled: true,
            error: CrashError(type: "E", message: "ana failed at /home/ana/x"),
            crashedThread: CrashThread(id: 1, name: "ana-worker", frames: [frame]),
            images: [BinaryImage(path: "/home/ana/bin/app", start: 0, end: 1)],
            breadcrumbs: [
                Breadcrumb(
                    timestamp: .init(timeIntervalSince1970: 0), category: "file",
                    message: "opened /home/ana/a", data: ["who": "ana"])
            ])
        let scrubbed = scrubber.scrub(report: report)
        #expect(scrubbed.crashedThread.frames[0].package == "~/bin/app")
        #expect(scrubbed.crashedThread.frames[0].filename == "~/src/main.swift")
        #expect(scrubbed.crashedThread.name == "<user>-worker")
        #expect(scrubbed.images[0].path == "~/bin/app")
        #expect(scrubbed.error?.message == "<user> failed at ~/x")
        #expect(scrubbed.breadcrumbs[0].message == "opened ~/a")
        #expect(scrubbed.breadcrumbs[0].data == ["who": "<user>"])
    }

    @Test func identifiersAndSecretsBecomePlaceholdersInTextsButCodeIsLeftAlone() {
        let filter = IdentifierFilter(
            machineIDs: ["0123456789abcdef0123456789abcdef"], macAddresses: ["00:1b:21:aa:bb:cc"],
            hostNames: ["kiosk-07"], homeDirectory: "/home/ana", userName: "ana")
        let scrubber = Scrubber(homeDirectory: "/home/ana", userName: "ana", filter: filter)
        let frame = StackFrame(
            instructionAddress: 1, function: "Parser.token: next", package: "/opt/kiosk-07/bin/app", filename: nil,
            line: nil)
        let report = CrashReport(
            id: "0", timestamp: .init(timeIntervalSince1970: 0), handled: true,
            error: CrashError(
                type: "E", message: "upload to 10.0.0.7 failed for 01234567-89ab-cdef-0123-456789abcdef, api_key=s3cr3t"
            ),
            crashedThread: CrashThread(id: 1, name: "kiosk-07-worker", frames: [frame]),
            images: [BinaryImage(path: "/opt/kiosk-07/bin/app", start: 0, end: 1)],
            breadcrumbs: [
                Breadcrumb(
                    timestamp: .init(timeIntervalSince1970: 0), category: "net",
                    message: "link up on wlx001b21aabbcc (00-1B-21-AA-BB-CC), card 4111 1111 1111 1111",
                    data: ["password": "hunter2", "peer": "fe80::1"])
            ])
        let scrubbed = scrubber.scrub(report: report)
        #expect(scrubbed.error?.message == "upload to [ip] failed for [machine-id], api_key=[filtered]")
        #expect(scrubbed.crashedThread.name == "[host]-worker")
        #expect(scrubbed.breadcrumbs[0].message == "link up on wlx[mac] ([mac]), card [card]")
        #expect(scrubbed.breadcrumbs[0].data == ["password": "[filtered]", "peer": "[ip]"])
        #expect(scrubbed.crashedThread.frames[0].function == "Parser.token: next", "a symbol is code, not a secret")
        #expect(scrubbed.images[0].path == "/opt/[host]/bin/app")
    }

    /// Clean texts are remembered by their bytes: the same text scrubbed again is still clean,
    /// a text that holds an identifier is scrubbed every time, and a text equal to a remembered
    /// one only as a Swift string (canonical equivalence) is searched, not taken for it.
    @Test func rememberedCleanTextsNeverHideAFinding() {
        let id = "0123456789abcdef0123456789abcdee"
        let filter = IdentifierFilter(machineIDs: [id])
        let scrubber = Scrubber(homeDirectory: nil, userName: nil, filter: filter)
        for _ in 0..<3 {
            #expect(scrubber.scrub("slow request") == "slow request")
            #expect(scrubber.scrub("id \(id)") == "id [machine-id]")
        }
        let composed = String(id.dropLast()) + "\u{E9}"
        let decomposed = String(id.dropLast()) + "e\u{301}"
        #expect(composed == decomposed, "equal as Swift strings")
        #expect(scrubber.scrub(composed) == composed)
        #expect(scrubber.scrub(decomposed).utf8.starts(with: "[machine-id]".utf8), "its bytes hold the machine ID")
        for n in 0..<(CleanTextMemo.capacity + 10) { #expect(scrubber.scrub("screen \(n)") == "screen \(n)") }
        #expect(scrubber.scrub(decomposed).utf8.starts(with: "[machine-id]".utf8), "still found after the memo emptied")
    }
}
