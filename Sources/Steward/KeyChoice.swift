import Foundation
import StewardCore

/// The vault key's store and its provider for one start: the host's provider, or the store
/// `KeyStore.choose` picks (and records) for the data folder.
struct KeyChoice: Sendable {
    let store: KeyStore
    let provider: any KeyProvider

    init(_ configuration: Steward.Configuration, dataDirectory: String) throws {
        if let provider = configuration.keyProvider {
            try FileManager.default.createDirectory(
                atPath: dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            self.store = .host
            self.provider = provider
            return
        }
        let store = try KeyStore.choose(
            dataDirectory: dataDirectory, environment: configuration.keyStoreEnvironment,
            credentialName: configuration.keyCredentialName)
        self.store = store
        self.provider = try store.provider(
            dataDirectory: dataDirectory, application: configuration.appID,
            environment: configuration.keyStoreEnvironment)
    }
}
