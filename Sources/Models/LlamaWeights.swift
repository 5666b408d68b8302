import BenchCore

/// A weight matrix of `rows` output features by `cols` input features, row-major in Float:
/// y = W·x reads row r for output r (ggml's layout, where `shape[0]` is the input dimension).
public struct WeightMatrix: Sendable {
    public let rows: Int
    public let cols: Int
    public var values: [Float]
    /// The file's own blocks for the block types the CPU kernels read (Q4_0, Q4_1, Q8_0): small
    /// batches multiply these, reading a fifth to a quarter of the bytes of `values`.
    public var quantized: QuantizedRows?

    public init(rows: Int, cols: Int, values: [Float], quantized: QuantizedRows? = nil) {
        precondition(values.count == rows * cols)
        self.rows = rows
        self.cols = cols
        self.values = values
        self.quantized = quantized
    }
}

/// A matrix's rows in one of ggml's 32-value block types, as the file stores them.
public struct QuantizedRows: Sendable {
    public let type: GGMLType
    public let bytes: [UInt8]

    /// Block types the CPU kernels read.
    public static let kernelTypes: Set<GGMLType> = [.q4_0, .q4_1, .q8_0]
}

/// One decoder layer's weights.
public struct LlamaLayerWeights: Sendable {
    public var attnNorm: [Float]
    public var wq: WeightMatrix
    public var wk: WeightMatrix
    public var wv: WeightMatrix
    public var wo: WeightMatrix
    public var ffnNorm: [Float]
    public var wGate: WeightMatrix
    public var wUp: WeightMatrix
    public var wDown: WeightMatrix
}

/// A Llama-architecture model's weights, dequantized to Float at load.
///
/// Why Float: the CPU backend's GEMMs go through OpenBLAS's sgemm, which is where batched
/// prefill and large decode batches spend their time; dequantizing once at load costs a
/// second and four bytes a weight (540 MB for SmolLM2-135M). RoPE is applied to adjacent pairs
/// (ggml's "normal" mode, the layout of Llama GGUF files); loaders of other layouts permute the
/// Q and K rows to it.
public struct LlamaWeights: Sendable {
    public var config: LlamaConfig
    /// vocab × hidden.
    public var tokenEmbedding: WeightMatrix
    public var layers: [LlamaLayerWeights]
    public var outputNorm: [Float]
    /// vocab × hidden; nil when tied to `tokenEmbedding`.
    public var output: WeightMatrix?

    public var lmHead: WeightMatrix { output ?? tokenEmbedding }

    public init(config: LlamaConfig, tokenEmbedding: WeightMatrix, layers: [LlamaLayerWeights], outputNorm: [Float],
                output: WeightMatrix?) {
        self.config = config
        self.tokenEmbedding = tokenEmbedding
        self.layers = layers
        self.outputNorm = outputNorm
        self.output = output
    }
}

extension LlamaConfig {
    /// Reads the `llama.*` hyper-parameters of a GGUF file; a missing or inconsistent key is an
    /// error naming it.
    public init(gguf f: GGUFFile) throws(BenchError) {
        let arch = try f.string("general.architecture")
        guard arch == "llama" else {
            throw BenchError.data(f.path, field: "general.architecture", "architecture '\(arch)' is not supported (only 'llama')")
        }
        let hidden = try f.int("llama.embedding_length")
        let heads = try f.int("llama.attention.head_count")
        guard let vocab = try f.optionalInt("llama.vocab_size") ?? f.tensor("token_embd.weight")?.shape.last else {
            throw BenchError.data(f.path, field: "llama.vocab_size", "missing, and there is no token_embd.weight to take it from")
        }
        let headDim = try f.optionalInt("llama.attention.key_length") ?? hidden / max(heads, 1)
        self.init(numLayers: try f.int("llama.block_count"), hiddenSize: hidden, numHeads: heads,
                  numKVHeads: try f.optionalInt("llama.attention.head_count_kv") ?? heads, headDim: headDim,
                  intermediateSize: try f.int("llama.feed_forward_length"), vocabSize: vocab,
                  contextLength: try f.int("llama.context_length"),
                  ropeBase: try f.optionalFloat("llama.rope.freq_base") ?? 10_000,
                  ropeDim: try f.optionalInt("llama.rope.dimension_count"),
                  rmsEpsilon: Float(try f.optionalFloat("llama.attention.layer_norm_rms_epsilon") ?? 1e-5),
                  tiedEmbeddings: f.tensor("output.weight") == nil)
        if f.metadata["llama.rope.scaling.type"] != nil || f.metadata["llama.rope.scaling.factor"] != nil {
            if let t = f.metadata["llama.rope.scaling.type"], case .string(let s) = t, s != "none" {
                throw BenchError.data(f.path, field: "llama.rope.scaling.type", "RoPE scaling '\(s)' is not supported")
            }
        }
        try validate(file: f.path)
    }
}

