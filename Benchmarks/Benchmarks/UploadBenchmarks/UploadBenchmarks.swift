// What the uploader itself costs per payload: submit (encode, vault append, commit with
// fdatasync) and delivery (vault read and decrypt, consent check, send, vault remove, commit
// with fdatasync, audit count) through a transport that accepts at once, so everything
// measured is the uploader's own time. Target (issue 3): under 1 ms per payload beyond the
// transport's own time. See Documentation/Performance.md.
//
// Every vault lives in a fresh directory under the temporary directory ($TMPDIR, else /tmp),
// created in setup and removed in teardown, so the figures include the real file system.

import Benchmark
import Foundation
import StewardCore

/// Accepts every payload at once: the transport's own time is nil.
private struct InstantTransport: Transport {
    func send(_ payload: Payload) async -> Delivery { .accepted }
}

/// Every purpose granted.
private struct Granted: ConsentChecking {
    func consentState(for purpose: Purpose) -> ConsentState { .granted }
}

private let recipient: RecipientID = "crashBackend"

private let manifest = PrivacyManifest(
    policyVersion: "bench",
    purposes: [.init(id: .crashReporting, description: "Stability", legalBasis: .consent)],
    dataCategories: [
        .init(
            id: .crashDiagnostics, description: "Crash reports", purposes: [.crashReporting], retentionDays: 30,
            sensitivity: .personal, leavesDevice: true, recipients: [recipient]),
        .init(
            id: .deviceModel, description: "Device model", purposes: [.crashReporting], sensitivity: .low,
            leavesDevice: true, recipients: [recipient]),
    ],
    recipients: [.init(id: recipient, name: "Crash backend", role: .processor, region: "DE")])

/// A 1 KiB body with the headers a Sentry envelope would carry.
private func payload(_ n: Int) -> Payload {
    Payload(
        recipient: recipient, purpose: .crashReporting, categories: [.crashDiagnostics, .deviceModel],
        contentType: "application/x-sentry-envelope",
        headers: ["X-Sentry-Auth": "Sentry sentry_version=7, sentry_key=0123456789abcdef"],
        body: [UInt8](repeating: 0x5A, count: 1_024), idempotencyKey: "event-\(n)", created: Date())
}

/// A vault and an uploader in a private temporary data directory, shared by a benchmark's
/// setup, iterations and teardown.
private final class UploadFixture: @unchecked Sendable {
    // @unchecked Sendable: package-benchmark runs setup, iterations and teardown one after
    // another, never concurrently.
    private var dataDirectory: String?
    private var vault: Vault?
    var uploader: Uploader?
    var counter = 0

    func setUp() throws {
        var template = Array((NSTemporaryDirectory() + "/steward-bench-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        let directory = String(cString: made)
        dataDirectory = directory
        let vault = try Vault.open(dataDirectory: directory)
        self.vault = vault
        uploader = try Uploader(
            recipient: recipient, transport: InstantTransport(), vault: vault, consent: Granted(), manifest: manifest,
            audit: try AuditLedger(vault: vault))
    }

    func tearDown() throws {
        uploader = nil
        try vault?.close()
        vault = nil
        if let dataDirectory { try FileManager.default.removeItem(atPath: dataDirectory) }
        dataDirectory = nil
    }
}

let benchmarks: @Sendable () -> Void = {
    // fdatasync dominates these figures, so allow 15% like the vault benchmarks.
    let tolerances: [BenchmarkMetric: BenchmarkThresholds] = [
        .throughput: BenchmarkThresholds(relative: [.p50: 15.0]),
        .wallClock: BenchmarkThresholds(relative: [.p50: 15.0]),
    ]

    // One iteration = one payload: submit it (durable when submit returns), then drain, which
    // delivers it and deletes it from the vault. Two commits, so two fdatasyncs, per payload.
    let single = UploadFixture()
    Benchmark(
        "Uploader submit + deliver one 1 KiB payload (instant transport)",
        configuration: .init(
            metrics: [.wallClock, .cpuTotal, .throughput],
            timeUnits: .microseconds,
            warmupIterations: 20,
            scalingFactor: .one,
            maxDuration: .seconds(5),
            maxIterations: 10_000,
            thresholds: tolerances)
    ) { _ in
        guard let uploader = single.uploader else { return }
        single.counter += 1
        try uploader.submit(payload(single.counter))
        let report = await uploader.drain()
        precondition(report.accepted == 1 && report.remaining == 0, "the benchmark payload was not delivered")
    } setup: {
        try single.setUp()
    } teardown: {
        try single.tearDown()
    }

    // One iteration = 1,000 payloads submitted one by one (each committed), then one drain
    // that delivers all 1,000 (each deletion committed): a backlog, as after a launch offline.
    let backlog = UploadFixture()
    Benchmark(
        "Uploader submit 1,000 then deliver 1,000 1 KiB payloads (instant transport)",
        configuration: .init(
            metrics: [.wallClock, .cpuTotal, .throughput],
            timeUnits: .microseconds,
            warmupIterations: 1,
            scalingFactor: .kilo,
            maxDuration: .seconds(10),
            maxIterations: 20,
            thresholds: tolerances)
    ) { benchmark in
        guard let uploader = backlog.uploader else { return }
        for _ in benchmark.scaledIterations {
            backlog.counter += 1
            try uploader.submit(payload(backlog.counter))
        }
        let report = await uploader.drain()
        precondition(
            report.accepted == benchmark.scaledIterations.count && report.remaining == 0,
            "the backlog was not delivered")
    } setup: {
        try backlog.setUp()
    } teardown: {
        try backlog.tearDown()
    }
}
