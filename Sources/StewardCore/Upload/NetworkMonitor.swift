import CStewardLinux
import Foundation
import Synchronization

/// What a ``Transport`` needs of the network to deliver, so an ``Uploader`` with a
/// ``NetworkMonitor`` pauses while the device cannot reach the recipient instead of spending
/// attempts (and battery) on sends that must fail.
public enum NetworkNeed: Hashable, Sendable {
    /// Nothing: the transport writes files or talks to this machine. Never paused.
    case none
    /// Some network, wherever it leads (a host name, a proxy, a transport Steward cannot see
    /// into): paused while no interface but loopback is up, with carrier and a routable address.
    case anyNetwork
    /// These hosts, as names or IP literals: paused while none of them can be reached. For an
    /// IP literal the kernel is asked for its route, and the interface the route leaves by must
    /// be up with carrier; loopback addresses and `localhost` are always reachable. A name counts
    /// as ``anyNetwork`` (no DNS lookup is made to decide).
    case hosts([String])
}

/// Watches the kernel's link, address and route events (a NETLINK_ROUTE socket: no polling
/// loop) and tells whether a ``NetworkNeed`` can be met now.
///
/// One thread sleeps in `poll(2)` on the socket; after each burst of events (collected for
/// 50 ms) the change handlers run on it. ``canReach(_:)`` reads the interfaces
/// (`getifaddrs(3)`) and asks the kernel for routes (a UDP socket's `connect(2)`, which sends
/// nothing), and keeps its answers until the next event.
///
/// The monitor errs towards "reachable": when the interfaces cannot be read, a need counts as
/// met, so a failure here never holds data back for good.
public final class NetworkMonitor: Sendable {
    /// One interface as the monitor sees it.
    package struct Interface: Sendable, Equatable {
        /// The interface name (`eth0`).
        package var name: String
        /// Administratively up with carrier (`IFF_UP` and `IFF_RUNNING`).
        package var isUsable: Bool
        /// The loopback interface.
        package var isLoopback: Bool
        /// Its addresses: 4 bytes (IPv4) or 16 (IPv6).
        package var addresses: [[UInt8]]

        /// An interface.
        package init(name: String, isUsable: Bool, isLoopback: Bool, addresses: [[UInt8]]) {
            self.name = name
            self.isUsable = isUsable
            self.isLoopback = isLoopback
            self.addresses = addresses
        }
    }

    /// Where the monitor reads the network's state: the system by default; tests replay states.
    package struct Probe: Sendable {
        /// The interfaces now, or nil when they cannot be read.
        package var interfaces: @Sendable () -> [Interface]?
        /// The local address the kernel would send from to reach `address` (4 or 16 bytes), or
        /// nil when it has no route there.
        package var sourceAddress: @Sendable (_ address: [UInt8]) -> [UInt8]?

        /// A probe made of the two readings.
        package init(
            interfaces: @escaping @Sendable () -> [Interface]?,
            sourceAddress: @escaping @Sendable (_ address: [UInt8]) -> [UInt8]?
        ) {
            self.interfaces = interfaces
            self.sourceAddress = sourceAddress
        }

        /// The system's interfaces and routes.
        package static let system = Probe(interfaces: readInterfaces, sourceAddress: routeSource)
    }

    private final class Shared: Sendable {
        struct State {
            var handlers: [UInt64: @Sendable () -> Void] = [:]
            var nextHandler: UInt64 = 0
            var answers: [NetworkNeed: Bool] = [:]
            var interfaces: [Interface]?? = nil
            var events = 0
            /// Whether answers may be kept: events still come to clear them (always, for a
            /// monitor that replays; while the thread watches, for one that watches).
            var caches = true
            /// The eventfd that ends the watching thread, while it is open (the thread closes
            /// it, under this lock, as it ends: no write can reach a reused descriptor).
            var stopFD: Int32 = -1
        }
        let state = Mutex(State())
        let probe: Probe
        init(probe: Probe) { self.probe = probe }

