// swift-tools-version:6.1
//
// Steward's performance benchmarks, a package of their own so that the SDK itself does not
// depend on package-benchmark. Run from this directory:
//
//     swift package --disable-sandbox benchmark
//
// See Documentation/Performance.md for what each benchmark measures and the targets.
import PackageDescription

let package = Package(
    name: "StewardBenchmarks",
    dependencies: [
        // Only the "MallocInterposer" trait: the default "RuntimeInterposer" trait pulls in
        // swift-runtime-interposer on Linux with Swift 6.3, which these benchmarks do not need
        // (they measure no ARC counters).
        .package(url: "https://github.com/ordo-one/package-benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(name: "Steward", path: ".."),
        // The peer in PeerBenchmarks, over OTLP/HTTP only (the default traits would add gRPC).
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "CryptoBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
            ],
            path: "Benchmarks/CryptoBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "VaultBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
            ],
            path: "Benchmarks/VaultBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "UploadBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
            ],
            path: "Benchmarks/UploadBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "ConsentBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
            ],
            path: "Benchmarks/ConsentBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "DeviceBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
                .product(name: "StewardDevice", package: "Steward"),
            ],
            path: "Benchmarks/DeviceBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "CrashBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
                .product(name: "StewardCrash", package: "Steward"),
            ],
            path: "Benchmarks/CrashBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "PermissionBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
                .product(name: "StewardPermissions", package: "Steward"),
            ],
            path: "Benchmarks/PermissionBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "TelemetryBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
                .product(name: "StewardTelemetry", package: "Steward"),
            ],
            path: "Benchmarks/TelemetryBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "BridgeBenchmarks",
            dependencies: [
                "BridgeShared",
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Steward", package: "Steward"),
                .product(name: "StewardCore", package: "Steward"),
                .product(name: "StewardTelemetry", package: "Steward"),
                .product(name: "StewardLogging", package: "Steward"),
                .product(name: "StewardMetrics", package: "Steward"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            path: "Benchmarks/BridgeBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        // What BridgeBenchmarks and BridgeProfile share.
        .target(
            name: "BridgeShared",
            dependencies: [
                .product(name: "Steward", package: "Steward"),
                .product(name: "StewardCore", package: "Steward"),
                .product(name: "StewardTelemetry", package: "Steward"),
            ],
            path: "Shared/BridgeShared"
        ),
        // Not a benchmark: a driver of the swift-log bridge for callgrind and perf (see its file).
        .executableTarget(
            name: "BridgeProfile",
            dependencies: [
                "BridgeShared",
                .product(name: "Steward", package: "Steward"),
                .product(name: "StewardLogging", package: "Steward"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/BridgeProfile"
        ),
        .executableTarget(
            name: "PeerBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardCore", package: "Steward"),
                .product(name: "StewardTelemetry", package: "Steward"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/PeerBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "MediaBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "StewardMedia", package: "Steward"),
            ],
            path: "Benchmarks/MediaBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "StartBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Steward", package: "Steward"),
            ],
            path: "Benchmarks/StartBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
        .executableTarget(
            name: "FreshProcessBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "package-benchmark"),
                .product(name: "Steward", package: "Steward"),
                .product(name: "StewardTesting", package: "Steward"),
            ],
            path: "Benchmarks/FreshProcessBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "package-benchmark")]
        ),
    ]
)
