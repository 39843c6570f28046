import CStewardMallocProbe
import Foundation
import Synchronization
import Testing
@testable import StewardCrash

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// MARK: - Helpers shared by the handler and record tests

/// The handler, its ring and its context are process-wide: every test of this process that
/// touches them holds this lock. (Crash tests run in exit-test children and need no lock.)
let crashHandlerGlobalState = Mutex(())

/// A fresh 0700 folder under the temporary directory.
func makeCrashFolder() throws -> String {
    let path = NSTemporaryDirectory() + "steward-crash-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(
        atPath: path, withIntermediateDirectories: true,
        attributes: [.posixPermissions: 0o700])
    return path
}

/// The records in `folder`.
func crashRecords(in folder: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: folder)
        .filter { $0.hasPrefix("crash-") && $0.hasSuffix(".stewardcrash") }
        .sorted()
        .map { folder + "/" + $0 }
}

/// Writes one record with the test hook (no crash) and returns its bytes. Holds the global
/// lock; installs and uninstalls around the write.
/// The key the tests that drive CrashHandler directly seal records with (a reporter derives
/// its own from the vault).
let testRecordKey: [UInt8] = (0..<32).map { UInt8($0 &* 7 &+ 1) }
let testRecordSalt: [UInt8] = Array(repeating: 0x5A, count: 16)

/// Gives the handler the tests' key and turns recording on (off until consent is applied).
func armHandlerForTests() {
    CrashHandler.setRecordKey(testRecordKey, salt: testRecordSalt)
    CrashHandler.setRecording(true)
}

