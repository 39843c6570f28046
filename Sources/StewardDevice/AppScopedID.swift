import StewardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libc's `read`, by a name the `read` methods below cannot shadow.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int {
    read(fd, buffer, count)
}

/// The machine ID (/etc/machine-id), read and checked the way systemd does.
public enum MachineID {
    /// Reads the machine ID from `path`.
    ///
    /// - Throws: ``DeviceIdentityError`` with ``DeviceIdentityError/Code/machineIDUnavailable``
    ///   when the file is missing, unreadable, empty, `uninitialized` (first boot not done),
    ///   not 32 hex digits, or all zeros. Steward never makes up a machine ID.
    public static func read(path: String = "/etc/machine-id") throws -> ID128 {
        // Like systemd: follow a link (stateless images link it to /run/machine-id).
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw DeviceIdentityError(
                .machineIDUnavailable,
                "\(path) cannot be read (\(String(cString: strerror(errno)))); run systemd-machine-id-setup or give the host a machine ID"
            )
        }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
        guard n >= 0 else {
            throw DeviceIdentityError(
                .machineIDUnavailable, "\(path) cannot be read (\(String(cString: strerror(errno))))")
        }
        var content = Array(buffer.prefix(n))
        // 32 hex digits and at most one newline, as systemd accepts.
        if content.last == 0x0A { content.removeLast() }
        let text = String(decoding: content, as: UTF8.self)
        if content.isEmpty {
            throw DeviceIdentityError(.machineIDUnavailable, "\(path) is empty; run systemd-machine-id-setup")
        }
        if text == "uninitialized" {
            throw DeviceIdentityError(
                .machineIDUnavailable, "\(path) says \"uninitialized\": the system has not finished its first boot")
        }
        guard content.count == 32, let id = try? ID128(parsing: text), !id.isNull else {
            throw DeviceIdentityError(
                .machineIDUnavailable, "\(path) does not hold a machine ID (32 hex digits, not all zero)")
        }
        return id
    }
}

/// App-scoped identifiers: the Linux analogue of Android's ANDROID_ID.
///
/// The app-scoped ID is bit for bit systemd's app-specific machine ID
/// (`sd_id128_get_machine_app_specific`): HMAC-SHA256 keyed by the machine ID over the
/// application ID, first 16 bytes, made a version-4 UUID. So
/// `systemd-id128 machine-id --app-specific=APP` prints the same value, and two apps get
/// unrelated IDs on one machine: neither can be joined with the other nor turned back into the
/// machine ID.
public enum AppScopedID {
    /// The application ID for a reverse-DNS app name (`org.example.scanner`) or an id given as
    /// 32 hex digits / a UUID (used as is).
    ///
    /// The rule for names, stable across versions: the first 16 bytes of
    /// SHA-256("steward-app-id:" + the name in UTF-8), made a version-4 UUID.
    ///
    /// - Throws: ``DeviceIdentityError`` with ``DeviceIdentityError/Code/nullApplicationID`` for
    ///   an all-zero id, or for an empty name.
    public static func applicationID(for appID: String) throws -> ID128 {
        if let id = try? ID128(parsing: appID) {
            guard !id.isNull else {
                throw DeviceIdentityError(
                    .nullApplicationID, "the all-zero application ID is refused (systemd refuses it too)")
            }
            return id
        }
        guard !appID.isEmpty else { throw DeviceIdentityError(.nullApplicationID, "an application ID cannot be empty") }
        let digest = SHA256.hash(Array(("steward-app-id:" + appID).utf8))
        return ID128(unchecked: Array(digest.prefix(16))).asVersion4UUID()
    }

    /// systemd's app-specific ID of `machine` for `application`.
    ///
    /// - Throws: ``DeviceIdentityError`` with ``DeviceIdentityError/Code/nullApplicationID`` for
    ///   the all-zero application ID.
    public static func derive(machine: ID128, application: ID128) throws -> ID128 {
        guard !application.isNull else {
            throw DeviceIdentityError(
                .nullApplicationID, "the all-zero application ID is refused (systemd refuses it too)")
        }
        let key = try SymmetricKey(copying: machine.bytes)
        let mac = try HMACSHA256.authenticationCode(for: application.bytes, using: key)
        return ID128(unchecked: Array(mac.prefix(16))).asVersion4UUID()
    }
}
