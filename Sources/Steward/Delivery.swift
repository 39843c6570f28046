import Foundation
import StewardCore
import StewardHTTP
import StewardTelemetry
import Synchronization

extension Steward {
    /// Delivery: one uploader per recipient, each with its transport (or none: payloads stay
    /// queued in the vault), and the consent observer that carries a withdrawal to every queue.
    struct Delivery: Sendable {
        /// One uploader per recipient Steward delivers to.
        let uploaders: [RecipientID: Uploader]
        /// The transport behind each uploader that has one.
        let transports: [RecipientID: any Transport]
        /// The plaintext outbox, when the host asked for one.
        let outbox: FileTransport?
        /// The consent observer that carries a withdrawal to the uploaders and the outbox.
        let consentObserver: UUID
        /// The kernel's link and route events, by which uploaders pause while their recipient
        /// cannot be reached; nil when no transport needs the network, the host turned it off
        /// (``Configuration/pausesWhileOffline``) or the kernel refused the netlink socket.
        let network: NetworkMonitor?

        /// Makes the uploaders, takes back a legacy outbox, and links withdrawals to the queues.
        static func open(_ context: FacadeContext, modules: Modules) throws -> Delivery {
            let configuration = context.configuration
            let (consent, audit, clock) = (context.consent, context.audit, context.clock)
            var uploaders: [RecipientID: Uploader] = [:]
            let planned = try context.plan.transports(consent: consent)
            var transports = planned.transports
            let outbox = planned.outbox
            // The OTLP transport Steward made itself counts a Collector's partial rejections.
            let otlp = configuration.telemetryRecipient
            if configuration.transports[otlp] == nil, case .some(.some(let made)) = transports[otlp],
                var signals = made as? OTLPSignalTransport
            {
                signals.acceptedResponseHandler = OTLPPartialSuccess.auditing(into: audit)
                transports[otlp] = .some(signals)
            }
            let needsNetwork = transports.values.contains { !NetworkMonitor.isLocal($0?.networkNeed ?? .none) }
            var network: NetworkMonitor?
            if configuration.pausesWhileOffline, needsNetwork {
                do {
                    network = try NetworkMonitor()
                } catch {
                    StewardDiagnostics.emit(
                        DiagnosticEvent(
                            .notice, "delivery.noNetworkEvents",
                            "The kernel's link events cannot be read; delivery does not pause while offline",
                            ["errno": String(error.errno)]))
                }
            }
            for (recipient, transport) in transports {
                uploaders[recipient] = try Uploader(
                    recipient: recipient, transport: transport, vault: context.vault, consent: consent,
                    manifest: context.manifest, audit: audit, policy: configuration.uploadPolicy, wallClock: clock,
                    network: network)
            }
            takeBackLegacyOutbox(context.dataDirectory + "/outbox", configuration: configuration, uploaders: uploaders)
            // A withdrawal reaches every queue at once: queued payloads leave the uploaders, a
            // send under way is cancelled, and the plaintext outbox loses that purpose's files.
            let queues = Array(uploaders.values)
            let routes = DeletionRoutes(configuration)
            let device = modules.device
            /// A deletion request (scope `purposes`) for `recipient`'s data of `purpose`.
            @Sendable func deletionRequest(to recipient: RecipientID, purpose: Purpose, categories: [DataCategory])
                -> Payload
            {
                let now = clock.checkedNow
                let request = DeletionRequest(
                    scope: .purposes, purposes: [purpose], categories: categories,
                    deviceID: try? device.appScopedID().uuidString, requested: now)
                return DeletionRequest.payload(
                    request, to: recipient, configuration: configuration, plan: context.plan,
                    now: now)
            }
            // A send the recipient accepted after the withdrawal (too late to cancel) is
            // followed by a deletion request too.
            for (recipient, uploader) in uploaders
            where recipient != configuration.telemetryRecipient && routes.notRequestable(recipient) == nil {
                uploader.onAcceptedAfterWithdrawal { [weak uploader] purpose, categories in
                    _ = try? uploader?.submitObligation(
                        deletionRequest(to: recipient, purpose: purpose, categories: categories))
                }
            }
            let consentObserver = consent.addObserver { [uploaders] changes in
                guard changes.contains(where: { $0.state == .denied }) else { return }
                for uploader in queues { uploader.consentChanged() }
                for change in changes where change.state == .denied { _ = try? outbox?.purge(purpose: change.purpose) }
                // Every other recipient that received data of a withdrawn purpose is asked to
                // delete it (telemetry's recipient gets telemetry's own request, with the
                // pseudonyms it knows the user by).
                let withdrawn = changes.filter { $0.state == .denied && $0.previous == .granted }
                let entries = withdrawn.isEmpty ? [] : audit.entries()
                for change in withdrawn {
                    for (recipient, uploader) in uploaders
                    where recipient != configuration.telemetryRecipient && routes.notRequestable(recipient) == nil {
                        let categories = Set(
                            entries.filter { entry in
                                entry.purpose == change.purpose
                                    && entry.disclosed.contains { $0.recipient == recipient && $0.count > 0 }
                            }.map(\.category))
                        guard !categories.isEmpty else { continue }
                        _ = try? uploader.submitObligation(
                            deletionRequest(to: recipient, purpose: change.purpose, categories: categories.sorted()))
                    }
                }
            }
            return Delivery(
                uploaders: uploaders, transports: transports.compactMapValues { $0 }, outbox: outbox,
                consentObserver: consentObserver, network: network)
        }

        /// Earlier versions of Steward delivered to `DATA/outbox`, in plaintext, when no endpoint
        /// was set.
        /// Unless the host now asks for that folder by name (or has it open as a transport of its
        /// own), its payloads go back into the vault, queued for their recipient as before, and
        /// their files are removed. A payload whose recipient has no uploader any more, or whose
        /// purpose is now denied, is not kept (nothing could deliver it).
        private static func takeBackLegacyOutbox(
            _ folder: String, configuration: Configuration, uploaders: [RecipientID: Uploader]
        ) {
            guard configuration.plaintextOutbox != .inDataDirectory,
                configuration.plaintextOutbox != .directory(folder),
                FileSystem.exists(folder), let legacy = try? FileTransport(directory: folder)
            else { return }
            _ = try? legacy.takeAll { payload in
                guard let uploader = uploaders[payload.recipient] else { return }
                if payload.purpose == .privacyCompliance {
                    try uploader.submitObligation(payload)
                } else {
                    try uploader.submit(payload)
                }
            }
        }
    }
}

/// Wakes a waiting loop before its interval is over: the automatic delivery's queueing loop,
/// rung when a full telemetry batch is stored. A ring while nobody waits is kept for the next
/// wait (one, however many rings).
final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: CheckedContinuation<Void, Never>?
    }
    private let state = Mutex(State())

    /// Wakes the waiter, or the next one.
    func ring() {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            guard let waiter = s.waiter else {
                s.rung = true
                return nil
            }
            s.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Returns when the bell rings (or rang since the last wait), after `interval`, or when the
    /// task is cancelled.
    func wait(upTo interval: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await checkedSleep(for: interval) }
            group.addTask { await self.rung() }
            await group.next()
            group.cancelAll()
        }
    }

    private func rung() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { s -> Bool in
                    // Cancellation is flagged before the handler runs: one that raced ahead of
                    // this registration is seen here.
                    if s.rung || Task.isCancelled {
                        s.rung = false
                        return true
                    }
                    s.waiter = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { s -> CheckedContinuation<Void, Never>? in
                defer { s.waiter = nil }
                return s.waiter
            }?.resume()
        }
    }
}
