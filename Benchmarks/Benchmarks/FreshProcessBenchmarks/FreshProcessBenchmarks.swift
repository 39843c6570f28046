// What an app pays at launch (issue 18), measured in fresh processes: each iteration runs this
// benchmark's own executable again as a child (`/proc/self/exe`, with STEWARD_FRESH_PROBE set),
// and the child measures itself and prints its figures; the parent records them as custom
// metrics. Nothing of the parent's warm state (Swift metadata, conformance caches, the
// identifier filter, open files) helps the child.
//
// - "start, existing folder": `Steward.start` on a data folder an earlier process made (an
//   app's second and later launches), nothing pending. Metrics: the start's duration (µs), the
//   resident memory it added (KiB, VmRSS after minus before: code and data pages of the
//   libraries touched for the first time count), and of that the anonymous memory (RssAnon:
//   heap, stacks); and both again 0.5 s later, once the work start leaves to threads of its
//   own (the session's commit, the crash scrubber, the permission check) is done.
// - "start, first launch": the same on an empty folder (the vault key and folders are made).
// - "send, 200,000-event backlog": a child records 200,000 events (consent granted) and stops,
//   so they wait in the vault (most already as OTLP payloads in the outbox: the automatic
//   delivery queues full batches while it records, and nothing listens); a second child starts
//   on that folder without the automatic delivery and delivers them with `send()` to a loopback
//   collector in the parent. Metrics: the peak resident memory of the start above the process
//   before it, the peak of `send()` above the process after start (VmHWM, reset through
//   /proc/self/clear_refs), the higher of the two above the process before start, and the
//   payloads the collector accepted.
//
// The child carries package-benchmark's malloc interposer, idle (it counts nothing unless
// asked): an atomic load per allocation. See Documentation/Performance.md.

import Benchmark
import Foundation
import Steward
import StewardTesting
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

private let manifestURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(
        "Examples/steward/example-manifest.json")

private func configuration(_ directory: String) throws -> Steward.Configuration {
    let manifest = try PrivacyManifest.decode(json: Array(try Data(contentsOf: manifestURL)))
    var configuration = Steward.Configuration(appID: "org.steward.bench", manifest: manifest, dataDirectory: directory)
    configuration.release = "1.0.0"
    configuration.otelEnvironment = [:]
    return configuration
}

// MARK: - The child

private func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
}

/// A field of /proc/self/status, in KiB (VmRSS, VmHWM).
private func statusKiB(_ field: String) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return -1 }
    for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? -1
    }
    return -1
}

/// Runs as the child when STEWARD_FRESH_PROBE names a mode; prints `key=value` figures.
private func probeIfAsked() {
    guard let mode = ProcessInfo.processInfo.environment["STEWARD_FRESH_PROBE"],
        let directory = ProcessInfo.processInfo.environment["STEWARD_FRESH_DIR"]
    else { return }
    do {
        var base = try configuration(directory)
        switch mode {
        case "start":
            // Read before the clock starts: what the host does before it calls start.
            _ = statusKiB("VmRSS")
            let before = (statusKiB("VmRSS"), statusKiB("RssAnon"))
            let started = monotonicNanoseconds()
            let steward = try Steward.start(base)
            let took = monotonicNanoseconds() - started
            let after = (statusKiB("VmRSS"), statusKiB("RssAnon"))
            // The work start leaves to threads of its own (the session's commit, the crash
            // scrubber, the permission check, the first delivery pass) is done a moment later.
            usleep(500_000)
            let settled = (statusKiB("VmRSS"), statusKiB("RssAnon"))
            print(
                "start_us=\(took / 1_000) rss_added_kib=\(after.0 - before.0) anon_added_kib=\(after.1 - before.1) "
                    + "settled_rss_kib=\(settled.0 - before.0) settled_anon_kib=\(settled.1 - before.1)")
            steward.stop()
        case "fill":
            let count = Int(ProcessInfo.processInfo.environment["STEWARD_FRESH_EVENTS"] ?? "") ?? 200_000
            let steward = try Steward.start(base)
            try steward.consent.grant([.analytics])
            var outcomes: [String: Int] = [:]
            for n in 0..<count {
                let outcome = steward.telemetry.record(
                    "screen_view", attributes: ["screen": .string("screen \(n % 50)")])
                outcomes["\(outcome)", default: 0] += 1
            }
            steward.stop()
            print(
                "filled=\(count) outcomes=\(outcomes.map { "\($0.key):\($0.value)" }.sorted().joined(separator: ","))")
        case "send":
            base.otlpEndpoint = URL(string: ProcessInfo.processInfo.environment["STEWARD_FRESH_ENDPOINT"] ?? "")
            // All of the backlog goes through the measured send(), none through the automatic
            // delivery's first pass.
            base.automaticDelivery = nil
            // Resets VmHWM to the current resident size (Linux 4.0 and later).
            try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
            let beforeStart = statusKiB("VmRSS")
            let steward = try Steward.start(base)
            let startPeak = statusKiB("VmHWM")
            let before = statusKiB("VmRSS")
            try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
            let done = DispatchSemaphore(value: 0)
            let report = Mutex<Steward.SendReport?>(nil)
            Task {
                report.withLock { $0 = nil }
                let r = await steward.send(timeout: .seconds(600))
                report.withLock { $0 = r }
                done.signal()
            }
            done.wait()
            let peak = statusKiB("VmHWM")
            let queued = report.withLock { $0?.eventsQueued ?? -1 }
            let detail = report.withLock { r in
                "\(r?.uploads.map { "\($0.key):\($0.value)" } ?? []) \(r?.problems ?? [])"
            }
            let accepted = report.withLock { $0?.uploads.values.reduce(0) { $0 + $1.accepted } ?? -1 }
            print(
                "peak_added_kib=\(peak - before) start_peak_added_kib=\(startPeak - beforeStart) "
                    + "peak_above_process_kib=\(max(peak, startPeak) - beforeStart) queued=\(queued) accepted=\(accepted)"
            )
            if ProcessInfo.processInfo.environment["STEWARD_FRESH_VERBOSE"] != nil { print("detail:", detail) }
            steward.stop()
        default:
            print("error=unknown mode \(mode)")
        }
    } catch {
        print("error=\(error)")
    }
    exit(0)
}

