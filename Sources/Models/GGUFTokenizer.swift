import BenchCore
import Tokenizer

/// The tokenizer a GGUF file carries (`tokenizer.ggml.*`): byte-level BPE (`gpt2`) as the
/// project's BPE tokenizer, or SentencePiece (`llama`) as `SentencePieceTokenizer`.
///
/// GGUF stores a byte-level BPE vocabulary the way `tokenizer.json` does (token strings in
/// GPT-2's byte-to-character mapping, merges as "left right"), plus the name of the pre-tokenizer
/// (`tokenizer.ggml.pre`) where `tokenizer.json` has the pre-tokenizer itself. The names map to
/// the Hugging Face pre-tokenizers that llama.cpp's own table reproduces; an unknown name is an
/// error naming it, never a silently different tokenization. A SentencePiece vocabulary is its
/// pieces, their scores and types.
public struct ModelTokenizer: Sendable {
    public enum Engine: Sendable {
        case bpe(BPETokenizer)
        case sentencePiece(SentencePieceTokenizer)
    }

    public let engine: Engine
    public let bosID: Int32?
    public let eosID: Int32?
    /// Control tokens that end a turn as well as EOS (ChatML's `<|im_end|>`), so chat replies stop.
    public let stopIDs: Set<Int32>
    public let addBOS: Bool

    init(engine: Engine, bosID: Int32?, eosID: Int32?, stopIDs: Set<Int32>, addBOS: Bool) {
        self.engine = engine
        self.bosID = bosID
        self.eosID = eosID
        self.stopIDs = stopIDs
        self.addBOS = addBOS
    }

    /// The text's ids, with BOS first when the model asks for it (`tokenizer.ggml.add_bos_token`).
    public func encode(_ text: String) -> [Int32] {
        var ids = encodeWithoutBOS(text)
        if addBOS, let b = bosID { ids.insert(b, at: 0) }
        return ids
    }

    public func encodeWithoutBOS(_ text: String) -> [Int32] {
        switch engine {
        case .bpe(let t): return t.encode(text).map { Int32($0) }
        case .sentencePiece(let t): return t.encode(text)
        }
    }

    public func decode(_ ids: [Int32]) -> String {
        switch engine {
        case .bpe(let t): return t.decode(ids.map { Int($0) })
        case .sentencePiece(let t): return t.decode(ids)
        }
    }

