import Foundation
@testable import StewardCore
import Testing

@Suite struct IdentifierFilterTests {
    static let filter = IdentifierFilter(
        machineIDs: ["0123456789abcdef0123456789ABCDEF\n"],
        macAddresses: ["00:1B:21:aa:bb:cc", "wlx0242ac110002".dropFirst(3).description],
        hostNames: ["kiosk-07"], homeDirectory: "/home/ana/", userName: "ana")

    @Test(arguments: [
        ("machine 0123456789abcdef0123456789abcdef here", "machine [machine-id] here"),
        ("id=01234567-89AB-CDEF-0123-456789ABCDEF.", "id=[machine-id]."),
        ("mac 00:1b:21:aa:bb:cc", "mac [mac]"),
        ("mac 00-1B-21-AA-BB-CC", "mac [mac]"),
        ("mac 001b.21aa.bbcc", "mac [mac]"),
        ("iface wlx0242ac110002 up", "iface wlx[mac] up"),
        ("other 3c:22:fb:01:02:03 peer", "other [mac] peer"),
        ("kiosk-07.lan answered", "[host].lan answered"),
        ("from 10.0.0.7:8080 and fe80::1", "from [ip] and [ip]"),
        ("/home/ana/notes.txt", "~/notes.txt"),
        ("ana wrote it", "<user> wrote it"),
        ("banana stays", "banana stays"),
        ("card 4111 1111 1111 1111 charged", "card [card] charged"),
        ("card 4111-1111-1111-1112 not luhn", "card 4111-1111-1111-1112 not luhn"),
        ("token=abc123&x=1", "token=[filtered]&x=1"),
        (#"{"password": "hunter2", "n": 1}"#, #"{"password": "[filtered]", "n": 1}"#),
        ("Authorization: Bearer eyJhbGci", "Authorization: [filtered] [filtered]"),
        ("plain text, version 1.2.3, 2026-12-06", "plain text, version 1.2.3, 2026-12-06"),
        ("addr:10.0.0.7 up", "addr:[ip] up"),
        ("kiosk-07x and xkiosk-07 are other hosts", "kiosk-07x and xkiosk-07 are other hosts"),
        ("user@kiosk-07", "user@[host]"),
        // Found by FuzzIdentifierFilter: once the MAC is a placeholder the host name is a word.
        ("(kiosk-0700:1b:21:aa:bb:cc)", "([host][mac])"),
    ])
    func redactReplacesEveryFindingAndNothingElse(input: String, expected: String) {
        #expect(Self.filter.redact(input) == expected)
        #expect(Self.filter.contains(input) == (input != expected))
    }

    @Test(arguments: [
        "password", "X-Sentry-Auth", "Authorization", "api-key", "PRIVATE_KEY", "session_id", "csrftoken", "Cookie",
    ])
    func secretNamesAreFound(key: String) {
        #expect(IdentifierFilter.isSecretKey(key))
    }

    @Test(arguments: ["Idempotency-Key", "Content-Type", "screen", "session_length", "duration_ms"])
    func ordinaryNamesAreNot(key: String) {
        #expect(!IdentifierFilter.isSecretKey(key))
    }

    @Test func overlappingFindingsMergeSoNoTailIsLeft() {
        // The user name's finding starts inside the home path's: one placeholder covers both.
        let filter = IdentifierFilter(hostNames: ["ana-box"], homeDirectory: "/home/ana", userName: "ana")
        #expect(filter.redact("/home/ana-box") == "/home/[host]", "\(filter.redact("/home/ana-box"))")
        #expect(!filter.redact("x ana-box.lan y").contains("box"))
    }

    @Test func withoutSecretValuesCodeIsLeftAlone() {
        #expect(Self.filter.redact("Tokenizer.token: parse", secretValues: false) == "Tokenizer.token: parse")
        #expect(Self.filter.redact("/home/ana/lib/kiosk-07.so", secretValues: false) == "~/lib/[host].so")
    }

    @Test func thisDevicesFilterFindsItsOwnMachineIDInBothFormsAndItsHostName() throws {
        let filter = IdentifierFilter.current
        if let bytes = FileSystem.readSmallFile("/etc/machine-id", limit: 64) {
            let hex = IdentifierFilter.hexDigits(String(decoding: bytes, as: UTF8.self))
            try #require(hex.count == 32)
            let h = Array(hex)
            let dashed =
                String(h[0..<8]) + "-" + String(h[8..<12]) + "-" + String(h[12..<16]) + "-" + String(h[16..<20]) + "-"
                + String(h[20...])
            #expect(filter.contains("x " + hex.uppercased()))
            #expect(filter.contains("device \(dashed)"))
        }
        // A configured machineIDPath is included.
        let path = NSTemporaryDirectory() + "machine-id-\(UUID().uuidString)"
        try "fedcba9876543210fedcba9876543210\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(!IdentifierFilter.current.contains("fedcba9876543210fedcba9876543210"))
        IdentifierFilter.include(machineIDPath: path)
        #expect(IdentifierFilter.current.contains("FEDCBA98-7654-3210-FEDC-BA9876543210"))
    }

    @Test func arbitraryBytesNeverTrapAndRedactionIsStable() {
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let length = Int.random(in: 0..<80, using: &generator)
            let alphabet = Array("0123456789abcdef:-. =\"'token/home/ana4111 fe80".utf8)
            let bytes = (0..<length).map { _ in alphabet.randomElement(using: &generator)! }
            let text = String(decoding: bytes, as: UTF8.self)
            let once = Self.filter.redact(text)
            #expect(Self.filter.redact(once) == once || once.contains("[filtered]"), "\(text)")
        }
    }
}
