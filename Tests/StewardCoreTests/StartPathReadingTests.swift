import Foundation
@testable import StewardCore
import StewardTesting
import Testing

/// The readers that keep Foundation's JSON coding and large batches off `Steward.start`'s path
/// (issue 18): they must read exactly what the slower, general paths read.
@Suite struct StartPathReadingTests {
    private func randomText(_ rng: inout SplitMix64) -> String {
        let pieces = ["a", "Z", "/", "\\", "\"", "\n", "\u{0}", "\u{1F}", "é", "日本", "🙂", "\u{2028}", ",", " ", "{"]
        var text = ""
        for _ in 0..<Int(rng.next() % 12) { text += pieces[Int(rng.next() % UInt64(pieces.count))] }
        return text
    }

    private func randomReceipt(_ rng: inout SplitMix64) -> ConsentReceipt {
        let states = ConsentState.allCases
        let bases = LegalBasis.allCases
        var purposes: [ReceiptPurpose] = []
        for _ in 0..<Int(rng.next() % 5) {
            purposes.append(
                ReceiptPurpose(
                    purpose: Purpose(rawValue: randomText(&rng)),
                    legalBasis: bases[Int(rng.next() % UInt64(bases.count))],
                    previous: states[Int(rng.next() % UInt64(states.count))],
                    state: states[Int(rng.next() % UInt64(states.count))]))
        }
        return ConsentReceipt(
            version: randomText(&rng), receiptID: randomText(&rng), sequence: Int(rng.next() % 1_000),
            timestamp: Int64(bitPattern: rng.next()), actor: ConsentActor(rawValue: randomText(&rng)),
            policyVersion: randomText(&rng),
            jurisdiction: rng.next() % 2 == 0 ? nil : Jurisdiction(rawValue: randomText(&rng)),
            ageSignal: AgeSignal.allCases[Int(rng.next() % UInt64(AgeSignal.allCases.count))],
            reason: rng.next() % 2 == 0 ? nil : randomText(&rng), purposes: purposes,
            previousHash: randomText(&rng), hash: randomText(&rng))
    }

    @Test func theLedgersReaderReadsEveryStoredReceiptAsJSONDecoderDoes() throws {
        var rng = SplitMix64(seed: 0x5EED_1818)
        let sorted = JSONEncoder()
        sorted.outputFormatting = .sortedKeys
        for _ in 0..<500 {
            let receipt = randomReceipt(&rng)
            for encoder in [JSONEncoder(), sorted] {
                let bytes = Array(try encoder.encode(receipt))
                #expect(ConsentReceipt.decodeStored(bytes) == receipt)
                #expect(try JSONDecoder().decode(ConsentReceipt.self, from: Data(bytes)) == receipt)
            }
        }
    }

    @Test func anyOtherShapeIsLeftToJSONDecoder() throws {
        let receipt = ConsentReceipt(
            version: ConsentReceipt.currentVersion, receiptID: "r", sequence: 3, timestamp: 1_700_000_000,
            actor: .user, policyVersion: "1", jurisdiction: nil, ageSignal: .unknown, reason: nil,
            purposes: [ReceiptPurpose(purpose: .analytics, legalBasis: .consent, previous: .pending, state: .granted)],
            previousHash: ConsentReceipt.genesisHash, hash: "h")
        // Sorted keys: JSONEncoder's order is otherwise its own, and the edits below need
        // "sequence" before another key.
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let json = String(decoding: try encoder.encode(receipt), as: UTF8.self)
        let variants = [
            json.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":3.0"),  // not an integer's spelling
            json.replacingOccurrences(of: "\"sequence\":3", with: "\"sequence\":\"3\""),  // a string
            json.replacingOccurrences(of: "\"sequence\":3,", with: ""),  // missing
            json.replacingOccurrences(of: "\"granted\"", with: "\"maybe\""),  // an unknown state
            "[" + json + "]",
            json + "x",
        ]
        for variant in variants {
            #expect(variant != json)
            let bytes = Array(variant.utf8)
            #expect(ConsentReceipt.decodeStored(bytes) == nil, "read \(variant)")
            // The ledger then reads what JSONDecoder reads, and nothing else.
            #expect(
                ConsentLedger.decodeReceipt(bytes)
                    == (try? JSONDecoder().decode(ConsentReceipt.self, from: Data(bytes))))
        }
        // A key twice: which one JSONDecoder keeps is its own affair (not even stable between
        // two decodes), so the ledger's reader leaves it to JSONDecoder.
        let twice = json.replacingOccurrences(of: "{\"actor\"", with: "{\"hash\":\"first\",\"actor\"")
        #expect(twice != json)
        #expect(ConsentReceipt.decodeStored(Array(twice.utf8)) == nil)
        // Null for an absent value and unknown keys: read, as JSONDecoder reads them.
        let tolerated = json.replacingOccurrences(of: "{\"", with: "{\"reason\":null,\"extra\":[1,{}],\"")
        #expect(ConsentReceipt.decodeStored(Array(tolerated.utf8)) == receipt)
        #expect(try JSONDecoder().decode(ConsentReceipt.self, from: Data(tolerated.utf8)) == receipt)
    }

    @Test func iterationDecryptsLargeRecordsAFewAtATime() throws {
        let dir = NSTemporaryDirectory() + "steward-batches-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let vault = try Vault.open(directory: dir, keyProvider: InMemoryKeyProvider())
        // 24 records of 200 KB (an outbox of large payloads), then a small one, then one larger
        // than a whole batch.
        var written: [[UInt8]] = (0..<24).map { [UInt8](repeating: UInt8($0), count: 200_000) }
        written.append(Array("small".utf8))
        written.append([UInt8](repeating: 0xEE, count: 3 << 20))
        for data in written {
            try vault.append(data, to: "outbox", category: .usageEvents, purpose: .analytics)
        }
        try vault.commit()
        var seen: [[UInt8]] = []
        try vault.forEachRecord(in: "outbox") { seen.append($0.data) }
        #expect(seen == written, "every record once, in order")
        // Each batch holds at most 1 MiB of frames, or one record alone.
        var batches: [[Int]] = []
        try vault.forEachBatch(in: "outbox") { batches.append($0.map(\.data.count)) }
        #expect(batches.flatMap { $0 } == written.map(\.count))
        for batch in batches {
            #expect(batch.count == 1 || batch.reduce(0, +) <= Vault.iterationBatch.bytes, "batch \(batch)")
        }
        #expect(batches.count >= 6, "200 KB records go at most five to a batch: \(batches.map(\.count))")
        try vault.close()
    }
}
