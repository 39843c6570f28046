import Foundation
import Testing
@testable import StewardDevice
import StewardCore
import StewardTesting

@Suite struct AppScopedIDTests {
    /// systemd's published vector (src/libsystemd/sd-id128/sd-id128.c tests, test-id128.c).
    @Test func matchesSystemdsPublishedTestVector() throws {
        let machine = try ID128(parsing: "51df0b4bc3b04c9780e299b98ca373b8")
        let app = try ID128(parsing: "f03daaeb1c334b43a732172944bf772e")
        #expect(
            try AppScopedID.derive(machine: machine, application: app).hexString == "1dee5954e75c4d6fb96cc6c04ca18a86")
    }

    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-id128"),
            "needs systemd-id128 (systemd ships it; the CI image has it)"))
    func agreesWithSystemdID128OnThisMachine() throws {
        let tool = "/usr/bin/systemd-id128"
        let app = "f03daaeb1c334b43a732172944bf772e"
        let process = try ChildProcess.run(
            tool, arguments: ["machine-id", "--app-specific=\(app)"], standardError: .inherit)
        let output = String(decoding: process.standardOutput, as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(process.termination == .exited(0))
        let ours = try AppScopedID.derive(machine: MachineID.read(), application: ID128(parsing: app))
        #expect(ours.hexString == output)
    }

    @Test func theAllZeroApplicationIDIsRefused() throws {
        #expect {
            try AppScopedID.derive(machine: ID128(parsing: "51df0b4bc3b04c9780e299b98ca373b8"), application: .null)
        } throws: {
            ($0 as? DeviceIdentityError)?.code == .nullApplicationID
        }
        #expect { try AppScopedID.applicationID(for: "00000000000000000000000000000000") } throws: {
            ($0 as? DeviceIdentityError)?.code == .nullApplicationID
        }
        #expect { try AppScopedID.applicationID(for: "") } throws: {
            ($0 as? DeviceIdentityError)?.code == .nullApplicationID
        }
    }

    @Test func reverseDNSNamesMapByTheDocumentedRule() throws {
        let id = try AppScopedID.applicationID(for: "org.example.scanner")
        let digest = SHA256.hash(Array("steward-app-id:org.example.scanner".utf8))
        #expect(id == ID128(unchecked: Array(digest.prefix(16))).asVersion4UUID())
        #expect(id.uuidString.dropFirst(14).first == "4", "a version-4 UUID")
        #expect(
            try AppScopedID.applicationID(for: "F03DAAEB-1C33-4B43-A732-172944BF772E").hexString
                == "f03daaeb1c334b43a732172944bf772e",
            "an id given as a UUID is used as is")
        #expect(try AppScopedID.applicationID(for: "org.example.other") != id)
    }

    @Test(arguments: [
        ("", "is empty"), ("uninitialized\n", "uninitialized"), ("xyz\n", "does not hold"),
        ("00000000000000000000000000000000\n", "does not hold"),
        ("51df0b4bc3b04c9780e299b98ca373b8aa\n", "does not hold"),
        ("\u{FF}\u{FE}garbage", "does not hold"),
    ])
    func aBadMachineIDFileIsAClearError(_ content: String, _ phrase: String) throws {
        let path = NSTemporaryDirectory() + "machine-id-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Data(content.utf8).write(to: URL(fileURLWithPath: path))
        #expect { try MachineID.read(path: path) } throws: {
            guard let error = $0 as? DeviceIdentityError else { return false }
            return error.code == .machineIDUnavailable && error.message.contains(phrase)
        }
    }

    @Test func aMissingMachineIDFileIsAClearError() {
        #expect { try MachineID.read(path: "/nonexistent/machine-id") } throws: {
            ($0 as? DeviceIdentityError)?.code == .machineIDUnavailable
        }
    }
}

@Suite struct DeviceIdentifiersTests {
    let dir = NSTemporaryDirectory() + "steward-ids-\(UUID().uuidString)"
    let keys = InMemoryKeyProvider()
    let machineIDPath = NSTemporaryDirectory() + "machine-id-\(UUID().uuidString)"

    init() throws {
        try Data("51df0b4bc3b04c9780e299b98ca373b8\n".utf8).write(to: URL(fileURLWithPath: machineIDPath))
    }

    func cleanUp() {
        try? FileManager.default.removeItem(atPath: dir)
        try? FileManager.default.removeItem(atPath: machineIDPath)
    }

    func identifiers(
        _ vault: Vault, consent: FixedConsent = FixedConsent([.advertising: .granted]),
        permissions: Set<Permission> = []
    ) throws -> DeviceIdentifiers {
        try DeviceIdentifiers(
            appID: "f03daaeb1c334b43a732172944bf772e", vault: vault, consent: consent,
            permissions: StaticPermissions(granted: permissions), machineIDPath: machineIDPath)
    }

