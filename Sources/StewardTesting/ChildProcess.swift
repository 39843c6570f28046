public import StewardCore
import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A program run as a child process for a test, spawned with `posix_spawn` so that it holds
/// nothing of the test process but what it was given.
///
/// Foundation's `Process` on Linux learns that a child ended through a socket pair whose far
/// end the child inherits, and it works out which descriptors to close in the child before it
/// spawns. In a test process that spawns from many threads at once, a pipe or socket another
/// thread opens in between leaks into that child; when a long-lived child (a `dbus-daemon`, an
/// `openssl s_server`) holds another child's end, that child's `waitUntilExit()` never returns
/// and its zombie is never reaped. `ChildProcess` avoids both:
///
/// - every pipe it makes is close-on-exec, so no other spawn inherits it; the child receives
///   its ends as descriptors 0, 1 and 2 only, and every other descriptor is closed in the child
///   (`posix_spawn_file_actions_addclosefrom_np`, glibc 2.34 and later);
/// - the child starts with no blocked signal and every signal at its default action, whatever
///   the spawning thread blocked or ignored;
/// - a thread of its own waits for the child (`waitid`, then `waitpid` on its pid only) and
///   reaps it as soon as it exits, whether or not anyone calls ``wait()``, so no zombie is left
///   for other waiters in the process (Swift Testing's exit-test monitor) to trip over.
///
/// ```swift
/// let child = try ChildProcess("/usr/bin/systemd-id128", arguments: ["machine-id"], standardOutput: .pipe)
/// let outcome = try child.finish()
/// #expect(outcome.termination == .exited(0))
/// print(String(decoding: outcome.standardOutput, as: UTF8.self))
/// ```
///
/// For a short run, ``run(_:arguments:environment:standardError:)`` does the same in one call.
/// The child is not stopped when the `ChildProcess` goes away (it is still reaped when it
/// ends); stop a long-lived one with ``kill(_:)``.
public final class ChildProcess: Sendable {
    /// What the child reads on its standard input.
    public enum Input: Sendable {
        /// `/dev/null`: the child reads end of file at once.
        case nullDevice
        /// A pipe the test writes through ``ChildProcess/standardInput`` and then closes.
        case pipe
    }

    /// Where the child's standard output or standard error goes.
    public enum Output: Sendable {
        /// `/dev/null`.
        case nullDevice
        /// The test process's own descriptor (the test log).
        case inherit
        /// A pipe the test reads through ``ChildProcess/standardOutput`` or
        /// ``ChildProcess/standardError``.
        case pipe
    }

    /// How a child ended.
    public enum Termination: Hashable, Sendable, CustomStringConvertible {
        /// It exited with this status (0 to 255).
        case exited(Int32)
        /// This signal ended it.
        case signaled(Int32)
        /// Something else in the process reaped it first (a `waitpid(-1, …)`, or `SIGCHLD`
        /// ignored), so its status is unknown.
        case reapedElsewhere

        /// `exit status N`, `signal N` or `reaped elsewhere`.
        public var description: String {
            switch self {
            case .exited(let status): "exit status \(status)"
            case .signaled(let signal): "signal \(signal)"
            case .reapedElsewhere: "reaped elsewhere"
            }
        }
    }

    /// What a finished child wrote to its pipes, and how it ended.
    public struct Outcome: Sendable {
        /// How the child ended.
        public var termination: Termination
        /// Everything it wrote to standard output (empty unless that was a ``Output/pipe``).
        public var standardOutput: [UInt8]
        /// Everything it wrote to standard error (empty unless that was a ``Output/pipe``).
        public var standardError: [UInt8]
    }

    /// The executable's path, as given.
    public let executable: String
    /// The child's process id.
    public let processID: Int32
    /// The write end of the child's standard input, when it is a ``Input/pipe``.
    public let standardInput: Writer?
    /// The read end of the child's standard output, when it is a ``Output/pipe``.
    public let standardOutput: Reader?
    /// The read end of the child's standard error, when it is a ``Output/pipe``.
    public let standardError: Reader?
    private let reaper: Reaper

