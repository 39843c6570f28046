// Vault append/commit throughput and open latency. See Documentation/Performance.md.
//
// Every vault lives in a fresh directory under the temporary directory ($TMPDIR, else /tmp),
// created in the benchmark's setup and removed in its teardown, so runs never see each
// other's data and the figures include the real file system (fdatasync on every commit).

import Benchmark
import Foundation
import StewardCore

/// A vault in a private temporary data directory, shared by a benchmark's setup, iterations
/// and teardown.
private final class VaultFixture: @unchecked Sendable {
    // @unchecked Sendable: package-benchmark runs setup, iterations and teardown one after
    // another, never concurrently.
    private(set) var dataDirectory: String?
    var vault: Vault?

    /// Creates an empty temporary data directory (0700, as `mkdtemp` makes it).
    func makeDirectory() throws -> String {
        var template = Array((NSTemporaryDirectory() + "/steward-bench-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        let path = String(cString: made)
        dataDirectory = path
        return path
    }

    /// Closes the vault (a no-op commit when nothing is staged) and removes the directory.
    func tearDown() throws {
        try vault?.close()
        vault = nil
        if let dataDirectory { try FileManager.default.removeItem(atPath: dataDirectory) }
        dataDirectory = nil
    }
}

/// Appends `count` records of `record` to `collection` in batches of `batch`, committing each.
private func fill(_ vault: Vault, count: Int, batch: Int, record: [UInt8], collection: String) throws {
    var appended = 0
    while appended < count {
        let n = min(batch, count - appended)
        for _ in 0..<n {
            try vault.append(record, to: collection, category: .usageEvents, purpose: .analytics, retention: retention)
        }
        try vault.commit()
        appended += n
    }
}

/// Thirty days, as an app keeping usage events would.
private let retention: Duration = .seconds(86_400 * 30)

let benchmarks: @Sendable () -> Void = {
    // Tolerances for `benchmark baseline check` / `thresholds check`: a regression is a median
    // more than 15% worse than the reference (fdatasync makes these noisier than pure CPU work).
    let tolerances: [BenchmarkMetric: BenchmarkThresholds] = [
        .throughput: BenchmarkThresholds(relative: [.p50: 15.0]),
        .wallClock: BenchmarkThresholds(relative: [.p50: 15.0]),
    ]

    // MARK: Append + commit

    // One iteration = 1,000 appends to one collection and one commit (one fdatasync), so the
    // throughput, scaled by 1,000, reads as records per second. The vault grows during the run
    // and segments rotate at 8 MiB, as in a real app; `maxIterations` caps the data written.
    for (label, size, maxIterations) in [("100 B", 100, 4_000), ("4 KiB", 4_096, 200)] {
        let record = [UInt8](repeating: 0x5A, count: size)
        let fixture = VaultFixture()
        Benchmark(
            "Vault append \(label) records, commit every 1,000",
            configuration: .init(
                metrics: [.throughput, .wallClock, .cpuTotal],
                warmupIterations: 3,
                scalingFactor: .kilo,
                maxDuration: .seconds(5),
                // Frames of 192 B (100 B) or 4,188 B (4 KiB): ~0.19 MB or ~4.2 MB per iteration; both caps stay under ~1 GiB.
                maxIterations: maxIterations,
                thresholds: tolerances)
        ) { benchmark in
            let vault = fixture.vault!
            for _ in benchmark.scaledIterations {
                try vault.append(
                    record, to: "events", category: .usageEvents, purpose: .analytics, retention: retention)
            }
            try vault.commit()
        } setup: {
            fixture.vault = try Vault.open(dataDirectory: try fixture.makeDirectory())
        } teardown: {
            try fixture.tearDown()
        }
    }

    // MARK: Open

    // A vault of 100,000 committed 100-byte records (one collection, ~19 MB, three segments), built
    // once in setup. One iteration = open (lock, key, meta check, scan and index every
    // segment) + close (nothing staged, so no write). The files are in the page cache: this
    // is a warm open, as when an app restarts.
    let openFixture = VaultFixture()
    Benchmark(
        "Vault open + close, 100,000 records of 100 B",
        configuration: .init(
            metrics: [.wallClock, .cpuTotal, .throughput],
            timeUnits: .milliseconds,
            warmupIterations: 2,
            scalingFactor: .one,
            maxDuration: .seconds(5),
            maxIterations: 200,
            thresholds: tolerances)
    ) { _ in
        let vault = try Vault.open(dataDirectory: openFixture.dataDirectory!)
        try vault.close()
    } setup: {
        let directory = try openFixture.makeDirectory()
        let vault = try Vault.open(dataDirectory: directory)
        try fill(
            vault, count: 100_000, batch: 1_000, record: [UInt8](repeating: 0x5A, count: 100), collection: "events")
        try vault.close()
    } teardown: {
        try openFixture.tearDown()
    }
}
