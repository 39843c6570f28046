#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import StewardTesting
import Testing
@testable import StewardCrash

/// Helpers shared by the symbolication suites.
enum SymbolicationTestSupport {
    static func readMaps() -> String? {
        // Read to the end: procfs files report a size of 0.
        guard let data = readRegularFile("/proc/self/maps", limit: 16 << 20) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    static let readelf: String? = [
        "/opt/swift/usr/bin/llvm-readelf", "/usr/bin/llvm-readelf", "/usr/bin/readelf",
        "/opt/swift/usr/bin/llvm-readobj", "/usr/bin/llvm-readobj",
    ]
    .first { FileManager.default.isExecutableFile(atPath: $0) }

    /// Runs a tool and returns its standard output (tests only; the library has its own runner).
    static func run(_ arguments: [String]) -> String? {
        guard let outcome = try? ChildProcess.run(arguments[0], arguments: Array(arguments.dropFirst())) else {
            return nil
        }
        return String(decoding: outcome.standardOutput, as: UTF8.self)
    }
}

/// A distinctive function whose frame the tests look for.
@inline(never)
func symbolicationMarkerCapturingTheStack() -> [UInt64] {
    let addresses = Thread.callStackReturnAddresses.map { UInt64(truncatingIfNeeded: $0.uintValue) }
    return addresses + [0]  // keeps the call from being a tail call
}

/// A function whose address the tests take.
@inline(never)
func symbolicationMarkerWithAnAddress(_ x: Int32) -> Int32 { x &* 3 &+ 1 }

@Suite struct SymbolicationTests {
    @Test func symbolicatesAReturnAddressInASwiftFunctionOfThisProcess() throws {
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let addresses = symbolicationMarkerCapturingTheStack().dropLast()
        let output = Symbolicator(symbolizerPath: nil).symbolicate(
            maps: maps, addresses: Array(addresses), firstIsReturnAddress: true)
        #expect(output.frames.count == addresses.count)
        let marker = output.frames.first { $0.function?.contains("symbolicationMarkerCapturingTheStack") == true }
        let frame = try #require(marker)
        #expect(frame.function?.hasPrefix("$s") == false)  // demangled
        #expect(frame.package.map { output.images.map(\.path).contains($0) } == true)
        let symbolAddress = try #require(frame.symbolAddress)
        #expect(symbolAddress < frame.instructionAddress)
        #expect(frame.imageAddress.map { $0 <= symbolAddress } == true)
    }

    @Test func symbolicatesTheAddressOfASwiftFunction() throws {
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let pointer: @convention(c) (Int32) -> Int32 = symbolicationMarkerWithAnAddress
        let address = UInt64(UInt(bitPattern: unsafeBitCast(pointer, to: UnsafeRawPointer.self)))
        let output = Symbolicator(symbolizerPath: nil).symbolicate(maps: maps, addresses: [address])
        let function = try #require(output.frames.first?.function)
        #expect(function.contains("symbolicationMarkerWithAnAddress"))
    }

    @Test func symbolicatesGetpidInLibc() throws {
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let symbol = try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getpid"))
        let address = UInt64(UInt(bitPattern: symbol))
        let output = Symbolicator(symbolizerPath: nil).symbolicate(maps: maps, addresses: [address])
        let frame = try #require(output.frames.first)
        #expect(frame.function == "getpid")
        #expect(frame.symbolAddress == address)
        #expect(frame.package?.contains("libc") == true)
        let image = try #require(output.images.first)
        #expect(image.start <= address && address < image.end)
        #expect(image.buildID.map { $0.count >= 16 && $0 == $0.lowercased() } == true)
    }

