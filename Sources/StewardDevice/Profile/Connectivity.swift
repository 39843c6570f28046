/// Whether the device can reach beyond its local links.
///
/// Decided from the kernel alone, with no NetworkManager: carrier on a non-loopback interface,
/// and a default route (destination `00000000`) in `/proc/net/route` via an interface that is up.
public enum Connectivity: String, Codable, Sendable, Hashable, CaseIterable {
    /// No non-loopback interface has carrier.
    case offline
    /// Some link has carrier, but there is no default route through an up interface.
    case localOnly
    /// A link has carrier and there is a default route through an up interface.
    case online

    /// Decides connectivity from the interfaces and `/proc/net/route`.
    ///
    /// - Parameters:
    ///   - interfaces: The interfaces read for the profile.
    ///   - files: Where to read `/proc/net/route` from.
    /// - Returns: The connectivity, or unavailable when the route table cannot be read.
    public static func decide(interfaces: [NetworkInterface], files: SystemFiles) -> Field<Connectivity> {
        let linked = interfaces.filter { $0.type != .loopback && $0.carrier.value == true }
        guard !linked.isEmpty else { return .value(.offline) }
        return files.text("/proc/net/route").map { table in
            let up = Set(interfaces.filter(\.isUp).map(\.name))
            let hasDefault = table.split(separator: "\n").dropFirst().contains { line in
                let columns = line.split(whereSeparator: { $0 == "\t" || $0 == " " })
                guard columns.count >= 4, columns[1] == "00000000",
                    let flags = UInt32(columns[3], radix: 16)
                else { return false }
                let routeUp: UInt32 = 0x0001  // RTF_UP
                return flags & routeUp != 0 && up.contains(String(columns[0]))
            }
            return hasDefault ? .online : .localOnly
        }
    }
}
