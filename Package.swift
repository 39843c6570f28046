// swift-tools-version:6.1
import PackageDescription

// Steward is a Linux library: it reads libudev, /proc and /sys, installs POSIX signal handlers
// and links the system's OpenSSL and libcurl. It builds against glibc; every system import also
// takes the Musl branch (`#if canImport(Glibc) … #elseif canImport(Musl)`), so a static Linux
// SDK build is one step away. Other platforms are refused at compile time (StewardCore's
// Platform.swift). No `platforms:` entry: SwiftPM's platform list names Apple platforms only.

let package = Package(
    name: "Steward",
    products: [
        .library(name: "StewardCore", targets: ["StewardCore"]),
        .library(name: "StewardDevice", targets: ["StewardDevice"]),
        .library(name: "StewardPermissions", targets: ["StewardPermissions"]),
        .library(name: "StewardCrash", targets: ["StewardCrash"]),
        .library(name: "StewardHTTP", targets: ["StewardHTTP"]),
        .library(name: "StewardTelemetry", targets: ["StewardTelemetry"]),
        .library(name: "StewardMedia", targets: ["StewardMedia"]),
        .library(name: "StewardTesting", targets: ["StewardTesting"]),
        .library(name: "Steward", targets: ["Steward"]),
        .library(name: "StewardServiceLifecycle", targets: ["StewardServiceLifecycle"]),
        .library(name: "StewardLogging", targets: ["StewardLogging"]),
        .library(name: "StewardTracing", targets: ["StewardTracing"]),
        .library(name: "StewardMetrics", targets: ["StewardMetrics"]),
        .executable(name: "steward", targets: ["steward"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        // MARK: C libraries (each imported by exactly one Swift module)
        .systemLibrary(
            name: "CStewardOpenSSL",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CStewardUdev",
            pkgConfig: "libudev",
            providers: [.apt(["libudev-dev"])]
        ),

        .systemLibrary(
            name: "CStewardCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .systemLibrary(
            name: "CStewardZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // Linux interfaces Swift cannot call directly (the ethtool ioctl, the CRC-32C
        // instruction): header only, nothing to link.
        .systemLibrary(name: "CStewardLinux"),
        // The Secret Service through libsecret, loaded with dlopen at first use (never linked:
        // hosts without glib or libsecret run Steward all the same). No glib headers needed.
        .target(
            name: "CStewardSecret",
            linkerSettings: [.linkedLibrary("dl")]
        ),
        // Source lines through elfutils' libdw, loaded with dlopen at first use (never linked:
        // hosts without libdw symbolicate to function names as before). No elfutils headers.
        .target(
            name: "CStewardDwarf",
            linkerSettings: [.linkedLibrary("dl")]
        ),
        // Signal-time code only: the crash handler, its alternate stacks and the breadcrumb ring.
        .target(
            name: "CStewardCrash",
            linkerSettings: [.linkedLibrary("gcc_s")]
        ),

        // MARK: Swift modules
        .target(
            name: "StewardCore",
            dependencies: ["CStewardOpenSSL", "CStewardLinux", "CStewardSecret"]
        ),
        .target(
            name: "StewardDevice",
            dependencies: ["StewardCore", "CStewardUdev"]
        ),
        .target(
            name: "StewardPermissions",
            dependencies: ["StewardCore"]
        ),
        .target(
            name: "StewardCrash",
            dependencies: ["StewardCore", "CStewardCrash", "CStewardDwarf"]
        ),
        .target(
            name: "StewardHTTP",
            dependencies: ["StewardCore", "CStewardCurl", "CStewardZlib"]
        ),
        .target(
            name: "StewardTelemetry",
            dependencies: ["StewardCore"]
        ),
        // Images in the vault: JPEG/PNG metadata control in pure Swift, retention, delete and export.
        .target(
            name: "StewardMedia",
            dependencies: ["StewardCore"]
        ),
        // The facade: one entry point, data rights and the generated disclosure.
        .target(
            name: "Steward",
            dependencies: [
                "StewardCore", "StewardDevice", "StewardPermissions", "StewardCrash",
                "StewardTelemetry", "StewardHTTP", "StewardMedia",
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Steward as a swift-service-lifecycle Service: its own product, so the facade does not
        // depend on ServiceLifecycle.
        .target(
            name: "StewardServiceLifecycle",
            dependencies: ["Steward", .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
        // swift-log lines into breadcrumbs, handled errors and log records: its own product.
        .target(
            name: "StewardLogging",
            dependencies: [
                "Steward", "StewardCore", "StewardCrash", "StewardTelemetry",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // swift-metrics counters, meters, recorders and timers onto declared metrics: its own product.
        .target(
            name: "StewardMetrics",
            dependencies: [
                "Steward", "StewardCore", "StewardTelemetry",
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The current span's ids (swift-distributed-tracing) on events, reports and breadcrumbs.
        .target(
            name: "StewardTracing",
            dependencies: [
                "StewardCore",
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        .target(
            name: "StewardTesting",
            dependencies: ["StewardCore", "StewardDevice", "StewardPermissions"]
        ),

        // MARK: Example CLI
        .executableTarget(
            name: "steward",
            dependencies: [
                "StewardCore",
                "StewardDevice",
                "StewardPermissions",
                "StewardCrash",
                "StewardTelemetry",
                "StewardHTTP",
                "StewardMedia",
                "Steward",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Examples/steward",
            // The bundled example manifest, compiled in: `steward` needs no files beside it.
            resources: [.embedInCode("example-manifest.json")]
        ),

        // A host app embedding Steward with its own Transport and PermissionPrompter.
        .executableTarget(
            name: "steward-embedding-example",
            dependencies: ["Steward"],
            path: "Examples/embedding"
        ),

        // MARK: Tests
        .testTarget(
            name: "StewardCoreTests",
            dependencies: ["StewardCore", "StewardTesting"]
        ),
        .testTarget(
            name: "StewardDeviceTests",
            dependencies: ["StewardDevice", "StewardCore", "StewardTesting"]
        ),
        .testTarget(
            name: "StewardPermissionsTests",
            // The device module appears only to test the wiring of its raw identifiers to the gate.
            dependencies: ["StewardPermissions", "StewardCore", "StewardDevice", "StewardTesting"]
        ),
        // Test support: malloc and friends, counted while the crash handler runs, so the tests
        // can verify that the handler allocates nothing; and a foreign global executor hook.
        // Linked into the test binary only.
        .target(
            name: "CStewardMallocProbe",
            path: "Tests/Support/CStewardMallocProbe"
        ),
        .testTarget(
            name: "StewardCrashTests",
            dependencies: ["StewardCrash", "StewardCore", "StewardTesting", "CStewardMallocProbe"]
        ),
        .testTarget(
            name: "StewardHTTPTests",
            // The telemetry module appears for the end-to-end tests: events to OTLP over HTTP.
            dependencies: ["StewardHTTP", "StewardCore", "StewardTesting", "StewardTelemetry"]
        ),
        .testTarget(
            name: "StewardTelemetryTests",
            dependencies: ["StewardTelemetry", "StewardCore", "StewardTesting"]
        ),
        .testTarget(
            name: "StewardTests",
            // The example CLI appears to crash a real child process on a data folder.
            dependencies: [
                "Steward", "StewardCore", "StewardTesting", "steward", "StewardServiceLifecycle", "StewardLogging",
                "StewardTracing", .product(name: "Tracing", package: "swift-distributed-tracing"),
                "StewardMetrics", .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ZIPFoundation", package: "ZIPFoundation"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "StewardMediaTests",
            dependencies: ["StewardMedia", "StewardCore", "StewardTesting"]
        ),
        // Every fuzz corpus file and fail case through the fuzz targets' entry points, without
        // libFuzzer. The targets live in the fuzz package (Fuzz/), which builds them into
        // libFuzzer executables; this target compiles the same files for `make test`.
        .testTarget(
            name: "FuzzReplayTests",
            dependencies: [
                "StewardCore", "StewardDevice", "StewardPermissions", "StewardCrash",
                "StewardTelemetry", "StewardHTTP", "StewardMedia", "StewardTesting",
            ],
            path: "Fuzz/Targets"
        ),
        .testTarget(
            name: "DocSnippetTests",
            // Every ```swift block of README.md and Documentation/, extracted by
            // scripts/snippets.sh (make test) into Generated/ and compiled as an app would, with
            // the language mode's defaults. Warnings are off: a fragment binds values it does
            // not go on to use (`let report = await steward.send()`); errors still fail.
            dependencies: [
                "Steward", "StewardCore", "StewardDevice", "StewardPermissions", "StewardCrash", "StewardHTTP",
                "StewardTelemetry", "StewardMedia", "StewardTesting", "StewardServiceLifecycle",
                "StewardLogging", "StewardMetrics", "StewardTracing",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            swiftSettings: [.unsafeFlags(["-suppress-warnings"])]
        ),
        .testTarget(
            name: "StewardExampleTests",
            // The tests run the built `steward` binary; depending on it makes sure it is built.
            dependencies: ["StewardCore", "StewardTesting", "steward", "steward-embedding-example"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: - Shared settings
// One block of settings for every target, as swift-log does: upcoming features that keep the
// code explicit, and strict memory-safety diagnostics left to the language mode (Swift 6).
// The documentation's snippets compile as a host app would: without them.
for target in package.targets where target.type != .system && target.name != "DocSnippetTests" {
    var settings = target.swiftSettings ?? []
    settings.append(contentsOf: [
        .enableUpcomingFeature("ExistentialAny"),
        .enableUpcomingFeature("MemberImportVisibility"),
        .enableUpcomingFeature("InternalImportsByDefault"),
    ])
    target.swiftSettings = settings
}
