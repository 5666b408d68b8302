import BenchCore

/// The hyper-parameters of a Llama-architecture decoder (Llama 2/3, SmolLM2, Mistral without
/// sliding windows): what the forward pass needs to know about the model's shape.
public struct LlamaConfig: Sendable, Equatable {
    public var numLayers: Int
    public var hiddenSize: Int
    public var numHeads: Int
    public var numKVHeads: Int
    public var headDim: Int
    public var intermediateSize: Int
    public var vocabSize: Int
    public var contextLength: Int
    /// RoPE base frequency (θ).
    public var ropeBase: Double
    /// Dimensions of each head that RoPE rotates (the rest pass through).
    public var ropeDim: Int
    public var rmsEpsilon: Float
    /// The LM head reuses the token embedding (SmolLM2, Llama-3.2-1B).
    public var tiedEmbeddings: Bool

    public init(numLayers: Int, hiddenSize: Int, numHeads: Int, numKVHeads: Int, headDim: Int? = nil,
                intermediateSize: Int, vocabSize: Int, contextLength: Int, ropeBase: Double, ropeDim: Int? = nil,
                rmsEpsilon: Float, tiedEmbeddings: Bool) {
        self.numLayers = numLayers
        self.hiddenSize = hiddenSize
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.headDim = headDim ?? hiddenSize / max(numHeads, 1)
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.contextLength = contextLength
        self.ropeBase = ropeBase
        self.ropeDim = ropeDim ?? self.headDim
        self.rmsEpsilon = rmsEpsilon
        self.tiedEmbeddings = tiedEmbeddings
    }

    public var qDim: Int { numHeads * headDim }
    public var kvDim: Int { numKVHeads * headDim }

    /// Checks the relations the forward pass relies on; the message names the offending field.
    public func validate(file: String) throws(BenchError) {
        func bad(_ field: String, _ msg: String) -> BenchError { BenchError.data(file, field: field, msg) }
        let positives: [(String, Int)] = [("block_count", numLayers), ("embedding_length", hiddenSize),
                                          ("attention.head_count", numHeads), ("attention.head_count_kv", numKVHeads),
                                          ("feed_forward_length", intermediateSize), ("vocab_size", vocabSize),
                                          ("context_length", contextLength)]
        for (name, v) in positives where v <= 0 { throw bad(name, "must be positive, got \(v)") }
        // Bounds far above any real model, so that products of the sizes cannot overflow.
        let limits: [(String, Int, Int)] = [("block_count", numLayers, 4096), ("embedding_length", hiddenSize, 1 << 20),
                                            ("attention.head_count", numHeads, 1 << 12), ("attention.head_count_kv", numKVHeads, 1 << 12),
                                            ("attention.key_length", headDim, 1 << 12), ("feed_forward_length", intermediateSize, 1 << 22),
                                            ("vocab_size", vocabSize, 1 << 24), ("context_length", contextLength, 1 << 26)]
        for (name, v, limit) in limits where v > limit { throw bad(name, "\(v) is implausibly large (limit \(limit))") }
        guard numHeads % numKVHeads == 0 else {
            throw bad("attention.head_count_kv", "\(numKVHeads) does not divide the \(numHeads) query heads")
        }
        guard headDim > 0, headDim % 2 == 0 else { throw bad("attention.key_length", "head dimension \(headDim) must be even") }
        guard ropeDim > 0, ropeDim <= headDim, ropeDim % 2 == 0 else {
            throw bad("rope.dimension_count", "\(ropeDim) must be even and at most the head dimension \(headDim)")
        }
        guard ropeBase > 0, ropeBase.isFinite else { throw bad("rope.freq_base", "must be positive, got \(ropeBase)") }
        guard rmsEpsilon > 0, rmsEpsilon.isFinite else { throw bad("attention.layer_norm_rms_epsilon", "must be positive") }
    }
}

extension LlamaConfig {
    /// Real architectures' shapes (from each model's published config.json), for
    /// `--synthetic-weights`.
    public static let known: [String: LlamaConfig] = [
        "smollm2-135m": LlamaConfig(numLayers: 30, hiddenSize: 576, numHeads: 9, numKVHeads: 3, intermediateSize: 1536,
                                    vocabSize: 49_152, contextLength: 8192, ropeBase: 100_000, rmsEpsilon: 1e-5,
                                    tiedEmbeddings: true),
        "smollm2-360m": LlamaConfig(numLayers: 32, hiddenSize: 960, numHeads: 15, numKVHeads: 5, intermediateSize: 2560,
                                    vocabSize: 49_152, contextLength: 8192, ropeBase: 100_000, rmsEpsilon: 1e-5,
                                    tiedEmbeddings: true),
        "llama2-7b": LlamaConfig(numLayers: 32, hiddenSize: 4096, numHeads: 32, numKVHeads: 32, intermediateSize: 11_008,
                                 vocabSize: 32_000, contextLength: 4096, ropeBase: 10_000, rmsEpsilon: 1e-5,
                                 tiedEmbeddings: false),
        "llama3-8b": LlamaConfig(numLayers: 32, hiddenSize: 4096, numHeads: 32, numKVHeads: 8, intermediateSize: 14_336,
                                 vocabSize: 128_256, contextLength: 8192, ropeBase: 500_000, rmsEpsilon: 1e-5,
                                 tiedEmbeddings: false),
        "llama2-70b": LlamaConfig(numLayers: 80, hiddenSize: 8192, numHeads: 64, numKVHeads: 8, intermediateSize: 28_672,
                                  vocabSize: 32_000, contextLength: 4096, ropeBase: 10_000, rmsEpsilon: 1e-5,
                                  tiedEmbeddings: false),
        "llama3-70b": LlamaConfig(numLayers: 80, hiddenSize: 8192, numHeads: 64, numKVHeads: 8, intermediateSize: 28_672,
                                  vocabSize: 128_256, contextLength: 8192, ropeBase: 500_000, rmsEpsilon: 1e-5,
                                  tiedEmbeddings: false),
    ]

    /// Parameters, for the memory a model takes in fp32.
    public var parameterCount: Int {
        let perLayer = 2 * hiddenSize + hiddenSize * (qDim + 2 * kvDim) + qDim * hiddenSize + 3 * hiddenSize * intermediateSize
        return numLayers * perLayer + vocabSize * hiddenSize * (tiedEmbeddings ? 1 : 2) + hiddenSize
    }
}
