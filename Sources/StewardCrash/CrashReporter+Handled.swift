import CStewardCrash
import Dispatch
import Foundation
import StewardCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Handled errors: captured on the caller's thread in a few microseconds (the return
/// addresses, the thread, the time, where the breadcrumb ring stands), then symbolicated,
/// scrubbed, encrypted and committed by a worker of the reporter's, in batches (one commit for
/// every error waiting).
extension CrashReporter {
    /// What the caller's thread captures.
    struct CapturedError: Sendable {
        var id: String
        var timestamp: Date
        var error: any Error
        var message: String?
        var addresses: [UInt64]
        var threadID: Int64
        /// The thread's name as `PR_GET_NAME` gave it (at most 15 bytes, NUL-padded), decoded
        /// by the worker.
        var threadName: (UInt64, UInt64)
        var breadcrumbPosition: UInt64
        var trace: TraceContext?
        /// For a hang (from the watchdog): what it captured; the fields above are unused but
        /// the id, time, thread and breadcrumb position.
        var hang: HangCapture? = nil
    }

    /// The captured errors waiting for the worker, and the worker.
    final class HandledErrors: Sendable {
        struct State {
            var waiting: [CapturedError] = []
            var scheduled = false
            /// `/proc/self/maps` as last read, and the loaded-image generation it was read at.
            var maps: (generation: UInt64, text: String)?
            var discarding = false
        }
        let state = Mutex(State())
        let worker = DispatchQueue(label: "steward.crash.handled-errors", qos: .utility)
        /// Set on the worker's queue: a flush from the worker itself (a diagnostics handler
        /// that reads the stored reports) stores inline instead of waiting for itself.
        static let onWorker = DispatchSpecificKey<Bool>()

        init() { worker.setSpecific(key: Self.onWorker, value: true) }
    }

    /// The most handled errors waiting for the worker: past it a report is dropped (and said in
    /// the diagnostics), so a loop of errors cannot grow memory without bound.
    static let maximumWaitingHandledErrors = 1_000

    /// The most frames a handled error's stack keeps.
    static let handledFrameLimit = 128

