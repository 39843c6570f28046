import Foundation
import StewardCore
import StewardPermissions
import StewardTesting
import Testing

/// Purposes and permissions as the example app declares them.
func permissionTestManifest() -> PrivacyManifest {
    PrivacyManifest(
        policyVersion: "2026-11",
        purposes: [
            .init(id: .serviceProvision, description: "Run the app", legalBasis: .necessaryForService),
            .init(
                id: .deviceAuthentication, description: "Check your device at sign-in", legalBasis: .necessaryForService
            ),
            .init(id: .personalization, description: "Tailor the app", legalBasis: .consent),
            .init(id: .pushNotifications, description: "Send you notifications", legalBasis: .consent),
        ],
        dataCategories: [
            .init(
                id: .deviceModel, description: "Model", purposes: [.serviceProvision], sensitivity: .low,
                leavesDevice: false)
        ],
        permissions: [
            .init(
                permission: .deviceIdentity, rationale: "Proves at sign-in that this is your device.",
                purposes: [.deviceAuthentication]),
            .init(
                permission: .camera, rationale: "Lets you scan the code on an instrument.",
                purposes: [.serviceProvision]),
            .init(
                permission: .photos, rationale: "Lets you pick an avatar.",
                purposes: [.serviceProvision, .personalization]),
            .init(permission: .location, rationale: "Shows nearby sites.", purposes: [.serviceProvision]),
            .init(
                permission: .locationPrecise, rationale: "Records where a measurement was taken.",
                purposes: [.serviceProvision]),
            .init(permission: .microphone, rationale: "Lets you attach a voice note.", purposes: [.serviceProvision]),
            .init(
                permission: .notifications, rationale: "Tells you about your instruments.",
                purposes: [.pushNotifications]),
        ])
}

/// A vault in a scratch folder, its gate, and the doubles behind it; reopening acts as a
/// restart of the app (a new process session).
final class GateFixture: @unchecked Sendable {
    // Used from one test at a time; fields set once but `vault` changes on reopen.
    let dir = NSTemporaryDirectory() + "steward-permissions-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()
    let clock = ManualWallClock()
    let prompter = ScriptedPrompter()
    let probe = ManualPermissionProbe()
    let manifest: PrivacyManifest
    private(set) var vault: Vault
    private(set) var gate: PermissionGate
    private(set) var session = "session-1"
    var consent: ConsentLedger?

    init(manifest: PrivacyManifest = permissionTestManifest(), withConsent: Bool = false) throws {
        self.manifest = manifest
        vault = try Vault.open(directory: dir, keyProvider: keys, clock: clock)
        if withConsent { consent = try ConsentLedger(manifest: manifest, vault: vault, clock: clock) }
        gate = try PermissionGate(
            manifest: manifest, vault: vault, prompter: prompter, probe: probe, consent: consent, clock: clock,
            session: session)
    }

    /// Closes the vault and opens everything again as a new process would.
    func restart() throws {
        try vault.close()
        session = "session-\(UUID().uuidString)"
        vault = try Vault.open(directory: dir, keyProvider: keys, clock: clock)
        if consent != nil { consent = try ConsentLedger(manifest: manifest, vault: vault, clock: clock) }
        gate = try PermissionGate(
            manifest: manifest, vault: vault, prompter: prompter, probe: probe, consent: consent, clock: clock,
            session: session)
    }

