import Foundation
import Testing

/// Outside values that reach the CLI through its data folder: a typed error and exit status 1,
/// never a crash (a signal).
extension CLITests {
    /// A data folder whose outbox holds `name` (an empty file), both 0700 as Steward makes them.
    func dataFolder(withOutboxFile name: String) throws -> String {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(
            atPath: dir + "/outbox", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: dir)
        #expect(FileManager.default.createFile(atPath: dir + "/outbox/" + name, contents: Data()))
        return dir
    }

    @Test func flushWithAnOutboxFileNamedWithTheHighestSequenceNumberFailsWithATypedErrorAndStatus1() throws {
        let name = "18446744073709551615-x.json"
        let dir = try dataFolder(withOutboxFile: name)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(try run(["track", "app_start", "--data-dir", dir]).status == 0)

        let result = try run(["flush", "--plaintext-outbox", "--data-dir", dir])
        #expect(!result.signaled, "the CLI crashed: \(result.stderr)")
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stderr.contains("startFailed"), "\(result.stderr)")
        #expect(
            result.stderr.contains(name) && result.stderr.contains("sequence numbers must never repeat"),
            "\(result.stderr)")
        #expect(FileManager.default.fileExists(atPath: dir + "/outbox/" + name), "the folder is left as it was")

        // Moving the file away, as the message says, makes flush work again.
        try FileManager.default.removeItem(atPath: dir + "/outbox/" + name)
        let again = try run(["flush", "--plaintext-outbox", "--data-dir", dir])
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test func flushWithASequenceFileNearTheTopFailsWithATypedErrorAndStatus1() throws {
        let dir = try dataFolder(withOutboxFile: ".sequence")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("18446744073709551000\n".utf8).write(to: URL(fileURLWithPath: dir + "/outbox/.sequence"))
        let result = try run(["flush", "--plaintext-outbox", "--data-dir", dir])
        #expect(!result.signaled, "the CLI crashed: \(result.stderr)")
        #expect(result.status == 1)
        #expect(result.stderr.contains(".sequence (18446744073709551000)"), "\(result.stderr)")
    }

    @Test func anErrorFromTheSDKEndsTheCLIWithStatus1AndTheMessage() throws {
        // A data folder others can read: Steward refuses it (InsecurePathError).
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for command in [["flush"], ["consent"], ["track", "app_start"]] {
            let result = try run(command + ["--data-dir", dir])
            #expect(!result.signaled)
            #expect(result.status == 1, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("chmod 700"), "\(command): \(result.stderr)")
        }
    }
}
