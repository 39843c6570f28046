/// How an interface's current hardware address came to be, and what it looks like.
///
/// `assignment` comes from sysfs `addr_assign_type`: 0 permanent (burned in, or given by the
/// hypervisor — virtio NICs report "permanent" with a locally administered address), 1 random,
/// 2 stolen from another device, 3 set from user space.
public struct MACAddressKind: Codable, Sendable, Hashable {
    /// How the kernel says the address was assigned.
    public enum Assignment: String, Codable, Sendable, Hashable, CaseIterable {
        /// Burned in or given by the hypervisor (`addr_assign_type` 0).
        case permanent
        /// Randomly generated (`addr_assign_type` 1).
        case random
        /// Stolen from another device (`addr_assign_type` 2).
        case stolen
        /// Set from user space (`addr_assign_type` 3).
        case set
    }

    /// How the kernel says the address was assigned.
    public var assignment: Field<Assignment>
    /// Whether the locally administered bit (0x02 of the first byte) is set.
    public var locallyAdministered: Bool
    /// Whether every byte of the address is zero (loopback, tunnels).
    public var allZero: Bool

    /// Creates a MAC address kind from its parts.
    public init(assignment: Field<Assignment>, locallyAdministered: Bool, allZero: Bool) {
        self.assignment = assignment
        self.locallyAdministered = locallyAdministered
        self.allZero = allZero
    }

    /// Classifies an address given as colon-separated hex and the `addr_assign_type` text.
    ///
    /// - Parameters:
    ///   - address: Such as `52:54:00:12:34:56`.
    ///   - assignType: The `addr_assign_type` attribute, or why it could not be read.
    /// - Returns: The kind, or unavailable when the address is not colon-separated hex.
    public static func classify(address: String, assignType: Field<String>) -> Field<MACAddressKind> {
        guard let bytes = parseHardwareAddress(address) else {
            return .unavailable(reason: "address '\(address)' is not colon-separated hex")
        }
        let assignment = assignType.flatMap { text -> Field<Assignment> in
            switch text {
            case "0": return .value(.permanent)
            case "1": return .value(.random)
            case "2": return .value(.stolen)
            case "3": return .value(.set)
            default: return .unavailable(reason: "unknown addr_assign_type '\(text)'")
            }
        }
        return .value(
            MACAddressKind(
                assignment: assignment,
                locallyAdministered: (bytes.first ?? 0) & 0x02 != 0,
                allZero: bytes.allSatisfy { $0 == 0 }))
    }
}

/// Parses `aa:bb:cc...` into bytes; `nil` if any part is not one or two hex digits.
func parseHardwareAddress(_ text: String) -> [UInt8]? {
    let parts = text.split(separator: ":", omittingEmptySubsequences: false)
    guard !parts.isEmpty else { return nil }
    var bytes: [UInt8] = []
    for part in parts {
        guard (1...2).contains(part.count), let byte = UInt8(part, radix: 16) else { return nil }
        bytes.append(byte)
    }
    return bytes
}
