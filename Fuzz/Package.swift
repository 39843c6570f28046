// swift-tools-version:6.1
// Steward's fuzz targets: one libFuzzer executable per decoder of outside bytes.
//
// Build and run them with `make fuzz` (or ./fuzz.sh) from the repository root; the same targets
// replay every corpus file and fail case in `make test` (the FuzzReplayTests target of the root
// package compiles Targets/ and Replay/ without libFuzzer). See Documentation/Fuzzing.md.
import PackageDescription

/// Every fuzz target: a `FuzzTarget` type of that name in Targets/, Corpus/NAME/, FailCases/NAME/
/// and Dictionaries/NAME.dict.
let targets = [
    "FuzzImage",
    "FuzzEXIF",
    "FuzzManifest",
    "FuzzVaultSegment",
    "FuzzVaultMeta",
    "FuzzVaultRoundTrip",
    "FuzzConsentReceipts",
    "FuzzCrashRecord",
    "FuzzELF",
    "FuzzDWARF",
    "FuzzMemoryMaps",
    "FuzzMemoryCgroup",
    "FuzzRuntimeBacktrace",
    "FuzzSentry",
    "FuzzOTLPResponse",
    "FuzzOTelEnvironment",
    "FuzzBatchCoding",
    "FuzzRetryAfter",
    "FuzzOutboxRecord",
    "FuzzOutboxFolder",
    "FuzzIdentifierFilter",
    "FuzzKeyFile",
    "FuzzHTTPRequest",
    "FuzzHTTPResponse",
    "FuzzStoredRecords",
    "FuzzSystemFiles",
    "FuzzTraceparent",
]

let package = Package(
    name: "StewardFuzz",
    dependencies: [
        .package(name: "Steward", path: "..")
    ],
    targets: [
        // libFuzzer's driver, declared for Swift (linked in by -sanitize=fuzzer).
        .target(name: "CFuzzDriver", path: "CFuzzDriver"),
        // The targets' entry points, shared with the replay tests of the root package.
        .target(
            name: "FuzzTargets",
            dependencies: [
                .product(name: "StewardCore", package: "Steward"),
                .product(name: "StewardDevice", package: "Steward"),
                .product(name: "StewardPermissions", package: "Steward"),
                .product(name: "StewardCrash", package: "Steward"),
                .product(name: "StewardTelemetry", package: "Steward"),
                .product(name: "StewardHTTP", package: "Steward"),
                .product(name: "StewardMedia", package: "Steward"),
                .product(name: "StewardTesting", package: "Steward"),
            ],
            path: "Targets",
            exclude: ["Replay"]  // the replay tests, compiled by the root package only
        ),
        .target(name: "FuzzDriver", dependencies: ["CFuzzDriver", "FuzzTargets"], path: "Driver"),
        // Writes the seeds that come from running Steward itself into Corpus/.
        .executableTarget(name: "MakeSeeds", dependencies: ["FuzzTargets"], path: "Seeds"),
    ]
        + targets.map { name in
            .executableTarget(name: name, dependencies: ["FuzzDriver", "FuzzTargets"], path: "Executables/\(name)")
        },
    swiftLanguageModes: [.v6]
)
