import Foundation
import StewardCore
import StewardTesting
import Testing

@testable import Steward

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// The facade's key store: chosen per data folder from the environment it is given, recorded in
// DATA/keys/store and kept, never switched under an existing vault.

/// A credentials folder laid out as systemd lays it out: `NAME`, 0400, in a 0500 folder.
func makeCredentialsFolder(_ bytes: [UInt8] = Array(repeating: 0x5A, count: 32)) throws -> String {
    let folder = NSTemporaryDirectory() + "steward-credentials-\(UUID().uuidString)"
    try FileManager.default.createDirectory(
        atPath: folder, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
    let path = folder + "/" + SystemdCredentialKeyProvider.defaultCredentialName
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    #expect(chmod(path, 0o400) == 0 && chmod(folder, 0o500) == 0)
    return folder
}

func removeCredentialsFolder(_ folder: String) {
    _ = chmod(folder, 0o700)
    try? FileManager.default.removeItem(atPath: folder)
}

/// The text of the data folder's key store record.
func keyStoreRecord(_ directory: String) -> String? {
    FileManager.default.contents(atPath: directory + "/keys/store").map { String(decoding: $0, as: UTF8.self) }
}

extension StewardFacadeTests {
    @Test func aNewFolderWithoutKeyringOrCredentialKeepsItsKeyInFilesAndRecordsIt() throws {
        let f = FacadeFixture()
        let steward = try Steward.start(try f.configuration())
        #expect(steward.keyStore == .file)
        #expect(steward.keyStore.description == "file")
        steward.stop()
        #expect(keyStoreRecord(f.directory) == "file\n")
        #expect(FileManager.default.fileExists(atPath: f.directory + "/keys/vault.key"))
    }

    @Test func aSystemdCredentialIsChosenForANewFolderAndTheKeyIsKeptOnlyWrapped() throws {
        let f = FacadeFixture()
        let credentials = try makeCredentialsFolder()
        defer { removeCredentialsFolder(credentials) }
        var configuration = try f.configuration()
        configuration.keyStoreEnvironment = ["CREDENTIALS_DIRECTORY": credentials]
        let steward = try Steward.start(configuration)
        #expect(steward.keyStore == .systemdCredential())
        #expect(steward.keyStore.description == "systemd-credential steward.vault-key")
        try steward.consent.grant([.analytics])
        steward.stop()
        #expect(keyStoreRecord(f.directory) == "systemd-credential steward.vault-key\n")
        #expect(FileManager.default.fileExists(atPath: f.directory + "/keys/vault.wrapped"))
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys/vault.key"))

        // Started again without the credential: a clear error, and no key file made instead.
        var without = try f.configuration()
        without.keyStoreEnvironment = [:]
        do {
            _ = try Steward.start(without)
            Issue.record("a vault keyed by a credential started without it")
        } catch {
            #expect(error.code == .startFailed)
            #expect((error.underlying as? KeyProviderError)?.code == .storeUnavailable, "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys/vault.key"))
        #expect(keyStoreRecord(f.directory) == "systemd-credential steward.vault-key\n")

        // With it again: the same vault, the grant still there.
        let again = try Steward.start(configuration)
        defer { again.stop() }
        #expect(again.keyStore == .systemdCredential())
        #expect(again.consent.isGranted(.analytics))
    }

    @Test func aVaultWhoseKeyIsInAFileKeepsItWhenACredentialAppearsLater() throws {
        let f = FacadeFixture()
        try Steward.start(try f.configuration()).stop()
        // A folder made before key stores were recorded: a vault and its key file, no record.
        try FileManager.default.removeItem(atPath: f.directory + "/keys/store")
        let key = FileManager.default.contents(atPath: f.directory + "/keys/vault.key")
        let credentials = try makeCredentialsFolder()
        defer { removeCredentialsFolder(credentials) }
        var configuration = try f.configuration()
        configuration.keyStoreEnvironment = ["CREDENTIALS_DIRECTORY": credentials]
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        #expect(steward.keyStore == .file)
        #expect(keyStoreRecord(f.directory) == "file\n")
        #expect(FileManager.default.contents(atPath: f.directory + "/keys/vault.key") == key)
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys/vault.wrapped"))
    }

    @Test func aHostProviderWinsAndIsNotRecorded() throws {
        let f = FacadeFixture()
        let credentials = try makeCredentialsFolder()
        defer { removeCredentialsFolder(credentials) }
        var configuration = try f.configuration()
        configuration.keyStoreEnvironment = ["CREDENTIALS_DIRECTORY": credentials]
        configuration.keyProvider = InMemoryKeyProvider()
        let steward = try Steward.start(configuration)
        defer { steward.stop() }
        #expect(steward.keyStore == .host)
        #expect(keyStoreRecord(f.directory) == nil)
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys"))
    }

    @Test func aDamagedKeyStoreRecordIsAClearErrorAndIsLeftAlone() throws {
        let f = FacadeFixture()
        try FileManager.default.createDirectory(
            atPath: f.directory + "/keys", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        for record in ["keyring\n", "file", "file\nfile\n", "systemd-credential ../x\n", ""] {
            try Data(record.utf8).write(to: URL(fileURLWithPath: f.directory + "/keys/store"))
            let configuration = try f.configuration()
            do {
                _ = try Steward.start(configuration)
                Issue.record("started over the record \(record.debugDescription)")
            } catch {
                #expect((error.underlying as? KeyProviderError)?.code == .malformed, "\(error)")
            }
            #expect(keyStoreRecord(f.directory) == record)
            #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys/vault.key"))
        }
    }

    @Test func aCredentialNameThatIsNoFileNameIsRefusedAndNothingIsRecorded() throws {
        let f = FacadeFixture()
        let credentials = try makeCredentialsFolder()
        defer { removeCredentialsFolder(credentials) }
        var configuration = try f.configuration()
        configuration.keyStoreEnvironment = ["CREDENTIALS_DIRECTORY": credentials]
        for name in ["../steward.vault-key", "", ".hidden", "a/b"] {
            configuration.keyCredentialName = name
            do {
                _ = try Steward.start(configuration)
                Issue.record("started with the credential name \(name.debugDescription)")
            } catch {
                #expect((error.underlying as? KeyProviderError)?.code == .invalidName, "\(error)")
            }
            #expect(keyStoreRecord(f.directory) == nil)
        }
    }

    @Test func erasingAVaultKeyedByACredentialDestroysItsWrappedKey() async throws {
        let f = FacadeFixture()
        let credentials = try makeCredentialsFolder()
        defer { removeCredentialsFolder(credentials) }
        var configuration = try f.configuration()
        configuration.keyStoreEnvironment = ["CREDENTIALS_DIRECTORY": credentials]
        let steward = try Steward.start(configuration)
        try steward.consent.grant([.analytics])
        steward.telemetry.record("screen_view", attributes: ["screen": .string("erase")])
        try steward.telemetry.flush()
        let wrapped = try #require(FileManager.default.contents(atPath: f.directory + "/keys/vault.wrapped"))
        _ = try await steward.rights.erase(deliverWithin: .seconds(2))
        #expect(FileManager.default.contents(atPath: f.directory + "/keys/vault.wrapped") != wrapped)
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys/vault.key"))
    }

    @Test func aDesktopSessionKeepsTheKeyInTheKeyringAndNeverFallsBackToAFile() async throws {
        let keyring = try PrivateSecretService()
        defer { keyring.stop() }
        let f = FacadeFixture()
        // Each start in a child process, where DBUS_SESSION_BUS_ADDRESS is set for libsecret.
        await #expect(processExitsWith: .success) {
            [address = keyring.address as String, directory = f.directory as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            var configuration = try FacadeFixture().configuration()
            configuration.dataDirectory = directory
            configuration.keyStoreEnvironment = ["DBUS_SESSION_BUS_ADDRESS": address]
            let steward = try Steward.start(configuration)
            #expect(steward.keyStore == .secretService)
            try steward.consent.grant([.analytics])
            steward.stop()
            let again = try Steward.start(configuration)
            #expect(again.keyStore == .secretService)
            #expect(again.consent.isGranted(.analytics))
            again.stop()
        }
        #expect(keyStoreRecord(f.directory) == "secret-service\n")
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys/vault.key"))

        // No session bus now: a clear error, and no file key instead.
        await #expect(processExitsWith: .success) { [directory = f.directory as String] in
            unsetenv("DBUS_SESSION_BUS_ADDRESS")
            unsetenv("XDG_RUNTIME_DIR")
            var configuration = try FacadeFixture().configuration()
            configuration.dataDirectory = directory
            #expect {
                try Steward.start(configuration)
            } throws: { error in
                ((error as? StewardError)?.underlying as? KeyProviderError)?.code == .storeUnavailable
            }
        }
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys/vault.key"))

        // A locked keyring: the clear error that says to unlock it.
        try keyring.lock()
        await #expect(processExitsWith: .success) {
            [address = keyring.address as String, directory = f.directory as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            alarm(60)
            var configuration = try FacadeFixture().configuration()
            configuration.dataDirectory = directory
            #expect {
                try Steward.start(configuration)
            } throws: { error in
                ((error as? StewardError)?.underlying as? KeyProviderError)?.code == .locked
                    && "\(error)".contains("nlock")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: f.directory + "/keys/vault.key"))
    }

    @Test func erasingAVaultKeyedInTheKeyringDeletesTheKeyringItem() async throws {
        let keyring = try PrivateSecretService()
        defer { keyring.stop() }
        let f = FacadeFixture()
        await #expect(processExitsWith: .success) {
            [address = keyring.address as String, directory = f.directory as String] in
            setenv("DBUS_SESSION_BUS_ADDRESS", address, 1)
            var configuration = try FacadeFixture().configuration()
            configuration.dataDirectory = directory
            configuration.keyStoreEnvironment = ["DBUS_SESSION_BUS_ADDRESS": address]
            let steward = try Steward.start(configuration)
            #expect(steward.keyStore == .secretService)
            let keys = SecretServiceKeyProvider(application: configuration.appID, scope: directory)
            let before = try keys.key(named: "vault", createIfMissing: false)
            _ = try await steward.rights.erase(deliverWithin: .seconds(2))
            // The old key is gone from the keyring: nothing, or the new vault's new key.
            do {
                let after = try keys.key(named: "vault", createIfMissing: false)
                #expect(!after.isEqual(to: before))
            } catch {
                #expect((error as? KeyProviderError)?.code == .missing)
            }
        }
    }
}
