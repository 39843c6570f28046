/// The machine: vendor, model, processor and memory.
///
/// Vendor and model come from DMI (`/sys/class/dmi/id/sys_vendor`, `product_name`) or, on
/// ARM boards without DMI, from the device tree (`/proc/device-tree/model`, and the vendor
/// prefix of the first `compatible` entry). The CPU model comes from `/proc/cpuinfo`; the core
/// count is the number of online CPUs (`/sys/devices/system/cpu/online`).
public struct Hardware: Codable, Sendable, Hashable {
    /// The maker of the machine, such as `LENOVO` or `QEMU`.
    public var vendor: Field<String>
    /// The model, such as `ThinkPad X1 Carbon` or `Raspberry Pi 4 Model B Rev 1.4`.
    public var model: Field<String>
    /// The processor model, such as `AMD Ryzen 7 PRO 5850U` or, on ARM, `BCM2835`.
    public var cpuModel: Field<String>
    /// The number of online logical CPUs.
    public var cpuCores: Field<Int>
    /// Total usable memory in bytes (`MemTotal` in `/proc/meminfo`).
    public var memoryTotalBytes: Field<UInt64>

    /// Creates a hardware description from its fields.
    public init(
        vendor: Field<String>, model: Field<String>, cpuModel: Field<String>,
        cpuCores: Field<Int>, memoryTotalBytes: Field<UInt64>
    ) {
        self.vendor = vendor
        self.model = model
        self.cpuModel = cpuModel
        self.cpuCores = cpuCores
        self.memoryTotalBytes = memoryTotalBytes
    }

    /// Reads the hardware description through `files`.
    ///
    /// - Parameters:
    ///   - files: Where to read from.
    ///   - cpuinfo: `/proc/cpuinfo` if the caller already read it.
    /// - Returns: The description; fields are unavailable with a reason when they cannot be read.
    public static func read(files: SystemFiles, cpuinfo: Field<String>? = nil) -> Hardware {
        let cpuinfo = cpuinfo ?? files.text("/proc/cpuinfo")
        return Hardware(
            vendor: readVendor(files), model: readModel(files),
            cpuModel: cpuinfo.flatMap(cpuModel(from:)),
            cpuCores: readCores(files, cpuinfo: cpuinfo),
            memoryTotalBytes: readMemory(files))
    }

    private static func readVendor(_ files: SystemFiles) -> Field<String> {
        let dmi = files.attribute("/sys/class/dmi/id/sys_vendor")
        if dmi.value != nil { return dmi }
        let compatible = files.bytes("/proc/device-tree/compatible", limit: 4096).flatMap { bytes -> Field<String> in
            let first = bytes.prefix { $0 != 0 }
            guard let text = String(validating: first, as: UTF8.self),
                let comma = text.firstIndex(of: ","), comma > text.startIndex
            else {
                return .unavailable(reason: "/proc/device-tree/compatible has no vendor prefix")
            }
            return .value(String(text[..<comma]))
        }
        if compatible.value != nil { return compatible }
        return .unavailable(reason: "\(dmi.unavailableReason ?? ""); \(compatible.unavailableReason ?? "")")
    }

    private static func readModel(_ files: SystemFiles) -> Field<String> {
        let dmi = files.attribute("/sys/class/dmi/id/product_name")
        if dmi.value != nil { return dmi }
        let tree = files.attribute("/proc/device-tree/model")
        if tree.value != nil { return tree }
        return .unavailable(reason: "\(dmi.unavailableReason ?? ""); \(tree.unavailableReason ?? "")")
    }

    /// The CPU model from cpuinfo text: `model name`, else the ARM keys.
    static func cpuModel(from cpuinfo: String) -> Field<String> {
        var found: [String: String] = [:]
        let wanted = ["model name", "Hardware", "Processor", "CPU part"]
        for line in cpuinfo.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = String(line[..<colon]).trimmingSpaceAndNUL()
            guard wanted.contains(key), found[key] == nil else { continue }
            let value = String(line[line.index(after: colon)...]).trimmingSpaceAndNUL()
            if !value.isEmpty { found[key] = value }
            if key == "model name" { break }
        }
        for key in wanted {
            if let value = found[key] { return .value(value) }
        }
        return .unavailable(reason: "/proc/cpuinfo names no CPU model")
    }

    private static func readCores(_ files: SystemFiles, cpuinfo: Field<String>) -> Field<Int> {
        let online = files.attribute("/sys/devices/system/cpu/online").flatMap(countCPUList)
        if online.value != nil { return online }
        // Fallback: one "processor" line per online CPU.
        let fromInfo = cpuinfo.flatMap { text -> Field<Int> in
            let count = text.split(separator: "\n").count { line in
                guard let colon = line.firstIndex(of: ":") else { return false }
                return String(line[..<colon]).trimmingSpaceAndNUL() == "processor"
            }
            return count > 0 ? .value(count) : .unavailable(reason: "/proc/cpuinfo lists no processors")
        }
        if fromInfo.value != nil { return fromInfo }
        return .unavailable(reason: "\(online.unavailableReason ?? ""); \(fromInfo.unavailableReason ?? "")")
    }

    /// Counts a kernel CPU list such as `0-3,6,8-9`.
    static func countCPUList(_ list: String) -> Field<Int> {
        var count = 0
        for part in list.split(separator: ",") {
            let bounds = part.split(separator: "-", omittingEmptySubsequences: false)
            if bounds.count == 1, Int(bounds[0]) != nil {
                count += 1
            } else if bounds.count == 2, let low = Int(bounds[0]), let high = Int(bounds[1]), low <= high,
                high - low < 1 << 20, count < 1 << 20
            {
                count += high - low + 1
            } else {
                return .unavailable(reason: "CPU list '\(list)' is malformed")
            }
        }
        return count > 0 ? .value(count) : .unavailable(reason: "CPU list is empty")
    }

    private static func readMemory(_ files: SystemFiles) -> Field<UInt64> {
        files.text("/proc/meminfo").flatMap { text in
            for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
                let words = line.dropFirst("MemTotal:".count).split(separator: " ")
                guard let amount = words.first.flatMap({ UInt64($0) }) else { break }
                let unit = words.count > 1 ? words[1].lowercased() : ""
                let multiplier: UInt64 = unit == "kb" ? 1024 : (unit == "mb" ? 1 << 20 : 1)
                let (bytes, overflow) = amount.multipliedReportingOverflow(by: multiplier)
                return overflow ? .unavailable(reason: "MemTotal overflows") : .value(bytes)
            }
            return .unavailable(reason: "/proc/meminfo has no readable MemTotal")
        }
    }
}
