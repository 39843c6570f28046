public import Foundation
public import StewardCore

/// One crash (or handled error), ready for the vault and for a backend: symbolicated,
/// scrubbed of personal data, with the device and app context it happened in.
public struct CrashReport: Codable, Hashable, Sendable, Identifiable {
    /// The event id: 32 lowercase hex digits (Sentry's `event_id`).
    public var id: String
    /// When it happened.
    public var timestamp: Date
    /// False for a crash caught by the signal handler, true for ``CrashReporter/report(error:message:)``.
    public var handled: Bool
    /// True when the raw record was damaged or truncated and only part of it could be read.
    public var partial: Bool
    /// The fatal signal, for crashes.
    public var signal: CrashSignal?
    /// The error, for handled reports (and for runtime messages such as a Swift fatal error).
    public var error: CrashError?
    /// The thread that crashed (or reported), frames innermost first.
    public var crashedThread: CrashThread
    /// The other threads, when a runtime backtrace was merged in.
    public var otherThreads: [CrashThread]
    /// The loaded images the frames point into.
    public var images: [BinaryImage]
    /// The last breadcrumbs before the crash, oldest first.
    public var breadcrumbs: [Breadcrumb]
    /// Release, environment, session, device and OS.
    public var context: CrashContext
    /// Seconds from the crash handler's installation to the crash (launch-crash detection).
    public var secondsSinceStart: Double?
    /// Nanoseconds the handler took from the signal to the end of writing the record
    /// (before fsync): measured in the handler itself.
    public var handlerNanoseconds: UInt64?
    /// Whether the Swift runtime's own JSON backtrace was merged in.
    public var runtimeBacktraceMerged: Bool
    /// Problems met while reading the raw record, for the record (never personal data).
    public var salvageNotes: [String]
    /// The trace and span the reporting code ran in, for handled errors reported while the host
    /// traced its work (`TraceContext/current`); nil otherwise and for crashes.
    public var trace: TraceContext?
    /// For a process the kernel's OOM killer ended: the memory cgroup's evidence, found at the
    /// next launch (the report has no signal and no stack: nothing ran at the kill); nil
    /// otherwise.
    public var outOfMemory: OutOfMemoryKill?
    /// For a hang the watchdog saw (``CrashReporter/watchForHangs(name:threshold:)``): which
    /// watch, its threshold, how long it had lasted; nil otherwise.
    public var hang: AppHang?

    /// A report; see the properties.
    public init(
        id: String, timestamp: Date, handled: Bool, partial: Bool = false, signal: CrashSignal? = nil,
        error: CrashError? = nil, crashedThread: CrashThread, otherThreads: [CrashThread] = [],
        images: [BinaryImage] = [], breadcrumbs: [Breadcrumb] = [], context: CrashContext = CrashContext(),
        secondsSinceStart: Double? = nil, handlerNanoseconds: UInt64? = nil,
        runtimeBacktraceMerged: Bool = false, salvageNotes: [String] = [], trace: TraceContext? = nil,
        outOfMemory: OutOfMemoryKill? = nil, hang: AppHang? = nil
    ) {
        self.id = id
        self.timestamp = timestamp
        self.handled = handled
        self.partial = partial
        self.signal = signal
        self.error = error
        self.crashedThread = crashedThread
        self.otherThreads = otherThreads
        self.images = images
        self.breadcrumbs = breadcrumbs
        self.context = context
        self.secondsSinceStart = secondsSinceStart
        self.handlerNanoseconds = handlerNanoseconds
        self.runtimeBacktraceMerged = runtimeBacktraceMerged
        self.salvageNotes = salvageNotes
        self.trace = trace
        self.outOfMemory = outOfMemory
        self.hang = hang
    }
}

/// What Linux kept of an OOM kill: the process's memory cgroup, its limit and peak, and how many
/// OOM kills the cgroup counted while the session was open (a cgroup shared with other processes
/// may count theirs too; see Crash.md, "Deaths without a signal").
public struct OutOfMemoryKill: Codable, Hashable, Sendable {
    /// The memory cgroup's path (scrubbed), as `/proc/self/cgroup` gave it at the session's start.
    public var cgroup: String
    /// The cgroup version: 1 (`memory.oom_control`) or 2 (`memory.events`).
    public var cgroupVersion: Int
    /// The cgroup's memory limit in bytes at the next launch; nil without a limit.
    public var limit: UInt64?
    /// The most memory the cgroup used, in bytes, at the next launch; nil when unknown.
    public var peak: UInt64?
    /// OOM kills the cgroup counted between the session's start and the next launch (at least 1).
    public var kills: UInt64

