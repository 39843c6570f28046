#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Rights asked of a file: the `rwx` of a mode triplet, with the same bit values.
struct AccessRights: OptionSet, Hashable, Sendable {
    let rawValue: UInt16
    init(rawValue: UInt16) { self.rawValue = rawValue & 0o7 }

    /// Reading (`r`, `R_OK`).
    static let read = AccessRights(rawValue: 0o4)
    /// Writing (`w`, `W_OK`).
    static let write = AccessRights(rawValue: 0o2)
    /// Executing a file or searching a directory (`x`, `X_OK`).
    static let execute = AccessRights(rawValue: 0o1)

    /// The triplet as `ls` writes it (`rw-`).
    var symbolic: String {
        (contains(.read) ? "r" : "-") + (contains(.write) ? "w" : "-") + (contains(.execute) ? "x" : "-")
    }

    /// The rights in words (`read and write`); `execute` is called `search` on directories.
    ///
    /// - Parameter directory: Whether the rights are asked of a directory.
    func words(directory: Bool = false) -> String {
        var names: [String] = []
        if contains(.read) { names.append("read") }
        if contains(.write) { names.append("write") }
        if contains(.execute) { names.append(directory ? "search" : "execute") }
        switch names.count {
        case 0: return "no access"
        case 1: return names[0]
        default: return names.dropLast().joined(separator: ", ") + " and " + (names.last ?? "")
        }
    }
}

/// What `stat` says about a file: type, mode bits and owners.
struct FileStatus: Hashable, Sendable {
    /// The file type, from `st_mode & S_IFMT`.
    enum Kind: Hashable, Sendable {
        case regular, directory, characterDevice, blockDevice, symbolicLink, fifo, socket, unknown

        /// The letter `ls -l` writes first for this type.
        var letter: Character {
            switch self {
            case .regular: "-"
            case .directory: "d"
            case .characterDevice: "c"
            case .blockDevice: "b"
            case .symbolicLink: "l"
            case .fifo: "p"
            case .socket: "s"
            case .unknown: "?"
            }
        }
    }

    /// The file type.
    var kind: Kind
    /// The permission bits, including set-uid, set-gid and sticky (`st_mode & 07777`).
    var permissions: UInt32
    /// The owner's uid.
    var owner: UInt32
    /// The group's gid.
    var group: UInt32

    /// Creates a status from its parts (tests build statuses without a file).
    ///
    /// - Parameters:
    ///   - kind: The file type.
    ///   - permissions: The mode bits (`0o660`).
    ///   - owner: The owner's uid.
    ///   - group: The group's gid.
    init(kind: Kind, permissions: UInt32, owner: UInt32, group: UInt32) {
        self.kind = kind
        self.permissions = permissions & 0o7777
        self.owner = owner
        self.group = group
    }

    /// Reads the status of a file.
    ///
    /// - Parameters:
    ///   - path: The file.
    ///   - followingLinks: `stat` (true) or `lstat` (false).
    /// - Returns: The status, or the errno of the failing call.
    static func read(_ path: String, followingLinks: Bool = true) -> Result<FileStatus, POSIXFailure> {
        var info = stat()
        let code = POSIXCall.retrying { followingLinks ? stat(path, &info) : lstat(path, &info) }
        if code != 0 { return .failure(POSIXFailure(errno)) }
        let kind: Kind =
            switch info.st_mode & S_IFMT {
            case S_IFREG: .regular
            case S_IFDIR: .directory
            case S_IFCHR: .characterDevice
            case S_IFBLK: .blockDevice
            case S_IFLNK: .symbolicLink
            case S_IFIFO: .fifo
            case S_IFSOCK: .socket
            default: .unknown
            }
        return .success(
            FileStatus(
                kind: kind, permissions: UInt32(info.st_mode),
                owner: UInt32(info.st_uid), group: UInt32(info.st_gid)))
    }

    /// The owner's bits.
    var ownerRights: AccessRights { AccessRights(rawValue: UInt16((permissions >> 6) & 0o7)) }
    /// The group's bits (the mask, when the file has an extended ACL).
    var groupRights: AccessRights { AccessRights(rawValue: UInt16((permissions >> 3) & 0o7)) }
    /// Everyone else's bits.
    var otherRights: AccessRights { AccessRights(rawValue: UInt16(permissions & 0o7)) }