    /// Starts `executable` with `arguments`.
    ///
    /// The child's `argv[0]` is `executable`; no `PATH` search is made. Descriptors 0, 1 and 2
    /// are set as asked and every other descriptor is closed in the child (with glibc 2.34 or
    /// later; elsewhere only the test process's close-on-exec descriptors stay out); its signal
    /// mask is empty and every signal has its default action.
    ///
    /// - Parameters:
    ///   - executable: The program's absolute path.
    ///   - arguments: The arguments after `argv[0]`.
    ///   - environment: The child's whole environment; nil passes the test process's own.
    ///   - standardInput: `/dev/null` (the default) or a pipe.
    ///   - standardOutput: `/dev/null`, the test process's standard output (the default), or a pipe.
    ///   - standardError: `/dev/null`, the test process's standard error (the default), or a pipe.
    /// - Throws: `SystemError` naming `posix_spawn` and the path, with the `errno` it reported
    ///   (`ENOENT` for a missing program, `EACCES` for one that may not be run), or naming
    ///   `pipe2` when no pipe could be made.
    public init(
        _ executable: String, arguments: [String] = [], environment: [String: String]? = nil,
        standardInput: Input = .nullDevice, standardOutput: Output = .inherit, standardError: Output = .inherit
    ) throws(SystemError) {
        self.executable = executable
        // Each pipe: (parent's end, child's end), both close-on-exec.
        var pipes: [(parent: Int32, child: Int32)?] = [nil, nil, nil]
        var opened: [Int32] = []
        func closeAll() { for fd in opened { _ = close(fd) } }
        do {
            if case .pipe = standardInput {
                let (read, write) = try Spawning.makePipe()
                opened += [read, write]
                pipes[0] = (write, read)
            }
            for (index, output) in [(1, standardOutput), (2, standardError)] {
                guard case .pipe = output else { continue }
                let (read, write) = try Spawning.makePipe()
                opened += [read, write]
                pipes[index] = (read, write)
            }
        } catch {
            closeAll()
            throw error
        }

        let pid: pid_t
        do {
            pid = try Spawning.spawn(
                executable, arguments: arguments, environment: environment,
                descriptors: [
                    Spawning.descriptor(standardInput, pipe: pipes[0]?.child),
                    Spawning.descriptor(standardOutput, pipe: pipes[1]?.child),
                    Spawning.descriptor(standardError, pipe: pipes[2]?.child),
                ])
        } catch {
            closeAll()
            throw error
        }
        // The child has its ends; the parent keeps only its own.
        for pipe in pipes.compactMap({ $0 }) { _ = close(pipe.child) }
        processID = pid
        self.standardInput = pipes[0].map { Writer(descriptor: $0.parent) }
        self.standardOutput = pipes[1].map { Reader(descriptor: $0.parent) }
        self.standardError = pipes[2].map { Reader(descriptor: $0.parent) }
        reaper = Reaper(pid: pid)
        reaper.start()
    }

    /// Runs `executable` to its end with standard input on `/dev/null` and standard output
    /// captured: what it printed and how it ended.
    ///
    /// ```swift
    /// let outcome = try ChildProcess.run("/usr/sbin/ip", arguments: ["-j", "link"])
    /// #expect(outcome.termination == .exited(0))
    /// ```
    ///
    /// - Parameters:
    ///   - executable: The program's absolute path.
    ///   - arguments: The arguments after `argv[0]`.
    ///   - environment: The child's whole environment; nil passes the test process's own.
    ///   - standardError: Where standard error goes (default: `/dev/null`); a pipe is read too.
    /// - Returns: The termination and every byte written to the captured streams.
    /// - Throws: `SystemError` when the program cannot be started or its output cannot be read.
    public static func run(
        _ executable: String, arguments: [String] = [], environment: [String: String]? = nil,
        standardError: Output = .nullDevice
    ) throws(SystemError) -> Outcome {
        try ChildProcess(
            executable, arguments: arguments, environment: environment, standardOutput: .pipe,
            standardError: standardError
        ).finish()
    }

    /// Reads standard output and standard error to their end, the two at once (so a child that
    /// fills one pipe while the test waits on the other cannot stall), then waits for the child.
    ///
    /// Streams that are not pipes read as empty. Call it at most once, and not while another
    /// thread reads the same pipes.
    ///
    /// - Returns: The termination and every byte written to the captured streams.
    /// - Throws: `SystemError` naming `read` or `poll` when a pipe cannot be read.
    public func finish() throws(SystemError) -> Outcome {
        var output: [UInt8] = []
        var error: [UInt8] = []
        switch (standardOutput, standardError) {
        case (let out?, let err?): (output, error) = try Reader.readBothToEnd(out, err)
        case (let out?, nil): output = try out.readToEnd()
        case (nil, let err?): error = try err.readToEnd()
        case (nil, nil): break
        }
        return Outcome(termination: wait(), standardOutput: output, standardError: error)
    }

