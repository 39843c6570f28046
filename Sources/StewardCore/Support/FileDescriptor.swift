import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// libc's open, close and stat under names the methods called `open` and `stat` below cannot
// shadow (a module-qualified `Glibc.open` would not build against Musl).
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func systemClose(_ fd: Int32) -> Int32 { close(fd) }
typealias FileStatus = stat

/// An owned file descriptor that is closed when it goes away. Every call retries `EINTR`
/// and turns failures into ``SystemError`` naming the call and the path.
struct FileDescriptor: ~Copyable {
    let raw: Int32
    let path: String

    init(raw: Int32, path: String) {
        self.raw = raw
        self.path = path
    }

    /// Opens `path` with `O_CLOEXEC` added to `flags`.
    ///
    /// Inside a private directory Steward made or checked (``FileSystem/ensurePrivateDirectory(_:)``
    /// registers each one), no component below the outermost such directory is followed if it
    /// is a symbolic link: the walk opens that directory with `O_NOFOLLOW`, then each component
    /// with `openat(…, O_NOFOLLOW)`, so a folder of the data directory swapped for a link
    /// (`DATA/vault` → elsewhere) fails with `ELOOP` or `ENOTDIR` instead of reading or writing
    /// through it. Components above it (a `/home` that is a link) are the system's and are
    /// followed.
    static func open(_ path: String, _ flags: Int32, mode: mode_t = 0o600) throws -> FileDescriptor {
        if let root = PrivateRoots.root(containing: path) {
            return try openBeneath(root: root, path: path, flags, mode: mode)
        }
        let fd = try systemCall("open", path: path) { systemOpen(path, flags | O_CLOEXEC, mode) }
        return FileDescriptor(raw: fd, path: path)
    }

    /// Opens `path` (below `root`) component by component, following no link.
    private static func openBeneath(root: String, path: String, _ flags: Int32, mode: mode_t) throws -> FileDescriptor {
        let components = path.utf8.dropFirst(root.utf8.count).split(
            separator: UInt8(ascii: "/"), omittingEmptySubsequences: true
        )
        .map { String(decoding: $0, as: UTF8.self) }
        // `..` would climb out of the private directory: not a path Steward makes.
        guard !components.contains("..") else { throw SystemError(call: "open", path: path, errno: EACCES) }
        let directoryFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC
        var directory = try systemCall("open", path: root) { systemOpen(root, directoryFlags, 0) }
        guard let last = components.last else {
            _ = systemClose(directory)
            let fd = try systemCall("open", path: path) { systemOpen(path, flags | O_NOFOLLOW | O_CLOEXEC, mode) }
            return FileDescriptor(raw: fd, path: path)
        }
        defer { _ = systemClose(directory) }
        for component in components.dropLast() {
            let current = directory
            let next = try systemCall("openat", path: path) { openat(current, component, directoryFlags) }
            _ = systemClose(current)
            directory = next
        }
        let parent = directory
        let fd = try systemCall("openat", path: path) { openat(parent, last, flags | O_NOFOLLOW | O_CLOEXEC, mode) }
        return FileDescriptor(raw: fd, path: path)
    }

    deinit { _ = systemClose(raw) }

    func stat() throws -> FileStatus {
        var st = FileStatus()
        try systemCall("fstat", path: path) { fstat(raw, &st) }
        return st
    }

    /// Reads exactly `buffer.count` bytes at `offset`, or fewer at end of file; returns the count.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = try systemCall("pread", path: path) {
                pread(raw, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Reads the whole file (without zero-filling the buffer first), refusing one larger than
    /// `limit` bytes before allocating anything: a file's size is outside input (a sparse file
    /// may claim exabytes), and a failed allocation would end the host process.
    ///
    /// - Throws: ``SystemError`` with `EFBIG` for a file larger than `limit`, or the failed call.
    func readAll(limit: Int) throws -> [UInt8] {
        let reported = try stat().st_size
        guard reported >= 0, reported <= limit else { throw SystemError(call: "read", path: path, errno: EFBIG) }
        let size = Int(reported)
        var failure: (any Error)?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
            do {
                count = try read(into: UnsafeMutableRawBufferPointer(buffer), at: 0)
            } catch {
                failure = error
                count = 0
            }
        }
        if let failure { throw failure }
        return bytes
    }