    /// The mode as `ls -l` writes it (`crw-rw----`), with `+` when the file has an ACL.
    ///
    /// - Parameter hasACL: Whether to append the `+` that marks an extended ACL.
    func symbolicMode(hasACL: Bool = false) -> String {
        var text = String(kind.letter)
        let triplets: [(AccessRights, special: Bool, letter: Character)] = [
            (ownerRights, permissions & 0o4000 != 0, "s"),
            (groupRights, permissions & 0o2000 != 0, "s"),
            (otherRights, permissions & 0o1000 != 0, "t"),
        ]
        for (rights, special, letter) in triplets {
            text += rights.contains(.read) ? "r" : "-"
            text += rights.contains(.write) ? "w" : "-"
            if special {
                text.append(rights.contains(.execute) ? letter : Character(letter.uppercased()))
            } else {
                text += rights.contains(.execute) ? "x" : "-"
            }
        }
        return hasACL ? text + "+" : text
    }
}

/// The outcome of checking one file for some rights, with the reason in words.
struct FileAccessVerdict: Hashable, Sendable {
    /// Which rule decided.
    enum Rule: Hashable, Sendable {
        /// The file does not exist or cannot be looked at.
        case unreachable
        /// uid 0: read and write are granted whatever the mode (CAP_DAC_OVERRIDE).
        case superuser
        /// The process owns the file; the owner bits (or `user::`) apply.
        case owner
        /// A `user:UID:` ACL entry names the process.
        case namedUser
        /// The process is in the file's group (or one named by an ACL entry).
        case group
        /// Nothing names the process; the other bits apply.
        case other
        /// The mode bits grant it but the kernel refuses (an LSM or a sandbox).
        case kernelDenied
        /// The mode bits refuse but the kernel grants it (capabilities).
        case kernelGranted
    }

    /// The path that was checked.
    var path: String
    /// Whether every asked right is granted.
    var isGranted: Bool
    /// Which rule decided.
    var rule: Rule
    /// The file's status, when it could be read.
    var status: FileStatus?
    /// The file's access ACL, when it has a valid one.
    var acl: POSIXACL?
    /// Whether joining the file's group would grant the rights (the fix to suggest).
    var groupWouldGrant: Bool
    /// A sentence that names the file, its mode and owners, and the rule that decided
    /// (`/dev/video0 is owned by user 'root' (uid 0) and group 'video' (gid 44) with mode
    /// crw-rw----; uid 4242 is not the owner, ...`).
    var reason: String
    /// The errno when the file could not be looked at (ENOENT for a missing file).
    var failure: POSIXFailure?
}

/// Decides whether credentials may read, write or search a file, as the kernel would.
///
/// The decision follows the kernel's order: uid 0 gets read and write (and search on
/// directories, execute when any `x` bit is set); the owner gets the owner bits; when the file
/// has a POSIX ACL, the POSIX.1e algorithm applies (named users, then group-class entries cut
/// by the mask); otherwise the group bits when the file's group is one of the process's groups;
/// otherwise the other bits.
///
/// With no injected credentials the verdict is also confirmed with
/// `faccessat(..., AT_EACCESS)`: a kernel refusal although the bits allow it means an LSM
/// (AppArmor, SELinux) or a sandbox denies it, and a kernel grant although the bits refuse it
/// means a capability applies; the kernel wins in both cases.
enum FileAccess {
    /// Checks a file on disk.
    ///
    /// - Parameters:
    ///   - path: The file; symbolic links are followed (a device node is often a link).
    ///   - wanted: The rights asked for.
    ///   - credentials: Whose access to decide; `nil` for this process, confirmed by the kernel.
    /// - Returns: The verdict with its reason.
    static func check(
        _ path: String, wanted: AccessRights,
        credentials: LinuxPermissionProbe.Credentials?
    ) -> FileAccessVerdict {
        let status: FileStatus
        switch FileStatus.read(path) {
        case .success(let found): status = found
        case .failure(let failure):
            let reason =
                failure.code == ENOENT
                ? "\(path) does not exist"
                : "\(path) cannot be looked at: \(failure.description)"
            return FileAccessVerdict(
                path: path, isGranted: false, rule: .unreachable, status: nil, acl: nil,
                groupWouldGrant: false, reason: reason, failure: failure)
        }
        let acl = readACL(path)
        var verdict = evaluate(
            path: path, status: status, acl: acl, wanted: wanted,
            credentials: credentials ?? .current())
        if credentials == nil { confirmWithKernel(&verdict, wanted: wanted) }
        return verdict
    }

