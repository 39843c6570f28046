/// A crash reporter that cannot be set up; the message says why and what to do.
public struct CrashReporterError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable { case alreadyInstalled, install, threads, hangWatch }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The process has crash handlers installed already.
        public static let alreadyInstalled = Code(.alreadyInstalled)
        /// The crash folder or the handlers could not be set up.
        public static let install = Code(.install)
        /// A thread could not be given its alternate signal stack, or the Swift concurrency
        /// pool's threads cannot be prepared (no hook in this runtime, or another one is set).
        public static let threads = Code(.threads)
        /// A hang watch could not start (no free realtime signal to sample stacks with).
        public static let hangWatch = Code(.hangWatch)

        /// The code's name.
        public var description: String { "\(value)" }
    }

    /// What went wrong.
    public let code: Code
    /// What is wrong, and what would work.
    public let message: String

    init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// The message.
    public var description: String { message }
}
