import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A real GNOME Keyring on a private D-Bus session bus, for tests of code that keeps keys in the
/// Secret Service (`SecretServiceKeyProvider`): a `dbus-daemon` listening on a socket in a
/// temporary folder (no service is activated on it), and `gnome-keyring-daemon
/// --components=secrets` with its home, data and runtime folders in that folder too. Nothing of
/// the user's own session or keyring is touched. ``stop()`` ends both daemons and removes the
/// folder.
///
/// libsecret reaches the bus the *process's* `DBUS_SESSION_BUS_ADDRESS` names, so code under
/// test runs where that variable can be set without affecting other tests: in a child process
/// (an exit test), given ``address``.
///
/// ```swift
/// let keyring = try PrivateSecretService()
/// defer { keyring.stop() }
/// await #expect(processExitsWith: .success) { [address = keyring.address] in
///     setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
///     let keys = SecretServiceKeyProvider(application: "org.example.tests", scope: "one")
///     _ = try keys.key(named: "vault", createIfMissing: true)
/// }
/// ```
///
/// Needs `dbus-daemon`, `dbus-send` and `gnome-keyring-daemon` (Debian: dbus, gnome-keyring);
/// `init(unlocked:)` throws when they are missing.
public final class PrivateSecretService: Sendable {
    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS`.
    public let address: String
    /// The temporary folder holding the bus socket and the keyring's files.
    public let directory: String
    private let bus: ChildProcess
    private let keyring: ChildProcess?

    /// Starts the bus and, with `keyring` true, the keyring daemon on it.
    ///
    /// - Parameters:
    ///   - keyring: Whether a Secret Service runs on the bus (false: a bus where none answers).
    ///   - unlocked: Whether the keyring starts with its login collection made and unlocked
    ///     (`--unlock`, a password on standard input); false leaves it without one.
    /// - Throws: ``PrivateSecretService/Failure`` when a daemon is missing or does not come up
    ///   within 20 seconds.
    public init(keyring: Bool = true, unlocked: Bool = true) throws {
        directory = NSTemporaryDirectory() + "steward-keyring-" + String(UUID().uuidString.prefix(8))
        for folder in ["", "/home", "/data", "/config", "/runtime"] {
            guard mkdir(directory + folder, 0o700) == 0 else { throw Failure("cannot make \(directory + folder)") }
        }
        let configuration = """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>unix:path=\(directory)/bus</listen>
              <policy context="default">
                <allow send_destination="*" eavesdrop="true"/>
                <allow eavesdrop="true"/>
                <allow own="*"/>
              </policy>
            </busconfig>
            """
        try Data(configuration.utf8).write(to: URL(fileURLWithPath: directory + "/bus.conf"))

        let bus = try ChildProcess(
            try Self.tool("dbus-daemon"),
            arguments: ["--config-file=\(directory)/bus.conf", "--nofork", "--print-address=1"],
            standardOutput: .pipe, standardError: .nullDevice)
        self.bus = bus
        // The address is the first line it prints, once it listens.
        var line: [UInt8] = []
        while !line.contains(0x0A), let chunk = try? bus.standardOutput?.read(), !chunk.isEmpty {
            line += chunk
        }
        let printed = String(decoding: line, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
        guard printed.hasPrefix("unix:") else {
            bus.kill(SIGKILL)
            throw Failure("dbus-daemon printed no address")
        }
        address = printed

        guard keyring else {
            self.keyring = nil
            return
        }
        let daemon: ChildProcess
        do {
            daemon = try ChildProcess(
                try Self.tool("gnome-keyring-daemon"),
                arguments: ["--foreground", "--components=secrets"] + (unlocked ? ["--unlock"] : []),
                environment: [
                    "DBUS_SESSION_BUS_ADDRESS": address, "HOME": directory + "/home",
                    "XDG_DATA_HOME": directory + "/data", "XDG_CONFIG_HOME": directory + "/config",
                    "XDG_RUNTIME_DIR": directory + "/runtime", "PATH": "/usr/bin:/bin",
                ],
                standardInput: .pipe, standardOutput: .nullDevice, standardError: .nullDevice)
        } catch {
            bus.kill(SIGKILL)
            throw error
        }
        self.keyring = daemon
        if unlocked { try? daemon.standardInput?.write("steward-test-password") }
        daemon.standardInput?.close()
        let deadline = Date().addingTimeInterval(20)
        while !(try send(
            ["org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets"], to: "org.freedesktop.DBus",
            path: "/org/freedesktop/DBus")).contains("boolean true")
        {
            guard Date() < deadline, daemon.isRunning else {
                stop()
                throw Failure("gnome-keyring-daemon did not come up on the private bus")
            }
            usleep(50_000)
        }
    }

    /// Locks the login collection (no prompt: locking never asks).
    public func lock() throws {
        _ = try send(
            [
                "org.freedesktop.Secret.Service.Lock",
                "array:objpath:/org/freedesktop/secrets/collection/login",
            ], to: "org.freedesktop.secrets", path: "/org/freedesktop/secrets")
    }

    /// Ends the keyring daemon and the bus, and removes the folder.
    public func stop() {
        // SIGKILL: nothing of theirs needs to be saved (ChildProcess starts them with no signal
        // blocked, so SIGTERM would reach them too; Foundation's Process passed on the test
        // process's blocked signals, SIGTERM among them).
        for process in [keyring, bus].compactMap({ $0 }) {
            process.kill(SIGKILL)
            _ = process.wait()
        }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A daemon that is missing or failed.
    public struct Failure: Error, CustomStringConvertible {
        /// What went wrong.
        public let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: - Private

    /// Calls a method with dbus-send and returns what it printed.
    private func send(_ arguments: [String], to destination: String, path: String) throws -> String {
        let outcome = try ChildProcess.run(
            try Self.tool("dbus-send"),
            arguments: ["--bus=\(address)", "--print-reply", "--dest=\(destination)", path] + arguments)
        guard outcome.termination == .exited(0) else { throw Failure("dbus-send \(arguments[0]) failed") }
        return String(decoding: outcome.standardOutput, as: UTF8.self)
    }

    private static func tool(_ name: String) throws -> String {
        for folder in ["/usr/bin", "/bin", "/usr/local/bin"] where access(folder + "/" + name, X_OK) == 0 {
            return folder + "/" + name
        }
        throw Failure(
            "\(name) is not installed (Debian: apt-get install dbus gnome-keyring); scripts/bootstrap.sh installs it")
    }
}
