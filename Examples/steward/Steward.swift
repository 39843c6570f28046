import ArgumentParser

/// The example CLI: shows what Steward keeps and how, on the embedded defaults.
@main
struct StewardCLI: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "steward",
        abstract: "Inspect and exercise the Steward privacy SDK.",
        discussion: """
            Data lives under $XDG_DATA_HOME/steward/APP-ID (else ~/.local/share/steward/APP-ID); \
            the app id defaults to org.steward.example.
            """,
        subcommands: [Inspect.self, DeviceCommand.self, PermissionsCommand.self, ConsentCommand.self, IDCommand.self, Demo.self]
    )
}
