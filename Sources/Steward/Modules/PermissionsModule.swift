public import StewardPermissions

extension PermissionGate: FacadeModule {
    /// The permission gate, with the age gate, over the consent ledger.
    static func open(_ context: FacadeContext) throws -> PermissionGate {
        try PermissionGate(
            manifest: context.manifest, vault: context.vault, prompter: context.configuration.prompter,
            probe: context.configuration.permissionProbe, consent: context.consent, clock: context.clock)
    }

    func contribute(to document: inout ExportDocument, steward: Steward) throws {
        document.permissionDecisions = try decisions()
    }
}

extension Steward {
    /// Run-time permissions.
    public var permissions: PermissionGate { modules.permissions }
}
