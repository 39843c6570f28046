#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Fixed-size secret files in a private folder: what ``FileKeyProvider`` keeps its keys in, and
/// ``SystemdCredentialKeyProvider`` its wrapped keys. One place for the checks (a regular file,
/// ours, 0600, the exact size), the atomic creation and the final destruction.
struct KeyFileStore {
    /// The folder (0700, created on first use).
    let directory: String
    /// The file name's ending (`.key`, `.wrapped`).
    let suffix: String
    /// The exact size of every file.
    let byteCount: Int

    func path(forKeyNamed name: String) -> String { directory + "/" + name + suffix }

    /// The file's bytes, creating it first with `fill` (atomically) when it is missing and
    /// `createIfMissing` is true. Two processes racing to create it agree on one.
    func key(
        named name: String, createIfMissing: Bool, fill: (UnsafeMutableRawBufferPointer) throws -> Void
    ) throws -> SymmetricKey {
        try Self.validate(name)
        try FileSystem.ensurePrivateDirectory(directory)
        removeStaleTemporaries()
        let path = path(forKeyNamed: name)
        if let key = try load(path) { return key }
        guard createIfMissing else {
            throw KeyProviderError(
                .missing, path: path, "no key file exists; the data it protected cannot be read without it")
        }
        try create(path, fill: fill)
        guard let key = try load(path) else {
            throw KeyProviderError(.missing, path: path, "the key file vanished right after it was created")
        }
        return key
    }

    /// Overwrites the file with zeros, fsyncs it, unlinks it and fsyncs the folder. A missing
    /// file is fine.
    func destroy(named name: String) throws {
        try Self.validate(name)
        let path = path(forKeyNamed: name)
        var st = stat()
        guard lstat(path, &st) == 0 else {
            if errno == ENOENT { return }
            throw SystemError(call: "lstat", path: path, errno: errno)
        }
        if (st.st_mode & S_IFMT) == S_IFREG {
            if let fd = try? FileDescriptor.open(path, O_WRONLY | O_NOFOLLOW) {
                // A key file is small; a bigger file is not ours to spend memory on. The size is
                // outside input (clamped, never trapping).
                let zeros = [UInt8](
                    repeating: 0, count: min(max(Int(clamping: st.st_size), byteCount), 4096))
                try? fd.write(zeros, at: 0)
                try? fd.sync()
            }
        }
        try FileSystem.removeFile(path)
        try FileSystem.syncDirectory(directory)
    }

    /// Refuses a name that is not 1-64 letters, digits, `.`, `-` or `_`, or starts with `.`.
    static func validate(_ name: String) throws {
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

    /// Loads and checks the file at `path`; nil when no file exists.
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
        guard info.st_size == off_t(byteCount) else {
            throw KeyProviderError(
                .wrongLength, path: path,
                "holds \(info.st_size) bytes, not \(byteCount): it is damaged or not a Steward key.")
        }
        var failure: (any Error)?
        let key = SymmetricKey(byteCount: byteCount) { buffer in
            do {
                let n = try fd.read(into: UnsafeMutableRawBufferPointer(buffer), at: 0)
                if n != byteCount {
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

    /// Creates the file at `path` atomically with the bytes `fill` writes. Losing a race to
    /// another creator is fine.
    private func create(_ path: String, fill: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        let temporary = directory + "/.tmp-" + String(try SecureRandom.uint64(), radix: 16)
        do {
            let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            try systemCall("fchmod", path: temporary) { fchmod(fd.raw, 0o600) }
            var failure: (any Error)?
            let bytes = SymmetricKey(byteCount: byteCount) { buffer in
                do { try fill(UnsafeMutableRawBufferPointer(buffer)) } catch { failure = error }
            }
            if let failure { throw failure }
            try bytes.withUnsafeBytes { bytes in try fd.write(bytes, at: 0) }
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
