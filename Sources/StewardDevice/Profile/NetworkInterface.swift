import StewardCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One network interface, as sysfs (`/sys/class/net/<name>`) and ethtool describe it.
///
/// The addresses here are raw hardware addresses: they identify the device. Hand them on only
/// behind the device-identity permission; use pseudonymised addresses otherwise.
public struct NetworkInterface: Codable, Sendable, Hashable {
    /// What kind of link an interface is.
    public enum InterfaceType: String, Codable, Sendable, Hashable, CaseIterable {
        /// The loopback interface (`lo`).
        case loopback
        /// Wired Ethernet on a real (or emulated) device.
        case ethernet
        /// Wi-Fi (has `wireless` or `phy80211`).
        case wireless
        /// A software bridge (has `bridge`).
        case bridge
        /// A bonding master (has `bonding`).
        case bond
        /// A VLAN on another interface.
        case vlan
        /// A TUN or TAP device (has `tun_flags`).
        case tunTap
        /// Any other software interface (no `device` link): veth, dummy, ifb, wireguard...
        case virtual
        /// A device of another link type (InfiniBand, CAN...).
        case other
    }

    /// The operational state from `operstate` (RFC 2863).
    public enum OperationalState: String, Codable, Sendable, Hashable, CaseIterable {
        /// `up`
        case up
        /// `down`
        case down
        /// `dormant`
        case dormant
        /// `lowerlayerdown`
        case lowerLayerDown = "lowerlayerdown"
        /// `notpresent`
        case notPresent = "notpresent"
        /// `testing`
        case testing
        /// `unknown`: the driver does not report a state (loopback, many tunnels).
        case unknown
    }

    /// The interface name, such as `eth0` or `wlp2s0`.
    public var name: String
    /// What kind of link this is.
    public var type: InterfaceType
    /// The current hardware address (`address`).
    public var currentMAC: Field<String>
    /// The permanent hardware address from ETHTOOL_GPERMADDR; unavailable where unsupported.
    public var permanentMAC: Field<String>
    /// How the current address was assigned and what it looks like.
    public var macKind: Field<MACAddressKind>
    /// The operational state.
    public var operationalState: Field<OperationalState>
    /// Whether the link has carrier; unreadable (unavailable) while the interface is down.
    public var carrier: Field<Bool>
    /// Whether a device backs the interface (`device` link present).
    public var isPhysical: Bool

    /// `name` with a MAC address it spells out replaced by `…`: systemd's MAC-based names of
    /// every type (`enx`, `wlx`, `wwx`, `ibx`, `slx`, … then 12 hex digits, as
    /// `ID_NET_NAME_MAC` makes them) keep their type prefix (`wlx…`). Other names are returned
    /// as they are.
    public static func nameWithoutMAC(_ name: String) -> String {
        let bytes = Array(name.utf8)
        guard bytes.count == 15, bytes[2] == UInt8(ascii: "x"),
            bytes[0..<2].allSatisfy({ $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }),
            bytes[3...].allSatisfy({ Hex.nibble($0) != nil })
        else { return name }
        return String(decoding: bytes[0..<3], as: UTF8.self) + "…"
    }

    /// Creates an interface description from its fields.
    public init(
        name: String, type: InterfaceType, currentMAC: Field<String>, permanentMAC: Field<String>,
        macKind: Field<MACAddressKind>, operationalState: Field<OperationalState>,
        carrier: Field<Bool>, isPhysical: Bool
    ) {
        self.name = name
        self.type = type
        self.currentMAC = currentMAC
        self.permanentMAC = permanentMAC
        self.macKind = macKind
        self.operationalState = operationalState
        self.carrier = carrier
        self.isPhysical = isPhysical
    }

    /// Whether the interface is up (state `up`, or `unknown` with carrier as tunnels report).
    public var isUp: Bool {
        switch operationalState.value {
        case .up: return true
        case .unknown: return carrier.value == true
        default: return false
        }
    }

    /// Reads every interface under `/sys/class/net`.
    ///
    /// - Parameter files: Where to read from.
    /// - Returns: The interfaces sorted by name, or why the directory could not be listed.
    public static func readAll(files: SystemFiles) -> Field<[NetworkInterface]> {
        files.directoryEntries("/sys/class/net").map { names in
            // One datagram socket serves every ETHTOOL_GPERMADDR request.
            var socketFD: Int32? = nil
            if files.isRealRoot, files.permanentAddresses == nil {
                let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                if fd >= 0 { socketFD = fd }
            }
            defer { if let socketFD { close(socketFD) } }
            return names.filter {
                files.exists("/sys/class/net/\($0)/type") || files.exists("/sys/class/net/\($0)/address")
            }
            .map { read(name: $0, files: files, socket: socketFD) }
        }
    }

    static func read(name: String, files: SystemFiles, socket: Int32?) -> NetworkInterface {
        let base = "/sys/class/net/\(name)"
        let isPhysical = files.exists("\(base)/device")
        let current = files.attribute("\(base)/address")
        let kind = current.flatMap {
            MACAddressKind.classify(address: $0, assignType: files.attribute("\(base)/addr_assign_type"))
        }
        let state = files.attribute("\(base)/operstate").flatMap { text -> Field<OperationalState> in
            guard let state = OperationalState(rawValue: text) else {
                return .unavailable(reason: "unknown operstate '\(text)'")
            }
            return .value(state)
        }
        let carrier = files.attribute("\(base)/carrier").flatMap { text -> Field<Bool> in
            switch text {
            case "1": return .value(true)
            case "0": return .value(false)
            default: return .unavailable(reason: "unknown carrier value '\(text)'")
            }
        }
        let permanent: Field<String> =
            current.value == nil && files.permanentAddresses == nil
            ? .unavailable(reason: "\(name) has no hardware address")
            : files.permanentAddress(of: name, socket: socket)
        return NetworkInterface(
            name: name, type: classifyType(name: name, base: base, files: files, isPhysical: isPhysical),
            currentMAC: current, permanentMAC: permanent, macKind: kind,
            operationalState: state, carrier: carrier, isPhysical: isPhysical)
    }

    static func classifyType(name: String, base: String, files: SystemFiles, isPhysical: Bool) -> InterfaceType {
        let linkType = files.attribute("\(base)/type").value.flatMap { Int($0) }
        let devtype = files.text("\(base)/uevent").value?
            .split(separator: "\n")
            .first { $0.hasPrefix("DEVTYPE=") }
            .map { String($0.dropFirst("DEVTYPE=".count)) }
        let loopbackType = 772  // ARPHRD_LOOPBACK
        let etherType = 1  // ARPHRD_ETHER
        if linkType == loopbackType || (linkType == nil && name == "lo") { return .loopback }
        if files.exists("\(base)/wireless") || files.exists("\(base)/phy80211") || devtype == "wlan" {
            return .wireless
        }
        if files.exists("\(base)/bridge") || devtype == "bridge" { return .bridge }
        if files.exists("\(base)/bonding") || devtype == "bond" { return .bond }
        if devtype == "vlan" || files.exists("/proc/net/vlan/\(name)") { return .vlan }
        if files.exists("\(base)/tun_flags") { return .tunTap }
        if !isPhysical { return .virtual }
        if linkType == etherType || linkType == nil { return .ethernet }
        return .other
    }
}
