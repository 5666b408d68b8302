import BenchCore
import Foundation
@testable import Models
import Testing
@testable import Tokenizer

/// GGUF SentencePiece (`tokenizer.ggml.model = "llama"`) tokenization against llama.cpp and
/// sentencepiece on the same vocabulary: `Fixtures/tiny-spm.gguf` (a 1,000-piece SentencePiece
/// BPE model trained on this repository's docs, byte fallback on) and the ids both gave for each
/// text (`scripts/interop/spm_reference.py`, run by `./run.sh interop reference`).
struct SentencePieceTests {
    static let gguf = ModelsFixtures.dir + "/tiny-spm.gguf"

    static func cases() throws -> [(text: String, ids: [Int32], sentencePiece: [Int32])] {
        let json = try JSONParser.parse(String(decoding: try FileIO.readFile(ModelsFixtures.dir + "/tiny-spm-reference.json"), as: UTF8.self))
        guard case .array(let cases)? = json["cases"] else { return [] }
        func ints(_ v: JSONValue?) -> [Int32] {
            guard case .array(let a)? = v else { return [] }
            return a.compactMap { if case .number(let d) = $0 { Int32(d) } else { nil } }
        }
        return cases.compactMap { c in
            guard case .string(let t)? = c["text"] else { return nil }
            return (t, ints(c["llama_cpp"]), ints(c["sentencepiece"]))
        }
    }

    @Test func encodesAsLlamaCppAndSentencePieceDo() throws {
        let tok = try ModelTokenizer(gguf: GGUFFile(path: Self.gguf))
        guard case .sentencePiece = tok.engine else { Issue.record("expected a SentencePiece tokenizer"); return }
        #expect(tok.bosID == 1 && tok.eosID == 2 && tok.addBOS && tok.stopIDs == [2])
        let cases = try Self.cases()
        #expect(cases.count >= 15)
        for c in cases {
            #expect(tok.encode(c.text) == c.ids, "\(c.text.debugDescription)")
            #expect(c.ids == c.sentencePiece, "the references disagree on \(c.text.debugDescription)")
            // Decoding gives the text back (the prepended space dropped); BOS decodes to nothing.
            #expect(tok.decode(c.ids) == c.text, "\(c.text.debugDescription)")
        }
    }

    /// Characters outside the vocabulary go as byte pieces, and decode back to the characters.
    @Test func byteFallbackRoundTrips() throws {
        let tok = try ModelTokenizer(gguf: GGUFFile(path: Self.gguf))
        for text in ["ß∂ƒ©˙∆˚¬", "🧪🧬 tests", "中文 and العربية", "a\u{0}b"] {
            #expect(tok.decode(tok.encode(text)) == text, "\(text.debugDescription)")
        }
    }

    /// Control pieces written in the text are kept whole, and the text after one gets the space
    /// prefix again (llama.cpp's rule).
    @Test func controlPiecesSplitTheText() throws {
        let tok = try ModelTokenizer(gguf: GGUFFile(path: Self.gguf))
        let ids = tok.encodeWithoutBOS("Hello</s>world")
        let parts = tok.encodeWithoutBOS("Hello") + [2] + tok.encodeWithoutBOS("world")
        #expect(ids == parts)
    }

    /// A vocabulary whose scores and pieces disagree in count is an error naming the key.
    @Test func mismatchedScoresAreNamed() {
        #expect(throws: BenchError.data("f.gguf", field: "tokenizer.ggml.scores", "has 1 scores for 2 tokens")) {
            _ = try SentencePieceTokenizer(pieces: ["a", "b"], scores: [0], types: [], unkID: nil, addSpacePrefix: true, file: "f.gguf")
        }
    }

    /// The merge order: the highest-scoring pair first, the leftmost among equal scores.
    @Test func mergesByScoreThenLeftmost() throws {
        // "▁ab" exists only through "▁a"+"b" (score -1) — unless "ab" (score -0.5) merges first.
        let t = try SentencePieceTokenizer(pieces: ["<unk>", "▁", "a", "b", "▁a", "ab", "▁ab"], scores: [0, -3, -3, -3, -1, -0.5, -2],
                                           types: [2, 1, 1, 1, 1, 1, 1], unkID: 0, addSpacePrefix: true, file: "t")
        // "ab" merges first (−0.5), then "▁"+"ab" is not a piece… but "▁ab" is: ▁ + ab → ▁ab.
        #expect(t.encode("ab") == [6])
        // Equal scores: the leftmost pair merges first.
        let u = try SentencePieceTokenizer(pieces: ["x", "y", "xy", "yx"], scores: [0, 0, -1, -1], types: [], unkID: nil,
                                           addSpacePrefix: false, file: "u")
        #expect(u.encode("xyx") == [2, 0])
    }
}
