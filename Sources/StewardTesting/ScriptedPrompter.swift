public import StewardCore
public import StewardPermissions
import Synchronization

/// A `PermissionPrompter` that gives the answers a test scripted, in order, and remembers
/// every prompt it was shown.
///
/// ```swift
/// let prompter = ScriptedPrompter([.deny, .allow])
/// let gate = try PermissionGate(manifest: manifest, vault: vault, prompter: prompter,
///                               probe: ManualPermissionProbe())
/// try await gate.request(.camera)          // .denied
/// try await gate.request(.camera)          // .granted
/// prompter.prompts.last?.showRationale     // true: asked again after a denial
/// ```
public final class ScriptedPrompter: PermissionPrompter {
    private struct State {
        var answers: [PermissionAnswer]
        var prompts: [PermissionPrompt] = []
    }
    private let state: Mutex<State>

    /// A prompter that answers `answers` in order; once they run out, prompts throw
    /// `PermissionError` with code `noAnswer`.
    public init(_ answers: [PermissionAnswer] = []) {
        state = Mutex(State(answers: answers))
    }

    /// Adds answers to the end of the script.
    public func enqueue(_ answers: PermissionAnswer...) {
        state.withLock { $0.answers.append(contentsOf: answers) }
    }

    /// Every prompt shown so far, oldest first.
    public var prompts: [PermissionPrompt] { state.withLock { $0.prompts } }

    /// Answers not given yet.
    public var remainingAnswers: [PermissionAnswer] { state.withLock { $0.answers } }

    /// Records `prompt` and gives the next scripted answer.
    public func prompt(_ prompt: PermissionPrompt) async throws -> PermissionAnswer {
        let answer: PermissionAnswer? = state.withLock { s in
            s.prompts.append(prompt)
            return s.answers.isEmpty ? nil : s.answers.removeFirst()
        }
        guard let answer else {
            // Borrow the real prompter's error for "no answer": the script ran out.
            return try await FixedAnswerPrompter(answers: [:]).prompt(prompt)
        }
        return answer
    }
}

/// A `PermissionProbing` whose operating-system answers a test sets: every permission is
/// available until told otherwise.
///
/// ```swift
/// let probe = ManualPermissionProbe()
/// probe.set(.unavailable(reason: "no camera"), for: .camera)
/// gate.refresh()                           // observers hear that camera is now restricted
/// ```
public final class ManualPermissionProbe: PermissionProbing {
    private let accesses: Mutex<[Permission: SystemAccess]>
    private let checks = Atomic<Int>(0)

    /// A probe answering `accesses`, and available for the rest.
    public init(_ accesses: [Permission: SystemAccess] = [:]) {
        self.accesses = Mutex(accesses)
    }

    /// Sets the answer for `permission`.
    public func set(_ access: SystemAccess, for permission: Permission) {
        accesses.withLock { $0[permission] = access }
    }

    /// How many checks were made.
    public var checkCount: Int { checks.load(ordering: .relaxed) }

    /// The answer set for `permission`, else available.
    public func check(_ permission: Permission) -> SystemAccess {
        checks.add(1, ordering: .relaxed)
        return accesses.withLock { $0[permission] } ?? .available(detail: "available (ManualPermissionProbe)")
    }
}
