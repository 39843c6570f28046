import Testing
@testable import StewardPermissions

@Suite struct ACLTests {
    /// What logind's uaccess rule leaves on /dev/video0: user:4242 named, mask given.
    private func acl(
        namedUser: AccessRights = [.read, .write], mask: AccessRights = [.read, .write],
        namedGroup: (UInt32, AccessRights)? = nil
    ) -> POSIXACL {
        var entries: [POSIXACL.Entry] = [
            .init(tag: .userObject, permissions: [.read, .write]),
            .init(tag: .user, permissions: namedUser, id: 4242),
            .init(tag: .groupObject, permissions: [.read, .write]),
        ]
        if let (gid, rights) = namedGroup { entries.append(.init(tag: .group, permissions: rights, id: gid)) }
        entries += [.init(tag: .mask, permissions: mask), .init(tag: .other, permissions: [])]
        return POSIXACL(entries: entries)
    }

    @Test func xattrBytesRoundTrip() throws {
        let original = acl(namedGroup: (100, [.read]))
        let parsed = try #require(POSIXACL(xattrValue: original.xattrValue))
        #expect(parsed == original)
    }

    @Test func parsesHandBuiltLittleEndianBytes() throws {
        let bytes: [UInt8] = [
            0x02, 0x00, 0x00, 0x00,  // version 2
            0x01, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,  // user::rw-
            0x02, 0x00, 0x06, 0x00, 0xe8, 0x03, 0x00, 0x00,  // user:1000:rw-
            0x04, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,  // group::rw-
            0x10, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff,  // mask::rw-
            0x20, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,  // other::---
        ]
        let parsed = try #require(POSIXACL(xattrValue: bytes))
        #expect(parsed.entries.count == 5)
        #expect(parsed.entries[1] == POSIXACL.Entry(tag: .user, permissions: [.read, .write], id: 1000))
        #expect(parsed.xattrValue == bytes)
    }

    @Test func namedUserEntryMaskedOutIsDenied() {
        let masked = acl(namedUser: [.read, .write], mask: [.read])
        let write = masked.evaluate([.read, .write], owner: 0, fileGroup: 44, uid: 4242, groups: [4242])
        #expect(write.granted == false)
        #expect(masked.evaluate([.read], owner: 0, fileGroup: 44, uid: 4242, groups: [4242]).granted)
        let unmasked = acl(namedUser: [.read, .write], mask: [.read, .write])
        #expect(unmasked.evaluate([.read, .write], owner: 0, fileGroup: 44, uid: 4242, groups: [4242]).granted)
    }

    @Test func groupEntriesAreMaskedAndAnyMatchingEntryMayGrant() {
        let list = acl(mask: [.read, .write], namedGroup: (100, [.read]))
        // In group 44 (group::rw-): granted.
        #expect(list.evaluate([.read, .write], owner: 0, fileGroup: 44, uid: 5000, groups: [44, 100]).granted)
        // Only in group 100 (group:100:r--): read only.
        #expect(list.evaluate([.read, .write], owner: 0, fileGroup: 44, uid: 5000, groups: [100]).granted == false)
        #expect(list.evaluate([.read], owner: 0, fileGroup: 44, uid: 5000, groups: [100]).granted)
        // The mask also cuts group::.
        let tight = acl(mask: [.read])
        #expect(tight.evaluate([.read, .write], owner: 0, fileGroup: 44, uid: 5000, groups: [44]).granted == false)
    }

    @Test func matchingGroupEntryThatDeniesDoesNotFallBackToOther() {
        let entries: [POSIXACL.Entry] = [
            .init(tag: .userObject, permissions: [.read, .write]),
            .init(tag: .groupObject, permissions: []),
            .init(tag: .other, permissions: [.read]),
        ]
        let list = POSIXACL(entries: entries)
        let result = list.evaluate([.read], owner: 0, fileGroup: 44, uid: 5000, groups: [44])
        #expect(result.granted == false)
        #expect(list.evaluate([.read], owner: 0, fileGroup: 44, uid: 5000, groups: []).granted)
    }

    @Test func ownerUsesTheUserObjectEntryEvenWithANamedEntryForTheSameUid() {
        let entries: [POSIXACL.Entry] = [
            .init(tag: .userObject, permissions: [.read]),
            .init(tag: .user, permissions: [.read, .write], id: 4242),
            .init(tag: .groupObject, permissions: []),
            .init(tag: .mask, permissions: [.read, .write]),
            .init(tag: .other, permissions: []),
        ]
        let result = POSIXACL(entries: entries).evaluate([.write], owner: 4242, fileGroup: 0, uid: 4242, groups: [])
        #expect(result.granted == false)
    }

    @Test(arguments: [
        ("empty", [UInt8]()),
        ("version only, no entries", [0x02, 0x00, 0x00, 0x00]),
        ("wrong version", [0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff]),
        ("truncated entry", [0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06, 0x00, 0xff, 0xff]),
        ("truncated version", [0x02, 0x00]),
        ("unknown tag", [0x02, 0x00, 0x00, 0x00, 0x40, 0x00, 0x06, 0x00, 0xff, 0xff, 0xff, 0xff]),
        ("permission out of range", [0x02, 0x00, 0x00, 0x00, 0x01, 0x00, 0x08, 0x00, 0xff, 0xff, 0xff, 0xff]),
    ])
    func malformedBytesAreNoACL(label: String, bytes: [UInt8]) {
        #expect(POSIXACL(xattrValue: bytes) == nil, "\(label)")
    }

