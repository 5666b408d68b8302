import BenchCore
import Foundation
import Testing
@testable import Tokenizer

/// Fixtures/: small BPE tokenizers trained with the Python `tokenizers` library and the ids it
/// produces for each case (Fixtures/make_fixtures.py regenerates them).
enum BPEFixtures {
    static let dir: String = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures").path

    static let names = [
        "tokenizer.json", "tokenizer-llama3.json", "tokenizer-qwen2.json",
        "tokenizer-metaspace.json", "tokenizer-metaspace-first.json", "tokenizer-digits.json",
    ]
    /// Byte-level and adding no prefix spaces (tokenizer-digits.json's `add_prefix_space` adds a
    /// space to every piece, as the reference does), so decoding gives the text back.
    static let roundTripNames = ["tokenizer.json", "tokenizer-llama3.json", "tokenizer-qwen2.json"]

    static func path(_ name: String) -> String { dir + "/" + name }

    static func load(_ name: String) throws -> BPETokenizer { try BPETokenizer(path: path(name)) }

    struct Case {
        var text: String
        var ids: [Int]
        var decoded: String
    }

    struct Expected {
        var vocabSize: Int
        var cases: [Case]
    }

    static let expected: [String: Expected] = {
        guard let bytes = try? FileIO.readFile(path("expected.json")),
              let root = try? JSONParser.parse(String(decoding: bytes, as: UTF8.self)),
              case .object(let files)? = root["files"] else { return [:] }
        var out: [String: Expected] = [:]
        for (name, v) in files {
            guard case .number(let size)? = v["vocab_size"], case .array(let items)? = v["cases"] else { continue }
            var cases: [Case] = []
            for item in items {
                guard case .string(let text)? = item["text"], case .array(let ids)? = item["ids"],
                      case .string(let decoded)? = item["decoded"] else { continue }
                cases.append(Case(text: text, ids: ids.compactMap { if case .number(let d) = $0 { Int(d) } else { nil } },
                                  decoded: decoded))
            }
            out[name] = Expected(vocabSize: Int(size), cases: cases)
        }
        return out
    }()

    static func expectDataError(_ json: String, field: String?, file: String = "bad.json",
                                sourceLocation: Testing.SourceLocation = #_sourceLocation) {
        do {
            _ = try BPETokenizer(json: Array(json.utf8), file: file)
            Issue.record("expected an error for \(json.prefix(80))", sourceLocation: sourceLocation)
        } catch {
            guard case .data(let loc, let message) = error else {
                Issue.record("expected a data error, got \(error)", sourceLocation: sourceLocation)
                return
            }
            #expect(loc.file == file, sourceLocation: sourceLocation)
            #expect(loc.field == field, "\(message)", sourceLocation: sourceLocation)
            #expect(error.description.hasPrefix(file), sourceLocation: sourceLocation)
        }
    }

    /// A 3-token byte-level tokenizer.json with `model` replaced.
    static func tinyJSON(model: String, preTokenizer: String = #"{"type":"ByteLevel","add_prefix_space":false}"#,
                         normalizer: String = "null") -> String {
        #"{"version":"1.0","added_tokens":[],"normalizer":\#(normalizer),"pre_tokenizer":\#(preTokenizer),"decoder":{"type":"ByteLevel"},"model":\#(model)}"#
    }
}

@Suite("BPE tokenizer")
struct BPETokenizerTests {
    @Test("expected.json covers every fixture")
    func fixturesPresent() {
        for name in BPEFixtures.names {
            #expect((BPEFixtures.expected[name]?.cases.count ?? 0) >= 150, "\(name)")
        }
    }

    @Test("ids match Python tokenizers for every case", arguments: BPEFixtures.names)
    func matchesReference(name: String) throws {
        let tok = try BPEFixtures.load(name)
        let exp = try #require(BPEFixtures.expected[name])
        #expect(tok.vocabSize == exp.vocabSize)
        var mismatches = 0
        for c in exp.cases {
            let ids = tok.encode(c.text)
            if ids != c.ids {
                mismatches += 1
                if mismatches <= 10 { Issue.record("\(name): \(c.text.debugDescription): got \(ids), want \(c.ids)") }
            }
        }
        #expect(mismatches == 0)
    }

