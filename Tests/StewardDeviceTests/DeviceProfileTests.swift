import Foundation
import StewardTesting
import Testing
import StewardCore
@testable import StewardDevice

/// A directory tree that stands for `/` in one test, removed when the test ends.
final class FixtureRoot {
    let path: String

    init() throws {
        path =
            FileManager.default.temporaryDirectory
            .appendingPathComponent("steward-profile-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` at the system path `systemPath`, creating directories on the way.
    func write(_ systemPath: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: path + systemPath)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }

    func write(_ systemPath: String, _ text: String) throws {
        try write(systemPath, Array(text.utf8))
    }

    func directory(_ systemPath: String) throws {
        try FileManager.default.createDirectory(atPath: path + systemPath, withIntermediateDirectories: true)
    }

    /// Describes an interface under /sys/class/net.
    func interface(
        _ name: String, type: Int = 1, address: String?, assignType: String? = "0",
        operstate: String = "up", carrier: String? = "1", device: Bool = true,
        markers: [String] = []
    ) throws {
        let base = "/sys/class/net/\(name)"
        try write("\(base)/type", "\(type)\n")
        if let address { try write("\(base)/address", address + "\n") }
        if let assignType { try write("\(base)/addr_assign_type", assignType + "\n") }
        try write("\(base)/operstate", operstate + "\n")
        if let carrier { try write("\(base)/carrier", carrier + "\n") }
        if device { try directory("\(base)/device") }
        for marker in markers { try directory("\(base)/\(marker)") }
    }

    var files: SystemFiles { SystemFiles(root: path, permanentAddresses: [:]) }
}

@Suite struct DeviceProfileTests {
    // MARK: - Real machine

    @Test func realMachineHasLoopbackInterfaceOfTypeLoopback() throws {
        let interfaces = try #require(
            DeviceProfile.read(permissions: StaticPermissions(granted: [.deviceIdentity])).networkInterfaces.value)
        let loopback = try #require(interfaces.first { $0.name == "lo" })
        #expect(loopback.type == .loopback)
        #expect(loopback.isPhysical == false)
    }

