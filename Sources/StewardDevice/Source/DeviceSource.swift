/// Where device records come from: the udev view of the kernel's devices, or a fixture.
///
/// A source enumerates the devices of one subsystem, reports whether the udev database is
/// there to enrich them, and streams hotplug events. ``UdevDeviceSource`` reads the real
/// machine through libudev; `FixtureDeviceSource` in StewardTesting replays a described one.
/// The classifying helpers (``cameras()``, ``audioCaptureDevices()``, ``gnssReceivers()``)
/// are written once, in an extension, on top of these requirements.
///
/// Implementers must guarantee:
/// - ``devices(in:)`` returns every device of the subsystem the source can see, and may be
///   called from any task, concurrently.
/// - ``events()`` never hangs silently: when hotplug events cannot be delivered the stream
///   yields ``DeviceEvent/unavailable(reason:)`` once and finishes. Cancelling the consuming
///   task (or dropping the stream) stops whatever feeds it.
///
/// ```swift
/// let source = UdevDeviceSource()
/// let cameras = try await source.cameras()
/// if case .unavailable(let reason) = cameras.udevDatabase { print("partial: \(reason)") }
/// for await event in source.events() { print(event) }
/// ```
public protocol DeviceSource: Sendable {
    /// The devices of `subsystem` ("net", "video4linux", "sound", "gnss", "tty"...).
    ///
    /// - Throws: when the source cannot enumerate at all (for libudev: no context, or the
    ///   scan of sysfs failed). An empty subsystem is an empty array, not an error.
    func devices(in subsystem: String) async throws -> [DeviceRecord]

    /// Whether the udev database is there, so that ``DeviceRecord/properties`` carry what
    /// udev rules add (`ID_V4L_CAPABILITIES`, `ID_VENDOR_ID`...) and not just the kernel's
    /// uevent keys.
    var udevDatabase: UdevAvailability { get }

    /// Hotplug events, from now on, until the consuming task is cancelled.
    ///
    /// Where events cannot be delivered (no udev daemon) the stream yields
    /// ``DeviceEvent/unavailable(reason:)`` once and finishes.
    func events() -> AsyncStream<DeviceEvent>
}

/// Whether something that needs the udev daemon or its database can be had on this machine.
public enum UdevAvailability: Hashable, Sendable, Codable {
    /// It is there.
    case available
    /// It is not; `reason` says what was missing (for example, no `/run/udev/data` in a
    /// container without a udev daemon).
    case unavailable(reason: String)

    /// Whether this is ``available``.
    public var isAvailable: Bool {
        if case .available = self { return true }
        return false
    }
}

/// One device as udev sees it: where it is in sysfs, its node in /dev, its properties and the
/// few sysfs attributes Steward looks at.
///
/// Without the udev database, ``properties`` hold only the kernel's uevent keys (`DEVNAME`,
/// `MAJOR`, `INTERFACE`...); with it they also hold what udev rules added.
public struct DeviceRecord: Hashable, Sendable, Codable {
    /// The device's path in sysfs, such as `/sys/devices/virtual/net/lo`.
    public var syspath: String
    /// The kernel subsystem, such as `net` or `video4linux`.
    public var subsystem: String
    /// The kernel name, such as `lo`, `video0` or `pcmC0D0c`.
    public var sysname: String
    /// The device type within the subsystem, when the kernel gives one.
    public var devtype: String?
    /// The device node, such as `/dev/video0`, when the device has one.
    public var devnode: String?
    /// udev properties (uevent keys, plus the udev database when it is available).
    public var properties: [String: String]
    /// The sysfs attributes of interest that the device has (``UdevDeviceSource/attributesOfInterest``).
    public var sysattrs: [String: String]
    /// `idVendor` of the USB device this device hangs off, read from sysfs (4 hex digits).
    public var usbVendorID: String?
    /// `idProduct` of the USB device this device hangs off, read from sysfs (4 hex digits).
    public var usbProductID: String?

