import Foundation
@testable import StewardDevice
import StewardTesting
import Testing
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// libc's `close`, by a name the monitors' `close()` methods cannot shadow.
private func closeDescriptor(_ fd: Int32) { _ = close(fd) }

/// Collects a stream's events, or returns nil when it has not finished within `seconds`.
private func collect(
    _ stream: AsyncStream<DeviceEvent>, within seconds: Int = 5
) async -> [DeviceEvent]? {
    await within(seconds: seconds) {
        var events: [DeviceEvent] = []
        for await event in stream { events.append(event) }
        return events
    }
}

/// Runs `body`, or returns nil when it has not finished within `seconds` (a guard against hangs).
private func within<T: Sendable>(
    seconds: Int = 5, _ body: @escaping @Sendable () async -> T
) async -> T? {
    await withTaskGroup(of: T?.self) { group in
        group.addTask { await body() }
        group.addTask {
            try? await Task.sleep(for: .seconds(seconds))
            return nil
        }
        let first = await group.next() ?? nil
        group.cancelAll()
        return first
    }
}

/// A udev runtime directory whose `control` is a listening socket, so the source believes a
/// daemon runs and opens a real monitor (which, without a daemon, never sees an event). The
/// socket stays open until `close()`.
private final class FakeUdevDaemon: @unchecked Sendable {
    // @unchecked Sendable: the descriptor is written once in init and closed once.
    let directory: String
    /// The listening socket; -1 once closed (never closed twice: the number may be reused).
    private var fd: Int32

    /// - Parameter listening: false leaves a stale socket file that nothing answers on.
    init(listening: Bool = true) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("steward-udev-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array((directory + "/control").utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        if listening {
            guard listen(fd, 8) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        } else {
            closeDescriptor(fd)
            fd = -1
        }
    }

    func close() {
        if fd >= 0 { closeDescriptor(fd) }
        fd = -1
        try? FileManager.default.removeItem(atPath: directory)
    }
}

private func record(
    _ subsystem: String, _ sysname: String,
    properties: [String: String] = [:], sysattrs: [String: String] = [:],
    usbVendorID: String? = nil
) -> DeviceRecord {
    DeviceRecord(
        syspath: "/sys/devices/fixture/\(subsystem)/\(sysname)", subsystem: subsystem,
        sysname: sysname, devnode: "/dev/\(sysname)", properties: properties,
        sysattrs: sysattrs, usbVendorID: usbVendorID)
}

@Suite("libudev device source on this machine")
struct UdevDeviceSourceTests {
    private var udevDatabasePresent: Bool { access("/run/udev/data", F_OK) == 0 }

    @Test func enumeratingNetFindsLoopbackFromSysfsEvenWithoutUdevDaemon() async throws {
        let source = UdevDeviceSource()
        let interfaces = try await source.devices(in: "net")
        let loopback = try #require(interfaces.first { $0.sysname == "lo" })
        #expect(loopback.subsystem == "net")
        #expect(loopback.syspath.hasSuffix("/net/lo"))
        #expect(loopback.properties["INTERFACE"] == "lo")
        #expect(loopback.sysattrs["type"] == "772")  // ARPHRD_LOOPBACK
        #expect(loopback.sysattrs["address"] == nil)  // hardware addresses are not read
    }

    @Test func listingSaysWhetherTheUdevDatabaseIsThere() async throws {
        let source = UdevDeviceSource()
        #expect(source.udevDatabase.isAvailable == udevDatabasePresent)
        let cameras = try await source.cameras()
        #expect(cameras.udevDatabase == source.udevDatabase)
        if !udevDatabasePresent {
            guard case .unavailable(let reason) = cameras.udevDatabase else {
                Issue.record("expected the udev database to be reported unavailable")
                return
            }
            #expect(reason.contains("/run/udev/data"))
        }
    }

    @Test func missingRuntimeDirectoryMeansDatabaseUnavailable() {
        let source = UdevDeviceSource(runtimeDirectory: "/nonexistent/steward-udev")
        #expect(!source.udevDatabase.isAvailable)
    }

    @Test func unknownSubsystemIsEmptyNotAnError() async throws {
        let source = UdevDeviceSource()
        #expect(try await source.devices(in: "steward-no-such-subsystem").isEmpty)
    }

    @Test func classifiersRunOnTheRealMachineWithoutThrowing() async throws {
        let source = UdevDeviceSource()
        let cameras = try await source.cameras()
        let audio = try await source.audioCaptureDevices()
        let gnss = try await source.gnssReceivers()
        #expect(cameras.devices.allSatisfy { $0.subsystem == "video4linux" })
        #expect(audio.devices.allSatisfy { $0.sysname.hasSuffix("c") })
        #expect(gnss.devices.allSatisfy { $0.subsystem == "gnss" || $0.subsystem == "tty" })
    }

