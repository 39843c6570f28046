import Foundation
import StewardCore
import StewardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// StewardTesting's `ChildProcess`: how children end, what they read and print, and that they
/// hold no descriptor of the test process but their own 0, 1 and 2.
@Suite struct ChildProcessTests {
    private static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

    /// The names in /proc/PID/fd: the descriptors `pid` holds.
    private static func descriptors(of pid: Int32) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").sorted()
    }

    @Test(arguments: [0, 3, 255])
    func theExitStatusIsReported(status: Int32) throws {
        let child = try ChildProcess("/bin/sh", arguments: ["-c", "exit \(status)"])
        #expect(child.wait() == .exited(status))
    }

    @Test func deathBySignalIsReportedAsTheSignal() throws {
        let child = try ChildProcess("/bin/sh", arguments: ["-c", "kill -SEGV $$"])
        #expect(child.wait() == .signaled(SIGSEGV))
    }

    @Test func aKilledChildReportsTheSignalAndLaterKillsAreRefused() throws {
        let child = try ChildProcess("/bin/sleep", arguments: ["30"])
        #expect(child.isRunning)
        #expect(child.termination == nil)
        #expect(child.kill(SIGKILL))
        #expect(child.wait() == .signaled(SIGKILL))
        #expect(!child.isRunning)
        #expect(!child.kill(SIGKILL), "a reaped child's pid is never signalled")
    }

    @Test func waitingAgainReturnsTheCachedTermination() throws {
        let child = try ChildProcess("/bin/sh", arguments: ["-c", "exit 7"])
        let first = child.wait()
        #expect(first == .exited(7))
        #expect(child.wait() == first)
        #expect(child.wait(timeout: .zero) == first)
        #expect(child.termination == first)
        #expect(!child.isRunning)
    }

    @Test func waitWithATimeoutReturnsNilWhileTheChildRuns() throws {
        let child = try ChildProcess("/bin/sleep", arguments: ["30"])
        defer { child.kill(SIGKILL) }
        #expect(child.wait(timeout: .milliseconds(50)) == nil)
        #expect(child.wait(timeout: .zero) == nil)
        child.kill(SIGTERM)
        #expect(child.wait(timeout: .seconds(30)) == .signaled(SIGTERM))
    }

    @Test func aChildThatEndsOnItsOwnIsReapedWithoutAWait() throws {
        let child = try ChildProcess("/bin/true")
        // Bounded: the reaper thread reaps within milliseconds; the loop only gives it time.
        for _ in 0..<1_000 where child.termination == nil { usleep(10_000) }
        #expect(child.termination == .exited(0))
        var info = siginfo_t()
        #expect(
            waitid(P_PID, id_t(child.processID), &info, WEXITED | WNOHANG | WNOWAIT) == -1 && errno == ECHILD,
            "no zombie is left")
    }

    @Test func standardOutputAndStandardErrorAreCapturedApart() throws {
        let child = try ChildProcess(
            "/bin/sh", arguments: ["-c", "echo out; echo err >&2; exit 2"], standardOutput: .pipe, standardError: .pipe)
        let outcome = try child.finish()
        #expect(outcome.termination == .exited(2))
        #expect(Self.text(outcome.standardOutput) == "out\n")
        #expect(Self.text(outcome.standardError) == "err\n")
    }

    @Test func bothPipesAreReadAtOnceSoAFullOneDoesNotStallTheChild() throws {
        // 1 MiB to standard error before anything to standard output: a pipe holds 64 KiB.
        let child = try ChildProcess(
            "/bin/sh", arguments: ["-c", "head -c 1048576 /dev/zero >&2; echo done"], standardOutput: .pipe,
            standardError: .pipe)
        let outcome = try child.finish()
        #expect(outcome.termination == .exited(0))
        #expect(outcome.standardError.count == 1_048_576)
        #expect(Self.text(outcome.standardOutput) == "done\n")
    }

    @Test func runCapturesStandardOutputAndPassesTheEnvironment() throws {
        let outcome = try ChildProcess.run("/usr/bin/env", environment: ["STEWARD_CHILD": "one two"])
        #expect(outcome.termination == .exited(0))
        #expect(Self.text(outcome.standardOutput) == "STEWARD_CHILD=one two\n")
        #expect(outcome.standardError.isEmpty)
    }

    @Test func whatIsWrittenToStandardInputIsReadUntilItIsClosed() throws {
        let child = try ChildProcess("/bin/cat", standardInput: .pipe, standardOutput: .pipe)
        let input = try #require(child.standardInput)
        try input.write("first line\n")
        try input.write(Array("second".utf8))
        input.close()
        let outcome = try child.finish()
        #expect(outcome.termination == .exited(0))
        #expect(Self.text(outcome.standardOutput) == "first line\nsecond")
    }

    @Test func standardInputIsTheNullDeviceByDefault() throws {
        let outcome = try ChildProcess.run("/bin/cat")
        #expect(outcome.termination == .exited(0))
        #expect(outcome.standardOutput.isEmpty)
    }

    @Test func writingToAChildThatStoppedReadingThrowsEPIPEInsteadOfEndingTheTests() throws {
        let child = try ChildProcess("/bin/true", standardInput: .pipe)
        #expect(child.wait() == .exited(0))
        let input = try #require(child.standardInput)
        #expect(throws: SystemError(call: "write", errno: EPIPE)) { try input.write("nobody reads this") }
        input.close()
        #expect(throws: SystemError(call: "write", errno: EBADF)) { try input.write("closed") }
    }

    @Test func aLineIsReadAsSoonAsItIsPrintedAndATimeoutReturnsNil() throws {
        let child = try ChildProcess(
            "/bin/sh", arguments: ["-c", "echo ready; read line; echo \"got $line\""], standardInput: .pipe,
            standardOutput: .pipe)
        defer { child.kill(SIGKILL) }
        let output = try #require(child.standardOutput)
        var line: [UInt8] = []
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = try output.read()
            try #require(!chunk.isEmpty, "the child ended before its first line")
            line += chunk
        }
        #expect(Self.text(line) == "ready\n")
        #expect(try output.read(timeout: .milliseconds(50)) == nil, "nothing more until it is sent a line")
        try #require(child.standardInput).write("x\n")
        #expect(try output.read(timeout: .seconds(30)).map(Self.text) == "got x\n")
        #expect(try output.read(timeout: .seconds(30)) == [], "end of file once the child exits")
        #expect(child.wait() == .exited(0))
    }

    @Test func theChildHoldsOnlyItsOwnThreeDescriptors() throws {
        // Open in the test process: a descriptor without close-on-exec, and another child's pipe.
        let leaky = open("/dev/null", O_RDONLY)
        try #require(leaky >= 0)
        defer { close(leaky) }
        // Each child says when it is past the dynamic loader (which holds a descriptor of its
        // own for a moment after exec), then waits on its standard input.
        func waitingChild() throws -> ChildProcess {
            let child = try ChildProcess(
                "/bin/sh", arguments: ["-c", "echo ready; read line"], standardInput: .pipe, standardOutput: .pipe)
            #expect(try child.standardOutput?.read(timeout: .seconds(30)).map(Self.text) == "ready\n")
            return child
        }
        let sibling = try waitingChild()
        defer { sibling.kill(SIGKILL) }
        let child = try waitingChild()
        defer { child.kill(SIGKILL) }
        #expect(try Self.descriptors(of: child.processID) == ["0", "1", "2"])
        #expect(try Self.descriptors(of: sibling.processID) == ["0", "1", "2"])
        #expect(try Self.descriptors(of: getpid()).count > 3, "the test process has others open")
    }

    @Test func aLongLivedChildDoesNotKeepAnotherChildsInputOpen() throws {
        // What stalled the suite with Foundation's Process: an end inherited by a daemon.
        let reader = try ChildProcess("/bin/cat", standardInput: .pipe, standardOutput: .pipe)
        let daemon = try ChildProcess("/bin/sleep", arguments: ["30"], standardOutput: .pipe)
        defer { daemon.kill(SIGKILL) }
        try #require(reader.standardInput).write("bye")
        try #require(reader.standardInput).close()
        #expect(reader.wait(timeout: .seconds(30)) == .exited(0), "cat saw end of file though sleep still runs")
        #expect(Self.text(try #require(reader.standardOutput).readToEnd()) == "bye")
    }

    @Test func theChildStartsWithNoBlockedSignalWhateverTheSpawningThreadBlocks() throws {
        var blocked = sigset_t()
        sigemptyset(&blocked)
        for signal in [SIGTERM, SIGUSR1, SIGINT] { sigaddset(&blocked, signal) }
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        defer { pthread_sigmask(SIG_SETMASK, &previous, nil) }

        let outcome = try ChildProcess.run("/bin/cat", arguments: ["/proc/self/status"])
        let status = Self.text(outcome.standardOutput)
        let line = try #require(status.split(separator: "\n").first { $0.hasPrefix("SigBlk:") })
        #expect(line.split(separator: "\t").last == "0000000000000000")
    }

    @Test func aMissingProgramThrowsTheSpawnErrorWithItsPath() throws {
        let path = "/nonexistent/steward-no-such-program"
        #expect(throws: SystemError(call: "posix_spawn", path: path, errno: ENOENT)) {
            try ChildProcess(path, standardInput: .pipe, standardOutput: .pipe, standardError: .pipe)
        }
        #expect(throws: SystemError(call: "posix_spawn", path: "/etc/passwd", errno: EACCES)) {
            try ChildProcess("/etc/passwd")
        }
    }
}
