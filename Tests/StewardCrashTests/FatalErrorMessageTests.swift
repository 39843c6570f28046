import Foundation
import StewardCore
@_spi(Testing) @testable import StewardCrash
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

@Suite("Fatal error messages: the runtime's text and the trap's name become the report's error")
struct FatalErrorMessageTests {
    @Test(
        "Each form of the runtime's message gives its kind as the type and the text, with the location",
        arguments: [
            (
                "steward/Crash.swift:268: Fatal error: steward crash trigger fatal\n", "Fatal error",
                "steward crash trigger fatal (steward/Crash.swift:268)"
            ),
            (
                "Swift/ContiguousArrayBuffer.swift:692: Fatal error: Index out of range\n", "Fatal error",
                "Index out of range (Swift/ContiguousArrayBuffer.swift:692)"
            ),
            (
                "app/main.swift:26: Precondition failed: count < 3\n", "Precondition failed",
                "count < 3 (app/main.swift:26)"
            ),
            ("app/main.swift:27: Assertion failed\n", "Assertion failed", "Assertion failed (app/main.swift:27)"),
            ("Fatal error: no location\n", "Fatal error", "no location"),
            (
                "Could not cast value of type 'app.A' (0x55b1208e9170) to 'app.B' (0x55b1208e91c8).\n",
                "Swift runtime error",
                "Could not cast value of type 'app.A' (0x55b1208e9170) to 'app.B' (0x55b1208e91c8)."
            ),
            ("a.swift:1: Fatal error: two\nlines\n", "Fatal error", "two\nlines (a.swift:1)"),
        ])
    func runtimeMessageForms(raw: String, type: String, message: String) {
        let error = FatalErrorMessage.error(fromRuntimeMessage: raw)
        #expect(error?.type == type)
        #expect(error?.message == message)
    }

    @Test("An empty or blank message gives no error")
    func blankMessage() {
        #expect(FatalErrorMessage.error(fromRuntimeMessage: "") == nil)
        #expect(FatalErrorMessage.error(fromRuntimeMessage: " \n\t") == nil)
    }