    /// Blocks until the child has ended and been reaped; how it ended.
    ///
    /// Every call returns the same value, from any thread.
    public func wait() -> Termination {
        reaper.wait()
    }

    /// Blocks until the child has ended and been reaped, or until `timeout` has passed
    /// (measured on the monotonic clock).
    ///
    /// - Parameter timeout: How long to wait at most; zero or less only looks.
    /// - Returns: How the child ended, or nil when it is still running after `timeout`.
    public func wait(timeout: Duration) -> Termination? {
        reaper.wait(timeout: timeout)
    }

    /// How the child ended, or nil while it runs. Never blocks.
    public var termination: Termination? {
        reaper.termination
    }

    /// Whether the child has not been reaped yet (it may have exited an instant ago).
    public var isRunning: Bool {
        reaper.termination == nil
    }

    /// Sends `signal` to the child unless it has already been reaped, so a pid the system has
    /// given to another process since is never signalled.
    ///
    /// - Parameter signal: The signal, such as `SIGKILL` or `SIGTERM`.
    /// - Returns: Whether the signal was sent (false: the child has already been reaped, or
    ///   `kill` refused, as for a child that changed its user id).
    @discardableResult
    public func kill(_ signal: Int32) -> Bool {
        reaper.signal(signal)
    }
}

// MARK: - Reaping

extension ChildProcess {
    /// `timeout` in whole nanoseconds, from 0 to `Int.max`.
    static func nanoseconds(_ timeout: Duration) -> Int {
        guard timeout > .zero else { return 0 }
        let (seconds, attoseconds) = timeout.components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow else { return Int.max }
        return Int(clamping: whole.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue)
    }

    /// Waits for one child on a thread of its own and keeps how it ended.
    private final class Reaper: Sendable {
        private let pid: pid_t
        /// Nil until the child is reaped. The reaping itself happens under this lock, and so
        /// does every signal sent: the pid cannot be reused in between.
        private let ended = Mutex<Termination?>(nil)
        /// Entered at spawn, left once `ended` is set: every waiter wakes.
        private let done = DispatchGroup()

        init(pid: pid_t) {
            self.pid = pid
            done.enter()
        }

        /// Starts the thread that waits for the child and reaps it.
        func start() {
            StewardThread.start(name: "child-\(pid)") { [self] in reap() }
        }

        var termination: Termination? { ended.withLock { $0 } }

        func wait() -> Termination {
            done.wait()
            return ended.withLock { $0 } ?? .reapedElsewhere
        }

        func wait(timeout: Duration) -> Termination? {
            _ = done.wait(timeout: .now() + .nanoseconds(ChildProcess.nanoseconds(timeout)))
            return ended.withLock { $0 }
        }

        func signal(_ signal: Int32) -> Bool {
            ended.withLock { ended in
                guard ended == nil else { return false }
                return systemKill(pid, signal) == 0
            }
        }

        /// Waits until the child has exited without reaping it (`WNOWAIT`: the zombie keeps the
        /// pid), then reaps it under the lock ``signal(_:)`` takes.
        private func reap() {
            var info = siginfo_t()
            var lost = false
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0 {
                guard errno == EINTR else {
                    lost = true  // ECHILD: reaped by someone else already
                    break
                }
            }
            ended.withLock { ended in
                var status: Int32 = 0
                var result: pid_t = -1
                if !lost {
                    // WNOHANG: waitid saw this pid's zombie. Should something else have reaped
                    // it since and a new child of ours got the pid, this must not block on it.
                    repeat { result = waitpid(pid, &status, WNOHANG) } while result < 0 && errno == EINTR
                }
                ended = result == pid ? Self.termination(status) : .reapedElsewhere
            }
            done.leave()
        }

        /// Decodes a `waitpid` status (the `WIFEXITED` and `WTERMSIG` macros, which Swift
        /// cannot import).
        private static func termination(_ status: Int32) -> Termination {
            let signal = status & 0x7f
            return signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
        }
    }
}