    deinit {
        try? vault.close()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

/// One step of a permission's history.
enum Step: CustomStringConvertible, Sendable {
    case answer(PermissionAnswer)
    case revoke
    case reset
    case restart

    var description: String {
        switch self {
        case .answer(let a): a.rawValue
        case .revoke: "revoke"
        case .reset: "reset"
        case .restart: "restart"
        }
    }
}

@Suite struct PermissionStateMachineTests {
    /// (history, then answer) → status, and whether the app should show its rationale.
    static let table: [([Step], PermissionStatus, Bool)] = [
        ([], .notDetermined, false),
        ([.answer(.allow)], .granted, false),
        ([.answer(.allow), .restart], .granted, false),
        ([.answer(.allowOnce)], .granted, false),
        ([.answer(.allowOnce), .restart], .notDetermined, false),
        ([.answer(.allowOnce), .restart, .answer(.deny)], .denied, true),
        ([.answer(.deny)], .denied, true),
        ([.answer(.deny), .answer(.deny)], .permanentlyDenied, false),
        ([.answer(.deny), .restart, .answer(.deny)], .permanentlyDenied, false),
        ([.answer(.denyAlways)], .permanentlyDenied, false),
        ([.answer(.denyAlways), .restart], .permanentlyDenied, false),
        ([.answer(.deny), .answer(.allow)], .granted, false),
        ([.answer(.deny), .answer(.allow), .revoke], .denied, true),
        ([.answer(.deny), .answer(.allow), .revoke, .answer(.deny)], .permanentlyDenied, false),
        ([.answer(.deny), .answer(.allowOnce), .restart, .answer(.deny)], .denied, true),
        ([.answer(.allow), .revoke], .denied, true),
        ([.answer(.allow), .revoke, .answer(.deny)], .permanentlyDenied, false),
        ([.answer(.allow), .revoke, .restart], .denied, true),
        ([.answer(.allowOnce), .revoke], .denied, true),
        ([.revoke], .denied, true),
        ([.answer(.denyAlways), .revoke], .permanentlyDenied, false),
        ([.answer(.deny), .answer(.deny), .reset], .notDetermined, false),
        ([.answer(.denyAlways), .reset, .answer(.allow)], .granted, false),
        ([.answer(.denyAlways), .reset, .restart], .notDetermined, false),
    ]

    @Test("history → status through the gate, the vault and restarts", arguments: table)
    func statusAfterHistory(steps: [Step], expected: PermissionStatus, rationale: Bool) async throws {
        let f = try GateFixture()
        for step in steps {
            switch step {
            case .answer(let answer):
                f.prompter.enqueue(answer)
                try await f.gate.request(.camera)
            case .revoke: try f.gate.revoke(.camera)
            case .reset: try f.gate.reset(.camera)
            case .restart: try f.restart()
            }
        }
        #expect(f.gate.status(of: .camera) == expected, "after \(steps)")
        #expect(f.gate.shouldShowRationale(for: .camera) == rationale)
        #expect(f.prompter.remainingAnswers.isEmpty, "every scripted answer was asked for")
        #expect(f.gate.isGranted(.camera) == (expected == .granted))
    }

    @Test("the history replays the same without a gate", arguments: table)
    func historyReplay(steps: [Step], expected: PermissionStatus, rationale: Bool) {
        var decisions: [PermissionDecision] = []
        var session = "process-1"
        var history = PermissionHistory()
        for (index, step) in steps.enumerated() {
            let kind: PermissionDecision.Kind
            switch step {
            case .answer(let answer): kind = .init(answer)
            case .revoke: kind = .revoke
            case .reset: kind = .reset
            case .restart:
                // A new process replays every decision so far.
                session = "process-\(index + 2)"
                history = PermissionHistory(replaying: decisions, session: session)
                continue
            }
            let decision = PermissionDecision(
                permission: .camera, kind: kind, date: Date(), session: session, policyVersion: "1")
            decisions.append(decision)
            history.apply(decision, session: session)
        }
        #expect(history.status == expected)
        #expect((history.status == .denied) == rationale)
    }

    @Test func aGateRefusesAManifestThatIsNotTheLedgersAndDoesNotValidate() throws {
        let f = try GateFixture(withConsent: true)
        var manifest = permissionTestManifest()
        manifest.permissions[0].purposes = ["neverDeclared"]
        let error = try #require(throws: ManifestError.self) {
            try PermissionGate(
                manifest: manifest, vault: f.vault, prompter: f.prompter, probe: f.probe, consent: f.consent,
                clock: f.clock)
        }
        #expect(error.problems.contains { $0.message.contains("neverDeclared") }, "\(error)")
    }

    @Test func aPermanentlyDeniedPermissionIsNotAskedForAgain() async throws {
        let f = try GateFixture()
        f.prompter.enqueue(.deny, .deny)
        try await f.gate.request(.microphone)
        try await f.gate.request(.microphone)
        #expect(f.gate.status(of: .microphone) == .permanentlyDenied)
        let asked = f.prompter.prompts.count
        #expect(try await f.gate.request(.microphone) == .permanentlyDenied)
        #expect(f.prompter.prompts.count == asked, "no prompt once denied for good")
    }

    @Test func aGrantedPermissionIsNotAskedForAgain() async throws {
        let f = try GateFixture()
        f.prompter.enqueue(.allow)
        #expect(try await f.gate.request(.camera) == .granted)
        #expect(try await f.gate.request(.camera) == .granted)
        #expect(f.prompter.prompts.count == 1)
    }
}
