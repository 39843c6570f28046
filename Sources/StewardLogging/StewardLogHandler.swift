public import Logging
public import Steward
public import StewardCore
import StewardCrash
import StewardTelemetry

/// A swift-log `LogHandler` that feeds Steward: log lines become crash breadcrumbs, error lines
/// handled-error reports, and lines of a declared event OTLP log records under that event's
/// purpose and consent.
///
/// Each of the three is chosen in ``Options``:
/// - **Breadcrumbs** (default: lines at `info` and above): the message, the level and the
///   logger's label, with the metadata as data. Metadata under a secret's name (`password`,
///   `token`, …) is left out; the crash reporter scrubs the rest as every breadcrumb (the
///   identifier filter's findings and secret values become placeholders).
/// - **Handled-error reports** (default: none; `.error` makes `error` and `critical` lines
///   reports): the error the line carries (`logger.error("…", error: e)`: its type, and the
///   message followed by the error's description), or else the line itself (``LoggedError``),
///   with the stack of the logging call. Consent is applied as for every handled error.
/// - **Log records** (default: none): when ``Options/event`` names an event the manifest
///   declares, each line at or above ``Options/eventLevel`` is recorded as that event, with its
///   severity, under its purpose: nothing is kept while the purpose is denied, and what is kept
///   passes the anonymiser like every event. The attributes filled are those the event declares
///   among `message`, `level`, `logger` and `source`, and the metadata keys it declares (a
///   value is converted to the declared type, or left out).
///
/// The handler's ``logLevel`` is never below the lowest level something is done with: while
/// the event's purpose is denied and neither breadcrumbs nor reports want a line, `Logger`
/// drops it before the message is even built, as for a disabled level. (Inside a
/// `MultiplexLogHandler`, the multiplexer fixes its own level from its handlers' when it is
/// made; it still asks this handler's level for every line.) An ``Options/event`` the manifest
/// does not declare records nothing: the handler says so once (diagnostic
/// `logging.undeclaredEvent`) and counts it in the audit ledger as dropped (`undeclared`).
/// Steward's own diagnostic lines (metadata `steward.code`), when the host routes
/// `Configuration.logger` here, become breadcrumbs at most, never reports or records. After
/// `Steward.stop()`, lines are ignored.
///
/// ```swift
/// let steward = try Steward.start(configuration)
/// LoggingSystem.bootstrap { label in
///     MultiplexLogHandler([
///         StreamLogHandler.standardOutput(label: label),
///         StewardLogHandler(label: label, steward: steward,
///                           options: .init(reportLevel: .error, event: "app_log", eventLevel: .warning)),
///     ])
/// }
/// ```
public struct StewardLogHandler: LogHandler {
    /// What the handler does with lines, by level.
    public struct Options: Sendable {
        /// Lines at or above this level become breadcrumbs; nil for none.
        public var breadcrumbLevel: Logger.Level?
        /// Lines at or above this level become handled-error reports; nil for none.
        public var reportLevel: Logger.Level?
        /// The declared event lines are recorded as; nil for none. An event the manifest does not
        /// declare records nothing.
        public var event: EventName?
        /// The lowest level recorded as ``event``.
        public var eventLevel: Logger.Level

        /// Options; see the properties. The defaults make breadcrumbs of `info` and above, and
        /// nothing else.
        public init(
            breadcrumbLevel: Logger.Level? = .info, reportLevel: Logger.Level? = nil, event: EventName? = nil,
            eventLevel: Logger.Level = .info
        ) {
            self.breadcrumbLevel = breadcrumbLevel
            self.reportLevel = reportLevel
            self.event = event
            self.eventLevel = eventLevel
        }
    }

    /// The logger's label: the breadcrumbs' category and the records' `logger` attribute.
    public let label: String
    /// Metadata added to every line of this handler (swift-log value semantics).
    public var metadata: Logger.Metadata = [:]
    /// Metadata computed for each line (task-local context, for example).
    public var metadataProvider: Logger.MetadataProvider?
    private var floor: Logger.Level = .trace
    private let sink: Sink