    /// Creates a record.
    public init(
        syspath: String,
        subsystem: String,
        sysname: String,
        devtype: String? = nil,
        devnode: String? = nil,
        properties: [String: String] = [:],
        sysattrs: [String: String] = [:],
        usbVendorID: String? = nil,
        usbProductID: String? = nil
    ) {
        self.syspath = syspath
        self.subsystem = subsystem
        self.sysname = sysname
        self.devtype = devtype
        self.devnode = devnode
        self.properties = properties
        self.sysattrs = sysattrs
        self.usbVendorID = usbVendorID
        self.usbProductID = usbProductID
    }
}

/// A hotplug event.
public enum DeviceEvent: Hashable, Sendable {
    /// A device appeared (udev action `add`).
    case added(DeviceRecord)
    /// A device went away (udev action `remove`).
    case removed(DeviceRecord)
    /// A device changed (any other udev action: `change`, `bind`, `unbind`, `move`...).
    case changed(DeviceRecord)
    /// Events cannot be delivered; the stream finishes after this one.
    case unavailable(reason: String)
}

/// Why a device was counted as a camera, an audio capture device or a GNSS receiver.
public enum MatchBasis: String, Hashable, Sendable, Codable {
    /// A property from the udev database (`ID_V4L_CAPABILITIES`, `ID_GNSS`...): authoritative.
    case udevProperty
    /// sysfs alone (an attribute or the kernel name): what is left without the udev database,
    /// and a heuristic where said so.
    case sysfs
    /// Membership of a subsystem that holds only such devices (`gnss`).
    case subsystem
    /// The USB vendor id of the device it hangs off is a known GNSS maker.
    case usbVendor
}

/// One classified device and the evidence it was classified on.
public struct DeviceMatch: Hashable, Sendable, Codable {
    /// The device.
    public var device: DeviceRecord
    /// What the classification rests on.
    public var basis: MatchBasis

    /// Creates a match.
    public init(device: DeviceRecord, basis: MatchBasis) {
        self.device = device
        self.basis = basis
    }
}

/// The devices of one kind, and whether the udev database was there to classify them.
///
/// When ``udevDatabase`` is unavailable the list comes from sysfs alone: devices are still
/// found, but matches that need udev properties may be missing or rest on a heuristic
/// (each ``DeviceMatch/basis`` says which).
public struct DeviceListing: Hashable, Sendable, Codable {
    /// The matching devices, in enumeration order.
    public var matches: [DeviceMatch]
    /// Whether the udev database was available.
    public var udevDatabase: UdevAvailability

    /// Creates a listing.
    public init(matches: [DeviceMatch], udevDatabase: UdevAvailability) {
        self.matches = matches
        self.udevDatabase = udevDatabase
    }

    /// The matching devices without the evidence.
    public var devices: [DeviceRecord] { matches.map(\.device) }
}

extension DeviceSource {
    /// Video capture devices (webcams, capture cards) from the `video4linux` subsystem.
    ///
    /// With the udev database a device is a camera when `ID_V4L_CAPABILITIES` contains
    /// `:capture:` (basis ``MatchBasis/udevProperty``); output-only devices and the metadata
    /// nodes of UVC cameras are left out. Without it, a device counts when its sysfs `index`
    /// attribute is `0` (basis ``MatchBasis/sysfs``): a heuristic, since the first node of a
    /// video device is normally its capture node, that can include output-only devices.
    ///
    /// - Throws: what ``devices(in:)`` throws.
    public func cameras() async throws -> DeviceListing {
        let records = try await devices(in: "video4linux")
        return DeviceListing(matches: DeviceClassifier.cameras(records), udevDatabase: udevDatabase)
    }

    /// Audio capture (recording) PCM devices from the `sound` subsystem: kernel names of the
    /// form `pcmC<card>D<device>c` (playback devices end in `p`). Needs only sysfs.
    ///
    /// - Throws: what ``devices(in:)`` throws.
    public func audioCaptureDevices() async throws -> DeviceListing {
        let records = try await devices(in: "sound")
        return DeviceListing(matches: DeviceClassifier.audioCapture(records), udevDatabase: udevDatabase)
    }