/// Writes one record with the handler's writer; returns its opened record stream (the format
/// 1 sections), the allocations the probe saw, and the file as written (sealed).
func writeSampleRecord(
    context: [UInt8] = Array(#"{"context":{"release":"tests@1"}}"#.utf8),
    breadcrumbs: [Breadcrumb] = [], signal: Int32 = SIGSEGV,
    allocateInHandler: Bool = false
) throws -> (bytes: [UInt8], allocations: UInt64, file: [UInt8]) {
    let folder = try makeCrashFolder()
    defer { try? FileManager.default.removeItem(atPath: folder) }
    return try crashHandlerGlobalState.withLock { _ in
        try CrashHandler.install(directory: folder)
        armHandlerForTests()
        defer {
            CrashHandler.setRecording(false)
            CrashHandler.clearRecordKey()
            CrashHandler.uninstall()
        }
        try CrashHandler.setContext(context)
        for breadcrumb in breadcrumbs { CrashHandler.addBreadcrumb(breadcrumb) }
        CrashHandler.testAllocateInHandler(allocateInHandler)
        defer { CrashHandler.testAllocateInHandler(false) }
        steward_malloc_probe_reset()
        try CrashHandler.testWriteRecord(signal: signal)
        let allocations = steward_malloc_probe_count_in_handler()
        let records = try crashRecords(in: folder)
        try #require(records.count == 1)
        let file = Array(try #require(FileManager.default.contents(atPath: records[0])))
        let header = try #require(SealedCrashRecord.header(of: file))
        let opened = SealedCrashRecord.open(file, header: header, key: testRecordKey)
        try #require(opened.sawLast && opened.note == nil, "\(opened.note ?? "")")
        return (opened.stream, allocations, file)
    }
}

/// The path of the running test binary (the exit-test children run the same one).
func testBinaryPath() -> String {
    (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
}

/// The context blob the crash children set.
let childContext = Array(
    #"{"context":{"release":"crash-tests@1.0","environment":"test"},"homeDirectory":"/nonexistent"}"#.utf8)
let childBreadcrumbCount = 5
let mallocProbeLine = "steward-malloc-probe: allocation inside the crash handler"

/// Whether the malloc probe counts allocations: not in a sanitizer build (`make test-asan`,
/// `make test-tsan`), whose allocator must see every allocation.
let mallocProbeAvailable = steward_malloc_probe_available() != 0

/// What every crash child does before crashing: install into `folder`, set the context, add
/// breadcrumbs.
func prepareCrashChild(folder: String, allocateInHandler: Bool = false, capturesFatalMessage: Bool = true) {
    do {
        try CrashHandler.install(directory: folder)
        if capturesFatalMessage, !CrashHandler.setFatalMessageCapture(true) {
            print("child setup failed: the Swift runtime offers no fatal error message buffer")
            exit(98)
        }
        armHandlerForTests()
        try CrashHandler.setContext(childContext)
    } catch {
        print("child setup failed: \(error)")
        exit(99)
    }
    for index in 0..<childBreadcrumbCount {
        CrashHandler.addBreadcrumb(
            Breadcrumb(
                timestamp: Date(timeIntervalSince1970: 1_700_000_000 + Double(index)),
                level: .info, category: "test", message: "step \(index)",
                data: ["index": "\(index)"]))
    }
    CrashHandler.testAllocateInHandler(allocateInHandler)
}

@inline(never)
func stewardTestCrashByNullWrite() {
    UnsafeMutablePointer<Int>(bitPattern: 8)!.pointee = 1
}

/// Recurses until the stack is used up. Each frame stores its result in a global after the
/// call returns: without that store, -O turns the recursion into a loop (the wrapping sum is an
/// accumulator that tail-recursion elimination removes), and a release build spins forever.
@inline(never)
func stewardTestRecurseForever(_ depth: Int) -> Int {
    var local = (depth, depth &+ 1, depth &+ 2, depth &+ 3)
    let result = withUnsafeMutablePointer(to: &local) { pointer in
        stewardTestRecurseForever(depth &+ 1) &+ pointer.pointee.0
    }
    stewardTestRecursionSink = result
    return result
}

/// Where each frame of ``stewardTestRecurseForever(_:)`` stores its result (never read).
nonisolated(unsafe) var stewardTestRecursionSink = 0

/// Whether the Swift runtime's backtracer runs in the exit-test children. The runtime enables
/// it by default on Linux, but swift-testing sets SWIFT_BACKTRACE=enable=no for the children
/// unless the parent's environment sets SWIFT_BACKTRACE itself: run
/// `SWIFT_BACKTRACE=enable=yes swift test ...` to include that test.
var runtimeBacktracerEnabledForChildren: Bool {
    ProcessInfo.processInfo.environment["SWIFT_BACKTRACE"]?.contains("enable=yes") == true
}

/// Names the calling thread (pthread_setname_np, which the Glibc module does not export).
func nameCurrentThread(_ name: String) {
    typealias SetName = @convention(c) (pthread_t, UnsafePointer<CChar>) -> Int32
    guard let symbol = dlsym(nil, "pthread_setname_np") else { return }
    _ = unsafeBitCast(symbol, to: SetName.self)(pthread_self(), name)
}

/// Installs a previous handler for `signal` (before ours) that writes `marker` to stderr.
func installPreviousHandler(signal: Int32, siginfo: Bool) {
    var action = sigaction()
    sigemptyset(&action.sa_mask)
    if siginfo {
        action.sa_flags = SA_SIGINFO
        action.__sigaction_handler.sa_sigaction = { _, _, _ in
            let marker: StaticString = "previous-siginfo-handler-ran\n"
            _ = write(2, marker.utf8Start, marker.utf8CodeUnitCount)
        }
    } else {
        action.__sigaction_handler.sa_handler = { _ in
            let marker: StaticString = "previous-plain-handler-ran\n"
            _ = write(2, marker.utf8Start, marker.utf8CodeUnitCount)
        }
    }
    sigaction(signal, &action, nil)
}

/// The signal a Swift trap raises: SIGILL on x86_64 (ud2), SIGTRAP on aarch64 (brk).
let swiftTrapSignal: Int32 = {
    #if arch(x86_64)
    SIGILL
    #else
    SIGTRAP
    #endif
}()

/// The checks every crash record must pass.
func checkCrashRecord(
    folder: String, signal expected: Int32, stderr: [UInt8]?, faultAddress: UInt64? = nil,
    frames: Bool = true, sourceLocation: SourceLocation = #_sourceLocation
) throws -> RawCrashRecord {
    let records = try crashRecords(in: folder)
    try #require(records.count == 1, "exactly one record: \(records)", sourceLocation: sourceLocation)
    let record = try RawCrashRecord.read(path: records[0], key: testRecordKey)
    #expect(record.complete, "notes: \(record.notes)", sourceLocation: sourceLocation)
    #expect(!record.partial, "notes: \(record.notes)", sourceLocation: sourceLocation)
    #expect(record.signalNumber == expected, sourceLocation: sourceLocation)
    if let faultAddress {
        #expect(record.faultAddress == faultAddress, sourceLocation: sourceLocation)
    }
    if frames {
        #expect(!record.dwarfFrames.isEmpty, sourceLocation: sourceLocation)
        #expect(!record.framePointerFrames.isEmpty, sourceLocation: sourceLocation)
    }
    #expect(record.maps?.contains(testBinaryPath()) == true, sourceLocation: sourceLocation)
    // Only the images the frames point into (each file whole, all its segments), not the
    // process's whole maps: every file named has a segment that holds a frame.
    let frameAddresses = record.dwarfFrames + record.framePointerFrames
    let lines = (record.maps ?? "").split(separator: "\n").map {
        $0.split(separator: " ", omittingEmptySubsequences: true)
    }
    for line in lines where line.count >= 6 {
        let path = line[5...].joined(separator: " ")
        let holdsAFrame = lines.contains { other in
            guard other.count >= 6, other[5...].joined(separator: " ") == path else { return false }
            let range = other[0].split(separator: "-").compactMap { UInt64($0, radix: 16) }
            return range.count == 2 && frameAddresses.contains { $0 >= range[0] && $0 < range[1] }
        }
        #expect(holdsAFrame, "\(path) holds no frame", sourceLocation: sourceLocation)
    }
    // Issue 18: at most 4 KB typical (this child leaves five breadcrumbs and a small context).
    let size = (try? FileManager.default.attributesOfItem(atPath: records[0])[.size] as? Int) ?? 0
    #expect(size > 0 && size <= 4_096, "the sealed record is \(size) bytes", sourceLocation: sourceLocation)
    #expect(
        record.breadcrumbs.map(\.message) == (0..<childBreadcrumbCount).map { "step \($0)" },
        sourceLocation: sourceLocation)
    #expect(
        record.breadcrumbs.map { $0.data["index"] ?? "" } == (0..<childBreadcrumbCount).map { "\($0)" },
        sourceLocation: sourceLocation)
    #expect(record.context == childContext, sourceLocation: sourceLocation)
    #expect((record.timingNs ?? 0) > 0, sourceLocation: sourceLocation)
    #expect(record.installRealtimeNs != nil, sourceLocation: sourceLocation)
    #expect(!record.registers.isEmpty, sourceLocation: sourceLocation)
    if let stderr {
        let text = String(decoding: stderr, as: UTF8.self)
        #expect(!text.contains(mallocProbeLine), "the handler allocated", sourceLocation: sourceLocation)
    }
    if let timing = record.timingNs {
        print(
            "[crash-timing] signal \(expected): handler took \(timing) ns, \(record.dwarfFrames.count) dwarf / \(record.framePointerFrames.count) fp frames"
        )
    }
    return record
}

// MARK: - Crashes in exit-test children

@Suite("Crash handler: real crashes in child processes")
struct CrashHandlerTests {
    @Test("A null-pointer write is recorded as SIGSEGV with its fault address, and the process still dies of SIGSEGV")
    func nullPointerWrite() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            stewardTestCrashByNullWrite()
        }
        let record = try checkCrashRecord(
            folder: folder, signal: SIGSEGV, stderr: result?.standardErrorContent, faultAddress: 8)
        #expect(record.signalCode ?? 0 > 0, "a fault has a positive si_code")
        #expect(record.fatalMessage == nil, "no Swift trap, no runtime message")
        #expect(record.threadName?.isEmpty == false)
        #if arch(x86_64)
        #expect(record.registers["rip"] == record.dwarfFrames.first)
        #expect(record.registers["rip"] == record.framePointerFrames.first)
        #endif
    }

    @Test(
        "The Swift runtime's backtracer still runs after ours and reaches stderr",
        .enabled(
            if: runtimeBacktracerEnabledForChildren,
            "swift-testing sets SWIFT_BACKTRACE=enable=no in exit-test children unless the parent sets SWIFT_BACKTRACE=enable=yes"
        ))
    func runtimeBacktraceStillReported() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            stewardTestCrashByNullWrite()
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(text.contains("Program crashed") || text.contains("💣"), "stderr: \(text.prefix(2000))")
        _ = try checkCrashRecord(folder: folder, signal: SIGSEGV, stderr: result?.standardErrorContent)
    }

    @Test("A previous SA_SIGINFO handler is called after the record is written, and the fault still kills")
    func chainsToPreviousSiginfoHandler() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            installPreviousHandler(signal: SIGSEGV, siginfo: true)
            prepareCrashChild(folder: folder)
            stewardTestCrashByNullWrite()
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(text.components(separatedBy: "previous-siginfo-handler-ran").count == 2, "called exactly once: \(text)")
        _ = try checkCrashRecord(folder: folder, signal: SIGSEGV, stderr: result?.standardErrorContent, faultAddress: 8)
    }

    @Test("A previous plain handler is called, and abort still kills with SIGABRT")
    func chainsToPreviousPlainHandler() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGABRT), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            installPreviousHandler(signal: SIGABRT, siginfo: false)
            prepareCrashChild(folder: folder)
            abort()
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(text.contains("previous-plain-handler-ran"))
        _ = try checkCrashRecord(folder: folder, signal: SIGABRT, stderr: result?.standardErrorContent)
    }

    @Test("abort() is recorded as SIGABRT and the process dies of SIGABRT")
    func abortIsRecorded() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGABRT), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            abort()
        }
        let record = try checkCrashRecord(folder: folder, signal: SIGABRT, stderr: result?.standardErrorContent)
        #expect(record.signalCode ?? 1 <= 0, "abort raises the signal: si_code <= 0")
    }

    @Test(
        "A raised signal is recorded and re-raised so the process dies of it",
        arguments: [SIGFPE, SIGILL, SIGTRAP, SIGBUS])
    func raisedSignalIsRecorded(signal: Int32) async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(signal), observing: [\.standardErrorContent]) {
            [folder = folder as String, signal = signal as Int32] in
            prepareCrashChild(folder: folder)
            raise(signal)
            // Not reached: the handler re-raises with the default action.
            exit(98)
        }
        _ = try checkCrashRecord(folder: folder, signal: signal, stderr: result?.standardErrorContent)
    }

    @Test("A Swift runtime trap (fatalError) is recorded with the trap's signal and the fatal error's message")
    func swiftTrapIsRecorded() async throws {
        let expected = swiftTrapSignal
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(expected), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            fatalError("steward crash test")
        }
        let record = try checkCrashRecord(folder: folder, signal: expected, stderr: result?.standardErrorContent)
        let message = try #require(record.fatalMessage)
        #expect(message.hasSuffix("Fatal error: steward crash test\n"), "\(message)")
        // The runtime still printed it on stderr, untouched.
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("Fatal error: steward crash test"))
    }

    @Test("With fatal error messages turned off, a fatalError's record has no message (stderr still has it)")
    func fatalMessageCaptureOff() async throws {
        let expected = swiftTrapSignal
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(expected), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder, capturesFatalMessage: false)
            fatalError("steward crash test, not captured")
        }
        let record = try checkCrashRecord(folder: folder, signal: expected, stderr: result?.standardErrorContent)
        #expect(record.fatalMessage == nil)
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("Fatal error: steward crash test, not captured"))
    }

    @Test("A fatal error message too long for the record is cut at the handler's limit")
    func longFatalMessageIsBounded() async throws {
        let expected = swiftTrapSignal
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        _ = await #expect(processExitsWith: .signal(expected)) { [folder = folder as String] in
            prepareCrashChild(folder: folder)
            fatalError(String(repeating: "m", count: 3 * 4096))
        }
        let records = try crashRecords(in: folder)
        try #require(records.count == 1)
        let record = try RawCrashRecord.read(path: records[0], key: testRecordKey)
        #expect(record.complete, "notes: \(record.notes)")
        let message = try #require(record.fatalMessage)
        #expect(message.utf8.count == RawCrashRecord.maximumMessageBytes)
        #expect(message.hasSuffix(String(repeating: "m", count: 100)))
    }

    @Test("A crash on a secondary thread that prepared itself is recorded with that thread's id")
    func secondaryThreadCrash() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            let thread = Thread {
                do { try CrashHandler.prepareCurrentThread() } catch { exit(97) }
                // A new thread inherits its creator's name on Linux: name it here.
                nameCurrentThread("steward-crasher")
                stewardTestCrashByNullWrite()
            }
            thread.start()
            while true { sleep(1) }
        }
        let record = try checkCrashRecord(
            folder: folder, signal: SIGSEGV, stderr: result?.standardErrorContent, faultAddress: 8)
        #expect(record.threadName == "steward-crasher")
        #expect(record.tid != record.pid)
    }

    @Test("Two threads crashing at once leave exactly one record, and the process dies of SIGSEGV")
    func concurrentCrashes() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            let start = DispatchSemaphore(value: 0)
            for _ in 0..<2 {
                Thread {
                    do { try CrashHandler.prepareCurrentThread() } catch { exit(97) }
                    start.wait()
                    stewardTestCrashByNullWrite()
                }.start()
            }
            start.signal()
            start.signal()
            while true { sleep(1) }
        }
        _ = try checkCrashRecord(folder: folder, signal: SIGSEGV, stderr: result?.standardErrorContent, faultAddress: 8)
    }

    @Test("A stack overflow is recorded from the alternate stack")
    func stackOverflow() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder)
            _ = stewardTestRecurseForever(0)
        }
        let record = try checkCrashRecord(folder: folder, signal: SIGSEGV, stderr: result?.standardErrorContent)
        #expect(record.dwarfFrames.count == CrashHandler.framesCapacity)
    }

    @Test(
        "Negative control: the malloc probe sees an allocation the handler is made to do",
        .enabled(
            if: mallocProbeAvailable,
            "the sanitizers' allocator replaces malloc, so the probe is off under ASan and TSan"))
    func mallocProbeSeesHandlerAllocation() async throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let result = await #expect(processExitsWith: .signal(SIGSEGV), observing: [\.standardErrorContent]) {
            [folder = folder as String] in
            prepareCrashChild(folder: folder, allocateInHandler: true)
            stewardTestCrashByNullWrite()
        }
        let text = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(text.contains(mallocProbeLine))
        #expect(try crashRecords(in: folder).count == 1)
    }
}

