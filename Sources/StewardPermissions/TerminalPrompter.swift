import StewardCore
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Asks on the controlling terminal (`/dev/tty`), for command-line tools.
///
/// The question names the permission, the rationale and the purposes, and offers allow,
/// allow once, deny and deny always (`a`, `o`, `d`, `n`). Without a terminal — a service, a
/// pipe, CI — ``prompt(_:)`` throws ``PermissionError/Code/noTerminal`` at once instead of
/// waiting: give such hosts a ``FixedAnswerPrompter``. Reading happens on a thread of its own,
/// never on the concurrency pool, and stops when the asking task is cancelled.
public struct TerminalPrompter: PermissionPrompter {
    /// The terminal device to ask on.
    public var path: String
    /// How many unreadable replies are tolerated before giving up.
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
        let fd = open(path, O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = String(cString: strerror(errno))
            throw PermissionError(.noTerminal, "cannot ask for '\(prompt.permission)': there is no terminal to ask on (\(path): \(reason)); give the answer another way, for example a FixedAnswerPrompter or the CLI's --answer", permission: prompt.permission)
        }
        guard isatty(fd) == 1 else {
            close(fd)
            throw PermissionError(.noTerminal, "cannot ask for '\(prompt.permission)': \(path) is not a terminal; give the answer another way, for example a FixedAnswerPrompter or the CLI's --answer", permission: prompt.permission)
        }
        let cancelled = CancelFlag()
        let attempts = self.attempts
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<PermissionAnswer, any Error>) in
                let thread = Thread {
                    defer { close(fd) }
                    continuation.resume(with: Result { try Self.ask(prompt, fd: fd, attempts: attempts, cancelled: cancelled) })
                }
                thread.name = "steward-prompt"
                thread.start()
            }
        } onCancel: {
            cancelled.set()
        }
    }

    /// The question as shown.
    static func question(_ prompt: PermissionPrompt) -> String {
        var text = "\nAllow this app to use \"\(prompt.permission)\"?\n"
        text += prompt.showRationale ? "  You said no before. Here is why the app asks again:\n  \(prompt.rationale)\n" : "  \(prompt.rationale)\n"
        for purpose in prompt.purposes { text += "  Used for: \(purpose.description)\n" }
        let labels: [PermissionAnswer: String] = [.allow: "[a] allow", .allowOnce: "[o] allow once", .deny: "[d] deny", .denyAlways: "[n] never (deny always)"]
        text += "  " + prompt.answers.compactMap { labels[$0] }.joined(separator: "  ") + "\n> "
        return text
    }

    /// Reads a reply: a, allow, y, yes; o, once, allow-once; d, deny, no; n, never, deny-always.
    static func answer(_ reply: String, offered: [PermissionAnswer]) -> PermissionAnswer? {
        let word = reply.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let answer: PermissionAnswer?
        switch word {
        case "a", "allow", "y", "yes": answer = .allow
        case "o", "once", "allow once": answer = .allowOnce
        case "d", "deny", "no": answer = .deny
        case "n", "never", "deny always": answer = .denyAlways
        default: answer = PermissionAnswer(spelling: word)
        }
        return answer.flatMap { offered.contains($0) ? $0 : nil }
    }

    private static func ask(_ prompt: PermissionPrompt, fd: Int32, attempts: Int, cancelled: CancelFlag) throws -> PermissionAnswer {
        write(question(prompt), to: fd)
        for attempt in 1...attempts {
            guard let line = try readLine(fd, cancelled: cancelled) else {
                throw PermissionError(.noAnswer, "the terminal input ended before an answer about '\(prompt.permission)' was given", permission: prompt.permission)
            }
            if let answer = answer(line, offered: prompt.answers) { return answer }
            if attempt < attempts { write("  Please answer a, o, d or n.\n> ", to: fd) }
        }
        throw PermissionError(.noAnswer, "no answer about '\(prompt.permission)' could be read after \(attempts) tries", permission: prompt.permission)
    }

    private static func write(_ text: String, to fd: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
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
            if ready < 0 && errno != EINTR { return line.isEmpty ? nil : String(decoding: line, as: UTF8.self) }
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
