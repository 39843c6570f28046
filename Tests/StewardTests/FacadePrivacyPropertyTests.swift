import Foundation
@testable import Steward
import StewardCore
import StewardTesting
import Testing

/// Random consent changes, events, handled errors and sends through the facade, with and
/// without a destination: nothing of a purpose that was withdrawn or never granted reaches a
/// transport, nothing recorded is readable in any file under the data folder, and every
/// recipient that received data of a withdrawn purpose has a deletion request delivered or
/// pending. Part of the facade suite (one instance per process).
extension StewardFacadeTests {
    @Test(arguments: 0..<4)
    func nothingUnconsentedIsSentOrReadableAndEveryWithdrawalIsAccountedFor(seed: UInt64) async throws {
        var random = SplitMix64(seed: 0x5AFE_0000 + seed)
        let f = FacadeFixture()
        var configuration = try f.configuration()
        // Half the runs have no destination at first (payloads wait in the vault).
        let startsWithoutDestination = seed % 2 == 0
        if startsWithoutDestination { configuration.transports = [:] }
        var steward = try Steward.start(configuration)
        defer { steward.stop() }
        let purposes: [Purpose] = [.analytics, .crashReporting]
        let recipientOf: [Purpose: RecipientID] = [.analytics: "telemetryBackend", .crashReporting: "crashBackend"]
        var forbidden: [Purpose: Set<String>] = [:]
        var recorded: [Purpose: Set<String>] = [:]
        var checked = 0
        var seen = (telemetry: 0, crash: 0)
        var forbiddenBefore: [Purpose: Set<String>] = [:]
        func sentBodies() -> [(RecipientID, Payload)] {
            f.telemetryTransport.payloads.map { ("telemetryBackend", $0) }
                + f.crashTransport.payloads.map { ("crashBackend", $0) }
        }
        for step in 0..<36 {
            switch random.int(in: 0..<9) {
            case 0, 1:
                try steward.consent.grant([purposes[random.int(in: 0..<2)]])
            case 2:
                let purpose = purposes[random.int(in: 0..<2)]
                let recipient = recipientOf[purpose]!
                let receivedBefore = sentBodies().contains { $0.0 == recipient && $0.1.purpose == purpose }
                let wasGranted = steward.consent.consentState(for: purpose) == .granted
                try steward.consent.deny([purpose])
                forbidden[purpose, default: []].formUnion(recorded[purpose] ?? [])
                if receivedBefore && wasGranted {
                    let pending = try steward.rights.accessReport().pendingDeletionRequests[recipient] ?? 0
                    #expect(
                        pending >= 1,
                        "seed \(seed) step \(step): \(recipient) received \(purpose) data; its deletion request is pending"
                    )
                }
            case 3, 4, 5:
                let marker = "MARK\(seed)x\(step)Q"
                steward.telemetry.record("screen_view", attributes: ["screen": .string(marker)])
                recorded[.analytics, default: []].insert(marker)
                if steward.consent.consentState(for: .analytics) == .denied {
                    forbidden[.analytics, default: []].insert(marker)
                }
            case 6:
                let marker = "MARK\(seed)x\(step)Q"
                steward.crashes.report(error: CocoaError(.fileReadCorruptFile), message: marker)
                recorded[.crashReporting, default: []].insert(marker)
                if steward.consent.consentState(for: .crashReporting) == .denied {
                    forbidden[.crashReporting, default: []].insert(marker)
                }
            case 7:
                _ = await steward.send(timeout: .seconds(5))
            default:
                // Restart, sometimes gaining the destination.
                steward.stop()
                if random.int(in: 0..<2) == 0 {
                    configuration.transports = [
                        "telemetryBackend": f.telemetryTransport, "crashBackend": f.crashTransport,
                    ]
                }
                steward = try Steward.start(configuration)
            }
            // Nothing sent in this step holds a marker forbidden before it (deletion requests
            // carry none).
            let fresh =
                Array(f.telemetryTransport.payloads.dropFirst(seen.telemetry))
                + Array(f.crashTransport.payloads.dropFirst(seen.crash))
            for payload in fresh where payload.purpose != .privacyCompliance {
                let body = String(decoding: payload.body, as: UTF8.self)
                for marker in forbiddenBefore[payload.purpose] ?? [] where body.contains(marker) {
                    Issue.record("seed \(seed) step \(step): \(marker) was sent after its purpose was denied")
                }
            }
            seen = (f.telemetryTransport.payloads.count, f.crashTransport.payloads.count)
            forbiddenBefore = forbidden
            // Nothing recorded is readable in any file under the data folder.
            for file in f.files() {
                guard let bytes = FileManager.default.contents(atPath: file) else { continue }
                checked += 1
                for marker in recorded.values.flatMap({ $0 }) {
                    if bytes.range(of: Data(marker.utf8)) != nil {
                        Issue.record("seed \(seed) step \(step): \(file) holds \(marker) in plaintext")
                    }
                }
            }
        }
        #expect(checked > 0)
        // Finally every deletion request owed is delivered or visibly pending.
        configuration.transports = ["telemetryBackend": f.telemetryTransport, "crashBackend": f.crashTransport]
        steward.stop()
        steward = try Steward.start(configuration)
        _ = await steward.send(timeout: .seconds(5))
        let access = try steward.rights.accessReport()
        #expect(
            access.pendingDeletionRequests.isEmpty,
            "seed \(seed): with a destination, every request was delivered: \(access.pendingDeletionRequests)")
    }
}