    @Test(.enabled(if: access("/run/udev/control", F_OK) != 0, "needs a machine without a udev daemon"))
    func eventsWithoutUdevDaemonSayUnavailableAndFinish() async throws {
        let events = try #require(await collect(UdevDeviceSource().events()), "events() hung")
        #expect(events.count == 1)
        guard case .unavailable(let reason)? = events.first else {
            Issue.record("expected .unavailable, got \(events)")
            return
        }
        #expect(reason.contains("/run/udev/control"))
    }

    @Test func eventsWithMissingControlSocketSayUnavailableAndFinish() async throws {
        let source = UdevDeviceSource(runtimeDirectory: "/nonexistent/steward-udev")
        let events = try #require(await collect(source.events()), "events() hung")
        #expect(events.count == 1)
        if case .unavailable = events.first {} else { Issue.record("got \(events)") }
    }

    @Test func aControlFileThatIsNotALiveSocketMeansNoDaemonInsteadOfAHang() async throws {
        let plain = FileManager.default.temporaryDirectory.appendingPathComponent("steward-udev-\(UUID().uuidString)")
            .path
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: plain) }
        try Data().write(to: URL(fileURLWithPath: plain + "/control"))
        let stale = try FakeUdevDaemon(listening: false)
        defer { stale.close() }
        for (directory, phrase) in [(plain, "not a socket"), (stale.directory, "nothing answers")] {
            let events = try #require(
                await collect(UdevDeviceSource(runtimeDirectory: directory).events()), "events() hung")
            guard case .unavailable(let reason)? = events.first, events.count == 1 else {
                Issue.record("expected one .unavailable, got \(events)")
                continue
            }
            #expect(reason.contains(phrase), "\(reason)")
        }
    }

    // With a real udev daemon, cancellation of a stream that is receiving events cannot be
    // tested in this container. The two tests below open a real monitor by faking the control
    // socket's presence: it gets no events, but its poll loop and its shutdown are the real ones.

    @Test func cancellingTheConsumerFinishesTheStreamAndStopsTheMonitorThread() async throws {
        let daemon = try FakeUdevDaemon()
        defer { daemon.close() }
        let directory = daemon.directory
        let (exited, exit) = AsyncStream.makeStream(of: Void.self)
        let source = UdevDeviceSource(
            runtimeDirectory: directory,
            monitorExited: {
                exit.yield()
                exit.finish()
            })
        let stream = source.events()
        let consumer = Task {
            var events: [DeviceEvent] = []
            for await event in stream { events.append(event) }
            return events
        }
        consumer.cancel()
        let events = try #require(await within { await consumer.value }, "stream did not finish")
        // Nothing happens without a daemon; if the netlink socket was refused, that is said.
        #expect(events.allSatisfy { if case .unavailable = $0 { true } else { false } })
        let stopped = await within {
            for await _ in exited { return true }; return false
        }
        #expect(stopped == true, "monitor thread did not exit")
    }

    @Test func droppingTheStreamStopsTheMonitorThread() async throws {
        let daemon = try FakeUdevDaemon()
        defer { daemon.close() }
        let directory = daemon.directory
        let (exited, exit) = AsyncStream.makeStream(of: Void.self)
        let source = UdevDeviceSource(
            runtimeDirectory: directory,
            monitorExited: {
                exit.yield()
                exit.finish()
            })
        _ = source.events()
        let stopped = await within {
            for await _ in exited { return true }; return false
        }
        #expect(stopped == true, "monitor thread did not exit")
    }

    @Test func everyLibudevJobRunsOnTheOneDedicatedThread() async throws {
        let source = UdevDeviceSource()
        let threads = try await withThrowingTaskGroup(of: UInt.self) { group in
            for _ in 0..<200 {
                group.addTask { try await source.worker.run { _ in UInt(pthread_self()) } }
            }
            var threads: Set<UInt> = []
            for try await thread in group { threads.insert(thread) }
            return threads
        }
        #expect(threads.count == 1)
        #expect(threads.first != UInt(pthread_self()))
    }

    @Test func manyConcurrentCallsAreSerialisedOnTheUdevThread() async throws {
        let source = UdevDeviceSource()
        let subsystems = ["net", "tty", "mem", "sound", "video4linux", "gnss", "block", "misc"]
        let foundLoopback = try await withThrowingTaskGroup(of: Bool?.self) { group in
            for index in 0..<400 {
                let subsystem = subsystems[index % subsystems.count]
                group.addTask {
                    let devices = try await source.devices(in: subsystem)
                    return subsystem == "net" ? devices.contains { $0.sysname == "lo" } : nil
                }
            }
            var all = true
            for try await found in group { if let found { all = all && found } }
            return all
        }
        #expect(foundLoopback)
    }

    @Test func sourcesComeAndGoWithoutLeakingOrCrashing() async throws {
        for _ in 0..<50 {
            let source = UdevDeviceSource()
            _ = try await source.devices(in: "net")
        }
    }
}

