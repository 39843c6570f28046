import Foundation
import StewardTesting
import Testing

@testable import StewardCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

// SystemdCredentialKeyProvider over a credentials folder laid out as systemd lays it out
// ($CREDENTIALS_DIRECTORY/NAME, a 0400 file in a 0500 folder), passed to the provider
// explicitly: the process environment is never changed.

@Suite struct SystemdCredentialKeyProviderTests {
    /// A credentials folder and a data folder.
    struct Scratch {
        let root: String
        var credentials: String { root + "/credentials" }
        var keys: String { root + "/data/keys" }
        var credentialPath: String { credentials + "/" + SystemdCredentialKeyProvider.defaultCredentialName }

        init(_ label: String, credential: [UInt8]? = Array(0..<32), mode: mode_t = 0o400) throws {
            root = scratchPath("credentials-\(label)")
            #expect(mkdir(root, 0o700) == 0 && mkdir(credentials, 0o700) == 0 && mkdir(root + "/data", 0o700) == 0)
            if let credential { try createFile(credentialPath, bytes: credential, mode: mode) }
            #expect(chmod(credentials, 0o500) == 0)
        }

        var provider: SystemdCredentialKeyProvider {
            SystemdCredentialKeyProvider(credentialsDirectory: credentials, directory: keys)
        }

        /// Replaces the credential (the folder is made writable for the moment).
        func setCredential(_ bytes: [UInt8], mode: mode_t = 0o400) throws {
            #expect(chmod(credentials, 0o700) == 0)
            try createFile(credentialPath, bytes: bytes, mode: mode)
            #expect(chmod(credentials, 0o500) == 0)
        }

        func remove() {
            _ = chmod(credentials, 0o700)
            removeScratch(root)
        }
    }

    static func bytes(of key: SymmetricKey) -> [UInt8] { key.withUnsafeBytes { Array($0) } }

    @Test("A key wrapped under the credential comes back the same from a new provider, and is stored only wrapped")
    func roundTrip() throws {
        let scratch = try Scratch("round-trip")
        defer { scratch.remove() }
        let key = try scratch.provider.key(named: "vault", createIfMissing: true)
        #expect(key.byteCount == 32)
        let again = SystemdCredentialKeyProvider(credentialsDirectory: scratch.credentials, directory: scratch.keys)
        #expect(try again.key(named: "vault", createIfMissing: false).isEqual(to: key))
        #expect(try again.key(named: "vault", createIfMissing: true).isEqual(to: key), "created a second key")
        #expect(!(try again.key(named: "media", createIfMissing: true)).isEqual(to: key))
        let wrapped = scratch.provider.path(forKeyNamed: "vault")
        #expect(wrapped == scratch.keys + "/vault.wrapped")
        #expect(fileMode(wrapped) == S_IFREG | 0o600)
        #expect(fileMode(scratch.keys) == S_IFDIR | 0o700)
        #expect(fileBytes(wrapped)?.count == 68)
        // Canary: neither the key nor the credential is in any file under the data folder.
        let secrets = [Self.bytes(of: key), Array(0..<32)]
        for path in allPaths(under: scratch.root + "/data") {
            guard let contents = fileBytes(scratch.root + "/data/" + path), !contents.isEmpty else { continue }
            for secret in secrets {
                #expect(!contents.containsSequence(secret), "\(path) holds key bytes in plaintext")
                #expect(!contents.containsSequence(Array(Hex.encode(secret).utf8)), "\(path) holds key hex")
            }
        }
    }

    @Test(
        "A credential of 64 hex digits, with or without a newline, is the same key-encryption key as its 32 bytes",
        arguments: ["", "\n"])
    func hexCredential(_ ending: String) throws {
        let raw = (0..<32).map { UInt8($0 * 5 + 1) }
        let scratch = try Scratch("hex", credential: raw)
        defer { scratch.remove() }
        let key = try scratch.provider.key(named: "vault", createIfMissing: true)
        for text in [Hex.encode(raw), Hex.encode(raw).uppercased()] {
            try scratch.setCredential(Array((text + ending).utf8))
            #expect(try scratch.provider.key(named: "vault", createIfMissing: false).isEqual(to: key))
        }
    }