/// libc's `kill`, under a name ``ChildProcess/kill(_:)`` cannot shadow.
private func systemKill(_ pid: pid_t, _ signal: Int32) -> Int32 { kill(pid, signal) }

// MARK: - Spawning

/// The `posix_spawn` call and what it needs. Not public: C types stay inside.
private enum Spawning {
    /// What the child gets as one of its descriptors 0, 1 and 2.
    enum Descriptor {
        case nullDevice(flags: Int32)
        case inherit
        case pipe(Int32)
    }

    static func descriptor(_ input: ChildProcess.Input, pipe: Int32?) -> Descriptor {
        if case .pipe = input, let pipe { return .pipe(pipe) }
        return .nullDevice(flags: O_RDONLY)
    }

    static func descriptor(_ output: ChildProcess.Output, pipe: Int32?) -> Descriptor {
        switch output {
        case .nullDevice: .nullDevice(flags: O_WRONLY)
        case .inherit: .inherit
        case .pipe: pipe.map { .pipe($0) } ?? .nullDevice(flags: O_WRONLY)
        }
    }

    /// A pipe whose two ends are close-on-exec from the start: (read end, write end).
    static func makePipe() throws(SystemError) -> (Int32, Int32) {
        var ends: [Int32] = [-1, -1]
        if let pipe2 = Symbols.pipe2 {
            let result = ends.withUnsafeMutableBufferPointer { pipe2($0.baseAddress, O_CLOEXEC) }
            guard result == 0 else { throw SystemError(call: "pipe2", errno: errno) }
        } else {
            // No pipe2 (not glibc): both ends marked at once, which a fork on another thread
            // can still catch in between.
            guard pipe(&ends) == 0 else { throw SystemError(call: "pipe", errno: errno) }
            _ = fcntl(ends[0], F_SETFD, FD_CLOEXEC)
            _ = fcntl(ends[1], F_SETFD, FD_CLOEXEC)
        }
        return (ends[0], ends[1])
    }

    /// Spawns the child; its pid.
    static func spawn(
        _ executable: String, arguments: [String], environment: [String: String]?, descriptors: [Descriptor]
    ) throws(SystemError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (target, descriptor) in descriptors.enumerated() {
            let target = Int32(target)
            switch descriptor {
            case .nullDevice(let flags): posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0)
            case .inherit: break
            case .pipe(let fd): posix_spawn_file_actions_adddup2(&actions, fd, target)
            }
        }
        // Everything above 2 closed in the child: what other threads opened without
        // close-on-exec (or are opening right now) does not reach it.
        SpawnActions.closeDescriptors(from: 3, in: &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var signals = sigset_t()
        sigemptyset(&signals)
        posix_spawnattr_setsigmask(&attributes, &signals)
        sigfillset(&signals)
        posix_spawnattr_setsigdefault(&attributes, &signals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let variables: [UnsafeMutablePointer<CChar>?]? = environment.map { environment in
            environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        }
        defer { for pointer in variables ?? [] { free(pointer) } }
        guard !argv.dropLast().contains(nil), !(variables?.dropLast().contains(nil) ?? false) else {
            throw SystemError(call: "posix_spawn", path: executable, errno: ENOMEM)
        }

        var pid: pid_t = 0
        let result = argv.withUnsafeBufferPointer { argvBuffer -> Int32 in
            guard let argvBase = argvBuffer.baseAddress else { return EINVAL }
            guard let variables else { return posix_spawn(&pid, executable, &actions, &attributes, argvBase, environ) }
            return variables.withUnsafeBufferPointer { environmentBuffer -> Int32 in
                guard let environmentBase = environmentBuffer.baseAddress else { return EINVAL }
                return posix_spawn(&pid, executable, &actions, &attributes, argvBase, environmentBase)
            }
        }
        guard result == 0 else { throw SystemError(call: "posix_spawn", path: executable, errno: result) }
        return pid
    }

    /// A glibc function the Glibc module does not export (declared under `_GNU_SOURCE` only),
    /// looked up once; nil where the C library lacks it.
    enum Symbols {
        typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32

        /// `pipe2` (glibc 2.9).
        static var pipe2: Pipe2? {
            UnsafeRawPointer(bitPattern: pipe2Address).map { unsafeBitCast($0, to: Pipe2.self) }
        }

        private static let pipe2Address = UInt(bitPattern: dlsym(nil, "pipe2"))
    }
}