@Suite("Device classification from a described device")
struct DeviceClassificationTests {
    @Test func camerasAreCaptureDevicesByUdevCapabilities() async throws {
        let source = FixtureDeviceSource(records: [
            record("video4linux", "video0", properties: ["ID_V4L_CAPABILITIES": ":capture:"]),
            record("video4linux", "video1", properties: ["ID_V4L_CAPABILITIES": ":"]),  // UVC metadata
            record("video4linux", "video2", properties: ["ID_V4L_CAPABILITIES": ":video_output:"]),
            record("video4linux", "video3", properties: ["ID_V4L_CAPABILITIES": ":video_output:capture:"]),
        ])
        let cameras = try await source.cameras()
        #expect(cameras.devices.map(\.sysname) == ["video0", "video3"])
        #expect(cameras.matches.allSatisfy { $0.basis == .udevProperty })
        #expect(cameras.udevDatabase == .available)
    }

    @Test func withoutUdevDatabaseCamerasFallBackToSysfsIndex() async throws {
        let source = FixtureDeviceSource(
            records: [
                record("video4linux", "video0", sysattrs: ["name": "Integrated Camera", "index": "0"]),
                record("video4linux", "video1", sysattrs: ["name": "Integrated Camera", "index": "1"]),
                record("video4linux", "video2", sysattrs: ["name": "no index"]),
            ],
            udevDatabase: .unavailable(reason: "no /run/udev/data"))
        let cameras = try await source.cameras()
        #expect(cameras.devices.map(\.sysname) == ["video0"])
        #expect(cameras.matches.first?.basis == .sysfs)
        #expect(cameras.udevDatabase == .unavailable(reason: "no /run/udev/data"))
    }

    @Test(arguments: [
        ("pcmC0D0c", true), ("pcmC1D12c", true), ("pcmC0D0p", false), ("controlC0", false),
        ("pcmC0c", false), ("pcmCxD0c", false), ("pcmC0D0", false), ("timer", false),
        ("pcmC0D0cc", false), ("pcmCD0c", false),
    ])
    func audioCaptureIsPCMNamesEndingInC(name: String, isCapture: Bool) async throws {
        let source = FixtureDeviceSource(records: [record("sound", name)])
        let audio = try await source.audioCaptureDevices()
        #expect(audio.devices.map(\.sysname) == (isCapture ? [name] : []))
    }

    @Test func audioCaptureIgnoresOtherSubsystems() async throws {
        let source = FixtureDeviceSource(devices: ["sound": [record("tty", "pcmC0D0c")]])
        #expect(try await source.audioCaptureDevices().matches.isEmpty)
    }

    @Test func gnssReceiversComeFromSubsystemUdevMarkOrKnownVendor() async throws {
        let source = FixtureDeviceSource(records: [
            record("gnss", "gnss0"),
            record("tty", "ttyACM0", usbVendorID: "1546"),  // u-blox
            record("tty", "ttyUSB0", usbVendorID: "067b"),  // generic USB-serial bridge
            record("tty", "ttyUSB1", properties: ["ID_GNSS": "1"]),
            record("tty", "ttyS0"),
            record("tty", "ttyACM1", properties: ["ID_VENDOR_ID": "091E"]),  // Garmin, from udev
        ])
        let gnss = try await source.gnssReceivers()
        #expect(gnss.devices.map(\.sysname) == ["gnss0", "ttyACM0", "ttyUSB1", "ttyACM1"])
        #expect(gnss.matches.map(\.basis) == [.subsystem, .usbVendor, .udevProperty, .usbVendor])
    }

    @Test func fixtureReplaysScriptedEventsThenFinishes() async throws {
        let camera = record("video4linux", "video0")
        let script: [DeviceEvent] = [.added(camera), .changed(camera), .removed(camera)]
        let source = FixtureDeviceSource(events: script)
        let events = try #require(await collect(source.events()))
        #expect(events == script)
        // Each call replays the script afresh.
        #expect(await collect(source.events()) == script)
    }

    @Test func recordsRoundTripThroughCodable() throws {
        let listing = DeviceListing(
            matches: [DeviceMatch(device: record("gnss", "gnss0"), basis: .subsystem)],
            udevDatabase: .unavailable(reason: "container"))
        let data = try JSONEncoder().encode(listing)
        #expect(try JSONDecoder().decode(DeviceListing.self, from: data) == listing)
    }
}
