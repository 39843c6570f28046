@testable import StewardCore
import Testing

@Suite struct CleanTextMemoTests {
    @Test func aTextIsFoundOnlyByItsExactBytesAndItsFiltersGeneration() {
        let memo = CleanTextMemo()
        memo.insert("slow request", generation: 3)
        #expect(memo.contains("slow request", generation: 3))
        #expect(!memo.contains("slow request!", generation: 3))
        #expect(!memo.contains("slow request", generation: 4), "another filter's answer is not this one's")
    }

    /// Two texts equal as Swift strings (canonical equivalence) but of other bytes, in the
    /// same slot: only the bytes decide.
    @Test func canonicallyEqualTextsInOneSlotAreToldApartByTheirBytes() throws {
        let pair = (0..<200_000).lazy.map { n in ("caf\u{E9}\(n)", "cafe\u{301}\(n)") }
            .first { CleanTextMemo.slot(of: $0.0) == CleanTextMemo.slot(of: $0.1) }
        let (composed, decomposed) = try #require(pair, "a pair sharing a slot")
        #expect(composed == decomposed, "equal as Swift strings")
        let memo = CleanTextMemo()
        memo.insert(composed)
        #expect(memo.contains(composed))
        #expect(!memo.contains(decomposed), "same slot, other bytes")
        memo.insert(decomposed)
        #expect(memo.contains(decomposed))
        #expect(!memo.contains(composed), "the newer text took the slot")
    }

    @Test func aNewGenerationForgetsEverything() {
        let memo = CleanTextMemo()
        memo.insert("a", generation: 1)
        memo.insert("b", generation: 2)
        #expect(!memo.contains("a", generation: 1))
        #expect(!memo.contains("a", generation: 2))
        #expect(memo.contains("b", generation: 2))
    }

    @Test func longTextsAreNotRememberedAndCollisionsOnlyEvict() {
        let memo = CleanTextMemo()
        let long = String(repeating: "x", count: CleanTextMemo.valueLimit + 1)
        memo.insert(long)
        #expect(!memo.contains(long))
        let texts = (0..<(CleanTextMemo.capacity * 4)).map { "screen \($0)" }
        for text in texts { memo.insert(text) }
        let found = texts.filter { memo.contains($0) }
        #expect(!found.isEmpty && found.count <= CleanTextMemo.capacity, "one text per slot")
        #expect(found.allSatisfy { texts.contains($0) })
        #expect(memo.contains(texts[texts.count - 1]), "the newest text holds its slot")
        #expect(!memo.contains("screen \(texts.count)"), "never inserted")
    }
}
