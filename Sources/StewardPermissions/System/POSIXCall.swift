import StewardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The system calls the Linux probe makes, each retrying EINTR and reporting errno.
///
/// Every call the probe makes on files goes through here, so EINTR is handled in one place
/// and failures come back as an errno value the caller can put into a reason with
/// ``describe(_:)``. Nothing here throws or traps: the probe turns every failure into words.
enum POSIXCall {
    /// Repeats a system call while it fails with EINTR.
    ///
    /// - Parameter call: The call; a negative result with `errno == EINTR` repeats it.
    /// - Returns: The first result that is not an EINTR failure.
    static func retrying<T: BinaryInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result < 0, errno == EINTR { continue }
            return result
        }
    }

    /// Describes an errno value in words (`No such file or directory (errno 2)`).
    ///
    /// - Parameter code: The errno value.
    static func describe(_ code: Int32) -> String {
        let message = strerror(code).map { String(cString: $0) } ?? "error"
        return "\(message) (errno \(code))"
    }

    /// Reads a whole small file (at most `limit` bytes).
    ///
    /// - Parameters:
    ///   - path: The file to read.
    ///   - limit: The most bytes to read; the rest of a longer file is ignored.
    /// - Returns: The bytes, or the errno of the failing call (`EINVAL` for anything but a
    ///   regular file: a link to a device node such as /dev/watchdog must not be opened,
    ///   since opening some devices acts on them).
    static func readFile(_ path: String, limit: Int = 64 << 10) -> Result<[UInt8], POSIXFailure> {
        var before = stat()
        if retrying({ stat(path, &before) }) != 0 { return .failure(POSIXFailure(errno)) }
        guard before.st_mode & S_IFMT == S_IFREG else { return .failure(POSIXFailure(EINVAL)) }
        let fd = retrying { open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) }
        if fd < 0 { return .failure(POSIXFailure(errno)) }
        defer { close(fd) }
        // The path may have been swapped between stat and open.
        var after = stat()
        guard fstat(fd, &after) == 0, after.st_mode & S_IFMT == S_IFREG else { return .failure(POSIXFailure(EINVAL)) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let count = chunk.withUnsafeMutableBytes { buffer in
                retrying { read(fd, buffer.baseAddress, buffer.count) }
            }
            if count < 0 { return .failure(POSIXFailure(errno)) }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<min(count, limit - result.count)])
        }
        return .success(result)
    }

    /// Reads a small text file, trimmed of surrounding whitespace; `nil` when it cannot be read.
    ///
    /// - Parameter path: The file to read (a sysfs attribute, a udev database entry...).
    static func readText(_ path: String) -> String? {
        guard case .success(let bytes) = readFile(path) else { return nil }
        return String(decoding: bytes, as: UTF8.self).trimmedOfWhitespace()
    }

    /// The names in a directory, without `.` and `..`; `nil` when it cannot be listed.
    ///
    /// - Parameter path: The directory.
    static func directoryEntries(_ path: String) -> [String]? {
        try? DirectoryListing.entries(path).get()
    }

    /// Whether anything (file, directory or link, even dangling) exists at `path`.
    ///
    /// - Parameter path: The path to look at.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return retrying { lstat(path, &info) } == 0
    }

    /// The login name of a user id, or `nil` when the user database does not know it.
    ///
    /// - Parameter uid: The user id.
    static func userName(_ uid: UInt32) -> String? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var size = 4096
        while size <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: size)
            let code = buffer.withUnsafeMutableBufferPointer { storage -> Int32 in
                guard let base = storage.baseAddress else { return EINVAL }
                return getpwuid_r(uid, &entry, base, storage.count, &found)
            }
            if code == ERANGE { size *= 4; continue }
            if code == EINTR { continue }
            guard code == 0, found != nil, let name = entry.pw_name else { return nil }
            return String(cString: name)
        }
        return nil
    }

    /// The name of a group id, or `nil` when the group database does not know it.
    ///
    /// - Parameter gid: The group id.
    static func groupName(_ gid: UInt32) -> String? {
        var entry = group()
        var found: UnsafeMutablePointer<group>?
        var size = 4096
        while size <= 1 << 20 {
            var buffer = [CChar](repeating: 0, count: size)
            let code = buffer.withUnsafeMutableBufferPointer { storage -> Int32 in
                guard let base = storage.baseAddress else { return EINVAL }
                return getgrgid_r(gid, &entry, base, storage.count, &found)
            }
            if code == ERANGE { size *= 4; continue }
            if code == EINTR { continue }
            guard code == 0, found != nil, let name = entry.gr_name else { return nil }
            return String(cString: name)
        }
        return nil
    }
}

/// A failed system call's errno, kept so a reason can name it.
struct POSIXFailure: Error, Hashable, Sendable {
    /// The errno value.
    var code: Int32

    /// Wraps an errno value.
    ///
    /// - Parameter code: The errno value, usually `errno` right after the failing call.
    init(_ code: Int32) { self.code = code }

    /// The errno in words (`Permission denied (errno 13)`).
    var description: String { POSIXCall.describe(code) }
}

extension String {
    /// The string without leading and trailing whitespace and NUL characters.
    func trimmedOfWhitespace() -> String {
        let isTrimmed: (Character) -> Bool = { $0.isWhitespace || $0 == "\0" }
        guard let first = firstIndex(where: { !isTrimmed($0) }),
            let last = lastIndex(where: { !isTrimmed($0) })
        else { return "" }
        return String(self[first...last])
    }
}
