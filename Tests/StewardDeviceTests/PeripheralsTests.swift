import Foundation
import Testing
import StewardCore
import StewardDevice
import StewardTesting

@Suite struct PeripheralsTests {
    @Test func aDescribedDevicesCamerasMicrophonesAndGNSSAreListed() async throws {
        let source = FixtureDeviceSource(records: [
            DeviceRecord(
                syspath: "/sys/devices/usb1/video4linux/video0", subsystem: "video4linux", sysname: "video0",
                devnode: "/dev/video0", properties: ["ID_V4L_CAPABILITIES": ":capture:"]),
            DeviceRecord(
                syspath: "/sys/devices/usb1/video4linux/video1", subsystem: "video4linux", sysname: "video1",
                devnode: "/dev/video1", properties: ["ID_V4L_CAPABILITIES": ":"]),
            DeviceRecord(
                syspath: "/sys/devices/pci/sound/card0/pcmC0D0c", subsystem: "sound", sysname: "pcmC0D0c",
                devnode: "/dev/snd/pcmC0D0c"),
            DeviceRecord(
                syspath: "/sys/devices/pci/sound/card0/pcmC0D0p", subsystem: "sound", sysname: "pcmC0D0p",
                devnode: "/dev/snd/pcmC0D0p"),
            DeviceRecord(
                syspath: "/sys/devices/usb2/gnss/gnss0", subsystem: "gnss", sysname: "gnss0", devnode: "/dev/gnss0"),
        ])
        let peripherals = await Peripherals.read(from: source)
        #expect(peripherals.cameras.value?.devices.map(\.sysname) == ["video0"])
        #expect(peripherals.audioCapture.value?.devices.map(\.sysname) == ["pcmC0D0c"])
        #expect(peripherals.gnssReceivers.value?.devices.map(\.sysname) == ["gnss0"])
    }

    @Test(
        .enabled(
            if: access("/run/udev/data", F_OK) != 0, "needs a machine without a udev database, like this container"))
    func withoutAUdevDaemonTheListingsSaySo() async throws {
        // This machine (a container) runs no udev daemon; the listings still come from sysfs.
        let peripherals = await Peripherals.read(from: UdevDeviceSource())
        for listing in [peripherals.cameras, peripherals.audioCapture, peripherals.gnssReceivers] {
            let value = try #require(listing.value)
            #expect(!value.udevDatabase.isAvailable)
        }
    }

    @Test func identifyingPropertiesAreRemovedWithoutTheDeviceIdentityPermission() async throws {
        let camera = DeviceRecord(
            syspath: "/sys/devices/usb1/video4linux/video0", subsystem: "video4linux", sysname: "video0",
            devnode: "/dev/video0",
            properties: [
                "ID_V4L_CAPABILITIES": ":capture:", "ID_SERIAL": "Acme_Cam_SN12345", "ID_SERIAL_SHORT": "SN12345",
                "ID_MODEL": "Cam",
            ],
            sysattrs: ["name": "Acme Cam", "serial": "SN12345"])
        let source = FixtureDeviceSource(records: [camera])
        let hidden = try #require(await Peripherals.read(from: source).cameras.value?.devices.first)
        #expect(hidden.properties.keys.sorted() == ["ID_MODEL", "ID_V4L_CAPABILITIES"])
        #expect(hidden.sysattrs == ["name": "Acme Cam"])
        let shown = try #require(
            await Peripherals.read(from: source, permissions: StaticPermissions(granted: [.deviceIdentity])).cameras
                .value?.devices.first)
        #expect(shown.properties["ID_SERIAL_SHORT"] == "SN12345")
    }

    @Test func byIDLinksThatSpellTheSerialAreRemovedAndByPathLinksKept() async throws {
        let links =
            "/dev/v4l/by-id/usb-Acme_Cam_SN12345-video-index0 /dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0"
        let camera = DeviceRecord(
            syspath: "/sys/devices/usb1/video4linux/video0", subsystem: "video4linux", sysname: "video0",
            devnode: "/dev/video0",
            properties: ["ID_V4L_CAPABILITIES": ":capture:", "DEVLINKS": links])
        let source = FixtureDeviceSource(records: [camera])
        let hidden = try #require(await Peripherals.read(from: source).cameras.value?.devices.first)
        #expect(hidden.properties["DEVLINKS"] == "/dev/v4l/by-path/pci-0000:00:14.0-usb-0:1:1.0-video-index0")
        #expect(!String(describing: hidden).contains("SN12345"))
        let onlyByID = camera.withoutIdentifiers()
        var byIDOnly = camera
        byIDOnly.properties["DEVLINKS"] = "/dev/disk/by-uuid/1234 /dev/v4l/by-id/usb-SN1"
        #expect(byIDOnly.withoutIdentifiers().properties["DEVLINKS"] == nil, "no link left: the property goes")
        #expect(onlyByID.properties["ID_V4L_CAPABILITIES"] == ":capture:")
        let shown = try #require(
            await Peripherals.read(from: source, permissions: StaticPermissions(granted: [.deviceIdentity])).cameras
                .value?.devices.first)
        #expect(shown.properties["DEVLINKS"] == links)
    }
}
