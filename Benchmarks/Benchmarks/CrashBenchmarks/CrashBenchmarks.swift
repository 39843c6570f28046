// Crash capture (issue 6). Targets: installing the handlers under 1 ms; processing 10 pending
// records at launch under 50 ms; signal to record fsynced under 2 ms (each record also carries
// the handler's own measurement, up to the fsync — see Documentation/Crash.md).
// - "install + uninstall": CrashReporter.install() (crash folder, context blob, alternate
//   stack, six sigactions, unwinder warm-up after the first) then uninstall().
// - "write one record": the handler's record writer on this thread, without a signal:
//   header, registers, both unwinds, /proc/self/maps, breadcrumbs, context, fsync of file and
//   folder. The time from the signal is this plus the kernel's signal delivery (microseconds).
// - "process 10 pending records": 10 records written (not measured), then processPending():
//   parse, symbolicate (ELF symbols; DWARF lines through libdw in the lines mode), scrub, store through the
//   consent gate, commit, unlink. With and without symbolication.
// - "handled error, caller's thread" (issue 18: at most 5 µs p50; sentry_capture_event
//   28.8 µs): CrashReporter.report(error:) at a stack depth of 12, what the caller pays (the
//   stack, the thread, the time, the breadcrumb position, the hand-over); the worker stores
//   meanwhile on the other core. "handled error, stored" adds flushHandledErrors() per report:
//   the whole work, symbolication, encryption and one commit included.
// See Documentation/Performance.md.

import Benchmark
import Foundation
import StewardCore
@_spi(Testing) import StewardCrash

private let manifest = PrivacyManifest(
    policyVersion: "bench",
    purposes: [
        .init(id: .serviceProvision, description: "Service", legalBasis: .necessaryForService),
        .init(id: .crashReporting, description: "Crashes", legalBasis: .consent),
    ],
    dataCategories: [
        .init(
            id: .crashDiagnostics, description: "Crashes", purposes: [.crashReporting], retentionDays: 90,
            sensitivity: .personal, leavesDevice: true, recipients: ["crashBackend"])
    ],
    recipients: [.init(id: "crashBackend", name: "Crash backend", role: .processor, region: "DE")])

/// A reporter over a vault in a private temporary directory, crash reporting granted.
private final class CrashFixture: @unchecked Sendable {
    // @unchecked Sendable: built once in setup; package-benchmark runs benchmarks one at a time.
    let directory: String
    let vault: Vault
    let reporter: CrashReporter
    let gate: ConsentGate
    let context = CrashContext(release: "bench@1.0", environment: "benchmark", osName: "Linux", arch: "x86_64")

    init() throws {
        directory = NSTemporaryDirectory() + "/steward-crash-bench-\(UUID().uuidString)"
        vault = try Vault.open(dataDirectory: directory)
        let ledger = try ConsentLedger(manifest: manifest, vault: vault)
        try ledger.grant([.crashReporting])
        gate = ConsentGate(ledger: ledger, vault: vault)
        reporter = CrashReporter(
            configuration: .init(dataDirectory: directory, context: context), vault: vault, consent: gate)
    }

    /// A new reporter, as at a launch: nothing cached.
    func freshReporter(_ symbolication: CrashReporter.Symbolication) -> CrashReporter {
        var configuration = CrashReporter.Configuration(dataDirectory: directory, context: context)
        configuration.symbolication = symbolication
        return CrashReporter(configuration: configuration, vault: vault, consent: gate)
    }

    deinit {
        reporter.uninstall()
        try? vault.close()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

private nonisolated(unsafe) var fixture: CrashFixture?

private struct ScanFailed: Error {}

/// Runs `body` at a stack depth of `depth` more frames (a handled error is rarely reported
/// from the top of a stack).
@inline(never)
private func atDepth(_ depth: Int, _ body: () -> Void) {
    if depth == 0 { body() } else { atDepth(depth - 1, body) }
}

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .mallocCountTotal],
        maxDuration: .seconds(5),
        maxIterations: 200,
        setup: { fixture = try CrashFixture() },
        teardown: { fixture = nil })

    Benchmark("Crash handler install + uninstall", configuration: configuration) { benchmark in
        guard let reporter = fixture?.reporter else { return }
        for _ in benchmark.scaledIterations {
            try reporter.install()
            reporter.uninstall()
        }
    }

    Benchmark("Crash record write (handler path, no signal)", configuration: configuration) { benchmark in
        guard let fixture else { return }
        try fixture.reporter.install()
        defer { fixture.reporter.uninstall() }
        fixture.reporter.addBreadcrumb(message: "opened scanner", category: "navigation")
        for _ in benchmark.scaledIterations {
            try fixture.reporter.writeRecordForTesting()
        }
        benchmark.stopMeasurement()
        // Leave no records for the next benchmark.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: fixture.directory + "/crash")) ?? [] {
            try? FileManager.default.removeItem(atPath: fixture.directory + "/crash/" + name)
        }
    }

    for (name, symbolication) in [
        ("Process 10 pending records, function names (default)", CrashReporter.Symbolication.functionNames),
        ("Process 10 pending records, not symbolicated", .none),
        ("Process 10 pending records, names and source lines (libdw)", .functionNamesAndSourceLocations),
    ] {
        Benchmark(name, configuration: configuration) { benchmark in
            guard let fixture else { return }
            try fixture.reporter.install()
            defer { fixture.reporter.uninstall() }
            for _ in benchmark.scaledIterations {
                benchmark.stopMeasurement()
                for _ in 0..<10 { try fixture.reporter.writeRecordForTesting() }
                // A new reporter each time: a launch starts with no ELF file parsed.
                let reporter = fixture.freshReporter(symbolication)
                benchmark.startMeasurement()
                let result = reporter.processPending()
                precondition(
                    result.reports.count == 10 && result.problems.isEmpty, "processing failed: \(result.problems)")
            }
        }
    }

    Benchmark(
        "Handled error, caller's thread (report(error:))",
        configuration: .init(
            metrics: [.wallClock, .mallocCountTotal], scalingFactor: .kilo, maxDuration: .seconds(5),
            maxIterations: 200, setup: { fixture = try CrashFixture() }, teardown: { fixture = nil })
    ) { benchmark in
        guard let reporter = fixture?.reporter else { return }
        reporter.addBreadcrumb(message: "opened scanner", category: "navigation")
        atDepth(12) {
            for _ in benchmark.scaledIterations { blackHole(reporter.report(error: ScanFailed())) }
        }
        benchmark.stopMeasurement()
        reporter.flushHandledErrors()
    }

    Benchmark("Handled error, stored (report + flushHandledErrors)", configuration: configuration) { benchmark in
        guard let reporter = fixture?.reporter else { return }
        atDepth(12) {
            for _ in benchmark.scaledIterations {
                reporter.report(error: ScanFailed())
                reporter.flushHandledErrors()
            }
        }
    }
}
