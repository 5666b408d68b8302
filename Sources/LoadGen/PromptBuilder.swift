import BenchCore
import Tokenizer

/// Deterministic prompts of a requested length. Requests of one `prefix_group` share their first
/// `prefix_tokens` tokens (so server-side prefix caches see real sharing); the rest is unique per
/// request. Same (request, seed) → same prompt.
public enum PromptBuilder {
    /// Token ids are drawn from [1000, vocab − 2000): clear of the special and byte tokens at
    /// the start of Llama-family vocabularies and of added tokens at the end (our choice). Small
    /// vocabularies scale the margins down. Default vocabulary: 32,000 (Llama-2).
    public static let defaultVocabSize = 32_000

    static func idRange(vocab: Int) -> (lo: Int, span: Int) {
        let lo = min(1000, vocab / 8)
        let hi = max(lo + 1, vocab - min(2000, vocab / 16))
        return (lo, hi - lo)
    }

    /// A small vocabulary of common English words; each is one token in byte-level BPE
    /// vocabularies of Llama/GPT families (with its leading space), so a text prompt of n words is
    /// about n tokens. The count is an approximation: recorded as such.
    static let words: [String] = [
        "the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by", "on", "not",
        "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an", "had", "they", "you", "were",
        "their", "one", "all", "we", "can", "her", "has", "there", "been", "if", "more", "when", "will", "would",
        "who", "so", "no", "time", "people", "year", "way", "day", "man", "thing", "woman", "life", "child",
        "world", "school", "state", "family", "student", "group",
    ]

    public static func payload(for r: WorkloadRequest, format: PromptFormat, seed: UInt64, vocab: Int = defaultVocabSize) -> PromptPayload {
        switch format {
        case .tokens: return .tokens(tokenIDs(for: r, seed: seed, vocab: vocab))
        case .text: return .text(text(for: r, seed: seed))
        }
    }

    /// The position-`i` element for request `r`: shared-prefix positions depend on the group only.
    static func draws(for r: WorkloadRequest, seed: UInt64, count: Int, range: Int) -> [Int] {
        let shared = min(r.prefixTokens ?? 0, count)
        var out = [Int]()
        out.reserveCapacity(count)
        if let g = r.prefixGroup, shared > 0 {
            var rng = SeededRNG(seed: seed, stream: 0xB00F, index: UInt64(truncatingIfNeeded: g))
            for _ in 0..<shared { out.append(rng.index(below: range)) }
        }
        var rng = SeededRNG(seed: seed, stream: 0xB00E, index: UInt64(truncatingIfNeeded: r.id))
        while out.count < count { out.append(rng.index(below: range)) }
        return out
    }

    public static func tokenIDs(for r: WorkloadRequest, seed: UInt64, vocab: Int = defaultVocabSize) -> [Int] {
        let range = idRange(vocab: vocab)
        return draws(for: r, seed: seed, count: r.promptTokens, range: range.span).map { range.lo + $0 }
    }

    public static func text(for r: WorkloadRequest, seed: UInt64) -> String {
        draws(for: r, seed: seed, count: r.promptTokens, range: words.count).map { words[$0] }.joined(separator: " ")
    }

    /// Text of exactly `r.promptTokens` tokens for `tokenizer` (`tokenizer.encode(text).count`).
    /// The same seeded word draws as `text(for:seed:)` (the same text where every word is one
    /// token), priced with the tokenizer; a word that would overshoot is replaced by single-token
    /// words. Requests of a prefix group share the text of the group's first `prefix_tokens`
    /// tokens (and so those token ids). Deterministic in (request, seed). Exact for every
    /// tokenizer `BPETokenizer` loads except contrived vocabularies with tokens spanning word
    /// boundaries (see `ExactLengthText`).
    public static func text(for r: WorkloadRequest, seed: UInt64, tokenizer: BPETokenizer) -> String {
        var b = ExactLengthText(tokenizer: tokenizer)
        let shared = r.prefixGroup == nil ? 0 : min(r.prefixTokens ?? 0, r.promptTokens)
        if let g = r.prefixGroup, shared > 0 {
            var rng = SeededRNG(seed: seed, stream: 0xB00F, index: UInt64(truncatingIfNeeded: g))
            b.fill(to: shared, rng: &rng)
        }
        var rng = SeededRNG(seed: seed, stream: 0xB00E, index: UInt64(truncatingIfNeeded: r.id))
        b.fill(to: r.promptTokens, rng: &rng)
        return b.text
    }

    /// A version-4-shaped UUID derived from (seed, request id): unique per request, stable across runs.
    public static func uuid(requestID: Int, seed: UInt64) -> String {
        var rng = SeededRNG(seed: seed, stream: 0x0001D, index: UInt64(truncatingIfNeeded: requestID))
        var bytes = (0..<16).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        // Built on bytes: this runs once per request on the sending thread.
        let hex: StaticString = "0123456789abcdef"
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(0x2D) }
            out.append(hex.utf8Start[Int(b >> 4)])
            out.append(hex.utf8Start[Int(b & 15)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