    @Test(
        "A credential of any other size is refused before it is read, and nothing is created",
        arguments: [0, 1, 31, 33, 63, 66, 4096])
    func wrongSizeIsRefused(_ size: Int) throws {
        let scratch = try Scratch("size-\(size)", credential: [UInt8](repeating: 0x61, count: size))
        defer { scratch.remove() }
        for create in [false, true] {
            #expect { try scratch.provider.key(named: "vault", createIfMissing: create) } throws: { error in
                keyErrorCode(error) == .wrongLength && "\(error)".contains("\(size) bytes")
            }
        }
        #expect(allPaths(under: scratch.keys).isEmpty)
    }

    @Test(
        "64 or 65 bytes that are not hex digits and at most one newline are refused as malformed",
        arguments: [
            String(repeating: "g", count: 64), String(repeating: "a", count: 63) + "\n",
            String(repeating: "a", count: 64) + " ", String(repeating: "a", count: 62) + "\n\n",
        ])
    func malformedTextIsRefused(_ text: String) throws {
        let scratch = try Scratch("malformed", credential: Array(text.utf8))
        defer { scratch.remove() }
        #expect { try scratch.provider.key(named: "vault", createIfMissing: true) } throws: {
            keyErrorCode($0) == .malformed
        }
        #expect(allPaths(under: scratch.keys).isEmpty)
    }

    @Test("A folder, a FIFO or a symbolic link at the credential's path is refused without blocking")
    func notAFileIsRefused() throws {
        let scratch = try Scratch("types", credential: nil)
        defer { scratch.remove() }
        #expect(chmod(scratch.credentials, 0o700) == 0)
        #expect(mkdir(scratch.credentialPath, 0o700) == 0)
        #expect { try scratch.provider.key(named: "vault", createIfMissing: true) } throws: {
            keyErrorCode($0) == .notRegularFile
        }
        #expect(rmdir(scratch.credentialPath) == 0 && mkfifo(scratch.credentialPath, 0o600) == 0)
        // Opened non-blocking: a FIFO without a writer does not hold the provider.
        #expect { try scratch.provider.key(named: "vault", createIfMissing: true) } throws: {
            keyErrorCode($0) == .notRegularFile
        }
        #expect(unlink(scratch.credentialPath) == 0)
        try createFile(scratch.credentials + "/real", bytes: Array(0..<32), mode: 0o400)
        #expect(symlink(scratch.credentials + "/real", scratch.credentialPath) == 0)
        #expect { try scratch.provider.key(named: "vault", createIfMissing: true) } throws: {
            keyErrorCode($0) == .symbolicLink
        }
        #expect(allPaths(under: scratch.keys).isEmpty)
    }

    @Test("A credential every user can read is refused", arguments: [0o404, 0o444, 0o406] as [mode_t])
    func worldReadableIsRefused(_ mode: mode_t) throws {
        let scratch = try Scratch("mode", mode: mode)
        defer { scratch.remove() }
        #expect { try scratch.provider.key(named: "vault", createIfMissing: true) } throws: {
            keyErrorCode($0) == .insecurePermissions
        }
    }

    @Test("A missing credential, or no CREDENTIALS_DIRECTORY, is .storeUnavailable naming the unit setting")
    func missingCredential() throws {
        let scratch = try Scratch("missing", credential: nil)
        defer { scratch.remove() }
        #expect { try scratch.provider.key(named: "vault", createIfMissing: true) } throws: { error in
            keyErrorCode(error) == .storeUnavailable && "\(error)".contains("LoadCredentialEncrypted=")
        }
        #expect {
            try SystemdCredentialKeyProvider(environment: [:], directory: scratch.keys)
        } throws: { keyErrorCode($0) == .storeUnavailable }
        try scratch.setCredential(Array(0..<32))
        let fromEnvironment = try SystemdCredentialKeyProvider(
            environment: ["CREDENTIALS_DIRECTORY": scratch.credentials], directory: scratch.keys)
        #expect(fromEnvironment.credentialPath == scratch.credentialPath)
        #expect(try fromEnvironment.key(named: "vault", createIfMissing: true).byteCount == 32)
    }

    @Test("A missing key with createIfMissing: false throws .missing and creates nothing")
    func missingKeyIsNotCreated() throws {
        let scratch = try Scratch("missing-key")
        defer { scratch.remove() }
        #expect { try scratch.provider.key(named: "vault", createIfMissing: false) } throws: {
            keyErrorCode($0) == .missing
        }
        #expect(allPaths(under: scratch.keys).isEmpty)
    }

    @Test("Another credential, an altered file or a file renamed to another key does not unwrap, and is left alone")
    func wrongCredentialOrFile() throws {
        let scratch = try Scratch("unwrap")
        defer { scratch.remove() }
        _ = try scratch.provider.key(named: "vault", createIfMissing: true)
        let path = scratch.provider.path(forKeyNamed: "vault")
        let original = try #require(fileBytes(path))
        try scratch.setCredential(Array(1..<33))
        for create in [false, true] {
            #expect { try scratch.provider.key(named: "vault", createIfMissing: create) } throws: {
                keyErrorCode($0) == .unwrapFailed
            }
        }
        #expect(fileBytes(path) == original, "the wrapped key was changed")
        try scratch.setCredential(Array(0..<32))
        var altered = original
        altered[40] ^= 1
        try createFile(path, bytes: altered, mode: 0o600)
        #expect { try scratch.provider.key(named: "vault", createIfMissing: false) } throws: {
            keyErrorCode($0) == .unwrapFailed
        }
        try createFile(path, bytes: original, mode: 0o600)
        try createFile(scratch.keys + "/media.wrapped", bytes: original, mode: 0o600)
        #expect { try scratch.provider.key(named: "media", createIfMissing: false) } throws: {
            keyErrorCode($0) == .unwrapFailed
        }
        try createFile(path, bytes: Array(original.prefix(60)), mode: 0o600)
        #expect { try scratch.provider.key(named: "vault", createIfMissing: false) } throws: {
            keyErrorCode($0) == .wrongLength
        }
    }

    @Test("Destroying a key removes its wrapped file for good; the credential alone gives it back no more")
    func destroyIsFinal() throws {
        let scratch = try Scratch("destroy")
        defer { scratch.remove() }
        let key = try scratch.provider.key(named: "vault", createIfMissing: true)
        try scratch.provider.destroyKey(named: "vault")
        try scratch.provider.destroyKey(named: "vault")
        #expect(allPaths(under: scratch.keys).isEmpty)
        #expect { try scratch.provider.key(named: "vault", createIfMissing: false) } throws: {
            keyErrorCode($0) == .missing
        }
        #expect(!(try scratch.provider.key(named: "vault", createIfMissing: true)).isEqual(to: key))
    }

    @Test("A vault keyed by the credential reopens, and its data folder alone (a backup) opens nothing")
    func vaultUnderCredential() throws {
        let scratch = try Scratch("vault")
        defer { scratch.remove() }
        let data = scratch.root + "/data"
        let vault = try Vault.open(directory: data + "/vault", keyProvider: scratch.provider)
        _ = try vault.append(
            Array("canary-record".utf8), to: "notes", category: .usageEvents, purpose: .analytics, retention: nil)
        try vault.close()
        let reopened = try reopenVault { try Vault.open(directory: data + "/vault", keyProvider: scratch.provider) }
        #expect(try reopened.records(in: "notes").map(\.data) == [Array("canary-record".utf8)])
        try reopened.close()
        // The folder restored on another machine, whose credential differs.
        try scratch.setCredential(Array(repeating: 7, count: 32))
        #expect {
            try reopenVault { try Vault.open(directory: data + "/vault", keyProvider: scratch.provider) }
        } throws: { keyErrorCode($0) == .unwrapFailed }
    }
}

extension Array where Element == UInt8 {
    /// Whether `needle` occurs in the array.
    func containsSequence(_ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { self[$0..<($0 + needle.count)].elementsEqual(needle) }
    }
}
