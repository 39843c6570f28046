import CStewardUdev
import Dispatch
import StewardCore
import Synchronization
import class Foundation.Thread
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The real machine's devices, read through libudev.
///
/// libudev is not thread-safe, so this source never touches a libudev object from the
/// concurrency pool: it owns one dedicated thread that creates a `udev` context when the
/// source is created, runs every enumeration on it one at a time, and frees it when the source
/// goes away. Each ``events()`` stream gets its own thread with its own context and monitor,
/// which likewise never leave that thread.
///
/// Enumeration scans sysfs, so it works without a udev daemon (containers); what only the
/// udev database provides (`ID_V4L_CAPABILITIES`, `ID_VENDOR_ID`...) is then missing from
/// ``DeviceRecord/properties``, and ``udevDatabase`` says so.
///
/// ```swift
/// let source = UdevDeviceSource()
/// let interfaces = try await source.devices(in: "net")
/// let cameras = try await source.cameras()
/// ```
public final class UdevDeviceSource: DeviceSource {
    /// The sysfs attributes copied into ``DeviceRecord/sysattrs`` when a device has them:
    /// `name` and `index` (video4linux), `id` and `pcm_class` (sound), `type` (net and
    /// others). Attributes that identify the hardware (such as `address`) are not read.
    public static let attributesOfInterest = ["name", "index", "id", "pcm_class", "type"]

    /// Whether the udev database was present when the source was created.
    public let udevDatabase: UdevAvailability

    private let runtimeDirectory: String
    /// The libudev thread (internal so tests can check that jobs run there).
    let worker: UdevThread
    /// Called on a monitor thread just before it exits (tests only).
    let monitorExited: (@Sendable () -> Void)?

    /// Creates a source and starts its libudev thread.
    ///
    /// - Parameter runtimeDirectory: udev's runtime directory, where `data/` (the database)
    ///   and `control` (the daemon's socket) live; `/run/udev` unless a test says otherwise.
    public convenience init(runtimeDirectory: String = "/run/udev") {
        self.init(runtimeDirectory: runtimeDirectory, monitorExited: nil)
    }

    init(runtimeDirectory: String, monitorExited: (@Sendable () -> Void)?) {
        self.runtimeDirectory = runtimeDirectory
        self.monitorExited = monitorExited
        let database = runtimeDirectory + "/data"
        if access(database, F_OK) == 0 {
            udevDatabase = .available
        } else {
            udevDatabase = .unavailable(
                reason: "the udev database \(database) is missing (no udev daemon, as in most "
                    + "containers): devices are enumerated from sysfs without udev properties")
        }
        worker = UdevThread()
    }

    deinit {
        worker.stop()
    }

    /// The devices of `subsystem`, enumerated on the libudev thread.
    ///
    /// - Throws: `SystemError` when libudev cannot create its context or scan sysfs.
    public func devices(in subsystem: String) async throws -> [DeviceRecord] {
        try await worker.run { context in
            try Self.enumerate(context, subsystem: subsystem)
        }
    }

    /// Hotplug events from a udev monitor (the "udev" netlink group: events after udev's rules
    /// have run).
    ///
    /// Where no udev daemon runs (no `control` socket in the runtime directory) or the monitor
    /// cannot be set up, the stream yields ``DeviceEvent/unavailable(reason:)`` once and
    /// finishes. Otherwise a dedicated thread polls the monitor with a 250 ms timeout and stops
    /// within that time once the stream is cancelled or dropped.
    /// Why no udev daemon is listening on `control`, or nil when one is: the control file must
    /// be a socket that accepts a connection (a stale socket, a plain file or a host's
    /// `/run/udev` bind-mounted into a container do not).
    static func daemonProblem(control: String) -> String? {
        var st = stat()
        guard stat(control, &st) == 0 else { return "\(control) does not exist (a container?)" }
        guard (st.st_mode & S_IFMT) == S_IFSOCK else { return "\(control) is not a socket" }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return "cannot create a socket to reach \(control)" }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(control.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            return "\(control) is too long a socket path"
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return connected == 0 ? nil : "nothing answers on \(control) (\(String(cString: strerror(errno))))"
    }

