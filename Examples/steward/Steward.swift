import ArgumentParser

/// The example CLI: shows what Steward keeps and how, on the embedded defaults.
@main
struct StewardCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steward",
        abstract: "Inspect and exercise the Steward privacy SDK.",
        discussion: """
            Data lives under $XDG_DATA_HOME/steward/APP-ID (else ~/.local/share/steward/APP-ID); \
            the app id defaults to org.steward.example. Every command first turns crash records \
            left by an earlier run into reports, as an app does at start.
            """,
        subcommands: [
            Inspect.self, DeviceCommand.self, PermissionsCommand.self, ConsentCommand.self, IDCommand.self,
            CrashCommand.self, TrackCommand.self, FlushCommand.self, MediaCommand.self, DiscloseCommand.self,
            AccessCommand.self,
            ExportCommand.self, EraseCommand.self, ManifestCommand.self, Demo.self,
        ]
    )

    /// Parses the command line, processes pending crash records of the data directory the
    /// command uses (as an app does first thing at start), then runs the command.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if !(command is CrashCommand.Trigger), !(command is Demo), let options = commonOptions(of: command) {
                CrashCommand.processPending(options)
            }
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }

    /// The data options of a parsed subcommand, if it has them.
    private static func commonOptions(of command: any ParsableCommand) -> DataOptions? {
        for child in Mirror(reflecting: command).children {
            if let group = child.value as? OptionGroup<CommonOptions> { return group.wrappedValue.data }
            if let group = child.value as? OptionGroup<DataOptions> { return group.wrappedValue }
        }
        return nil
    }
}
