public import Foundation
public import StewardCore
public import Synchronization

/// Records what the app declared, only for purposes the user granted, anonymised before it is
/// kept, and delivers it as OTLP.
///
/// - Only events the manifest declares, with their declared attributes and types, are
///   recorded; anything else is refused and counted (strict mode, the default). Permissive
///   mode keeps undeclared attributes out but still records declared events.
/// - Consent is checked at record time — granted: kept; pending: the purpose's pending
///   policy; denied: dropped and counted, for one atomic load — and again at send time by the
///   `Uploader`.
/// - Before anything is kept: identifier attributes become keyed hashes (HMAC-SHA256 with a
///   secret salt per purpose, new when consent is withdrawn and given again), values that
///   look like an IP address, this host's name or its machine ID are removed, locations are
///   coarsened to about 5 km unless precise location is granted, strings are cut to their
///   declared length; per-event sampling and rate limits apply (counted).
/// - Events are batched per purpose in memory (bounded) and stored in the vault by size or on
///   ``flush()``; ``submit(to:resource:)`` hands stored batches to an uploader as OTLP `/v1/logs`.
/// - When a purpose is withdrawn, its data is purged (by the consent ledger) and a deletion
///   request carrying every pseudonymous id used under it is queued for its recipients.
///
/// ```swift
/// let telemetry = try Telemetry(manifest: manifest, vault: vault, consent: ledger, gate: gate, audit: audit)
/// telemetry.record("screen_view", attributes: ["screen": .string("scan"), "duration_ms": .int(420)])
/// try telemetry.flush()
/// try telemetry.submit(to: uploader, resource: resource)
/// ```
public final class Telemetry: Sendable {
    /// The vault collection stored batches live in.
    public static let collection = "telemetry"
    /// The vault collection of Steward's own telemetry state (salts, pseudonymous ids).
    static let stateCollection = "steward.telemetry"

    /// How strictly declarations are enforced.
    public enum Mode: Sendable {
        /// Undeclared events and attributes are refused (the default).
        case strict
        /// Undeclared attributes are left out; the event is kept.
        case permissive
    }

    /// What ``record(_:attributes:at:)-(EventName,_,_)`` did: ``recorded``, ``held`` or ``dropped(_:)`` with
    /// the reason (counted in the audit ledger).
    ///
    /// A small value without references, so returning it from the hot path costs nothing:
    /// compare it with `==` (`outcome == .dropped(.consent)`) or read ``droppedReason``.
    public struct Outcome: Hashable, Sendable, CustomStringConvertible {
        /// 0 recorded, 1 held, 2 + the index of the reason in `reasons` for a drop.
        @usableFromInline let code: UInt8

        @usableFromInline init(code: UInt8) { self.code = code }

        /// Kept (in the batch for its purpose).
        public static var recorded: Outcome { Outcome(code: 0) }
        /// Held under the purpose's pending policy.
        public static var held: Outcome { Outcome(code: 1) }
        /// Not kept, for `reason` (counted).
        public static func dropped(_ reason: DropReason) -> Outcome {
            Outcome(code: 2 &+ UInt8(truncatingIfNeeded: reasons.firstIndex(of: reason) ?? (reasons.count - 1)))
        }
        /// Dropped because the purpose's consent is denied: the hot path's outcome.
        @usableFromInline static var droppedForConsent: Outcome { Outcome(code: 2) }

        /// The drop reasons an outcome can carry, in code order (``DropReason/consent`` first).
        /// A reason not listed (none of Steward's own) reads back as the last, `other`.
        static let reasons: [DropReason] = [
            .consent, .undeclared, .sampling, .rateLimit, .quota, .ageGate, .retention,
            .deliveryExpired, .rejected, .invalidTimestamp, DropReason(rawValue: "other"),
        ]

        /// Whether the event was kept.
        public var isRecorded: Bool { code == 0 }
        /// Whether the event is held for pending consent.
        public var isHeld: Bool { code == 1 }
        /// Why the event was dropped, or nil when it was kept or held.
        public var droppedReason: DropReason? {
            code < 2 ? nil : Self.reasons[min(Int(code) - 2, Self.reasons.count - 1)]
        }

