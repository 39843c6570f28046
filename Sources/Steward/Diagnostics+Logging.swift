import Logging
import StewardCore

extension StewardDiagnostics {
    /// A handler that writes each event to `logger`: the event's sentence as the message, its
    /// code and metadata as the log's metadata, its level as the log level.
    static func writing(to logger: Logger) -> @Sendable (DiagnosticEvent) -> Void {
        { event in
            var metadata: Logger.Metadata = ["steward.code": .string(event.code)]
            for (key, value) in event.metadata { metadata["steward." + key] = .string(value) }
            let level: Logger.Level =
                switch event.level {
                case .debug: .debug
                case .info: .info
                case .notice: .notice
                case .warning: .warning
                case .error: .error
                }
            logger.log(level: level, "\(event.message)", metadata: metadata)
        }
    }
}
