import Foundation
@testable import StewardCore

/// The privacy manifest: the JSON parser, the reader, the validator, and the `Codable` path.
///
/// Checks: `decode(json:)` throws only ``ManifestError``, with at least one problem; a manifest
/// that decodes survives `encodeJSON()` then `decode(json:)` unchanged; the parser never
/// accepts what Foundation's JSON parser refuses outright as not JSON (no differential on what
/// either merely rejects); the `Codable` decoding and validation never trap.
public enum FuzzManifest: FuzzTarget {
    public static let name = "FuzzManifest"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        let parsed = JSONParser.parse(input)
        do {
            let manifest = try PrivacyManifest.decode(json: input, now: fuzzNow)
            try require(parsed.value != nil, "decode(json:) accepted what the JSON parser refused")
            let encoded: [UInt8]
            do { encoded = try manifest.encodeJSON() } catch {
                throw PropertyViolation("encodeJSON() failed on a valid manifest: \(error)")
            }
            let again: PrivacyManifest
            do { again = try PrivacyManifest.decode(json: encoded, now: fuzzNow) } catch {
                throw PropertyViolation("the encoded manifest does not decode: \(error)")
            }
            try require(again == manifest, "decode(encode(manifest)) differs from the manifest")
        } catch let error as ManifestError {
            try require(!error.problems.isEmpty, "a ManifestError without problems")
        } catch {
            throw PropertyViolation("decode(json:) threw \(type(of: error))")
        }
    }
}

/// Consent receipts as the ledger keeps them (one JSON receipt per vault record), and their
/// hash chain.
///
/// Input: a JSON array of receipts (seeds are real ledgers' exports). Checks: decoding,
/// `currentChain` and `verifyChain` never trap; the ledger's own reader of a stored receipt
/// (`decodeStored`) never accepts what `JSONDecoder` reads otherwise or refuses, on the raw input
/// and on each receipt as the ledger stores it, and reads back every receipt it stores; a
/// ledger opened over those receipts (each
/// stored as a record of `steward.consent`) trusts them exactly when `verifyChain` says the
/// current chain is intact, and otherwise grants no consent-based purpose.
public enum FuzzConsentReceipts: FuzzTarget {
    public static let name = "FuzzConsentReceipts"

    public static func run(_ input: [UInt8]) throws(PropertyViolation) {
        if let fast = ConsentReceipt.decodeStored(input) {
            let foundation = try? JSONDecoder().decode(ConsentReceipt.self, from: Data(input))
            try require(fast == foundation, "decodeStored read \(fast), JSONDecoder \(String(describing: foundation))")
        }
        guard let receipts = try? JSONDecoder().decode([ConsentReceipt].self, from: Data(input)) else { return }
        for receipt in receipts.prefix(64) {
            guard let stored = try? JSONEncoder().encode(receipt) else { continue }
            try require(
                ConsentReceipt.decodeStored(Array(stored)) == receipt,
                "decodeStored does not read back the stored form of \(receipt)")
        }
        _ = ConsentReceipt.verifyChain(ConsentReceipt.currentChain(receipts))
        guard receipts.count <= 256 else { return }
        let folder = Scratch.fresh("consent")
        guard let vault = try openFuzzVault(folder) else { throw PropertyViolation("a new vault did not open") }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for receipt in receipts {
            guard let bytes = try? encoder.encode(receipt) else { return }
            _ = try typed("append", vaultErrors) {
                try vault.append(
                    Array(bytes), to: ConsentLedger.collection, category: .consentRecords, purpose: .privacyCompliance)
            }
        }
        _ = try typed("commit", vaultErrors) { try vault.commit() }
        guard
            let ledger = try typed(
                "ConsentLedger", vaultErrors + [ConsentError.self],
                {
                    try ConsentLedger(manifest: exampleManifest, vault: vault, clock: fuzzClock)
                })
        else { return }
        // Re-encoding can change a receipt (a non-canonical value), which then fails its hash:
        // compare with the chain as stored.
        let stored =
            (try? vault.records(in: ConsentLedger.collection).prefix(receipts.count).compactMap {
                try? JSONDecoder().decode(ConsentReceipt.self, from: Data($0.data))
            }) ?? []
        let storedCheck = ConsentReceipt.verifyChain(ConsentReceipt.currentChain(stored))
        try require(
            ledger.integrity.isValid == storedCheck.isValid,
            "the ledger's integrity (\(ledger.integrity)) disagrees with verifyChain (\(storedCheck))")
        if !storedCheck.isValid {
            // Nothing stays granted on a broken chain (the age gate may still deny: forgetting
            // that the user is a child would be the unsafe side).
            for purpose in exampleManifest.purposes where purpose.requiresConsent {
                try require(
                    ledger.consentState(for: purpose.id) != .granted,
                    "after a broken chain \(purpose.id) is still granted")
            }
        }
        _ = try typed("receipts()", vaultErrors) { try ledger.receipts() }
        _ = try typed("close", vaultErrors) { try vault.close() }
    }
}
