import ArgumentParser
import Foundation
import StewardCore
import StewardDevice
import StewardPermissions

/// `steward id`: the privacy-safe identifiers of this app on this machine.
struct IDCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "id",
        abstract: "Show the app-scoped, installation and advertising IDs; reset the advertising ID; limit tracking.",
        subcommands: [Show.self, ResetAdvertising.self, LimitTracking.self],
        defaultSubcommand: Show.self)

    /// Opens the vault, the consent ledger and the identifiers of the data directory.
    static func open(_ options: CommonOptions) throws -> (Vault, ConsentLedger, DeviceIdentifiers) {
        let manifest = try options.loadManifest()
        let vault = try Vault.open(dataDirectory: try options.resolvedDataDirectory())
        do {
            let ledger = try ConsentLedger(manifest: manifest, vault: vault)
            // The raw machine ID follows the deviceIdentity permission of this data directory
            // (steward permissions request deviceIdentity); nothing is asked here.
            let gate = try PermissionGate(
                manifest: manifest, vault: vault, prompter: FixedAnswerPrompter(answers: [:]),
                probe: LinuxPermissionProbe(.init(dataDirectory: try options.resolvedDataDirectory())), consent: ledger)
            let ids = try DeviceIdentifiers(appID: options.appID, vault: vault, consent: ledger, permissions: gate)
            return (vault, ledger, ids)
        } catch {
            try? vault.close()
            throw error
        }
    }

    struct Report: Codable {
        var appID: String
        var applicationID: String
        var appScopedID: String?
        var appScopedIDError: String?
        var installationID: String
        var advertisingID: String
        var advertisingConsent: ConsentState
        var trackingLimited: Bool
        var machineID: String?
        var machineIDWithheld: String?

        init(_ options: CommonOptions, _ ledger: ConsentLedger, _ ids: DeviceIdentifiers) throws {
            appID = options.appID
            applicationID = ids.applicationID.uuidString
            do { appScopedID = try ids.appScopedID().uuidString } catch { appScopedIDError = "\(error)" }
            installationID = try ids.installationID().uuidString
            advertisingID = try ids.advertisingID().uuidString
            advertisingConsent = ledger.consentState(for: .advertising)
            trackingLimited = try ids.isTrackingLimited()
            do { machineID = try ids.rawMachineID().description } catch { machineIDWithheld = "\(error)" }
        }

        func print(json: Bool) throws {
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                Swift.print(String(decoding: try encoder.encode(self), as: UTF8.self))
                return
            }
            Swift.print(
                Format.table([
                    ["app-scoped ID", appScopedID ?? "unavailable: \(appScopedIDError ?? "")"],
                    ["installation ID", installationID],
                    [
                        "advertising ID",
                        advertisingID
                            + (trackingLimited
                                ? " (tracking limited)"
                                : advertisingConsent != .granted
                                    ? " (advertising is \(advertisingConsent.rawValue))" : ""),
                    ],
                    ["machine ID", machineID ?? "withheld: \(machineIDWithheld ?? "")"],
                ]).joined(separator: "\n"))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show the identifiers.")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let (vault, ledger, ids) = try IDCommand.open(options)
            defer { try? vault.close() }
            try Report(options, ledger, ids).print(json: options.json)
        }
    }

    struct ResetAdvertising: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-advertising", abstract: "Replace the advertising ID with a new random one.")
        @OptionGroup var options: CommonOptions

        func run() throws {
            let (vault, ledger, ids) = try IDCommand.open(options)
            defer { try? vault.close() }
            try ids.resetAdvertisingID()
            try Report(options, ledger, ids).print(json: options.json)
        }
    }

    struct LimitTracking: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "limit-tracking",
            abstract: "Limit ad tracking (the advertising ID reads as zeros) or lift the limit.")
        @OptionGroup var options: CommonOptions
        @Argument(help: "on or off") var setting: String

        func validate() throws {
            guard ["on", "off"].contains(setting) else { throw ValidationError("limit-tracking takes on or off") }
        }

        func run() throws {
            let (vault, ledger, ids) = try IDCommand.open(options)
            defer { try? vault.close() }
            try ids.setTrackingLimited(setting == "on")
            try Report(options, ledger, ids).print(json: options.json)
        }
    }
}
