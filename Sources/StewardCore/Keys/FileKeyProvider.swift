internal import CStewardOpenSSL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Keys stored as files: 32 random bytes per key in a 0600 file inside a 0700 directory.
///
/// A key is created atomically: the bytes are written and fsynced into a private temporary
/// file, which is then hard-linked to its final name (`link(2)` never replaces an existing
/// file, so two processes racing to create a key agree on one) and the directory is fsynced.
/// No process ever sees a partial or readable key under the key's name.
///
/// A key file that is a symbolic link, not a regular file, owned by another user, readable or
/// writable by group or others, or not exactly 32 bytes long is refused with a
/// ``KeyProviderError`` that names the file and the fix. It is never used, repaired or
/// replaced: that is for the person who owns the machine to decide.
///
/// ```swift
/// let keys = FileKeyProvider(directory: "/home/me/.local/share/steward/org.example/keys")
/// let key = try keys.key(named: "vault", createIfMissing: true)
/// ```
///
/// Destroying a key overwrites the file with zeros, fsyncs, unlinks it and fsyncs the
/// directory. On copy-on-write or flash storage the overwrite may not reach the old blocks;
/// the unlink is what makes the key unreachable to Steward.
public struct FileKeyProvider: KeyProvider {
    /// The directory the key files live in.
    public let directory: String
    /// The size of every key this provider creates and accepts.
    public static let keyByteCount = 32

    /// Creates a provider for key files in `directory`, which is created (0700) on first use.
    public init(directory: String) {
        self.directory = directory
    }

    /// The path of the key called `name`.
    public func path(forKeyNamed name: String) -> String { directory + "/" + name + ".key" }

    /// Returns the key in `NAME.key`, creating it first (atomically, 0600, in a 0700 directory)
    /// when it is missing and `createIfMissing` is true.
    ///
    /// - Parameters:
    ///   - name: 1-64 letters, digits, `.`, `-` or `_`, not starting with `.`.
    ///   - createIfMissing: Whether a missing key is created.
    /// - Returns: The key's 32 bytes.
    /// - Throws: ``KeyProviderError`` for an invalid name, a missing key that may not be created, or
    ///   a key file that is insecure (a link, another owner, group or other access, not 32
    ///   bytes); ``SystemError`` when the file system fails.
    public func key(named name: String, createIfMissing: Bool) throws -> SymmetricKey {
        try Self.validate(name)
        try FileSystem.ensurePrivateDirectory(directory)
        removeStaleTemporaries()
        let path = path(forKeyNamed: name)
        if let key = try load(path) { return key }
        guard createIfMissing else {
            throw KeyProviderError(
                .missing, path: path, "no key file exists; the data it protected cannot be read without it")
        }
        try create(path)
        guard let key = try load(path) else {
            throw KeyProviderError(.missing, path: path, "the key file vanished right after it was created")
        }
        return key
    }