// MARK: - In-process: ring, context, hooks

@Suite("Crash handler: ring, context and hooks in process", .serialized)
struct CrashHandlerStateTests {
    @Test(
        "The record writer allocates nothing, and the probe counts the hook's allocation",
        .enabled(
            if: mallocProbeAvailable,
            "the sanitizers' allocator replaces malloc, so the probe is off under ASan and TSan"))
    func writerAllocatesNothing() throws {
        let clean = try writeSampleRecord()
        #expect(clean.allocations == 0)
        let dirty = try writeSampleRecord(allocateInHandler: true)
        #expect(dirty.allocations == 1)
    }

    @Test("Installing twice is refused with alreadyInstalled, and uninstall restores the state")
    func installTwice() throws {
        let folder = try makeCrashFolder()
        defer { try? FileManager.default.removeItem(atPath: folder) }
        try crashHandlerGlobalState.withLock { _ in
            try CrashHandler.install(directory: folder)
            #expect(CrashHandler.isInstalled)
            #expect(throws: CrashHandlerError.self) { try CrashHandler.install(directory: folder) }
            do { try CrashHandler.install(directory: folder) } catch let error as CrashHandlerError {
                #expect(error.code == .alreadyInstalled)
            } catch {
                Issue.record(error)
            }
            CrashHandler.uninstall()
            #expect(!CrashHandler.isInstalled)
        }
    }

