import Testing
import StewardTesting
import Foundation
@testable import StewardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// FileKeyProvider: keys as 32-byte 0600 files in a 0700 folder, created atomically, refused
// (and never repaired or replaced) when anything about them is off.

@Suite struct FileKeyProviderTests {
    /// A scratch folder with a private `keys` folder inside, and the provider for it.
    struct Scratch {
        let root: String
        var keys: String { root + "/keys" }
        var provider: FileKeyProvider { FileKeyProvider(directory: keys) }
        var keyPath: String { keys + "/vault.key" }

        init(_ label: String) throws {
            root = scratchPath("keys-\(label)")
            guard mkdir(root, 0o700) == 0 else { throw SystemError(call: "mkdir", path: root, errno: errno) }
        }

        func remove() { removeScratch(root) }
    }

    static func bytes(of key: SymmetricKey) -> [UInt8] {
        key.withUnsafeBytes { Array($0) }
    }

    @Test("A new key is 32 random bytes in a 0600 file inside a 0700 folder")
    func newKeyIsPrivate() throws {
        let scratch = try Scratch("new")
        defer { scratch.remove() }
        let provider = FileKeyProvider(directory: scratch.root + "/deeper/keys")
        let key = try provider.key(named: "vault", createIfMissing: true)
        let path = provider.path(forKeyNamed: "vault")
        #expect(key.byteCount == 32)
        #expect(fileMode(path) == S_IFREG | 0o600)
        #expect(fileMode(scratch.root + "/deeper/keys") == S_IFDIR | 0o700)
        #expect(fileBytes(path) == Self.bytes(of: key))
        #expect(Self.bytes(of: key) != [UInt8](repeating: 0, count: 32))
        let other = try provider.key(named: "other", createIfMissing: true)
        #expect(!other.isEqual(to: key), "two keys are independent random draws")
    }

