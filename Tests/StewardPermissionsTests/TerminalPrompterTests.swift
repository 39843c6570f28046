import Foundation
import StewardCore
@testable import StewardPermissions
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A pseudo-terminal: the prompter asks on its subordinate side, the test types on the
/// controlling side.
private final class PseudoTerminal {
    let controller: Int32
    let path: String

    init() throws {
        // posix_openpt and friends are not visible through Glibc's module: the same with ioctls.
        controller = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard controller >= 0 else { throw POSIXError(.ENXIO) }
        var unlock: Int32 = 0
        var number: UInt32 = 0
        guard ioctl(controller, 0x4004_5431 /* TIOCSPTLCK */, &unlock) == 0,
            ioctl(controller, 0x8004_5430 /* TIOCGPTN */, &number) == 0
        else {
            close(controller)
            throw POSIXError(.ENXIO)
        }
        path = "/dev/pts/\(number)"
    }

    func type(_ text: String) {
        _ = text.withCString { write(controller, $0, strlen($0)) }
    }

    /// What the prompter wrote so far (non-blocking).
    func screen() -> String {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            var poller = pollfd(fd: controller, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 200) > 0 else { break }
            let n = read(controller, &buffer, buffer.count)
            guard n > 0 else { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    deinit { close(controller) }
}

@Suite struct TerminalPrompterTests {
    let prompt = PermissionPrompt(
        permission: .camera, rationale: "Lets you scan the code on an instrument.",
        purposes: [.init(id: .serviceProvision, description: "Run the app", legalBasis: .necessaryForService)],
        showRationale: true)

    @Test func withoutATerminalItFailsAtOnceWithAClearError() async throws {
        for path in ["/dev/null", "/nonexistent/tty"] {
            let error = await #expect(throws: PermissionError.self) {
                try await TerminalPrompter(path: path).prompt(prompt)
            }
            #expect(error?.code == .noTerminal)
            #expect(error?.message.contains("FixedAnswerPrompter") == true, "the message says what to do instead")
        }
    }

    @Test(arguments: [
        ("o\n", PermissionAnswer.allowOnce), ("allow\n", .allow), ("y\n", .allow), ("d\n", .deny), ("n\n", .deny),
        ("never\n", .denyAlways), ("maybe\nnever\n", .denyAlways),
    ])
    func itAsksOnATerminalAndReadsTheReply(reply: String, expected: PermissionAnswer) async throws {
        let terminal = try PseudoTerminal()
        let prompter = TerminalPrompter(path: terminal.path)
        let prompt = self.prompt
        let task = Task { try await prompter.prompt(prompt) }
        terminal.type(reply)
        #expect(try await task.value == expected)
        let screen = terminal.screen()
        #expect(screen.contains("\"camera\""))
        #expect(screen.contains("Lets you scan the code on an instrument."))
        #expect(screen.contains("You said no before"))
        #expect(screen.contains("Run the app"))
    }

    @Test func controlCharactersInTheTextsNeverReachTheTerminal() {
        var prompt = self.prompt
        prompt.rationale = "Scan codes.\u{1B}[2J\u{1B}]0;owned\u{07}"
        let question = TerminalPrompter.question(prompt)
        #expect(!question.unicodeScalars.contains { $0 == "\u{1B}" || $0 == "\u{07}" })
        #expect(question.contains("Scan codes."))
    }

    @Test func endOfInputIsNoAnswer() async throws {
        let terminal = try PseudoTerminal()
        let prompter = TerminalPrompter(path: terminal.path, attempts: 2)
        let prompt = self.prompt
        let task = Task { try await prompter.prompt(prompt) }
        terminal.type("what\nwhy\n")
        let error = await #expect(throws: PermissionError.self) { try await task.value }
        #expect(error?.code == .noAnswer)
    }

    @Test(arguments: [0, -1, Int.min])
    func attemptsSetBelowOneAfterInitCountAsOneTry(_ attempts: Int) async throws {
        let prompt = self.prompt
        let answering = try PseudoTerminal()
        var prompter = TerminalPrompter(path: answering.path)
        prompter.attempts = attempts
        let answered = Task { [prompter] in try await prompter.prompt(prompt) }
        answering.type("a\n")
        #expect(try await answered.value == .allow)

        let unreadable = try PseudoTerminal()
        prompter.path = unreadable.path
        let refused = Task { [prompter] in try await prompter.prompt(prompt) }
        unreadable.type("what\n")
        let error = await #expect(throws: PermissionError.self) { try await refused.value }
        #expect(error?.code == .noAnswer)
        #expect(error?.message.contains("after 1 tries") == true, "\(error?.message ?? "")")
    }

    @Test func cancellingTheTaskStopsWaitingForAReply() async throws {
        let terminal = try PseudoTerminal()
        let prompter = TerminalPrompter(path: terminal.path)
        let prompt = self.prompt
        let task = Task { try await prompter.prompt(prompt) }
        _ = terminal.screen()  // the question is out: the prompter is waiting
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
    }
}