        /// `recorded`, `held` or `dropped(REASON)`, for logs.
        public var description: String {
            switch code {
            case 0: "recorded"
            case 1: "held"
            default: "dropped(\(droppedReason?.rawValue ?? "other"))"
            }
        }
    }

    /// Tunables.
    public struct Configuration: Sendable {
        /// Strict (default) or permissive.
        public var mode: Mode
        /// Events kept per purpose before a batch is stored in the vault.
        public var batchSize: Int
        /// The most events held in memory over all purposes; beyond it, a batch is stored
        /// right away (bounded memory under bursts).
        public var memoryLimit: Int
        /// Per-event sampling: the share of events kept (0…1). Default: all.
        public var sampling: [EventName: Double]
        /// Per-event rate limits: events per second (a token bucket of one second).
        public var rateLimits: [EventName: Int]
        /// Permission checks (precise location).
        public var permissions: any PermissionChecking

        /// Defaults: strict, batches of 256, 10,000 events in memory.
        public init(
            mode: Mode = .strict, batchSize: Int = 256, memoryLimit: Int = 10_000, sampling: [EventName: Double] = [:],
            rateLimits: [EventName: Int] = [:], permissions: any PermissionChecking = StaticPermissions()
        ) {
            self.mode = mode
            self.batchSize = max(1, batchSize)
            self.memoryLimit = max(1, memoryLimit)
            self.sampling = sampling
            self.rateLimits = rateLimits
            self.permissions = permissions
        }
    }

    /// A declared event, compiled for the hot path.
    /// A class, so the hot path takes one reference instead of copying every field.
    final class Compiled: Sendable {
        let declaration: EventDeclaration
        let handle: ConsentLedger.ConsentHandle
        let attributes: [String: AttributeDeclaration]
        let sampling: Double?
        let rateLimit: Int?
        /// The index of its purpose's in-memory batch.
        let lane: Int
        /// The last shape of a bridge's declared values for it (``Anonymiser/DeclaredShape``).
        let shape = Anonymiser.DeclaredShape()

        init(
            declaration: EventDeclaration, handle: ConsentLedger.ConsentHandle,
            attributes: [String: AttributeDeclaration],
            sampling: Double?, rateLimit: Int?, lane: Int
        ) {
            self.lane = lane
            self.declaration = declaration
            self.handle = handle
            self.attributes = attributes
            self.sampling = sampling
            self.rateLimit = rateLimit
        }
    }

    struct State {
        /// Events in memory, one batch per purpose (indexed by ``Compiled/lane``).
        var batches: [[TelemetryEventRecord]]
        var held = 0
        /// Full batches waiting for the storer thread, and how many events they hold.
        var backlog: [[TelemetryEventRecord]] = []
        var backlogCount = 0
        /// Whether the storer thread runs.
        var storerStarted = false
        var buckets: [EventName: (tokens: Double, last: UInt64)] = [:]
        var random = SystemRandomNumberGenerator()
    }

    let manifest: PrivacyManifest
    let vault: Vault
    @usableFromInline let consent: ConsentLedger
    let gate: ConsentGate?
    let audit: AuditLedger?
    let configuration: Configuration
    let clock: any WallClock
    let events: [EventName: Int]
    let compiled: [Compiled]
    let state: Mutex<State>
    /// The purposes of the in-memory batches, by lane.
    let lanes: [Purpose]
    /// Held by whoever stores batches (the storer thread, ``flush()``), so a flush's commit
    /// covers every batch taken before it.
    let storing = Mutex(())
    /// Called after a full batch is stored (the facade's automatic delivery queues it then,
    /// without waiting for its interval); not after a flush of partial batches.
    let batchStoredHandler = Mutex<(@Sendable () -> Void)?>(nil)
    /// Wakes the storer thread; stops it when the telemetry goes away.
    let storer = Storer()
    /// Drops for denied consent, counted without a lock (flushed to the audit ledger).
    @usableFromInline let consentDrops = Atomic<Int>(0)
    /// The same drops per declared event (its index), so the audit ledger names the right
    /// purpose and category.
    @usableFromInline let dropsPerEvent: InlineArray<64, Atomic<Int>> = InlineArray { _ in Atomic(0) }
    let anonymiser: Anonymiser
    /// Called by `store` between its consent check and its append (tests use it to withdraw
    /// consent in that gap).
    let betweenCheckAndAppend = Mutex<(@Sendable (Purpose) -> Void)?>(nil)

