import Foundation
import StewardCore
@testable import StewardHTTP
import StewardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Proxies come from the standard environment variables, read by libcurl; loopback endpoints are
/// reached directly whatever they say. The environment is per process: each case runs in a
/// child process of its own, where it may set the variables.
@Suite struct ProxyTests {
    @Test func httpsGoesThroughTheEnvironmentsProxyAndLoopbackNever() async {
        await #expect(processExitsWith: .success) {
            // A proxy on loopback that refuses every tunnel, and records what it was asked.
            let proxy = try LoopbackServer(replies: [.respond(status: 403), .respond(status: 403)])
            defer { proxy.stop() }
            unsetenv("no_proxy")
            unsetenv("NO_PROXY")
            setenv("https_proxy", "http://127.0.0.1:\(proxy.port)", 1)
            setenv("http_proxy", "http://127.0.0.1:\(proxy.port)", 1)

            // An https endpoint elsewhere: libcurl asks the proxy for a tunnel (no DNS needed here).
            let remote = try HTTPTransport(endpoint: URL(string: "https://collector.example.com/v1/logs")!)
            let refused = await remote.send(samplePayload())
            guard refused != .accepted else { exit(10) }
            guard let tunnel = proxy.requests.first else { exit(11) }
            guard tunnel.method == "CONNECT", tunnel.path == "collector.example.com:443" else { exit(12) }

            // A loopback endpoint: reached directly, the proxy sees nothing more.
            let direct = try LoopbackServer(replies: [.respond(status: 200)])
            defer { direct.stop() }
            let local = try HTTPTransport(endpoint: direct.url)
            guard await local.send(samplePayload()) == .accepted else { exit(13) }
            guard direct.requests.count == 1, proxy.requests.count == 1 else { exit(14) }
        }
    }
}
