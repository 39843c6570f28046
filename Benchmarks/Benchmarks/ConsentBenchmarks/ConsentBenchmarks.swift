// The consent check on the hot path: `ConsentLedger.isGranted(handle)` is one atomic load and
// a bit test. Target (issue 3): under 5 ns per check. Each iteration is 1,000,000 checks
// (`scalingFactor: .mega`), so the time rows read as nanoseconds per check.
// Also: decoding a manifest of 20,000 purposes and 20,000 categories that are all wrong, which
// guards against checking going quadratic again (it once took about 40 s).
// See Documentation/Performance.md.

import Benchmark
import Foundation
import StewardCore

private let manifest = PrivacyManifest(
    policyVersion: "bench",
    purposes: [
        .init(id: .serviceProvision, description: "Service", legalBasis: .necessaryForService),
        .init(id: .analytics, description: "Analytics", legalBasis: .consent),
        .init(id: .crashReporting, description: "Crashes", legalBasis: .consent),
    ],
    dataCategories: [
        .init(
            id: .usageEvents, description: "Events", purposes: [.analytics], sensitivity: .personal, leavesDevice: false
        )
    ])

/// A ledger over a vault in a private temporary directory, made once per process.
private final class ConsentFixture: @unchecked Sendable {
    // @unchecked Sendable: built once in setup; package-benchmark runs benchmarks one at a time.
    let directory: String
    let ledger: ConsentLedger

    init() throws {
        directory = NSTemporaryDirectory() + "/steward-consent-bench-\(UUID().uuidString)"
        let vault = try Vault.open(dataDirectory: directory)
        ledger = try ConsentLedger(manifest: manifest, vault: vault)
        try ledger.grant([.analytics])
        try ledger.deny([.crashReporting])
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

private nonisolated(unsafe) var fixture: ConsentFixture?

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput],
        scalingFactor: .mega,
        maxDuration: .seconds(3),
        setup: { fixture = try ConsentFixture() },
        teardown: { fixture = nil })

    Benchmark("Consent check, granted purpose (handle)", configuration: configuration) { benchmark in
        guard let ledger = fixture?.ledger, let handle = ledger.handle(for: .analytics) else { return }
        for _ in benchmark.scaledIterations { blackHole(ledger.isGranted(handle)) }
    }

    Benchmark("Consent check, denied purpose (handle)", configuration: configuration) { benchmark in
        guard let ledger = fixture?.ledger, let handle = ledger.handle(for: .crashReporting) else { return }
        for _ in benchmark.scaledIterations { blackHole(ledger.isGranted(handle)) }
    }

    Benchmark("Consent check by Purpose value (dictionary lookup)", configuration: configuration) { benchmark in
        guard let ledger = fixture?.ledger else { return }
        for _ in benchmark.scaledIterations { blackHole(ledger.isGranted(.analytics)) }
    }

    Benchmark(
        "Manifest decode, 20,000 mistakes",
        configuration: .init(metrics: [.wallClock], maxDuration: .seconds(10), maxIterations: 10)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole((try? PrivacyManifest.decode(json: hugeManifest)) == nil)
        }
    }
}

/// Every purpose has the same id and every category references an undeclared purpose.
private let hugeManifest: String = {
    let purposes = (0..<20_000).map { _ in #"{"id": "p", "description": "d", "legalBasis": "consent"}"# }
    let categories = (0..<20_000).map {
        #"{"id": "c\#($0)", "description": "d", "purposes": ["q"], "sensitivity": "low", "leavesDevice": false}"#
    }
    return #"{"policyVersion": "1", "purposes": ["# + purposes.joined(separator: ",") + #"], "dataCategories": ["#
        + categories.joined(separator: ",") + "]}"
}()