// MARK: - The parent

private struct ProbeFailed: Error, CustomStringConvertible {
    var description: String
}

/// Runs this executable as a child in `mode` over `directory`; its figures.
private func probe(_ mode: String, _ directory: String, _ extra: [String: String] = [:]) throws -> [String: String] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    process.arguments = []
    var environment = ProcessInfo.processInfo.environment
    environment["STEWARD_FRESH_PROBE"] = mode
    environment["STEWARD_FRESH_DIR"] = directory
    for (key, value) in extra { environment[key] = value }
    process.environment = environment
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var figures: [String: String] = [:]
    for field in String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }) {
        let parts = field.split(separator: "=", maxSplits: 1)
        if parts.count == 2 { figures[String(parts[0])] = String(parts[1]) }
    }
    if let error = figures["error"] { throw ProbeFailed(description: "the \(mode) child failed: \(error)") }
    return figures
}

private func figure(_ figures: [String: String], _ key: String) throws -> Int {
    guard let value = figures[key].flatMap({ Int($0) }) else {
        throw ProbeFailed(description: "no \(key) in \(figures)")
    }
    return value
}

private let startMicroseconds = BenchmarkMetric.custom("start (µs)", useScalingFactor: false)
private let residentAdded = BenchmarkMetric.custom("resident added (KiB)", useScalingFactor: false)
private let anonymousAdded = BenchmarkMetric.custom("of which anonymous (KiB)", useScalingFactor: false)
private let settledAdded = BenchmarkMetric.custom("resident added, 0.5 s later (KiB)", useScalingFactor: false)
private let settledAnonymous = BenchmarkMetric.custom(
    "of which anonymous, 0.5 s later (KiB)", useScalingFactor: false)
private let peakAboveProcess = BenchmarkMetric.custom(
    "peak resident of start and send above the process before start (KiB)", useScalingFactor: false)
private let peakAdded = BenchmarkMetric.custom("peak resident added by send (KiB)", useScalingFactor: false)
private let startPeakAdded = BenchmarkMetric.custom(
    "peak resident added by the start before it (KiB)", useScalingFactor: false)
private let payloadsAccepted = BenchmarkMetric.custom(
    "payloads the collector accepted", polarity: .prefersLarger, useScalingFactor: false)

/// The metrics and bounds of both start benchmarks.
private func startConfiguration() -> Benchmark.Configuration {
    .init(
        metrics: [startMicroseconds, residentAdded, anonymousAdded, settledAdded, settledAnonymous],
        maxDuration: .seconds(40), maxIterations: 40)
}

/// Records a start child's figures.
private func recordStart(_ figures: [String: String], in benchmark: Benchmark) throws {
    benchmark.measurement(startMicroseconds, try figure(figures, "start_us"))
    benchmark.measurement(residentAdded, try figure(figures, "rss_added_kib"))
    benchmark.measurement(anonymousAdded, try figure(figures, "anon_added_kib"))
    benchmark.measurement(settledAdded, try figure(figures, "settled_rss_kib"))
    benchmark.measurement(settledAnonymous, try figure(figures, "settled_anon_kib"))
}

let benchmarks: @Sendable () -> Void = {
    probeIfAsked()

    Benchmark(
        "Steward.start in a fresh process, existing data folder",
        configuration: startConfiguration()
    ) { benchmark in
        let directory = NSTemporaryDirectory() + "steward-fresh-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        _ = try probe("start", directory)  // the folder exists from here on
        for _ in benchmark.scaledIterations {
            let figures = try probe("start", directory)
            try recordStart(figures, in: benchmark)
        }
    }

    Benchmark(
        "Steward.start in a fresh process, first launch",
        configuration: startConfiguration()
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let directory = NSTemporaryDirectory() + "steward-fresh-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let figures = try probe("start", directory)
            try recordStart(figures, in: benchmark)
        }
    }

    Benchmark(
        "send of a 200,000-event backlog in a fresh process",
        configuration: .init(
            metrics: [peakAdded, startPeakAdded, peakAboveProcess, payloadsAccepted], maxDuration: .seconds(300),
            maxIterations: 3)
    ) { benchmark in
        let collector = try LoopbackServer()
        defer { collector.stop() }
        for _ in benchmark.scaledIterations {
            let directory = NSTemporaryDirectory() + "steward-fresh-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: directory) }
            _ = try probe("fill", directory)
            let figures = try probe("send", directory, ["STEWARD_FRESH_ENDPOINT": collector.url.absoluteString])
            benchmark.measurement(peakAdded, try figure(figures, "peak_added_kib"))
            benchmark.measurement(startPeakAdded, try figure(figures, "start_peak_added_kib"))
            benchmark.measurement(peakAboveProcess, try figure(figures, "peak_above_process_kib"))
            benchmark.measurement(payloadsAccepted, try figure(figures, "accepted"))
        }
    }
}