    /// Pre-tokenizer names (llama.cpp's `tokenizer.ggml.pre`) → the steps of a `tokenizer.json`.
    static let preTokenizers: [String: String] = [
        "default": #"{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}"#,
        "gpt2": #"{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}"#,
        "smollm": digitsThenByteLevel, "starcoder": digitsThenByteLevel, "refact": digitsThenByteLevel,
        "codeshell": digitsThenByteLevel,
        "llama-bpe": splitThenByteLevel(#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#),
        "llama3": splitThenByteLevel(#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#),
        "qwen2": splitThenByteLevel(#"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#),
    ]
    static let digitsThenByteLevel = #"{"type":"Sequence","pretokenizers":[{"type":"Digits","individual_digits":true},{"type":"ByteLevel","add_prefix_space":false,"use_regex":true}]}"#
    static func splitThenByteLevel(_ regex: String) -> String {
        var w = JSONWriter()
        w.string(regex)
        return #"{"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"Regex":"# + w.string
            + #"},"behavior":"Isolated","invert":false},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]}"#
    }

    public init(gguf f: GGUFFile) throws(BenchError) {
        let model = try f.string("tokenizer.ggml.model")
        let tokens = try f.stringArray("tokenizer.ggml.tokens")
        let types = try f.intArray("tokenizer.ggml.token_type") ?? []
        switch model {
        case "gpt2": engine = .bpe(try Self.byteLevelBPE(f, tokens: tokens, types: types))
        case "llama": engine = .sentencePiece(try Self.sentencePiece(f, tokens: tokens, types: types))
        default:
            throw BenchError.data(f.path, field: "tokenizer.ggml.model",
                                  "tokenizer model '\(model)' is not supported (supported: gpt2, byte-level BPE; llama, SentencePiece)")
        }
        func tokenID(_ key: String) throws(BenchError) -> Int32? {
            guard let v = try f.optionalInt(key) else { return nil }
            guard let id = Int32(exactly: v), v >= 0, v < tokens.count else {
                throw BenchError.data(f.path, field: key, "\(v) is not a token id of the \(tokens.count)-token vocabulary")
            }
            return id
        }
        bosID = try tokenID("tokenizer.ggml.bos_token_id")
        let eos = try tokenID("tokenizer.ggml.eos_token_id")
        eosID = eos
        addBOS = f.optionalBool("tokenizer.ggml.add_bos_token") ?? (model == "llama")
        var stops = Set<Int32>()
        if let eos { stops.insert(eos) }
        if let eot = try tokenID("tokenizer.ggml.eot_token_id") { stops.insert(eot) }
        if let i = tokens.firstIndex(of: "<|im_end|>") { stops.insert(Int32(i)) }
        stopIDs = stops
    }

    /// `tokenizer.ggml.model = "llama"`: pieces, scores, types; a space prefix unless
    /// `tokenizer.ggml.add_space_prefix` is false (llama.cpp's default for this model).
    static func sentencePiece(_ f: GGUFFile, tokens: [String], types: [Int]) throws(BenchError) -> SentencePieceTokenizer {
        guard let scores = try f.floatArray("tokenizer.ggml.scores") else {
            throw BenchError.data(f.path, field: "tokenizer.ggml.scores", "missing: a SentencePiece vocabulary needs its piece scores")
        }
        let unk = try f.optionalInt("tokenizer.ggml.unknown_token_id").flatMap { v -> Int32? in
            Int32(exactly: v).flatMap { $0 >= 0 && Int($0) < tokens.count ? $0 : nil }
        }
        return try SentencePieceTokenizer(pieces: tokens, scores: scores, types: types, unkID: unk,
                                          addSpacePrefix: f.optionalBool("tokenizer.ggml.add_space_prefix") ?? true,
                                          file: f.path)
    }

    /// `tokenizer.ggml.model = "gpt2"`: the vocabulary and merges as a `tokenizer.json`, with the
    /// pre-tokenizer `tokenizer.ggml.pre` names.
    static func byteLevelBPE(_ f: GGUFFile, tokens: [String], types: [Int]) throws(BenchError) -> BPETokenizer {
        let pre = (try? f.string("tokenizer.ggml.pre")) ?? "default"
        guard let preJSON = Self.preTokenizers[pre] else {
            let known = Self.preTokenizers.keys.sorted().joined(separator: ", ")
            throw BenchError.data(f.path, field: "tokenizer.ggml.pre", "pre-tokenizer '\(pre)' is not supported (supported: \(known))")
        }
        let merges = try f.stringArray("tokenizer.ggml.merges")
        var w = JSONWriter(reservingCapacity: 4 << 20)
        w.beginObject()
        w.key("model"); w.beginObject()
        w.key("type"); w.string("BPE")
        w.key("vocab"); w.beginObject()
        for (id, t) in tokens.enumerated() { w.key(t); w.int(id) }
        w.endObject()
        w.key("merges"); w.beginArray()
        for m in merges { w.string(m) }
        w.endArray()
        w.endObject()
        w.key("pre_tokenizer"); w.raw(Array(preJSON.utf8))
        w.key("decoder"); w.raw(Array(#"{"type":"ByteLevel"}"#.utf8))
        // Control (3) and user-defined (4) tokens are matched whole in the text, as special tokens.
        w.key("added_tokens"); w.beginArray()
        for (id, type) in types.enumerated() where (type == 3 || type == 4) && id < tokens.count {
            w.beginObject()
            w.key("id"); w.int(id)
            w.key("content"); w.string(tokens[id])
            w.key("special"); w.bool(type == 3)
            w.key("normalized"); w.bool(false)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        return try BPETokenizer(json: w.bytes, file: "\(f.path) (tokenizer.ggml.*)")
    }
}

/// Turns a stream of generated token ids into text deltas. Byte-level BPE tokens can split a
/// UTF-8 character, so a delta is held back while the decoded text ends in an incomplete
/// character (U+FFFD); stop tokens (EOS, end of turn) produce no text.
public struct IncrementalDecoder: Sendable {
    let tokenizer: ModelTokenizer
    private var ids: [Int32] = []
    private var emittedBytes = 0

    public init(tokenizer: ModelTokenizer) { self.tokenizer = tokenizer }

    /// The text `id` adds (possibly empty).
    public mutating func push(_ id: Int32) -> String {
        guard !tokenizer.stopIDs.contains(id) else { return "" }
        ids.append(id)
        let text = tokenizer.decode(ids)
        if text.hasSuffix("\u{FFFD}") { return "" }
        return take(text)
    }

    /// Whatever was held back (at the end of the output).
    public mutating func flush() -> String { take(tokenizer.decode(ids)) }

    private mutating func take(_ text: String) -> String {
        let utf8 = Array(text.utf8)
        guard utf8.count > emittedBytes else { return "" }
        let delta = String(decoding: utf8[emittedBytes...], as: UTF8.self)
        emittedBytes = utf8.count
        return delta
    }
}