    /// Decides from a status and ACL, without touching the file system.
    ///
    /// - Parameters:
    ///   - path: The path to name in the reason.
    ///   - status: The file's status.
    ///   - acl: The file's access ACL, or `nil` for none.
    ///   - wanted: The rights asked for.
    ///   - credentials: Whose access to decide.
    /// - Returns: The verdict with its reason.
    static func evaluate(
        path: String, status: FileStatus, acl: POSIXACL?, wanted: AccessRights,
        credentials: LinuxPermissionProbe.Credentials
    ) -> FileAccessVerdict {
        let directory = status.kind == .directory
        let header =
            "\(path) is owned by \(userText(status.owner)) and \(groupText(status.group)) "
            + "with mode \(status.symbolicMode(hasACL: acl != nil))"
        let process = "this process (uid \(credentials.uid))"
        let groups = credentials.allGroups
        let inFileGroup = groups.contains(status.group)
        let asked = wanted.words(directory: directory)

        func verdict(
            _ granted: Bool, _ rule: FileAccessVerdict.Rule, _ clause: String,
            groupWouldGrant: Bool = false
        ) -> FileAccessVerdict {
            FileAccessVerdict(
                path: path, isGranted: granted, rule: rule, status: status, acl: acl,
                groupWouldGrant: groupWouldGrant, reason: "\(header); \(clause)", failure: nil)
        }
        func outcome(_ granted: Bool, _ have: AccessRights, plural: Bool = false) -> String {
            let lacking = wanted.subtracting(have).words(directory: directory)
            if plural { return granted ? "grant \(asked)" : "do not grant \(lacking)" }
            return granted ? "grants \(asked)" : "does not grant \(lacking)"
        }

        if credentials.uid == 0 {
            let anyExecute = status.permissions & 0o111 != 0
            let granted = !wanted.contains(.execute) || directory || anyExecute
            return verdict(
                granted, .superuser,
                granted
                    ? "\(process) is root, which may \(asked) whatever the mode"
                    : "\(process) is root, but no execute bit is set")
        }

        if credentials.uid == status.owner {
            let rights = acl?.entries.first { $0.tag == .userObject }?.permissions ?? status.ownerRights
            let granted = rights.isSuperset(of: wanted)
            return verdict(
                granted, .owner,
                "\(process) owns it and the owner bits (\(rights.symbolic)) \(outcome(granted, rights, plural: true))")
        }

        // Like the kernel (acl_permission_check): the ACL is consulted only when the mode's
        // group bits — the mask, when there is one — are not all clear.
        if let acl, status.permissions & 0o070 != 0 {
            let (granted, decision) = acl.evaluate(
                wanted, owner: status.owner, fileGroup: status.group,
                uid: credentials.uid, groups: groups)
            let maskRights = acl.entries.first { $0.tag == .mask }?.permissions ?? [.read, .write, .execute]
            let groupObject = acl.entries.first { $0.tag == .groupObject }?.permissions ?? []
            let groupWouldGrant = groupObject.intersection(maskRights).isSuperset(of: wanted)
            switch decision {
            case .owner(let entry):
                return verdict(
                    granted, .owner,
                    "\(process) owns it and the ACL entry \(entry.text) \(outcome(granted, entry.permissions))")
            case .namedUser(let entry, let mask):
                let effective = entry.permissions.intersection(maskRights)
                let cut = mask.map { ", cut by \($0.text) to \(effective.symbolic)," } ?? ""
                return verdict(
                    granted, .namedUser,
                    "the ACL entry \(entry.text) names \(process)\(cut) and \(outcome(granted, effective))",
                    groupWouldGrant: groupWouldGrant)
            case .groups(let entries, let mask):
                let names = entries.map(\.text).joined(separator: ", ")
                let cut = mask.map { " cut by \($0.text)" } ?? ""
                let clause =
                    granted
                    ? "\(process) matches the ACL group entries \(names)\(cut), which grant \(asked)"
                    : "\(process) matches the ACL group entries \(names), but\(cut) none grants \(asked)"
                return verdict(granted, .group, clause, groupWouldGrant: groupWouldGrant)
            case .other(let entry):
                let clause =
                    "\(process) is not the owner, not in \(groupText(status.group)) and no ACL entry names it, "
                    + "so \(entry.text) applies and \(outcome(granted, entry.permissions))"
                return verdict(granted, .other, clause, groupWouldGrant: groupWouldGrant)
            }
        }

        if inFileGroup {
            let rights = status.groupRights
            let granted = rights.isSuperset(of: wanted)
            return verdict(
                granted, .group,
                "\(process) is in \(groupText(status.group)), whose bits (\(rights.symbolic)) \(outcome(granted, rights, plural: true))",
                groupWouldGrant: granted)
        }
        let rights = status.otherRights
        let granted = rights.isSuperset(of: wanted)
        let clause =
            "\(process) is not the owner, not in \(groupText(status.group)) and no ACL entry grants it, "
            + "so the other bits (\(rights.symbolic)) apply and \(outcome(granted, rights, plural: true))"
        return verdict(granted, .other, clause, groupWouldGrant: status.groupRights.isSuperset(of: wanted))
    }