    @Test("The trap's name in the debug information is found among the inlined frames of the crashed frame only")
    func runtimeFailureFromFrames() {
        var inlined = StackFrame(instructionAddress: 0x1000)
        inlined.function = "Swift runtime failure: arithmetic overflow"
        inlined.isInlined = true
        var caller = StackFrame(instructionAddress: 0x1000)
        caller.function = "static Crasher.triggerArithmetic(_:)"
        #expect(
            FatalErrorMessage.error(fromFrames: [inlined, caller])
                == CrashError(type: "Swift runtime failure", message: "arithmetic overflow"))
        // A failure's name further up the stack is not this crash's reason.
        var outer = inlined
        outer.isInlined = false
        #expect(FatalErrorMessage.error(fromFrames: [caller, outer]) == nil)
        #expect(FatalErrorMessage.error(fromFrames: []) == nil)
        var empty = inlined
        empty.function = "Swift runtime failure: "
        #expect(FatalErrorMessage.error(fromFrames: [empty, caller]) == nil)
    }

    @Test("A segmentation fault next to the stack pointer is a stack overflow; other faults and signals are not")
    func stackOverflowFromRegisters() {
        let sp: UInt64 = 0x7fff_0000_8000
        #expect(
            FatalErrorMessage.stackOverflow(signal: SIGSEGV, faultAddress: sp - 8, stackPointer: sp)?.type
                == "Stack overflow")
        #expect(FatalErrorMessage.stackOverflow(signal: SIGSEGV, faultAddress: sp - 60_000, stackPointer: sp) != nil)
        #expect(FatalErrorMessage.stackOverflow(signal: SIGSEGV, faultAddress: 8, stackPointer: sp) == nil)
        #expect(FatalErrorMessage.stackOverflow(signal: SIGSEGV, faultAddress: sp + 4096, stackPointer: sp) == nil)
        #expect(FatalErrorMessage.stackOverflow(signal: SIGBUS, faultAddress: sp - 8, stackPointer: sp) == nil)
        #expect(FatalErrorMessage.stackOverflow(signal: SIGSEGV, faultAddress: nil, stackPointer: sp) == nil)
        #expect(FatalErrorMessage.stackOverflow(signal: SIGSEGV, faultAddress: 8, stackPointer: 0) == nil)
        // Extreme values from a record file: no trap.
        #expect(FatalErrorMessage.stackOverflow(signal: SIGSEGV, faultAddress: .max, stackPointer: 1) == nil)
        #expect(FatalErrorMessage.stackOverflow(signal: SIGSEGV, faultAddress: 0, stackPointer: .max) == nil)
    }

    /// A data folder whose ledger grants crash reporting, before a child opens it.
    static func grantedDataDirectory() throws -> String {
        let dir = NSTemporaryDirectory() + "steward-fatal-\(UUID().uuidString)"
        let (vault, _) = try OutOfMemoryKillTests.open(dir, sessionID: nil)
        try vault.close()
        return dir
    }

    @Test("A fatalError in a child becomes the report's error at the next launch, scrubbed, never in plaintext on disk")
    func fatalErrorEndToEnd() async throws {
        let expected = swiftTrapSignal
        let dir = try Self.grantedDataDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let canary = "CANARY-\(UUID().uuidString.prefix(8))"
        await #expect(processExitsWith: .signal(expected)) { [dir = dir as String, canary = canary as String] in
            let (_, reporter) = try OutOfMemoryKillTests.open(dir, sessionID: nil)
            try reporter.install()
            fatalError("upload of \(canary) failed: password=\(canary) via 02:42:ac:11:00:02")
        }
        // Sealed on disk: the canary is in no file before the next launch reads it.
        let files = try FileManager.default.subpathsOfDirectory(atPath: dir)
        for file in files {
            let data = (try? Data(contentsOf: URL(fileURLWithPath: dir + "/" + file))) ?? Data()
            #expect(data.range(of: Data(canary.utf8)) == nil, "\(file) holds the message in plaintext")
        }
        let (vault, reporter) = try OutOfMemoryKillTests.open(dir, sessionID: nil)
        defer { try? vault.close() }
        let pending = reporter.processPending()
        #expect(pending.reports.count == 1, "\(pending.problems)")
        let report = try #require(try reporter.storedReports().first { !$0.handled })
        let error = try #require(report.error)
        #expect(error.type == "Fatal error")
        #expect(
            error.message.hasPrefix("upload of \(canary) failed: password=[filtered] via [mac]"), "\(error.message)")
        #expect(error.message.contains("FatalErrorMessageTests.swift:"), "the runtime's location: \(error.message)")
        #expect(report.signal?.number == expected)
        // Sentry's exception: the message, not the signal's description.
        let event = SentryEventEncoder().event(for: report)
        let text = String(decoding: event.encoded(), as: UTF8.self)
        #expect(text.contains("\"type\":\"Fatal error\""), "\(text.prefix(400))")
    }

    @Test("Turned off in the configuration, the report has no message")
    func configurationTurnsItOff() async throws {
        let expected = swiftTrapSignal
        let dir = try Self.grantedDataDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        await #expect(processExitsWith: .signal(expected)) { [dir = dir as String] in
            let (vault, _) = try OutOfMemoryKillTests.open(dir, sessionID: nil)
            var configuration = CrashReporter.Configuration(crashDirectory: dir + "/crash")
            configuration.capturesFatalErrorMessages = false
            let gate = ConsentGate(
                ledger: try ConsentLedger(manifest: crashTestManifest(), vault: vault, clock: SystemWallClock()),
                vault: vault, clock: SystemWallClock())
            let reporter = CrashReporter(configuration: configuration, vault: vault, consent: gate)
            try reporter.install()
            fatalError("not to be kept")
        }
        let (vault, reporter) = try OutOfMemoryKillTests.open(dir, sessionID: nil)
        defer { try? vault.close() }
        _ = reporter.processPending()
        let report = try #require(try reporter.storedReports().first { !$0.handled })
        #expect(report.error == nil)
    }
}
