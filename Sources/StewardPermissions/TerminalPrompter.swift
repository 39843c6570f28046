import StewardCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libc's `write`, by a name the `write` methods below cannot shadow.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }

/// Asks on the controlling terminal (`/dev/tty`), for command-line tools.
///
/// The question names the permission, the rationale and the purposes, and offers allow,
/// allow once, deny and deny always (`a`, `o`, `d`, and the whole word `never` for the answer
/// that cannot be taken back; `y`/`n` mean allow/deny). Without a terminal — a service, a
/// pipe, CI — ``prompt(_:)`` throws ``PermissionError/Code/noTerminal`` at once instead of
/// waiting: give such hosts a ``FixedAnswerPrompter``. The terminal is opened, written and
/// read on a thread of its own, never on the concurrency pool, without blocking, and the wait
/// stops when the asking task is cancelled. Control characters in the texts are not sent to
/// the terminal.
public struct TerminalPrompter: PermissionPrompter {
    /// The terminal device to ask on.
    public var path: String
    /// How many unreadable replies are tolerated before giving up; a value below 1 (set after
    /// `init`, which clamps it) counts as 1.
    public var attempts: Int

    /// Asks on `path` (default: the controlling terminal).
    public init(path: String = "/dev/tty", attempts: Int = 3) {
        self.path = path
        self.attempts = max(1, attempts)
    }

    /// Asks, and waits for a reply.
    ///
    /// - Throws: ``PermissionError`` with `noTerminal` (no terminal to open, or `path` is not
    ///   one) or `noAnswer` (input ended, or no reply could be read after ``attempts`` tries);
    ///   `CancellationError` when the task is cancelled.
    public func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer {
        let cancelled = CancelFlag()
        let attempts = self.attempts
        let path = self.path
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<PermissionAnswer, any Error>) in
                StewardThread.start(name: "steward-prompt") {
                    continuation.resume(
                        with: Result { try Self.ask(prompt, path: path, attempts: attempts, cancelled: cancelled) })
                }
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// The question as shown.
    static func question(_ prompt: PermissionPrompt) -> String {
        var text = "\nAllow this app to use \"\(printable(prompt.permission.rawValue))\"?\n"
        text +=
            prompt.showRationale
            ? "  You said no before. Here is why the app asks again:\n  \(printable(prompt.rationale))\n"
            : "  \(printable(prompt.rationale))\n"
        for purpose in prompt.purposes { text += "  Used for: \(printable(purpose.description))\n" }
        let labels: [PermissionAnswer: String] = [
            .allow: "[a] allow", .allowOnce: "[o] allow once", .deny: "[d] deny", .denyAlways: "[never] deny always",
        ]
        text += "  " + prompt.answers.compactMap { labels[$0] }.joined(separator: "  ") + "\n> "
        return text
    }

    /// `text` without control characters (escape sequences could rewrite the question).
    static func printable(_ text: String) -> String {
        String(
            String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }

    /// Reads a reply: a, allow, y, yes; o, once, allow-once; d, deny, n, no; never, deny-always.
    static func answer(_ reply: String, offered: [PermissionAnswer]) -> PermissionAnswer? {
        let word = reply.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let answer: PermissionAnswer?
        switch word {
        case "a", "allow", "y", "yes": answer = .allow
        case "o", "once", "allow once": answer = .allowOnce
        case "d", "deny", "n", "no": answer = .deny
        case "never", "deny always": answer = .denyAlways
        default: answer = PermissionAnswer(spelling: word)
        }
        return answer.flatMap { offered.contains($0) ? $0 : nil }
    }

    private static func ask(_ prompt: PermissionPrompt, path: String, attempts: Int, cancelled: CancelFlag) throws
        -> PermissionAnswer
    {
        // O_NONBLOCK: opening a serial line without CLOCAL would otherwise wait for a carrier.
        let fd = POSIXCall.retrying { open(path, O_RDWR | O_NOCTTY | O_CLOEXEC | O_NONBLOCK) }
        guard fd >= 0 else {
            let reason = POSIXCall.describe(errno)
            throw PermissionError(
                .noTerminal,
                "cannot ask for '\(prompt.permission)': there is no terminal to ask on (\(path): \(reason)); give the answer another way, for example a FixedAnswerPrompter or the CLI's --answer",
                permission: prompt.permission)
        }
        defer { close(fd) }
        guard isatty(fd) == 1 else {
            throw PermissionError(
                .noTerminal,
                "cannot ask for '\(prompt.permission)': \(path) is not a terminal; give the answer another way, for example a FixedAnswerPrompter or the CLI's --answer",
                permission: prompt.permission)
        }
        try write(question(prompt), to: fd, cancelled: cancelled)
        // From a public var: never trust it to be at least 1 (1...0 traps).
        let attempts = max(1, attempts)
        for attempt in 1...attempts {
            guard let line = try readLine(fd, cancelled: cancelled) else {
                throw PermissionError(
                    .noAnswer, "the terminal input ended before an answer about '\(prompt.permission)' was given",
                    permission: prompt.permission)
            }
            if let answer = answer(line, offered: prompt.answers) { return answer }
            if attempt < attempts {
                try write(
                    "  Please answer a (allow), o (allow once), d (deny) or never (deny always).\n> ", to: fd,
                    cancelled: cancelled)
            }
        }
        throw PermissionError(
            .noAnswer, "no answer about '\(prompt.permission)' could be read after \(attempts) tries",
            permission: prompt.permission)
    }

    private static func write(_ text: String, to fd: Int32, cancelled: CancelFlag) throws {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            if cancelled.isSet { throw CancellationError() }
            let n = bytes.withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN {
                // Output held (XOFF, a full buffer): wait, noticing a cancellation.
                var poller = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&poller, 1, 100)
                continue
            }
            if n <= 0 {
                throw PermissionError(
                    .noTerminal, "the question could not be written to the terminal (\(POSIXCall.describe(errno)))")
            }
            bytes = bytes.dropFirst(n)
        }
    }

    /// One line, or nil at end of input; polls so a cancellation is noticed within 100 ms.
    private static func readLine(_ fd: Int32, cancelled: CancelFlag) throws -> String? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while true {
            if cancelled.isSet { throw CancellationError() }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 100)
            if ready < 0 && errno != EINTR {
                throw PermissionError(.noAnswer, "the terminal could not be read (poll: \(POSIXCall.describe(errno)))")
            }
            if ready <= 0 { continue }
            let n = read(fd, &byte, 1)
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            if n <= 0 { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            // A reply is a word; more than a line's worth is not an answer.
            if line.count < 256 { line.append(byte) }
        }
    }
}

/// Set once when the asking task is cancelled.
private final class CancelFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .acquiring) }
    func set() { flag.store(true, ordering: .releasing) }
}
