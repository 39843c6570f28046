public import StewardCore
import Foundation
import Synchronization

/// The identifiers Steward gives a host app: app-scoped, per-installation, resettable
/// advertising, and pseudonymised MAC addresses — and the raw machine ID only behind the
/// device-identity permission.
///
/// | Identifier | Stable across | Joins apps? | Reset by |
/// | --- | --- | --- | --- |
/// | ``appScopedID()`` | reinstalls, erase | no (keyed by the app) | a new machine ID |
/// | ``installationID()`` | restarts | no (random) | erase |
/// | ``advertisingID()`` | restarts | no (random) | the user (``resetAdvertisingID()``), limiting tracking, withdrawing advertising consent, erase |
/// | ``pseudonymousMAC(_:)`` | restarts | no (keyed per installation) | erase |
///
/// The installation ID, the advertising ID and the MAC key live in the vault, so erasing the
/// vault makes them all new. The advertising ID is kept under the `advertising` purpose, so
/// withdrawing that consent deletes it; it reads as all zeros (the OAID convention) while
/// tracking is limited or advertising is not granted.
///
/// ```swift
/// let ids = try DeviceIdentifiers(appID: "org.example.scanner", vault: vault, consent: ledger,
///                                 permissions: StaticPermissions())
/// let deviceID = try ids.appScopedID()          // the same as systemd-id128 --app-specific
/// ```
public final class DeviceIdentifiers: Sendable {
    /// The vault collection holding the identifiers.
    public static let collection = "steward.identity"

    /// The application ID the app-scoped ID is derived for.
    public let applicationID: ID128
    private let vault: Vault
    private let consent: any ConsentChecking
    private let permissions: any PermissionChecking
    private let machineIDPath: String
    private let state = Mutex(Cache())
    /// Serialises load-or-create, so two first calls never make two different IDs.
    private let storeLock = Mutex(())

    private struct Cache {
        var machineID: ID128?
    }

    /// What the vault keeps, one record per kind.
    private struct Stored: Codable {
        var kind: String
        var id: String?
        var trackingLimited: Bool?
        var key: [UInt8]?
    }

    /// Creates the identifiers of `appID` (a reverse-DNS name or a 128-bit id; see
    /// ``AppScopedID/applicationID(for:)``).
    ///
    /// - Throws: ``DeviceIdentityError`` for an all-zero or empty app id.
    public init(
        appID: String, vault: Vault, consent: any ConsentChecking, permissions: any PermissionChecking,
        machineIDPath: String = "/etc/machine-id"
    ) throws {
        self.applicationID = try AppScopedID.applicationID(for: appID)
        self.vault = vault
        self.consent = consent
        self.permissions = permissions
        self.machineIDPath = machineIDPath
        // The identifier filter finds this machine ID too, wherever it is read from.
        IdentifierFilter.include(machineIDPath: machineIDPath)
        // And the permanent MAC addresses behind randomised ones (read when the filter is next
        // built, not here).
        IdentifierFilter.include(
            macSource: {
                NetworkInterface.readAll(files: SystemFiles()).value?.compactMap(\.permanentMAC.value) ?? []
            }, named: "permanentMAC")
    }

    /// The app-scoped ID: systemd's app-specific machine ID for this app.
    ///
    /// - Throws: ``DeviceIdentityError`` when the machine ID is unavailable.
    public func appScopedID() throws -> ID128 {
        try AppScopedID.derive(machine: try machineID(), application: applicationID)
    }

    /// The raw machine ID. Needs the `Permission.deviceIdentity` (StewardPermissions) permission, and never leaves
    /// the device through Steward.
    ///
    /// - Throws: ``DeviceIdentityError`` with ``DeviceIdentityError/Code/permissionDenied``
    ///   without the permission.
    public func rawMachineID() throws -> ID128 {
        guard permissions.isGranted(.deviceIdentity) else {
            throw DeviceIdentityError(
                .permissionDenied, "the raw machine ID needs the deviceIdentity permission; use appScopedID() otherwise"
            )
        }
        return try machineID()
    }

