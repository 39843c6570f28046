import struct Foundation.Date
import Synchronization

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

    private let transport: (any Transport)?
    private let vault: Vault
    private let consent: any ConsentChecking
    private let audit: AuditLedger
    private let policy: UploadPolicy
    private let timer: any UploadTimer
    private let wallClock: any WallClock
    private let random: any JitterSource
    private let legalBases: [Purpose: LegalBasis]
    private let categories: [DataCategory: DataCategoryDeclaration]
    private let recipientDeclared: Bool
    private let maxAgeSeconds: Double
    private let state: Mutex<State>

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
    /// - Throws: a ``VaultError`` when the queued payloads cannot be read. A stored payload that
    ///   does not decode (written by a newer Steward) is left in the vault untouched.
    public init(
        recipient: RecipientID, transport: (any Transport)?, vault: Vault, consent: any ConsentChecking,
        manifest: PrivacyManifest, audit: AuditLedger, policy: UploadPolicy = UploadPolicy(),
        clock: any Clock<Duration> = ContinuousClock(), wallClock: any WallClock = SystemWallClock(),
        random: any JitterSource = SystemJitterSource()
    ) throws {
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
                    key: payload.idempotencyKey))
            loaded.count += 1
        }
        self.state = Mutex(loaded)
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

    private let acceptedAfterWithdrawal = Mutex<(@Sendable (Purpose, [DataCategory]) -> Void)?>(nil)

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

    private func enqueue(_ payload: Payload, handedOver: () throws -> Void = {}) throws -> Submission {
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
            key: payload.idempotencyKey)
        var handOverError: (any Error)?
        do { try handedOver() } catch { handOverError = error }
        notify(
            state.withLock { s in
                s.lanes[payload.purpose, default: Lane()].insert(entry)
                s.count += 1
                return s.bump()
            })
        if let handOverError { throw handOverError }
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

    /// Applies a consent change at once, without waiting for the next step of ``run()`` or
    /// ``drain()``: the payloads of purposes now denied leave the queue (removed from the vault
    /// and counted as dropped for consent), a send of such a purpose that is under way is
    /// cancelled (an HTTPS transfer is aborted within about a second), and a waiting loop looks
    /// at the queue again. Call it from a consent observer; the facade does.
    ///
    /// A send the recipient accepted before the cancellation reached it counts as a
    /// disclosure in the audit ledger (not as a drop), and is followed by a deletion request
    /// (through ``onAcceptedAfterWithdrawal(_:)``, which the facade sets).
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
                default: break
                }
            }
        }
        return report
    }

    // MARK: - The loop

    private func pump(untilIdle: Bool, report: inout UploadReport) async {
        while !Task.isCancelled {
            switch nextStep() {
            case .drop(let drops):
                drop(drops, report: &report)
            case .send(let entry, let basis):
                let proceed = await send(entry, basis: basis, report: &report)
                if !proceed, untilIdle { return }
            case .wait(let deadline, let generation):
                await waitForChange(since: generation, deadline: deadline)
            case .idle(let deadline, let generation):
                if untilIdle { return }
                await waitForChange(since: generation, deadline: deadline)
            }
        }
    }

    /// Decides what to do next: drop what must go, send the oldest sendable payload, or wait.
    private func nextStep() -> Step {
        let now = wallClock.checkedNow
        let elapsed = timer.elapsed()
        let (step, waiters) = state.withLock { s -> (Step, [Waiter]) in
            if s.inFlight != nil { return (.wait(deadline: nil, generation: s.generation), []) }
            var drops: [(Entry, DropReason)] = []
            var best: (entry: Entry, basis: LegalBasis)?
            var heldDeadline: Duration?
            for purpose in Array(s.lanes.keys) {
                guard var lane = s.lanes.removeValue(forKey: purpose) else { continue }
                defer { if !lane.isEmpty { s.lanes[purpose] = lane } }
                let consentState = consentState(for: purpose)
                guard consentState != .denied else {
                    drops += lane.removeAll().map { ($0, .consent) }
                    continue
                }
                guard let basis = legalBases[purpose] else {
                    // Queued under an earlier manifest that declared the purpose; this one does not.
                    drops += lane.removeAll().map { ($0, .undeclared) }
                    continue
                }
                while let head = lane.first, isExpired(head, now: now) {
                    drops.append((head, .deliveryExpired))
                    lane.removeFirst()
                }
                guard let head = lane.first else { continue }
                if consentState == .pending || transport == nil {
                    heldDeadline = earliest(heldDeadline, expiryDeadline(head, now: now, elapsed: elapsed))
                } else if best.map({ head.id < $0.entry.id }) ?? true {
                    best = (head, basis)
                }
            }
            if !drops.isEmpty {
                s.count -= drops.count
                return (.drop(drops), s.bump())
            }
            guard let best else { return (.idle(deadline: heldDeadline, generation: s.generation), []) }
            if let notBefore = best.entry.notBefore, notBefore > elapsed {
                let deadline = earliest(notBefore, expiryDeadline(best.entry, now: now, elapsed: elapsed))
                return (.wait(deadline: deadline, generation: s.generation), [])
            }
            s.inFlight = best.entry.id
            return (.send(best.entry, best.basis), [])
        }
        notify(waiters)
        return step
    }

    /// Sends the payload behind `entry` (which is marked in flight) and records the answer.
    /// Returns false when the vault failed.
    private func send(_ entry: Entry, basis: LegalBasis, report: inout UploadReport) async -> Bool {
        let payload: Payload?
        do {
            payload = try vault.record(entry.id, in: collection).flatMap { Payload(outboxRecord: $0.data) }
        } catch {
            report.problems.append("reading queued payload \(entry.id) for '\(recipient)' failed: \(error)")
            // Try again later; this is not the recipient's failure, so no attempt is counted.
            let retryAt =
                timer.elapsed() + min(max(policy.maxBackoff, .seconds(1)), .seconds(RetryAfter.maximumSeconds))
            finish(entry) { lane in
                lane.updateFirst { $0.notBefore = retryAt }; return false
            }
            return false
        }
        guard let payload else {
            // Gone from the vault (purged, erased or evicted by the quota): nothing to send.
            finish(entry) { lane in
                lane.removeFirst(); return true
            }
            return true
        }
        // Consent may have changed since the step was chosen; the next step holds or drops it.
        guard consentState(for: entry.purpose) == .granted else {
            finish(entry) { _ in false }
            return true
        }
        guard let transport else {
            finish(entry) { _ in false }
            return true
        }
        report.sends += 1
        // The send runs as a task of its own, so consentChanged() can cancel it when its
        // purpose is withdrawn meanwhile (a transport answers a cancelled send with .retry).
        let sending = Task { await transport.send(payload) }
        let withdrawn = state.withLock { s in
            s.inFlightSend = (entry.purpose, sending)
            return consentState(for: entry.purpose) == .denied
        }
        if withdrawn { sending.cancel() }
        let answer = await withTaskCancellationHandler {
            await sending.value
        } onCancel: {
            sending.cancel()
        }
        let stillQueued = state.withLock { s in
            s.inFlightSend = nil
            return s.lanes[entry.purpose]?.first?.id == entry.id
        }
        guard stillQueued else {
            // Gone from the queue while it was sent. Only an acceptance is recorded, as the
            // disclosure it was (followed by a deletion request when its purpose is denied).
            if answer == .accepted {
                for category in entry.categories {
                    audit.recordDisclosed(category, purpose: entry.purpose, recipient: recipient, legalBasis: basis)
                }
                report.accepted += 1
                if entry.purpose != .privacyCompliance, consentState(for: entry.purpose) == .denied {
                    acceptedAfterWithdrawal.withLock { $0 }?(entry.purpose, entry.categories)
                }
            }
            finish(entry) { _ in false }
            return true
        }
        switch answer {
        case .accepted:
            remove([entry.id], report: &report)
            for category in entry.categories {
                audit.recordDisclosed(category, purpose: entry.purpose, recipient: recipient, legalBasis: basis)
            }
            report.accepted += 1
            finish(entry) { lane in
                lane.removeFirst(); return true
            }
            if entry.purpose != .privacyCompliance, consentState(for: entry.purpose) == .denied {
                // Withdrawn while the send was under way, and the recipient took it anyway.
                acceptedAfterWithdrawal.withLock { $0 }?(entry.purpose, entry.categories)
            }
        case .rejected where entry.purpose == .privacyCompliance:
            // A deletion request is an obligation, not data: a rejection (a proxy's 4xx, a
            // captive portal's certificate) is retried with backoff until it is accepted.
            report.retries += 1
            let attempts = entry.attempts + 1
            retry(
                entry, attempts: attempts, after: policy.backoff.delay(forAttempt: attempts - 1, random: random),
                atLeast: .seconds(1))
        case .rejected:
            remove([entry.id], report: &report)
            countDropped(entry.categories, purpose: entry.purpose, reason: .rejected)
            report.dropped[.rejected, default: 0] += 1
            finish(entry) { lane in
                lane.removeFirst(); return true
            }
        case .retry(let after):
            report.retries += 1
            let attempts = entry.attempts + 1
            // Steward's own obligations (deletion requests) are retried until accepted.
            let givesUp =
                entry.purpose != .privacyCompliance
                && (attempts >= policy.maxAttempts || isExpired(entry, now: wallClock.checkedNow))
            if givesUp {
                remove([entry.id], report: &report)
                countDropped(entry.categories, purpose: entry.purpose, reason: .deliveryExpired)
                report.dropped[.deliveryExpired, default: 0] += 1
                finish(entry) { lane in
                    lane.removeFirst(); return true
                }
            } else {
                retry(
                    entry, attempts: attempts,
                    after: after ?? policy.backoff.delay(forAttempt: attempts - 1, random: random), atLeast: .zero)
            }
        }
        return true
    }

    /// Keeps `entry` at the head of its lane with `attempts` counted, to be sent again after
    /// `wanted`, clamped to `atLeast` … 2^31 s so no transport or policy value can overflow the
    /// deadline.
    private func retry(_ entry: Entry, attempts: Int, after wanted: Duration, atLeast minimum: Duration) {
        let delay = min(max(wanted, minimum), .seconds(RetryAfter.maximumSeconds))
        let retryAt = timer.elapsed() + delay
        finish(entry) { lane in
            lane.updateFirst {
                $0.attempts = attempts; $0.notBefore = retryAt
            }
            return false
        }
    }

    /// Clears the in-flight mark, applies `change` to the entry's lane (whose head it is) and
    /// wakes waiters. `change` returns whether it removed the entry.
    private func finish(_ entry: Entry, _ change: (inout Lane) -> Bool) {
        notify(
            state.withLock { s in
                s.inFlight = nil
                if var lane = s.lanes.removeValue(forKey: entry.purpose) {
                    if lane.first?.id == entry.id, change(&lane) { s.count -= 1 }
                    if !lane.isEmpty { s.lanes[entry.purpose] = lane }
                }
                return s.bump()
            })
    }

    /// Deletes dropped payloads from the vault and counts them.
    private func drop(_ drops: [(Entry, DropReason)], report: inout UploadReport) {
        remove(drops.map(\.0.id), report: &report)
        for (entry, reason) in drops {
            countDropped(entry.categories, purpose: entry.purpose, reason: reason)
            report.dropped[reason, default: 0] += 1
        }
    }

    /// Removes records from the vault and commits. A failure is reported, not retried: the
    /// payload is already out of the queue, and at worst comes back after a restart.
    private func remove(_ ids: [RecordID], report: inout UploadReport) {
        do {
            for id in ids { try vault.remove(id, from: collection) }
            try vault.commit()
        } catch {
            report.problems.append("deleting sent or dropped payloads for '\(recipient)' failed: \(error)")
        }
    }

    private func countDropped(_ categories: [DataCategory], purpose: Purpose, reason: DropReason) {
        for category in categories { audit.recordDropped(category, purpose: purpose, reason: reason) }
    }

    /// The consent state that governs `purpose`: Steward's own obligations
    /// (``Purpose/privacyCompliance``, such as deletion requests) need none.
    private func consentState(for purpose: Purpose) -> ConsentState {
        purpose == .privacyCompliance ? .granted : consent.consentState(for: purpose)
    }

    private func isDeclared(_ payload: Payload) -> Bool {
        guard recipientDeclared, legalBases[payload.purpose] != nil else { return false }
        if payload.purpose == .privacyCompliance {
            // A deletion request concerns data the recipient received: each category must be
            // one the manifest lets reach it.
            return payload.categories.allSatisfy { categories[$0]?.recipients.contains(recipient) == true }
        }
        return payload.categories.allSatisfy { category in
            guard let declaration = categories[category] else { return false }
            return declaration.leavesDevice && declaration.purposes.contains(payload.purpose)
                && declaration.recipients.contains(recipient)
        }
    }

    private func isExpired(_ entry: Entry, now: Date) -> Bool {
        // Deletion requests never expire: the withdrawal must reach the recipient.
        if entry.purpose == .privacyCompliance { return false }
        return now.timeIntervalSince(entry.created) > maxAgeSeconds
    }

    /// The elapsed-clock time just after `entry` passes the maximum age, or nil when that is
    /// further away than a year of waiting could matter.
    private func expiryDeadline(_ entry: Entry, now: Date, elapsed: Duration) -> Duration? {
        // Deletion requests never expire: no deadline (one in the past would wake the loop
        // every millisecond).
        if entry.purpose == .privacyCompliance { return nil }
        let remaining = maxAgeSeconds - now.timeIntervalSince(entry.created)
        guard remaining < 1e9 else { return nil }
        return elapsed + .milliseconds(Int64((max(remaining, 0) * 1000).rounded(.up)) + 1)
    }

    private func earliest(_ a: Duration?, _ b: Duration?) -> Duration? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }

    // MARK: - Waiting

    /// Returns once the state changed after `generation` (a submission, a wake, a finished
    /// send), `deadline` passed on the clock, or the task was cancelled.
    private func waitForChange(since generation: UInt64, deadline: Duration?) async {
        guard let deadline else {
            await changed(since: generation)
            return
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await self.timer.sleep(untilElapsed: deadline) }
            group.addTask { await self.changed(since: generation) }
            await group.next()
            group.cancelAll()
        }
    }

    private func changed(since generation: UInt64) async {
        let id = state.withLock { s in
            s.nextWaiterID += 1
            return s.nextWaiterID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: Waiter) in
                let now = state.withLock { s in
                    // Cancellation is flagged before handlers run, so a cancel that raced ahead
                    // of this registration is seen here.
                    if s.generation != generation || Task.isCancelled { return true }
                    s.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    private func notify(_ waiters: [Waiter]) {
        for waiter in waiters { waiter.resume() }
    }
}

// MARK: - State

private typealias Waiter = CheckedContinuation<Void, Never>

/// A queued payload, as the uploader keeps it in memory: the payload itself stays in the vault.
private struct Entry: Sendable {
    let id: RecordID
    let purpose: Purpose
    let categories: [DataCategory]
    let created: Date
    /// The payload's idempotency key.
    let key: String
    var attempts = 0
    /// Elapsed-clock time before which it may not be sent again (backoff, Retry-After).
    var notBefore: Duration?
}

/// One purpose's queued payloads, oldest (lowest record id) first.
private struct Lane: Sendable {
    private var entries: [Entry] = []
    private var start = 0

    var isEmpty: Bool { start == entries.count }
    var count: Int { entries.count - start }
    var first: Entry? { isEmpty ? nil : entries[start] }

    mutating func append(_ entry: Entry) { entries.append(entry) }

    func contains(key: String) -> Bool { entries.contains { $0.key == key } }

    /// Inserts by record id (an earlier concurrent submission may commit later).
    mutating func insert(_ entry: Entry) {
        var i = entries.count
        while i > start, entries[i - 1].id > entry.id { i -= 1 }
        entries.insert(entry, at: i)
    }

    mutating func removeFirst() {
        guard !isEmpty else { return }
        start += 1
        if start == entries.count {
            entries.removeAll(keepingCapacity: true)
            start = 0
        } else if start >= 64, start * 2 >= entries.count {
            entries.removeFirst(start)
            start = 0
        }
    }

    mutating func updateFirst(_ change: (inout Entry) -> Void) {
        guard !isEmpty else { return }
        change(&entries[start])
    }

    mutating func removeAll() -> [Entry] {
        let all = Array(entries[start...])
        entries = []
        start = 0
        return all
    }
}

private struct State: Sendable {
    var lanes: [Purpose: Lane] = [:]
    var count = 0
    var inFlight: RecordID?
    /// The send under way, so a withdrawal of its purpose can cancel it.
    var inFlightSend: (purpose: Purpose, task: Task<Delivery, Never>)?
    var generation: UInt64 = 0
    var waiters: [UInt64: Waiter] = [:]
    var nextWaiterID: UInt64 = 0

    /// Records a change and hands back the waiters to resume (outside the lock).
    mutating func bump() -> [Waiter] {
        generation &+= 1
        let all = Array(waiters.values)
        waiters.removeAll()
        return all
    }
}

private enum Step {
    case drop([(Entry, DropReason)])
    case send(Entry, LegalBasis)
    /// Something is in flight or backing off; wait for a change or the deadline.
    case wait(deadline: Duration?, generation: UInt64)
    /// Nothing can be sent now (queue empty or every payload held); the deadline is the next
    /// held payload's expiry.
    case idle(deadline: Duration?, generation: UInt64)
}

// MARK: - Time

/// The injected clock, with its instants turned into durations since the uploader started.
private protocol UploadTimer: Sendable {
    func elapsed() -> Duration
    func sleep(untilElapsed deadline: Duration) async throws
}

private struct ClockTimer<C: Clock>: UploadTimer where C.Duration == Duration {
    let clock: C
    let origin: C.Instant
    /// 2^62 s: what ``elapsed()`` is clamped to, so adding any wait (at most
    /// `CheckedTime.maximumWait`) to it cannot overflow `Duration`'s 128 bits.
    static var limit: Duration { .seconds(Int64(1) << 62) }

    /// Time since the uploader started, clamped to ±2^62 s: a host clock may jump anywhere.
    func elapsed() -> Duration {
        origin.duration(to: clock.now).clamped(to: .zero - Self.limit...Self.limit)
    }

    /// Sleeps until `deadline`, but never more than `CheckedTime.maximumWait` from now (the
    /// caller's loop looks again when it wakes), so no deadline handed to the clock is absurd.
    func sleep(untilElapsed deadline: Duration) async throws {
        let capped = min(deadline, elapsed() + CheckedTime.maximumWait)
        try await clock.sleep(until: origin.advanced(by: capped), tolerance: nil)
    }
}

private func makeTimer<C: Clock>(_ clock: C) -> any UploadTimer where C.Duration == Duration {
    ClockTimer(clock: clock, origin: clock.now)
}
