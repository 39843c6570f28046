public import StewardCore
import Synchronization

/// Consent answers set by a test: a `ConsentChecking` whose state per purpose the test
/// chooses and changes at will, from any task.
///
/// ```swift
/// let consent = FixedConsent([.crashReporting: .granted, .analytics: .pending])
/// consent.set(.granted, for: .analytics)
/// consent.consentState(for: .advertising)   // .denied (the default for purposes not listed)
/// ```
public final class FixedConsent: ConsentChecking {
    private let states: Mutex<[Purpose: ConsentState]>
    private let otherwise: ConsentState

    /// Creates the answers.
    ///
    /// - Parameters:
    ///   - states: The state of each listed purpose.
    ///   - otherwise: The state of every purpose not listed (default `.denied`, as the
    ///     `ConsentChecking` contract prescribes for undeclared purposes).
    public init(_ states: [Purpose: ConsentState] = [:], otherwise: ConsentState = .denied) {
        self.states = Mutex(states)
        self.otherwise = otherwise
    }

    /// The state set for `purpose`, or the default.
    public func consentState(for purpose: Purpose) -> ConsentState {
        states.withLock { $0[purpose] } ?? otherwise
    }

    /// Sets the state of `purpose`.
    public func set(_ state: ConsentState, for purpose: Purpose) {
        states.withLock { $0[purpose] = state }
    }
}