    /// Opens telemetry for `manifest`'s events.
    ///
    /// - Parameters:
    ///   - manifest: The privacy manifest: only its declared events and attributes are recorded.
    ///   - vault: Where batches, salts and pseudonymous ids are kept.
    ///   - consent: The consent ledger checked at record time; its withdrawals purge batches
    ///     and queue deletion requests.
    ///   - gate: Where events of a pending purpose go (its pending policy); nil drops them.
    ///   - audit: Counts collected and dropped events.
    ///   - configuration: Mode, batch sizes, sampling, rate limits and permissions.
    ///   - clock: The wall clock that stamps events and deletion requests.
    /// - Throws: `ManifestError` when `manifest` is not `consent`'s and does not validate;
    ///   what the vault throws while reading Steward's stored telemetry state.
    public init(
        manifest: PrivacyManifest, vault: Vault, consent: ConsentLedger, gate: ConsentGate? = nil,
        audit: AuditLedger? = nil,
        configuration: Configuration = Configuration(), clock: any WallClock = SystemWallClock()
    ) throws {
        try manifest.checkForUse(with: consent)
        self.manifest = manifest
        self.vault = vault
        self.consent = consent
        self.gate = gate
        self.audit = audit
        self.configuration = configuration
        self.clock = clock
        var compiled: [Compiled] = []
        var events: [EventName: Int] = [:]
        var lanes: [Purpose] = []
        for declaration in manifest.events where events[declaration.name] == nil {
            guard let handle = consent.handle(for: declaration.purpose) else { continue }
            events[declaration.name] = compiled.count
            let lane =
                lanes.firstIndex(of: declaration.purpose)
                ?? {
                    lanes.append(declaration.purpose); return lanes.count - 1
                }()
            compiled.append(
                Compiled(
                    declaration: declaration, handle: handle,
                    attributes: Dictionary(
                        declaration.attributes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first }),
                    sampling: configuration.sampling[declaration.name],
                    rateLimit: configuration.rateLimits[declaration.name], lane: lane))
        }
        self.events = events
        self.compiled = compiled
        self.lanes = lanes
        self.state = Mutex(State(batches: Array(repeating: [], count: lanes.count)))
        self.anonymiser = try Anonymiser(vault: vault, permissions: configuration.permissions, clock: clock)
        consent.addObserver { [weak self] changes in self?.consentChanged(changes) }
        // A purpose withdrawn while no Telemetry observed the ledger (another process, the
        // CLI): its deletion request is owed all the same, and its salt must go.
        for purpose in anonymiser.saltedPurposes where consent.consentState(for: purpose) == .denied {
            anonymiser.withdrawn(purpose)
        }
    }

    /// Deletion requests after a withdrawal that no uploader has queued yet (they are queued
    /// at the next ``submit(to:resource:)``): for the access report, so a request is pending
    /// from the moment of the withdrawal.
    package var deletionRequestsNotYetQueued: Int {
        anonymiser.pendingDeletionRequests.filter { ($0.queuedTo ?? []).isEmpty && !owed($0).isEmpty }.count
    }

    /// The recipients telemetry's own deletion requests go to; nil for every recipient that may
    /// hold the purpose's data. The facade sets its telemetry recipient: it asks the others
    /// itself (a crash recipient gets the facade's request, not telemetry's log record).
    package let deletionRequestRecipients = Mutex<Set<RecipientID>?>(nil)

    /// The pseudonymous ids used under each purpose since its salt was made (for data-rights
    /// requests: export and erase).
    package var pseudonymsInUse: [Purpose: [String]] { anonymiser.pseudonymsInUse }

    // MARK: - Recording

    /// Records `name` with `attributes`, if declared and consented to.
    ///
    /// A denied purpose costs one atomic load (and a counter increment). Nothing is written
    /// to disk here unless a batch is full.
    ///
    /// - Parameters:
    ///   - name: A declared event.
    ///   - attributes: Its declared attributes; evaluated only when the event is declared and
    ///     its purpose not denied (nothing is built for a denied purpose).
    ///   - date: When it happened; nil means now (the telemetry's clock, whose date is
    ///     clamped: a non-finite one is replaced by the system's, one past 2554-07-21 is sent as
    ///     the latest time OTLP holds). A date that OTLP cannot hold exactly — NaN, infinite,
    ///     before 1970 (`.distantPast`) or after 2554-07-21T23:34:33Z (`.distantFuture`) — is
    ///     not recorded: the outcome is `.dropped(.invalidTimestamp)`, counted in the audit
    ///     ledger like every drop.
    /// - Returns: What happened to the event.
    @discardableResult
    public func record(
        _ name: EventName, attributes: @autoclosure () -> [String: AttributeValue] = [:], at date: Date? = nil
    ) -> Outcome {
        guard let index = events[name] else {
            audit?.recordDropped(.usageEvents, purpose: .analytics, reason: .undeclared)
            return .dropped(.undeclared)
        }
        return record(EventHandle(index: index, consent: compiled[index].handle), attributes: attributes(), at: date)
    }

    /// A precomputed reference to a declared event, for the hot path: recording through it
    /// skips the name lookup, and a denied purpose costs one atomic load and a counter.
    public struct EventHandle: Hashable, Sendable {
        @usableFromInline let index: Int
        @usableFromInline let consent: ConsentLedger.ConsentHandle
    }

    /// The handle of `name`, or nil when the manifest does not declare it.
    public func handle(for name: EventName) -> EventHandle? {
        events[name].map { EventHandle(index: $0, consent: compiled[$0].handle) }
    }

    /// Records the event behind `handle` (see ``record(_:attributes:at:)-(EventName,_,_)``,
    /// including what a `date` that OTLP cannot hold does: `.dropped(.invalidTimestamp)`).
    ///
    /// Inlined into the caller: a denied purpose costs one atomic load, a relaxed counter
    /// increment and no call. `attributes` is an autoclosure: the dictionary written at the call
    /// site is not even built when the purpose is denied.
    @inlinable
    @discardableResult
    public func record(
        _ handle: EventHandle, attributes: @autoclosure () -> [String: AttributeValue] = [:], at date: Date? = nil
    ) -> Outcome {
        if consent.isDenied(handle.consent) {
            countConsentDrop(handle.index)
            return .droppedForConsent
        }
        return recordConsented(handle, attributes: attributes(), at: date)
    }

    /// One declared attribute of one event, as ``declarations(of:)`` gives it: only Steward
    /// makes them, so a ``DeclaredValue`` always carries a real declaration.
    package struct DeclaredAttribute: Sendable {
        /// The event's index.
        let event: Int
        /// The declaration's place in the event's list.
        let position: Int
        /// The attribute's declaration.
        package let declaration: AttributeDeclaration
    }

    /// A value for a declared attribute (``record(_:severityNumber:declared:)``).
    package struct DeclaredValue: Sendable {
        let attribute: DeclaredAttribute
        let value: AttributeValue

        /// `value` for `attribute`.
        package init(_ attribute: DeclaredAttribute, _ value: AttributeValue) {
            self.attribute = attribute
            self.value = value
        }
    }

    /// The attribute declarations of `handle`'s event by name, for a bridge that builds values
    /// of the declared names and types itself (``record(_:severityNumber:declared:)``).
    package func declarations(of handle: EventHandle) -> [String: DeclaredAttribute] {
        var declared: [String: DeclaredAttribute] = [:]
        // The first declaration of a name, as the compiled event keeps it.
        for (position, declaration) in compiled[handle.index].declaration.attributes.enumerated()
        where declared[declaration.name] == nil {
            declared[declaration.name] = DeclaredAttribute(
                event: handle.index, position: position, declaration: declaration)
        }
        return declared
    }

    /// Records the event behind `handle`, with an OTLP severity number (1...24; 9 is INFO), from
    /// values a bridge built for the event's own
    /// declarations (from ``declarations(of:)``): they pass the anonymiser like any attributes
    /// (consent, identifiers, truncation, the filter), without being looked up by name again.
    /// A value of another event's declaration, or not of the declared type, counts as an
    /// undeclared attribute (in strict mode, the record is dropped).
    @discardableResult
    package func record(
        _ handle: EventHandle, severityNumber: Int, declared values: @autoclosure () -> [DeclaredValue]
    ) -> Outcome {
        if consent.isDenied(handle.consent) {
            countConsentDrop(handle.index)
            return .droppedForConsent
        }
        return recordConsented(handle, input: .declared(values()), at: nil, severityNumber: severityNumber)
    }

    /// Whether `handle`'s purpose is denied now (one atomic load): a bridge skips building what
    /// it would record.
    @inlinable
    package func isDenied(_ handle: EventHandle) -> Bool { consent.isDenied(handle.consent) }

    /// The rest of ``record(_:attributes:at:)-(EventHandle,_,_)``, once the purpose is known not
    /// to be denied (checked again here: consent may change in between).
    @usableFromInline
    func recordConsented(
        _ handle: EventHandle, attributes: [String: AttributeValue], at date: Date?
    ) -> Outcome {
        // INFO: events by name are not log lines.
        recordConsented(handle, input: .named(attributes), at: date, severityNumber: 9)
    }

    /// What a record's attributes come as: by name (checked against the declarations) or with
    /// their declarations (a bridge's).
    enum AttributeInput {
        case named([String: AttributeValue])
        case declared([DeclaredValue])
    }

    func recordConsented(
        _ handle: EventHandle, input: AttributeInput, at date: Date?, severityNumber: Int
    ) -> Outcome {
        let event = compiled[handle.index]
        let state: ConsentState =
            consent.isGranted(event.handle) ? .granted : consent.consentState(for: event.declaration.purpose)
        if state == .denied {
            countConsentDrop(handle.index)
            return .droppedForConsent
        }
        // The host clock is clamped (never trusted to be finite); a date the caller passes is
        // checked: a time that would have to be clamped to fit OTLP would be a lie.
        let observed = clock.checkedNow
        let observedNanos = observed.unixNanoseconds ?? 0
        let now: Date, nanos: UInt64
        if let date {
            guard let exact = date.exactUnixNanoseconds else {
                audit?.recordDropped(
                    event.declaration.category, purpose: event.declaration.purpose, reason: .invalidTimestamp)
                return .dropped(.invalidTimestamp)
            }
            (now, nanos) = (date, exact)
        } else {
            (now, nanos) = (observed, observedNanos)
        }
        if let expires = event.declaration.expires, now > expires {
            audit?.recordDropped(event.declaration.category, purpose: event.declaration.purpose, reason: .undeclared)
            return .dropped(.undeclared)
        }
        if let reason = throttle(event, nanos: nanos) {
            audit?.recordDropped(event.declaration.category, purpose: event.declaration.purpose, reason: reason)
            return .dropped(reason)
        }
        let kept: [String: AttributeValue]
        let strict = configuration.mode == .strict
        let result =
            switch input {
            case .named(let attributes):
                anonymiser.apply(
                    attributes, declared: event.attributes, purpose: event.declaration.purpose, strict: strict)
            case .declared(let values):
                anonymiser.apply(
                    values, event: handle.index, shape: event.shape, purpose: event.declaration.purpose, strict: strict)
            }
        switch result {
        case .refused:
            audit?.recordDropped(event.declaration.category, purpose: event.declaration.purpose, reason: .undeclared)
            return .dropped(.undeclared)
        case .kept(let values):
            kept = values
        }
        let trace = TraceContext.current
        let record = TelemetryEventRecord(
            name: event.declaration.name, purpose: event.declaration.purpose, category: event.declaration.category,
            timeUnixNano: nanos, observedTimeUnixNano: observedNanos,
            attributes: kept, severityNumber: severityNumber, traceID: trace?.traceID, spanID: trace?.spanID)
        if state == .pending {
            guard let gate else {
                audit?.recordDropped(event.declaration.category, purpose: event.declaration.purpose, reason: .consent)
                return .dropped(.consent)
            }
            switch (try? gate.store(
                BatchCoding.encode([record]), in: Self.collection, category: event.declaration.category,
                purpose: event.declaration.purpose)) ?? .dropped(.consent)
            {
            case .stored: return .recorded
            case .held: return .held
            case .dropped(let reason): return .dropped(reason)
            }
        }
        // Full batches are encoded, encrypted and written by the storer thread, off the
        // caller's; past the memory limit the caller stores its batch itself (back-pressure,
        // bounded memory).
        let batchSize = configuration.batchSize, memoryLimit = configuration.memoryLimit
        let lane = event.lane
        let full: (batch: [TelemetryEventRecord], handOver: Bool, startStorer: Bool)? = self.state.withLock { s in
            s.batches[lane].append(record)
            s.held += 1
            guard s.batches[lane].count >= batchSize || s.held >= memoryLimit else { return nil }
            let batch = s.batches[lane]
            s.batches[lane] = []
            s.batches[lane].reserveCapacity(batchSize)
            s.held -= batch.count
            guard s.backlogCount + batch.count <= memoryLimit else { return (batch, false, false) }
            s.backlog.append(batch)
            s.backlogCount += batch.count
            let start = !s.storerStarted
            s.storerStarted = true
            return ([], true, start)
        }
        if let full {
            if full.handOver {
                if full.startStorer { startStorer() }
                storer.wake()
            } else {
                storing.withLock { _ in storeCounting(full.batch) }
                batchStoredHandler.withLock { $0 }?()
            }
        }
        return .recorded
    }

    deinit {
        storer.stop()
    }

    @inlinable
    func countConsentDrop(_ index: Int) {
        if index < 64 {
            dropsPerEvent[index].add(1, ordering: .relaxed)
        } else {
            // Beyond 64 declared events the drops are counted in total only.
            consentDrops.add(1, ordering: .relaxed)
        }
    }

    /// Events held in memory: the batches being filled and the full ones waiting to be stored.
    var eventsInMemory: Int { state.withLock { $0.held + $0.backlogCount } }

    /// Events dropped for denied consent since the last flush.
    public var droppedForConsent: Int {
        var total = consentDrops.load(ordering: .relaxed)
        for index in 0..<Swift.min(compiled.count, 64) { total += dropsPerEvent[index].load(ordering: .relaxed) }
        return total
    }

    // MARK: - Private

    private func throttle(_ event: Compiled, nanos: UInt64) -> DropReason? {
        if event.sampling == nil && event.rateLimit == nil { return nil }
        return state.withLock { s in
            if let rate = event.sampling, Double.random(in: 0..<1, using: &s.random) >= rate { return .sampling }
            if let limit = event.rateLimit {
                var bucket = s.buckets[event.declaration.name] ?? (Double(limit), nanos)
                bucket.tokens = min(Double(limit), bucket.tokens + Double(nanos &- bucket.last) / 1e9 * Double(limit))
                bucket.last = nanos
                guard bucket.tokens >= 1 else {
                    s.buckets[event.declaration.name] = bucket
                    return .rateLimit
                }
                bucket.tokens -= 1
                s.buckets[event.declaration.name] = bucket
            }
            return nil
        }
    }

    private func consentChanged(_ changes: [ConsentChange]) {
        for change in changes where change.state == .denied {
            // Events of the purpose still in memory go; the ledger purged what the vault held.
            let dropped = state.withLock { s -> Int in
                var count = 0
                if let lane = lanes.firstIndex(of: change.purpose) {
                    count = s.batches[lane].count
                    s.batches[lane] = []
                    s.held -= count
                }
                let waiting = s.backlog.filter { $0.first?.purpose == change.purpose }.reduce(0) { $0 + $1.count }
                s.backlog.removeAll { $0.first?.purpose == change.purpose }
                s.backlogCount -= waiting
                return count + waiting
            }
            if dropped > 0 {
                audit?.recordDropped(.usageEvents, purpose: change.purpose, reason: .consent, count: dropped)
            }
            if change.previous == .granted { anonymiser.withdrawn(change.purpose) }
        }
    }
}
