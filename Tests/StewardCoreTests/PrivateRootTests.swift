import Foundation
@testable import StewardCore
import Testing

/// Below a private directory Steward made, no component is followed if it is a link.
@Suite struct PrivateRootTests {
    @Test func aFolderOfTheDataDirectorySwappedForALinkIsNeverReadOrWrittenThrough() throws {
        let base = NSTemporaryDirectory() + "steward-roots-\(UUID().uuidString)"
        let data = base + "/data"
        let elsewhere = base + "/elsewhere"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileSystem.ensurePrivateDirectory(data)
        try FileSystem.ensurePrivateDirectory(data + "/vault")
        try FileSystem.ensurePrivateDirectory(data + "/vault/collections")
        try FileManager.default.createDirectory(atPath: elsewhere + "/collections", withIntermediateDirectories: true)
        try Data("outside".utf8).write(to: URL(fileURLWithPath: elsewhere + "/collections/secret"))

        // The folder is swapped for a link after Steward checked it.
        try FileManager.default.removeItem(atPath: data + "/vault/collections")
        try FileManager.default.removeItem(atPath: data + "/vault")
        try FileManager.default.createSymbolicLink(atPath: data + "/vault", withDestinationPath: elsewhere)

        #expect(throws: SystemError.self) {
            _ = try FileDescriptor.open(data + "/vault/collections/new", O_WRONLY | O_CREAT | O_EXCL, mode: 0o600)
        }
        #expect(
            !FileManager.default.fileExists(atPath: elsewhere + "/collections/new"),
            "nothing was written through the link")
        #expect(throws: SystemError.self) { _ = try FileDescriptor.open(data + "/vault/collections/secret", O_RDONLY) }
        #expect(FileSystem.readSmallFile(data + "/vault/collections/secret", limit: 64) == nil)
        #expect(throws: SystemError.self) { try FileSystem.createNewFile([1, 2, 3], at: data + "/vault/export") }
        // Nor removed, renamed or listed through it.
        #expect(throws: SystemError.self) { try FileSystem.removeFile(data + "/vault/collections/secret") }
        #expect(
            FileManager.default.fileExists(atPath: elsewhere + "/collections/secret"),
            "the file behind the link is untouched")
        #expect(throws: SystemError.self) {
            try FileSystem.renameInPlace(data + "/vault/collections/secret", to: data + "/vault/collections/moved")
        }
        #expect(throws: SystemError.self) { _ = try FileSystem.contents(of: data + "/vault/collections") }

        // `..` never climbs out of a private directory.
        #expect(throws: SystemError.self) {
            _ = try FileDescriptor.open(data + "/../elsewhere/collections/secret", O_RDONLY)
        }
        // A real folder works as before, and a link above the data folder is the system's.
        try FileManager.default.removeItem(atPath: data + "/vault")
        try FileSystem.ensurePrivateDirectory(data + "/vault")
        try FileSystem.createNewFile(Array("ok".utf8), at: data + "/vault/file")
        #expect(FileSystem.readSmallFile(data + "/vault/file", limit: 64) == Array("ok".utf8))
        try FileManager.default.createSymbolicLink(atPath: base + "/alias", withDestinationPath: data)
        #expect(FileSystem.readSmallFile(base + "/alias/vault/file", limit: 64) == Array("ok".utf8))
    }

    @Test func noFolderIsMadeOrAcceptedThroughALinkBelowTheDataDirectory() throws {
        let base = NSTemporaryDirectory() + "steward-roots-\(UUID().uuidString)"
        let data = base + "/data"
        let elsewhere = base + "/elsewhere"
        defer { try? FileManager.default.removeItem(atPath: base) }
        try FileSystem.ensurePrivateDirectory(data)
        try FileManager.default.createDirectory(
            atPath: elsewhere + "/existing", withIntermediateDirectories: true,
            attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(atPath: data + "/vault", withDestinationPath: elsewhere)

        // A folder to be made behind the link: refused, and nothing is made there.
        #expect(throws: SystemError.self) { try FileSystem.ensurePrivateDirectory(data + "/vault/collections") }
        #expect(
            !FileManager.default.fileExists(atPath: elsewhere + "/collections"), "no folder was made through the link")
        // Parents made on the way are made the same way.
        #expect(throws: SystemError.self) { try FileSystem.ensurePrivateDirectory(data + "/vault/a/b") }
        #expect(!FileManager.default.fileExists(atPath: elsewhere + "/a"))
        // A folder that exists behind the link is not accepted either, nor the link itself.
        #expect(throws: SystemError.self) { try FileSystem.ensurePrivateDirectory(data + "/vault/existing") }
        #expect(throws: InsecurePathError.self) { try FileSystem.ensurePrivateDirectory(data + "/vault") }

        // Real folders below the data directory are made 0700, parents included, whatever the umask.
        let previous = umask(0)
        defer { umask(previous) }
        #expect(try FileSystem.ensurePrivateDirectory(data + "/crash/sessions/today"))
        for folder in ["/crash", "/crash/sessions", "/crash/sessions/today"] {
            let mode = try FileManager.default.attributesOfItem(atPath: data + folder)[.posixPermissions] as? Int
            #expect(mode == 0o700, "\(folder)")
        }
        #expect(
            try FileSystem.ensurePrivateDirectory(data + "/crash/sessions/today") == false,
            "an existing folder is checked, not made")
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: data + "/crash")
        #expect(throws: InsecurePathError.self) { try FileSystem.ensurePrivateDirectory(data + "/crash") }
    }
}
