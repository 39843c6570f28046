import struct Foundation.Date
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Sends one recipient's payloads through a ``Transport``, in order, one request at a time,
/// and only while the user's consent allows.
///
/// **What it guarantees.**
/// - *Nothing is lost.* ``submit(_:)`` stores the payload in the ``Vault`` (collection
///   ``collection(for:)``, the payload's first category and its purpose) and commits before
///   returning. A new uploader over the same vault finds what an earlier one left and sends it
///   in the original order.
/// - *Nothing is deleted before it was accepted*, except by the rules below: a payload leaves
///   the vault when the transport answers `.accepted`, when it answers `.rejected`, when the
///   purpose is denied, or when ``UploadPolicy/maxAge`` or ``UploadPolicy/maxAttempts`` is
///   exceeded. Steward's own deletion requests (purpose `privacyCompliance`) are the
///   exception: they never expire, and every failure, a rejection included, is retried with
///   backoff (at least a second apart) until the recipient accepts them. Every drop is counted in the ``AuditLedger`` with its reason, every acceptance
///   as a disclosure per category with the purpose's legal basis from the manifest.
/// - *Consent is checked at send time.* Right before each send: granted → send; pending → hold
///   the payload (kept in the vault) until the purpose is granted; denied → drop and count it.
///   A `vault.purge(purpose:)` also removes queued payloads: they are stored under their
///   purpose, and the uploader re-reads each payload from the vault right before sending it,
///   so data erased from the vault is never sent.
/// - *No destination, no leak.* An uploader made without a transport sends nothing: payloads
///   of granted purposes stay queued in the vault, encrypted, like held ones (and expire the
///   same way), counted in ``UploadReport/awaitingDestination``.
/// - *Order.* Payloads are sent oldest first, one at a time. A payload that must be retried
///   blocks the ones behind it (the recipient is the same; sending past it would reorder).
///   A payload held for pending consent does not: the payloads of other, granted purposes
///   go ahead of it, because consent may never be answered. Payloads of one purpose never
///   overtake each other (their consent state is the same). Submissions from concurrent
///   tasks are ordered by their arrival in the vault.
/// - *Backoff.* After `.retry(after: d)` the uploader waits `d`; after `.retry(after: nil)` a
///   random wait from ``UploadPolicy/backoff`` (exponential, full jitter, capped). Waiting uses
///   the injected `Clock`; ages use the injected ``WallClock``.
///
/// The uploader records counts in the audit ledger but does not flush it; its owner does.
///
/// ```swift
/// let uploader = try Uploader(recipient: "crashBackend", transport: FileTransport(directory: outbox),
///                             vault: vault, consent: ledger, manifest: manifest, audit: audit)
/// let worker = Task { await uploader.run() }          // sends until cancelled
/// try uploader.submit(payload)                         // durable when this returns
/// for await _ in ledger.changes() { uploader.wake() }  // re-check held payloads after a change
/// ```
public final class Uploader: Sendable {
    /// The recipient this uploader sends to.
    public let recipient: RecipientID
    /// The vault collection holding this recipient's queued payloads.
    public let collection: String

    let transport: (any Transport)?
    let vault: Vault
    let consent: any ConsentChecking
    let audit: AuditLedger
    let policy: UploadPolicy
    let timer: any UploadTimer
    let wallClock: any WallClock
    let random: any JitterSource
    let legalBases: [Purpose: LegalBasis]
    let categories: [DataCategory: DataCategoryDeclaration]
    let recipientDeclared: Bool
    let maxAgeSeconds: Double
    let state: Mutex<State>
    /// Tells whether the transport's ``NetworkNeed`` can be met; nil: never paused.
    let network: NetworkMonitor?
    let networkNeed: NetworkNeed
    let networkHandler = Atomic<UInt64>(0)

