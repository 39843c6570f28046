#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import StewardCore

/// Where ``DeviceProfile`` reads the system from: the real root, or a fixture tree.
///
/// All file access of the profile goes through this value, so a test can describe a device
/// as a directory tree (`<root>/sys/class/net/eth0/address`, `<root>/etc/os-release`...).
/// Small files are read with `open`/`read`, without Foundation, to keep a full profile fast.
///
/// ```swift
/// let real = SystemFiles()                          // reads "/"
/// let fixture = SystemFiles(root: "/tmp/device-a",  // reads a described device
///                           permanentAddresses: ["eth0": "52:54:00:12:34:56"])
/// ```
public struct SystemFiles: Sendable, Hashable {
    /// The directory that stands for `/`.
    public var root: String

    /// Permanent addresses to report instead of asking the kernel, keyed by interface name.
    ///
    /// `nil` on the real root means "ask the kernel (ETHTOOL_GPERMADDR)". `nil` on any other
    /// root means permanent addresses are unavailable, since the kernel does not know fixture
    /// interfaces.
    public var permanentAddresses: [String: String]?

    /// Creates a reader rooted at `root`.
    ///
    /// - Parameters:
    ///   - root: The directory that stands for `/`; `"/"` reads the real system.
    ///   - permanentAddresses: Permanent addresses for fixtures, keyed by interface name.
    public init(root: String = "/", permanentAddresses: [String: String]? = nil) {
        self.root = root
        self.permanentAddresses = permanentAddresses
    }

    /// Whether this reads the running system rather than a fixture tree.
    public var isRealRoot: Bool { root == "/" || root.isEmpty }

    /// The real path of an absolute system path such as `/etc/os-release`.
    func path(_ systemPath: String) -> String {
        if isRealRoot { return systemPath }
        var base = root
        while base.count > 1, base.hasSuffix("/") { base.removeLast() }
        return base + systemPath
    }

    /// Reads a whole small file (at most `limit` bytes), or says why it could not.
    func bytes(_ systemPath: String, limit: Int = 1 << 20) -> Field<[UInt8]> {
        let fd = retryingEINTR { open(path(systemPath), O_RDONLY | O_CLOEXEC | O_NONBLOCK) }
        if fd < 0 { return .unavailable(reason: "\(systemPath): \(describeErrno(errno))") }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while result.count < limit {
            let count = chunk.withUnsafeMutableBytes { buffer in
                retryingEINTR { read(fd, buffer.baseAddress, buffer.count) }
            }
            if count < 0 { return .unavailable(reason: "\(systemPath): \(describeErrno(errno))") }
            if count == 0 { break }
            result.append(contentsOf: chunk[0..<count])
        }
        return .value(result)
    }

    /// Reads a small file as UTF-8 text, or says why it could not.
    func text(_ systemPath: String) -> Field<String> {
        bytes(systemPath).flatMap { bytes in
            guard let text = String(validating: bytes, as: UTF8.self) else {
                return .unavailable(reason: "\(systemPath): not valid UTF-8")
            }
            return .value(text)
        }
    }

    /// Reads a one-value file (sysfs attribute) as trimmed text; empty counts as unavailable.
    func attribute(_ systemPath: String) -> Field<String> {
        text(systemPath).flatMap { text in
            let trimmed = text.trimmingSpaceAndNUL()
            if trimmed.isEmpty { return .unavailable(reason: "\(systemPath): empty") }
            return .value(trimmed)
        }
    }

    /// Whether anything (file, directory or link, even dangling) exists at the path.
    func exists(_ systemPath: String) -> Bool {
        var info = stat()
        return lstat(path(systemPath), &info) == 0
    }

    /// The names in a directory, sorted, without `.` and `..`.
    func directoryEntries(_ systemPath: String) -> Field<[String]> {
        switch DirectoryListing.entries(path(systemPath)) {
        case .success(let names): return .value(names.sorted())
        case .failure(let error): return .unavailable(reason: "\(systemPath): \(describeErrno(error.errno))")
        }
    }

    /// The permanent hardware address of an interface, from the fixture table or the kernel.
    func permanentAddress(of interface: String, socket: Int32?) -> Field<String> {
        if let table = permanentAddresses {
            guard let address = table[interface] else {
                return .unavailable(reason: "no permanent address given for \(interface)")
            }
            return .value(address)
        }
        guard isRealRoot else {
            return .unavailable(reason: "not asked: the profile reads a fixture root, not the kernel")
        }
        guard let socket else { return .unavailable(reason: "no socket for the ethtool ioctl") }
        switch LinuxNetwork.permanentAddress(of: interface, socket: socket) {
        case .failure(let error):
            return .unavailable(reason: "ETHTOOL_GPERMADDR on \(interface): \(describeErrno(error.errno))")
        case .success(let address) where address.isEmpty:
            return .unavailable(reason: "the driver of \(interface) reports no permanent address")
        case .success(let address):
            return .value(formatHardwareAddress(address))
        }
    }
}

/// Repeats a system call while it fails with EINTR.
func retryingEINTR<T: BinaryInteger>(_ call: () -> T) -> T {
    while true {
        let result = call()
        if result < 0, errno == EINTR { continue }
        return result
    }
}

/// Describes an errno value in words (`No such file or directory (errno 2)`).
func describeErrno(_ code: Int32) -> String {
    let message = strerror(code).map { String(cString: $0) } ?? "error"
    return "\(message) (errno \(code))"
}

/// Formats bytes as a lowercase colon-separated hardware address.
func formatHardwareAddress<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
    bytes.map { Hex.encode(CollectionOfOne($0)) }.joined(separator: ":")
}

extension String {
    /// The string without leading and trailing whitespace and NUL characters.
    func trimmingSpaceAndNUL() -> String {
        let isTrimmed: (Character) -> Bool = { $0.isWhitespace || $0 == "\0" }
        guard let first = firstIndex(where: { !isTrimmed($0) }),
            let last = lastIndex(where: { !isTrimmed($0) })
        else { return "" }
        return String(self[first...last])
    }
}
