import BenchCore
import Tokenizer

/// A Hugging Face model directory: `config.json`, the weights in `model.safetensors` (or shards
/// named by `model.safetensors.index.json`), and where present `tokenizer.json` and
/// `tokenizer_config.json` (special tokens, chat template).
///
/// Hugging Face's Llama applies RoPE to the two halves of each head (`rotate_half`); the forward
/// pass rotates adjacent pairs, as Llama GGUF files expect. The loader permutes the rows of the Q
/// and K projections within each head (row i → 2i, row i + d/2 → 2i + 1), which leaves every
/// attention score unchanged.
public enum HuggingFaceModel {
    public static func isDirectory(_ path: String) -> Bool {
        FileIO.isDirectory(path) && FileIO.exists(path + "/config.json")
    }

    public static func load(directory dir: String, chatTemplateOverride: (text: String, origin: String)? = nil) throws(BenchError) -> LoadedModel {
        let configPath = dir + "/config.json"
        let config = try readJSON(configPath)
        let c = try LlamaConfig(huggingFace: config, file: configPath)
        let weights = try loadWeights(dir, config: c)
        var tokenizer: ModelTokenizer?
        var template: ChatTemplate?
        if FileIO.exists(dir + "/tokenizer.json") {
            let bpe = try BPETokenizer(path: dir + "/tokenizer.json")
            let tc = FileIO.exists(dir + "/tokenizer_config.json") ? try readJSON(dir + "/tokenizer_config.json") : JSONValue.object([])
            tokenizer = ModelTokenizer(huggingFace: bpe, config: config, tokenizerConfig: tc)
            if let o = chatTemplateOverride {
                template = try ChatTemplate(jinja: o.text, origin: o.origin)
            } else if case .string(let t)? = tc["chat_template"] {
                template = try ChatTemplate(jinja: t, origin: dir + "/tokenizer_config.json")
            }
        }
        return LoadedModel(name: dir, weights: weights, tokenizer: tokenizer, chatTemplate: template)
    }

    static func readJSON(_ path: String) throws(BenchError) -> JSONValue {
        let bytes = try FileIO.readFile(path)
        do {
            return try bytes.withUnsafeBufferPointer { (b) throws(JSONParseError) in try JSONParser.parse(b) }
        } catch {
            throw BenchError.data(path, "not JSON: \(error)")
        }
    }

    /// Every tensor's file: one `model.safetensors`, or the shards an index names.
    static func tensorFiles(_ dir: String) throws(BenchError) -> [String: SafeTensorsFile] {
        let single = dir + "/model.safetensors"
        if FileIO.exists(single) {
            let f = try SafeTensorsFile(path: single)
            return f.tensors.keys.reduce(into: [:]) { $0[$1] = f }
        }
        let indexPath = dir + "/model.safetensors.index.json"
        guard FileIO.exists(indexPath) else {
            throw BenchError.io(dir, "no model.safetensors or model.safetensors.index.json")
        }
        guard case .object(let map)? = try readJSON(indexPath)["weight_map"] else {
            throw BenchError.data(indexPath, field: "weight_map", "expected an object of tensor → file")
        }
        var opened: [String: SafeTensorsFile] = [:]
        var out: [String: SafeTensorsFile] = [:]
        for (name, v) in map {
            guard case .string(let file) = v, !file.contains("/") else { throw BenchError.data(indexPath, field: name, "expected a file name") }
            if opened[file] == nil { opened[file] = try SafeTensorsFile(path: dir + "/" + file) }
            out[name] = opened[file]
        }
        return out
    }

    static func loadWeights(_ dir: String, config c: LlamaConfig) throws(BenchError) -> LlamaWeights {
        let files = try tensorFiles(dir)
        func tensor(_ name: String, _ shape: [Int]) throws(BenchError) -> [Float] {
            guard let f = files[name], let t = f.tensors[name] else { throw BenchError.data(dir, field: name, "tensor missing") }
            guard t.shape == shape else { throw BenchError.data(f.path, field: name, "shape \(t.shape), expected \(shape)") }
            return try f.floats(t)
        }
        func matrix(_ name: String, _ rows: Int, _ cols: Int) throws(BenchError) -> WeightMatrix {
            WeightMatrix(rows: rows, cols: cols, values: try tensor(name, [rows, cols]))
        }
        /// Q and K: rotate-half layout → adjacent pairs, head by head.
        func ropeMatrix(_ name: String, _ heads: Int) throws(BenchError) -> WeightMatrix {
            let d = c.headDim, h = c.hiddenSize
            let w = try tensor(name, [heads * d, h])
            var out = w
            for head in 0..<heads {
                for i in 0..<(d / 2) {
                    for (from, to) in [(i, 2 * i), (i + d / 2, 2 * i + 1)] {
                        let src = (head * d + from) * h, dst = (head * d + to) * h
                        out.replaceSubrange(dst..<(dst + h), with: w[src..<(src + h)])
                    }
                }
            }
            return WeightMatrix(rows: heads * d, cols: h, values: out)
        }
        let h = c.hiddenSize
        var layers: [LlamaLayerWeights] = []
        for i in 0..<c.numLayers {
            let p = "model.layers.\(i)."
            layers.append(LlamaLayerWeights(
                attnNorm: try tensor(p + "input_layernorm.weight", [h]),
                wq: try ropeMatrix(p + "self_attn.q_proj.weight", c.numHeads),
                wk: try ropeMatrix(p + "self_attn.k_proj.weight", c.numKVHeads),
                wv: try matrix(p + "self_attn.v_proj.weight", c.kvDim, h),
                wo: try matrix(p + "self_attn.o_proj.weight", h, c.qDim),
                ffnNorm: try tensor(p + "post_attention_layernorm.weight", [h]),
                wGate: try matrix(p + "mlp.gate_proj.weight", c.intermediateSize, h),
                wUp: try matrix(p + "mlp.up_proj.weight", c.intermediateSize, h),
                wDown: try matrix(p + "mlp.down_proj.weight", h, c.intermediateSize)))
        }
        return LlamaWeights(config: c, tokenEmbedding: try matrix("model.embed_tokens.weight", c.vocabSize, h), layers: layers,
                            outputNorm: try tensor("model.norm.weight", [h]),
                            output: c.tiedEmbeddings ? nil : try matrix("lm_head.weight", c.vocabSize, h))
    }
}

