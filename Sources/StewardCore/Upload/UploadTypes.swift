import struct Foundation.Date

/// How hard an ``Uploader`` tries before it gives a payload up.
///
/// A payload is dropped (and counted in the audit ledger as
/// ``DropReason/deliveryExpired``) once it is older than ``maxAge`` or once ``maxAttempts``
/// sends of it were answered with `.retry`, whichever comes first; never earlier. Between
/// attempts the uploader waits what the recipient asked for (`Retry-After`), else a
/// ``Backoff`` built from ``initialBackoff`` and ``maxBackoff``.
///
/// ```swift
/// var policy = UploadPolicy()
/// policy.maxAge = .seconds(3 * 86_400)   // crash reports older than three days are not worth sending
/// ```
public struct UploadPolicy: Hashable, Sendable {
    /// The ceiling of the first backoff wait. Default 1 s.
    public var initialBackoff: Duration
    /// The cap on every backoff wait. Default 5 minutes.
    public var maxBackoff: Duration
    /// Sends answered with `.retry` after which a payload is dropped. Counted per process run:
    /// a restart starts again at zero (``maxAge`` still holds across restarts). Default 50;
    /// `Int.max` for no limit.
    public var maxAttempts: Int
    /// Age (from ``Payload/created``) after which an unsent payload is dropped, including one
    /// held for pending consent. Default 7 days. Any value is safe: up to
    /// `Duration(attoseconds: .max)` a payload simply never gets that old; zero or a negative
    /// age drops every payload (except Steward's own deletion requests) as expired.
    public var maxAge: Duration
    /// The most payload bytes sent to the recipient in any hour (a metered link, a fleet's
    /// shared uplink); nil (the default) for no limit. Past it, the uploader waits until
    /// enough of the last hour's sends age out; waiting counts as no attempt. A payload larger
    /// than the whole budget goes alone, once nothing was sent in the hour, so nothing is held
    /// for ever. Steward's own deletion requests are not held back by it. Zero or negative
    /// counts as 1 byte.
    public var maxBytesPerHour: Int?

    /// Creates a policy.
    public init(
        initialBackoff: Duration = .seconds(1), maxBackoff: Duration = .seconds(300), maxAttempts: Int = 50,
        maxAge: Duration = .seconds(7 * 86_400)
    ) {
        self.initialBackoff = initialBackoff
        self.maxBackoff = maxBackoff
        self.maxAttempts = maxAttempts
        self.maxAge = maxAge
        self.maxBytesPerHour = nil
    }

    /// The backoff schedule: ``initialBackoff`` doubling per attempt up to ``maxBackoff``.
    public var backoff: Backoff { Backoff(initial: initialBackoff, maximum: maxBackoff) }
}

/// What ``Uploader/submit(_:)`` did with a payload.
public enum Submission: Hashable, Sendable {
    /// Stored in the vault and queued; its purpose is granted.
    case queued
    /// Stored in the vault and queued, but held until its purpose is granted (pending consent).
    case heldForConsent
    /// Not stored and never sent, for `reason` (``DropReason/consent`` for a denied purpose,
    /// ``DropReason/undeclared`` for something the manifest does not declare); counted in the
    /// audit ledger.
    case dropped(DropReason)
}

/// What one ``Uploader/drain()`` did.
public struct UploadReport: Hashable, Sendable {
    /// Payloads the recipient accepted (and that were then deleted).
    public var accepted: Int = 0
    /// Payloads dropped, by reason (consent, rejected, deliveryExpired, undeclared).
    public var dropped: [DropReason: Int] = [:]
    /// Calls to the transport.
    public var sends: Int = 0
    /// Answers of `.retry`.
    public var retries: Int = 0
    /// Payloads still queued at the end because their purpose is pending.
    public var held: Int = 0
    /// Payloads of granted purposes still queued at the end because the uploader has no
    /// transport (no destination is configured): they stay in the vault, encrypted, until an
    /// uploader with a transport sends them, their purpose is denied or they expire.
    public var awaitingDestination: Int = 0
    /// Payloads of granted purposes still queued at the end because the recipient cannot be
    /// reached now (no network, or the link it is reached by is down; see ``NetworkNeed``):
    /// they go out when the kernel reports the network back.
    public var awaitingNetwork: Int = 0
    /// Payloads of granted purposes still queued at the end because the hourly byte budget
    /// (``UploadPolicy/maxBytesPerHour``) is spent: they go when enough of the hour's sends age
    /// out. A drain does not wait for that.
    public var awaitingBudget: Int = 0
    /// Payloads still queued at the end (held ones included).
    public var remaining: Int = 0
    /// Vault failures met on the way (a payload whose deletion failed is sent again after a
    /// restart; the recipient drops the duplicate by its idempotency key).
    public var problems: [String] = []

    /// Creates an empty report.
    public init() {}
}

/// A misuse of the upload pipeline: a payload an ``Uploader`` cannot take, an outbox folder
/// already in use or whose sequence numbers ran out.
public struct UploadError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case wrongRecipient, noCategories, outboxInUse, outboxExhausted }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The payload is addressed to another recipient than the uploader's.
        public static let wrongRecipient = Code(.wrongRecipient)
        /// The payload names no data category, so it cannot be accounted for.
        public static let noCategories = Code(.noCategories)
        /// Another ``FileTransport`` has the outbox folder open.
        public static let outboxInUse = Code(.outboxInUse)
        /// The outbox folder's sequence numbers have run out: a file name or the `.sequence`
        /// file claims a number so close to `UInt64.max` that no new number could follow it
        /// without repeating one. Only a damaged or planted file gets there; the message
        /// names it.
        public static let outboxExhausted = Code(.outboxExhausted)

        /// The code's name.
        public var description: String {
            switch value {
            case .wrongRecipient: "wrongRecipient"
            case .noCategories: "noCategories"
            case .outboxInUse: "outboxInUse"
            case .outboxExhausted: "outboxExhausted"
            }
        }
    }

    /// What went wrong.
    public let code: Code
    /// What happened and what to do.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