    /// An OOM kill; see the properties.
    public init(cgroup: String, cgroupVersion: Int, limit: UInt64? = nil, peak: UInt64? = nil, kills: UInt64) {
        self.cgroup = cgroup
        self.cgroupVersion = cgroupVersion
        self.limit = limit
        self.peak = peak
        self.kills = kills
    }
}

/// A fatal signal.
public struct CrashSignal: Codable, Hashable, Sendable {
    /// The signal number (11 for SIGSEGV).
    public var number: Int32
    /// Its name: SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTRAP.
    public var name: String
    /// `si_code`.
    public var code: Int32
    /// The name of `si_code` where known (SEGV_MAPERR, FPE_INTDIV, …).
    public var codeName: String?
    /// The faulting address, for SIGSEGV, SIGBUS, SIGILL, SIGFPE.
    public var faultAddress: UInt64?

    /// A signal; see the properties.
    public init(number: Int32, name: String, code: Int32, codeName: String? = nil, faultAddress: UInt64? = nil) {
        self.number = number
        self.name = name
        self.code = code
        self.codeName = codeName
        self.faultAddress = faultAddress
    }
}

/// An error: its type and message (scrubbed).
public struct CrashError: Codable, Hashable, Sendable {
    /// The type (`DecodingError`, `Fatal error`).
    public var type: String
    /// The message.
    public var message: String

    /// An error; see the properties.
    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }
}

/// A thread and its stack.
public struct CrashThread: Codable, Hashable, Sendable {
    /// The kernel thread id.
    public var id: Int64
    /// Its name, when it had one.
    public var name: String?
    /// Frames, innermost first (Sentry wants them oldest first: the encoder reverses them).
    public var frames: [StackFrame]
    /// Register values by name, for the crashing thread.
    public var registers: [String: UInt64]
    /// Whether this thread crashed.
    public var crashed: Bool

    /// A thread; see the properties.
    public init(
        id: Int64, name: String? = nil, frames: [StackFrame] = [], registers: [String: UInt64] = [:],
        crashed: Bool = true
    ) {
        self.id = id
        self.name = name
        self.frames = frames
        self.registers = registers
        self.crashed = crashed
    }
}

/// One stack frame.
public struct StackFrame: Codable, Hashable, Sendable {
    /// The instruction address (the faulting one for the innermost frame; otherwise the return
    /// address).
    public var instructionAddress: UInt64
    /// The function, demangled, when known.
    public var function: String?
    /// The image's path (scrubbed): Sentry's `package`.
    public var package: String?
    /// The source file, when debug information was found.
    public var filename: String?
    /// The source line, when debug information was found.
    public var line: Int?
    /// The source column, when debug information has one (Sentry's `colno`).
    public var column: Int?
    /// The image's load address (for `debug_meta`).
    public var imageAddress: UInt64?
    /// The address of the symbol the instruction is in.
    public var symbolAddress: UInt64?
    /// Whether this frame is a call that the compiler inlined into the next frame: both share
    /// the instruction address, as Sentry expects inlined frames to.
    public var isInlined: Bool

    /// A frame; see the properties.
    public init(
        instructionAddress: UInt64, function: String? = nil, package: String? = nil, filename: String? = nil,
        line: Int? = nil, column: Int? = nil, imageAddress: UInt64? = nil, symbolAddress: UInt64? = nil,
        isInlined: Bool = false
    ) {
        self.instructionAddress = instructionAddress
        self.function = function
        self.package = package
        self.filename = filename
        self.line = line
        self.column = column
        self.imageAddress = imageAddress
        self.symbolAddress = symbolAddress
        self.isInlined = isInlined
    }

    private enum CodingKeys: String, CodingKey {
        case instructionAddress, function, package, filename, line, column, imageAddress, symbolAddress, isInlined
    }

