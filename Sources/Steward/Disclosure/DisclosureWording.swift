import StewardCore
import Foundation

extension Disclosure {
    /// The plain words of the disclosure, in one place: every render uses these.
    enum Wording {
        static func retention(_ days: Int?) -> String {
            switch days {
            case nil: "until you delete it"
            case 0?: "not stored (used in memory only)"
            case 1?: "1 day"
            case let days?: "\(days) days"
            }
        }

        static func legalBasis(_ basis: LegalBasis) -> String {
            switch basis {
            case .consent:
                "Your consent. Nothing is processed for it until you agree, and you can withdraw your consent at any time; the data collected under it is then deleted."
            case .necessaryForService:
                "Necessary to provide the service you asked for. It is always on while you use the app."
            case .legalObligation:
                "Required by law. It is always on."
            case .legitimateInterest:
                "Our legitimate interest, weighed against yours. It is on by default; you can object to it."
            }
        }

        static func legalBasisTitle(_ basis: LegalBasis) -> String {
            switch basis {
            case .consent: "consent"
            case .necessaryForService: "necessary for the service"
            case .legalObligation: "legal obligation"
            case .legitimateInterest: "legitimate interest"
            }
        }

        static func role(_ role: RecipientRole) -> String {
            switch role {
            case .processor: "processor: handles the data only on our instructions, under contract"
            case .thirdParty: "third party: uses the data for its own purposes, only with your separate consent"
            }
        }

        static func sensitivity(_ sensitivity: Sensitivity) -> String {
            switch sensitivity {
            case .low: "low (not about you on its own)"
            case .personal: "personal data"
            case .sensitive: "sensitive personal data"
            }
        }

        static func treatment(_ attribute: AttributeDeclaration) -> String {
            if attribute.type == .location {
                return "coarsened to a grid of about 5 km unless you allow precise location"
            }
            switch (attribute.classification, attribute.type) {
            case (.identifier, _):
                return
                    "replaced by a keyed hash (HMAC-SHA256 with a secret key per purpose); the value itself is not kept"
            case (_, .string):
                let cut = attribute.maxLength.map { ", cut to \($0) characters" } ?? ""
                return "kept\(cut); dropped if it looks like an IP address, this computer's name or its machine ID"
            default:
                return "kept as recorded"
            }
        }

        static func classification(_ classification: AttributeClassification) -> String {
            switch classification {
            case .identifier: "identifies you on its own"
            case .quasiIdentifier: "may identify you combined with other data"
            case .plain: "not identifying"
            }
        }

        static func day(_ date: Date) -> String { CivilTime.day(date) }

        static func rights(manifest: PrivacyManifest) -> [Right] {
            let contact = manifest.controller.map { "Write to \($0.name) at \($0.contact)." }
            let consentPurposes = manifest.purposes.filter { $0.legalBasis == .consent }.map(\.id.rawValue)
            let interestPurposes = manifest.purposes.filter { $0.legalBasis == .legitimateInterest }.map(\.id.rawValue)
            let revoke = Right.Command(
                command: "steward permissions revoke PERMISSION", explanation: "withdraws a permission you gave")
            var rights: [Right] = [
                Right(
                    id: "access", title: "See what is held about you",
                    description:
                        "You can see, per kind of data, what Steward holds about you, since when, why, for how long and who received it, and every consent you gave or withdrew.",
                    commands: [
                        .init(
                            command: "steward access",
                            explanation: "lists what is held, per kind of data, without its contents"),
                        .init(
                            command: "steward consent show",
                            explanation: "shows each purpose's legal basis and your answer"),
                        .init(command: "steward consent history", explanation: "lists your consent receipts"),
                    ],
                    contact: contact),
                Right(
                    id: "export", title: "Get a copy of your data",
                    description:
                        "You can take everything held about you: a machine-readable JSON document, a readable summary and your images, with dates, purposes and recipients.",
                    commands: [
                        .init(
                            command: "steward export PATH",
                            explanation: "writes the copy to PATH (a .zip archive, or a new folder)")
                    ],
                    contact: contact),
                Right(
                    id: "erase", title: "Erase your data",
                    description:
                        "You can erase everything held about you. The vault's key is destroyed first, so nothing left on disk can be read; the installation and advertising identifiers are made anew (the app-scoped device identifier is derived from the machine and stays the same: it is how recipients find your data); every recipient that received data is asked to delete it; and every consent is asked for again.",
                    commands: [.init(command: "steward erase", explanation: "asks first; --yes skips the question")],
                    contact: contact),
            ]
            if consentPurposes.isEmpty {
                rights.append(
                    Right(
                        id: "withdrawConsent", title: "Withdraw your consent",
                        description:
                            "No purpose here is based on your consent; you can still withdraw the permissions you gave.",
                        commands: [revoke], contact: contact))
            } else {
                rights.append(
                    Right(
                        id: "withdrawConsent", title: "Withdraw your consent",
                        description:
                            "You can withdraw your consent to any of these purposes at any time, as easily as you gave it: \(consentPurposes.joined(separator: ", ")). What was collected for it is deleted, and the recipients that received it are asked to delete it too.",
                        commands: [
                            .init(
                                command: "steward consent deny PURPOSE",
                                explanation: "withdraws consent to PURPOSE, such as \(consentPurposes[0])"),
                            .init(
                                command: "ConsentLedger.deny(_:by:)", explanation: "does the same from within an app"),
                            revoke,
                        ],
                        contact: contact))
            }
            if interestPurposes.isEmpty {
                rights.append(
                    Right(
                        id: "object", title: "Object to processing",
                        description:
                            "No purpose here relies on our legitimate interest: all processing is necessary for the service, required by law, or based on your consent, which you can withdraw.",
                        commands: [], contact: contact))
            } else {
                rights.append(
                    Right(
                        id: "object", title: "Object to processing",
                        description:
                            "You can object to the purposes based on our legitimate interest: \(interestPurposes.joined(separator: ", ")).",
                        commands: [], contact: contact ?? "Contact the app's publisher."))
            }
            return rights
        }

