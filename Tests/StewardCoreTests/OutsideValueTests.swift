import Foundation
import Synchronization
import Testing
@testable import StewardCore
import StewardTesting
#if canImport(Glibc)
import Glibc
import SwiftOverlayShims
#endif

/// Values from outside Steward — a host clock, a public argument, a file name, a file's size or
/// mtime, the OS environment — at their most hostile: each gives a clamped result or a typed
/// error, never a trap (Documentation/OutsideValues.md). `swift test --filter OutsideValueTests`.
@Suite struct OutsideValueTests {}

/// Dates a host may hand in or a clock may show, as seconds since 1970: NaN, ±infinity,
/// `.distantFuture`, `.distantPast`, and beyond what milliseconds in an `Int64` hold. (Test
/// arguments are seconds, not dates: Foundation's `Date.description`, which the test library
/// uses to name arguments, itself traps for NaN.)
let hostileSeconds: [Double] = [
    .nan, .infinity, -.infinity, Date.distantFuture.timeIntervalSince1970, Date.distantPast.timeIntervalSince1970, 1e17, -1e17,
]

/// A temporary folder on tmpfs when there is one: tmpfs keeps any 64-bit mtime (ext4 clamps to
/// 1901…2446), which the mtime tests need.
func tmpfsScratch(_ name: String) throws -> String {
    let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = base + "/steward-\(name)-\(UUID().uuidString)"
    #expect(mkdir(path, 0o700) == 0)
    return path
}

/// Sets a file's mtime to `seconds` since 1970 (any 64-bit value the file system keeps).
func setModificationTime(_ path: String, seconds: Int) {
    var modified = timespec()
    modified.tv_sec = seconds
    var times = [timespec(), modified]
    #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
}

/// Makes `path` a sparse file of `size` bytes (nothing is written).
func makeSparseFile(_ path: String, size: Int) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    #expect(fd >= 0)
    #expect(ftruncate(fd, off_t(size)) == 0)
    close(fd)
}

// MARK: - Vault

extension OutsideValueTests {
    @Suite struct VaultValues {
        let dir = NSTemporaryDirectory() + "steward-outside-vault-\(UUID().uuidString)"
        let keys = InMemoryKeyProvider()
        let clock = ManualWallClock(now: Date(timeIntervalSince1970: 1_767_225_600))

        func open(_ options: VaultOptions = VaultOptions(), clock: (any WallClock)? = nil) throws -> Vault {
            try Vault.open(directory: dir, keyProvider: keys, options: options, clock: clock ?? self.clock)
        }

        @Test func aSparseVaultMetaClaimingATerabyteIsRefusedBeforeAnythingIsAllocated() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try open().close()
            makeSparseFile(dir + "/vault.meta", size: 1 << 40)
            #expect { try open() } throws: { ($0 as? VaultError)?.code == .notAVault }
        }

        @Test func aSparseLockFileIsNotReadWholeByTheSecondOpener() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let first = try open()
            makeSparseFile(dir + "/lock", size: 1 << 40)
            #expect { try open() } throws: { ($0 as? VaultError)?.code == .locked }
            try first.close()
        }

        @Test func aSparseVaultStatsIsIgnored() throws {
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try open().close()
            makeSparseFile(dir + "/vault.stats", size: 1 << 40)
            #expect(try open().summary().evicted == 0)
        }
    }
}

// MARK: - File transport

extension OutsideValueTests {
    @Suite struct OutboxValues {
        let directory = NSTemporaryDirectory() + "steward-outside-outbox-\(UUID().uuidString)/outbox"
        var root: String { FileSystem.parentPath(directory) }

        func payload(_ n: Int = 1) -> Payload {
            Payload(recipient: "crashBackend", purpose: .crashReporting, categories: [.crashDiagnostics], contentType: "application/json",
                    body: [UInt8(n)], idempotencyKey: "event-\(n)", created: Date(timeIntervalSince1970: 1_767_225_600))
        }

        func makeOutbox() throws {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }

        @Test func aSequenceFileThatIsAFIFODoesNotHangTheTransport() async throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeOutbox()
            #expect(mkfifo(directory + "/.sequence", 0o600) == 0)
            // In a child with a watchdog: opening a FIFO for reading waits for a writer, forever.
            await #expect(processExitsWith: .success, "the transport blocked on the FIFO or crashed") { [directory = directory as String] in
                alarm(5)
                _ = try FileTransport(directory: directory)
            }
        }

        @Test func aSparseSequenceFileIsIgnoredAndSendStillWorks() async throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            try makeOutbox()
            makeSparseFile(directory + "/.sequence", size: 1 << 40)
            let transport = try FileTransport(directory: directory)
            #expect(await transport.send(payload()) == .accepted)
            #expect(try transport.sidecars().count == 1)
        }

        @Test func aSparseOrUnreadableSidecarIsSkippedNotFatal() async throws {
            defer { try? FileManager.default.removeItem(atPath: root) }
            let transport = try FileTransport(directory: directory)
            #expect(await transport.send(payload()) == .accepted)
            #expect(FileManager.default.createFile(atPath: directory + "/000000500000-x.body", contents: Data()))
            makeSparseFile(directory + "/000000500000-x.json", size: 1 << 40)
            #expect(symlink("/etc/passwd", directory + "/000000500001-x.json") == 0)
            #expect(try transport.sidecars().map(\.idempotencyKey) == ["event-1"])
        }
    }
}
