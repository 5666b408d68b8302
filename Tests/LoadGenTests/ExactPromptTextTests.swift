import BenchCore
import Foundation
import LoadGen
import Testing
@testable import Tokenizer

/// The tokenizer fixtures of Tests/TokenizerTests (trained with the Python `tokenizers` library).
enum TokenizerFixtures {
    static let dir: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../TokenizerTests/Fixtures").path
    static let names = ["tokenizer.json", "tokenizer-llama3.json", "tokenizer-qwen2.json",
                        "tokenizer-metaspace.json", "tokenizer-metaspace-first.json", "tokenizer-digits.json"]
    static func load(_ name: String) throws -> BPETokenizer { try BPETokenizer(path: dir + "/" + name) }

    /// A byte-level tokenizer.json with `model` (and optionally the pre-tokenizer) given.
    static func tinyJSON(model: String, preTokenizer: String = #"{"type":"ByteLevel","add_prefix_space":false}"#) -> String {
        #"{"version":"1.0","added_tokens":[],"normalizer":null,"pre_tokenizer":\#(preTokenizer),"decoder":{"type":"ByteLevel"},"model":\#(model)}"#
    }
}

@Suite("Prompt text of an exact token count")
struct ExactPromptTextTests {
    static let lengths = [1, 2, 3, 5, 10, 37, 100, 1000]

    @Test("encode(text).count == prompt_tokens", arguments: TokenizerFixtures.names)
    func exactCounts(name: String) throws {
        let tok = try TokenizerFixtures.load(name)
        for n in Self.lengths {
            for id in 0..<(n >= 1000 ? 3 : 12) {
                let r = WorkloadRequest(id: id, arrivalS: 0, className: "c", promptTokens: n, outputTokens: 1)
                let text = PromptBuilder.text(for: r, seed: 42, tokenizer: tok)
                #expect(tok.encode(text).count == n, "\(name) n=\(n) id=\(id): \(text.prefix(60).debugDescription)")
            }
        }
    }

    @Test("deterministic in (request, seed); differs across requests and seeds")
    func deterministic() throws {
        let tok = try TokenizerFixtures.load("tokenizer.json")
        let a = WorkloadRequest(id: 5, arrivalS: 0, className: "c", promptTokens: 200, outputTokens: 1)
        let b = WorkloadRequest(id: 6, arrivalS: 0, className: "c", promptTokens: 200, outputTokens: 1)
        let t1 = PromptBuilder.text(for: a, seed: 9, tokenizer: tok)
        let fresh = try TokenizerFixtures.load("tokenizer.json")
        #expect(PromptBuilder.text(for: a, seed: 9, tokenizer: fresh) == t1)
        #expect(PromptBuilder.text(for: a, seed: 9, tokenizer: tok) == t1)
        #expect(PromptBuilder.text(for: b, seed: 9, tokenizer: tok) != t1)
        #expect(PromptBuilder.text(for: a, seed: 10, tokenizer: tok) != t1)
        // The same word draws as the approximate text: it starts with the same words.
        let approx = PromptBuilder.text(for: a, seed: 9).split(separator: " ")
        let exact = t1.split(separator: " ")
        #expect(exact.prefix(20) == approx.prefix(20))
    }

