// swift-tools-version:6.1
import PackageDescription

// A small HTTP server (Hummingbird 2) running Steward beside it: swift-log lines become
// breadcrumbs, handled-error reports and OTLP log records, swift-metrics instruments declared
// OTLP metrics, the request's span ids reach Steward's records, and Steward shuts down with the
// server in one ServiceGroup. Its own package, so the root package never depends on Hummingbird
// and NIO; `make examples` (in the repository's root) builds and tests it.

let package = Package(
    name: "steward-server",
    dependencies: [
        // Named: a path dependency's identity would otherwise be the checkout folder's name.
        .package(name: "Steward", path: "../.."),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // The tracer (swift-otel's, W3C Trace Context; its spans are not exported). Its OTLP/HTTP
        // trait only, so gRPC is not built; with no trait at all, swift-otel 1.6.0 does not compile.
        .package(url: "https://github.com/swift-otel/swift-otel", from: "1.6.0", traits: ["OTLPHTTP"]),
    ],
    targets: [
        .executableTarget(
            name: "steward-server",
            dependencies: [
                .product(name: "Steward", package: "Steward"),
                .product(name: "StewardLogging", package: "Steward"),
                .product(name: "StewardMetrics", package: "Steward"),
                .product(name: "StewardTracing", package: "Steward"),
                .product(name: "StewardServiceLifecycle", package: "Steward"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            // The example's manifest, compiled in: the binary runs from anywhere.
            resources: [.embedInCode("server-manifest.json")]
        ),
        .testTarget(
            name: "StewardServerTests",
            // The tests run the built server; depending on it makes sure it is built. The
            // loopback collector they start is a Hummingbird application too.
            dependencies: [
                "steward-server",
                // PrivateSecretService: a keyring of the test's own on a private session bus.
                .product(name: "StewardTesting", package: "Steward"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// The root package's shared settings, for the same explicitness here.
for target in package.targets {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ])
    target.swiftSettings = settings
}
