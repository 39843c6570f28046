// The permission check on the hot path: `PermissionGate.status(of:)` for a decided permission
// reads memory only (a lock-protected table, no disk, no actor hop). Target (issue 5): under
// 100 ns. Each iteration is 1,000 checks (`scalingFactor: .kilo`), so the time rows read as
// microseconds per 1,000 checks, i.e. nanoseconds per check.
// See Documentation/Performance.md.

import Benchmark
import Foundation
import StewardCore
import StewardPermissions

private let manifest = PrivacyManifest(
    policyVersion: "bench",
    purposes: [
        .init(id: .serviceProvision, description: "Service", legalBasis: .necessaryForService),
        .init(id: .pushNotifications, description: "Push", legalBasis: .consent),
    ],
    dataCategories: [],
    permissions: [
        .init(permission: .deviceIdentity, rationale: "Sign-in", purposes: [.serviceProvision]),
        .init(permission: .camera, rationale: "Scan", purposes: [.serviceProvision]),
        .init(permission: .location, rationale: "Map", purposes: [.serviceProvision]),
        .init(permission: .microphone, rationale: "Notes", purposes: [.serviceProvision]),
        .init(permission: .notifications, rationale: "Alerts", purposes: [.pushNotifications]),
    ])

/// Every permission is available to the benchmark: the OS is not what is measured.
private struct Available: PermissionProbing {
    func check(_ permission: Permission) -> SystemAccess { .available(detail: "benchmark") }
}

private struct Answers: PermissionPrompter {
    func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer {
        prompt.permission == .camera ? .deny : .allow
    }
}

/// A gate with decided permissions over a vault in a private temporary directory.
private final class PermissionFixture: @unchecked Sendable {
    // @unchecked Sendable: built once in setup; package-benchmark runs benchmarks one at a time.
    let directory: String
    let gate: PermissionGate
    let consent: ConsentLedger
    /// A gate whose user is a child with a guardian's consent to push notifications.
    let minorGate: PermissionGate
    let minorDirectory: String

    init() async throws {
        directory = NSTemporaryDirectory() + "/steward-permission-bench-\(UUID().uuidString)"
        let vault = try Vault.open(dataDirectory: directory)
        consent = try ConsentLedger(manifest: manifest, vault: vault)
        gate = try PermissionGate(
            manifest: manifest, vault: vault, prompter: Answers(), probe: Available(), consent: consent)
        try await gate.request(.deviceIdentity)
        try await gate.request(.camera)
        try await gate.request(.notifications)

        minorDirectory = directory + "-minor"
        let minorVault = try Vault.open(dataDirectory: minorDirectory)
        let minorConsent = try ConsentLedger(manifest: manifest, vault: minorVault)
        try minorConsent.setAgeSignal(.below)
        try minorConsent.grant([.pushNotifications], by: .guardian)
        minorGate = try PermissionGate(
            manifest: manifest, vault: minorVault, prompter: Answers(), probe: Available(), consent: minorConsent)
        try await minorGate.request(.notifications)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
        try? FileManager.default.removeItem(atPath: minorDirectory)
    }
}

private nonisolated(unsafe) var fixture: PermissionFixture?

let benchmarks: @Sendable () -> Void = {
    let configuration = Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        scalingFactor: .kilo,
        maxDuration: .seconds(3),
        setup: { fixture = try await PermissionFixture() },
        teardown: { fixture = nil })

    Benchmark("Permission status, granted", configuration: configuration) { benchmark in
        guard let gate = fixture?.gate else { return }
        for _ in benchmark.scaledIterations { blackHole(gate.status(of: .deviceIdentity)) }
    }

    Benchmark("Permission status, denied", configuration: configuration) { benchmark in
        guard let gate = fixture?.gate else { return }
        for _ in benchmark.scaledIterations { blackHole(gate.status(of: .camera)) }
    }

    Benchmark("Permission status, age-gated permission (granted)", configuration: configuration) { benchmark in
        guard let gate = fixture?.gate else { return }
        for _ in benchmark.scaledIterations { blackHole(gate.status(of: .notifications)) }
    }

    Benchmark("Permission status, minor, age gate lifted by a guardian", configuration: configuration) { benchmark in
        guard let gate = fixture?.minorGate else { return }
        for _ in benchmark.scaledIterations { blackHole(gate.status(of: .notifications)) }
    }

    Benchmark("Permission isGranted (PermissionChecking), granted", configuration: configuration) { benchmark in
        guard let gate = fixture?.gate else { return }
        for _ in benchmark.scaledIterations { blackHole(gate.isGranted(.deviceIdentity)) }
    }
}
