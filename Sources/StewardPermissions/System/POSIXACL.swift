import StewardCore

/// A POSIX.1e access ACL, as Linux stores it in the `system.posix_acl_access` extended attribute.
///
/// The attribute value is a little-endian `u32` version (2) followed by entries of
/// `{u16 tag, u16 perm, u32 id}`. logind's `uaccess` rule, `setfacl` and udev all write it;
/// the probe reads it to tell whether a named-user or named-group entry grants access that the
/// mode bits alone do not.
///
/// Parsing is strict: a wrong version, a truncated entry, an unknown tag or a set of entries
/// that the kernel would reject (no owner, group or other entry; named entries without a mask)
/// gives `nil`, which the probe treats as "no ACL" and falls back to the mode bits.
///
/// ```swift
/// let acl = POSIXACL(entries: [
///     .init(tag: .userObject, permissions: [.read, .write]),
///     .init(tag: .user, permissions: [.read, .write], id: 1000),
///     .init(tag: .groupObject, permissions: [.read, .write]),
///     .init(tag: .mask, permissions: [.read, .write]),
///     .init(tag: .other, permissions: []),
/// ])
/// POSIXACL(xattrValue: acl.xattrValue) == acl  // true
/// ```
struct POSIXACL: Hashable, Sendable {
    /// The kind of an ACL entry, with the kernel's tag values.
    enum Tag: UInt16, Hashable, Sendable {
        /// The file owner (`user::`).
        case userObject = 0x01
        /// A named user (`user:ID:`).
        case user = 0x02
        /// The file group (`group::`).
        case groupObject = 0x04
        /// A named group (`group:ID:`).
        case group = 0x08
        /// The most any group-class entry may grant (`mask::`).
        case mask = 0x10
        /// Everyone else (`other::`).
        case other = 0x20
    }

    /// One entry of the ACL.
    struct Entry: Hashable, Sendable {
        /// What the entry applies to.
        var tag: Tag
        /// The rights it grants (before the mask).
        var permissions: AccessRights
        /// The user or group id of a named entry; ``undefinedID`` for the others.
        var id: UInt32

        /// Creates an entry.
        ///
        /// - Parameters:
        ///   - tag: What the entry applies to.
        ///   - permissions: The rights it grants.
        ///   - id: The user or group id for ``Tag/user`` and ``Tag/group``; leave it out otherwise.
        init(tag: Tag, permissions: AccessRights, id: UInt32 = POSIXACL.undefinedID) {
            self.tag = tag
            self.permissions = permissions
            self.id = id
        }

        /// The entry as `getfacl` writes it (`user:1000:rw-`, `mask::r--`), with names when known.
        var text: String {
            switch tag {
            case .userObject: return "user::\(permissions.symbolic)"
            case .user: return "user:\(POSIXCall.userName(id) ?? String(id)):\(permissions.symbolic)"
            case .groupObject: return "group::\(permissions.symbolic)"
            case .group: return "group:\(POSIXCall.groupName(id) ?? String(id)):\(permissions.symbolic)"
            case .mask: return "mask::\(permissions.symbolic)"
            case .other: return "other::\(permissions.symbolic)"
            }
        }
    }

    /// How an ACL decided a request, for the reason text.
    enum Decision: Hashable, Sendable {
        /// The process owns the file; the `user::` entry applies.
        case owner(Entry)
        /// A `user:ID:` entry names the process's uid; its rights are cut by the mask.
        case namedUser(Entry, mask: Entry?)
        /// Group-class entries (`group::`, `group:ID:`) match the process's groups; access is
        /// granted when one of them, cut by the mask, grants all of it.
        case groups([Entry], mask: Entry?)
        /// Nothing else matches; the `other::` entry applies.
        case other(Entry)
    }

    /// The id the kernel stores in entries that name no one (`ACL_UNDEFINED_ID`).
    static let undefinedID: UInt32 = 0xFFFF_FFFF
    /// The only attribute version Linux writes (`POSIX_ACL_XATTR_VERSION`).
    static let xattrVersion: UInt32 = 2
    /// The name of the extended attribute that holds the access ACL.
    static let xattrName = "system.posix_acl_access"

    /// The entries, in stored order.
    var entries: [Entry]

    /// Creates an ACL from entries, without checking them.
    ///
    /// - Parameter entries: The entries; ``xattrValue`` writes them in this order.
    init(entries: [Entry]) { self.entries = entries }

