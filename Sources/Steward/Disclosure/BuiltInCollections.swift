import StewardCore
import StewardPermissions

/// What Steward's own modules write to the vault, in one place: the disclosure checks these
/// against the manifest, so it can neither miss nor misstate what the SDK itself collects.
///
/// Found by reading every `vault.append`, `consent.store` and `Payload(` in `Sources/`:
///
/// | Module | Collection | Category | Purpose | What |
/// | --- | --- | --- | --- | --- |
/// | core | consent ledger | `consentRecords` | `privacyCompliance` | consent receipts |
/// | core | audit ledger | `consentRecords` | `privacyCompliance` | counts of what was collected, dropped and disclosed |
/// | device | `steward.identity` | `deviceIdentifiers` | `deviceAuthentication` | installation ID, key for pseudonymous MACs |
/// | device | `steward.identity` | `deviceIdentifiers` | `advertising` | advertising ID (only while that purpose is granted) |
/// | permissions | permission decisions | `permissionDecisions` | `privacyCompliance` | answers, revocations |
/// | crash | crash reports | `crashDiagnostics` | `crashReporting` | reports, sent to the crash recipient |
/// | crash | `steward.crash.sessions` | `crashDiagnostics` | `crashReporting` | crash-free session updates (only while granted) |
/// | crash | crash state | `crashDiagnostics` | `privacyCompliance` | launch bookkeeping: launch crashes counted, reports queued |
/// | telemetry | events | each event's category | each event's purpose | recorded events |
/// | telemetry | anonymiser state | `consentRecords` | `privacyCompliance` | per-purpose hashing salts |
///
/// Records under `privacyCompliance` are Steward's own bookkeeping: the manifest may not
/// declare that purpose (validation reserves it), so the disclosure lists them itself, from
/// ``records``. Everything else must be declared in the manifest, which ``problems(in:modules:)``
/// checks.
enum BuiltInCollections {
    /// A category the SDK stores data in for a purpose, which the manifest must declare.
    struct Requirement: Hashable {
        var module: Disclosure.Module
        var category: DataCategory
        var purpose: Purpose
        var what: String
    }

    /// Steward's own records (purpose `privacyCompliance`), disclosed whether or not the
    /// manifest mentions them.
    static func records(for modules: Set<Disclosure.Module>) -> [Disclosure.StewardRecord] {
        var records: [Disclosure.StewardRecord] = [
            .init(
                module: "core", category: .consentRecords,
                description:
                    "Consent receipts: every consent you gave, refused or withdrew, who gave it (you, a guardian, a default or the age gate), when, and for which policy version. They are chained so that a change after the fact is detected."
            ),
            .init(
                module: "core", category: .consentRecords,
                description:
                    "The audit ledger: per day, category and purpose, how many records were collected, how many were dropped and why, and what was disclosed to which recipient on which legal basis. It holds counts, not the data itself."
            ),
        ]
        if modules.contains(.permissions) {
            records.append(
                .init(
                    module: "permissions", category: .permissionDecisions,
                    description:
                        "Your answers to permission requests (granted, denied, allowed once, revoked), with the date and the rationale you were shown."
                ))
        }
        if modules.contains(.crash) {
            records.append(
                .init(
                    module: "crash", category: .crashDiagnostics,
                    description:
                        "Crash bookkeeping: how many recent launches crashed, so crash loops are noticed, and which crash reports were already queued for sending. It holds no stack traces and no sessions."
                ))
        }
        if modules.contains(.telemetry) {
            records.append(
                .init(
                    module: "telemetry", category: .consentRecords,
                    description:
                        "The secret keys, one per purpose, with which identifying event attributes are hashed. They never leave the device."
                ))
        }
        return records
    }

    /// The categories the modules in use store data in, with their purposes.
    static func requirements(for modules: Set<Disclosure.Module>, manifest: PrivacyManifest) -> [Requirement] {
        var requirements: [Requirement] = []
        if modules.contains(.device) {
            requirements.append(
                .init(
                    module: .device, category: .deviceIdentifiers, purpose: .deviceAuthentication,
                    what: "the installation ID and the key for pseudonymous MAC addresses"))
            // The advertising ID is stored only while `advertising` is granted, which needs the
            // purpose declared: a manifest without it never gets one.
            if manifest.declaration(of: Purpose.advertising) != nil {
                requirements.append(
                    .init(
                        module: .device, category: .deviceIdentifiers, purpose: .advertising,
                        what: "the advertising ID"))
            }
        }
        if modules.contains(.crash) {
            requirements.append(
                .init(
                    module: .crash, category: .crashDiagnostics, purpose: .crashReporting,
                    what: "crash reports and crash-free session updates"))
        }
        if modules.contains(.telemetry) {
            for event in manifest.events {
                requirements.append(
                    .init(
                        module: .telemetry, category: event.category, purpose: event.purpose,
                        what: "the event \"\(event.name.rawValue)\""))
            }
        }
        return requirements
    }

    /// One problem per requirement the manifest does not meet: the category is not declared,
    /// or does not list the purpose, or the purpose is not declared.
    static func problems(in manifest: PrivacyManifest, modules: Set<Disclosure.Module>) -> [ManifestProblem] {
        var problems: [ManifestProblem] = []
        var seen: Set<Requirement> = []
        for requirement in requirements(for: modules, manifest: manifest) where seen.insert(requirement).inserted {
            let category = requirement.category.rawValue, purpose = requirement.purpose.rawValue
            let module = requirement.module.rawValue
            if manifest.declaration(of: requirement.purpose) == nil {
                problems.append(
                    ManifestProblem(
                        path: "$.purposes",
                        message:
                            "the \(module) module stores \(requirement.what) for purpose \"\(purpose)\", which is not declared; declare it, or leave the \(module) module out (Steward.Configuration.modules, `--modules` on the CLI) if the app does not use it"
                    ))
            }
            guard let index = manifest.dataCategories.firstIndex(where: { $0.id == requirement.category }) else {
                problems.append(
                    ManifestProblem(
                        path: "$.dataCategories",
                        message:
                            "the \(module) module stores \(requirement.what) in category \"\(category)\", which is not declared; declare it with purpose \"\(purpose)\""
                    ))
                continue
            }
            if !manifest.dataCategories[index].purposes.contains(requirement.purpose) {
                problems.append(
                    ManifestProblem(
                        path: "$.dataCategories[\(index)].purposes",
                        message:
                            "the \(module) module stores \(requirement.what) in category \"\(category)\" for purpose \"\(purpose)\", which the category does not list; add it"
                    ))
            }
        }
        return problems
    }
}
