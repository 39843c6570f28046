import Foundation
import StewardTesting
import Testing

@testable import StewardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// SecretServiceKeyProvider against a real gnome-keyring-daemon on a private D-Bus bus this
// test starts. libsecret reaches the bus of the process's environment, so each test body runs
// in a child process (an exit test) with DBUS_SESSION_BUS_ADDRESS set there only.

/// The code of a `KeyProviderError`, nil for any other error.
func keyErrorCode(_ error: any Error) -> KeyProviderError.Code? { (error as? KeyProviderError)?.code }

@Suite(.tags(.slow)) struct SecretServiceKeyProviderTests {
    @Test("A key made in the keyring comes back the same from a new provider; another scope has its own")
    func keyRoundTrip() async throws {
        let keyring = try PrivateSecretService()
        defer { keyring.stop() }
        await #expect(processExitsWith: .success) { [address = keyring.address as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            try SecretServiceKeyProvider.checkAvailable()
            let provider = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/one")
            let key = try provider.key(named: "vault", createIfMissing: true)
            #expect(key.byteCount == 32)
            #expect(key.withUnsafeBytes { Array($0) } != [UInt8](repeating: 0, count: 32))
            let again = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/one")
            #expect(try again.key(named: "vault", createIfMissing: false).isEqual(to: key))
            #expect(try again.key(named: "vault", createIfMissing: true).isEqual(to: key), "created a second key")
            let other = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/two")
            #expect(!(try other.key(named: "vault", createIfMissing: true)).isEqual(to: key))
            #expect(!(try provider.key(named: "media", createIfMissing: true)).isEqual(to: key))
        }
    }

    @Test("A missing key with createIfMissing: false throws .missing and stores nothing")
    func missingKeyIsNotCreated() async throws {
        let keyring = try PrivateSecretService()
        defer { keyring.stop() }
        await #expect(processExitsWith: .success) { [address = keyring.address as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            let provider = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/missing")
            for _ in 0..<2 {
                #expect { try provider.key(named: "vault", createIfMissing: false) } throws: {
                    keyErrorCode($0) == .missing
                }
            }
        }
    }

    @Test("A destroyed key cannot be read again, and a new one differs from it")
    func destroyIsFinal() async throws {
        let keyring = try PrivateSecretService()
        defer { keyring.stop() }
        await #expect(processExitsWith: .success) { [address = keyring.address as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            let provider = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/destroy")
            let key = try provider.key(named: "vault", createIfMissing: true)
            let kept = try provider.key(named: "kept", createIfMissing: true)
            try provider.destroyKey(named: "vault")
            try provider.destroyKey(named: "vault")  // a missing key: fine
            #expect { try provider.key(named: "vault", createIfMissing: false) } throws: {
                keyErrorCode($0) == .missing
            }
            #expect(!(try provider.key(named: "vault", createIfMissing: true)).isEqual(to: key))
            #expect(try provider.key(named: "kept", createIfMissing: false).isEqual(to: kept), "another key went too")
        }
    }

    @Test("Providers racing to create one key on many threads all get the same key")
    func racingCreatorsAgree() async throws {
        let keyring = try PrivateSecretService()
        defer { keyring.stop() }
        await #expect(processExitsWith: .success) { [address = keyring.address as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            let keys = try await withThrowingTaskGroup(of: SymmetricKey.self) { group in
                for _ in 0..<4 {
                    group.addTask {
                        try SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/race")
                            .key(named: "vault", createIfMissing: true)
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(keys.count == 4)
            #expect(keys.allSatisfy { $0.isEqual(to: keys[0]) })
        }
    }

    @Test("A locked keyring gives .locked for reading, creating and destroying, and never prompts")
    func lockedKeyringIsAClearError() async throws {
        let keyring = try PrivateSecretService()
        defer { keyring.stop() }
        // Made while unlocked, in a child of its own.
        await #expect(processExitsWith: .success) { [address = keyring.address as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            _ = try SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/locked")
                .key(named: "vault", createIfMissing: true)
        }
        try keyring.lock()
        await #expect(processExitsWith: .success) { [address = keyring.address as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            // A prompt would wait for an answer that never comes: the watchdog ends that.
            alarm(60)
            let provider = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/locked")
            for create in [false, true] {
                #expect { try provider.key(named: "vault", createIfMissing: create) } throws: { error in
                    keyErrorCode(error) == .locked && "\(error)".contains("nlock")
                }
            }
            #expect { try provider.key(named: "new", createIfMissing: true) } throws: { keyErrorCode($0) == .locked }
            #expect { try provider.destroyKey(named: "vault") } throws: { keyErrorCode($0) == .locked }
        }
    }

    @Test("A keyring without a default collection gives .storeUnavailable naming the fix")
    func noDefaultCollection() async throws {
        let keyring = try PrivateSecretService(unlocked: false)
        defer { keyring.stop() }
        await #expect(processExitsWith: .success) { [address = keyring.address as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            alarm(60)
            let provider = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/none")
            #expect { try provider.key(named: "vault", createIfMissing: true) } throws: { error in
                keyErrorCode(error) == .storeUnavailable && "\(error)".contains("default collection")
            }
        }
    }

    @Test("A bus without a Secret Service, and no bus at all, give .storeUnavailable")
    func absentServiceIsAClearError() async throws {
        let bus = try PrivateSecretService(keyring: false)
        defer { bus.stop() }
        await #expect(processExitsWith: .success) { [address = bus.address as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            #expect(throws: KeyProviderError.self) { try SecretServiceKeyProvider.checkAvailable() }
            let provider = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/absent")
            for create in [false, true] {
                #expect { try provider.key(named: "vault", createIfMissing: create) } throws: { error in
                    keyErrorCode(error) == .storeUnavailable && "\(error)".contains("Secret Service")
                }
            }
            #expect { try provider.destroyKey(named: "vault") } throws: { keyErrorCode($0) == .storeUnavailable }
        }
        await #expect(processExitsWith: .success) {
            unsetenv("DBUS_SESSION_BUS_ADDRESS")
            unsetenv("XDG_RUNTIME_DIR")
            let provider = SecretServiceKeyProvider(application: "org.steward.tests", scope: "/data/no-bus")
            #expect { try provider.key(named: "vault", createIfMissing: true) } throws: { error in
                keyErrorCode(error) == .storeUnavailable && "\(error)".contains("session bus")
            }
        }
    }

    @Test(
        "What comes back from the keyring must be exactly 64 hex digits",
        arguments: [
            ("", 0), ("abc", 3), (String(repeating: "a", count: 63), 63), (String(repeating: "a", count: 65), 65),
            (String(repeating: "g", count: 64), 64), (String(repeating: "a", count: 62) + " \n", 64),
        ])
    func strictSecretParsing(_ text: String, _ length: Int) {
        var buffer = Array(text.utf8)
        buffer += [UInt8](repeating: 0, count: max(0, 64 - buffer.count))
        #expect { try SecretServiceKeyProvider.parse(buffer, length: length, path: "t") } throws: {
            keyErrorCode($0) == .malformed
        }
    }

    @Test("64 hex digits in either case give those 32 bytes")
    func hexSecretParses() throws {
        let bytes = (0..<32).map { UInt8($0 * 7 & 0xFF) }
        for text in [Hex.encode(bytes), Hex.encode(bytes).uppercased()] {
            let key = try SecretServiceKeyProvider.parse(Array(text.utf8), length: 64, path: "t")
            #expect(key.withUnsafeBytes { Array($0) } == bytes)
        }
    }
}
