@testable import StewardCore
import Testing

@Suite struct CleanTextMemoTests {
    @Test func aTextIsFoundOnlyByItsExactBytesAndItsFiltersGeneration() {
        let memo = CleanTextMemo()
        memo.insert("slow request", generation: 3)
        #expect(memo.contains("slow request", generation: 3))
        #expect(!memo.contains("slow request!", generation: 3))
        #expect(!memo.contains("slow request", generation: 4), "another filter's answer is not this one's")
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        #expect(composed == decomposed, "equal as Swift strings")
        memo.insert(composed)
        #expect(memo.contains(composed))
        #expect(!memo.contains(decomposed), "other bytes")
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
