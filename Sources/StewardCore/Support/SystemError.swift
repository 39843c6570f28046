#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A failed system call: which call, on what, and the `errno` it reported.
///
/// Steward turns every failing system call into this error through one helper that also
/// retries calls interrupted by a signal (`EINTR`), so no call site handles `errno` itself.
public struct SystemError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The system call that failed, such as `open` or `fsync`.
    public let call: String
    /// The path or object the call was made on, when there is one.
    public let path: String?
    /// The `errno` value.
    public let errno: Int32

    /// Creates an error for `call` on `path` that reported `errno`.
    public init(call: String, path: String? = nil, errno: Int32) {
        self.call = call
        self.path = path
        self.errno = errno
    }

    /// `strerror` text for ``errno``.
    public var reason: String { String(cString: strerror(errno)) }

    /// `CALL(PATH) failed: REASON (errno N)`, for logs.
    public var description: String {
        if let path { return "\(call)(\(path)) failed: \(reason) (errno \(errno))" }
        return "\(call) failed: \(reason) (errno \(errno))"
    }
}

/// Runs a system call, retrying it while it fails with `EINTR`, and throws ``SystemError``
/// when it fails (returns -1) for any other reason.
@inline(__always)
@discardableResult
func systemCall<T: FixedWidthInteger>(
    _ call: String, path: String? = nil, _ body: () -> T
) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw SystemError(call: call, path: path, errno: code)
    }
}