    /// A handler for `label` feeding `steward`.
    ///
    /// - Parameters:
    ///   - label: The logger's label.
    ///   - steward: The started instance lines go to.
    ///   - metadataProvider: Metadata added to each line, as `LoggingSystem.bootstrap` passes it.
    ///   - options: What becomes of lines, by level.
    public init(
        label: String, steward: Steward, metadataProvider: Logger.MetadataProvider? = nil, options: Options = Options()
    ) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.sink = Sink(steward: steward, options: options)
    }

    /// The lowest level `Logger` passes on: the level set on this handler, raised to the lowest
    /// level something is done with now (one atomic load for the event's consent). While
    /// nothing is done with any line, `critical`, and `critical` lines are then ignored too.
    public var logLevel: Logger.Level {
        get { max(floor, sink.lowestLevel) }
        set { floor = newValue }
    }

    /// The handler's metadata value for `metadataKey`.
    public subscript(metadataKey metadataKey: String) -> Logger.Metadata.Value? {
        get { metadata[metadataKey] }
        set { metadata[metadataKey] = newValue }
    }

    /// Turns the line into a breadcrumb, a report or a record, as ``Options`` say.
    public func log(event: LogEvent) {
        guard event.level >= floor else { return }
        sink.log(event, label: label, handlerMetadata: metadata, provider: metadataProvider)
    }
}

/// What every copy of one handler shares: the instance, its modules and what was worked out
/// once, so a line reads no module through the facade.
final class Sink: Sendable {
    /// The declared event lines are recorded as, resolved once.
    struct Event: Sendable {
        let handle: Telemetry.EventHandle
        /// Declared attributes by name.
        let declared: [String: Telemetry.DeclaredAttribute]
        /// `message`, `level`, `logger` and `source` where the event declares them as strings.
        let message, level, logger, source: Telemetry.DeclaredAttribute?

        init(handle: Telemetry.EventHandle, declared: [String: Telemetry.DeclaredAttribute]) {
            self.handle = handle
            self.declared = declared
            func text(_ name: String) -> Telemetry.DeclaredAttribute? {
                declared[name].flatMap { $0.declaration.type == .string ? $0 : nil }
            }
            (message, level, logger, source) = (text("message"), text("level"), text("logger"), text("source"))
        }

        /// Whether the line itself fills the attribute `name` (a metadata value of that name
        /// gives way, and is never checked by the anonymiser).
        func fills(_ name: String) -> Bool {
            switch name {
            case "message": message != nil
            case "level": level != nil
            case "logger": logger != nil
            case "source": source != nil
            default: false
            }
        }
    }

    let steward: Steward
    let telemetry: Telemetry
    let crashes: CrashReporter
    let options: StewardLogHandler.Options
    /// The lowest of the breadcrumb and report levels; nil when both are off.
    let fixedLowest: Logger.Level?
    let event: Event?

    init(steward: Steward, options: StewardLogHandler.Options) {
        self.steward = steward
        telemetry = steward.telemetry
        crashes = steward.crashes
        self.options = options
        fixedLowest = [options.breadcrumbLevel, options.reportLevel].compactMap { $0 }.min()
        if let name = options.event, let handle = steward.telemetry.handle(for: name) {
            event = Event(handle: handle, declared: steward.telemetry.declarations(of: handle))
        } else {
            event = nil
            if let name = options.event {
                // Counted once per handler made, as an undeclared event is at each record.
                steward.audit.recordDropped(.usageEvents, purpose: .analytics, reason: .undeclared)
                StewardDiagnostics.emit(
                    DiagnosticEvent(
                        .warning, "logging.undeclaredEvent",
                        "Log lines are not recorded: the manifest declares no event \(name.rawValue)",
                        ["event": name.rawValue]))
            }
        }
    }

    /// Read by `Logger` on every call: no allocation, one atomic load when an event is declared.
    var lowestLevel: Logger.Level {
        guard let event, !telemetry.isDenied(event.handle) else { return fixedLowest ?? .critical }
        return fixedLowest.map { min($0, options.eventLevel) } ?? options.eventLevel
    }

    func log(
        _ line: LogEvent, label: String, handlerMetadata: Logger.Metadata, provider: Logger.MetadataProvider?
    ) {
        guard steward.isRunning else { return }
        let level = line.level
        let breadcrumb = options.breadcrumbLevel.map { level >= $0 } ?? false
        var report = options.reportLevel.map { level >= $0 } ?? false
        var record = false
        if let event, level >= options.eventLevel { record = !telemetry.isDenied(event.handle) }
        guard breadcrumb || report || record else { return }
        // Steward's own diagnostics, when the host routes `Configuration.logger` through this
        // handler: never reported or recorded again (a dropped report's warning would report
        // itself), only kept as breadcrumbs.
        if report || record, let own = line.metadata, own.keys.contains(where: { $0 == "steward.code" }) {
            (report, record) = (false, false)
            guard breadcrumb else { return }
        }
        let message = line.message.description
        let metadata = Self.merged(handlerMetadata, provider?.get(), line.metadata)
        if breadcrumb {
            crashes.addBreadcrumb(
                message: message, category: label, level: Self.breadcrumbLevel(level),
                data: Self.breadcrumbData(metadata))
        }
        if report {
            if let error = line.error {
                crashes.report(error: error, message: message + ": " + String(describing: error))
            } else {
                crashes.report(error: LoggedError(label: label, message: message), message: message)
            }
        }
        if record, let event {
            telemetry.record(
                event.handle, severityNumber: Self.severityNumber(level),
                declared: Self.attributes(
                    event, message: message, level: level, label: label, line: line, metadata: metadata))
        }
    }

