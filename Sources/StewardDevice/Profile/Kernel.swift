#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The running kernel, from uname(2).
///
/// uname describes the running process's kernel, never a fixture: these fields come from the
/// system call whatever ``SystemFiles`` root is used.
public struct Kernel: Codable, Sendable, Hashable {
    /// The kernel release, such as `6.8.0-45-generic`.
    public var release: Field<String>
    /// The machine architecture, such as `x86_64` or `aarch64`.
    public var architecture: Field<String>

    /// Creates a kernel description from its fields.
    public init(release: Field<String>, architecture: Field<String>) {
        self.release = release
        self.architecture = architecture
    }

    /// Reads the running kernel with uname(2).
    public static func read() -> Kernel {
        var names = utsname()
        guard uname(&names) == 0 else {
            let reason = "uname: \(describeErrno(errno))"
            return Kernel(release: .unavailable(reason: reason), architecture: .unavailable(reason: reason))
        }
        func field<Tuple>(_ tuple: Tuple, _ name: String) -> Field<String> {
            let bytes = withUnsafeBytes(of: tuple) { Array($0.prefix { $0 != 0 }) }
            guard let text = String(validating: bytes, as: UTF8.self), !text.isEmpty else {
                return .unavailable(reason: "uname \(name) is empty or not UTF-8")
            }
            return .value(text)
        }
        return Kernel(release: field(names.release, "release"), architecture: field(names.machine, "machine"))
    }
}
