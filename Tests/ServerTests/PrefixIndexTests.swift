import OpenAIWire
import Testing
@testable import Server

@Suite struct PrefixIndexTests {
    /// A conversation's turns extend one another: each reuses what the previous left and leaves
    /// its own prompt; a prompt that diverges reuses the common part and leaves no more; a prompt
    /// shorter than a block, or with another first block, starts nothing shared.
    @Test func chainsExtendAndDivergencesShareTheCommonPart() {
        let index = PrefixIndex(blockSizeTokens: 4)
        let t0 = Array(1...10), t1 = t0 + Array(20...29), t2 = t1 + [7, 7]
        let a = index.place(t0)!, b = index.place(t1)!, c = index.place(t2)!
        #expect(a.reuse == 0 && a.register == 10)
        #expect(b.group == a.group && b.reuse == 10 && b.register == 20)
        #expect(c.group == a.group && c.reuse == 20 && c.register == 22)
        let fork = index.place(Array(1...6) + [99, 98, 97])!
        #expect(fork.group == a.group && fork.reuse == 6 && fork.register == 6)
        let next = index.place(t2 + [1])!  // the chain is still the longest prompt
        #expect(next.reuse == 22 && next.register == 23)
        #expect(index.place([1, 2, 3]) == nil)
        #expect(index.place([5, 6, 7, 8, 9])!.group != a.group)
    }

    /// Text prompts are compared by words, chat prompts by role and words.
    @Test func textAndMessagesAreComparedByWords() {
        #expect(PrefixIndex.tokens(of: .text("a b  c\nd")) == PrefixIndex.tokens(of: .text("a b c d")))
        let m = PrefixIndex.tokens(of: .messages([(role: "user", content: "hi there")]))
        #expect(m.count == 3 && m[1...] == PrefixIndex.tokens(of: .text("hi there"))[...])
    }

    /// Forgetting the least recently used group keeps the index bounded.
    @Test func theIndexIsBounded() {
        let index = PrefixIndex(blockSizeTokens: 2, maxGroups: 3)
        for g in 0..<5 { _ = index.place([g, g, 1]) }
        #expect(index.place([4, 4, 1, 2])!.reuse == 3)
        #expect(index.place([0, 0, 1])!.reuse == 0)  // forgotten
    }
}