    @Test("decode matches Python tokenizers for every case", arguments: BPEFixtures.names)
    func decodeMatchesReference(name: String) throws {
        let tok = try BPEFixtures.load(name)
        for c in try #require(BPEFixtures.expected[name]).cases {
            #expect(tok.decode(c.ids) == c.decoded, "\(name): \(c.text.debugDescription)")
        }
    }

    @Test("decode(encode(x)) == x for byte-level tokenizers", arguments: BPEFixtures.roundTripNames)
    func roundTrip(name: String) throws {
        let tok = try BPEFixtures.load(name)
        // Every case whose text the reference gives back (added tokens that strip spaces do not).
        for c in try #require(BPEFixtures.expected[name]).cases where c.decoded == c.text {
            #expect(tok.decode(tok.encode(c.text)) == c.text, "\(c.text.debugDescription)")
        }
        var rng = SeededRNG(seed: 7)
        let pool: [String] = ["a", "Z", "é", "ß", "東", "😀", "👍🏽", " ", "  ", "\n", "\r\n", "\t", "'s", "'LL", "1", "234",
                              ".", "!?", "\u{00A0}", "\u{3000}", "\u{0301}", "\u{200D}", "ﬁ", "٣", "Ⅻ", "the", " of"]
        for _ in 0..<300 {
            let n = 1 + rng.index(below: 30)
            let text = (0..<n).map { _ in pool[rng.index(below: pool.count)] }.joined()
            #expect(tok.decode(tok.encode(text)) == text, "\(text.debugDescription)")
        }
    }

    @Test("Llama-2-style tokenizers: decode(encode(x)) == x for text without a leading space",
          arguments: ["tokenizer-metaspace.json", "tokenizer-metaspace-first.json"])
    func metaspaceRoundTrip(name: String) throws {
        let tok = try BPEFixtures.load(name)
        for text in ["Hello world", "a  b   c\n", "café 東京 😀 — done", "x\u{00A0}y", "don't stop"] {
            #expect(tok.decode(tok.encode(text)) == text, "\(text.debugDescription)")
        }
    }

    @Test("merges in the legacy \"a b\" string form give the same ids")
    func legacyMergeStrings() throws {
        let bytes = try FileIO.readFile(BPEFixtures.path("tokenizer.json"))
        let root = try JSONParser.parse(String(decoding: bytes, as: UTF8.self))
        guard case .object(var top) = root, let mi = top.firstIndex(where: { $0.0 == "model" }),
              case .object(var model) = top[mi].1, let gi = model.firstIndex(where: { $0.0 == "merges" }),
              case .array(let merges) = model[gi].1 else {
            Issue.record("unexpected fixture shape")
            return
        }
        model[gi].1 = .array(merges.map { m in
            guard case .array(let pair) = m, case .string(let a) = pair[0], case .string(let b) = pair[1] else { return m }
            return .string(a + " " + b)
        })
        top[mi].1 = .object(model)
        let legacy = try BPETokenizer(json: Array(JSONValue.object(top).jsonString.utf8), file: "legacy.json")
        let current = try BPEFixtures.load("tokenizer.json")
        for c in try #require(BPEFixtures.expected["tokenizer.json"]).cases {
            #expect(legacy.encode(c.text) == current.encode(c.text))
        }
    }

    @Test("a hand-written tokenizer: merges by rank, ignore_merges, unknown bytes dropped")
    func handWritten() throws {
        // Vocabulary: a b c ab bc abc; merges: "b c" (rank 0) before "a b" (rank 1).
        let model = #"{"type":"BPE","vocab":{"a":0,"b":1,"c":2,"ab":3,"bc":4,"abc":5},"merges":["b c","a b","a bc"]}"#
        let tok = try BPETokenizer(json: Array(BPEFixtures.tinyJSON(model: model).utf8), file: "tiny.json")
        #expect(tok.encode("abc") == [5])  // b c → bc, a bc → abc
        #expect(tok.encode("ab") == [3])
        #expect(tok.encode("cab") == [2, 3])
        #expect(tok.encode("xa") == [0])  // no token for 'x', no unk: dropped, as the reference does
        #expect(tok.vocabSize == 6)
        #expect(tok.decode([3, 2]) == "abc")

        // ignore_merges: a word in the vocabulary is one token even where the merges would not make it.
        let noPath = #"{"type":"BPE","vocab":{"a":0,"b":1,"c":2,"abc":3},"merges":[],"ignore_merges":IGN}"#
        let with = try BPETokenizer(json: Array(BPEFixtures.tinyJSON(model: noPath.replacingOccurrences(of: "IGN", with: "true")).utf8), file: "t.json")
        let without = try BPETokenizer(json: Array(BPEFixtures.tinyJSON(model: noPath.replacingOccurrences(of: "IGN", with: "false")).utf8), file: "t.json")
        #expect(with.encode("abc") == [3])
        #expect(without.encode("abc") == [0, 1, 2])
    }

    @Test("bad files are data errors naming the file and field")
    func badFiles() {
        BPEFixtures.expectDataError("this is not json", field: nil)
        BPEFixtures.expectDataError("[1, 2]", field: nil)
        BPEFixtures.expectDataError(#"{"version":"1.0"}"#, field: "model")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"WordPiece","vocab":{"a":0}}"#), field: "model.type")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"Unigram","vocab":[["a",0.0]]}"#), field: "model.type")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"BPE","merges":[]}"#), field: "model.vocab")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"BPE","vocab":[],"merges":[]}"#), field: "model.vocab")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"BPE","vocab":{"a":0}}"#), field: "model.merges")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"BPE","vocab":{"a":-1},"merges":[]}"#), field: #"model.vocab["a"]"#)
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"BPE","vocab":{"a":0,"b":1},"merges":["a b"]}"#), field: "model.merges[0]")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"BPE","vocab":{"a":0},"merges":["a"]}"#), field: "model.merges[0]")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"BPE","vocab":{"a":0},"merges":[],"unk_token":"<unk>"}"#), field: "model.unk_token")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: #"{"type":"BPE","vocab":{"a":0},"merges":[],"continuing_subword_prefix":"@@"}"#),
                                    field: "model.continuing_subword_prefix")
        let ok = #"{"type":"BPE","vocab":{"a":0},"merges":[]}"#
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: ok, preTokenizer: #"{"type":"Whitespace"}"#), field: "pre_tokenizer.type")
        BPEFixtures.expectDataError(
            BPEFixtures.tinyJSON(model: ok, preTokenizer: #"{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"\\d+"},"behavior":"Isolated","invert":false}]}"#),
            field: "pre_tokenizer.pretokenizers[0].pattern.Regex")
        BPEFixtures.expectDataError(BPEFixtures.tinyJSON(model: ok, normalizer: #"{"type":"Lowercase"}"#), field: "normalizer.type")
        BPEFixtures.expectDataError(#"{"added_tokens":[{"id":"x","content":"a"}],"model":\#(ok)}"#, field: "added_tokens[0].id")
    }

    @Test("a missing file is an I/O error naming it")
    func missingFile() {
        #expect(throws: BenchError.io("/nonexistent/tokenizer.json", "no such file")) {
            try BPETokenizer(path: "/nonexistent/tokenizer.json")
        }
    }

    @Test("added tokens are split out before the model")
    func addedTokens() throws {
        let tok = try BPEFixtures.load("tokenizer.json")
        #expect(tok.encode("<|endoftext|>") == [0])
        let ids = tok.encode("hello<|endoftext|>world")
        #expect(ids.contains(0))
        #expect(tok.decode(ids) == "hello<|endoftext|>world")
    }

    @Test("concurrent encodes agree with serial ones")
    func concurrent() async throws {
        let tok = try BPEFixtures.load("tokenizer-llama3.json")
        let texts = try #require(BPEFixtures.expected["tokenizer-llama3.json"]).cases.map(\.text)
        let serial = texts.map { tok.encode($0) }
        let results = await withTaskGroup(of: [[Int]].self) { group in
            for _ in 0..<4 { group.addTask { texts.map { tok.encode($0) } } }
            var all: [[[Int]]] = []
            for await r in group { all.append(r) }
            return all
        }
        for r in results { #expect(r == serial) }
    }

    @Test("encode speed: a 10k-token text")
    func speed() throws {
        let tok = try BPEFixtures.load("tokenizer.json")
        // Varied text: the fixture cases, over and over.
        let cases = try #require(BPEFixtures.expected["tokenizer.json"]).cases
        var text = ""
        var round = 0
        while tok.encode(text).count <= 10_000 {
            for c in cases { text += " \(round) " + c.text }
            round += 1
        }
        let fresh = try BPEFixtures.load("tokenizer.json")
        let clock = ContinuousClock()
        var ids: [Int] = []
        let cold = clock.measure { ids = fresh.encode(text) }
        let warm = clock.measure { ids = fresh.encode(text) }
        print("BPETokenizer.encode: \(ids.count) tokens, cold \(cold), warm \(warm)")
        #expect(ids.count > 10_000)
        #expect(warm < .seconds(2))  // generous: debug builds; release is ~ms
    }
}
