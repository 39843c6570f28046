import struct Foundation.URL
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Which endpoint URLs an ``HTTPTransport`` accepts: HTTPS anywhere, plain HTTP to loopback only.
package enum EndpointPolicy {
    /// Checks `url` and returns the string handed to libcurl.
    static func validate(_ url: URL) throws(HTTPTransportError) -> String {
        guard let scheme = url.scheme?.lowercased() else {
            throw HTTPTransportError(
                .invalidEndpoint, "The endpoint \(url.absoluteString) has no scheme; use an https:// URL.")
        }
        guard let rawHost = url.host, !rawHost.isEmpty else {
            throw HTTPTransportError(
                .invalidEndpoint,
                "The endpoint \(url.absoluteString) has no host; use an https:// URL with a host name.")
        }
        switch scheme {
        case "https":
            break
        case "http":
            guard isLoopback(host: rawHost) else {
                throw HTTPTransportError(
                    .insecureEndpoint,
                    "The endpoint \(url.absoluteString) uses plain HTTP to \(rawHost), which is not a loopback address; "
                        + "plain HTTP is allowed for 127.0.0.0/8, ::1 and localhost only. Use https:// instead.")
            }
        default:
            throw HTTPTransportError(
                .unsupportedScheme, "The endpoint \(url.absoluteString) uses the scheme \(scheme); use an https:// URL."
            )
        }
        return url.absoluteString
    }

    /// Whether `host` (a name or an address literal, IPv6 with or without brackets) is a
    /// loopback host: `localhost`, an address in 127.0.0.0/8, `::1`, or an IPv4-mapped
    /// 127.0.0.0/8 address. Names other than `localhost` are not resolved: they do not count.
    package static func isLoopback(host: String) -> Bool {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name == "localhost" || name == "localhost." { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, name, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, name, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes == [UInt8](repeating: 0, count: 15) + [1] { return true }
            // ::ffff:127.x.y.z
            return bytes[0..<10].allSatisfy { $0 == 0 } && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
        }
        return false
    }
}
