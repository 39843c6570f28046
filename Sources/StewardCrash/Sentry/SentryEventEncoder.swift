public import Foundation
public import StewardCore

/// Turns a ``CrashReport`` into a Sentry event: the JSON payload, the `event` envelope item, or
/// a whole envelope.
///
/// The event follows Sentry's event payload interfaces (developer documentation, "Event
/// Payloads"): `platform: native`; `level` `fatal` for crashes and `error` for handled reports;
/// one exception whose `mechanism` is `signalhandler` (unhandled, synthetic for a bare signal,
/// with `meta.signal`), `out_of_memory` (an OOM kill found at the next launch: type `OutOfMemory`,
/// the memory cgroup's path, limit, peak and kill count in `data`, as strings), `AppHang` (a hang
/// the watchdog saw, as sentry-cocoa names them: type `App Hanging`, value `App hanging for at
/// least N ms.`, handled, the watch's kind, name, threshold and duration in `data`, the stack
/// trace a `snapshot`) or `generic`; the crashed thread's frames **oldest first** with
/// registers on the exception's stack trace and `thread_id` linking it to `threads` (Sentry's
/// policy: the crashed thread itself carries no stack trace); `debug_meta.images` of type `elf`;
/// `device`, `os`, `app` and `steward` contexts; breadcrumbs; `user.id` as the app-scoped device
/// id. Addresses are `0x`-prefixed lowercase hex strings, dates RFC 3339 in UTC.
///
/// The encoding is deterministic: the same report always gives the same bytes.
///
/// ```swift
/// let encoder = SentryEventEncoder()
/// let envelope = encoder.envelope(for: report, dsn: dsn, sentAt: now)
/// let body = envelope.encode()
/// ```
public struct SentryEventEncoder: Hashable, Sendable {
    /// The `sdk.name` written into events and envelopes.
    public var sdkName: String
    /// The `sdk.version` written into events and envelopes.
    public var sdkVersion: String

    /// An encoder.
    ///
    /// - Parameters:
    ///   - sdkName: The `sdk.name`.
    ///   - sdkVersion: The `sdk.version`.
    ///
    /// ```swift
    /// let encoder = SentryEventEncoder()
    /// ```
    public init(sdkName: String = "steward", sdkVersion: String = StewardVersion.current) {
        self.sdkName = sdkName
        self.sdkVersion = sdkVersion
    }

    /// The event payload for a report.
    ///
    /// - Parameter report: The report.
    /// - Returns: The event as JSON.
    ///
    /// ```swift
    /// encoder.event(for: report)["level"] // "fatal"
    /// ```
    public func event(for report: CrashReport) -> SentryJSON {
        var event: [String: SentryJSON] = [
            "event_id": .string(report.id),
            "timestamp": .string(SentryFormat.timestamp(report.timestamp)),
            "platform": "native",
            "level": report.handled ? "error" : "fatal",
            "environment": .string(report.context.environment ?? "production"),
            "sdk": ["name": .string(sdkName), "version": .string(sdkVersion)],
            "exception": ["values": [exception(for: report)]],
            "threads": ["values": .array(threads(for: report))],
        ]
        if let release = report.context.release { event["release"] = .string(release) }
        if let dist = report.context.dist { event["dist"] = .string(dist) }
        if !report.images.isEmpty { event["debug_meta"] = ["images": .array(report.images.map(image))] }
        let contexts = self.contexts(for: report)
        if !contexts.isEmpty { event["contexts"] = .object(contexts) }
        if !report.breadcrumbs.isEmpty { event["breadcrumbs"] = ["values": .array(report.breadcrumbs.map(breadcrumb))] }
        if let deviceID = report.context.deviceID { event["user"] = ["id": .string(deviceID)] }
        var tags: [String: SentryJSON] = [:]
        if let sessionID = report.context.sessionID { tags["session_id"] = .string(sessionID) }
        if report.partial { tags["partial"] = "true" }
        if !tags.isEmpty { event["tags"] = .object(tags) }
        return .object(event)
    }

    /// The `event` envelope item for a report: compact sorted JSON, `content_type`
    /// `application/json`.
    ///
    /// - Parameter report: The report.
    /// - Returns: The item.
    ///
    /// ```swift
    /// let item = encoder.item(for: report)
    /// ```
    public func item(for report: CrashReport) -> SentryEnvelope.Item {
        SentryEnvelope.Item(type: "event", payload: event(for: report).encoded(), contentType: "application/json")
    }

