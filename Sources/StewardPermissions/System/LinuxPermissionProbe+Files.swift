#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The folder and file checks: storage (the data folder), photos (the pictures folder) and
/// device identity (`/etc/machine-id`).
extension LinuxPermissionProbe {
    // MARK: - Storage

    /// Storage: the data folder (or its nearest existing ancestor) is writable and searchable,
    /// on a writable mount, with at least ``Configuration/minimumFreeBytes`` free.
    func checkStorage() -> SystemAccess {
        let folder: String
        if let configured = configuration.dataDirectory, !configured.isEmpty {
            folder = configured
        } else if let dataHome = environment("XDG_DATA_HOME"), dataHome.hasPrefix("/") {
            folder = dataHome
        } else if let home = environment("HOME") {
            folder = home + "/.local/share"
        } else {
            return .unavailable(
                reason: "no data folder: LinuxPermissionProbe.Configuration.dataDirectory, "
                    + "XDG_DATA_HOME and HOME are all unset; set one of them")
        }

        // The nearest existing ancestor is where the folder will be created.
        var existing = folder
        var status: FileStatus?
        while true {
            switch FileStatus.read(existing) {
            case .success(let found):
                status = found
            case .failure(let failure) where failure.code == ENOENT && existing != "/" && !existing.isEmpty:
                existing = Self.parent(of: existing)
                continue
            case .failure(let failure):
                return .unavailable(reason: "the data folder \(folder) cannot be looked at: \(failure.description)")
            }
            break
        }
        let subject =
            existing == folder
            ? "the data folder \(existing)"
            : "\(existing) (the nearest existing folder above the data folder \(folder), which does not exist yet)"
        guard let status, status.kind == .directory else {
            return .unavailable(
                reason: "\(subject) is not a folder: remove it or choose another data folder "
                    + "(LinuxPermissionProbe.Configuration.dataDirectory)")
        }

        var space = statvfs()
        if POSIXCall.retrying({ statvfs(existing, &space) }) != 0 {
            return .unavailable(reason: "cannot read the free space of \(subject): \(POSIXFailure(errno).description)")
        }
        if space.f_flag & UInt(ST_RDONLY) != 0 {
            return .unavailable(
                reason: "\(subject) is on a read-only mount: remount it read-write "
                    + "or choose a data folder on a writable file system")
        }

        let verdict = access(existing, [.write, .execute])
        if !verdict.isGranted {
            return .unavailable(
                reason: "\(subject) is not writable: \(verdict.reason): make it writable "
                    + "(chown \(userName) \(existing) or chmod u+wx \(existing)) or choose another data folder "
                    + "(LinuxPermissionProbe.Configuration.dataDirectory)")
        }

        let free = UInt64(space.f_bavail).multipliedReportingOverflow(by: UInt64(space.f_frsize))
        let freeBytes = free.overflow ? UInt64.max : free.partialValue
        if freeBytes < configuration.minimumFreeBytes {
            return .unavailable(
                reason: "\(subject) has \(Self.byteCount(freeBytes)) free "
                    + "(\(freeBytes) bytes) but storage needs at least \(Self.byteCount(configuration.minimumFreeBytes)) "
                    + "(\(configuration.minimumFreeBytes) bytes): free some space or choose a data folder on a larger file system"
            )
        }
        return .available(detail: "\(subject) is writable, \(Self.byteCount(freeBytes)) free")
    }

    /// The parent of an absolute or relative path (`/a/b` -> `/a`, `/a` -> `/`).
    static func parent(of path: String) -> String {
        var trimmed = path
        while trimmed.count > 1, trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard let slash = trimmed.lastIndex(of: "/") else { return "." }
        return slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
    }

    /// A byte count in binary units (`64 MiB`, `1.5 GiB`, `512 bytes`).
    static func byteCount(_ bytes: UInt64) -> String {
        let units = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        guard bytes >= 1024 else { return bytes == 1 ? "1 byte" : "\(bytes) bytes" }
        var value = Double(bytes) / 1024
        var unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        let tenths = (value * 10).rounded()
        if tenths.truncatingRemainder(dividingBy: 10) == 0 { return "\(Int(tenths / 10)) \(units[unit])" }
        return "\(tenths / 10) \(units[unit])"
    }

    // MARK: - Photos

