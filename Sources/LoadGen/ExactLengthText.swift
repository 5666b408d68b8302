import BenchCore
import Tokenizer

/// Builds `PromptBuilder` text word by word with each word's token cost, so the text is exactly
/// the target length. Words are space-separated letters, so for split-regex tokenizers (and
/// SentencePiece vocabularies without tokens spanning "▁", as trained by SentencePiece) costs
/// add up exactly; a full encode checks every result and a repair loop handles tokenizers
/// where they do not. There, a length can be out of reach after a group's fixed prefix (e.g. 2
/// when every word after the 1-token prefix adds 2); the text is then the closest below.
struct ExactLengthText {
    let tok: BPETokenizer
    var text = ""
    /// UTF-8 lengths of the appended pieces (all ASCII).
    var pieceLengths: [Int] = []
    /// Pieces that must stay (the shared prefix).
    var frozen = 0
    var count = 0
    /// The token count of the anchor word, to price a word in context.
    let anchor: String
    let anchorCount: Int

    init(tokenizer: BPETokenizer) {
        tok = tokenizer
        anchor = PromptBuilder.words[0]
        anchorCount = tokenizer.cachedCount(anchor)
    }

    /// The tokens `word` adds at the current end of the text.
    func cost(_ word: String) -> Int {
        if text.isEmpty { return tok.cachedCount(word) }
        return tok.cachedCount(anchor + " " + word) - anchorCount
    }

    mutating func append(_ word: String, cost c: Int) {
        let piece = text.isEmpty ? word : " " + word
        text += piece
        pieceLengths.append(piece.utf8.count)
        count += c
    }

    mutating func removeLast() {
        let n = pieceLengths.removeLast()
        text.removeLast(n)
    }

    /// A word costing one token here: the prompt words in order, then single letters.
    func singleTokenWord() -> String? {
        for w in PromptBuilder.words where cost(w) == 1 { return w }
        for u in UInt8(ascii: "a")...UInt8(ascii: "z") {
            let w = String(UnicodeScalar(u))
            if cost(w) == 1 { return w }
        }
        return nil
    }

    /// Appends seeded words up to exactly `target` tokens.
    mutating func fill(to target: Int, rng: inout SeededRNG) {
        let words = PromptBuilder.words
        var misses = 0
        while count < target {
            let w = words[rng.index(below: words.count)]
            let c = cost(w)
            if c > 0, count + c <= target {
                append(w, cost: c)
                continue
            }
            // The word overshoots: finish with single-token words (chosen per position: the
            // first word of a text may cost more than the same word later), else keep drawing.
            if singleTokenWord() != nil {
                while count < target, let pad = singleTokenWord() { append(pad, cost: 1) }
                break
            }
            misses += 1
            if misses > 256 { break }
        }
        repair(to: target)
        frozen = pieceLengths.count
    }

    /// Checks the real count and, where the priced costs did not add up (a tokenizer whose
    /// tokens span word boundaries), fixes the tail with real encodes: drop words past the
    /// target, add the word that lands on it (else gets closest), and where every word passes
    /// it, put two words in place of the last one. Bounded; never touches the frozen prefix.
    mutating func repair(to target: Int) {
        var real = tok.encode(text).count
        guard real != target else { count = real; return }
        var budget = 4000  // encodes
        let candidates = PromptBuilder.words + (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }
        func measure(_ ws: String...) -> Int {
            for w in ws { append(w, cost: 0) }
            let c = tok.encode(text).count
            for _ in ws { removeLast() }
            budget -= 1
            return c
        }
        while real != target, budget > 0 {
            if real > target {
                guard pieceLengths.count > frozen else { break }
                removeLast()
                real = tok.encode(text).count
                budget -= 1
                continue
            }
            var best: (word: String, count: Int)? = nil
            for w in candidates where budget > 0 {
                let c = measure(w)
                if c == target { best = (w, c); break }
                if c > (best?.count ?? real), c < target { best = (w, c) }
            }
            if let best {
                append(best.word, cost: 0)
                real = best.count
                continue
            }
            guard pieceLengths.count > frozen else { break }
            removeLast()
            real = tok.encode(text).count
            var pair: (String, String)? = nil
            search: for w1 in candidates where budget > 0 && measure(w1) < target {
                for w2 in candidates where budget > 0 {
                    if measure(w1, w2) == target { pair = (w1, w2); break search }
                }
            }
            guard let pair else { break }
            append(pair.0, cost: 0)
            append(pair.1, cost: 0)
            real = target
        }
        count = real
    }
}