    /// An envelope with the report's event and, when given, its session update (Sentry asks
    /// that a `crashed` session update travel with the crash event).
    ///
    /// - Parameters:
    ///   - report: The report.
    ///   - dsn: The DSN for the `dsn` header (written without its secret).
    ///   - sentAt: The `sent_at` header; nil while the envelope is stored, set when sending.
    ///   - session: A session update to add after the event.
    /// - Returns: The envelope.
    ///
    /// ```swift
    /// let envelope = encoder.envelope(for: report, dsn: dsn, sentAt: now,
    ///                                 session: SentrySession.crashed(for: report, started: launch, isInitial: false))
    /// ```
    public func envelope(for report: CrashReport, dsn: SentryDSN?, sentAt: Date?, session: SentrySession? = nil)
        -> SentryEnvelope
    {
        var items = [item(for: report)]
        if let session { items.append(session.envelopeItem) }
        return SentryEnvelope(
            eventID: report.id, dsn: dsn, sentAt: sentAt, sdkName: sdkName, sdkVersion: sdkVersion, items: items)
    }

    // MARK: - Interfaces

    func exception(for report: CrashReport) -> SentryJSON {
        var mechanism: [String: SentryJSON]
        let type: String
        let value: String
        if let hang = report.hang {
            // sentry-cocoa's app hangs: type `App Hanging`, value `App hanging for at least N
            // ms.`, mechanism `AppHang`; handled, as sentry-native marks its own (the process
            // goes on); which watch saw it in the mechanism's data.
            mechanism = [
                "type": "AppHang", "handled": true,
                "data": [
                    "kind": .string(hang.kind.rawValue), "watch": .string(hang.name),
                    "threshold_ms": .string(String(hang.thresholdMilliseconds)),
                    "duration_ms": .string(String(hang.durationMilliseconds)),
                ],
            ]
            type = report.error?.type ?? AppHang.exceptionType
            value = report.error?.message ?? hang.message
        } else if let kill = report.outOfMemory {
            // sentry-cocoa's convention for OOM terminations: type `OutOfMemory`, mechanism
            // `out_of_memory`, unhandled; the cgroup's evidence in the mechanism's data.
            var data: [String: SentryJSON] = [
                "cgroup": .string(kill.cgroup), "cgroup_version": .string(String(kill.cgroupVersion)),
                "oom_kills": .string(String(kill.kills)),
            ]
            if let limit = kill.limit { data["memory_limit"] = .string(String(limit)) }
            if let peak = kill.peak { data["memory_peak"] = .string(String(peak)) }
            mechanism = ["type": "out_of_memory", "handled": false, "data": .object(data)]
            type = "OutOfMemory"
            value = report.error?.message ?? "Killed by the kernel's OOM killer"
        } else if let signal = report.signal {
            mechanism = ["type": "signalhandler", "handled": .bool(report.handled)]
            var meta: [String: SentryJSON] = [
                "number": .int(Int64(signal.number)),
                "code": .int(Int64(signal.code)),
                "name": .string(signal.name),
            ]
            if let codeName = signal.codeName { meta["code_name"] = .string(codeName) }
            mechanism["meta"] = ["signal": .object(meta)]
            if let address = signal.faultAddress {
                mechanism["data"] = ["relevant_address": .string(SentryFormat.hex(address))]
            }
            if let error = report.error {
                // A runtime message (Swift fatal error) says more than the signal it raised.
                type = error.type
                value = error.message
            } else {
                // Sentry: set `synthetic` for segfaults, so grouping and titles use the frames.
                mechanism["synthetic"] = true
                type = signal.name
                value = Self.describe(signal)
            }
        } else if let error = report.error {
            mechanism = ["type": "generic", "handled": .bool(report.handled)]
            type = error.type
            value = error.message
        } else {
            mechanism = ["type": "generic", "handled": .bool(report.handled), "synthetic": true]
            type = "Error"
            value = report.handled ? "Reported error" : "Crash"
        }
        var exception: [String: SentryJSON] = [
            "type": .string(type),
            "value": .string(value),
            "mechanism": .object(mechanism),
            "thread_id": .int(report.crashedThread.id),
        ]
        var stacktrace = self.stacktrace(report.crashedThread.frames)
        // A hang's stack was sampled while the thread went on, not frozen at a crash.
        if report.hang != nil { stacktrace["snapshot"] = true }
        if !report.crashedThread.registers.isEmpty {
            stacktrace["registers"] = .object(
                report.crashedThread.registers.mapValues { .string(SentryFormat.hex($0)) })
        }
        if !report.crashedThread.frames.isEmpty || !report.crashedThread.registers.isEmpty {
            exception["stacktrace"] = .object(stacktrace)
        }
        return .object(exception)
    }

    static func describe(_ signal: CrashSignal) -> String {
        var text = SignalNames.meaning(signal.number)
        if let codeName = signal.codeName { text += " (\(codeName))" }
        if let address = signal.faultAddress { text += " at \(SentryFormat.hex(address))" }
        return text
    }