    /// Lets the kernel overrule a verdict taken from the mode bits, for this process only.
    private static func confirmWithKernel(_ verdict: inout FileAccessVerdict, wanted: AccessRights) {
        let code = POSIXCall.retrying { faccessat(AT_FDCWD, verdict.path, Int32(wanted.rawValue), AT_EACCESS) }
        let failure = code == 0 ? nil : POSIXFailure(errno)
        if verdict.isGranted, let failure {
            verdict.isGranted = false
            verdict.rule = .kernelDenied
            verdict.failure = failure
            let why: String
            switch failure.code {
            case EROFS: why = "the file system is mounted read-only"
            case EPERM:
                why =
                    "the operation is not permitted (an immutable file, or a seccomp filter such as an older container runtime's)"
            case EACCES: why = "a security module such as AppArmor or SELinux, or a sandbox, denies this process"
            default: why = "the check itself failed"
            }
            verdict.reason += "; but the kernel refuses it (\(failure.description)): \(why)"
        } else if !verdict.isGranted, failure == nil {
            verdict.isGranted = true
            verdict.rule = .kernelGranted
            verdict.reason += "; but the kernel grants it (a capability such as CAP_DAC_OVERRIDE)"
        }
    }

    /// The file's access ACL; `nil` when it has none (ENODATA), the file system has no ACLs
    /// (ENOTSUP), or the attribute is malformed.
    ///
    /// - Parameter path: The file; symbolic links are followed.
    static func readACL(_ path: String) -> POSIXACL? {
        guard let getxattr = ExtendedAttributes.get else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256)
        for _ in 0..<4 {
            let count = buffer.withUnsafeMutableBytes { raw in
                POSIXCall.retrying { getxattr(path, POSIXACL.xattrName, raw.baseAddress, raw.count) }
            }
            if count >= 0 { return POSIXACL(xattrValue: buffer.prefix(count)) }
            guard errno == ERANGE else { return nil }
            let size = POSIXCall.retrying { getxattr(path, POSIXACL.xattrName, nil, 0) }
            guard size > 0, size <= 1 << 16 else { return nil }
            buffer = [UInt8](repeating: 0, count: size)
        }
        return nil
    }

    /// `user 'root' (uid 0)`, or `uid 4242` when the user database does not know it.
    static func userText(_ uid: UInt32) -> String {
        POSIXCall.userName(uid).map { "user '\($0)' (uid \(uid))" } ?? "uid \(uid)"
    }

    /// `group 'video' (gid 44)`, or `the group with gid 4242` when the group database does not
    /// know it.
    static func groupText(_ gid: UInt32) -> String {
        POSIXCall.groupName(gid).map { "group '\($0)' (gid \(gid))" } ?? "the group with gid \(gid)"
    }
}

/// `getxattr(2)`, looked up at run time.
///
/// The Glibc module does not import `<sys/xattr.h>`, and a C shim would need its own target;
/// the symbol is in every glibc and musl, so it is found with `dlsym`. When it cannot be found
/// the probe reads no ACLs and decides from the mode bits.
enum ExtendedAttributes {
    /// The C signature of `getxattr(path, name, value, size)`.
    typealias GetFunction =
        @convention(c) (
            UnsafePointer<CChar>?, UnsafePointer<CChar>?,
            UnsafeMutableRawPointer?, Int
        ) -> Int

    /// `getxattr`, or `nil` when the C library does not export it.
    static let get: GetFunction? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "getxattr") else { return nil }
        return unsafeBitCast(symbol, to: GetFunction.self)
    }()
}
