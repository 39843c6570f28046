import Testing
@testable import StewardCrash

@Suite struct SymbolicationMapsTests {
    static let fixture = """
        55d0c0a00000-55d0c0a02000 r--p 00000000 fe:00 253911                     /usr/bin/cat
        55d0c0a02000-55d0c0a07000 r-xp 00002000 fe:00 253911                     /usr/bin/cat
        55d0c0a07000-55d0c0a0a000 r--p 00007000 fe:00 253911                     /usr/bin/cat
        55d0c0a0b000-55d0c0a0c000 rw-p 0000a000 fe:00 253911                     /usr/bin/cat
        55d0c1e5f000-55d0c1e80000 rw-p 00000000 00:00 0                          [heap]
        7f3879875000-7f387989b000 r--p 00000000 fe:00 333151                     /usr/lib/x86_64-linux-gnu/libc.so.6
        7f387989b000-7f38799f1000 r-xp 00026000 fe:00 333151                     /usr/lib/x86_64-linux-gnu/libc.so.6
        7f38799f1000-7f3879a44000 r--p 0017c000 fe:00 333151                     /usr/lib/x86_64-linux-gnu/libc.so.6
        7f3879a50000-7f3879a52000 rw-p 00000000 00:00 0 
        7f3879b00000-7f3879b01000 r-xp 00001000 fe:00 4242                       /opt/My App/lib plugin.so (deleted)
        7f3879b01000-7f3879b02000 r--p 00000000 fe:00 4242                       /opt/My App/lib plugin.so (deleted)
        this line is not a mapping
        zzzz-7f3879b02000 r--p 00000000 fe:00 4242 /x
        7f3879b02000-7f3879b03000 rwzp 00000000 fe:00 1 /bad/perms

        7ffd5a3e1000-7ffd5a402000 rw-p 00000000 00:00 0                          [stack]
        7ffd5a5f3000-7ffd5a5f5000 r-xp 00000000 00:00 0                          [vdso]
        ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]
        """

    @Test func parsesEveryWellFormedLineAndCountsTheOddOnes() {
        let maps = MemoryMaps(parsing: Self.fixture)
        #expect(maps.mappings.count == 14)
        #expect(maps.skippedLines == 3)
        let heap = maps.mappings[4]
        #expect(heap.path == "[heap]")
        #expect(!heap.isFileBacked)
        #expect(maps.mappings[8].path == nil)
        #expect(maps.mappings[8].inode == 0)
        #expect(maps.mappings.last?.path == "[vsyscall]")
        #expect(maps.mappings.last?.end == 0xffffffffff601000)
        let text = maps.mappings[1]
        #expect(text.start == 0x55d0c0a02000 && text.end == 0x55d0c0a07000)
        #expect(text.permissions == "r-xp" && text.isExecutable)
        #expect(text.offset == 0x2000 && text.device == "fe:00" && text.inode == 253911)
    }

    @Test func groupsFileBackedMappingsIntoImagesWithTheirLoadBase() throws {
        let maps = MemoryMaps(parsing: Self.fixture)
        #expect(
            maps.images.map(\.path) == [
                "/usr/bin/cat", "/usr/lib/x86_64-linux-gnu/libc.so.6", "/opt/My App/lib plugin.so",
            ])
        let cat = maps.images[0]
        #expect(cat.start == 0x55d0c0a00000 && cat.end == 0x55d0c0a0c000)
        #expect(cat.baseMapping?.start == 0x55d0c0a00000)
        #expect(cat.mappings.count == 4)
        #expect(!cat.deleted)
        let plugin = maps.images[2]
        #expect(plugin.deleted)
        #expect(plugin.start == 0x7f3879b00000 && plugin.end == 0x7f3879b02000)
        // The offset-0 mapping is the base even when it is not the lowest.
        #expect(plugin.baseMapping?.start == 0x7f3879b01000)
    }

    @Test func findsTheImageHoldingAnAddressButNotGapsOrAnonymousMemory() {
        let maps = MemoryMaps(parsing: Self.fixture)
        #expect(maps.image(containing: 0x55d0c0a03000)?.path == "/usr/bin/cat")
        #expect(maps.image(containing: 0x7f38799f0fff)?.path == "/usr/lib/x86_64-linux-gnu/libc.so.6")
        #expect(maps.image(containing: 0x55d0c0a0a800) == nil)  // the gap between two mappings of cat
        #expect(maps.image(containing: 0x55d0c1e60000) == nil)  // heap
        #expect(maps.image(containing: 0x7ffd5a5f3000) == nil)  // vdso
        #expect(maps.image(containing: 0) == nil)
        #expect(maps.mapping(containing: 0x7ffd5a5f3000)?.path == "[vdso]")
    }

    @Test(arguments: [
        "", "\n\n", "garbage", "1-2", "0-1 r-xp 0 fe:00", "\u{0}\u{1}\u{2}", "ffffffffffffffffff-0 r--p 0 0:0 0 /x",
        "2000-1000 r--p 00000000 00:00 0 /backwards",
    ])
    func oddInputYieldsNoMappings(text: String) {
        let maps = MemoryMaps(parsing: text)
        #expect(maps.mappings.isEmpty)
        #expect(maps.images.isEmpty)
    }

    @Test func parsesThisProcessesMaps() throws {
        let text = try #require(SymbolicationTestSupport.readMaps())
        let maps = MemoryMaps(parsing: text)
        #expect(maps.skippedLines == 0)
        #expect(maps.images.contains { $0.path.hasSuffix("libc.so.6") })
    }
}
