#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Foundation
import StewardTesting
import Testing
@testable import StewardCrash
import Synchronization

/// A small C library built by the tests, with and without DWARF: a known function at a known
/// line, and a call inlined into it.
enum DWARFTestLibrary {
    /// Line 7 is the call in the inlined function; line 11 is where it is inlined.
    static let source = """
        #include <stdint.h>
        __attribute__((noinline)) void steward_lines_record(uintptr_t *out) {
            *out = (uintptr_t)__builtin_return_address(0);
            __asm__ volatile("" ::: "memory");
        }
        static inline __attribute__((always_inline)) void steward_lines_inner(uintptr_t *out) {
            steward_lines_record(out);
        }
        __attribute__((noinline)) uintptr_t steward_lines_outer(void) {
            uintptr_t out = 0;
            steward_lines_inner(&out);
            return out;
        }

        """
    static let innerLine = 7
    static let outerLine = 11

    static let compiler: String? = {
        var candidates = ["/opt/swift/usr/bin/clang"]
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":") { candidates += ["\(directory)/clang", "\(directory)/cc"] }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    struct Built {
        var directory: String
        var withDWARF: String
        var withoutDWARF: String
        var sourcePath: String
    }

    /// Builds both libraries once per test process.
    static let built: Built? = {
        guard let compiler else { return nil }
        var template = Array("/tmp/steward-dwarf-XXXXXX".utf8CString)
        guard
            let made = template.withUnsafeMutableBufferPointer({ buffer in buffer.baseAddress.flatMap { mkdtemp($0) } })
        else { return nil }
        let directory = String(cString: made)
        let sourcePath = directory + "/steward_lines.c"
        guard (try? source.write(toFile: sourcePath, atomically: true, encoding: .utf8)) != nil else { return nil }
        let withDWARF = directory + "/libstewardlines.so"
        let withoutDWARF = directory + "/libstewardlines-nodebug.so"
        for (output, debug) in [(withDWARF, "-g"), (withoutDWARF, "-g0")] {
            let arguments = [debug, "-O2", "-shared", "-fPIC", "-o", output, sourcePath]
            guard let process = try? ChildProcess(compiler, arguments: arguments), process.wait() == .exited(0) else {
                return nil
            }
        }
        return Built(directory: directory, withDWARF: withDWARF, withoutDWARF: withoutDWARF, sourcePath: sourcePath)
    }()

    /// Loads `path` and returns the return address `steward_lines_outer` saw (inside the call
    /// inlined into it). The library stays loaded for the rest of the process.
    static func returnAddress(loading path: String) -> UInt64? {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL), let symbol = dlsym(handle, "steward_lines_outer")
        else { return nil }
        let function = unsafeBitCast(symbol, to: (@convention(c) () -> UInt).self)
        return UInt64(function())
    }
}

@Suite struct SymbolicationDWARFTests {
    @Test func libdwIsLoadedOnThisMachine() {
        // bootstrap.sh installs it; every other test here depends on it.
        #expect(DWARFSourceLines.isAvailable)
    }

    @Test func aReturnAddressGetsFileLineAndColumnWithTheInlinedCallAsAFrameOfItsOwn() throws {
        let built = try #require(DWARFTestLibrary.built)
        let address = try #require(DWARFTestLibrary.returnAddress(loading: built.withDWARF))
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let output = Symbolicator(dwarfLines: true, symbolizerPath: nil).symbolicate(
            maps: maps, addresses: [address], firstIsReturnAddress: true)
        #expect(output.frames.count == 2)
        let inlined = try #require(output.frames.first)
        let function = try #require(output.frames.last)
        #expect(inlined.instructionAddress == address && function.instructionAddress == address)

        #expect(inlined.isInlined)
        #expect(inlined.function == "steward_lines_inner")
        #expect(inlined.filename == built.sourcePath)
        #expect(inlined.line == DWARFTestLibrary.innerLine)
        #expect(inlined.column == 5)
        #expect(inlined.symbolAddress == nil)
        #expect(inlined.package == built.withDWARF)

        #expect(!function.isInlined)
        #expect(function.function == "steward_lines_outer")
        #expect(function.filename == built.sourcePath)
        #expect(function.line == DWARFTestLibrary.outerLine)
        #expect(function.column == 5)
        #expect(function.symbolAddress != nil)
        #expect(output.images.map(\.path) == [built.withDWARF])
    }

    @Test("libdw's sessions stay open for a batch only: released, the next lookup opens the file again")
    func sessionsAreReleasedAfterABatch() throws {
        let built = try #require(DWARFTestLibrary.built)
        let address = try #require(DWARFTestLibrary.returnAddress(loading: built.withDWARF))
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let symbolicator = Symbolicator(dwarfLines: true, symbolizerPath: nil)
        let first = symbolicator.symbolicate(maps: maps, addresses: [address], firstIsReturnAddress: true)
        #expect(symbolicator.openSourceLinesCount == 1, "the session is kept while the batch runs")
        symbolicator.releaseSourceLines()
        #expect(symbolicator.openSourceLinesCount == 0)
        let again = symbolicator.symbolicate(maps: maps, addresses: [address], firstIsReturnAddress: true)
        #expect(again.frames == first.frames && again.frames.first?.line == DWARFTestLibrary.innerLine)
    }

