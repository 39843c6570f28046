import Foundation
import StewardCore
@testable import StewardTelemetry
import StewardTesting
import Testing

/// Random consent changes and events: nothing of a purpose that was not granted when it was
/// recorded reaches the transport, and identifier values never appear raw in what is sent or
/// stored.
@Suite struct TelemetryPrivacyPropertyTests {
    @Test(arguments: 0..<12)
    func nothingUnconsentedOrRawReachesTheTransport(seed: UInt64) async throws {
        var random = SplitMix64(seed: 0x7E1E_0000 + seed)
        let f = try TelemetryFixture(configuration: .init(batchSize: random.int(in: 1...8)))
        let transport = RecordingTransport(clock: ContinuousClock())
        let uploader = try Uploader(
            recipient: "telemetryBackend", transport: transport, vault: f.vault, consent: f.ledger,
            manifest: telemetryTestManifest(), audit: f.audit, wallClock: f.clock)
        let resource = TelemetryResource(serviceName: "property-test")
        // Markers recorded while granted (may be sent), held while pending (may be sent once
        // granted), and those that must never be sent (recorded while denied, or purged by a
        // withdrawal).
        var grantedMarkers: Set<String> = []
        var heldMarkers: Set<String> = []
        var forbiddenMarkers: Set<String> = []
        var accounts: Set<String> = []
        for step in 0..<120 {
            switch random.int(in: 0..<10) {
            case 0:
                try? f.ledger.grant([.analytics])
                grantedMarkers.formUnion(heldMarkers)
                heldMarkers.removeAll()
            case 1:
                let wasGranted = f.ledger.consentState(for: .analytics) == .granted
                try? f.ledger.deny([.analytics])
                forbiddenMarkers.formUnion(heldMarkers)
                heldMarkers.removeAll()
                // Queued payloads of a withdrawn purpose are dropped by the uploader at send time;
                // stored ones are purged: none of them may be sent from now on.
                if wasGranted { forbiddenMarkers.formUnion(grantedMarkers); grantedMarkers.removeAll() }
            case 2:
                try f.telemetry.submit(to: uploader, resource: resource)
            default:
                let marker = "m\(seed)x\(step)"
                let account = "user-\(random.int(in: 0..<5))@example.com"
                accounts.insert(account)
                let outcome = f.telemetry.record(
                    "screen_view", attributes: ["screen": .string(marker), "account": .string(account)])
                if outcome.isRecorded {
                    grantedMarkers.insert(marker)
                } else if outcome.isHeld {
                    heldMarkers.insert(marker)
                } else {
                    forbiddenMarkers.insert(marker)
                }
            }
        }
        try f.telemetry.submit(to: uploader, resource: resource)
        _ = await uploader.drain()
        // Still pending at the end: held, never sent.
        forbiddenMarkers.formUnion(heldMarkers)
        let sent = transport.payloads.map { String(decoding: $0.body, as: UTF8.self) }.joined(separator: "\n")
        for marker in forbiddenMarkers where marker.count > 0 {
            // Markers are unique ("m<seed>x<step>"), and "x<step>" separates them: no prefix collisions.
            #expect(
                !sent.contains("\"\(marker)\""),
                "seed \(seed): \(marker) was recorded without consent (or after a withdrawal, or while pending) and was sent"
            )
        }
        for account in accounts {
            #expect(!sent.contains(account), "seed \(seed): a raw identifier was sent")
        }
        for marker in grantedMarkers {
            #expect(sent.contains("\"\(marker)\""), "seed \(seed): \(marker) was recorded under consent and never sent")
        }
        // Nothing stored holds a raw identifier either: every record, decrypted.
        for collection in try f.vault.collections() {
            for record in try f.vault.records(in: collection) {
                for account in accounts {
                    #expect(
                        Data(record.data).range(of: Data(account.utf8)) == nil,
                        "seed \(seed): \(collection) stores a raw identifier")
                }
            }
        }

        // Withdrawal: after a grant and data sent, a denial leaves nothing of the purpose and
        // sends the deletion request, which carries the pseudonyms that were sent.
        try f.ledger.grant([.analytics])
        f.telemetry.record(
            "screen_view", attributes: ["screen": .string("last"), "account": .string("final@example.com")])
        try f.telemetry.submit(to: uploader, resource: resource)
        _ = await uploader.drain()
        let lastSent = try #require(transport.payloads.last.map { String(decoding: $0.body, as: UTF8.self) })
        #expect(lastSent.contains("\"last\""))
        let pseudonyms = f.telemetry.pseudonymsInUse[.analytics] ?? []
        #expect(!pseudonyms.isEmpty)
        try f.ledger.deny([.analytics])
        try f.telemetry.submit(to: uploader, resource: resource)
        _ = await uploader.drain()
        let request = try #require(transport.payloads.last)
        #expect(request.purpose == .privacyCompliance, "seed \(seed): the deletion request went out")
        let requestBody = String(decoding: request.body, as: UTF8.self)
        #expect(requestBody.contains("steward.deletion_request"))
        for pseudonym in pseudonyms {
            #expect(requestBody.contains(pseudonym), "seed \(seed): the request names \(pseudonym)")
        }
        #expect(
            try f.vault.records(in: Telemetry.collection).allSatisfy { $0.purpose != .analytics },
            "the purpose's events are gone")
        #expect(
            try f.vault.records(in: Uploader.collection(for: "telemetryBackend")).allSatisfy {
                $0.purpose != .analytics
            },
            "nothing of the purpose waits in the outbox")
        try f.vault.close()
        for file in FileManager.default.enumerator(atPath: f.dir)?.compactMap({ $0 as? String }) ?? [] {
            let bytes = FileManager.default.contents(atPath: f.dir + "/" + file) ?? Data()
            for account in accounts {
                #expect(bytes.range(of: Data(account.utf8)) == nil, "\(file) holds a raw identifier")
            }
        }
    }
}