        /// The watching thread ends: its descriptors close, and answers are no longer kept.
        func ended(socket: Int32) {
            state.withLock { s in
                Glibc.close(socket)
                if s.stopFD >= 0 { Glibc.close(s.stopFD) }
                s.stopFD = -1
                s.caches = false
                s.answers = [:]
                s.interfaces = nil
            }
        }

        /// Forgets the cached answers and runs the change handlers.
        func changed() {
            let handlers = state.withLock { s in
                s.answers = [:]
                s.interfaces = nil
                s.events += 1
                return Array(s.handlers.values)
            }
            for handler in handlers { handler() }
        }
    }

    private let shared: Shared

    /// Opens the netlink socket and starts watching.
    ///
    /// - Throws: ``SystemError`` when the kernel refuses the socket (no netlink in a sandbox);
    ///   the facade then delivers without pausing.
    public convenience init() throws(SystemError) {
        self.init(probe: .system)
        try startWatching()
    }

    /// A monitor that reads the network through `probe` and learns of changes only through
    /// ``noteChange()``: for tests that replay states.
    package convenience init(replaying probe: Probe) {
        self.init(probe: probe)
    }

    private init(probe: Probe) {
        shared = Shared(probe: probe)
    }

    /// Opens the netlink socket and the eventfd that stops the thread, and starts the thread.
    private func startWatching() throws(SystemError) {
        let socket = steward_netlink_route_events()
        guard socket >= 0 else { throw SystemError(call: "socket(NETLINK_ROUTE)", errno: -socket) }
        let stop = eventfd(0, Int32(EFD_CLOEXEC))
        guard stop >= 0 else {
            let error = SystemError(call: "eventfd", errno: errno)
            Glibc.close(socket)
            throw error
        }
        shared.state.withLock { $0.stopFD = stop }
        let shared = self.shared
        // A Steward thread: named for /proc and crash records, and given its alternate signal
        // stack while a crash reporter is installed (a plain Thread got neither).
        StewardThread.start(name: "steward-network") { Self.watch(socket: socket, stop: stop, shared: shared) }
    }

    deinit { close() }

    /// Stops watching (idempotent). Answers after this still read the network, uncached.
    public func close() {
        shared.state.withLock { s in
            guard s.stopFD >= 0, s.caches else { return }
            // Under the lock the thread closes the descriptor with: it is still this eventfd.
            s.caches = false
            s.answers = [:]
            s.interfaces = nil
            var one: UInt64 = 1
            _ = write(s.stopFD, &one, 8)
        }
    }

    /// Network events seen so far (bursts, each counted once).
    public var changeCount: Int { shared.state.withLock { $0.events } }

    /// Calls `handler` (on the monitor's thread) after every burst of link, address or route
    /// events. Returns a token for ``removeChangeHandler(_:)``.
    @discardableResult
    public func onChange(_ handler: @escaping @Sendable () -> Void) -> UInt64 {
        shared.state.withLock { s in
            s.nextHandler += 1
            s.handlers[s.nextHandler] = handler
            return s.nextHandler
        }
    }

    /// Removes a handler ``onChange(_:)`` added.
    public func removeChangeHandler(_ token: UInt64) {
        _ = shared.state.withLock { $0.handlers.removeValue(forKey: token) }
    }

    /// Does what the watching thread does after a burst of events: forgets the answers and runs
    /// the handlers. For monitors made with ``init(replaying:)``.
    package func noteChange() { shared.changed() }

    /// Whether `need` can be met now (see ``NetworkNeed``).
    public func canReach(_ need: NetworkNeed) -> Bool {
        if case .none = need { return true }
        let (known, events) = shared.state.withLock { ($0.answers[need], $0.events) }
        if let known { return known }
        let answer = evaluate(need)
        // Kept until the next event, unless one came meanwhile or no events will come (closed).
        shared.state.withLock { s in if s.caches, s.events == events { s.answers[need] = answer } }
        return answer
    }

