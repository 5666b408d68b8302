import Foundation
import OpenAIWire

/// Content-addressed prefix groups for `serve --prefix-caching`: the engine's prefix cache is
/// keyed by group, and HTTP requests carry no group, so `serve` derives one from the prompt. Two
/// prompts whose first KV block of tokens is the same share a group; the group remembers the
/// longest prompt of a chain in which each prompt extends the one before (a conversation's
/// turns), and a request may reuse the tokens it has in common with it. As vLLM's block hashing
/// does for a chain, only a match from the first token counts.
///
/// Tokens are the prompt's token ids, or for a text prompt its words (serve counts one word as
/// one token when it has no tokenizer; chat messages: each message's role, then its words).
final class PrefixIndex: @unchecked Sendable {
    let blockSizeTokens: Int
    /// Groups remembered (least recently used forgotten first). 10,000: our choice, about as
    /// many conversations as a serving engine's cache holds blocks for; a forgotten group only
    /// costs reuse, never correctness.
    let maxGroups: Int
    private var groups: [Int: (tokens: [Int], lastUse: Int)] = [:]
    private var clock = 0
    private let lock = NSLock()

    init(blockSizeTokens: Int, maxGroups: Int = 10_000) {
        self.blockSizeTokens = blockSizeTokens
        self.maxGroups = maxGroups
    }

    /// The group of a prompt, the tokens it may reuse, and the tokens it leaves for the group;
    /// nil for a prompt shorter than one block (nothing to share).
    func place(_ tokens: [Int]) -> (group: Int, reuse: Int, register: Int)? {
        guard tokens.count >= blockSizeTokens, blockSizeTokens > 0 else { return nil }
        let group = Int(truncatingIfNeeded: PrefixIndex.fnv1a(tokens.prefix(blockSizeTokens).lazy.map { UInt64(bitPattern: Int64($0)) }) >> 1)
        lock.lock()
        defer { lock.unlock() }
        clock += 1
        guard let known = groups[group] else {
            remember(group, tokens)
            return (group, 0, tokens.count)
        }
        var common = 0
        let n = min(known.tokens.count, tokens.count)
        while common < n && known.tokens[common] == tokens[common] { common += 1 }
        // A hash collision (different first blocks): no sharing, and the group stays as it was.
        guard common >= blockSizeTokens else { return nil }
        if common == known.tokens.count {
            remember(group, tokens)  // extends the chain: the longer prompt is the group's now
            return (group, common, tokens.count)
        }
        groups[group]!.lastUse = clock
        return (group, common, common)
    }

    private func remember(_ group: Int, _ tokens: [Int]) {
        if groups[group] == nil && groups.count >= maxGroups,
           let oldest = groups.min(by: { $0.value.lastUse < $1.value.lastUse })?.key {
            groups[oldest] = nil
        }
        groups[group] = (tokens, clock)
    }

    /// The tokens `place` compares for a request's prompt.
    static func tokens(of prompt: PromptInput) -> [Int] {
        switch prompt {
        case .tokenIDs(let ids): return ids
        case .text(let s): return words(s)
        case .messages(let m): return m.flatMap { [word($0.role[...])] + words($0.content) }
        }
    }

    static func words(_ s: String) -> [Int] {
        s.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).map(word)
    }

    static func word(_ w: Substring) -> Int { Int(truncatingIfNeeded: fnv1a(w.utf8.lazy.map(UInt64.init))) }

    /// FNV-1a over 64-bit units.
    static func fnv1a<S: Sequence>(_ units: S) -> UInt64 where S.Element == UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for u in units { h = (h ^ u) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