    /// GNSS (GPS) receivers: every device of the kernel's `gnss` subsystem, plus serial
    /// (`tty`) devices that udev marks with `ID_GNSS=1` or `ID_GPS=1`, or that hang off a USB
    /// device of a known GNSS maker (``DeviceClassifier/gnssUSBVendors``: u-blox, Garmin).
    /// Without the udev database, tty receivers of other makers are not recognised.
    ///
    /// - Throws: what ``devices(in:)`` throws.
    public func gnssReceivers() async throws -> DeviceListing {
        let gnss = try await devices(in: "gnss")
        let tty = try await devices(in: "tty")
        return DeviceListing(matches: DeviceClassifier.gnss(gnss + tty), udevDatabase: udevDatabase)
    }
}

/// The pure rules behind ``DeviceSource/cameras()``, ``DeviceSource/audioCaptureDevices()``
/// and ``DeviceSource/gnssReceivers()``, usable on records from anywhere.
public enum DeviceClassifier {
    /// USB vendor ids (lowercase hex) of makers whose USB serial devices are GNSS receivers:
    /// u-blox (`1546`) and Garmin (`091e`). Generic USB-serial bridges are not listed.
    public static let gnssUSBVendors: Set<String> = ["1546", "091e"]

    /// The video capture devices among `records` (see ``DeviceSource/cameras()``).
    public static func cameras(_ records: [DeviceRecord]) -> [DeviceMatch] {
        records.compactMap { record in
            guard record.subsystem == "video4linux" else { return nil }
            if let capabilities = record.properties["ID_V4L_CAPABILITIES"] {
                return capabilities.contains(":capture:")
                    ? DeviceMatch(device: record, basis: .udevProperty) : nil
            }
            // libudev strips the trailing newline of sysfs values; fixtures may not.
            let index = record.sysattrs["index"].map { $0.filter { !$0.isWhitespace } }
            return index == "0" ? DeviceMatch(device: record, basis: .sysfs) : nil
        }
    }

    /// The audio capture PCM devices among `records` (see ``DeviceSource/audioCaptureDevices()``).
    public static func audioCapture(_ records: [DeviceRecord]) -> [DeviceMatch] {
        records.compactMap { record in
            guard record.subsystem == "sound", isCapturePCMName(record.sysname) else { return nil }
            return DeviceMatch(device: record, basis: .sysfs)
        }
    }

    /// The GNSS receivers among `records` (see ``DeviceSource/gnssReceivers()``).
    public static func gnss(_ records: [DeviceRecord]) -> [DeviceMatch] {
        records.compactMap { record in
            if record.subsystem == "gnss" { return DeviceMatch(device: record, basis: .subsystem) }
            guard record.subsystem == "tty" else { return nil }
            if record.properties["ID_GNSS"] == "1" || record.properties["ID_GPS"] == "1" {
                return DeviceMatch(device: record, basis: .udevProperty)
            }
            let vendor = (record.usbVendorID ?? record.properties["ID_VENDOR_ID"])?.lowercased()
            if let vendor, gnssUSBVendors.contains(vendor) {
                return DeviceMatch(device: record, basis: .usbVendor)
            }
            return nil
        }
    }

    /// Whether `name` is `pcmC<digits>D<digits>c`.
    static func isCapturePCMName(_ name: String) -> Bool {
        let scalars = Array(name.unicodeScalars)
        guard scalars.count >= 7, String(String.UnicodeScalarView(scalars.prefix(4))) == "pcmC",
            scalars.last == "c"
        else { return false }
        let middle = scalars[4..<(scalars.count - 1)]
        guard let d = middle.firstIndex(of: "D") else { return false }
        let card = middle[middle.startIndex..<d]
        let device = middle[(d + 1)...]
        let isDigits: (ArraySlice<Unicode.Scalar>) -> Bool = { slice in
            !slice.isEmpty && slice.allSatisfy { ("0"..."9").contains($0) }
        }
        return isDigits(card) && isDigits(device)
    }
}
