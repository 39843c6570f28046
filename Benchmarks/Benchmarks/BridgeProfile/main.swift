// A driver for profiling the swift-log bridge on the caller's thread, with instruction counts
// that do not depend on what else the machine runs (callgrind), or with perf:
//
//     swift build -c release --product BridgeProfile
//     cp .build/release/BridgeProfile /tmp/bp && strip --strip-debug /tmp/bp   # valgrind 3.19
//     NOSTOP=1 N=200000 valgrind --tool=callgrind --separate-threads=yes /tmp/bp event
//
// MODE (the first argument): `event` records each line as the declared `app_log` event
// (analytics granted), `crumb` makes it a breadcrumb only, `discard` sends it to a handler
// that does nothing with it (the cost of the loop, the metadata and swift-log itself).
// N lines (default 2,000,000), the same call as BridgeBenchmarks makes. The memory limit is
// raised so the caller never stores a batch itself (under valgrind the storer thread runs
// slower than the caller). NOSTOP=1 exits without Steward's stop (which flushes what is held),
// so a run's count minus a run with N=0 is the lines' cost. Prints nanoseconds per line.

import BridgeShared
import Foundation
import Logging
import Steward
import StewardLogging

/// Accepts every line and does nothing with it.
struct Discard: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { nil }
        set {}
    }
    func log(event: LogEvent) {}
}

let environment = ProcessInfo.processInfo.environment
let mode = CommandLine.arguments.dropFirst().first ?? "event"
let count = environment["N"].flatMap { Int($0) } ?? 2_000_000
let directory = NSTemporaryDirectory() + "/steward-bridge-profile-\(UUID().uuidString)"
let steward = try Steward.start(try BridgeShared.configuration(directory: directory, memoryLimit: 100_000_000))
try steward.consent.grant([.analytics])
let logger: Logger
switch mode {
case "discard":
    logger = Logger(label: "bench.discard") { _ in Discard() }
case "crumb":
    logger = Logger(label: "bench.steward.crumbs") {
        StewardLogHandler(label: $0, steward: steward, options: .init(breadcrumbLevel: .info))
    }
default:
    logger = Logger(label: "bench.steward") {
        StewardLogHandler(
            label: $0, steward: steward, options: .init(breadcrumbLevel: nil, event: "app_log", eventLevel: .warning))
    }
}
let start = DispatchTime.now().uptimeNanoseconds
for index in 0..<count {
    logger.warning("slow request", metadata: ["route": "/orders", "status": "\(index)"])
}
let elapsed = DispatchTime.now().uptimeNanoseconds - start
print("\(mode): \(count > 0 ? Double(elapsed) / Double(count) : 0) ns per line")
if environment["NOSTOP"] != nil { exit(0) }
steward.stop()
try? FileManager.default.removeItem(atPath: directory)