    @Test("Installing into a missing folder says to create it")
    func missingFolder() {
        crashHandlerGlobalState.withLock { _ in
            do {
                try CrashHandler.install(directory: "/nonexistent/steward-crash")
                Issue.record("installed into a missing folder")
                CrashHandler.uninstall()
            } catch let error as CrashHandlerError {
                #expect(error.code == .folderUnusable)
                #expect(error.message.contains("create it"))
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test("A context blob larger than the handler carries is refused")
    func contextTooLarge() {
        crashHandlerGlobalState.withLock { _ in
            do {
                try CrashHandler.setContext([UInt8](repeating: 0x20, count: CrashHandler.contextCapacity + 1))
                Issue.record("accepted an oversized context")
            } catch let error as CrashHandlerError {
                #expect(error.code == .contextTooLarge)
            } catch {
                Issue.record(error)
            }
        }
    }

    @Test("Breadcrumbs added one after another come back as the last 100, oldest first")
    func ringKeepsLastHundred() {
        crashHandlerGlobalState.withLock { _ in
            for index in 0..<250 {
                CrashHandler.addBreadcrumb(
                    Breadcrumb(
                        timestamp: Date(timeIntervalSince1970: Double(index)),
                        category: "ring", message: "m\(index)", data: ["i": "\(index)"]))
            }
            let breadcrumbs = CrashHandler.breadcrumbs()
            #expect(breadcrumbs.map(\.message) == (150..<250).map { "m\($0)" })
            #expect(breadcrumbs.map { $0.data["i"] ?? "" } == (150..<250).map { "\($0)" })
            #expect(breadcrumbs.first?.timestamp == Date(timeIntervalSince1970: 150))
        }
    }

    @Test("250 breadcrumbs from each of 4 threads leave exactly 100 consistent entries, each thread's in order")
    func ringUnderConcurrency() {
        crashHandlerGlobalState.withLock { _ in
            let threads = 4, perThread = 250
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                for index in 0..<perThread {
                    CrashHandler.addBreadcrumb(
                        Breadcrumb(
                            timestamp: Date(timeIntervalSince1970: 1), level: .warning,
                            category: "t\(thread)", message: "t\(thread)-\(index)",
                            data: ["thread": "\(thread)", "index": "\(index)"]))
                }
            }
            let breadcrumbs = CrashHandler.breadcrumbs()
            #expect(breadcrumbs.count == 100)
            var perThreadIndices: [String: [Int]] = [:]
            for breadcrumb in breadcrumbs {
                let thread = breadcrumb.data["thread"] ?? "?", index = breadcrumb.data["index"] ?? "?"
                // Consistent: the message, category and data were written together.
                #expect(breadcrumb.message == "t\(thread)-\(index)")
                #expect(breadcrumb.category == "t\(thread)")
                #expect(breadcrumb.level == .warning)
                perThreadIndices["t\(thread)", default: []].append(Int(index) ?? -1)
            }
            for (thread, indices) in perThreadIndices {
                // Each thread's surviving breadcrumbs are its last ones, in order.
                #expect(indices == Array((perThread - indices.count)..<perThread), "\(thread): \(indices)")
            }
        }
    }

    @Test("Long texts are cut to the ring's sizes at a character boundary")
    func truncation() {
        crashHandlerGlobalState.withLock { _ in
            let category = String(repeating: "c", count: 40)
            let message = String(repeating: "m", count: 255) + "é" + String(repeating: "x", count: 50)
            let data = ["k": String(repeating: "v", count: 500)]
            CrashHandler.addBreadcrumb(Breadcrumb(timestamp: Date(), category: category, message: message, data: data))
            let last = CrashHandler.breadcrumbs().last
            #expect(last?.category == String(repeating: "c", count: 32))
            // "é" is two bytes and would end at byte 257: it is left out, not cut in half.
            #expect(last?.message == String(repeating: "m", count: 255))
            #expect(last?.data["k"] == String(repeating: "v", count: 190))
        }
    }

    @Test("The record carries the context and the breadcrumbs set before it")
    func recordCarriesContextAndBreadcrumbs() throws {
        let context = Array("{\"context\":{}}".utf8)
        let breadcrumb = Breadcrumb(
            timestamp: Date(timeIntervalSince1970: 1_234), level: .error, category: "nav",
            message: "opened settings", data: ["a": "1", "b": "x=y"])
        let sample = try writeSampleRecord(context: context, breadcrumbs: [breadcrumb], signal: SIGBUS)
        let record = RawCrashRecord.parse(sample.bytes)
        #expect(record.complete && !record.partial, "\(record.notes)")
        #expect(record.signalNumber == SIGBUS)
        #expect(record.context == context)
        #expect(record.breadcrumbs.last == breadcrumb)
        #expect(record.pid == getpid())
        #expect(!record.dwarfFrames.isEmpty)
        #expect(!record.framePointerFrames.isEmpty)
        #expect(record.maps?.contains(testBinaryPath()) == true)
    }

    @Test("The Swift layout constants match steward_crash_breadcrumb_t")
    func breadcrumbLayout() {
        #expect(RawCrashRecord.breadcrumbSize == CrashHandler.breadcrumbStride)
    }
}
