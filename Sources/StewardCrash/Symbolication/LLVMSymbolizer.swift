#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
internal import Foundation
import StewardCore

/// Source file and line for addresses, from `llvm-symbolizer` run as a subprocess.
///
/// One run per image, with all of that image's addresses on the command line, JSON output.
/// The child gets an empty environment, `/dev/null` for stdin and stderr, none of the host's
/// other descriptors, and is killed when it takes longer than the timeout or prints more than
/// ``maximumOutputBytes``.
///
/// This blocks the calling thread while the child runs: never call it on the Swift
/// concurrency pool (see ``Symbolicator``).
struct LLVMSymbolizer: Sendable {
    /// A resolved location.
    struct Location: Hashable, Sendable {
        var file: String
        var line: Int
    }

    /// The tool's path.
    var path: String
    /// How long a run may take before the child is killed.
    var timeout: Duration
    static let maximumOutputBytes = 16 << 20

    init(path: String, timeout: Duration = .seconds(5)) {
        self.path = path
        self.timeout = timeout
    }

    /// The first `llvm-symbolizer` found: next to the Swift toolchain (`/opt/swift/usr/bin`),
    /// then on `PATH`.
    static func find(searchPath: String? = nil) -> String? {
        var candidates = ["/opt/swift/usr/bin/llvm-symbolizer"]
        let pathVariable = searchPath ?? getenv("PATH").map { String(cString: $0) } ?? ""
        for directory in pathVariable.split(separator: ":") where directory.hasPrefix("/") {
            candidates.append("\(directory)/llvm-symbolizer")
        }
        return candidates.first { access($0, X_OK) == 0 && isRegularFile($0) }
    }

    private static func isRegularFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFREG
    }

    /// Locations for `addresses` (in the object's virtual address space), in the same order;
    /// nil where the tool knew none. All nil when the tool could not be run or timed out.
    func locations(object: String, addresses: [UInt64]) -> [Location?] {
        guard !addresses.isEmpty else { return [] }
        var arguments = [path, "--obj=\(object)", "--output-style=JSON", "--functions=none", "--no-inlines"]
        arguments += addresses.map { "0x" + String($0, radix: 16) }
        guard let output = run(arguments) else { return addresses.map { _ in nil } }
        return LLVMSymbolizer.parse(output, count: addresses.count)
    }

    /// Parses the JSON output: one array of `{"Address", "Symbol": [{"FileName", "Line"}]}`
    /// objects (or one object per line), in address order.
    static func parse(_ output: [UInt8], count: Int) -> [Location?] {
        var objects: [Any] = []
        if let whole = try? JSONSerialization.jsonObject(with: Data(output)), let array = whole as? [Any] {
            objects = array
        } else {
            for line in output.split(separator: UInt8(ascii: "\n")) {
                guard let value = try? JSONSerialization.jsonObject(with: Data(line)) else { continue }
                if let array = value as? [Any] { objects += array } else { objects.append(value) }
            }
        }
        var result: [Location?] = objects.prefix(count).map { object in
            guard let entry = object as? [String: Any],
                let symbols = entry["Symbol"] as? [[String: Any]], let first = symbols.first,
                let file = first["FileName"] as? String, !file.isEmpty,
                let line = (first["Line"] as? NSNumber)?.intValue, line > 0
            else { return nil }
            return Location(file: file, line: line)
        }
        while result.count < count { result.append(nil) }
        return result
    }

    /// Runs the tool; its stdout, or nil when it could not start, timed out or said too much.
    private func run(_ arguments: [String]) -> [UInt8]? {
        var pipeEnds: [Int32] = [-1, -1]
        guard pipe(&pipeEnds) == 0 else { return nil }
        let readEnd = pipeEnds[0]
        let writeEnd = pipeEnds[1]
        defer { close(readEnd) }
        // Neither end may leak into children spawned elsewhere; the child gets the write end
        // as its stdout through the file actions.
        _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)
        _ = fcntl(writeEnd, F_SETFD, FD_CLOEXEC)

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let environment: [UnsafeMutablePointer<CChar>?] = [nil]
        var pid: pid_t = 0
        func spawn(closingOthers: Bool) -> Int32 {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            // Nothing else of the host's reaches the tool: every descriptor above 2 is closed in
            // the child, including those the host opened without close-on-exec or is opening on
            // another thread right now. Where the C library lacks the call (before glibc 2.34),
            // only the host's close-on-exec descriptors stay out.
            if closingOthers { SpawnActions.closeDescriptors(from: 3, in: &actions) }
            return argv.withUnsafeBufferPointer { argvBuffer -> Int32 in
                environment.withUnsafeBufferPointer { envBuffer -> Int32 in
                    guard let argvBase = argvBuffer.baseAddress, let envBase = envBuffer.baseAddress else {
                        return EINVAL
                    }
                    return posix_spawn(&pid, path, &actions, nil, argvBase, envBase)
                }
            }
        }
        var spawned = spawn(closingOthers: true)
        // glibc closes them with close_range (Linux 5.9) or by listing /proc/self/fd; with
        // neither, the spawn fails: then the tool runs with the host's close-on-exec ones shut.
        if spawned != 0 && spawned != ENOENT && spawned != EACCES { spawned = spawn(closingOthers: false) }
        close(writeEnd)
        guard spawned == 0 else { return nil }

        // A monotonic deadline for the child only: it bounds how long we wait, it is not logic
        // that depends on the time of day.
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: timeout)
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var completed = false
        while true {
            let remaining = clock.now.duration(to: deadline)
            guard remaining > .zero else { break }
            let (seconds, attoseconds) = remaining.components
            let milliseconds = Int32(clamping: seconds * 1_000 + attoseconds / 1_000_000_000_000_000 + 1)
            var descriptor = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                break
            }
            if ready == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                break
            }
            if n == 0 {
                completed = true
                break
            }
            output += buffer[0..<n]
            if output.count > LLVMSymbolizer.maximumOutputBytes { break }
        }
        // The child has closed its output (it is exiting) or is being given up on: either
        // way it is killed and reaped so nothing is left behind.
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        return completed ? output : nil
    }
}
