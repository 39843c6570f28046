import ArgumentParser
import Foundation
import StewardCore

/// `steward demo`: the end-to-end walk through what Steward does, on embedded defaults.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Walk through Steward end to end: create a vault, store records, withdraw consent, expire, erase.",
        discussion: "Runs in a fresh temporary data directory unless --data-dir names one; --keep leaves it in place.")

    @OptionGroup var options: CommonOptions

    @Flag(help: "Keep the demo's data directory instead of erasing it at the end.")
    var keep = false

    func run() throws {
        let dataDirectory: String
        if options.dataDirectory != nil {
            dataDirectory = try options.resolvedDataDirectory()
            // The demo erases what it made at the end; it must never touch anything else.
            if let contents = try? FileManager.default.contentsOfDirectory(atPath: dataDirectory), !contents.isEmpty {
                throw ValidationError("the demo needs a new or empty --data-dir, and \(dataDirectory) is not empty; the demo erases its data directory at the end")
            }
        } else {
            dataDirectory = NSTemporaryDirectory() + "steward-demo-" + UUID().uuidString.prefix(8).lowercased()
        }
        var step = 0
        func say(_ title: String) {
            step += 1
            print("\n\(step). \(title)")
        }

        print("Steward demo — app \(options.appID), data in \(dataDirectory)")

        say("Open the vault. A new vault gets a fresh 32-byte key in a 0600 file inside a 0700 folder.")
        var vault = try Vault.open(dataDirectory: dataDirectory)
        let keyPath = dataDirectory + "/keys/vault.key"
        print("   key file \(keyPath): mode \(mode(keyPath)), folder mode \(mode(dataDirectory + "/keys"))")

        say("Store records, each tagged with its data category, purpose and retention, sealed with AES-256-GCM.")
        let canary = "demo-secret-" + UUID().uuidString
        try vault.append(Array(#"{"model":"ThinkCentre M70q","os":"debian 12","note":"\#(canary)"}"#.utf8),
                         to: "device", category: .deviceModel, purpose: .serviceProvision)
        try vault.append(Array(#"{"signal":"SIGSEGV","release":"1.4.2"}"#.utf8),
                         to: "crashes", category: .crashDiagnostics, purpose: .crashReporting, retention: .seconds(90 * 86_400))
        for screen in ["home", "scan", "results", "settings", "scan"] {
            try vault.append(Array(#"{"event":"screen_view","screen":"\#(screen)"}"#.utf8),
                             to: "analytics", category: .usageEvents, purpose: .analytics, retention: .seconds(30 * 86_400))
        }
        try vault.commit()
        print("   5 analytics events, 1 crash report, 1 device record committed (fdatasync'd).")
        print(indent(try InspectReport.make(vault: vault, dataDirectory: dataDirectory).text()))

        say("Check that no plaintext reached the disk: search every file for a secret we stored.")
        let leaks = filesContaining(Array(canary.utf8), under: dataDirectory)
        print("   searched for \"\(canary.prefix(20))…\": \(leaks.isEmpty ? "found in no file" : "FOUND in \(leaks)")")

        say("The user withdraws analytics consent: purge every record kept for that purpose.")
        let purged = try vault.purge(purpose: .analytics)
        print("   removed \(purged) record(s); their segments were rewritten, so the ciphertext is gone too.")

        say("Retention: a record kept for 0 seconds has expired at once; purgeExpired removes it.")
        try vault.append(Array("short-lived".utf8), to: "device", category: .connectionStatus, purpose: .serviceProvision, retention: .zero)
        try vault.commit()
        print("   removed \(try vault.purgeExpired()) expired record(s).")

        say("Restart: close and reopen. Committed records survive; the lock keeps a second process out.")
        try vault.close()
        vault = try Vault.open(dataDirectory: dataDirectory)
        do {
            _ = try Vault.open(dataDirectory: dataDirectory)
        } catch let error as VaultError {
            print("   a second open is refused: \(error.message)")
        }
        print(indent(try InspectReport.make(vault: vault, dataDirectory: dataDirectory).text()))

        if keep {
            try vault.close()
            print("\nKept \(dataDirectory). Try: steward inspect --data-dir \(dataDirectory)")
            return
        }
        say("Erase everything (crypto-erase): the key is destroyed first, then every file.")
        try vault.erase()
        let left = filesUnder(dataDirectory + "/vault").filter { !$0.hasSuffix("/lock") }
        print("   key file present: \(FileManager.default.fileExists(atPath: keyPath)); vault files left: \(left.count) (besides the lock file, which holds only a pid)")
        try? FileManager.default.removeItem(atPath: dataDirectory)
        print("\nDone.")
    }

    private func mode(_ path: String) -> String {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let permissions = attributes[.posixPermissions] as? Int else { return "?" }
        return "0" + String(permissions, radix: 8)
    }

    private func indent(_ text: String) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { "   " + $0 }.joined(separator: "\n")
    }

    private func filesUnder(_ root: String) -> [String] {
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        return enumerator.compactMap { $0 as? String }.map { root + "/" + $0 }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    private func filesContaining(_ needle: [UInt8], under root: String) -> [String] {
        filesUnder(root).filter { path in
            guard let data = FileManager.default.contents(atPath: path) else { return false }
            return Data(data).range(of: Data(needle)) != nil
        }
    }
}
