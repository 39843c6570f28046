public import StewardDevice
import StewardPermissions

extension DeviceIdentifiers: FacadeModule {
    /// The device identifiers; raw ones follow the `deviceIdentity` permission.
    static func open(_ context: FacadeContext, permissions: PermissionGate) throws -> DeviceIdentifiers {
        try DeviceIdentifiers(
            appID: context.configuration.appID, vault: context.vault, consent: context.consent,
            permissions: permissions, machineIDPath: context.configuration.machineIDPath)
    }

    func contribute(to document: inout ExportDocument, steward: Steward) throws {
        document.identifiers.appScopedID = try? appScopedID().uuidString
        // Left out, the module keeps no identifiers: the export must not make them.
        guard steward.configuration.modules.contains(.device) else { return }
        document.identifiers.installationID = try? installationID().uuidString
        document.identifiers.advertisingID = try? advertisingID().uuidString
        document.identifiers.trackingLimited = try? isTrackingLimited()
    }

    func noteIdentifiers(into erasure: inout ErasureNotes) {
        erasure.deviceID = try? appScopedID().uuidString
    }
}

extension Steward {
    /// The device's privacy-safe identifiers (raw ones need the `deviceIdentity` permission).
    public var device: DeviceIdentifiers { modules.device }
}
