import StewardCore
public import StewardMedia
import StewardPermissions

extension MediaStore: FacadeModule {
    /// Images, their metadata control and retention (expired images are removed at start).
    static func open(_ context: FacadeContext, permissions: PermissionGate) throws -> MediaStore {
        try MediaStore(gate: context.gate, vault: context.vault, permissions: permissions, clock: context.clock)
    }

    func runPeriodicWork(_ intervals: PeriodicIntervals, steward: Steward) async {
        while !Task.isCancelled {
            try? await checkedSleep(for: intervals.retention)
            guard !Task.isCancelled, steward.isRunning else { return }
            _ = await Steward.offPool { [self] in try? purgeExpired() }
        }
    }

    func exportFiles(into document: inout ExportDocument) throws -> [(name: String, bytes: [UInt8])] {
        let (images, files) = try exportContents()
        document.media = images.map { ExportDocument.Image(file: "media/" + $0.file, item: $0.item) }
        return files.map { ("media/" + $0.name, $0.bytes) }
    }
}

extension Steward {
    /// Images, their metadata control and retention (expired images are removed at start).
    public var media: MediaStore { modules.media }
}