    private func interfaces() -> [Interface]? {
        let (cached, events) = shared.state.withLock { ($0.interfaces, $0.events) }
        if let cached { return cached }
        let read = shared.probe.interfaces()
        shared.state.withLock { s in if s.caches, s.events == events { s.interfaces = .some(read) } }
        return read
    }

    private func evaluate(_ need: NetworkNeed) -> Bool {
        guard let interfaces = interfaces() else { return true }
        let anyNetwork = interfaces.contains { interface in
            interface.isUsable && !interface.isLoopback && interface.addresses.contains(where: Self.isRoutable)
        }
        switch need {
        case .none: return true
        case .anyNetwork: return anyNetwork
        case .hosts(let hosts):
            if hosts.isEmpty { return anyNetwork }
            return hosts.contains { host in
                guard let address = Self.literal(host) else {
                    let name = host.lowercased()
                    return name == "localhost" || name.hasSuffix(".localhost") || anyNetwork
                }
                if Self.isLoopback(address) { return true }
                guard let source = shared.probe.sourceAddress(address) else { return false }
                // The interface the route leaves by; an address of no interface (a race with a
                // change) counts as reachable: the next event asks again.
                guard let owner = interfaces.first(where: { $0.addresses.contains(source) }) else { return true }
                return owner.isLoopback || owner.isUsable
            }
        }
    }

    /// Whether `need` never leaves this machine: ``NetworkNeed/none``, or hosts that are all
    /// loopback (127/8, ::1, `localhost`). Such a need is always met; nothing watches for it.
    public static func isLocal(_ need: NetworkNeed) -> Bool {
        switch need {
        case .none: return true
        case .anyNetwork: return false
        case .hosts(let hosts):
            return !hosts.isEmpty
                && hosts.allSatisfy { host in
                    if let address = literal(host) { return isLoopback(address) }
                    let name = host.lowercased()
                    return name == "localhost" || name.hasSuffix(".localhost")
                }
        }
    }

    // MARK: - Addresses

