import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Turns what the Swift runtime said about a trap into a report's ``CrashError``.
///
/// Two sources, best first:
/// - the message the runtime published for crash reporters before it trapped (the record's
///   MESSAGE section): `main.swift:22: Fatal error: the message`, `… Precondition failed: …`,
///   `… Assertion failed: …`, or a runtime failure's own text (`Could not cast value of type …`);
/// - where the build left no message (a check the optimiser turned into a bare trap, or
///   arithmetic overflow, which never has one), the name the compiler gives the trap in the debug
///   information: an inlined frame `Swift runtime failure: arithmetic overflow` at the crashed
///   instruction, found when frames carry source locations.
enum FatalErrorMessage {
    /// The kinds the runtime's messages start with (after `file:line: `).
    static let kinds = ["Fatal error", "Precondition failed", "Assertion failed"]
    /// The prefix of the debug information's name for a trap of a failed check.
    static let runtimeFailurePrefix = "Swift runtime failure: "

    /// The error for the runtime's message: its kind as the type, the text after it as the
    /// message, with the source location the runtime named in parentheses. A message of another
    /// form is kept whole, typed `Swift runtime error`. Nil for an empty message.
    static func error(fromRuntimeMessage raw: String) -> CrashError? {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return nil }
        for kind in kinds {
            // `Kind: message`, or a bare `Kind` at the end (`assert(false)` says no more).
            guard
                let range = text.range(of: kind + ":")
                    ?? (text.hasSuffix(kind) ? text.range(of: kind, options: .backwards) : nil)
            else { continue }
            var location = String(text[..<range.lowerBound]).trimmingCharacters(in: .whitespacesAndNewlines)
            if location.hasSuffix(":") { location.removeLast() }
            let message = String(text[range.upperBound...]).trimmingCharacters(in: .whitespacesAndNewlines)
            var value = message.isEmpty ? kind : message
            if !location.isEmpty { value += " (\(location))" }
            return CrashError(type: kind, message: value)
        }
        return CrashError(type: "Swift runtime error", message: text)
    }

    /// The error for a trap the debug information names: the innermost frames' function names
    /// (inlined frames first) are searched, up to the first frame that is not inlined.
    static func error(fromFrames frames: [StackFrame]) -> CrashError? {
        for frame in frames {
            if let function = frame.function, function.hasPrefix(runtimeFailurePrefix) {
                let reason = String(function.dropFirst(runtimeFailurePrefix.count)).trimmingCharacters(
                    in: .whitespacesAndNewlines)
                if !reason.isEmpty { return CrashError(type: "Swift runtime failure", message: reason) }
            }
            if !frame.isInlined { break }
        }
        return nil
    }
}

extension FatalErrorMessage {
    /// How close below (or just above) the stack pointer a fault must be to read as the stack
    /// running out: a call's push, a prologue's stores into the new frame, a stack probe of a
    /// large frame (which touches up to a page at a time ahead of the pointer).
    static let stackOverflowReach: UInt64 = 64 * 1024

    /// The error for a segmentation fault at an address next to the stack pointer: the stack ran
    /// into its guard (the stack's own memory is mapped, so a fault there means the pointer left
    /// it). Nil for any other crash.
    static func stackOverflow(signal: Int32?, faultAddress: UInt64?, stackPointer: UInt64?) -> CrashError? {
        guard signal == SIGSEGV, let fault = faultAddress, let pointer = stackPointer, pointer != 0 else { return nil }
        let below = fault <= pointer ? pointer - fault : 0
        let above = fault > pointer ? fault - pointer : 0
        guard below <= stackOverflowReach, above <= 256 else { return nil }
        return CrashError(
            type: "Stack overflow",
            message:
                "the stack ran out: a fault at 0x\(String(fault, radix: 16)), next to the stack pointer 0x\(String(pointer, radix: 16))"
        )
    }
}
