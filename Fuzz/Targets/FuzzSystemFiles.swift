import Foundation
@testable import StewardCrash
@testable import StewardDevice
@testable import StewardPermissions

/// What the device and permission modules read from the operating system: `os-release`,
/// `/proc/cpuinfo`, CPU lists, MAC addresses, machine ids, udev properties, POSIX ACLs (the
/// `system.posix_acl_access` attribute), `.flatpak-info`, `user-dirs.dirs`, ALSA device names,
/// an operator's answer table, a typed terminal answer, a thread's `/proc/self/task/TID/status`
/// (the hang watchdog); and what symbolication reads from tools: `llvm-symbolizer`'s JSON and
/// symbol names for the demanglers.
///
/// Input: a selector byte, then the text. Checks: nothing traps; a MAC address, a machine id
/// and an ACL that parse are written back to the same bytes and parse again to the same value;
/// a CPU count is positive; answers and ACL decisions are consistent; a thread name is 1 to 64
/// characters on one line, and no signal outside 1...64 reads as blocked.
public enum FuzzSystemFiles: FuzzTarget {
    public static let name = "FuzzSystemFiles"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        guard let selector = input.first else { return }
        let bytes = Array(input.dropFirst())
        let text = String(decoding: bytes, as: UTF8.self)
        switch selector % 13 {
        case 0:
            for (key, value) in OSReleaseParser.parse(bytes) {
                try require(!key.isEmpty, "os-release gave an empty key")
                _ = value.value
            }
        case 1:
            _ = Hardware.cpuModel(from: text)
            if let count = Hardware.countCPUList(text).value {
                try require(count > 0, "the CPU list \(text.debugDescription) counted \(count)")
            }
        case 2:
            _ = MACAddressKind.classify(address: text, assignType: .value(String(text.prefix(2))))
            if let address = parseHardwareAddress(text) {
                let written = formatHardwareAddress(address)
                try require(
                    parseHardwareAddress(written) == address,
                    "\(text.debugDescription) parsed, written as \(written), parsed differently")
            }
        case 3:
            guard let id = try? ID128(parsing: text) else { return }
            try require(
                (try? ID128(parsing: id.hexString)) == id && (try? ID128(parsing: id.uuidString)) == id,
                "the id \(text.debugDescription) does not round trip through its hex and UUID forms")
            _ = try? AppScopedID.applicationID(for: text)
        case 4:
            let path = Scratch.fresh("machine-id") + "/machine-id"
            Scratch.write(bytes, to: path)
            _ = try? MachineID.read(path: path)
        case 5:
            var reader = FuzzReader(bytes)
            var properties: [String: String] = [:]
            for _ in 0..<(reader.byte() % 6) { properties[reader.string(upTo: 24)] = reader.string(upTo: 48) }
            let record = DeviceRecord(
                syspath: "/sys/x", subsystem: reader.pick(["video4linux", "sound", "gnss", "tty", "usb"]),
                sysname: reader.string(upTo: 24), properties: properties,
                sysattrs: ["index": reader.string(upTo: 8), "name": reader.string(upTo: 24)])
            _ = DeviceClassifier.cameras([record])
            _ = DeviceClassifier.audioCapture([record])
            _ = DeviceClassifier.gnss([record])
            _ = DeviceClassifier.isCapturePCMName(record.sysname)
        case 6:
            guard let acl = POSIXACL(xattrValue: bytes) else { return }
            try require(acl.xattrValue == bytes, "an ACL does not write back to its own bytes")
            try require(POSIXACL(xattrValue: acl.xattrValue) == acl, "an ACL written back does not parse to itself")
            for uid in [UInt32(0), 1000, .max] {
                let read = acl.evaluate(.read, owner: 1000, fileGroup: 1000, uid: uid, groups: [1000])
                let readWrite = acl.evaluate([.read, .write], owner: 1000, fileGroup: 1000, uid: uid, groups: [1000])
                try require(!readWrite.granted || read.granted, "an ACL grants read and write but not read")
            }
        case 7:
            _ = LinuxPermissionProbe.flatpakApplicationName(text)
            _ = LinuxPermissionProbe.userDirsValue(text, key: "XDG_PICTURES_DIR")
            _ = LinuxPermissionProbe.alsaCapture(text)
        case 8:
            guard let prompter = try? FixedAnswerPrompter(json: bytes) else { return }
            _ = prompter
        case 9:
            let offered: [PermissionAnswer] = [.allow, .allowOnce, .deny, .denyAlways]
            if let answer = TerminalPrompter.answer(text, offered: offered) {
                try require(offered.contains(answer), "a typed answer gave \(answer), which was not offered")
            }
            if let answer = PermissionAnswer(spelling: text) {
                try require(
                    PermissionAnswer(spelling: answer.spelling) == answer,
                    "the answer \(answer) does not round trip its spelling")
            }
        case 10:
            let count = Int(bytes.first ?? 0) % 8
            let locations = LLVMSymbolizer.parse(Array(bytes.dropFirst()), count: count)
            try require(
                locations.count == count,
                "llvm-symbolizer's output for \(count) addresses gave \(locations.count) locations")
        case 12:
            // A thread's /proc/self/task/TID/status, as the hang watchdog reads it.
            let status = HangSampler.ThreadStatus(parsing: text)
            if let name = status.name {
                try require(
                    !name.isEmpty && name.count <= 64 && !name.contains("\n"),
                    "a thread name \(name.debugDescription) out of bounds")
            }
            try require(!status.blocks(0) && !status.blocks(65) && !status.blocks(-1), "a signal out of 1...64 blocked")
            _ = status.isDispatchWorker
        default:
            // Selector 11 and the rest (the checked-in demangler seeds start with 11).
            _ = Demangler.demangle(String(text.prefix(4096)))
            _ = Demangler.demangle("$s" + String(text.prefix(4094)))
            _ = Demangler.demangle("_Z" + String(text.prefix(4094)))
        }
    }
}