    @Test func realInterfacesAndMACsAgreeWithIPLink() throws {
        let data = try ChildProcess.run("/usr/sbin/ip", arguments: ["-j", "link"], standardError: .inherit)
            .standardOutput
        let entries = try #require(try JSONSerialization.jsonObject(with: Data(data)) as? [[String: Any]])
        var expected: [String: String] = [:]
        for entry in entries {
            guard let name = entry["ifname"] as? String, let address = entry["address"] as? String else { continue }
            expected[name] = address.lowercased()
        }
        let interfaces = try #require(
            DeviceProfile.read(permissions: StaticPermissions(granted: [.deviceIdentity])).networkInterfaces.value)
        var actual: [String: String] = [:]
        for interface in interfaces {
            if let mac = interface.currentMAC.value { actual[interface.name] = mac.lowercased() }
        }
        #expect(!expected.isEmpty)
        #expect(actual == expected)
    }

    @Test func realOSReleaseFieldsAgreeWithTheFile() throws {
        let path = FileManager.default.fileExists(atPath: "/etc/os-release") ? "/etc/os-release" : "/usr/lib/os-release"
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let equals = line.firstIndex(of: "=") else { continue }
            var value = String(line[line.index(after: equals)...])
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            values[String(line[..<equals])] = value
        }
        let os = DeviceProfile.read(permissions: StaticPermissions(granted: [.deviceIdentity])).operatingSystem
        #expect(os.id.value == values["ID"])
        #expect(os.versionID.value == values["VERSION_ID"])
        #expect(os.prettyName.value == values["PRETTY_NAME"])
    }

    @Test func realMemoryAndCoreCountArePositive() throws {
        let hardware = DeviceProfile.read(permissions: StaticPermissions(granted: [.deviceIdentity])).hardware
        #expect(try #require(hardware.memoryTotalBytes.value) > 0)
        #expect(try #require(hardware.cpuCores.value) > 0)
        #expect(
            DeviceProfile.read(permissions: StaticPermissions(granted: [.deviceIdentity])).kernel.release.value?.isEmpty
                == false)
    }

    @Test func realProfileEncodesAsJSON() throws {
        let data = try JSONEncoder().encode(
            DeviceProfile.read(permissions: StaticPermissions(granted: [.deviceIdentity])))
        let decoded = try JSONDecoder().decode(DeviceProfile.self, from: data)
        #expect(
            decoded.networkInterfaces.value?.map(\.name)
                == DeviceProfile.read(permissions: StaticPermissions(granted: [.deviceIdentity])).networkInterfaces
                .value?.map(\.name))
    }

    // MARK: - MAC kinds

    @Test func virtioNICReportsPermanentWithLocallyAdministeredAddress() throws {
        let root = try FixtureRoot()
        try root.interface("ens3", address: "52:54:00:12:34:56", assignType: "0")
        try root.interface("wlan0", address: "ae:12:34:56:78:9a", assignType: "1", markers: ["phy80211"])
        try root.interface("tun0", type: 65534, address: "00:00:00:00:00:00", assignType: "0", device: false)
        let files = SystemFiles(
            root: root.path,
            permanentAddresses: [
                "ens3": "52:54:00:12:34:56", "wlan0": "00:00:00:00:00:00",
            ])
        let interfaces = try #require(
            DeviceProfile.read(
                files: files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity])
            ).networkInterfaces.value)
        let byName = Dictionary(uniqueKeysWithValues: interfaces.map { ($0.name, $0) })

        let virtio = try #require(byName["ens3"]?.macKind.value)
        #expect(virtio.assignment == .value(.permanent))
        #expect(virtio.locallyAdministered)
        #expect(!virtio.allZero)

        let random = try #require(byName["wlan0"]?.macKind.value)
        #expect(random.assignment == .value(.random))
        #expect(random.locallyAdministered)
        #expect(byName["wlan0"]?.permanentMAC == .value("00:00:00:00:00:00"))

        let zero = try #require(byName["tun0"]?.macKind.value)
        #expect(zero.allZero)
        #expect(!zero.locallyAdministered)
        #expect(byName["tun0"]?.permanentMAC.unavailableReason != nil)
    }

    @Test(arguments: [("2", MACAddressKind.Assignment.stolen), ("3", .set), ("0", .permanent), ("1", .random)])
    func addrAssignTypeMapsToAssignment(code: String, assignment: MACAddressKind.Assignment) {
        let kind = MACAddressKind.classify(address: "00:11:22:33:44:55", assignType: .value(code))
        #expect(kind.value?.assignment == .value(assignment))
    }

    @Test func malformedAddressAndUnknownAssignTypeAreUnavailable() {
        #expect(MACAddressKind.classify(address: "zz:11", assignType: .value("0")).unavailableReason != nil)
        let odd = MACAddressKind.classify(address: "00:11:22:33:44:55", assignType: .value("9"))
        #expect(odd.value?.assignment.unavailableReason != nil)
    }

    // MARK: - Interface types

    @Test func interfaceTypesFollowSysfsMarkers() throws {
        let root = try FixtureRoot()
        try root.interface("lo", type: 772, address: "00:00:00:00:00:00", operstate: "unknown", device: false)
        try root.interface("br0", address: "02:00:00:00:00:01", device: false, markers: ["bridge"])
        try root.interface("wlp2s0", address: "00:21:6a:00:00:01", markers: ["wireless"])
        try root.interface("veth1", address: "0a:00:00:00:00:02", device: false)
        try root.interface("enp1s0", address: "00:1b:21:00:00:03")
        try root.interface("tap0", address: "0a:00:00:00:00:04", device: false, markers: ["tun_flags"])
        let interfaces = try #require(
            DeviceProfile.read(
                files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity])
            ).networkInterfaces.value)
        let types = Dictionary(uniqueKeysWithValues: interfaces.map { ($0.name, $0.type) })
        #expect(
            types == [
                "lo": .loopback, "br0": .bridge, "wlp2s0": .wireless, "veth1": .virtual,
                "enp1s0": .ethernet, "tap0": .tunTap,
            ])
        #expect(interfaces.first { $0.name == "enp1s0" }?.isPhysical == true)
        #expect(interfaces.first { $0.name == "veth1" }?.isPhysical == false)
    }

    @Test(arguments: ["enx001b21aabbcc", "wlx001b21aabbcc", "wwx001B21AABBCC", "ibx001b21aabbcc"])
    func macBasedNamesOfEveryTypeAreRedactedWithoutTheDeviceIdentityPermissionAndConnectivityStillWorks(name: String)
        throws
    {
        let root = try FixtureRoot()
        try root.interface(name, address: "00:1b:21:aa:bb:cc", markers: name.hasPrefix("wl") ? ["wireless"] : [])
        try root.write(
            "/proc/net/route", Self.routeHeader + "\(name)\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
        let hidden = DeviceProfile.read(files: root.files, environment: [:])
        #expect(hidden.networkInterfaces.value?.map(\.name) == [String(name.prefix(3)) + "…"])
        let text = String(decoding: try JSONEncoder().encode(hidden), as: UTF8.self).lowercased()
        #expect(
            !text.contains("001b21aabbcc") && !text.contains("00:1b:21:aa:bb:cc"),
            "the MAC is nowhere in the profile: \(text)")
        #expect(hidden.connectivity == .value(.online), "decided on the real name before it was redacted")
        let shown = DeviceProfile.read(
            files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity]))
        #expect(shown.networkInterfaces.value?.map(\.name) == [name])
    }

    @Test(arguments: ["wlp2s0", "enp1s0", "eth0", "enxshort", "e1x001b21aabbcc", "enx001b21aabbcg"])
    func otherNamesAreKept(name: String) {
        #expect(NetworkInterface.nameWithoutMAC(name) == name)
    }

    // MARK: - Connectivity

    static let routeHeader = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"

    @Test func connectivityIsOnlineWithCarrierAndDefaultRoute() throws {
        let root = try FixtureRoot()
        try root.interface("eth0", address: "00:1b:21:00:00:03")
        try root.write(
            "/proc/net/route",
            Self.routeHeader
                + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
                + "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
        #expect(
            DeviceProfile.read(
                files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity])
            ).connectivity == .value(.online))
    }

    @Test func connectivityIsLocalOnlyWithCarrierButNoDefaultRoute() throws {
        let root = try FixtureRoot()
        try root.interface("eth0", address: "00:1b:21:00:00:03")
        try root.write(
            "/proc/net/route",
            Self.routeHeader
                + "eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n")
        #expect(
            DeviceProfile.read(
                files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity])
            ).connectivity == .value(.localOnly))
    }

    @Test func connectivityIsOfflineWithoutCarrier() throws {
        let root = try FixtureRoot()
        try root.interface("lo", type: 772, address: "00:00:00:00:00:00", operstate: "unknown", device: false)
        try root.interface("eth0", address: "00:1b:21:00:00:03", operstate: "down", carrier: nil)
        try root.write(
            "/proc/net/route",
            Self.routeHeader
                + "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n")
        let profile = DeviceProfile.read(
            files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity]))
        #expect(profile.connectivity == .value(.offline))
        #expect(profile.networkInterfaces.value?.first { $0.name == "eth0" }?.carrier.unavailableReason != nil)
    }

    // MARK: - os-release

    @Test func osReleaseFallsBackToUsrLib() throws {
        let root = try FixtureRoot()
        try root.write("/usr/lib/os-release", "ID=fedora\nVERSION_ID=40\nPRETTY_NAME=\"Fedora Linux 40\"\n")
        let os = DeviceProfile.read(
            files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity])
        ).operatingSystem
        #expect(os.id == .value("fedora"))
        #expect(os.versionID == .value("40"))
        #expect(os.prettyName == .value("Fedora Linux 40"))
        #expect(os.source == .value("/usr/lib/os-release"))
    }

    @Test func osReleaseQuotesEscapesAndCommentsFollowTheManPage() throws {
        let root = try FixtureRoot()
        try root.write(
            "/etc/os-release",
            """
            # a comment
              ID=arch
            VERSION_ID='2024.01'
            PRETTY_NAME="Say \\"hi\\" \\$HOME \\\\ ok"
            not an assignment
            =novalue
            9KEY=bad
            """)
        let os = DeviceProfile.read(
            files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity])
        ).operatingSystem
        #expect(os.id == .value("arch"))
        #expect(os.versionID == .value("2024.01"))
        #expect(os.prettyName == .value("Say \"hi\" $HOME \\ ok"))
    }

    // MARK: - Odd input

    @Test func oddInputLeavesFieldsAbsentWithAReason() throws {
        let root = try FixtureRoot()
        try root.write("/sys/class/dmi/id/sys_vendor", [0x41, 0xff, 0xfe, 0x0a])
        try root.directory("/sys/class/dmi/id/product_name")  // a directory where a file should be
        try root.write(
            "/etc/os-release",
            [0x49, 0x44, 0x3d, 0xc3, 0x28, 0x0a]
                + Array("garbage\n\u{0}\u{1}===\nVERSION_ID=\"unterminated\n".utf8))
        try root.write("/proc/meminfo", "")
        try root.write("/proc/cpuinfo", [0xff, 0xfe])
        try root.write("/sys/devices/system/cpu/online", "nonsense")
        try root.interface("eth0", address: nil, assignType: "x", operstate: "sideways", carrier: "maybe")
        try root.write("/sys/class/net/eth1/address", [0xff, 0x0a])

        let profile = DeviceProfile.read(
            files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity]))
        #expect(profile.hardware.vendor.unavailableReason?.isEmpty == false)
        #expect(profile.hardware.model.unavailableReason?.isEmpty == false)
        #expect(profile.hardware.memoryTotalBytes.unavailableReason?.isEmpty == false)
        #expect(profile.hardware.cpuModel.unavailableReason?.isEmpty == false)
        #expect(profile.hardware.cpuCores.unavailableReason?.isEmpty == false)
        #expect(profile.operatingSystem.id.unavailableReason?.contains("UTF-8") == true)
        #expect(profile.operatingSystem.versionID.unavailableReason?.isEmpty == false)
        #expect(profile.operatingSystem.prettyName.unavailableReason?.isEmpty == false)
        let interfaces = try #require(profile.networkInterfaces.value)
        let eth0 = try #require(interfaces.first { $0.name == "eth0" })
        #expect(eth0.currentMAC.unavailableReason != nil)
        #expect(eth0.macKind.unavailableReason != nil)
        #expect(eth0.operationalState.unavailableReason != nil)
        #expect(eth0.carrier.unavailableReason != nil)
        let eth1 = try #require(interfaces.first { $0.name == "eth1" })
        #expect(eth1.currentMAC.unavailableReason?.contains("UTF-8") == true)
    }

    @Test func emptyRootLeavesEverythingAbsentWithAReason() throws {
        let root = try FixtureRoot()
        let profile = DeviceProfile.read(
            files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity]))
        #expect(profile.operatingSystem.id.unavailableReason?.contains("os-release") == true)
        #expect(profile.hardware.vendor.unavailableReason != nil)
        #expect(profile.networkInterfaces.unavailableReason != nil)
        #expect(profile.connectivity.unavailableReason != nil)
        #expect(profile.runtimeEnvironments.isEmpty)
    }

    @Test func deviceTreeModelLosesTrailingNULs() throws {
        let root = try FixtureRoot()
        try root.write("/proc/device-tree/model", Array("Raspberry Pi 4 Model B Rev 1.4".utf8) + [0, 0])
        try root.write("/proc/device-tree/compatible", Array("raspberrypi,4-model-b\0brcm,bcm2711\0".utf8))
        try root.write("/proc/cpuinfo", "processor\t: 0\nCPU part\t: 0xd08\n\nprocessor\t: 1\nHardware\t: BCM2835\n")
        let hardware = DeviceProfile.read(
            files: root.files, environment: [:], permissions: StaticPermissions(granted: [.deviceIdentity])
        ).hardware
        #expect(hardware.model == .value("Raspberry Pi 4 Model B Rev 1.4"))
        #expect(hardware.vendor == .value("raspberrypi"))
        #expect(hardware.cpuModel == .value("BCM2835"))
        #expect(hardware.cpuCores == .value(2))
    }

    // MARK: - Runtime environment

    @Test func runtimeEnvironmentsAreDetectedWithTheirEvidence() throws {
        let root = try FixtureRoot()
        try root.write("/.dockerenv", "")
        try root.write("/.flatpak-info", "[Application]\n")
        try root.write("/proc/1/cgroup", "0::/kubepods/besteffort/pod1\n")
        try root.write("/sys/class/dmi/id/sys_vendor", "QEMU\n")
        try root.write("/proc/cpuinfo", "model name\t: Virtual CPU\nflags\t\t: fpu sse hypervisor\n")
        let environments = RuntimeEnvironment.detect(
            files: root.files,
            environment: ["container": "podman", "SNAP": "/snap/app/1", "FLATPAK_ID": "org.example.App"])
        let byKind = Dictionary(uniqueKeysWithValues: environments.map { ($0.kind, $0) })
        #expect(byKind[.container]?.evidence == ["/.dockerenv", "env:container", "/proc/1/cgroup"])
        #expect(byKind[.flatpak]?.evidence == ["/.flatpak-info", "env:FLATPAK_ID"])
        #expect(byKind[.snap]?.evidence == ["env:SNAP"])
        #expect(byKind[.virtualMachine]?.evidence == ["/sys/class/dmi/id/sys_vendor", "/proc/cpuinfo:hypervisor"])
        #expect(byKind[.virtualMachine]?.detail == "QEMU")
    }

    @Test func bareMetalHasNoRuntimeEnvironment() throws {
        let root = try FixtureRoot()
        try root.write("/sys/class/dmi/id/sys_vendor", "LENOVO\n")
        try root.write("/proc/cpuinfo", "model name\t: Intel\nflags\t\t: fpu sse\n")
        #expect(RuntimeEnvironment.detect(files: root.files, environment: [:]).isEmpty)
    }

    @Test func rawMACsAreWithheldWithoutTheDeviceIdentityPermission() throws {
        let interfaces = try #require(DeviceProfile.read().networkInterfaces.value)
        let withMAC = interfaces.filter { $0.macKind.value != nil }
        #expect(!withMAC.isEmpty)
        for interface in interfaces {
            #expect(interface.currentMAC.value == nil, "\(interface.name) exposed its MAC")
            #expect(interface.permanentMAC.value == nil)
        }
        #expect(interfaces.contains { $0.currentMAC.unavailableReason?.contains("deviceIdentity") == true })
    }
}