extension LlamaConfig {
    /// A Hugging Face `config.json` of a Llama-architecture model.
    public init(huggingFace j: JSONValue, file: String) throws(BenchError) {
        func int(_ key: String) throws(BenchError) -> Int {
            guard case .number(let d)? = j[key], d == d.rounded(), d >= 0, d < 1e12 else {
                throw BenchError.data(file, field: key, j[key] == nil ? "missing" : "expected an integer")
            }
            return Int(d)
        }
        func optionalNumber(_ v: JSONValue?) -> Double? { if case .number(let d)? = v { return d } else { return nil } }
        if case .string(let type)? = j["model_type"], !["llama", "mistral"].contains(type) {
            throw BenchError.data(file, field: "model_type", "'\(type)' is not supported (llama)")
        }
        let rope = j["rope_parameters"]
        if let scaling = j["rope_scaling"], !scaling.isNull {
            throw BenchError.data(file, field: "rope_scaling", "RoPE scaling is not supported")
        }
        if case .string(let t)? = rope?["rope_type"], t != "default" {
            throw BenchError.data(file, field: "rope_parameters.rope_type", "RoPE type '\(t)' is not supported (default)")
        }
        if let window = j["sliding_window"], !window.isNull {
            throw BenchError.data(file, field: "sliding_window", "sliding-window attention is not supported")
        }
        let heads = try int("num_attention_heads"), hidden = try int("hidden_size")
        let kv = j["num_key_value_heads"].flatMap(optionalNumber).map { Int($0) } ?? heads
        let headDim = j["head_dim"].flatMap(optionalNumber).map { Int($0) } ?? hidden / max(1, heads)
        var tied = false
        if case .bool(let b)? = j["tie_word_embeddings"] { tied = b }
        self.init(numLayers: try int("num_hidden_layers"), hiddenSize: hidden, numHeads: heads, numKVHeads: kv, headDim: headDim,
                  intermediateSize: try int("intermediate_size"), vocabSize: try int("vocab_size"),
                  contextLength: try int("max_position_embeddings"),
                  ropeBase: optionalNumber(j["rope_theta"]) ?? optionalNumber(rope?["rope_theta"]) ?? 10_000,
                  rmsEpsilon: Float(optionalNumber(j["rms_norm_eps"]) ?? 1e-6), tiedEmbeddings: tied)
        try validate(file: file)
    }
}

extension ModelTokenizer {
    /// A `tokenizer.json` tokenizer with the special tokens of `config.json` (ids) and
    /// `tokenizer_config.json` (token strings, `add_bos_token`).
    init(huggingFace bpe: BPETokenizer, config: JSONValue, tokenizerConfig tc: JSONValue) {
        func id(_ v: JSONValue?) -> Int32? {
            switch v {
            case .number(let d)?: return Int32(exactly: d)
            case .array(let a)?: return a.first.flatMap { id($0) }
            case .string(let s)?:
                let ids = bpe.encode(s)
                return ids.count == 1 ? Int32(ids[0]) : nil
            case .object?: return id(v?["content"])
            default: return nil
            }
        }
        let bos = id(config["bos_token_id"]) ?? id(tc["bos_token"])
        let eos = id(config["eos_token_id"]) ?? id(tc["eos_token"])
        var stops = Set<Int32>()
        if case .array(let list)? = config["eos_token_id"] { for v in list { if let i = id(v) { stops.insert(i) } } }
        if let eos { stops.insert(eos) }
        if let end = id(.string("<|im_end|>")), bpe.decode([Int(end)]) == "<|im_end|>" { stops.insert(end) }
        var addBOS = false
        if case .bool(let b)? = tc["add_bos_token"] { addBOS = b }
        self.init(engine: .bpe(bpe), bosID: bos, eosID: eos, stopIDs: stops, addBOS: addBOS)
    }
}