extension LlamaWeights {
    /// Loads and dequantizes every tensor of a Llama GGUF file.
    public init(gguf f: GGUFFile) throws(BenchError) {
        let c = try LlamaConfig(gguf: f)
        func matrix(_ name: String, rows: Int, cols: Int) throws(BenchError) -> WeightMatrix {
            guard let t = f.tensor(name) else { throw BenchError.data(f.path, field: name, "tensor missing") }
            guard t.shape.count == 2, t.shape[0] == cols, t.shape[1] == rows else {
                throw BenchError.data(f.path, field: name, "shape \(t.shape), expected [\(cols), \(rows)]")
            }
            let raw = f.bytes(of: t)
            let blocks = QuantizedRows.kernelTypes.contains(t.type) ? QuantizedRows(type: t.type, bytes: Array(raw)) : nil
            return WeightMatrix(rows: rows, cols: cols, values: Dequantize.tensor(t, bytes: raw), quantized: blocks)
        }
        func vector(_ name: String, _ n: Int) throws(BenchError) -> [Float] {
            guard let t = f.tensor(name) else { throw BenchError.data(f.path, field: name, "tensor missing") }
            guard t.elementCount == n else {
                throw BenchError.data(f.path, field: name, "has \(t.elementCount) values, expected \(n)")
            }
            return Dequantize.tensor(t, bytes: f.bytes(of: t))
        }
        let h = c.hiddenSize
        var layers: [LlamaLayerWeights] = []
        for i in 0..<c.numLayers {
            let p = "blk.\(i)."
            layers.append(LlamaLayerWeights(
                attnNorm: try vector(p + "attn_norm.weight", h),
                wq: try matrix(p + "attn_q.weight", rows: c.qDim, cols: h),
                wk: try matrix(p + "attn_k.weight", rows: c.kvDim, cols: h),
                wv: try matrix(p + "attn_v.weight", rows: c.kvDim, cols: h),
                wo: try matrix(p + "attn_output.weight", rows: h, cols: c.qDim),
                ffnNorm: try vector(p + "ffn_norm.weight", h),
                wGate: try matrix(p + "ffn_gate.weight", rows: c.intermediateSize, cols: h),
                wUp: try matrix(p + "ffn_up.weight", rows: c.intermediateSize, cols: h),
                wDown: try matrix(p + "ffn_down.weight", rows: h, cols: c.intermediateSize)))
        }
        self.init(config: c, tokenEmbedding: try matrix("token_embd.weight", rows: c.vocabSize, cols: h), layers: layers,
                  outputNorm: try vector("output_norm.weight", h),
                  output: c.tiedEmbeddings ? nil : try matrix("output.weight", rows: c.vocabSize, cols: h))
    }

    /// Seeded random weights at `config`'s shapes, for timing runs where no weights exist. The
    /// scales keep activations in range through many layers (norm weights 1, projections
    /// N(0, 1/fan_in)), so the forward pass does the same arithmetic as with trained weights.
    public static func synthetic(_ c: LlamaConfig, seed: UInt64) -> LlamaWeights {
        var stream: UInt64 = 0
        func matrix(_ rows: Int, _ cols: Int) -> WeightMatrix {
            stream += 1
            var rng = SeededRNG(seed: seed, stream: stream)
            let scale = Float(1 / Double(cols).squareRoot())
            // Uniform with the normal's variance: 3 draws' worth of speed, same second moment.
            let a = scale * Float(3.0.squareRoot())
            let values = [Float](unsafeUninitializedCapacity: rows * cols) { buf, n in
                for i in 0..<(rows * cols) { buf[i] = a * Float(rng.uniform(-1, 1)) }
                n = rows * cols
            }
            return WeightMatrix(rows: rows, cols: cols, values: values)
        }
        let h = c.hiddenSize
        let ones = [Float](repeating: 1, count: h)
        let layers = (0..<c.numLayers).map { _ in
            LlamaLayerWeights(attnNorm: ones, wq: matrix(c.qDim, h), wk: matrix(c.kvDim, h), wv: matrix(c.kvDim, h),
                              wo: matrix(h, c.qDim), ffnNorm: ones, wGate: matrix(c.intermediateSize, h),
                              wUp: matrix(c.intermediateSize, h), wDown: matrix(h, c.intermediateSize))
        }
        return LlamaWeights(config: c, tokenEmbedding: matrix(c.vocabSize, h), layers: layers, outputNorm: ones,
                            output: c.tiedEmbeddings ? nil : matrix(c.vocabSize, h))
    }
}