    /// A random ID made on first use and kept in the vault until it is erased.
    public func installationID() throws -> ID128 {
        try storeLock.withLock { _ in
            if let stored = try load("installation"), let text = stored.id, let id = try? ID128(parsing: text) {
                return id
            }
            let id = try ID128(bytes: SecureRandom.bytes(count: 16)).asVersion4UUID()
            try save(Stored(kind: "installation", id: id.hexString), purpose: .deviceAuthentication)
            return id
        }
    }

    /// Whether the user limited ad tracking.
    public func isTrackingLimited() throws -> Bool {
        try load("tracking")?.trackingLimited ?? false
    }

    /// Limits ad tracking or lifts the limit. Limiting deletes the advertising ID, so lifting
    /// the limit later gives a new one that cannot be linked to the old. The setting is kept
    /// under `serviceProvision`, which no consent withdrawal purges.
    public func setTrackingLimited(_ limited: Bool) throws {
        try storeLock.withLock { _ in
            try save(Stored(kind: "tracking", trackingLimited: limited), purpose: .serviceProvision)
            if limited { try remove("advertising") }
        }
    }

    /// The advertising ID (OAID analogue): random and resettable; all zeros while tracking is
    /// limited or the `advertising` purpose is not granted.
    public func advertisingID() throws -> ID128 {
        try storeLock.withLock { _ in
            guard consent.consentState(for: .advertising) == .granted, !(try isTrackingLimited()) else { return .null }
            if let stored = try load("advertising"), let text = stored.id, let id = try? ID128(parsing: text) {
                return id
            }
            return try newAdvertisingID()
        }
    }

    /// Replaces the advertising ID with a new random one and returns it (zeros while tracking
    /// is limited or advertising is not granted; then nothing is stored).
    @discardableResult
    public func resetAdvertisingID() throws -> ID128 {
        try storeLock.withLock { _ in try newAdvertisingID() }
    }

    private func newAdvertisingID() throws -> ID128 {
        guard consent.consentState(for: .advertising) == .granted, !(try isTrackingLimited()) else {
            try remove("advertising")
            return .null
        }
        let id = try ID128(bytes: SecureRandom.bytes(count: 16)).asVersion4UUID()
        try save(Stored(kind: "advertising", id: id.hexString), purpose: .advertising)
        return id
    }

    /// A MAC address pseudonymised with a keyed hash (HMAC-SHA256 under a random
    /// per-installation key kept in the vault): stable for this installation, useless to anyone
    /// else, never the raw value. 32 hex digits.
    public func pseudonymousMAC(_ address: [UInt8]) throws -> String {
        let keyBytes: [UInt8] = try storeLock.withLock { _ in
            if let stored = try load("macKey"), let key = stored.key, key.count == 32 { return key }
            let key = try SecureRandom.bytes(count: 32)
            try save(Stored(kind: "macKey", key: key), purpose: .deviceAuthentication)
            return key
        }
        let mac = try HMACSHA256.authenticationCode(for: address, using: SymmetricKey(copying: keyBytes))
        return try ID128(bytes: Array(mac.prefix(16))).hexString
    }

    // MARK: - Private

    private func machineID() throws -> ID128 {
        if let cached = state.withLock({ $0.machineID }) { return cached }
        let id = try MachineID.read(path: machineIDPath)
        state.withLock { $0.machineID = id }
        return id
    }

    private func records(_ kind: String) throws -> [(RecordID, Stored)] {
        var found: [(RecordID, Stored)] = []
        let decoder = JSONDecoder()
        try vault.forEachRecord(in: Self.collection) { record in
            if let stored = try? decoder.decode(Stored.self, from: Data(record.data)), stored.kind == kind {
                found.append((record.id, stored))
            }
        }
        return found
    }

    private func load(_ kind: String) throws -> Stored? {
        try records(kind).last?.1
    }

    private func save(_ stored: Stored, purpose: Purpose) throws {
        let old = try records(stored.kind).map(\.0)
        try vault.append(
            Array(try JSONEncoder().encode(stored)), to: Self.collection, category: .deviceIdentifiers, purpose: purpose
        )
        for id in old { try vault.remove(id, from: Self.collection) }
        try vault.commit(collections: [Self.collection])
    }

    private func remove(_ kind: String) throws {
        let old = try records(kind).map(\.0)
        guard !old.isEmpty else { return }
        for id in old { try vault.remove(id, from: Self.collection) }
        try vault.commit(collections: [Self.collection])
    }
}