    @Test("processPending closes every libdw session it opened (a file truncated later cannot fault a mapping)")
    func processPendingLeavesNoSessionOpen() throws {
        let fixture = try ReporterFixture()
        defer { try? FileManager.default.removeItem(atPath: fixture.dir) }
        fixture.configuration.symbolication = .functionNamesAndSourceLocations
        fixture.relaunch()
        // Writing a record installs the handlers, which one reporter of the process may have at
        // a time: under the lock every crash test takes (it failed CI once without it).
        try crashHandlerGlobalState.withLock { _ in try fixture.writeRecords(1) }
        fixture.relaunch()
        let result = fixture.reporter.processPending()
        let report = try #require(result.reports.first, "\(result.problems)")
        #expect(report.crashedThread.frames.contains { $0.line != nil }, "the test binary's frames have lines")
        #expect(fixture.reporter.symbolicator.openSourceLinesCount == 0)
    }

    @Test func aLibraryWithoutDWARFKeepsFunctionNamesAndGetsNoLines() throws {
        let built = try #require(DWARFTestLibrary.built)
        let address = try #require(DWARFTestLibrary.returnAddress(loading: built.withoutDWARF))
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let output = Symbolicator(dwarfLines: true, symbolizerPath: nil).symbolicate(
            maps: maps, addresses: [address], firstIsReturnAddress: true)
        #expect(output.frames.count == 1)
        let frame = try #require(output.frames.first)
        #expect(frame.function == "steward_lines_outer")
        #expect(frame.filename == nil && frame.line == nil && frame.column == nil && !frame.isInlined)
        #expect(DWARFSourceLines(path: built.withoutDWARF) == nil)
    }

    @Test func withoutAskingForLinesTheSameAddressGetsOnlyTheFunctionName() throws {
        let built = try #require(DWARFTestLibrary.built)
        let address = try #require(DWARFTestLibrary.returnAddress(loading: built.withDWARF))
        let maps = try #require(SymbolicationTestSupport.readMaps())
        let output = Symbolicator(symbolizerPath: nil).symbolicate(
            maps: maps, addresses: [address], firstIsReturnAddress: true)
        #expect(output.frames.map(\.function) == ["steward_lines_outer"])
        #expect(output.frames.first?.filename == nil)
    }

    @Test func aMissingFileOrOneThatIsNotELFHasNoLines() throws {
        let built = try #require(DWARFTestLibrary.built)
        #expect(DWARFSourceLines(path: built.directory + "/missing.so") == nil)
        #expect(DWARFSourceLines(path: built.directory) == nil)
        let garbage = built.directory + "/garbage.so"
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let bytes = (0..<65_536).map { _ -> UInt8 in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: garbage))
        #expect(DWARFSourceLines(path: garbage) == nil)
        // A garbage file mapped as an image: the frame keeps its address and the image.
        let maps = "7f0000000000-7f0000010000 r-xp 00000000 00:00 0 \(garbage)\n"
        let output = Symbolicator(dwarfLines: true, symbolizerPath: nil).symbolicate(
            maps: maps, addresses: [0x7f00_0000_1234])
        #expect(
            output.frames == [
                StackFrame(instructionAddress: 0x7f00_0000_1234, package: garbage, imageAddress: 0x7f00_0000_0000)
            ])
    }

    /// Truncated and overwritten copies of the library with DWARF: libdw either refuses them or
    /// answers within the bounds; nothing traps.
    @Test(arguments: ["truncated", "overwritten"])
    func aDamagedCopyGivesBoundedAnswersAndNoTrap(damage: String) throws {
        let built = try #require(DWARFTestLibrary.built)
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: built.withDWARF)))
        if damage == "truncated" {
            bytes.removeLast(bytes.count / 2)
        } else {
            var state: UInt64 = 0x2545_F491_4F6C_DD1D
            for index in (bytes.count / 4)..<(bytes.count * 3 / 4) {
                state ^= state << 13
                state ^= state >> 7
                state ^= state << 17
                bytes[index] = UInt8(truncatingIfNeeded: state)
            }
        }
        let copy = built.directory + "/damaged-\(damage).so"
        try Data(bytes).write(to: URL(fileURLWithPath: copy))
        if let lines = DWARFSourceLines(path: copy) {
            for address in stride(from: UInt64(0), to: 0x4000, by: 7) {
                let locations = lines.locations(at: address)
                #expect(locations.count <= DWARFSourceLines.maximumFrames)
                #expect(locations.allSatisfy { ($0.line ?? 1) > 0 && ($0.column ?? 1) > 0 })
            }
        }
    }

    @Test func inlinedFramesKeepTheSymbolTableNameOnTheFunctionsOwnFrame() {
        let frame = StackFrame(instructionAddress: 0x10, function: "outer()", symbolAddress: 0x8)
        let expanded = Symbolicator.expand(
            frame,
            [
                .init(function: "inner", file: "/a.c", line: 3, column: 2, inlined: true),
                .init(function: "outer_dwarf", file: "/a.c", line: 9, column: nil, inlined: false),
            ])
        #expect(
            expanded == [
                StackFrame(
                    instructionAddress: 0x10, function: "inner", filename: "/a.c", line: 3, column: 2,
                    isInlined: true),
                StackFrame(
                    instructionAddress: 0x10, function: "outer()", filename: "/a.c", line: 9, symbolAddress: 0x8),
            ])
        // A chain cut short (no function frame from DWARF) still ends with the function.
        #expect(
            Symbolicator.expand(frame, [.init(function: "inner", file: nil, line: 3, column: nil, inlined: true)]).last
                == frame)
    }
}