        static func securityMeasures(modules: Set<Disclosure.Module>, plaintextOutbox: String? = nil)
            -> [SecurityMeasure]
        {
            var measures = [
                SecurityMeasure(
                    id: "encryptionAtRest",
                    description:
                        "Everything Steward keeps about you is written to its vault, encrypted with AES-256-GCM: a fresh random nonce per record, and the record's header authenticated with it. A record that fails authentication is set aside, never used. A crash record, from the crash until the next launch turns it into a report, is sealed with ChaCha20-Poly1305 under a key derived from the vault's; data waiting for delivery stays in the vault."
                ),
                SecurityMeasure(
                    id: "keys",
                    description:
                        "The vault's key is 32 random bytes in a file only the app's user can read (mode 0600, in a 0700 folder), or comes from the host app's own key provider (such as a keyring or TPM)."
                ),
                SecurityMeasure(
                    id: "encryptionInTransit",
                    description:
                        "Steward's HTTP transport sends over TLS only: it accepts https:// endpoints (plain HTTP only to this device itself) and checks servers against the system's trusted certificates, or the app's own certificate authority or pinned keys."
                ),
                SecurityMeasure(
                    id: "consentAtSendTime",
                    description:
                        "Consent is checked again at the moment data is sent, and every disclosure is recorded in the audit ledger with its category, purpose, recipient and legal basis."
                ),
                SecurityMeasure(
                    id: "retention",
                    description:
                        "Each record is stored with its expiry time, and the vault's retention purge deletes the records whose time has passed."
                ),
                SecurityMeasure(
                    id: "cryptoErase",
                    description:
                        "Erasing destroys the vault's key before its files, so no copy left on disk can be read."),
            ]
            if modules.contains(.device) {
                measures.append(
                    SecurityMeasure(
                        id: "pseudonymisedIdentifiers",
                        description:
                            "Device identifiers leave the device only pseudonymised: the app-scoped identifier is a keyed hash of the machine ID for this app alone, and MAC addresses are sent only as keyed hashes. The raw machine ID needs the device-identity permission and is never sent by Steward."
                    ))
            }
            if modules.contains(.telemetry) {
                measures.append(
                    SecurityMeasure(
                        id: "anonymisedTelemetry",
                        description:
                            "Event attributes that identify you are replaced by keyed hashes with a secret key per purpose; values that look like an IP address, this computer's name or its machine ID are dropped; locations are coarsened to about 5 km unless you allow precise location. No IP address is added to events."
                    ))
            }
            if modules.contains(.crash) {
                measures.append(
                    SecurityMeasure(
                        id: "crashReports",
                        description:
                            "Crash reports capture no environment variables, and your home folder and user name are removed from paths and messages before a report is stored."
                    ))
            }
            if let plaintextOutbox {
                measures.append(
                    SecurityMeasure(
                        id: "plaintextOutbox",
                        description:
                            "This app hands data that is ready to be sent to a separate program through a folder (\(plaintextOutbox)): there it is not encrypted, only readable by the app's user, until that program sends it. It is written only once you consented, deleted when you withdraw consent or erase your data, and never holds a password or key."
                    ))
            }
            return measures
        }
    }
}