    /// Reports a handled error with the current stack, marked handled, and returns the id its
    /// report carries (a Sentry event id).
    ///
    /// Only the capture happens on the calling thread: the return addresses, the thread, the
    /// time and the position of the breadcrumb ring (a few microseconds, no I/O). The
    /// reporter's worker then describes the error, symbolicates the stack (against the loaded
    /// images, read once and again only when a library is loaded or unloaded), scrubs,
    /// encrypts and commits, one commit for all the errors waiting. Consent is applied there,
    /// as for a crash: stored, held or dropped. ``flushHandledErrors()`` waits for the worker;
    /// ``storedReports()``, ``submit(to:dsn:)``, ``endSession()`` and the facade's `send()` and
    /// `stop()` do.
    ///
    /// - Important: the report is durable only once stored. A process that calls `exit()` or
    ///   dies right after reporting, without a flush (or the facade's `stop()`), may lose it.
    ///   At most 1,000 wait at a time; beyond, a report is dropped (diagnostic
    ///   `crash.handledErrorDropped`). Breadcrumbs are copied when the worker gets to the report,
    ///   those that came before it: if more than 100 (the ring's size) came after it meanwhile,
    ///   the report has none.
    @discardableResult
    public func report(error: any Error, message: String? = nil) -> String {
        // Into a buffer on the stack, then one array of the exact size.
        let frames = withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Self.handledFrameLimit) { buffer in
            let count = Int(steward_crash_capture_stack(buffer.baseAddress, Int32(buffer.count)))
            return Array(buffer.prefix(min(max(count, 0), buffer.count)))
        }
        var name: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &name) { raw in
            _ = steward_crash_thread_name(raw.baseAddress?.assumingMemoryBound(to: CChar.self), raw.count)
        }
        let captured = CapturedError(
            id: Self.eventID(), timestamp: clock.checkedNow, error: error, message: message, addresses: frames,
            threadID: steward_crash_thread_id(), threadName: name,
            breadcrumbPosition: steward_crash_breadcrumb_position(), trace: TraceContext.current)
        enqueue(captured)
        return captured.id
    }

    /// Hands a capture to the worker (or drops it, when too many wait).
    func enqueue(_ captured: CapturedError) {
        sessionErrors.add(1, ordering: .relaxed)
        let (schedule, full) = handled.state.withLock { s -> (Bool, Bool) in
            guard !s.discarding else { return (false, false) }
            guard s.waiting.count < Self.maximumWaitingHandledErrors else { return (false, true) }
            s.waiting.append(captured)
            guard !s.scheduled else { return (false, false) }
            s.scheduled = true
            return (true, false)
        }
        if schedule { handled.worker.async { [self] in storeHandledErrors() } }
        if full {
            StewardDiagnostics.emit(
                DiagnosticEvent(
                    .warning, "crash.handledErrorDropped",
                    "A handled error was dropped: too many wait to be stored", [:]))
        }
    }

    /// Waits until every handled error reported so far is stored (or held, or dropped, by
    /// consent). Returns at once when none is waiting.
    public func flushHandledErrors() {
        guard handled.state.withLock({ !$0.waiting.isEmpty || $0.scheduled }) else { return }
        if DispatchQueue.getSpecific(key: HandledErrors.onWorker) == true {
            storeHandledErrors()
        } else {
            handled.worker.sync { storeHandledErrors() }
        }
    }

    /// Forgets the handled errors not stored yet (an erase: they must not be written after it).
    package func discardHandledErrors() {
        handled.state.withLock { s in
            s.waiting = []
            s.discarding = true
        }
        // A batch being stored finishes first (unless this is the worker itself).
        if DispatchQueue.getSpecific(key: HandledErrors.onWorker) != true { handled.worker.sync {} }
        handled.state.withLock { $0.discarding = false }
    }

    /// The worker: stores what waits, in batches, until nothing does.
    private func storeHandledErrors() {
        while true {
            let batch = handled.state.withLock { s -> [CapturedError] in
                let batch = s.waiting
                s.waiting = []
                if batch.isEmpty { s.scheduled = false }
                return batch
            }
            guard !batch.isEmpty else {
                // Idle: libdw's sessions (which map the images' files) close until the next error.
                symbolicator.releaseSourceLines()
                return
            }
            var stored = 0
            for captured in batch {
                do {
                    _ = try store(makeReport(captured))
                    stored += 1
                } catch {
                    StewardDiagnostics.emit(
                        DiagnosticEvent(
                            .warning, "crash.handledErrorNotStored",
                            "A handled error could not be stored (the vault refused it)", [:]))
                }
            }
            if stored > 0 { try? vault.commit() }
        }
    }

    /// The report of a captured error: described, symbolicated and scrubbed.
    private func makeReport(_ captured: CapturedError) -> CrashReport {
        if let hang = captured.hang { return makeHangReport(captured, hang) }
        var frames = captured.addresses.map { StackFrame(instructionAddress: $0) }
        var images: [BinaryImage] = []
        if configuration.symbolication != .none, !captured.addresses.isEmpty {
            (frames, images) = symbolicator.symbolicate(
                addresses: captured.addresses, maps: loadedImages(), firstIsReturnAddress: true)
        }
        var context = configuration.context
        context.sessionID = context.sessionID ?? sessionID
        let report = CrashReport(
            id: captured.id, timestamp: captured.timestamp, handled: true,
            // Scrubbed once, with the rest of the report, below.
            error: CrashError(
                type: String(reflecting: type(of: captured.error)),
                message: captured.message ?? "\(captured.error)"),
            crashedThread: CrashThread(
                id: captured.threadID, name: Self.threadName(captured.threadName), frames: frames, crashed: false),
            images: images, breadcrumbs: CrashHandler.breadcrumbs(before: captured.breadcrumbPosition),
            context: context, trace: captured.trace)
        return processScrubber.scrub(report: report)
    }

    /// `/proc/self/maps`, read again only when a shared object was loaded or unloaded since.
    func loadedImages() -> String {
        let generation = steward_crash_image_generation()
        if let cached = handled.state.withLock({ $0.maps }), cached.generation == generation { return cached.text }
        let text = readRegularFile("/proc/self/maps", limit: 8 << 20).map { String(decoding: $0, as: UTF8.self) } ?? ""
        handled.state.withLock { $0.maps = (generation, text) }
        return text
    }

    /// A thread name as captured (NUL-padded bytes), nil when empty.
    static func threadName(_ raw: (UInt64, UInt64)) -> String? {
        var raw = raw
        let bytes = withUnsafeBytes(of: &raw) { Array($0.prefix { $0 != 0 }) }
        return bytes.isEmpty ? nil : String(decoding: bytes, as: UTF8.self)
    }
}