    /// Creates the uploader for `recipient` and loads the payloads an earlier one left queued in
    /// `vault`, in their original order.
    ///
    /// - Parameters:
    ///   - recipient: Whom the payloads go to; declared in `manifest`.
    ///   - transport: How they are sent; nil when no destination is configured: payloads are
    ///     then queued in the vault (encrypted, visible in the access report and the export,
    ///     purged with their purpose, dropped when older than ``UploadPolicy/maxAge``) and
    ///     never sent, until an uploader with a transport opens the same vault.
    ///   - vault: Where queued payloads are kept until accepted.
    ///   - consent: Consulted at submission and right before every send.
    ///   - manifest: Declares the recipient, the purposes (with their legal basis) and the
    ///     categories a payload may carry.
    ///   - audit: Counts disclosures and drops.
    ///   - policy: Backoff and the limits after which a payload is given up.
    ///   - clock: Measures waits (backoff, Retry-After); tests pass a manual clock.
    ///   - wallClock: Tells payload ages.
    ///   - random: The backoff's jitter.
    ///   - network: When given, nothing is sent while the transport's
    ///     ``Transport/networkNeed`` cannot be met (the device is offline, or the link to the
    ///     recipient is down): payloads stay queued, no attempt is counted, and the uploader
    ///     waits without a timer until the monitor reports a link or route change.
    /// - Throws: ``ManifestError`` when `manifest` is not the consent ledger's and does not
    ///   validate; a ``VaultError`` when the queued payloads cannot be read. A stored payload that
    ///   does not decode (written by a newer Steward) is left in the vault untouched.
    public init(
        recipient: RecipientID, transport: (any Transport)?, vault: Vault, consent: any ConsentChecking,
        manifest: PrivacyManifest, audit: AuditLedger, policy: UploadPolicy = UploadPolicy(),
        clock: any Clock<Duration> = ContinuousClock(), wallClock: any WallClock = SystemWallClock(),
        random: any JitterSource = SystemJitterSource(), network: NetworkMonitor? = nil
    ) throws {
        try manifest.checkForUse(with: consent as? ConsentLedger)
        self.recipient = recipient
        self.collection = Self.collection(for: recipient)
        self.transport = transport
        self.vault = vault
        self.consent = consent
        self.audit = audit
        self.policy = policy
        self.timer = makeTimer(clock)
        self.wallClock = wallClock
        self.random = random
        var bases = Dictionary(
            manifest.purposes.map { ($0.id, $0.legalBasis) }, uniquingKeysWith: { first, _ in first })
        // Steward's own obligations (deletion requests after a withdrawal) go out under the
        // legal obligation to honour the withdrawal, whatever the consent state.
        bases[.privacyCompliance] = bases[.privacyCompliance] ?? .legalObligation
        self.legalBases = bases
        self.categories = Dictionary(
            manifest.dataCategories.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.recipientDeclared = manifest.declaration(of: recipient) != nil
        // From the 128-bit attoseconds: `components` traps at 2^63 s. Huge and negative ages
        // are handled below (never expires / expires at once).
        self.maxAgeSeconds = policy.maxAge.secondsDouble

        var loaded = State()
        try vault.forEachRecord(in: collection) { record in
            guard let payload = Payload(outboxRecord: record.data), payload.recipient == recipient,
                !payload.categories.isEmpty
            else { return }
            loaded.lanes[payload.purpose, default: Lane()].append(
                Entry(
                    id: record.id, purpose: payload.purpose, categories: payload.categories, created: payload.created,
                    key: payload.idempotencyKey, bytes: payload.body.count))
            loaded.count += 1
        }
        self.state = Mutex(loaded)
        self.networkNeed = transport?.networkNeed ?? .none
        self.network = NetworkMonitor.isLocal(networkNeed) ? nil : network
        if let network = self.network {
            networkHandler.store(network.onChange { [weak self] in self?.wake() }, ordering: .releasing)
        }
    }

    deinit {
        network?.removeChangeHandler(networkHandler.load(ordering: .acquiring))
    }

    /// The vault collection that holds `recipient`'s queued payloads:
    /// `steward.outbox.RECIPIENT`, or `steward.outbox-` and a hash when the recipient's
    /// spelling cannot be part of a collection name.
    public static func collection(for recipient: RecipientID) -> String {
        let name = "steward.outbox." + recipient.rawValue
        if VaultState.isValidCollectionName(name) { return name }
        let digest = SHA256.hash(Array(recipient.rawValue.utf8)).prefix(12)
        return "steward.outbox-" + Hex.encode(digest)
    }

    /// Called when the recipient accepted a payload whose purpose was withdrawn while it was
    /// being sent (the cancellation came too late), with the purpose and the categories it
    /// held: the facade queues a deletion request for them. Package access.
    package func onAcceptedAfterWithdrawal(_ handler: @escaping @Sendable (Purpose, [DataCategory]) -> Void) {
        acceptedAfterWithdrawal.withLock { $0 = handler }
    }

    let acceptedAfterWithdrawal = Mutex<(@Sendable (Purpose, [DataCategory]) -> Void)?>(nil)

    /// Payloads queued (in the vault, not yet accepted or dropped), held ones included.
    public var pendingCount: Int { state.withLock { $0.count } }

    /// How many of Steward's own deletion requests (purpose `privacyCompliance`) wait for this
    /// recipient to accept them.
    public var pendingDeletionRequests: Int { state.withLock { $0.lanes[.privacyCompliance]?.count ?? 0 } }

    // MARK: - Submitting

    /// Queues `payload` for sending: checks it against the manifest and consent, stores it in
    /// the vault and commits, so it survives a crash once this returns.
    ///
    /// A payload of a denied purpose, or one the manifest does not declare (purpose, recipient,
    /// or a category that does not leave the device for this purpose and recipient), is not
    /// stored: it is counted as dropped and reported in the result.
    ///
    /// A ``Payload/created`` that is NaN or infinite (no age could be told from it) is replaced
    /// by the wall clock's current date.
    ///
    /// - Returns: Whether it was queued, held for pending consent or dropped.
    /// - Throws: ``UploadError`` for a payload addressed to another recipient or naming no
    ///   category; a ``VaultError`` when it cannot be stored (then it is not queued either).
    @discardableResult
    public func submit(_ payload: Payload) throws -> Submission {
        guard payload.purpose != .privacyCompliance else {
            // Only Steward's own obligations travel under this purpose, and only through
            // submitObligation(_:): a host cannot use it to send without consent.
            countDropped(payload.categories, purpose: payload.purpose, reason: .undeclared)
            return .dropped(.undeclared)
        }
        return try enqueue(payload)
    }

    /// Queues one of Steward's own obligations — a deletion request after a withdrawal — under
    /// ``Purpose/privacyCompliance``: sent under the legal obligation to honour the withdrawal,
    /// whatever the consent state. Package access: hosts cannot reach it.
    @discardableResult
    package func submitObligation(_ payload: Payload) throws -> Submission {
        guard payload.purpose == .privacyCompliance else { return try submit(payload) }
        return try enqueue(payload)
    }

    /// Queues `payload` like ``submit(_:)``, and runs `handedOver` after the payload is durable
    /// in the outbox but before it can be sent. A source that moves stored data into the
    /// outbox removes its copy there: after a crash between the two, ``isQueued(idempotencyKey:)``
    /// finds the payload still queued (it cannot have been sent), so the source removes its copy
    /// instead of submitting it twice. An error from `handedOver` is rethrown; the payload stays
    /// queued.
    @discardableResult
    package func submit(_ payload: Payload, handedOver: () throws -> Void) throws -> Submission {
        guard payload.purpose != .privacyCompliance else { return try submit(payload) }
        return try enqueue(payload, handedOver: handedOver)
    }

    /// Whether a payload with `key` is queued (sent or not yet, it is not delivered).
    package func isQueued(idempotencyKey key: String) -> Bool {
        state.withLock { s in s.lanes.values.contains { $0.contains(key: key) } }
    }

    func enqueue(_ payload: Payload, handedOver: () throws -> Void = {}) throws -> Submission {
        var payload = payload
        if !payload.created.timeIntervalSince1970.isFinite {
            // No age can be told from NaN or infinity (it would never expire): date it now.
            payload.created = wallClock.checkedNow
        }
        guard payload.recipient == recipient else {
            throw UploadError(
                .wrongRecipient,
                "the payload is addressed to '\(payload.recipient)' but this uploader sends to '\(recipient)'; submit it to that recipient's uploader"
            )
        }
        guard let firstCategory = payload.categories.first else {
            throw UploadError(
                .noCategories,
                "the payload names no data category; list the categories it holds so the disclosure can be accounted for"
            )
        }
        guard isDeclared(payload) else {
            countDropped(payload.categories, purpose: payload.purpose, reason: .undeclared)
            return .dropped(.undeclared)
        }
        let consentState = consentState(for: payload.purpose)
        if consentState == .denied {
            countDropped(payload.categories, purpose: payload.purpose, reason: .consent)
            return .dropped(.consent)
        }
        let id = try vault.append(
            payload.outboxRecord(), to: collection, category: firstCategory, purpose: payload.purpose)
        do {
            try vault.commit()
        } catch {
            // Not durable, so not queued: unstage it so a later commit does not store it.
            _ = try? vault.remove(id, from: collection)
            throw error
        }
        let entry = Entry(
            id: id, purpose: payload.purpose, categories: payload.categories, created: payload.created,
            key: payload.idempotencyKey, bytes: payload.body.count)
        var handOverError: (any Error)?
        do { try handedOver() } catch { handOverError = error }
        notify(
            state.withLock { s in
                s.lanes[payload.purpose, default: Lane()].insert(entry)
                s.count += 1
                return s.bump()
            })
        if let handOverError { throw handOverError }
        if consentState != .granted {
            StewardDiagnostics.emit(
                DiagnosticEvent(
                    .notice, "upload.held", "A payload waits for the user's answer on its purpose",
                    ["recipient": recipient.rawValue, "purpose": payload.purpose.rawValue]))
        }
        return consentState == .granted ? .queued : .heldForConsent
    }

    // MARK: - Sending

    /// Sends queued payloads until the calling task is cancelled: waits for new submissions,
    /// ``wake()`` calls, backoff deadlines and the expiry of held payloads. Returns soon after
    /// cancellation (a send in progress is finished and its answer recorded first).
    ///
    /// Run one per uploader; a concurrent ``drain()`` is safe (still one request at a time).
    public func run() async {
        var report = UploadReport()
        await pump(untilIdle: false, report: &report)
    }

    /// Makes a waiting ``run()`` or ``drain()`` look at the queue again now: call it after a
    /// consent change, so payloads held for a newly granted purpose go out (and those of a
    /// denied one are dropped) without waiting for the next submission.
    public func wake() {
        notify(state.withLock { $0.bump() })
    }

    /// Stops sending, for good: a send under way is cancelled (an HTTPS transfer is aborted
    /// within about a second), nothing more is sent, and the call waits up to `limit` for the
    /// send under way to finish, so its answer is recorded (a disclosure in the audit ledger, the
    /// payload removed from the vault) before the caller closes the vault. What is queued stays
    /// in the vault for the next start. The facade calls it from `stop()`.
    ///
    /// - Returns: Whether no send was under way any more when it returned.
    @discardableResult
    package func stopSending(waitingUpTo limit: Duration = .seconds(2)) -> Bool {
        let (cancel, waiters) = state.withLock { s in
            s.stopped = true
            return (s.inFlightSend?.task, s.bump())
        }
        cancel?.cancel()
        notify(waiters)
        // Polled: the caller is synchronous (stop()), and the send finishes on the pool.
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: min(max(limit, .zero), .seconds(60)))
        while state.withLock({ $0.inFlight != nil }) {
            guard clock.now < end else { return false }
            usleep(1_000)
        }
        return true
    }