    func stacktrace(_ frames: [StackFrame]) -> [String: SentryJSON] {
        // CrashThread holds frames innermost first; Sentry wants them oldest first.
        ["frames": .array(frames.reversed().map(frame))]
    }

    func frame(_ frame: StackFrame) -> SentryJSON {
        var object: [String: SentryJSON] = ["instruction_addr": .string(SentryFormat.hex(frame.instructionAddress))]
        if let function = frame.function { object["function"] = .string(function) }
        if let package = frame.package { object["package"] = .string(package) }
        if let filename = frame.filename { object["filename"] = .string(filename) }
        if let line = frame.line { object["lineno"] = .int(Int64(line)) }
        if let column = frame.column { object["colno"] = .int(Int64(column)) }
        if let imageAddress = frame.imageAddress { object["image_addr"] = .string(SentryFormat.hex(imageAddress)) }
        if let symbolAddress = frame.symbolAddress { object["symbol_addr"] = .string(SentryFormat.hex(symbolAddress)) }
        return .object(object)
    }

    func threads(for report: CrashReport) -> [SentryJSON] {
        // The crashed (or reporting) thread carries no stack trace: the exception has it and
        // links to it by `thread_id`, as Sentry's threads interface asks.
        var crashed: [String: SentryJSON] = [
            "id": .int(report.crashedThread.id),
            "crashed": .bool(!report.handled),
            "current": true,
        ]
        if let name = report.crashedThread.name { crashed["name"] = .string(name) }
        var values: [SentryJSON] = [.object(crashed)]
        for thread in report.otherThreads {
            var object: [String: SentryJSON] = ["id": .int(thread.id), "crashed": false, "current": false]
            if let name = thread.name { object["name"] = .string(name) }
            if !thread.frames.isEmpty { object["stacktrace"] = .object(stacktrace(thread.frames)) }
            values.append(.object(object))
        }
        return values
    }

    func image(_ image: BinaryImage) -> SentryJSON {
        var object: [String: SentryJSON] = [
            "type": "elf",
            "code_file": .string(image.path),
            "image_addr": .string(SentryFormat.hex(image.start)),
            "image_size": .int(Int64(clamping: image.end >= image.start ? image.end - image.start : 0)),
        ]
        if let buildID = image.buildID { object["code_id"] = .string(buildID.lowercased()) }
        if let debugID = image.debugID { object["debug_id"] = .string(debugID) }
        return .object(object)
    }

    func contexts(for report: CrashReport) -> [String: SentryJSON] {
        let context = report.context
        var contexts: [String: SentryJSON] = [:]
        var device: [String: SentryJSON] = [:]
        if let model = context.model { device["model"] = .string(model) }
        if let arch = context.arch { device["arch"] = .string(arch) }
        if !device.isEmpty { contexts["device"] = .object(device) }
        var os: [String: SentryJSON] = [:]
        if let name = context.osName { os["name"] = .string(name) }
        if let version = context.osVersion { os["version"] = .string(version) }
        if let kernel = context.kernelVersion { os["kernel_version"] = .string(kernel) }
        if !os.isEmpty { contexts["os"] = .object(os) }
        var app: [String: SentryJSON] = [:]
        if let executable = context.executable { app["app_name"] = .string(executable) }
        if let seconds = report.secondsSinceStart, seconds.isFinite {
            app["app_start_time"] = .string(SentryFormat.timestamp(report.timestamp.addingTimeInterval(-seconds)))
        }
        if !app.isEmpty { contexts["app"] = .object(app) }
        var steward: [String: SentryJSON] = [
            "partial": .bool(report.partial),
            "runtime_backtrace_merged": .bool(report.runtimeBacktraceMerged),
        ]
        if let seconds = report.secondsSinceStart, seconds.isFinite {
            steward["seconds_since_start"] = .double(seconds)
        }
        if let nanoseconds = report.handlerNanoseconds { steward["handler_ns"] = .int(Int64(clamping: nanoseconds)) }
        if !report.salvageNotes.isEmpty { steward["salvage_notes"] = .array(report.salvageNotes.map { .string($0) }) }
        contexts["steward"] = .object(steward)
        if let trace = report.trace {
            contexts["trace"] = .object(["trace_id": .string(trace.traceID), "span_id": .string(trace.spanID)])
        }
        return contexts
    }

    func breadcrumb(_ crumb: Breadcrumb) -> SentryJSON {
        var object: [String: SentryJSON] = [
            "timestamp": .string(SentryFormat.timestamp(crumb.timestamp)),
            "level": .string(crumb.level.rawValue),
            "category": .string(crumb.category),
            "message": .string(crumb.message),
        ]
        if !crumb.data.isEmpty { object["data"] = .object(crumb.data.mapValues { .string($0) }) }
        return .object(object)
    }
}
