public import StewardDevice

/// A `DeviceSource` that serves a described device: fixed records per subsystem and a scripted
/// list of hotplug events. For testing code that lists cameras, microphones, GNSS receivers or
/// network interfaces without the hardware.
///
/// ```swift
/// let source = FixtureDeviceSource(
///     devices: ["video4linux": [
///         DeviceRecord(syspath: "/sys/devices/usb1/video4linux/video0", subsystem: "video4linux",
///                      sysname: "video0", properties: ["ID_V4L_CAPABILITIES": ":capture:"]),
///     ]],
///     events: [.unavailable(reason: "no udev daemon")])
/// let cameras = try await source.cameras()   // video0
/// ```
public struct FixtureDeviceSource: DeviceSource {
    /// The records served by ``devices(in:)``, keyed by subsystem.
    public var records: [String: [DeviceRecord]]
    /// The events every ``events()`` stream yields, in order, before it finishes.
    public var scriptedEvents: [DeviceEvent]
    /// What ``udevDatabase`` reports.
    public var udevDatabase: UdevAvailability

    /// Creates a described device.
    ///
    /// - Parameters:
    ///   - devices: Records per subsystem; a subsystem not listed has no devices.
    ///   - events: The events each ``events()`` stream yields before finishing.
    ///   - udevDatabase: Whether the udev database is to be reported as there.
    public init(
        devices: [String: [DeviceRecord]] = [:],
        events: [DeviceEvent] = [],
        udevDatabase: UdevAvailability = .available
    ) {
        self.records = devices
        self.scriptedEvents = events
        self.udevDatabase = udevDatabase
    }

    /// Creates a described device from a flat list, grouped by each record's subsystem.
    public init(
        records: [DeviceRecord],
        events: [DeviceEvent] = [],
        udevDatabase: UdevAvailability = .available
    ) {
        self.init(
            devices: Dictionary(grouping: records, by: \.subsystem),
            events: events,
            udevDatabase: udevDatabase)
    }

    /// The records of `subsystem`, or none.
    public func devices(in subsystem: String) async throws -> [DeviceRecord] {
        records[subsystem] ?? []
    }

    /// A stream of ``scriptedEvents`` that then finishes.
    public func events() -> AsyncStream<DeviceEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: DeviceEvent.self)
        for event in scriptedEvents { continuation.yield(event) }
        continuation.finish()
        return stream
    }
}