    /// Hotplug events from a udev monitor on a thread of the stream's own, from now on, until the
    /// consuming task is cancelled (the newest 256 are buffered).
    ///
    /// Without a udev daemon (nothing answers on the `control` socket of the runtime directory,
    /// `/run/udev` by default, as in most containers) the stream yields
    /// ``DeviceEvent/unavailable(reason:)`` once and finishes.
    public func events() -> AsyncStream<DeviceEvent> {
        let (stream, continuation) = AsyncStream.makeStream(
            of: DeviceEvent.self, bufferingPolicy: .bufferingNewest(256))
        let control = runtimeDirectory + "/control"
        if let problem = Self.daemonProblem(control: control) {
            continuation.yield(.unavailable(reason: "no udev daemon: \(problem), so hotplug events cannot be received"))
            continuation.finish()
            return stream
        }
        let stop = StopFlag()
        continuation.onTermination = { _ in stop.set() }
        let exited = monitorExited
        StewardThread.start(name: "steward.udev-monitor") {
            Self.monitor(continuation: continuation, stop: stop)
            exited?()
        }
        return stream
    }

    // MARK: - On the libudev thread only

    private static func enumerate(_ context: UdevContext, subsystem: String) throws -> [DeviceRecord] {
        guard let udev = context.udev else {
            throw SystemError(call: "udev_new", errno: context.creationErrno)
        }
        guard let enumerator = udev_enumerate_new(udev) else {
            throw SystemError(call: "udev_enumerate_new", errno: errno)
        }
        defer { udev_enumerate_unref(enumerator) }
        var status = udev_enumerate_add_match_subsystem(enumerator, subsystem)
        if status < 0 {
            throw SystemError(call: "udev_enumerate_add_match_subsystem", path: subsystem, errno: -status)
        }
        status = udev_enumerate_scan_devices(enumerator)
        if status < 0 {
            throw SystemError(call: "udev_enumerate_scan_devices", path: subsystem, errno: -status)
        }
        var records: [DeviceRecord] = []
        var entry = udev_enumerate_get_list_entry(enumerator)
        while let current = entry {
            // A device that went away between the scan and now is skipped.
            if let path = udev_list_entry_get_name(current),
                let device = udev_device_new_from_syspath(udev, path)
            {
                records.append(record(of: device))
                udev_device_unref(device)
            }
            entry = udev_list_entry_get_next(current)
        }
        return records
    }

    private static func record(of device: OpaquePointer) -> DeviceRecord {
        // String(cString:) repairs invalid UTF-8, so odd sysfs bytes never trap.
        func string(_ pointer: UnsafePointer<CChar>?) -> String? {
            pointer.map { String(cString: $0) }
        }
        var properties: [String: String] = [:]
        var entry = udev_device_get_properties_list_entry(device)
        while let current = entry {
            if let name = string(udev_list_entry_get_name(current)) {
                properties[name] = string(udev_list_entry_get_value(current)) ?? ""
            }
            entry = udev_list_entry_get_next(current)
        }
        var sysattrs: [String: String] = [:]
        for attribute in attributesOfInterest {
            if let value = string(udev_device_get_sysattr_value(device, attribute)) {
                sysattrs[attribute] = value
            }
        }
        // The parent belongs to the device: not unreferenced here.
        let usb = udev_device_get_parent_with_subsystem_devtype(device, "usb", "usb_device")
        return DeviceRecord(
            syspath: string(udev_device_get_syspath(device)) ?? "",
            subsystem: string(udev_device_get_subsystem(device)) ?? "",
            sysname: string(udev_device_get_sysname(device)) ?? "",
            devtype: string(udev_device_get_devtype(device)),
            devnode: string(udev_device_get_devnode(device)),
            properties: properties,
            sysattrs: sysattrs,
            usbVendorID: usb.flatMap { string(udev_device_get_sysattr_value($0, "idVendor")) },
            usbProductID: usb.flatMap { string(udev_device_get_sysattr_value($0, "idProduct")) })
    }

