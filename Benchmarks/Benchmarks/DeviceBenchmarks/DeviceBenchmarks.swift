// StewardDevice: a full DeviceProfile of this machine (target, issue 4: under 5 ms with about
// 10 network interfaces), and the app-scoped ID (target: under 20 µs) — deriving systemd's
// app-specific ID from a machine ID already read, and the whole call including reading
// /etc/machine-id. See Documentation/Performance.md.

import Benchmark
import Foundation
import StewardCore
import StewardDevice

let benchmarks: @Sendable () -> Void = {
    Benchmark(
        "App-scoped ID, derivation",
        configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(3))
    ) { benchmark in
        guard let machine = try? ID128(parsing: "51df0b4bc3b04c9780e299b98ca373b8"),
            let app = try? ID128(parsing: "f03daaeb1c334b43a732172944bf772e")
        else { return }
        for _ in benchmark.scaledIterations { blackHole(try? AppScopedID.derive(machine: machine, application: app)) }
    }

    Benchmark(
        "App-scoped ID, reading /etc/machine-id each time",
        configuration: .init(metrics: [.wallClock, .throughput], scalingFactor: .kilo, maxDuration: .seconds(3))
    ) { benchmark in
        guard let app = try? ID128(parsing: "f03daaeb1c334b43a732172944bf772e") else { return }
        for _ in benchmark.scaledIterations {
            blackHole(try? AppScopedID.derive(machine: MachineID.read(), application: app))
        }
    }

    Benchmark(
        "DeviceProfile.read, this machine",
        configuration: .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(3))
    ) { benchmark in
        for _ in benchmark.scaledIterations {
            blackHole(DeviceProfile.read(permissions: StaticPermissions(granted: [.deviceIdentity])))
        }
    }
}
