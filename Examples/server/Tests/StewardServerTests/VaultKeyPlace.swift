import Foundation
import StewardTesting
import Testing

/// Where a test run of the server finds its vault key store: what the test lays out, the
/// environment it gives the server, and what Steward should record (Keys.md).
enum VaultKeyPlace: String, CustomTestStringConvertible, Sendable {
    /// A systemd credential, `LoadCredential=steward.vault-key:…`: `CREDENTIALS_DIRECTORY` is a
    /// folder holding one read-only file named after the credential, here 32 random bytes.
    case systemdCredential
    /// A GNOME Keyring of the test's own on a private session bus (`PrivateSecretService`),
    /// never the developer's.
    case privateKeyring

    /// A store laid out for one test: the environment the server runs with, and how to end it.
    struct Prepared {
        var environment: [String: String]
        var stop: @Sendable () -> Void
    }

    var testDescription: String { rawValue }

    /// The line `DATA/keys/store` holds (without its newline), which the server also prints.
    var recorded: String {
        switch self {
        case .systemdCredential: "systemd-credential steward.vault-key"
        case .privateKeyring: "secret-service"
        }
    }

    /// What `DATA/keys` holds after a run: the record, and the wrapped key for a credential.
    var keysFolder: [String] {
        switch self {
        case .systemdCredential: ["store", "vault.wrapped"]
        case .privateKeyring: ["store"]
        }
    }

    /// Lays the store out under `root` (a private temporary folder the test removes).
    func prepare(in root: String) throws -> Prepared {
        switch self {
        case .systemdCredential:
            let folder = root + "/credentials"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
            let credential = folder + "/steward.vault-key"
            var generator = SystemRandomNumberGenerator()
            let secret = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            try Data(secret).write(to: URL(fileURLWithPath: credential))
            // As systemd leaves them: the file read-only to the service, the folder not writable.
            try FileManager.default.setAttributes([.posixPermissions: 0o400], ofItemAtPath: credential)
            try FileManager.default.setAttributes([.posixPermissions: 0o500], ofItemAtPath: folder)
            return Prepared(environment: ["CREDENTIALS_DIRECTORY": folder]) {
                // Writable again, so that the test's clean-up can remove it.
                try? FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: folder)
            }
        case .privateKeyring:
            let keyring = try PrivateSecretService()
            return Prepared(environment: ["DBUS_SESSION_BUS_ADDRESS": keyring.address]) { keyring.stop() }
        }
    }
}
