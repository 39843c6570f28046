internal import CStewardCrash
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// An error from installing or feeding the crash handler.
///
/// Compare ``code`` against the static members of ``CrashHandlerError/Code``; codes may be
/// added later without breaking clients.
package struct CrashHandlerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong, as an extensible set of codes.
    package struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case alreadyInstalled, notInstalled, folderUnusable, contextTooLarge, system
        }
        private let value: Value
        private init(_ value: Value) { self.value = value }

        /// The handler is installed already (one per process: signal handlers are process-wide).
        package static let alreadyInstalled = Code(.alreadyInstalled)
        /// The handler is not installed.
        package static let notInstalled = Code(.notInstalled)
        /// The crash folder could not be opened.
        package static let folderUnusable = Code(.folderUnusable)
        /// The context blob is larger than the handler can carry.
        package static let contextTooLarge = Code(.contextTooLarge)
        /// A system call failed (mmap, sigaltstack, sigaction).
        package static let system = Code(.system)

        package var description: String { "\(value)" }
    }

    /// What went wrong.
    package let code: Code
    /// What happened and what to do.
    package let message: String
    /// The `errno` value behind it, when there is one.
    package let errno: Int32?

    init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    package var description: String { "CrashHandlerError(\(code)): \(message)" }
}

/// The Swift side of `CStewardCrash`: the process-wide signal handler that writes a raw crash
/// record (Documentation/CrashRecordFormat.md), its breadcrumb ring and its context blob.
///
/// A process-wide singleton because signal handlers are one per process; `CrashReporter` is the
/// only caller outside the tests.
package enum CrashHandler {
    /// Installs the handlers for SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT and SIGTRAP (after the
    /// Swift runtime's, so ours runs first and chains to it), gives the calling thread an
    /// alternate stack and opens `directory` (which must exist, 0700) for records.
    ///
    /// - Throws: ``CrashHandlerError`` `.alreadyInstalled`, `.folderUnusable`, `.system`.
    package static func install(directory: String) throws {
        let result = steward_crash_install(directory)
        switch result {
        case 0: return
        case EALREADY:
            throw CrashHandlerError(
                .alreadyInstalled,
                "the crash handler is installed already; uninstall it first or keep the one installed",
                errno: result)
        case ENOENT, ENOTDIR, EACCES, EPERM, ELOOP, ENAMETOOLONG:
            throw CrashHandlerError(
                .folderUnusable,
                "the crash folder \(directory) cannot be opened (\(reason(result))); create it (mode 0700) before installing",
                errno: result)
        default:
            throw CrashHandlerError(
                .system, "installing the crash handler failed: \(reason(result)); crashes will not be recorded",
                errno: result)
        }
    }

    /// Turns copying the Swift runtime's fatal error message into records on or off; returns
    /// whether the runtime offers one (`swift_getFatalErrorMessageBuffer`). Not signal-safe
    /// (dlsym): at install.
    @discardableResult
    package static func setFatalMessageCapture(_ enabled: Bool) -> Bool {
        steward_crash_set_fatal_message_capture(enabled ? 1 : 0) != 0
    }

    /// Restores the previous handlers and closes the folder. Does nothing when not installed.
    package static func uninstall() {
        _ = steward_crash_uninstall()
    }

    /// Whether the handlers are installed.
    package static var isInstalled: Bool { steward_crash_is_installed() != 0 }

    /// Turns writing records on or off (off until consent is applied, and while crash
    /// reporting is denied or pending under a policy that keeps nothing on disk).
    package static func setRecording(_ enabled: Bool) { steward_crash_set_recording(enabled ? 1 : 0) }

    /// Sets the key the handler seals records with, and the salt it was derived with (written
    /// in every record's header). Without a key the handler writes nothing.
    package static func setRecordKey(_ key: [UInt8], salt: [UInt8]) {
        precondition(key.count == 32 && salt.count == 16, "a record key is 32 bytes, its salt 16")
        steward_crash_set_record_key(key, salt)
    }

    /// Forgets the record key: records stop until one is set again.
    package static func clearRecordKey() { steward_crash_clear_record_key() }

    /// Gives the calling thread its own alternate signal stack (once per thread), so that a
    /// stack overflow on it is still recorded. Call it first thing on threads you create.
    ///
    /// - Throws: ``CrashHandlerError`` `.system` when the stack could not be mapped.
    package static func prepareCurrentThread() throws {
        let result = steward_crash_prepare_thread()
        guard result == 0 else {
            throw CrashHandlerError(
                .system,
                "no alternate signal stack for this thread (\(reason(result))); a stack overflow on it will not be recorded",
                errno: result)
        }
    }

    /// Whether the calling thread has an alternate signal stack of at least 64 KiB (Steward's,
    /// or one the runtime or the app gave it).
    package static var isCurrentThreadPrepared: Bool { steward_crash_thread_prepared() != 0 }

    /// Routes the Swift concurrency pool's jobs so that each worker thread prepares itself
    /// before it runs one (on), or stops routing them (off).
    ///
    /// - Throws: ``CrashHandlerError`` `.system` with ENOSYS when the runtime has no global
    ///   executor hook, EBUSY when another hook is set (left in place).
    package static func prepareConcurrencyThreads(_ enabled: Bool) throws {
        let result = steward_crash_prepare_concurrency_threads(enabled ? 1 : 0)
        switch result {
        case 0: return
        case EBUSY:
            throw CrashHandlerError(
                .system,
                "the Swift concurrency runtime's global executor hook is set by someone else (a custom executor); it is left in place, and call CrashReporter.prepareCurrentThread() in your tasks instead",
                errno: result)
        default:
            throw CrashHandlerError(
                .system,
                "this Swift runtime has no global executor hook (\(reason(result))); concurrency threads stay unprepared",
                errno: result)
        }
    }

    /// How many jobs were routed through the concurrency hook so far (tests, measurements).
    package static var concurrencyJobsRouted: UInt64 { steward_crash_concurrency_jobs_routed() }

    /// The most frames a record holds per unwinding method.
    package static let framesCapacity = Int(STEWARD_CRASH_FRAMES_MAX)
    /// The size of one `steward_crash_breadcrumb_t` in a BREADCRUMBS section.
    static let breadcrumbStride = MemoryLayout<steward_crash_breadcrumb_t>.stride

    /// The most bytes ``setContext(_:)`` accepts.
    package static let contextCapacity = Int(STEWARD_CRASH_CONTEXT_MAX)

    /// Replaces the context blob the next record carries.
    ///
    /// - Throws: ``CrashHandlerError`` `.contextTooLarge` above ``contextCapacity`` bytes.
    package static func setContext(_ bytes: [UInt8]) throws {
        let result = bytes.withUnsafeBytes { steward_crash_set_context($0.baseAddress, $0.count) }
        switch result {
        case 0: return
        case EMSGSIZE:
            throw CrashHandlerError(
                .contextTooLarge,
                "the crash context is \(bytes.count) bytes, more than the \(contextCapacity) a record carries; shorten its values",
                errno: result)
        default:
            throw CrashHandlerError(.system, "setting the crash context failed: \(reason(result))", errno: result)
        }
    }

    /// Adds a breadcrumb to the ring (lock-free; texts are cut to the ring's fixed sizes at a
    /// character boundary). `data` is stored as `key=value` lines, sorted by key.
    package static func addBreadcrumb(_ breadcrumb: Breadcrumb) {
        let milliseconds = breadcrumb.timestamp.timeIntervalSince1970 * 1000
        let timestamp: UInt64 =
            milliseconds.isFinite && milliseconds > 0 && milliseconds < 1.8e19 ? UInt64(milliseconds) : 0
        let data = breadcrumb.data.keys.sorted().map { "\($0)=\(breadcrumb.data[$0] ?? "")\n" }.joined()
        steward_crash_add_breadcrumb(
            timestamp, levelCode(breadcrumb.level), breadcrumb.category, breadcrumb.message, data)
    }

    /// The breadcrumbs in the ring, oldest first (for handled reports).
    package static func breadcrumbs(before position: UInt64? = nil) -> [Breadcrumb] {
        let capacity = Int(STEWARD_CRASH_BREADCRUMB_COUNT)
        var raw = [steward_crash_breadcrumb_t](repeating: steward_crash_breadcrumb_t(), count: capacity)
        let count = raw.withUnsafeMutableBufferPointer {
            steward_crash_copy_breadcrumbs_before($0.baseAddress, capacity, position ?? .max)
        }
        return raw.prefix(count).compactMap { entry in
            withUnsafeBytes(of: entry) { RawCrashRecord.breadcrumb(from: Array($0)) }
        }
    }

    /// Test hook: writes a record for `signal` as the handler would, without a crash.
    ///
    /// - Throws: ``CrashHandlerError`` `.notInstalled`, or `.system` when writing failed.
    package static func testWriteRecord(signal: Int32) throws {
        let result = steward_crash_test_write_record(signal)
        switch result {
        case 0: return
        case EINVAL:
            throw CrashHandlerError(
                .notInstalled, "install the crash handler before writing a test record", errno: result)
        default: throw CrashHandlerError(.system, "writing the test record failed: \(reason(result))", errno: result)
        }
    }

    /// Test hook: makes the handler call malloc once (the tests' allocation probe must see it).
    package static func testAllocateInHandler(_ enabled: Bool) {
        steward_crash_test_allocate_in_handler(enabled ? 1 : 0)
    }

    /// Whether the calling thread is inside the handler right now.
    package static var isHandlerActiveOnThisThread: Bool { steward_crash_handler_active() != 0 }

    /// The C level of a breadcrumb level (0 debug ... 4 fatal).
    static func levelCode(_ level: Breadcrumb.Level) -> UInt8 {
        switch level {
        case .debug: 0
        case .info: 1
        case .warning: 2
        case .error: 3
        case .fatal: 4
        }
    }

    private static func reason(_ code: Int32) -> String {
        "\(String(cString: strerror(code))) (errno \(code))"
    }
}
