// Steward.start with nothing pending (issue 8). Target: under 5 ms.
//
// Each iteration starts Steward on a data folder that already holds a vault (an app's second
// and later launches: the common case), with the crash handlers installed, then stops it
// outside the measurement. "First launch" starts on an empty folder: the vault key and folders
// are created (fsync included). See Documentation/Performance.md.

import Benchmark
import Foundation
import Steward

private func configuration(_ directory: String) throws -> Steward.Configuration {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Examples/steward/example-manifest.json")
    let manifest = try PrivacyManifest.decode(json: Array(try Data(contentsOf: url)))
    var configuration = Steward.Configuration(appID: "org.steward.bench", manifest: manifest, dataDirectory: directory)
    configuration.release = "1.0.0"
    return configuration
}

let benchmarks: @Sendable () -> Void = {
    Benchmark(
        "Steward.start, nothing pending (existing data folder)",
        configuration: .init(metrics: [.wallClock, .mallocCountTotal], maxDuration: .seconds(5), maxIterations: 500)
    ) { benchmark in
        let directory = NSTemporaryDirectory() + "steward-start-bench-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let base = try configuration(directory)
        try Steward.start(base).stop()  // the data folder exists from here on
        for _ in benchmark.scaledIterations {
            benchmark.startMeasurement()
            let steward = try Steward.start(base)
            benchmark.stopMeasurement()
            blackHole(steward)
            steward.stop()
        }
    }

    Benchmark(
        "Steward.start, first launch (empty data folder)",
        configuration: .init(metrics: [.wallClock], maxDuration: .seconds(5), maxIterations: 200)
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            let directory = NSTemporaryDirectory() + "steward-start-bench-\(UUID().uuidString)"
            let base = try configuration(directory)
            benchmark.startMeasurement()
            let steward = try Steward.start(base)
            benchmark.stopMeasurement()
            steward.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }
}