    @Test("The same key comes back on a second call and from a second provider")
    func sameKeyEveryTime() throws {
        let scratch = try Scratch("same")
        defer { scratch.remove() }
        let first = try scratch.provider.key(named: "vault", createIfMissing: true)
        #expect(try scratch.provider.key(named: "vault", createIfMissing: true).isEqual(to: first))
        #expect(
            try FileKeyProvider(directory: scratch.keys).key(named: "vault", createIfMissing: false).isEqual(to: first))
    }

    @Test("A missing key with createIfMissing: false throws .missing and creates no file")
    func missingKeyIsNotCreated() throws {
        let scratch = try Scratch("missing")
        defer { scratch.remove() }
        #expect(mkdir(scratch.keys, 0o700) == 0)
        #expect { try scratch.provider.key(named: "vault", createIfMissing: false) } throws: {
            ($0 as? KeyProviderError)?.code == .missing
        }
        #expect(allPaths(under: scratch.keys).isEmpty, "created: \(allPaths(under: scratch.keys))")
        // Also when the folder does not exist yet.
        let elsewhere = FileKeyProvider(directory: scratch.root + "/not-yet")
        #expect { try elsewhere.key(named: "vault", createIfMissing: false) } throws: {
            ($0 as? KeyProviderError)?.code == .missing
        }
        #expect(allPaths(under: scratch.root + "/not-yet").isEmpty)
    }

    @Test(
        "A key file that group or others can access is refused and left as it is",
        arguments: [0o640, 0o604, 0o644, 0o620, 0o602, 0o660] as [mode_t])
    func insecureModeIsRefused(_ mode: mode_t) throws {
        let scratch = try Scratch("mode-\(String(mode, radix: 8))")
        defer { scratch.remove() }
        let key = try scratch.provider.key(named: "vault", createIfMissing: true)
        #expect(chmod(scratch.keyPath, mode) == 0)
        for create in [false, true] {
            #expect { try scratch.provider.key(named: "vault", createIfMissing: create) } throws: {
                ($0 as? KeyProviderError)?.code == .insecurePermissions
            }
        }
        #expect(fileBytes(scratch.keyPath) == Self.bytes(of: key), "the key file's bytes changed")
        #expect(fileMode(scratch.keyPath) == S_IFREG | mode, "the key file's mode changed")
    }

    @Test("A key file that is not 32 bytes long is refused and left as it is", arguments: [0, 1, 31, 33, 64])
    func wrongLengthIsRefused(_ length: Int) throws {
        let scratch = try Scratch("length-\(length)")
        defer { scratch.remove() }
        #expect(mkdir(scratch.keys, 0o700) == 0)
        var rng = SplitMix64(seed: UInt64(length))
        let bytes = rng.bytes(length)
        try createFile(scratch.keyPath, bytes: bytes, mode: 0o600)
        for create in [false, true] {
            #expect { try scratch.provider.key(named: "vault", createIfMissing: create) } throws: {
                ($0 as? KeyProviderError)?.code == .wrongLength
            }
        }
        #expect(fileBytes(scratch.keyPath) == bytes)
        #expect(fileMode(scratch.keyPath) == S_IFREG | 0o600)
    }

    @Test("A symbolic link to a valid key is refused and left as it is")
    func symbolicLinkIsRefused() throws {
        let scratch = try Scratch("link")
        defer { scratch.remove() }
        let key = try scratch.provider.key(named: "real", createIfMissing: true)
        #expect(symlink(scratch.keys + "/real.key", scratch.keyPath) == 0)
        for create in [false, true] {
            #expect { try scratch.provider.key(named: "vault", createIfMissing: create) } throws: {
                ($0 as? KeyProviderError)?.code == .symbolicLink
            }
        }
        #expect(fileMode(scratch.keyPath).map { $0 & S_IFMT } == S_IFLNK)
        #expect(fileBytes(scratch.keys + "/real.key") == Self.bytes(of: key))
    }

    @Test("A folder at the key path is refused as not a regular file")
    func directoryIsRefused() throws {
        let scratch = try Scratch("dir")
        defer { scratch.remove() }
        #expect(mkdir(scratch.keys, 0o700) == 0)
        #expect(mkdir(scratch.keyPath, 0o700) == 0)
        for create in [false, true] {
            #expect { try scratch.provider.key(named: "vault", createIfMissing: create) } throws: {
                ($0 as? KeyProviderError)?.code == .notRegularFile
            }
        }
        #expect(fileMode(scratch.keyPath) == S_IFDIR | 0o700)
    }

    @Test("A FIFO at the key path is refused as not a regular file, without blocking")
    func fifoIsRefusedWithoutBlocking() async throws {
        let scratch = try Scratch("fifo")
        defer { scratch.remove() }
        #expect(mkdir(scratch.keys, 0o700) == 0)
        #expect(mkfifo(scratch.keyPath, 0o600) == 0)
        // In a child with a watchdog: opening a FIFO for reading waits for a writer, forever.
        await #expect(processExitsWith: .success, "the key provider blocked on the FIFO or crashed") {
            [keys = scratch.keys as String] in
            alarm(3)
            #expect { try FileKeyProvider(directory: keys).key(named: "vault", createIfMissing: false) } throws: {
                ($0 as? KeyProviderError)?.code == .notRegularFile
            }
        }
        #expect(fileMode(scratch.keyPath).map { $0 & S_IFMT } == S_IFIFO)
    }

    @Test(
        "A key folder that group or others can enter is refused", arguments: [0o755, 0o750, 0o705, 0o701] as [mode_t])
    func insecureFolderIsRefused(_ mode: mode_t) throws {
        let scratch = try Scratch("folder-\(String(mode, radix: 8))")
        defer { scratch.remove() }
        #expect(mkdir(scratch.keys, 0o700) == 0 && chmod(scratch.keys, mode) == 0)
        #expect(throws: InsecurePathError.self) { try scratch.provider.key(named: "vault", createIfMissing: true) }
        #expect(allPaths(under: scratch.keys).isEmpty, "a key was created in an open folder")
        #expect(fileMode(scratch.keys) == S_IFDIR | mode, "the folder's mode was changed")
    }

    @Test("A key folder that is a symbolic link is refused")
    func symlinkedFolderIsRefused() throws {
        let scratch = try Scratch("folder-link")
        defer { scratch.remove() }
        #expect(mkdir(scratch.root + "/real", 0o700) == 0)
        #expect(symlink(scratch.root + "/real", scratch.keys) == 0)
        #expect(throws: InsecurePathError.self) { try scratch.provider.key(named: "vault", createIfMissing: true) }
        #expect(allPaths(under: scratch.root + "/real").isEmpty)
    }

    @Test(
        "A key name that is not a plain file name is refused, by key(named:) and destroyKey(named:)",
        arguments: ["", "../x", ".hidden", "a/b", "..", "/etc/passwd", "x y", String(repeating: "k", count: 65)])
    func invalidNamesAreRefused(_ name: String) throws {
        let scratch = try Scratch("names")
        defer { scratch.remove() }
        let victim = scratch.root + "/x.key"  // where "../x" would lead
        try createFile(victim, bytes: [1, 2, 3], mode: 0o600)
        #expect { try scratch.provider.key(named: name, createIfMissing: true) } throws: {
            ($0 as? KeyProviderError)?.code == .invalidName
        }
        #expect { try scratch.provider.destroyKey(named: name) } throws: {
            ($0 as? KeyProviderError)?.code == .invalidName
        }
        #expect(allPaths(under: scratch.keys).isEmpty)
        #expect(fileBytes(victim) == [1, 2, 3])
    }

    @Test("Sixteen tasks creating the same key at once all get the same key, and no temporary file remains")
    func concurrentCreationAgreesOnOneKey() async throws {
        for round in 0..<20 {
            let scratch = try Scratch("race-\(round)")
            defer { scratch.remove() }
            let directory = scratch.keys
            let keys = try await withThrowingTaskGroup(of: SymmetricKey.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        try FileKeyProvider(directory: directory).key(named: "vault", createIfMissing: true)
                    }
                }
                var keys: [SymmetricKey] = []
                for try await key in group { keys.append(key) }
                return keys
            }
            #expect(keys.count == 16)
            #expect(keys.allSatisfy { $0.isEqual(to: keys[0]) }, "round \(round): the tasks got different keys")
            #expect(fileBytes(scratch.keyPath) == Self.bytes(of: keys[0]))
            #expect(allPaths(under: scratch.keys) == ["vault.key"], "round \(round): \(allPaths(under: scratch.keys))")
        }
    }

    @Test("Processes creating the same key at once all get the same key")
    func concurrentCreationAcrossProcesses() async throws {
        for round in 0..<3 {
            let scratch = try Scratch("process-race-\(round)")
            defer { scratch.remove() }
            #expect(mkdir(scratch.root + "/out", 0o700) == 0)
            // All children start at the same moment, well after they have been launched.
            let start = Date().timeIntervalSince1970 + 0.4
            await withTaskGroup(of: Void.self) { group in
                for child in 0..<4 {
                    group.addTask {
                        await #expect(processExitsWith: .success, "child \(child)") {
                            [
                                keys = scratch.keys as String, out = scratch.root + "/out/\(child)" as String,
                                start = start as Double
                            ] in
                            while Date().timeIntervalSince1970 < start { usleep(200) }
                            let key = try FileKeyProvider(directory: keys).key(named: "vault", createIfMissing: true)
                            try createFile(out, bytes: key.withUnsafeBytes { Array($0) }, mode: 0o600)
                        }
                    }
                }
            }
            let key = try #require(fileBytes(scratch.keyPath))
            for child in 0..<4 {
                #expect(
                    fileBytes(scratch.root + "/out/\(child)") == key, "round \(round): child \(child) got another key")
            }
            #expect(allPaths(under: scratch.keys) == ["vault.key"])
        }
    }

    @Test("destroyKey removes the key file and is idempotent; a new key is a different one")
    func destroyKeyRemovesTheKey() throws {
        let scratch = try Scratch("destroy")
        defer { scratch.remove() }
        let old = try scratch.provider.key(named: "vault", createIfMissing: true)
        try scratch.provider.destroyKey(named: "vault")
        #expect(!FileManager.default.fileExists(atPath: scratch.keyPath))
        #expect(allPaths(under: scratch.keys).isEmpty)
        try scratch.provider.destroyKey(named: "vault")
        try scratch.provider.destroyKey(named: "never-existed")
        #expect { try scratch.provider.key(named: "vault", createIfMissing: false) } throws: {
            ($0 as? KeyProviderError)?.code == .missing
        }
        let new = try scratch.provider.key(named: "vault", createIfMissing: true)
        #expect(!new.isEqual(to: old))
    }
}
