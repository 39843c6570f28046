import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// The built `steward-server`, run as a child process on a free loopback port. Its environment
/// has no session bus (`DBUS_SESSION_BUS_ADDRESS`, `XDG_RUNTIME_DIR`) and no `OTEL_*` variables,
/// so the developer's keyring is never reached; its vault key is in files of its data folder,
/// or in the store of the environment a test gives it (a credential or a private keyring).
final class ServerProcess: Sendable {
    let port: Int
    private let process: Process
    private let stderrPath: String

    /// The `steward-server` executable beside the test bundle.
    static var binary: URL {
        let exe = URL(
            fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0])
        var dir = exe.deletingLastPathComponent()
        while dir.path != "/"
            && !FileManager.default.fileExists(atPath: dir.appendingPathComponent("steward-server").path)
        {
            dir = dir.deletingLastPathComponent()
        }
        return dir.appendingPathComponent("steward-server")
    }

    private init(port: Int, process: Process, stderrPath: String) {
        (self.port, self.process, self.stderrPath) = (port, process, stderrPath)
    }

    /// Starts the server over `dataDir`, sending to `collector`, and waits for its
    /// `listening on 127.0.0.1:PORT` line.
    ///
    /// - Parameter environment: Variables set after the session bus and credentials are
    ///   removed: `CREDENTIALS_DIRECTORY` (a credential the test laid out, as systemd does) or
    ///   `DBUS_SESSION_BUS_ADDRESS` (a private keyring). Empty: the key in files.
    static func start(dataDir: String, collectorPort: Int, environment extra: [String: String] = [:]) async throws
        -> ServerProcess
    {
        let process = Process()
        process.executableURL = binary
        process.arguments = [
            "--port", "0", "--data-dir", dataDir,
            "--otlp-endpoint", "http://127.0.0.1:\(collectorPort)",
            "--sentry-dsn", "http://public@127.0.0.1:\(collectorPort)/1",
        ]
        process.environment = environment(adding: extra)
        let stderrPath = dataDir + ".stderr"
        guard FileManager.default.createFile(atPath: stderrPath, contents: nil) else {
            throw CollectorError(description: "cannot create \(stderrPath)")
        }
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: stderrPath))
        process.standardInput = FileHandle.nullDevice
        let out = Pipe()
        process.standardOutput = out
        let firstLine = Mutex<String?>(nil)
        let buffer = Mutex<[UInt8]>([])
        out.fileHandleForReading.readabilityHandler = { handle in
            let chunk = handle.availableData
            guard !chunk.isEmpty else {
                handle.readabilityHandler = nil
                return
            }
            buffer.withLock { bytes in
                bytes += chunk
                if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: bytes[..<newline], as: UTF8.self)
                    firstLine.withLock { if $0 == nil { $0 = line } }
                }
            }
        }
        try process.run()
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let line = firstLine.withLock({ $0 }) {
                guard line.hasPrefix("listening on 127.0.0.1:"),
                    let port = line.split(separator: ":").last.flatMap({ Int($0) })
                else { throw CollectorError(description: "unexpected first line: \(line)") }
                return ServerProcess(port: port, process: process, stderrPath: stderrPath)
            }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { process.terminate() }
        let log = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        throw CollectorError(description: "steward-server did not say where it listens; its standard error:\n\(log)")
    }

    /// The test process's environment without what could reach the machine's key stores or
    /// telemetry settings (`DBUS_SESSION_BUS_ADDRESS`, `XDG_RUNTIME_DIR`, `CREDENTIALS_DIRECTORY`,
    /// `OTEL_*`), then `extra`: what every run of the server gets.
    static func environment(adding extra: [String: String] = [:]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for key in environment.keys
        where key.hasPrefix("OTEL_")
            || ["DBUS_SESSION_BUS_ADDRESS", "XDG_RUNTIME_DIR", "CREDENTIALS_DIRECTORY"].contains(key)
        {
            environment[key] = nil
        }
        environment.merge(extra) { _, given in given }
        return environment
    }

    /// The status and body of `method path`, sent with `headers`.
    func request(_ method: String, _ path: String, headers: [String: String] = [:]) async throws -> (
        status: Int, body: String
    ) {
        guard let url = URL(string: "http://127.0.0.1:\(port)\(path)") else {
            throw CollectorError(description: "not a path: \(path)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = method
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
    }

    /// Sends SIGTERM and waits for the exit; returns the exit status.
    func terminate() async throws -> Int32 {
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                kill(process.processIdentifier, SIGKILL)
                throw CollectorError(description: "steward-server still runs a minute after SIGTERM")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.terminationStatus
    }

    /// What the server wrote on standard error (its log lines and Steward's diagnostics).
    var log: String { (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? "" }
}