    /// The handler's, the provider's and the line's metadata, later ones winning; no copy
    /// when only one of them has any.
    static func merged(
        _ handler: Logger.Metadata, _ provided: Logger.Metadata?, _ own: Logger.Metadata?
    ) -> Logger.Metadata {
        let provided = provided ?? [:], own = own ?? [:]
        switch (handler.isEmpty, provided.isEmpty, own.isEmpty) {
        case (_, true, true): return handler
        case (true, false, true): return provided
        case (true, true, false): return own
        default:
            var metadata = handler
            metadata.merge(provided) { _, new in new }
            metadata.merge(own) { _, new in new }
            return metadata
        }
    }

    /// The metadata as breadcrumb data: flattened to text, secrets' names left out. The crash
    /// reporter scrubs what is left (identifiers and secret values become placeholders), once.
    static func breadcrumbData(_ metadata: Logger.Metadata) -> [String: String] {
        guard !metadata.isEmpty else { return [:] }
        var data = [String: String](minimumCapacity: metadata.count)
        for (key, value) in metadata where !IdentifierFilter.isSecretKey(key) {
            data[key] = value.description
        }
        return data
    }

    /// The declared attributes the line fills: declared metadata keys, each converted to its
    /// declared type (or left out), then `message`, `level`, `logger` and `source` where the
    /// event declares them (`source` is worked out only then). A metadata value of one of these
    /// names gives way to the line's own.
    static func attributes(
        _ event: Event, message: String, level: Logger.Level, label: String, line: LogEvent, metadata: Logger.Metadata
    ) -> [Telemetry.DeclaredValue] {
        var values: [Telemetry.DeclaredValue] = []
        values.reserveCapacity(metadata.count + 4)
        for (key, value) in metadata {
            guard let attribute = event.declared[key], !event.fills(key),
                let converted = convert(value, to: attribute.declaration.type)
            else { continue }
            values.append(Telemetry.DeclaredValue(attribute, converted))
        }
        if let attribute = event.message { values.append(Telemetry.DeclaredValue(attribute, .string(message))) }
        if let attribute = event.level { values.append(Telemetry.DeclaredValue(attribute, .string(level.rawValue))) }
        if let attribute = event.logger { values.append(Telemetry.DeclaredValue(attribute, .string(label))) }
        if let attribute = event.source { values.append(Telemetry.DeclaredValue(attribute, .string(line.source))) }
        return values
    }

    /// `value` as `type`: text as it is (a location as its `lat,lon` text, coarsened by the
    /// anonymiser), numbers and booleans parsed; nil for nested values and what does not parse.
    static func convert(_ value: Logger.Metadata.Value, to type: AttributeType) -> AttributeValue? {
        let text: String
        switch value {
        case .string(let string): text = string
        case .stringConvertible(let convertible): text = convertible.description
        case .array, .dictionary: return nil
        }
        switch type {
        case .string, .location: return .string(text)
        case .int: return Int64(text).map { .int($0) }
        case .double: return Double(text).flatMap { $0.isFinite ? .double($0) : nil }
        case .bool: return Bool(text).map { .bool($0) }
        }
    }

    /// OpenTelemetry's severity numbers for swift-log's levels (TRACE 1, DEBUG 5, INFO 9, INFO2 10,
    /// WARN 13, ERROR 17, FATAL 21).
    static func severityNumber(_ level: Logger.Level) -> Int {
        switch level {
        case .trace: 1
        case .debug: 5
        case .info: 9
        case .notice: 10
        case .warning: 13
        case .error: 17
        case .critical: 21
        }
    }

    static func breadcrumbLevel(_ level: Logger.Level) -> Breadcrumb.Level {
        switch level {
        case .trace, .debug: .debug
        case .info, .notice: .info
        case .warning: .warning
        case .error: .error
        case .critical: .fatal
        }
    }
}

/// A log line reported as a handled error when it carries no error of its own: its description
/// is the logger's label and the message.
public struct LoggedError: Error, CustomStringConvertible, Sendable {
    /// The logger's label.
    public let label: String
    /// The line's message.
    public let message: String
    /// `label: message`.
    public var description: String { label + ": " + message }
}