    /// Decodes a frame; reports stored before columns and inlined frames existed decode too.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        instructionAddress = try container.decode(UInt64.self, forKey: .instructionAddress)
        function = try container.decodeIfPresent(String.self, forKey: .function)
        package = try container.decodeIfPresent(String.self, forKey: .package)
        filename = try container.decodeIfPresent(String.self, forKey: .filename)
        line = try container.decodeIfPresent(Int.self, forKey: .line)
        column = try container.decodeIfPresent(Int.self, forKey: .column)
        imageAddress = try container.decodeIfPresent(UInt64.self, forKey: .imageAddress)
        symbolAddress = try container.decodeIfPresent(UInt64.self, forKey: .symbolAddress)
        isInlined = try container.decodeIfPresent(Bool.self, forKey: .isInlined) ?? false
    }

    /// Encodes a frame: absent values and `isInlined` when false are left out.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(instructionAddress, forKey: .instructionAddress)
        try container.encodeIfPresent(function, forKey: .function)
        try container.encodeIfPresent(package, forKey: .package)
        try container.encodeIfPresent(filename, forKey: .filename)
        try container.encodeIfPresent(line, forKey: .line)
        try container.encodeIfPresent(column, forKey: .column)
        try container.encodeIfPresent(imageAddress, forKey: .imageAddress)
        try container.encodeIfPresent(symbolAddress, forKey: .symbolAddress)
        if isInlined { try container.encode(true, forKey: .isInlined) }
    }
}

/// A loaded ELF image.
public struct BinaryImage: Codable, Hashable, Sendable {
    /// Its path (scrubbed).
    public var path: String
    /// The lowest address it is mapped at (its load address).
    public var start: UInt64
    /// One past its highest mapped address.
    public var end: UInt64
    /// Its GNU build ID in hex (Sentry's `code_id`), when it has one.
    public var buildID: String?

    /// An image; see the properties.
    public init(path: String, start: UInt64, end: UInt64, buildID: String? = nil) {
        self.path = path
        self.start = start
        self.end = end
        self.buildID = buildID
    }

    /// Sentry's `debug_id`: the first 16 bytes of the build ID as a little-endian GUID
    /// (the first three fields byte-swapped), zero-padded when shorter; nil without a build ID.
    public var debugID: String? {
        guard let buildID, let bytes = BinaryImage.bytes(hex: buildID), !bytes.isEmpty else { return nil }
        var b = Array(bytes.prefix(16))
        while b.count < 16 { b.append(0) }
        let swapped = [b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6]] + b[8...]
        let hex = Array(Hex.encode(swapped))
        return
            "\(String(hex[0..<8]))-\(String(hex[8..<12]))-\(String(hex[12..<16]))-\(String(hex[16..<20]))-\(String(hex[20..<32]))"
    }

    static func bytes(hex: String) -> [UInt8]? { Hex.decode(hex) }
}

/// A breadcrumb: something that happened before the crash.
public struct Breadcrumb: Codable, Hashable, Sendable {
    /// Severity.
    public enum Level: String, Codable, Hashable, Sendable, CaseIterable {
        /// Debugging detail.
        case debug
        /// Information.
        case info
        /// A warning.
        case warning
        /// An error.
        case error
        /// A fatal error.
        case fatal
    }

    /// When.
    public var timestamp: Date
    /// Severity.
    public var level: Level
    /// A category such as `navigation` or `http`.
    public var category: String
    /// What happened.
    public var message: String
    /// Extra values.
    public var data: [String: String]

    /// A breadcrumb; see the properties.
    public init(timestamp: Date, level: Level = .info, category: String, message: String, data: [String: String] = [:])
    {
        self.timestamp = timestamp
        self.level = level
        self.category = category
        self.message = message
        self.data = data
    }
}

/// The app and device a report comes from.
public struct CrashContext: Codable, Hashable, Sendable {
    /// The release (`scanner@1.4.2`).
    public var release: String?
    /// The environment (`production`).
    public var environment: String?
    /// The distribution of the release (Sentry's `dist`: a build number, a package variant).
    public var dist: String?
    /// The session id (for crash-free rates).
    public var sessionID: String?
    /// The app-scoped device id: never the raw machine id.
    public var deviceID: String?
    /// The OS name.
    public var osName: String?
    /// The OS version.
    public var osVersion: String?
    /// The kernel release.
    public var kernelVersion: String?
    /// The hardware model.
    public var model: String?
    /// The CPU architecture.
    public var arch: String?
    /// The executable's file name.
    public var executable: String?

    /// A context; see the properties.
    public init(
        release: String? = nil, environment: String? = nil, sessionID: String? = nil, deviceID: String? = nil,
        osName: String? = nil, osVersion: String? = nil, kernelVersion: String? = nil, model: String? = nil,
        arch: String? = nil, executable: String? = nil, dist: String? = nil
    ) {
        self.release = release
        self.environment = environment
        self.dist = dist
        self.sessionID = sessionID
        self.deviceID = deviceID
        self.osName = osName
        self.osVersion = osVersion
        self.kernelVersion = kernelVersion
        self.model = model
        self.arch = arch
        self.executable = executable
    }
}
