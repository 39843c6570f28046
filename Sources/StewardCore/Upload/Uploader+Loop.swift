import struct Foundation.Date
import Synchronization

/// The send loop: which payload goes next, sending it under consent, retries and drops,
/// and waiting for a change. The guarantees it keeps are listed on ``Uploader``.
extension Uploader {

    func pump(untilIdle: Bool, report: inout UploadReport) async {
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
    func nextStep() -> Step {
        let now = wallClock.checkedNow
        let elapsed = timer.elapsed()
        // Read before the lock (it may ask the kernel); a change after it wakes the loop again.
        let reachable = network?.canReach(networkNeed) ?? true
        let (step, waiters) = state.withLock { s -> (Step, [Waiter]) in
            if s.reachable != reachable {
                s.reachable = reachable
                StewardDiagnostics.emit(
                    reachable
                        ? DiagnosticEvent(
                            .info, "upload.online", "The recipient can be reached again; delivery resumes",
                            ["recipient": recipient.rawValue])
                        : DiagnosticEvent(
                            .notice, "upload.offline",
                            "The recipient cannot be reached (no network or its link is down); delivery pauses",
                            ["recipient": recipient.rawValue]))
            }
            if s.inFlight != nil { return (.wait(deadline: nil, generation: s.generation), []) }
            if s.stopped { return (.idle(deadline: nil, generation: s.generation), []) }
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
                if consentState == .pending || transport == nil || !reachable {
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
            if let budget = policy.maxBytesPerHour, best.entry.purpose != .privacyCompliance,
                let opens = Self.budgetOpens(for: best.entry.bytes, budget: budget, sent: &s.sent, elapsed: elapsed)
            {
                StewardDiagnostics.emit(
                    DiagnosticEvent(
                        .notice, "upload.budget", "The hourly byte budget is spent; the next send waits",
                        [
                            "recipient": recipient.rawValue,
                            "wait_s": String(min(max(opens - elapsed, .zero), .seconds(3_600)).components.seconds),
                        ]))
                // Idle, not waiting: a drain (send(), shutdown) returns rather than sit out the hour.
                s.budgetSpent = true
                return (
                    .idle(
                        deadline: earliest(opens, expiryDeadline(best.entry, now: now, elapsed: elapsed)),
                        generation: s.generation), []
                )
            }
            s.budgetSpent = false
            s.inFlight = best.entry.id
            return (.send(best.entry, best.basis), [])
        }
        notify(waiters)
        return step
    }

    /// Sends the payload behind `entry` (which is marked in flight) and records the answer.
    /// Returns false when the vault failed.
    func send(_ entry: Entry, basis: LegalBasis, report: inout UploadReport) async -> Bool {
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
        // Built only when a diagnostics handler is set (the events take autoclosures).
        func names() -> [String: String] {
            [
                "recipient": recipient.rawValue, "purpose": entry.purpose.rawValue,
                "categories": entry.categories.map(\.rawValue).joined(separator: ","),
                "attempt": String(entry.attempts + 1),
            ]
        }
        // Every send spends budget, whatever the answer: the bytes went over the link.
        if policy.maxBytesPerHour != nil { state.withLock { $0.sent.append((timer.elapsed(), entry.bytes)) } }
        switch answer {
        case .accepted:
            StewardDiagnostics.emit(
                DiagnosticEvent(.info, "upload.accepted", "The recipient accepted a payload", names()))
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
            StewardDiagnostics.emit(
                DiagnosticEvent(
                    .warning, "upload.obligationRejected", "A deletion request was refused; it will be retried", names()
                ))
            report.retries += 1
            let attempts = entry.attempts + 1
            retry(
                entry, attempts: attempts, after: policy.backoff.delay(forAttempt: attempts - 1, random: random),
                atLeast: .seconds(1))
        case .rejected:
            // The reason is not logged: it quotes the server's answer, which may echo anything.
            StewardDiagnostics.emit(
                DiagnosticEvent(
                    .warning, "upload.rejected", "The recipient refused a payload for good; it was dropped", names()))
            remove([entry.id], report: &report)
            countDropped(entry.categories, purpose: entry.purpose, reason: .rejected)
            report.dropped[.rejected, default: 0] += 1
            finish(entry) { lane in
                lane.removeFirst(); return true
            }
        case .retry where sending.isCancelled:
            // Cancelled (stop, shutdown, a cancelled drain): not the recipient's answer, so no
            // attempt is counted; it stays at the head of its lane.
            finish(entry) { _ in false }
        case .retry(let after):
            report.retries += 1
            let attempts = entry.attempts + 1
            // Steward's own obligations (deletion requests) are retried until accepted.
            let givesUp =
                entry.purpose != .privacyCompliance
                && (attempts >= policy.maxAttempts || isExpired(entry, now: wallClock.checkedNow))
            if givesUp {
                StewardDiagnostics.emit(
                    DiagnosticEvent(
                        .warning, "upload.expired", "A payload was given up after the upload policy's attempts or age",
                        names()))
                remove([entry.id], report: &report)
                countDropped(entry.categories, purpose: entry.purpose, reason: .deliveryExpired)
                report.dropped[.deliveryExpired, default: 0] += 1
                finish(entry) { lane in
                    lane.removeFirst(); return true
                }
            } else {
                let delay = after ?? policy.backoff.delay(forAttempt: attempts - 1, random: random)
                // Logged as retry() clamps it: a transport's or policy's huge delay cannot reach
                // `components`, which traps past 2^63 s.
                let seconds = min(max(delay, .zero), .seconds(RetryAfter.maximumSeconds)).components.seconds
                StewardDiagnostics.emit(
                    DiagnosticEvent(
                        .notice, "upload.retry", "A send failed for now; it is retried later",
                        names().merging(["delay_s": String(seconds)]) { $1 }))
                retry(entry, attempts: attempts, after: delay, atLeast: .zero)
            }
        }
        return true
    }

    /// Keeps `entry` at the head of its lane with `attempts` counted, to be sent again after
    /// `wanted`, clamped to `atLeast` … 2^31 s so no transport or policy value can overflow the
    /// deadline.
    func retry(_ entry: Entry, attempts: Int, after wanted: Duration, atLeast minimum: Duration) {
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
    func finish(_ entry: Entry, _ change: (inout Lane) -> Bool) {
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
    func drop(_ drops: [(Entry, DropReason)], report: inout UploadReport) {
        remove(drops.map(\.0.id), report: &report)
        for (entry, reason) in drops {
            countDropped(entry.categories, purpose: entry.purpose, reason: reason)
            report.dropped[reason, default: 0] += 1
        }
    }

    /// Removes records from the vault and commits. A failure is reported, not retried: the
    /// payload is already out of the queue, and at worst comes back after a restart.
    func remove(_ ids: [RecordID], report: inout UploadReport) {
        do {
            for id in ids { try vault.remove(id, from: collection) }
            try vault.commit()
        } catch {
            report.problems.append("deleting sent or dropped payloads for '\(recipient)' failed: \(error)")
        }
    }

    func countDropped(_ categories: [DataCategory], purpose: Purpose, reason: DropReason) {
        for category in categories { audit.recordDropped(category, purpose: purpose, reason: reason) }
    }

    /// The consent state that governs `purpose`: Steward's own obligations
    /// (``Purpose/privacyCompliance``, such as deletion requests) need none.
    func consentState(for purpose: Purpose) -> ConsentState {
        purpose == .privacyCompliance ? .granted : consent.consentState(for: purpose)
    }

    func isDeclared(_ payload: Payload) -> Bool {
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

    func isExpired(_ entry: Entry, now: Date) -> Bool {
        // Deletion requests never expire: the withdrawal must reach the recipient.
        if entry.purpose == .privacyCompliance { return false }
        return now.timeIntervalSince(entry.created) > maxAgeSeconds
    }

    /// The elapsed-clock time just after `entry` passes the maximum age, or nil when that is
    /// further away than a year of waiting could matter.
    func expiryDeadline(_ entry: Entry, now: Date, elapsed: Duration) -> Duration? {
        // Deletion requests never expire: no deadline (one in the past would wake the loop
        // every millisecond).
        if entry.purpose == .privacyCompliance { return nil }
        let remaining = maxAgeSeconds - now.timeIntervalSince(entry.created)
        guard remaining < 1e9 else { return nil }
        return elapsed + .milliseconds(Int64((max(remaining, 0) * 1000).rounded(.up)) + 1)
    }

    func earliest(_ a: Duration?, _ b: Duration?) -> Duration? {
        guard let a else { return b }
        guard let b else { return a }
        return min(a, b)
    }

    // MARK: - Waiting

    /// Returns once the state changed after `generation` (a submission, a wake, a finished
    /// send), `deadline` passed on the clock, or the task was cancelled.
    func waitForChange(since generation: UInt64, deadline: Duration?) async {
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

    func changed(since generation: UInt64) async {
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

    func notify(_ waiters: [Waiter]) {
        for waiter in waiters { waiter.resume() }
    }

    /// When a send of `bytes` fits the hourly `budget` again, given the sends of the last hour
    /// (older ones are forgotten here); nil when it fits now. A payload larger than the whole
    /// budget fits once nothing was sent in the hour.
    static func budgetOpens(
        for bytes: Int, budget: Int, sent: inout [(at: Duration, bytes: Int)], elapsed: Duration
    ) -> Duration? {
        let hour = Duration.seconds(3_600)
        sent.removeAll { $0.at + hour <= elapsed }
        let limit = max(1, budget)
        var used = sent.reduce(0) { $0.addingReportingOverflow($1.bytes).partialValue }
        guard !sent.isEmpty, used.addingReportingOverflow(bytes).partialValue > limit || used > limit else {
            return nil
        }
        // Wait until enough of the oldest sends age out for this one to fit (or all of them).
        for send in sent {
            used -= send.bytes
            if used + min(bytes, limit) <= limit || used <= 0 { return send.at + hour }
        }
        return sent.last.map { $0.at + hour }
    }
}