    @Test func addressesOutsideAnyImageKeepOnlyTheirAddress() throws {
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let output = Symbolicator(symbolizerPath: nil).symbolicate(maps: maps, addresses: [0, 8, UInt64.max])
        #expect(
            output.frames == [
                StackFrame(instructionAddress: 0), StackFrame(instructionAddress: 8),
                StackFrame(instructionAddress: UInt64.max),
            ])
        #expect(output.images.isEmpty)
        #expect(
            Symbolicator(symbolizerPath: nil).symbolicate(maps: "", addresses: [1]).frames == [
                StackFrame(instructionAddress: 1)
            ])
    }

    @Test func aReplacedOrDeletedFileIsNotUsedForSymbols() throws {
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let symbol = try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getpid"))
        let address = UInt64(UInt(bitPattern: symbol))
        let parsed = MemoryMaps(parsing: maps)
        let changedInode = MemoryMaps(
            mappings: parsed.mappings.map { mapping in
                var mapping = mapping
                if mapping.path?.contains("libc.so") == true { mapping.inode &+= 1 }
                return mapping
            })
        let deleted = MemoryMaps(
            mappings: parsed.mappings.map { mapping in
                var mapping = mapping
                if mapping.path?.contains("libc.so") == true { mapping.deleted = true }
                return mapping
            })
        for maps in [changedInode, deleted] {
            let frame = try #require(
                Symbolicator(symbolizerPath: nil).symbolicate(maps: maps, addresses: [address]).frames.first)
            #expect(frame.function == nil)
            #expect(frame.package?.contains("libc") == true)
        }
    }

    @Test func theELFCacheRereadsAFileWhoseIdentityChanged() throws {
        let path = NSTemporaryDirectory() + "steward-elf-cache-\(getpid()).so"
        defer { unlink(path) }
        var elf = SyntheticELF()
        try Data(elf.bytes).write(to: URL(fileURLWithPath: path))
        let symbolicator = Symbolicator(symbolizerPath: nil)
        #expect(symbolicator.file(at: path)?.buildIDHex == "f1c3bcc0279865fe3058404b2831d9e64135386c")
        // Another build ID, and one more byte so the size differs too.
        let noteStart = try #require(
            elf.bytes.indices.first { Array(elf.bytes[$0..<($0 + 4)]) == [0xf1, 0xc3, 0xbc, 0xc0] })
        elf.bytes[noteStart] = 0xaa
        try Data(elf.bytes + [0]).write(to: URL(fileURLWithPath: path))
        #expect(symbolicator.file(at: path)?.buildIDHex == "aac3bcc0279865fe3058404b2831d9e64135386c")
        #expect(symbolicator.file(at: path + ".missing") == nil)
    }

    @Test func demanglesSwiftNamesAndLeavesCNamesAlone() {
        #expect(Demangler.demangle("$s4Test5outeryyF") == "Test.outer() -> ()")
        #expect(Demangler.demangle("getpid") == "getpid")
        #expect(Demangler.demangle("$sNotReallyMangled!!") == "$sNotReallyMangled!!")
        #expect(Demangler.demangle("") == "")
    }

    @Test func theAsyncWrapperGivesTheSameAnswer() async throws {
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let symbol = try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getpid"))
        let address = UInt64(UInt(bitPattern: symbol))
        let symbolicator = Symbolicator(symbolizerPath: nil)
        let output = await symbolicator.symbolicateOnThread(maps: maps, addresses: [address])
        #expect(output == symbolicator.symbolicate(maps: maps, addresses: [address]))
    }

    @Test func theLoadBiasOfAPositionIndependentImageIsItsBaseMinusTheSegmentAddress() throws {
        let image = try #require(
            MemoryMaps(
                parsing: """
                    7f0000000000-7f0000001000 r--p 00000000 fe:00 1 /x
                    7f0000001000-7f0000003000 r-xp 00001000 fe:00 1 /x
                    """
            ).images.first)
        let file = try ELFFile(bytes: SyntheticELF().bytes)
        #expect(
            Symbolicator(symbolizerPath: nil).loadBias(image: image, file: file, address: 0x7f0000001010)
                == 0x7f0000000000)
    }

    @Test(.enabled(if: LLVMSymbolizer.find() != nil, "needs llvm-symbolizer"))
    func fileAndLineComeFromLLVMSymbolizerWhenDebugInformationExists() throws {
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let addresses = Array(symbolicationMarkerCapturingTheStack().dropLast())
        let output = Symbolicator().symbolicate(maps: maps, addresses: addresses, firstIsReturnAddress: true)
        let frame = try #require(
            output.frames.first { $0.function?.contains("symbolicationMarkerCapturingTheStack") == true })
        #expect(frame.filename?.hasSuffix("SymbolicationTests.swift") == true)
        #expect((frame.line ?? 0) > 0)
    }

    @Test func aSymbolizerThatIsNotThereOrFailsLeavesFileAndLineEmpty() throws {
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let symbol = try #require(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "getpid"))
        let address = UInt64(UInt(bitPattern: symbol))
        for tool in ["/nonexistent/llvm-symbolizer", "/bin/false"] {
            let frame = try #require(
                Symbolicator(symbolizerPath: tool).symbolicate(maps: maps, addresses: [address]).frames.first)
            #expect(frame.function == "getpid")
            #expect(frame.filename == nil && frame.line == nil)
        }
    }

    /// A shell script standing in for llvm-symbolizer, in a temporary file the caller unlinks.
    private func fakeSymbolizer(_ script: String) throws -> String {
        var template = Array("/tmp/steward-symbolizer-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        try #require(fd >= 0)
        let path = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let text = "#!/bin/sh\n\(script)\n"
        _ = text.withCString { write(fd, $0, strlen($0)) }
        fchmod(fd, 0o700)
        close(fd)
        return path
    }

    @Test(arguments: ["exec /bin/sleep 30", "exec /usr/bin/yes '{}'"])
    func aSymbolizerThatHangsOrFloodsIsKilledAndGivesNothing(script: String) throws {
        let path = try fakeSymbolizer(script)
        defer { unlink(path) }
        let symbolizer = LLVMSymbolizer(path: path, timeout: .milliseconds(300))
        #expect(symbolizer.locations(object: "/proc/self/exe", addresses: [1, 2]) == [nil, nil])
    }

    @Test func theSymbolizerHoldsNoneOfTheHostsDescriptors() throws {
        // A descriptor the host opened without close-on-exec, at a number the shell does not use.
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        try #require(devNull >= 0)
        let leaky = fcntl(devNull, F_DUPFD, 900)
        close(devNull)
        try #require(leaky >= 900)
        defer { close(leaky) }
        // Line 1 when the tool holds the host's descriptor, line 2 when it does not.
        let path = try fakeSymbolizer(
            "if [ -e /proc/$$/fd/\(leaky) ]; then line=1; else line=2; fi\n"
                + #"printf '[{"Address":"0x1","Symbol":[{"FileName":"fd","Line":%s}]}]' "$line""#)
        defer { unlink(path) }
        let symbolizer = LLVMSymbolizer(path: path, timeout: .seconds(30))
        #expect(
            symbolizer.locations(object: "/proc/self/exe", addresses: [1]) == [
                LLVMSymbolizer.Location(file: "fd", line: 2)
            ])
    }

    @Test func parsesLLVMSymbolizerJSON() {
        let output = Array(
            """
            [{"Address":"0x640","ModuleName":"/tmp/t","Symbol":[{"Column":0,"FileName":"/tmp/t.c","Line":1}]},\
            {"Address":"0x1","ModuleName":"/tmp/t","Symbol":[{"FileName":"","Line":0}]}]
            """.utf8)
        #expect(
            LLVMSymbolizer.parse(output, count: 3) == [LLVMSymbolizer.Location(file: "/tmp/t.c", line: 1), nil, nil])
        #expect(LLVMSymbolizer.parse(Array("not json".utf8), count: 1) == [nil])
    }
}