    /// Photos: the XDG pictures folder exists, is a folder, and is readable and searchable.
    func checkPhotos() -> SystemAccess {
        guard let (folder, origin) = picturesFolder() else {
            return .unavailable(
                reason: "no pictures folder: XDG_PICTURES_DIR and HOME are unset; "
                    + "set XDG_PICTURES_DIR to the folder that holds the photos")
        }
        let verdict = access(folder, [.read, .execute])
        if verdict.failure?.code == ENOENT {
            var reason =
                "the pictures folder \(folder) (\(origin)) does not exist: create it "
                + "(mkdir -p \(folder) or xdg-user-dirs-update) or point XDG_PICTURES_DIR in user-dirs.dirs "
                + "at the folder that holds the photos"
            if let hint = sandboxHint(flatpak: "--filesystem=xdg-pictures", snap: "home") { reason += "; \(hint)" }
            return .unavailable(reason: reason)
        }
        if verdict.status != nil, verdict.status?.kind != .directory {
            return .unavailable(
                reason: "the pictures folder \(folder) (\(origin)) is not a folder: "
                    + "point XDG_PICTURES_DIR in user-dirs.dirs at the folder that holds the photos")
        }
        guard verdict.isGranted else {
            var fix = "make it readable (chmod u+rx \(folder))"
            if let hint = sandboxHint(flatpak: "--filesystem=xdg-pictures", snap: "home") { fix += "; \(hint)" }
            return .unavailable(
                reason: "the pictures folder \(folder) (\(origin)) is not readable: \(verdict.reason): \(fix)")
        }
        return .available(detail: "pictures folder \(folder) (\(origin))")
    }

    /// The XDG pictures folder and where its path came from: `XDG_PICTURES_DIR`, then
    /// `user-dirs.dirs` in `$XDG_CONFIG_HOME` (or `~/.config`), then `~/Pictures`.
    func picturesFolder() -> (path: String, origin: String)? {
        let home = environment("HOME")
        if let value = environment("XDG_PICTURES_DIR") {
            return (Self.expandingHome(value, home: home), "from XDG_PICTURES_DIR")
        }
        let configHome =
            environment("XDG_CONFIG_HOME").flatMap { $0.hasPrefix("/") ? $0 : nil }
            ?? home.map { $0 + "/.config" }
        if let configHome {
            let file = configHome + "/user-dirs.dirs"
            if let text = POSIXCall.readText(file), let value = Self.userDirsValue(text, key: "XDG_PICTURES_DIR") {
                return (Self.expandingHome(value, home: home), "from \(file)")
            }
        }
        return home.map { ($0 + "/Pictures", "the default, ~/Pictures") }
    }

    /// The value of `key` in a `user-dirs.dirs` file (`XDG_PICTURES_DIR="$HOME/Pictures"`),
    /// unquoted; the last assignment wins, as when the shell sources the file.
    static func userDirsValue(_ text: String, key: String) -> String? {
        var found: String?
        for rawLine in text.split(whereSeparator: \.isNewline) {
            let line = String(rawLine).trimmedOfWhitespace()
            guard !line.hasPrefix("#"), line.hasPrefix(key + "=") else { continue }
            var value = String(line.dropFirst(key.count + 1)).trimmedOfWhitespace()
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
                value = String(value.dropFirst().dropLast())
            }
            if !value.isEmpty { found = value }
        }
        return found
    }

    /// Replaces a leading `$HOME` or `${HOME}` and makes a relative path relative to home.
    static func expandingHome(_ value: String, home: String?) -> String {
        guard let home else { return value }
        for token in ["${HOME}", "$HOME"] where value.hasPrefix(token) {
            return home + value.dropFirst(token.count)
        }
        if value.hasPrefix("~/") { return home + value.dropFirst(1) }
        return value.hasPrefix("/") ? value : home + "/" + value
    }

    // MARK: - Device identity

    /// Device identity: `/etc/machine-id` is readable and holds 32 lowercase hex digits.
    func checkDeviceIdentity() -> SystemAccess {
        let path = systemPath("/etc/machine-id")
        let setup = "run systemd-machine-id-setup (as root) to create it"
        let verdict = access(path, .read)
        if verdict.failure?.code == ENOENT {
            return .unavailable(reason: "\(path) does not exist: \(setup)")
        }
        guard verdict.isGranted else {
            return .unavailable(
                reason: "\(path) is not readable: \(verdict.reason): make it readable (chmod 0444 \(path))")
        }
        let bytes: [UInt8]
        switch POSIXCall.readFile(path, limit: 256) {
        case .success(let read): bytes = read
        case .failure(let failure) where failure.code == EINVAL:
            return .unavailable(
                reason:
                    "\(path) is not a regular file, so it is not opened: remove it and run systemd-machine-id-setup (as root)"
            )
        case .failure(let failure):
            return .unavailable(reason: "\(path) cannot be read: \(failure.description)")
        }
        var digits = bytes[...]
        if digits.last == UInt8(ascii: "\n") { digits = digits.dropLast() }
        let isHex: (UInt8) -> Bool = { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
        if digits.count == 32, digits.allSatisfy(isHex) {
            return .available(detail: "machine ID in \(path)")
        }
        let text = String(decoding: bytes, as: UTF8.self).trimmedOfWhitespace()
        if text.isEmpty {
            return .unavailable(reason: "\(path) is empty: the machine ID has not been set up; \(setup)")
        }
        if text == "uninitialized" {
            return .unavailable(
                reason: "\(path) says 'uninitialized': the first boot has not completed; "
                    + "\(setup) or finish booting")
        }
        return .unavailable(
            reason: "\(path) does not hold a machine ID (32 lowercase hexadecimal digits, "
                + "found \(bytes.count) bytes): remove it and run systemd-machine-id-setup (as root) to recreate it")
    }
}
