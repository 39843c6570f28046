public import StewardCore

/// The capture devices and position receivers of a device: what the camera, microphone and
/// location permissions are about. Listed through a ``DeviceSource`` (libudev by default).
public struct Peripherals: Hashable, Sendable, Codable {
    /// Video4linux capture devices.
    public var cameras: Field<DeviceListing>
    /// ALSA capture PCM devices.
    public var audioCapture: Field<DeviceListing>
    /// GNSS receivers.
    public var gnssReceivers: Field<DeviceListing>

    /// Creates a summary.
    public init(cameras: Field<DeviceListing>, audioCapture: Field<DeviceListing>, gnssReceivers: Field<DeviceListing>)
    {
        self.cameras = cameras
        self.audioCapture = audioCapture
        self.gnssReceivers = gnssReceivers
    }

    /// Lists the peripherals through `source`. A listing that fails is unavailable with the
    /// reason; each listing says whether the udev database backed it.
    ///
    /// Without the `Permission.deviceIdentity` (StewardPermissions) permission, properties and attributes that
    /// identify a device (serial numbers, MAC-derived names, WWNs, UUIDs) are removed.
    public static func read(from source: any DeviceSource, permissions: any PermissionChecking = StaticPermissions())
        async -> Peripherals
    {
        let redact = !permissions.isGranted(.deviceIdentity)
        func field(_ list: () async throws -> DeviceListing) async -> Field<DeviceListing> {
            do {
                let listing = try await list()
                return .value(redact ? listing.withoutIdentifiers() : listing)
            } catch {
                return .unavailable(reason: "\(error)")
            }
        }
        return Peripherals(
            cameras: await field { try await source.cameras() },
            audioCapture: await field { try await source.audioCaptureDevices() },
            gnssReceivers: await field { try await source.gnssReceivers() })
    }
}

extension DeviceRecord {
    /// Whether a udev property or sysfs attribute name identifies the individual device.
    static func isIdentifying(_ key: String) -> Bool {
        let upper = key.uppercased()
        return ["SERIAL", "MAC", "WWN", "UUID", "ADDRESS"].contains { upper.contains($0) }
    }

    /// The udev links that name the individual device: `by-id` (built from the serial
    /// number), `by-uuid`, `by-partuuid`, `by-label`, `by-serial`.
    static func isIdentifyingLink(_ link: Substring) -> Bool {
        ["/by-id/", "/by-uuid/", "/by-partuuid/", "/by-label/", "/by-serial/"].contains { link.contains($0) }
    }

    /// The record without identifying properties and attributes; `DEVLINKS` keeps only the
    /// links that do not name the individual device (`by-path` stays, `by-id` goes).
    public func withoutIdentifiers() -> DeviceRecord {
        var copy = self
        copy.properties = properties.filter { !Self.isIdentifying($0.key) }
        if let links = copy.properties["DEVLINKS"] {
            let kept = links.split(separator: " ").filter { !Self.isIdentifyingLink($0) }
            copy.properties["DEVLINKS"] = kept.isEmpty ? nil : kept.joined(separator: " ")
        }
        copy.sysattrs = sysattrs.filter { !Self.isIdentifying($0.key) }
        return copy
    }
}

extension DeviceListing {
    /// The listing without identifying properties and attributes.
    public func withoutIdentifiers() -> DeviceListing {
        DeviceListing(
            matches: matches.map { DeviceMatch(device: $0.device.withoutIdentifiers(), basis: $0.basis) },
            udevDatabase: udevDatabase)
    }
}