    /// Parses the value of `system.posix_acl_access`; `nil` when it is malformed.
    ///
    /// - Parameter xattrValue: The raw attribute bytes.
    init?<Bytes: Collection<UInt8>>(xattrValue: Bytes) {
        let bytes = Array(xattrValue)
        guard bytes.count >= 4, (bytes.count - 4) % 8 == 0 else { return nil }
        // The length was checked above: every field is in range (0 otherwise, never a trap).
        let reader = ByteReader(bytes)
        func u16(_ at: Int) -> UInt16 { reader.u16(at: at) ?? 0 }
        func u32(_ at: Int) -> UInt32 { reader.u32(at: at) ?? 0 }
        guard u32(0) == Self.xattrVersion else { return nil }
        var entries: [Entry] = []
        var offset = 4
        while offset < bytes.count {
            guard let tag = Tag(rawValue: u16(offset)) else { return nil }
            let perm = u16(offset + 2)
            guard perm & ~0o7 == 0 else { return nil }
            entries.append(Entry(tag: tag, permissions: AccessRights(rawValue: perm), id: u32(offset + 4)))
            offset += 8
        }
        let acl = POSIXACL(entries: entries)
        guard acl.isValid else { return nil }
        self = acl
    }

    /// The bytes of the `system.posix_acl_access` attribute for this ACL.
    var xattrValue: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(4 + entries.count * 8)
        func append(_ value: UInt32, bytes count: Int) {
            for index in 0..<count { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
        }
        append(Self.xattrVersion, bytes: 4)
        for entry in entries {
            append(UInt32(entry.tag.rawValue), bytes: 2)
            append(UInt32(entry.permissions.rawValue), bytes: 2)
            append(entry.id, bytes: 4)
        }
        return bytes
    }

    /// Whether the kernel would accept these entries (as `posix_acl_valid` does).
    ///
    /// Exactly one `user::`, `group::` and `other::` entry, at most one `mask::`, and a mask
    /// whenever a named entry is present.
    var isValid: Bool {
        func number(of tag: Tag) -> Int { entries.count(where: { $0.tag == tag }) }
        guard number(of: .userObject) == 1, number(of: .groupObject) == 1, number(of: .other) == 1 else { return false }
        let masks = number(of: .mask)
        guard masks <= 1 else { return false }
        let named = number(of: .user) + number(of: .group)
        return named == 0 || masks == 1
    }

    /// Decides a request per the POSIX.1e access check algorithm.
    ///
    /// In order: the owner gets the `user::` entry; a `user:UID:` entry for the process's uid
    /// applies, cut by the mask; otherwise, when any group-class entry matches the process's
    /// groups, access is granted if one of them (cut by the mask) grants all of `wanted`, and
    /// denied if none does; otherwise `other::` applies.
    ///
    /// - Parameters:
    ///   - wanted: The rights asked for.
    ///   - owner: The file's owner uid.
    ///   - fileGroup: The file's group gid (what `group::` applies to).
    ///   - uid: The process's effective uid.
    ///   - groups: The process's effective gid and supplementary groups.
    /// - Returns: Whether access is granted, and which entries decided it.
    func evaluate(
        _ wanted: AccessRights, owner: UInt32, fileGroup: UInt32,
        uid: UInt32, groups: Set<UInt32>
    ) -> (granted: Bool, decision: Decision) {
        let mask = entries.first { $0.tag == .mask }
        let maskRights = mask?.permissions ?? [.read, .write, .execute]
        if uid == owner, let entry = entries.first(where: { $0.tag == .userObject }) {
            return (entry.permissions.isSuperset(of: wanted), .owner(entry))
        }
        if let entry = entries.first(where: { $0.tag == .user && $0.id == uid }) {
            return (entry.permissions.intersection(maskRights).isSuperset(of: wanted), .namedUser(entry, mask: mask))
        }
        let matching = entries.filter { entry in
            (entry.tag == .groupObject && groups.contains(fileGroup))
                || (entry.tag == .group && groups.contains(entry.id))
        }
        if !matching.isEmpty {
            let granted = matching.contains { $0.permissions.intersection(maskRights).isSuperset(of: wanted) }
            return (granted, .groups(matching, mask: mask))
        }
        let other = entries.first { $0.tag == .other } ?? Entry(tag: .other, permissions: [])
        return (other.permissions.isSuperset(of: wanted), .other(other))
    }
}