    /// The bytes of an IP literal (IPv6 possibly in brackets), or nil for a name.
    package static func literal(_ host: String) -> [UInt8]? {
        var text = host
        if text.hasPrefix("["), text.hasSuffix("]") { text = String(text.dropFirst().dropLast()) }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// 127/8, ::1 and ::ffff:127.0.0.0/104.
    static func isLoopback(_ address: [UInt8]) -> Bool {
        if address.count == 4 { return address[0] == 127 }
        guard address.count == 16 else { return false }
        if address[0..<15].allSatisfy({ $0 == 0 }), address[15] == 1 { return true }
        return address[0..<10].allSatisfy { $0 == 0 } && address[10] == 0xff && address[11] == 0xff
            && address[12] == 127
    }

    /// An address that can lead off the link: not loopback, not IPv4 link-local (169.254/16),
    /// not IPv6 link-local (fe80::/10).
    static func isRoutable(_ address: [UInt8]) -> Bool {
        if isLoopback(address) { return false }
        if address.count == 4 { return !(address[0] == 169 && address[1] == 254) }
        return address.count == 16 && !(address[0] == 0xfe && address[1] & 0xc0 == 0x80)
    }

    // MARK: - The system

    /// The interfaces by `getifaddrs(3)`, or nil when it fails.
    private static func readInterfaces() -> [Interface]? {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0 else { return nil }
        defer { freeifaddrs(list) }
        var byName: [String: Interface] = [:]
        var order: [String] = []
        var next = list
        while let entry = next {
            next = entry.pointee.ifa_next
            guard let cName = entry.pointee.ifa_name else { continue }
            let name = String(cString: cName)
            let flags = entry.pointee.ifa_flags
            if byName[name] == nil {
                order.append(name)
                byName[name] = Interface(
                    name: name,
                    isUsable: flags & UInt32(IFF_UP) != 0 && flags & UInt32(IFF_RUNNING) != 0,
                    isLoopback: flags & UInt32(IFF_LOOPBACK) != 0, addresses: [])
            }
            guard let address = entry.pointee.ifa_addr else { continue }
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                let bytes = UnsafeRawPointer(address).withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                    var value = $0.pointee.sin_addr
                    return withUnsafeBytes(of: &value) { Array($0) }
                }
                byName[name]?.addresses.append(bytes)
            case AF_INET6:
                let bytes = UnsafeRawPointer(address).withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                    var value = $0.pointee.sin6_addr
                    return withUnsafeBytes(of: &value) { Array($0) }
                }
                byName[name]?.addresses.append(bytes)
            default:
                break
            }
        }
        return order.compactMap { byName[$0] }
    }

    /// The source address of the kernel's route to `address`: a UDP socket's `connect(2)`
    /// looks the route up and sends nothing. Nil when there is no route (ENETUNREACH).
    private static func routeSource(_ address: [UInt8]) -> [UInt8]? {
        if address.count == 4 {
            var target = sockaddr_in()
            target.sin_family = sa_family_t(AF_INET)
            target.sin_port = UInt16(9).bigEndian
            withUnsafeMutableBytes(of: &target.sin_addr) { $0.copyBytes(from: address) }
            return source(connecting: target, family: AF_INET) { withUnsafeBytes(of: &$0.sin_addr) { Array($0) } }
        }
        guard address.count == 16 else { return nil }
        var target = sockaddr_in6()
        target.sin6_family = sa_family_t(AF_INET6)
        target.sin6_port = UInt16(9).bigEndian
        withUnsafeMutableBytes(of: &target.sin6_addr) { $0.copyBytes(from: address) }
        return source(connecting: target, family: AF_INET6) { withUnsafeBytes(of: &$0.sin6_addr) { Array($0) } }
    }

    /// Connects a UDP socket of `family` to `target` (a `sockaddr_in` or `sockaddr_in6`) and
    /// returns the local address the kernel chose, read from the socket's name by `address`.
    private static func source<Address>(
        connecting target: Address, family: Int32, address: (inout Address) -> [UInt8]
    ) -> [UInt8]? {
        let fd = socket(family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        var target = target
        let size = socklen_t(MemoryLayout<Address>.size)
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, size) }
        }
        guard connected == 0 else { return nil }
        var local = target
        var length = size
        let named = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { return nil }
        return address(&local)
    }

    // MARK: - Watching

    /// The watching thread: sleeps until the socket has events, drains it, waits 50 ms for the
    /// rest of the burst, and reports one change; ends when `stop` is signalled.
    private static func watch(socket: Int32, stop: Int32, shared: Shared) {
        defer { shared.ended(socket: socket) }
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var fds = [
            pollfd(fd: socket, events: Int16(POLLIN), revents: 0), pollfd(fd: stop, events: Int16(POLLIN), revents: 0),
        ]
        /// Reads every queued message; false when the socket failed for good.
        func drain() -> Bool {
            while true {
                let count = buffer.withUnsafeMutableBytes {
                    recv(socket, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT))
                }
                if count > 0 { continue }
                if count == 0 { return true }
                switch errno {
                case EAGAIN, EWOULDBLOCK: return true
                case EINTR, ENOBUFS: continue  // ENOBUFS: events were lost; a change all the same
                default: return false
                }
            }
        }
        while true {
            fds[0].revents = 0
            fds[1].revents = 0
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else {
                // POLLERR or POLLHUP on the socket: nothing more will come.
                if fds[0].revents != 0 { return }
                continue
            }
            guard drain() else { return }
            // The rest of the burst (a link change brings link, address and route messages),
            // for at most half a second: a flapping link still reports.
            var rounds = 0
            while rounds < 10, poll(&fds, 2, 50) > 0 {
                rounds += 1
                if fds[1].revents != 0 { return }
                guard drain() else { return }
                fds[0].revents = 0
            }
            shared.changed()
        }
    }
}
