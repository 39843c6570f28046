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
    public init(cameras: Field<DeviceListing>, audioCapture: Field<DeviceListing>, gnssReceivers: Field<DeviceListing>) {
        self.cameras = cameras
        self.audioCapture = audioCapture
        self.gnssReceivers = gnssReceivers
    }

    /// Lists the peripherals through `source`. A listing that fails is unavailable with the
    /// reason; each listing says whether the udev database backed it.
    public static func read(from source: any DeviceSource) async -> Peripherals {
        func field(_ list: () async throws -> DeviceListing) async -> Field<DeviceListing> {
            do { return .value(try await list()) } catch { return .unavailable(reason: "\(error)") }
        }
        return Peripherals(
            cameras: await field { try await source.cameras() },
            audioCapture: await field { try await source.audioCaptureDevices() },
            gnssReceivers: await field { try await source.gnssReceivers() })
    }
}