    /// Runs on a monitor thread for the stream's whole life; every libudev object it makes is
    /// made, used and freed here.
    private static func monitor(continuation: AsyncStream<DeviceEvent>.Continuation, stop: StopFlag) {
        defer { continuation.finish() }
        func unavailable(_ call: String, _ code: Int32) {
            let reason = String(cString: strerror(code))
            continuation.yield(.unavailable(reason: "\(call) failed: \(reason) (errno \(code))"))
        }
        guard let udev = udev_new() else { return unavailable("udev_new", errno) }
        defer { udev_unref(udev) }
        guard let monitor = udev_monitor_new_from_netlink(udev, "udev") else {
            return unavailable("udev_monitor_new_from_netlink", errno)
        }
        defer { udev_monitor_unref(monitor) }
        let status = udev_monitor_enable_receiving(monitor)
        if status < 0 { return unavailable("udev_monitor_enable_receiving", -status) }
        let fd = udev_monitor_get_fd(monitor)
        if fd < 0 { return unavailable("udev_monitor_get_fd", -fd) }
        while !stop.isSet {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 250)
            if ready < 0 {
                let code = errno
                if code == EINTR { continue }
                return unavailable("poll", code)
            }
            if ready == 0 { continue }
            // The monitor socket is non-blocking: nil means nothing (complete) to read.
            guard let device = udev_monitor_receive_device(monitor) else { continue }
            let action = udev_device_get_action(device).map { String(cString: $0) } ?? "change"
            let record = record(of: device)
            udev_device_unref(device)
            let event: DeviceEvent
            switch action {
            case "add": event = .added(record)
            case "remove": event = .removed(record)
            default: event = .changed(record)
            }
            if case .terminated = continuation.yield(event) { return }
        }
    }
}

/// A libudev context as a job on ``UdevThread`` sees it.
struct UdevContext {
    /// The context, or nil when `udev_new` failed.
    let udev: OpaquePointer?
    /// `errno` from `udev_new` when it failed.
    let creationErrno: Int32
}

/// One dedicated thread that owns a libudev context for its whole life and runs jobs on it
/// one at a time, in order. Nothing else ever sees the context.
final class UdevThread: Sendable {
    private enum Job: Sendable {
        case work(@Sendable (UdevContext) -> Void)
        case stop
    }

    private final class Queue: Sendable {
        let jobs = Mutex<[Job]>([])
        let wakeup = DispatchSemaphore(value: 0)

        func push(_ job: Job) {
            jobs.withLock { $0.append(job) }
            wakeup.signal()
        }

        func pop() -> Job {
            while true {
                wakeup.wait()
                if let job = jobs.withLock({ $0.isEmpty ? nil : $0.removeFirst() }) { return job }
            }
        }
    }

    private let queue = Queue()

    init() {
        let queue = self.queue
        StewardThread.start(name: "steward.udev") {
            let udev = udev_new()
            let context = UdevContext(udev: udev, creationErrno: udev == nil ? errno : 0)
            defer { if let udev { udev_unref(udev) } }
            while case .work(let body) = queue.pop() {
                body(context)
            }
        }
    }

    /// Runs `body` on the thread and returns what it returns or throws.
    func run<T: Sendable>(_ body: @escaping @Sendable (UdevContext) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.push(
                .work { context in
                    continuation.resume(with: Result { try body(context) })
                })
        }
    }

    /// Ends the thread after the jobs already queued; the context is freed on the thread.
    func stop() {
        queue.push(.stop)
    }
}

/// A flag the stream's termination handler sets and the monitor thread polls.
private final class StopFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var isSet: Bool { flag.load(ordering: .acquiring) }

    func set() { flag.store(true, ordering: .releasing) }
}
