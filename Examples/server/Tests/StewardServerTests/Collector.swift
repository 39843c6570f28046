import Foundation
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A loopback stand-in for both recipients: an OTLP/HTTP collector (`/v1/logs`, `/v1/metrics`)
/// and a Sentry ingestion endpoint (`/api/PROJECT/envelope/`). It records every POST, its
/// body decompressed when it came gzipped (Steward compresses its requests), and answers
/// 200 with `{}`, which both protocols accept.
final class Collector: Sendable {
    struct Received: Sendable {
        var path: String
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    let port: Int
    private let box: RequestBox
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    private init(port: Int, box: RequestBox, group: ServiceGroup, task: Task<Void, any Error>) {
        (self.port, self.box, self.group, self.task) = (port, box, group, task)
    }

    /// Everything POSTed so far, in order.
    var requests: [Received] { box.received.withLock { $0 } }

    /// The bodies POSTed to `path`.
    func bodies(at path: String) -> [String] { requests.filter { $0.path == path }.map(\.text) }

    /// A collector listening on a free loopback port.
    static func start() async throws -> Collector {
        let box = RequestBox()
        let router = Router()
        router.add(middleware: RecordingMiddleware(box: box))
        let (ports, portSink) = AsyncStream.makeStream(of: Int.self)
        // Quiet: the test's output is the server's story, not the collector's.
        let logger = Logger(label: "collector") { _ in SwiftLogNoOpLogHandler() }
        let application = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                portSink.yield(channel.localAddress?.port ?? 0)
                portSink.finish()
            }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: application)], logger: logger))
        let task = Task { try await group.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next(), port > 0 else {
            task.cancel()
            throw CollectorError(description: "the collector did not start listening")
        }
        return Collector(port: port, box: box, group: group, task: task)
    }

    /// Stops listening, gracefully.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
    }
}

struct CollectorError: Error, CustomStringConvertible {
    var description: String
}

/// Shared by the middleware and the collector.
final class RequestBox: Sendable {
    let received = Mutex<[Collector.Received]>([])
}

/// Answers every request itself (no routes): records a POST, says 200 `{}`.
struct RecordingMiddleware<Context: RequestContext>: RouterMiddleware {
    let box: RequestBox

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response)
        async throws -> Response
    {
        var request = request
        let buffer = try await request.collectBody(upTo: 16 << 20)
        if request.method == .post {
            var body = Array(buffer.readableBytesView)
            if request.headers[.contentEncoding] == "gzip" { body = try gunzip(body) }
            box.received.withLock { $0.append(.init(path: request.uri.path, body: body)) }
        }
        return Response(
            status: .ok, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(string: "{}")))
    }

    /// `gzip -dc`: Foundation on Linux has no gzip decoder, and the test needs no zlib module of its own.
    private func gunzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("collector-\(UUID().uuidString).gz")
        try Data(bytes).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["gzip", "-dc", file.path]
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CollectorError(description: "gzip -dc failed on a \(bytes.count)-byte body")
        }
        return Array(data)
    }
}
