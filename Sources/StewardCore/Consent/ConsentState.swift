/// The user's answer for one purpose.
public enum ConsentState: String, Codable, Hashable, Sendable, CaseIterable {
    /// Not asked yet, or asked again after a new policy version.
    case pending
    /// Agreed (or the purpose does not need consent).
    case granted
    /// Refused or withdrawn.
    case denied
}

/// Answers whether data may be processed for a purpose right now.
///
/// ``ConsentLedger`` is the real one; tests may supply their own. Implementations must be
/// cheap and safe to call from any thread: senders call them for every payload.
public protocol ConsentChecking: Sendable {
    /// The current state of `purpose`. A purpose the manifest does not declare is `.denied`.
    func consentState(for purpose: Purpose) -> ConsentState
}

extension Purpose {
    /// Steward's own record keeping (consent receipts, the audit ledger), on the legal
    /// obligation to demonstrate consent and account for disclosures. Always on; never sent.
    public static let privacyCompliance: Purpose = "privacyCompliance"
}

extension DataCategory {
    /// Consent receipts and the audit ledger.
    public static let consentRecords: DataCategory = "consentRecords"
}