    /// Overwrites the key file with zeros, fsyncs it, unlinks it and fsyncs the directory.
    /// Destroying a missing key succeeds.
    ///
    /// - Parameter name: The key's name, as given to ``key(named:createIfMissing:)``.
    /// - Throws: ``KeyProviderError`` for an invalid name; ``SystemError`` when the file cannot be
    ///   examined or removed.
    public func destroyKey(named name: String) throws {
        try Self.validate(name)
        let path = path(forKeyNamed: name)
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw SystemError(call: "lstat", path: path, errno: errno)
        }
        if (st.st_mode & S_IFMT) == S_IFREG {
            if let fd = try? FileDescriptor.open(path, O_WRONLY | O_NOFOLLOW) {
                // A key file is 32 bytes; a bigger file is not ours to spend memory on.
                let zeros = [UInt8](repeating: 0, count: min(max(Int(st.st_size), Self.keyByteCount), 4096))
                try? fd.write(zeros, at: 0)
                try? fd.sync()
            }
        }
        try FileSystem.removeFile(path)
        try FileSystem.syncDirectory(directory)
    }

    // MARK: - Private

    /// Removes `.tmp-*` files a crash left behind during key creation. Only files older than a
    /// minute: a younger one may belong to another process creating a key right now.
    private func removeStaleTemporaries() {
        guard let names = try? FileSystem.contents(of: directory) else { return }
        let now = time(nil)
        for name in names where name.hasPrefix(".tmp-") {
            var st = stat()
            let path = directory + "/" + name
            // A file's mtime is outside input (tmpfs and btrfs keep any 64-bit value): saturate.
            if lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG,
                now.saturatingSubtracting(st.st_mtim.tv_sec) > 60
            {
                _ = unlink(path)
            }
        }
    }

    private static func validate(_ name: String) throws {
        let ok =
            !name.isEmpty && name.count <= 64
            && name.utf8.allSatisfy {
                ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D
                    || $0 == 0x5F || $0 == 0x2E
            } && name.first != "."
        guard ok else {
            throw KeyProviderError(
                .invalidName, path: name,
                "a key name is 1-64 letters, digits, '.', '-' or '_' and does not start with '.'")
        }
    }

    /// Loads and checks the key at `path`; nil when no file exists.
    private func load(_ path: String) throws -> SymmetricKey? {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return nil }
            throw SystemError(call: "lstat", path: path, errno: errno)
        }
        if (st.st_mode & S_IFMT) == S_IFLNK {
            throw KeyProviderError(
                .symbolicLink, path: path,
                "is a symbolic link; Steward reads keys only from regular files. Remove the link and restore the real key file."
            )
        }
        let fd = try Self.openKeyFile(path)
        // Check the opened file itself, so a swap between lstat and open cannot slip through.
        let info = try fd.stat()
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw KeyProviderError(.notRegularFile, path: path, "is not a regular file.")
        }
        guard info.st_uid == geteuid() else {
            throw KeyProviderError(
                .wrongOwner, path: path, "belongs to user \(info.st_uid), not to this process (\(geteuid())).")
        }
        guard info.st_mode & 0o077 == 0 else {
            let mode = String(info.st_mode & 0o777, radix: 8)
            throw KeyProviderError(
                .insecurePermissions, path: path,
                "has mode \(mode): group or others can access it, so the key may be known to others. Steward will not use it. If you are sure it was never exposed, run: chmod 600 '\(path)'"
            )
        }
        guard info.st_size == off_t(Self.keyByteCount) else {
            throw KeyProviderError(
                .wrongLength, path: path,
                "holds \(info.st_size) bytes, not \(Self.keyByteCount): it is damaged or not a Steward key.")
        }
        var failure: (any Error)?
        let key = SymmetricKey(byteCount: Self.keyByteCount) { buffer in
            do {
                let n = try fd.read(into: UnsafeMutableRawBufferPointer(buffer), at: 0)
                if n != Self.keyByteCount {
                    failure = KeyProviderError(.wrongLength, path: path, "could be read only in part (\(n) bytes).")
                }
            } catch { failure = error }
        }
        if let failure { throw failure }
        return key
    }

    private static func openKeyFile(_ path: String) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK)
        } catch let error as SystemError where error.errno == ELOOP {
            throw KeyProviderError(
                .symbolicLink, path: path, "is a symbolic link; Steward reads keys only from regular files.")
        }
    }

    /// Creates a key file at `path` atomically. Losing a race to another creator is fine.
    private func create(_ path: String) throws {
        let temporary = directory + "/.tmp-" + String(try SecureRandom.uint64(), radix: 16)
        do {
            let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            try systemCall("fchmod", path: temporary) { fchmod(fd.raw, 0o600) }
            let key = try SymmetricKey.random(byteCount: Self.keyByteCount)
            try key.withUnsafeBytes { bytes in try fd.write(bytes, at: 0) }
            try fd.sync()
        } catch {
            _ = unlink(temporary)
            throw error
        }
        defer { _ = unlink(temporary) }
        if link(temporary, path) != 0 {
            let code = errno
            // EEXIST: another process created the key first; load() checks and uses theirs.
            guard code == EEXIST else { throw SystemError(call: "link", path: path, errno: code) }
        }
        _ = unlink(temporary)
        try FileSystem.syncDirectory(directory)
    }
}

/// A key that a ``KeyProvider`` could not supply, or refused to use.
public struct KeyProviderError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case missing, symbolicLink, notRegularFile, wrongOwner, insecurePermissions, wrongLength, invalidName
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// No key exists under that name and creating one was not allowed.
        public static let missing = Code(.missing)
        /// The key path is a symbolic link.
        public static let symbolicLink = Code(.symbolicLink)
        /// The key path is not a regular file.
        public static let notRegularFile = Code(.notRegularFile)
        /// The key file belongs to another user.
        public static let wrongOwner = Code(.wrongOwner)
        /// Group or others can access the key file.
        public static let insecurePermissions = Code(.insecurePermissions)
        /// The key file does not hold exactly 32 bytes.
        public static let wrongLength = Code(.wrongLength)
        /// The key name has characters a file name must not.
        public static let invalidName = Code(.invalidName)

        /// The code's name, such as `insecurePermissions`.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// The key file (or the name, for ``Code/invalidName``).
    public let path: String
    /// What happened and what to do.
    public let message: String

    init(_ code: Code, path: String, _ message: String) {
        self.code = code
        self.path = path
        self.message = message
    }

    /// `key PATH: MESSAGE`, for logs.
    public var description: String { "key \(path): \(message)" }
}