    /// Applies a consent change at once, without waiting for the next step of ``run()`` or
    /// ``drain()``: the payloads of purposes now denied leave the queue (removed from the vault
    /// and counted as dropped for consent), a send of such a purpose that is under way is
    /// cancelled (an HTTPS transfer is aborted within about a second), and a waiting loop looks
    /// at the queue again. Call it from a consent observer; the facade does.
    ///
    /// A send the recipient accepted before the cancellation reached it counts as a
    /// disclosure in the audit ledger (not as a drop), and is followed by a deletion request
    /// (through `onAcceptedAfterWithdrawal(_:)`, which the facade sets).
    public func consentChanged() {
        var dropped: [Entry] = []
        var cancel: Task<Delivery, Never>?
        let waiters = state.withLock { s -> [Waiter] in
            for purpose in Array(s.lanes.keys) where consentState(for: purpose) == .denied {
                guard var lane = s.lanes.removeValue(forKey: purpose) else { continue }
                var entries = lane.removeAll()
                // The payload in flight stays (its send is cancelled below): its answer decides
                // whether it was disclosed or is dropped at the next step, counted once.
                if let head = entries.first, head.id == s.inFlight {
                    lane.append(head)
                    entries.removeFirst()
                    s.lanes[purpose] = lane
                }
                dropped += entries
            }
            s.count -= dropped.count
            if let send = s.inFlightSend, consentState(for: send.purpose) == .denied { cancel = send.task }
            return s.bump()
        }
        cancel?.cancel()
        if !dropped.isEmpty {
            var report = UploadReport()
            drop(dropped.map { ($0, .consent) }, report: &report)
        }
        notify(waiters)
    }

    /// Sends everything that can be sent now and returns when only payloads held for pending
    /// consent (or nothing) remain: waits out retries (on the injected clock) until each
    /// payload is accepted, rejected or given up under the policy. For `steward flush`,
    /// shutdown and tests.
    ///
    /// Returns early when the task is cancelled or when the vault fails (see
    /// ``UploadReport/problems``).
    ///
    /// - Returns: What this call did and what is left.
    public func drain() async -> UploadReport {
        var report = UploadReport()
        await pump(untilIdle: true, report: &report)
        state.withLock { s in
            report.remaining = s.count
            for (purpose, lane) in s.lanes {
                switch consentState(for: purpose) {
                case .pending: report.held += lane.count
                case .granted where transport == nil: report.awaitingDestination += lane.count
                case .granted where !s.reachable: report.awaitingNetwork += lane.count
                case .granted where s.budgetSpent && purpose != .privacyCompliance:
                    report.awaitingBudget += lane.count
                default: break
                }
            }
        }
        return report
    }
}