    /// Writes all of `buffer` at `offset`.
    func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let n = try systemCall("pwrite", path: path) {
                pwrite(raw, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            }
            done += n
        }
    }

    func write(_ bytes: [UInt8], at offset: Int) throws {
        var failure: (any Error)?
        bytes.withUnsafeBytes { buffer in
            do { try write(buffer, at: offset) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func truncate(to size: Int) throws {
        try systemCall("ftruncate", path: path) { ftruncate(raw, off_t(size)) }
    }

    /// Flushes the file's data and the metadata needed to read it back (size) to the device.
    func syncData() throws {
        try systemCall("fdatasync", path: path) { fdatasync(raw) }
    }

    /// Flushes data and all metadata.
    func sync() throws {
        try systemCall("fsync", path: path) { fsync(raw) }
    }
}

/// The private directories Steward made or checked in this process: the outermost one that
/// holds a path is where ``FileDescriptor/open(_:_:mode:)`` stops following links.
enum PrivateRoots {
    private static let roots = Mutex<Set<String>>([])

    /// Registers `path` (absolute, without `..`).
    static func register(_ path: String) {
        guard path.hasPrefix("/"), path.count > 1, !path.split(separator: "/").contains("..") else { return }
        var clean = path
        while clean.count > 1, clean.hasSuffix("/") { clean.removeLast() }
        _ = roots.withLock { $0.insert(clean) }
    }

    /// The shortest registered directory that `path` lies strictly below, compared byte for
    /// byte (not as Unicode text: the file system does not normalise names).
    ///
    /// Looks up each ancestor of `path`, shortest first (a set lookup per `/`), so the cost does
    /// not grow with the number of directories registered.
    static func root(containing path: String) -> String? {
        let bytes = Array(path.utf8)
        guard bytes.first == UInt8(ascii: "/") else { return nil }
        var ends: [Int] = []
        for index in 1..<max(bytes.count - 1, 1) where bytes[index] == UInt8(ascii: "/") { ends.append(index) }
        guard !ends.isEmpty else { return nil }
        return roots.withLock { roots in
            for end in ends {
                // Strings compare as Unicode text; the file system compares bytes: both must agree.
                guard let found = roots.firstIndex(of: String(decoding: bytes[0..<end], as: UTF8.self)),
                    roots[found].utf8.elementsEqual(bytes[0..<end])
                else { continue }
                return roots[found]
            }
            return nil
        }
    }
}

/// File-system helpers shared by the key provider and the vault.
package enum FileSystem {
    /// The bytes of the regular file at `path` if it holds at most `limit` bytes; nil when it
    /// is missing, not a regular file (opened without blocking: a FIFO cannot hang the caller),
    /// larger, or unreadable. For small files of the system or the data folder, whose size is
    /// outside input.
    package static func readSmallFile(_ path: String, limit: Int) -> [UInt8]? {
        guard let fd = try? FileDescriptor.open(path, O_RDONLY | O_NONBLOCK),
            let st = try? fd.stat(), (st.st_mode & S_IFMT) == S_IFREG
        else { return nil }
        return try? fd.readAll(limit: limit)
    }

    /// Creates `path` as a 0700 directory if it is missing (parents too, also 0700), and checks
    /// that the final directory is a real directory owned by this user that no one else can
    /// enter. Returns whether it was created.
    ///
    /// Below a private directory already registered, the folder is checked and made through its
    /// parent opened like a file (``FileDescriptor/open(_:_:mode:)``: no link followed), with
    /// `fstatat(AT_SYMLINK_NOFOLLOW)` and `mkdirat`, so a folder of the data directory swapped
    /// for a link is refused instead of having a directory made behind it.
    @discardableResult
    static func ensurePrivateDirectory(_ path: String) throws -> Bool {
        if PrivateRoots.root(containing: path) != nil { return try ensurePrivateDirectoryBeneathRoot(path) }
        var st = FileStatus()
        if lstat(path, &st) == 0 {
            try checkPrivateDirectory(path, st)
            PrivateRoots.register(path)
            return false
        }
        guard errno == ENOENT else { throw SystemError(call: "lstat", path: path, errno: errno) }
        let parent = parentPath(path)
        if parent != path, !parent.isEmpty, access(parent, F_OK) != 0 {
            try makeParents(parent)
        }
        if mkdir(path, 0o700) != 0 {
            let code = errno
            if code != EEXIST { throw SystemError(call: "mkdir", path: path, errno: code) }
        }
        // umask can only remove bits; make the mode exact.
        try systemCall("chmod", path: path) { chmod(path, 0o700) }
        guard lstat(path, &st) == 0 else { throw SystemError(call: "lstat", path: path, errno: errno) }
        try checkPrivateDirectory(path, st)
        PrivateRoots.register(path)
        if parent != path, !parent.isEmpty { try? syncDirectory(parent) }
        return true
    }

    /// ``ensurePrivateDirectory(_:)`` for a path below a registered private directory.
    private static func ensurePrivateDirectoryBeneathRoot(_ path: String) throws -> Bool {
        let parentPath = parentPath(path)
        let name = lastComponent(path)
        guard !name.isEmpty, name != ".", name != ".." else {
            throw SystemError(call: "mkdir", path: path, errno: EINVAL)
        }
        let parent = try openParent(parentPath)
        var st = FileStatus()
        if fstatat(parent.raw, name, &st, AT_SYMLINK_NOFOLLOW) == 0 {
            try checkPrivateDirectory(path, st)
            PrivateRoots.register(path)
            return false
        }
        guard errno == ENOENT else { throw SystemError(call: "fstatat", path: path, errno: errno) }
        var created = true
        if mkdirat(parent.raw, name, 0o700) != 0 {
            let code = errno
            guard code == EEXIST else { throw SystemError(call: "mkdirat", path: path, errno: code) }
            created = false
        }
        let directory = try systemCall("openat", path: path) {
            openat(parent.raw, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        }
        defer { _ = systemClose(directory) }
        // umask can only remove bits; make the mode exact on the folder just made.
        if created { try systemCall("fchmod", path: path) { fchmod(directory, 0o700) } }
        try systemCall("fstat", path: path) { fstat(directory, &st) }
        try checkPrivateDirectory(path, st)
        PrivateRoots.register(path)
        if created { try? parent.sync() }
        return created
    }

    /// The folder `path` opened without following links; a missing one below the root is made
    /// the same way first.
    private static func openParent(_ path: String) throws -> FileDescriptor {
        do {
            return try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        } catch let error as SystemError where error.errno == ENOENT {
            try ensurePrivateDirectory(path)
            return try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        }
    }

    private static func makeParents(_ path: String) throws {
        let parent = parentPath(path)
        if parent != path, !parent.isEmpty, access(parent, F_OK) != 0 { try makeParents(parent) }
        if mkdir(path, 0o700) != 0, errno != EEXIST { throw SystemError(call: "mkdir", path: path, errno: errno) }
    }

    private static func checkPrivateDirectory(_ path: String, _ st: FileStatus) throws {
        if (st.st_mode & S_IFMT) == S_IFLNK {
            throw InsecurePathError(
                path: path,
                problem: "is a symbolic link; Steward keeps private data only in real directories. Remove the link.")
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw InsecurePathError(path: path, problem: "is not a directory. Move the file away.")
        }
        guard st.st_uid == geteuid() else {
            throw InsecurePathError(
                path: path,
                problem:
                    "belongs to user \(st.st_uid), not to this process (\(geteuid())). Use a data directory you own.")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw InsecurePathError(
                path: path,
                problem:
                    "has mode \(String(st.st_mode & 0o777, radix: 8)); group and others must have no access. Run: chmod 700 '\(path)'"
            )
        }
    }

    static func parentPath(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// fsyncs a directory so entries created, renamed or removed in it are durable.
    static func syncDirectory(_ path: String) throws {
        let fd = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY)
        try fd.sync()
    }

    /// The names in a directory, without `.` and `..`. The directory is opened like a file
    /// (``FileDescriptor/open(_:_:mode:)``): below a private directory, no link is followed.
    static func contents(of path: String) throws -> [String] {
        let fd = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY)
        let copy = dup(fd.raw)
        guard copy >= 0 else { throw SystemError(call: "dup", path: path, errno: errno) }
        guard let dir = fdopendir(copy) else {
            let code = errno
            _ = systemClose(copy)
            throw SystemError(call: "fdopendir", path: path, errno: code)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    package static func exists(_ path: String) -> Bool {
        var st = FileStatus()
        return lstat(path, &st) == 0
    }

    /// Writes `bytes` to `path` atomically: a 0600 temporary file in the same directory,
    /// fsynced, renamed over `path`, then the directory fsynced.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".tmp"
        try? removeFile(temporary)
        do {
            let fd = try FileDescriptor.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
            try fd.write(bytes, at: 0)
            try fd.sync()
        }
        try renameInPlace(temporary, to: path)
        try syncDirectory(parentPath(path))
    }

    /// The last component of `path`.
    static func lastComponent(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Renames `from` to `to`, both in the same directory, through that directory opened like a
    /// file (no link followed below a private directory).
    static func renameInPlace(_ from: String, to: String) throws {
        let parent = try FileDescriptor.open(parentPath(to), O_RDONLY | O_DIRECTORY)
        let (old, new) = (lastComponent(from), lastComponent(to))
        try systemCall("rename", path: to) { renameat(parent.raw, old, parent.raw, new) }
    }

    /// Creates the file `path`, which must not exist yet (not even as a link), with mode 0600
    /// from the start (`O_CREAT | O_EXCL | O_NOFOLLOW`, so no byte is ever readable under the
    /// umask's mode), writes `bytes` and fsyncs it. A partly written file is removed.
    ///
    /// - Throws: ``SystemError`` (`EEXIST` when something is already at `path`).
    package static func createNewFile(_ bytes: [UInt8], at path: String) throws {
        let fd = try FileDescriptor.open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, mode: 0o600)
        do {
            // The umask cannot add bits, but a default ACL could: make the mode exact.
            try systemCall("fchmod", path: path) { fchmod(fd.raw, 0o600) }
            try fd.write(bytes, at: 0)
            try fd.sync()
        } catch {
            try? removeFile(path)
            throw error
        }
    }

    /// Removes a file; a missing file (or folder holding it) is not an error. The folder is
    /// opened like a file (no link followed below a private directory), then `unlinkat`.
    package static func removeFile(_ path: String) throws {
        try remove(path, flags: 0)
    }

    private static func remove(_ path: String, flags: Int32) throws {
        let parent: FileDescriptor
        do {
            parent = try FileDescriptor.open(parentPath(path), O_RDONLY | O_DIRECTORY)
        } catch let error as SystemError where error.errno == ENOENT {
            return
        }
        let name = lastComponent(path)
        if unlinkat(parent.raw, name, flags) != 0, errno != ENOENT {
            throw SystemError(call: flags == 0 ? "unlink" : "rmdir", path: path, errno: errno)
        }
    }

    /// Removes a directory tree that holds only files and directories Steward made. A link in
    /// it is removed, never followed.
    static func removeTree(_ path: String) throws {
        var st = FileStatus()
        guard lstat(path, &st) == 0 else { return }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for name in try contents(of: path) { try removeTree(path + "/" + name) }
            try remove(path, flags: AT_REMOVEDIR)
        } else {
            try removeFile(path)
        }
    }
}

/// A path that Steward refuses to keep private data in: a link, a file where a directory
/// belongs, someone else's directory, or one that others can read.
public struct InsecurePathError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The path that was refused.
    public let path: String
    /// What is wrong and how to fix it.
    public let problem: String
    /// `PATH PROBLEM`, for logs.
    public var description: String { "\(path) \(problem)" }
}
