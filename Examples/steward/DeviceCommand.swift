import ArgumentParser
import Foundation
import StewardCore
import StewardDevice
import StewardPermissions

/// `steward device`: what device this is.
struct DeviceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device",
        abstract:
            "Show the device profile: OS, kernel, hardware, runtime environment, network interfaces, connectivity.",
        discussion:
            "Raw MAC addresses and identifying device properties are shown only when the deviceIdentity permission is granted in the data directory (steward permissions request deviceIdentity)."
    )

    @OptionGroup var options: CommonOptions

    struct Report: Codable {
        var profile: DeviceProfile
        var peripherals: Peripherals
    }

    func run() async throws {
        // The gate of the data directory decides; a data directory without a vault has granted
        // nothing, and is not created just to say so.
        let directory = try options.resolvedDataDirectory()
        var permissions: any PermissionChecking = StaticPermissions()
        var opened: PermissionsCommand.Opened?
        if FileManager.default.fileExists(atPath: directory + "/vault") {
            opened = try PermissionsCommand.open(options, prompter: FixedAnswerPrompter(answers: [:]))
            permissions = opened?.gate ?? StaticPermissions()
        }
        defer { try? opened?.vault.close() }
        let profile = DeviceProfile.read(permissions: permissions)
        let peripherals = await Peripherals.read(from: UdevDeviceSource(), permissions: permissions)
        if options.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(
                String(decoding: try encoder.encode(Report(profile: profile, peripherals: peripherals)), as: UTF8.self))
            return
        }
        func show<T>(_ field: Field<T>) -> String {
            switch field {
            case .value(let value): return "\(value)"
            case .unavailable(let reason): return "unavailable (\(reason))"
            }
        }
        let os = profile.operatingSystem
        let hw = profile.hardware
        var rows = [
            ["OS", show(os.prettyName)],
            ["kernel", "\(show(profile.kernel.release)) \(show(profile.kernel.architecture))"],
            ["hardware", "\(show(hw.vendor)) \(show(hw.model))"],
            ["CPU", "\(show(hw.cpuModel)), \(show(hw.cpuCores)) cores"],
            ["memory", show(hw.memoryTotalBytes.map { Format.bytes(Int(clamping: $0)) })],
            [
                "environment",
                profile.runtimeEnvironments.isEmpty
                    ? "bare metal (nothing detected)"
                    : profile.runtimeEnvironments.map {
                        "\($0.kind)\($0.detail.map { " \($0)" } ?? "") [\($0.evidence.joined(separator: ", "))]"
                    }.joined(separator: "; "),
            ],
            ["connectivity", show(profile.connectivity)],
        ]
        for interface in profile.networkInterfaces.value ?? [] {
            let kind = interface.macKind.map { kind -> String in
                var words = [kind.assignment.value.map { "\($0)" } ?? "unknown assignment"]
                if kind.locallyAdministered { words.append("locally administered") }
                if kind.allZero { words.append("all zero") }
                return words.joined(separator: ", ")
            }
            rows.append([
                "  \(interface.name)",
                "\(interface.type), \(show(interface.operationalState)), MAC \(show(interface.currentMAC)); \(show(kind))",
            ])
        }
        func list(_ field: Field<DeviceListing>) -> String {
            switch field {
            case .value(let listing):
                let names = listing.devices.map { $0.devnode ?? $0.sysname }
                var text = names.isEmpty ? "none" : names.joined(separator: ", ")
                if case .unavailable(let reason) = listing.udevDatabase {
                    text += " (udev database unavailable: \(reason))"
                }
                return text
            case .unavailable(let reason): return "unavailable (\(reason))"
            }
        }
        rows.append(["cameras", list(peripherals.cameras)])
        rows.append(["microphones", list(peripherals.audioCapture)])
        rows.append(["GNSS", list(peripherals.gnssReceivers)])
        print(Format.table(rows).joined(separator: "\n"))
    }
}