    @Test func namedEntryWithoutMaskIsNoACL() {
        let entries: [POSIXACL.Entry] = [
            .init(tag: .userObject, permissions: [.read, .write]),
            .init(tag: .user, permissions: [.read, .write], id: 4242),
            .init(tag: .groupObject, permissions: []),
            .init(tag: .other, permissions: []),
        ]
        #expect(POSIXACL(xattrValue: POSIXACL(entries: entries).xattrValue) == nil)
    }

    @Test func malformedACLFallsBackToTheModeBits() {
        let status = FileStatus(kind: .characterDevice, permissions: 0o660, owner: 0, group: 44)
        let broken = POSIXACL(xattrValue: [0x03, 0x00, 0x00, 0x00, 0x02])
        let verdict = FileAccess.evaluate(
            path: "/dev/video0", status: status, acl: broken, wanted: [.read, .write],
            credentials: .init(uid: 4242, gid: 4242, groups: [44]))
        #expect(verdict.isGranted)
        #expect(verdict.rule == .group)
    }
}

@Suite struct FileAccessTests {
    private let device = FileStatus(kind: .characterDevice, permissions: 0o660, owner: 0, group: 44)

    @Test(arguments: [
        (LinuxPermissionProbe.Credentials(uid: 0, gid: 0), true, FileAccessVerdict.Rule.superuser),
        (.init(uid: 4242, gid: 44), true, .group),
        (.init(uid: 4242, gid: 4242, groups: [44]), true, .group),
        (.init(uid: 4242, gid: 4242), false, .other),
    ])
    func modeBitsDecideByOwnerGroupAndOther(
        credentials: LinuxPermissionProbe.Credentials, granted: Bool,
        rule: FileAccessVerdict.Rule
    ) {
        let verdict = FileAccess.evaluate(
            path: "/dev/video0", status: device, acl: nil, wanted: [.read, .write],
            credentials: credentials)
        #expect(verdict.isGranted == granted)
        #expect(verdict.rule == rule)
    }

    @Test func deniedReasonNamesModeGroupAndRule() {
        let verdict = FileAccess.evaluate(
            path: "/dev/video0", status: device, acl: nil, wanted: [.read, .write],
            credentials: .init(uid: 4242, gid: 4242))
        #expect(
            verdict.reason == "/dev/video0 is owned by user 'root' (uid 0) and group 'video' (gid 44) "
                + "with mode crw-rw----; this process (uid 4242) is not the owner, not in group 'video' (gid 44) "
                + "and no ACL entry grants it, so the other bits (---) apply and do not grant read and write")
        #expect(verdict.groupWouldGrant)
    }

    @Test func withAnEmptyMaskTheKernelIgnoresTheACLAndUsesTheModeBits() {
        // acl_permission_check: the ACL is consulted only when the group bits (the mask) are set.
        let acl = POSIXACL(entries: [
            .init(tag: .userObject, permissions: [.read, .write]),
            .init(tag: .user, permissions: [.read, .write], id: 4242),
            .init(tag: .groupObject, permissions: [.read]),
            .init(tag: .mask, permissions: []),
            .init(tag: .other, permissions: [.read]),
        ])
        let file = FileStatus(kind: .regular, permissions: 0o604, owner: 0, group: 44)
        let verdict = FileAccess.evaluate(
            path: "/f", status: file, acl: acl, wanted: [.read], credentials: .init(uid: 4242, gid: 4242))
        #expect(verdict.isGranted, "other::r-- grants read, as the kernel decides")
        #expect(verdict.rule == .other)
        let write = FileAccess.evaluate(
            path: "/f", status: file, acl: acl, wanted: [.write], credentials: .init(uid: 4242, gid: 4242))
        #expect(!write.isGranted, "the masked-out named entry grants nothing")
    }

    @Test func namedUserACLEntryGrantsAndShowsThePlusMark() {
        let acl = POSIXACL(entries: [
            .init(tag: .userObject, permissions: [.read, .write]),
            .init(tag: .user, permissions: [.read, .write], id: 4242),
            .init(tag: .groupObject, permissions: [.read, .write]),
            .init(tag: .mask, permissions: [.read, .write]),
            .init(tag: .other, permissions: []),
        ])
        let verdict = FileAccess.evaluate(
            path: "/dev/video0", status: device, acl: acl, wanted: [.read, .write],
            credentials: .init(uid: 4242, gid: 4242))
        #expect(verdict.isGranted)
        #expect(verdict.rule == .namedUser)
        #expect(verdict.reason.contains("crw-rw----+"))
    }

    @Test func rootNeedsAnExecuteBitToExecuteButAlwaysSearchesFolders() {
        let root = LinuxPermissionProbe.Credentials(uid: 0, gid: 0)
        let file = FileStatus(kind: .regular, permissions: 0o644, owner: 1, group: 1)
        let folder = FileStatus(kind: .directory, permissions: 0o000, owner: 1, group: 1)
        #expect(!FileAccess.evaluate(path: "/f", status: file, acl: nil, wanted: .execute, credentials: root).isGranted)
        #expect(
            FileAccess.evaluate(path: "/d", status: folder, acl: nil, wanted: [.write, .execute], credentials: root)
                .isGranted)
    }

    @Test(arguments: [
        (FileStatus.Kind.characterDevice, UInt32(0o660), "crw-rw----"),
        (.directory, 0o1777, "drwxrwxrwt"),
        (.regular, 0o4755, "-rwsr-xr-x"),
        (.regular, 0o2644, "-rw-r-Sr--"),
        (.blockDevice, 0o640, "brw-r-----"),
        (.socket, 0o777, "srwxrwxrwx"),
    ])
    func modesAreWrittenLikeLs(kind: FileStatus.Kind, permissions: UInt32, text: String) {
        #expect(FileStatus(kind: kind, permissions: permissions, owner: 0, group: 0).symbolicMode() == text)
    }
}