    @Test("requests of a prefix group share the prefix text and its tokens", arguments: TokenizerFixtures.names)
    func prefixGroups(name: String) throws {
        let tok = try TokenizerFixtures.load(name)
        for (shared, total) in [(1, 1), (1, 5), (10, 10), (10, 50), (64, 300), (500, 1000)] {
            let group = (0..<4).map { i in
                WorkloadRequest(id: 100 + i, arrivalS: 0, className: "c", promptTokens: total + i * 7, outputTokens: 1,
                                prefixGroup: 3, prefixTokens: shared)
            }
            // The group's prefix text alone: a request of exactly the shared length.
            let prefixOnly = WorkloadRequest(id: 999, arrivalS: 0, className: "c", promptTokens: shared, outputTokens: 1,
                                             prefixGroup: 3, prefixTokens: shared)
            let prefix = PromptBuilder.text(for: prefixOnly, seed: 1, tokenizer: tok)
            let prefixIDs = tok.encode(prefix)
            #expect(prefixIDs.count == shared)
            var suffixes: Set<String> = []
            for r in group {
                let text = PromptBuilder.text(for: r, seed: 1, tokenizer: tok)
                let ids = tok.encode(text)
                #expect(ids.count == r.promptTokens, "\(name) \(shared)/\(r.promptTokens)")
                #expect(text.hasPrefix(prefix), "\(name) \(shared)/\(r.promptTokens)")
                #expect(Array(ids.prefix(shared)) == prefixIDs, "\(name) \(shared)/\(r.promptTokens)")
                suffixes.insert(String(text.dropFirst(prefix.count)))
            }
            if total > shared { #expect(suffixes.count == group.count) }
        }
        // Another group has another prefix.
        let other = WorkloadRequest(id: 100, arrivalS: 0, className: "c", promptTokens: 50, outputTokens: 1,
                                    prefixGroup: 4, prefixTokens: 40)
        let same = WorkloadRequest(id: 100, arrivalS: 0, className: "c", promptTokens: 50, outputTokens: 1,
                                   prefixGroup: 3, prefixTokens: 40)
        #expect(PromptBuilder.text(for: other, seed: 1, tokenizer: tok).prefix(40) != PromptBuilder.text(for: same, seed: 1, tokenizer: tok).prefix(40))
    }

    @Test("a vocabulary where prompt words take several tokens")
    func tinyVocabulary() throws {
        // Only bytes and a few merges: most words cost 2 to 7 tokens and " a" is the only one-token word.
        var vocab: [String] = []
        for b in 0..<256 { vocab.append(String(Character(Unicode.Scalar(BPETokenizer.ByteLevelTable.byteToScalar[b])!))) }
        vocab += ["Ġa", "th", "the", "Ġthe"]
        let vocabJSON = vocab.enumerated().map { "\(BPETokenizer.quoted($0.element)):\($0.offset)" }.joined(separator: ",")
        let model = #"{"type":"BPE","vocab":{\#(vocabJSON)},"merges":["Ġ a","t h","th e","Ġ the"]}"#
        let tok = try BPETokenizer(json: Array(TokenizerFixtures.tinyJSON(model: model).utf8), file: "tiny.json")
        #expect(tok.encode(" a") == [256])
        #expect(tok.encode("the the") == [258, 259])
        for n in [1, 2, 3, 4, 7, 50, 333] {
            for id in 0..<6 {
                let r = WorkloadRequest(id: id, arrivalS: 0, className: "c", promptTokens: n, outputTokens: 1,
                                        prefixGroup: id % 2 == 0 ? 1 : nil, prefixTokens: n / 2)
                let text = PromptBuilder.text(for: r, seed: 5, tokenizer: tok)
                #expect(tok.encode(text).count == n, "n=\(n) id=\(id): \(text.debugDescription)")
            }
        }
    }

    @Test("a vocabulary with tokens across word boundaries (the repair path)")
    func crossWordMerges() throws {
        // SentencePiece-style, one word for the whole text: "e▁" merges across the space, so a
        // word's cost depends on the word before it and the priced costs are sometimes off.
        let letters = (UInt8(ascii: "a")...UInt8(ascii: "z")).map { String(UnicodeScalar($0)) }
        let vocab = ["<unk>", "▁"] + letters + ["e▁", "▁t", "▁th", "▁the"]
        let vocabJSON = vocab.enumerated().map { "\(BPETokenizer.quoted($0.element)):\($0.offset)" }.joined(separator: ",")
        let model = #"{"type":"BPE","unk_token":"<unk>","vocab":{\#(vocabJSON)},"merges":["e ▁","▁ t","▁t h","▁th e"]}"#
        let pre = #"{"type":"Metaspace","replacement":"▁","prepend_scheme":"first","split":false}"#
        let tok = try BPETokenizer(json: Array(TokenizerFixtures.tinyJSON(model: model, preTokenizer: pre).utf8), file: "cross.json")
        #expect(tok.encode("the") == [31])  // ▁the
        #expect(tok.encode("the of") == [30, 28, 16, 7])  // e▁ (rank 0) first: ▁th e▁ o f
        #expect(tok.encode("one of") == [1, 1 + 15, 1 + 14, 28, 1 + 15, 1 + 6])  // ▁ o n e▁ o f
        for n in [1, 2, 3, 4, 5, 8, 13, 40, 200] {
            for id in 0..<8 {
                let r = WorkloadRequest(id: id, arrivalS: 0, className: "c", promptTokens: n, outputTokens: 1)
                let text = PromptBuilder.text(for: r, seed: 2, tokenizer: tok)
                #expect(tok.encode(text).count == n, "n=\(n) id=\(id): \(text.debugDescription)")
            }
        }
    }
}