    @Test func theAppScopedIDIsSystemdsAppSpecificID() throws {
        defer { cleanUp() }
        let ids = try identifiers(Vault.open(directory: dir, keyProvider: keys))
        #expect(try ids.appScopedID().hexString == "1dee5954e75c4d6fb96cc6c04ca18a86")
    }

    @Test func theRawMachineIDNeedsTheDeviceIdentityPermission() throws {
        defer { cleanUp() }
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        #expect { try identifiers(vault).rawMachineID() } throws: {
            ($0 as? DeviceIdentityError)?.code == .permissionDenied
        }
        #expect(
            try identifiers(vault, permissions: [.deviceIdentity]).rawMachineID().hexString
                == "51df0b4bc3b04c9780e299b98ca373b8")
    }

    @Test func theInstallationIDPersistsUntilErase() throws {
        defer { cleanUp() }
        let first: ID128
        do {
            let vault = try Vault.open(directory: dir, keyProvider: keys)
            first = try identifiers(vault).installationID()
            #expect(try identifiers(vault).installationID() == first)
            try vault.close()
        }
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        #expect(try identifiers(vault).installationID() == first, "survives a restart")
        try vault.erase()
        let fresh = try Vault.open(directory: dir, keyProvider: keys)
        #expect(try identifiers(fresh).installationID() != first, "erase makes a new one")
    }

    @Test func theAdvertisingIDIsZeroWithoutConsentOrWithTrackingLimitedAndResettable() throws {
        defer { cleanUp() }
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        let consent = FixedConsent([.advertising: .pending])
        let ids = try identifiers(vault, consent: consent)
        #expect(try ids.advertisingID() == .null)
        consent.set(.granted, for: .advertising)
        let first = try ids.advertisingID()
        #expect(!first.isNull)
        #expect(try ids.advertisingID() == first, "stable until reset")
        let second = try ids.resetAdvertisingID()
        #expect(second != first && !second.isNull)
        try ids.setTrackingLimited(true)
        #expect(try ids.advertisingID() == .null)
        try ids.setTrackingLimited(false)
        let third = try ids.advertisingID()
        #expect(!third.isNull && third != second, "after a limit the old ID is gone: nothing links the user across it")
    }

    @Test func withdrawingAdvertisingConsentDeletesTheAdvertisingID() throws {
        defer { cleanUp() }
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        let consent = FixedConsent([.advertising: .granted])
        let ids = try identifiers(vault, consent: consent)
        let first = try ids.advertisingID()
        try vault.purge(purpose: .advertising)  // what the consent ledger does on withdrawal
        #expect(try ids.advertisingID() != first)
    }

    @Test func pseudonymousMACsAreStableKeyedAndNeverTheRawValue() throws {
        defer { cleanUp() }
        let mac: [UInt8] = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        let ids = try identifiers(vault)
        let a = try ids.pseudonymousMAC(mac)
        #expect(try ids.pseudonymousMAC(mac) == a)
        #expect(a.count == 32)
        #expect(!a.contains("525400123456"))
        #expect(try ids.pseudonymousMAC([0x52, 0x54, 0x00, 0x12, 0x34, 0x57]) != a)
        try vault.erase()
        let fresh = try Vault.open(directory: dir, keyProvider: keys)
        #expect(
            try identifiers(fresh).pseudonymousMAC(mac) != a, "a new installation cannot be joined with the old one")
    }

    @Test func concurrentFirstCallsAgreeOnOneInstallationID() async throws {
        defer { cleanUp() }
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        let ids = try identifiers(vault)
        let all = try await withThrowingTaskGroup(of: ID128.self) { group in
            for _ in 0..<16 { group.addTask { try ids.installationID() } }
            return try await group.reduce(into: Set<ID128>()) { $0.insert($1) }
        }
        #expect(all.count == 1)
    }

    @Test func theTrackingLimitSurvivesWithdrawingOtherConsents() throws {
        defer { cleanUp() }
        let vault = try Vault.open(directory: dir, keyProvider: keys)
        let ids = try identifiers(vault)
        try ids.setTrackingLimited(true)
        try vault.purge(purpose: .deviceAuthentication)
        try vault.purge(purpose: .advertising)
        #expect(try ids.isTrackingLimited())
    }

    @Test func aLinkedMachineIDFileIsFollowedAsSystemdDoes() throws {
        defer { cleanUp() }
        let link = NSTemporaryDirectory() + "machine-id-link-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: link) }
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: machineIDPath)
        #expect(try MachineID.read(path: link).hexString == "51df0b4bc3b04c9780e299b98ca373b8")
    }
}
