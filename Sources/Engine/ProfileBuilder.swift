import BenchCore

/// Builds `HardwareProfile`s from Vidur's measured operator timings (microsoft/vidur,
/// `data/profiling/`, MIT licence, Copyright (c) Microsoft Corporation):
///
///     <vidur>/compute/<gpu>/meta-llama/<model>/mlp.csv     per-layer operator times
///     <vidur>/network/<gpu>_dgx/all_reduce.csv             all-reduce times (TP > 1 only)
///
/// Every constant below is stated with its source here and in `Profiles/README.md`.
public enum ProfileBuilder {
    /// The choices a build makes that are not in the data; defaults are the shipped profiles'.
    public struct Options: Sendable, Equatable {
        /// Tokens per KV block: 32, the block size AccelGen's paper uses.
        public var blockSizeTokens = 32
        /// Fraction of GPU memory the engine may use: 0.9, vLLM's default
        /// `gpu_memory_utilization`.
        public var gpuMemoryUtilization = 0.9
        /// Tokens of the dummy batch whose activations are reserved (vLLM reserves the peak
        /// memory of a profiling forward pass over `max_num_batched_tokens` tokens): 8192, our
        /// choice.
        public var activationTokens = 8192
        /// Sequences whose fp32 logits are reserved: 256, vLLM's default `max_num_seqs`.
        public var activationSequences = 256
        /// Memory outside PyTorch's activations (CUDA context, cuBLAS workspaces, NCCL buffers,
        /// CUDA graphs), GiB: 1.0, our choice.
        public var nonTorchReserveGiB = 1.0
        /// CPU time per iteration (scheduling, input preparation, sampling, output processing,
        /// launches), ms: 2.0, our choice, the order of vLLM's per-step CPU overhead that Vidur
        /// models from its cpu_overhead profiles (not in the shared data). The LM head's weight
        /// read is added to it to form `overheadMs`.
        public var fixedOverheadMs = 2.0
        /// S_pf rule: the smallest measured token count whose throughput n / T(n) reaches this
        /// fraction of the best throughput in the table (T = monotone non-attention table):
        /// 0.9, our choice.
        public var pivotThroughputFraction = 0.9

        public init() {}
    }

    /// A GPU of the shipped profiles. Numbers are the vendor datasheets' (NVIDIA H100 Tensor
    /// Core GPU datasheet, SXM5 80 GB column; NVIDIA A100 Tensor Core GPU datasheet, 80 GB SXM
    /// column); the attention efficiencies come from FlashAttention's papers.
    public struct GPUSpec: Sendable, Equatable {
        /// Folder name under `compute/` ("h100", "a100").
        public var key: String
        public var displayName: String
        public var memoryGiB: Double
        public var bandwidthGBps: Double
        public var peakTFLOPs: Double
        public var attentionEfficiency: Double
        /// The long-context profiles' prefill attention: the long-sequence fraction of
        /// `peakTFLOPs` and the keys per query at half that rate (`HardwareProfile.attentionHalfTokens`),
        /// fitted to the published rates of the FlashAttention version vLLM runs on the GPU.
        public var longAttentionEfficiency: Double
        public var longAttentionHalfTokens: Double
        /// Folder name under `network/`.
        public var networkFolder: String
    }

    public static let gpus: [GPUSpec] = [
        // 80 GB HBM3, 3.35 TB/s, 989 TFLOPs dense BF16 (1,979 with sparsity). Attention: 0.35,
        // "FlashAttention-2 achieving only 35% utilization on the H100 GPU" (Shah et al.,
        // FlashAttention-3, 2024, abstract).
        // Long context: FlashAttention-3 (vLLM's kernel on Hopper), forward, head dim 128, H100 SXM5
        // (Shah et al., 2024, Fig. 5): 467, 565, 625, 638, 646, 648 TFLOP/s at 512 … 16K tokens;
        // the least-squares fit of 1/rate on 1/length is 671 TFLOP/s (0.68 of peak) with half of
        // it at 215 keys, within 3% of every point (`ProfileTests`).
        GPUSpec(key: "h100", displayName: "NVIDIA H100 SXM 80GB", memoryGiB: 80, bandwidthGBps: 3350,
                peakTFLOPs: 989, attentionEfficiency: 0.35, longAttentionEfficiency: 0.68, longAttentionHalfTokens: 215,
                networkFolder: "h100_dgx"),
        // 80 GB HBM2e, 2,039 GB/s, 312 TFLOPs dense BF16. Attention: 0.5, the low end of
        // FlashAttention-2's "50-73% of the theoretical maximum FLOPs/s on A100" (Dao, 2023,
        // abstract): serving prefill chunks are short and causal, FA-2's least efficient shapes.
        // Long context: FlashAttention-2 (vLLM's kernel on Ampere) at the top of its "50-73%" (0.73),
        // reached at long sequences; its rise with length from the same kernel's published H100
        // curve (FlashAttention-3 paper, Fig. 5: 309 … 370 TFLOP/s, half of the fitted 377 at 106
        // keys), since the FlashAttention-2 paper's A100 figures per length were not available to us.
        GPUSpec(key: "a100", displayName: "NVIDIA A100 SXM 80GB", memoryGiB: 80, bandwidthGBps: 2039,
                peakTFLOPs: 312, attentionEfficiency: 0.5, longAttentionEfficiency: 0.73, longAttentionHalfTokens: 106,
                networkFolder: "a100_dgx"),
    ]

    /// A model of the shipped profiles: shapes from each model's Hugging Face `config.json`
    /// (the CSVs carry heads and widths but not the layer count or context length; they are
    /// checked against these). Vidur profiled Llama-2 with a vocabulary padded to 32,768; the
    /// shape keeps the real 32,000.
    public struct ModelSpec: Sendable, Equatable {
        /// Folder name under `compute/<gpu>/meta-llama/`.
        public var folder: String
        /// Short name used in profile names ("llama2-7b").
        public var shortName: String
        public var shape: ModelShape
        /// Per GPU key, the Vidur folder of another model whose tables stand in where Vidur has
        /// none of this one's; they are scaled by the ratio of linear-layer parameters (1 for the
        /// same layer shapes: Llama-3.1-70B's layers are Llama-2-70B's).
        public var standIns: [String: String] = [:]
        /// A long-context profile: attention at the GPU's length-dependent rate.
        public var longContext = false
    }

    public static let models: [ModelSpec] = [
        ModelSpec(folder: "Llama-2-7b-hf", shortName: "llama2-7b", shape: ModelShape(
            name: "meta-llama/Llama-2-7b-hf", numLayers: 32, hiddenSize: 4096, numHeads: 32, numKVHeads: 32,
            intermediateSize: 11008, vocabSize: 32000, maxContextTokens: 4096)),
        ModelSpec(folder: "Llama-2-70b-hf", shortName: "llama2-70b", shape: ModelShape(
            name: "meta-llama/Llama-2-70b-hf", numLayers: 80, hiddenSize: 8192, numHeads: 64, numKVHeads: 8,
            intermediateSize: 28672, vocabSize: 32000, maxContextTokens: 4096)),
        ModelSpec(folder: "Meta-Llama-3-8B", shortName: "llama3-8b", shape: ModelShape(
            name: "meta-llama/Meta-Llama-3-8B", numLayers: 32, hiddenSize: 4096, numHeads: 32, numKVHeads: 8,
            intermediateSize: 14336, vocabSize: 128256, maxContextTokens: 8192)),
        ModelSpec(folder: "Meta-Llama-3-70B", shortName: "llama3-70b", shape: ModelShape(
            name: "meta-llama/Meta-Llama-3-70B", numLayers: 80, hiddenSize: 8192, numHeads: 64, numKVHeads: 8,
            intermediateSize: 28672, vocabSize: 128256, maxContextTokens: 8192)),
        // Llama-3.1: Llama-3's layers with a 128K context (rope scaling only), so Llama-3's
        // measured tables apply; on H100, where Vidur has no Llama-3 table, Llama-2's stand in.
        ModelSpec(folder: "Meta-Llama-3-8B", shortName: "llama3.1-8b", shape: ModelShape(
            name: "meta-llama/Llama-3.1-8B", numLayers: 32, hiddenSize: 4096, numHeads: 32, numKVHeads: 8,
            intermediateSize: 14336, vocabSize: 128256, maxContextTokens: 131_072), standIns: ["h100": "Llama-2-7b-hf"], longContext: true),
        ModelSpec(folder: "Meta-Llama-3-70B", shortName: "llama3.1-70b", shape: ModelShape(
            name: "meta-llama/Llama-3.1-70B", numLayers: 80, hiddenSize: 8192, numHeads: 64, numKVHeads: 8,
            intermediateSize: 28672, vocabSize: 128256, maxContextTokens: 131_072), standIns: ["h100": "Llama-2-70b-hf"], longContext: true),
    ]

    /// What the Vidur data supports: H100 and A100 × Llama-2-7B (TP 1), Llama-2-70B (TP 4, 8);
    /// A100 × Llama-3-8B (TP 1), Llama-3-70B (TP 4, 8); and the long-context Llama-3.1 profiles on
    /// both GPUs (8B at TP 1, 70B at TP 4 and 8). A model is named by its Vidur folder, or by its
    /// short name for the Llama-3.1 ones.
    public static let combinations: [(gpu: String, model: String, tensorParallel: Int)] = [
        ("h100", "Llama-2-7b-hf", 1), ("h100", "Llama-2-70b-hf", 4), ("h100", "Llama-2-70b-hf", 8),
        ("a100", "Llama-2-7b-hf", 1), ("a100", "Llama-2-70b-hf", 4), ("a100", "Llama-2-70b-hf", 8),
        ("a100", "Meta-Llama-3-8B", 1), ("a100", "Meta-Llama-3-70B", 4), ("a100", "Meta-Llama-3-70B", 8),
        ("h100", "llama3.1-8b", 1), ("h100", "llama3.1-70b", 4), ("h100", "llama3.1-70b", 8),
        ("a100", "llama3.1-8b", 1), ("a100", "llama3.1-70b", 4), ("a100", "llama3.1-70b", 8),
    ]

    /// The per-layer operators of `mlp.csv` whose medians make up a layer's non-attention time,
    /// in the order they are summed.
    public static let layerOperators = [
        "input_layernorm", "attn_pre_proj", "attn_rope", "attn_post_proj", "post_attention_layernorm",
        "mlp_up_proj", "mlp_act", "mlp_down_proj", "add",
    ]

    /// "<gpu>-<model-short>[-tp<N>]".
    public static func profileName(gpu: String, modelShortName: String, tensorParallel: Int) -> String {
        tensorParallel > 1 ? "\(gpu)-\(modelShortName)-tp\(tensorParallel)" : "\(gpu)-\(modelShortName)"
    }

    /// Builds every profile the vidur data supports (`combinations`), in that order.
    public static func buildAll(vidurDirectory: String, options: Options = Options()) throws(BenchError) -> [HardwareProfile] {
        var out: [HardwareProfile] = []
        for c in combinations {
            out.append(try build(vidurDirectory: vidurDirectory, gpu: c.gpu, model: c.model, tensorParallel: c.tensorParallel, options: options))
        }
        return out
    }

    /// Builds one profile. `gpu` is "h100" or "a100", `model` a folder name such as
    /// "Llama-2-7b-hf".
    public static func build(vidurDirectory: String, gpu: String, model: String, tensorParallel: Int,
                             options: Options = Options()) throws(BenchError) -> HardwareProfile {
        guard let g = gpus.first(where: { $0.key == gpu }) else {
            throw BenchError.usage("unknown GPU '\(gpu)'; valid GPUs: \(gpus.map(\.key).joined(separator: ", "))")
        }
        guard let m = models.first(where: { $0.folder == model && !$0.longContext }) ?? models.first(where: { $0.shortName == model }) else {
            throw BenchError.usage("unknown model '\(model)'; valid models: \(models.map { $0.longContext ? $0.shortName : $0.folder }.joined(separator: ", "))")
        }
        guard tensorParallel >= 1 else { throw BenchError.usage("tensor parallelism must be ≥ 1, got \(tensorParallel)") }
        try checkOptions(options)
        let dir = vidurDirectory.hasSuffix("/") ? String(vidurDirectory.dropLast()) : vidurDirectory

        let tableFolder = m.standIns[g.key] ?? m.folder
        let tableShape = models.first(where: { $0.folder == tableFolder })!.shape
        let mlpRel = "compute/\(g.key)/meta-llama/\(tableFolder)/mlp.csv"
        let mlpPath = dir + "/" + mlpRel
        let mlpBytes = try FileIO.readFile(mlpPath)
        var linear = try linearTable(csv: String(decoding: mlpBytes, as: UTF8.self), file: mlpPath,
                                     model: tableShape, tensorParallel: tensorParallel)
        let scale = linearParameters(m.shape) / linearParameters(tableShape)
        if scale != 1 { linear.ms = linear.ms.map { $0 * scale } }
        var source = "Vidur profiling data (microsoft/vidur data/profiling"
        if let commit = vidurCommit(directory: dir) { source += ", commit \(commit)" }
        source += "; MIT licence, Copyright (c) Microsoft Corporation; Agrawal et al., MLSys 2024): "
        source += "\(mlpRel) (sha256 \(sha256(mlpBytes))), rows with num_tensor_parallel_workers=\(tensorParallel)"

        var reduce: (bytes: [Double], ms: [Double]) = ([], [])
        if tensorParallel > 1 {
            let arRel = "network/\(g.networkFolder)/all_reduce.csv"
            let arPath = dir + "/" + arRel
            let arBytes = try FileIO.readFile(arPath)
            reduce = try allReduceTable(csv: String(decoding: arBytes, as: UTF8.self), file: arPath, tensorParallel: tensorParallel)
            source += "; \(arRel) (sha256 \(sha256(arBytes))), rows with num_workers=\(tensorParallel) and devices_per_node=\(tensorParallel), size in fp16 elements × 2 = bytes"
        }
        if tableShape != m.shape {
            source += "; measured for \(tableShape.name)" + (scale != 1 ? String(format: ", scaled by %.4f, the ratio of linear-layer parameters", scale) : ", whose layers have the same shapes")
        }
        if m.longContext {
            source += String(format: "; prefill attention at %.2f of peak at long sequences, half of that at %.0f keys (FlashAttention-%@'s published rates)",
                             g.longAttentionEfficiency, g.longAttentionHalfTokens, g.key == "h100" ? "3" : "2")
        }
        source += ". Model shape from the model's Hugging Face config.json; GPU figures from NVIDIA's datasheets; other constants in Profiles/README.md."

        let kvBlocks = try kvCapacityBlocks(model: m.shape, tensorParallel: tensorParallel, gpuMemoryGiB: g.memoryGiB, options: options)
        let overhead = options.fixedOverheadMs + lmHeadMs(model: m.shape, tensorParallel: tensorParallel, bandwidthGBps: g.bandwidthGBps)
        var profile = HardwareProfile(
            name: profileName(gpu: g.key, modelShortName: m.shortName, tensorParallel: tensorParallel),
            gpu: g.displayName, model: m.shape, tensorParallel: tensorParallel,
            gpuMemoryGiB: g.memoryGiB, memoryBandwidthGBps: g.bandwidthGBps, peakTFLOPs: g.peakTFLOPs,
            attentionEfficiency: g.attentionEfficiency, blockSizeTokens: options.blockSizeTokens,
            kvCapacityBlocks: kvBlocks, overheadMs: overhead,
            linearTokens: linear.tokens, linearMs: linear.ms, allReduceBytes: reduce.bytes, allReduceMs: reduce.ms,
            pivotTokens: 1, pivotMs: 1, source: source)
        if m.longContext {
            profile.attentionEfficiency = g.longAttentionEfficiency
            profile.attentionHalfTokens = g.longAttentionHalfTokens
        }
        try setPivot(&profile, fraction: options.pivotThroughputFraction)
        try profile.validate(file: mlpPath)
        return profile
    }

    /// Parameters of one layer's linear projections (Q, K, V, O, gate, up, down): what the
    /// non-attention time of a layer scales with, in both its weight-read-bound and compute-bound regimes.
    public static func linearParameters(_ m: ModelShape) -> Double {
        let h = Double(m.hiddenSize), q = Double(m.numHeads * m.headDim), kv = Double(m.numKVHeads * m.headDim)
        return Double(m.numLayers) * (h * (q + 2 * kv) + q * h + 3 * h * Double(m.intermediateSize))
    }

    // MARK: steps (public so that tests and tools can check each one)

    /// The whole-iteration non-attention table for one TP degree of an `mlp.csv`: for every
    /// `num_tokens`, (Σ of the `layerOperators` medians, in that order) × layers + the `emb`
    /// median, ms. Token counts measured twice (Vidur's sweep repeats 2048, 4096, …) get the mean
    /// of their values. The rows' model shape must match `model`.
    public static func linearTable(csv: String, file: String, model: ModelShape, tensorParallel: Int)
        throws(BenchError) -> (tokens: [Int], ms: [Double]) {
        let table = try CSVTable(text: csv, file: file)
        let medians = try layerOperators.map { (op: String) throws(BenchError) -> Int in try table.column("time_stats.\(op).median") }
        let emb = try table.column("time_stats.emb.median")
        let tokensCol = try table.column("num_tokens")
        let tpCol = try table.column("num_tensor_parallel_workers")
        let shapeChecks: [(String, Int)] = [
            ("n_head", model.numHeads), ("n_kv_head", model.numKVHeads),
            ("n_embd", model.hiddenSize), ("n_expanded_embd", model.intermediateSize),
        ]
        let shapeCols = try shapeChecks.map { (c: (String, Int)) throws(BenchError) -> Int in try table.column(c.0) }
        var sums: [Int: (Double, Int)] = [:]
        for r in table.rows.indices {
            guard try table.int(r, tpCol) == tensorParallel else { continue }
            for (k, c) in shapeChecks.enumerated() {
                let v = try table.int(r, shapeCols[k])
                guard v == c.1 else {
                    throw table.error(r, shapeCols[k], "is \(v) but \(model.name) has \(c.1)")
                }
            }
            let n = try table.int(r, tokensCol)
            guard n > 0 else { throw table.error(r, tokensCol, "must be positive, got \(n)") }
            var perLayer = 0.0
            for c in medians { perLayer += try table.nonNegative(r, c) }
            let value = perLayer * Double(model.numLayers) + (try table.nonNegative(r, emb))
            let old = sums[n] ?? (0, 0)
            sums[n] = (old.0 + value, old.1 + 1)
        }
        guard !sums.isEmpty else {
            throw BenchError.data(file, "no rows with num_tensor_parallel_workers=\(tensorParallel)")
        }
        let tokens = sums.keys.sorted()
        return (tokens, tokens.map { n in
            let (s, c) = sums[n]!
            return c == 1 ? s : s / Double(c)
        })
    }

    /// The all-reduce table for `tensorParallel` GPUs in one node: rows of `all_reduce.csv` with
    /// num_workers == devices_per_node == `tensorParallel` (and collective all_reduce). `size`
    /// counts fp16 elements (Vidur's collective profiler allocates `torch.empty(size,
    /// dtype=float16)`), so bytes = size × 2; time is the median, ms; repeated sizes get the
    /// mean.
    public static func allReduceTable(csv: String, file: String, tensorParallel: Int)
        throws(BenchError) -> (bytes: [Double], ms: [Double]) {
        let table = try CSVTable(text: csv, file: file)
        let median = try table.column("time_stats.all_reduce.median")
        let workers = try table.column("num_workers")
        let perNode = try table.column("devices_per_node")
        let size = try table.column("size")
        let collective = table.columns["collective"]
        var sums: [Int: (Double, Int)] = [:]
        for r in table.rows.indices {
            guard try table.int(r, workers) == tensorParallel, try table.int(r, perNode) == tensorParallel else { continue }
            if let collective, table.rows[r][collective] != "all_reduce" { continue }
            let s = try table.int(r, size)
            guard s > 0 else { throw table.error(r, size, "must be positive, got \(s)") }
            let t = try table.nonNegative(r, median)
            let old = sums[s] ?? (0, 0)
            sums[s] = (old.0 + t, old.1 + 1)
        }
        guard !sums.isEmpty else {
            throw BenchError.data(file, "no all_reduce rows with num_workers=\(tensorParallel) and devices_per_node=\(tensorParallel)")
        }
        let sizes = sums.keys.sorted()
        return (sizes.map { Double($0) * 2 }, sizes.map { n in
            let (s, c) = sums[n]!
            return c == 1 ? s : s / Double(c)
        })
    }

    /// S_pf: the smallest measured token count n whose throughput n / T(n) reaches `fraction`
    /// of the best throughput of the table, with T the table's isotonic (monotone) fit — the
    /// same curve the time model interpolates. "Saturated" thus means: within (1 − fraction) of
    /// the GPU's best tokens per second on this table. (A marginal-slope rule was rejected: the
    /// medians are noisy enough that secant slopes between neighbouring points exceed the
    /// large-batch slope already at 8 tokens on some tables.)
    public static func pivotTokens(tokens: [Int], linearMs: [Double], fraction: Double) -> Int {
        let smooth = TableMath.isotonic(linearMs)
        var best = 0.0
        for (n, t) in zip(tokens, smooth) where t > 0 { best = max(best, Double(n) / t) }
        for (n, t) in zip(tokens, smooth) where t > 0 && Double(n) / t >= fraction * best { return n }
        return tokens.last ?? 1
    }

    /// Sets `pivotTokens` (S_pf, `pivotTokens(tokens:linearMs:fraction:)`) and `pivotMs` (T_pf:
    /// the model's time for S_pf tokens with no attention = linear + all-reduce + overhead, ms).
    public static func setPivot(_ profile: inout HardwareProfile, fraction: Double) throws(BenchError) {
        guard fraction > 0, fraction <= 1 else { throw BenchError.usage("pivot throughput fraction must be in (0, 1], got \(fraction)") }
        let s = pivotTokens(tokens: profile.linearTokens, linearMs: profile.linearMs, fraction: fraction)
        profile.pivotTokens = s
        var load = IterationLoad()
        load.tokens = s
        load.numSequences = 1
        profile.pivotMs = IterationTimeModel(profile: profile).seconds(load) * 1000
    }

    /// KV blocks per GPU:
    ///
    ///     usable  = gpuMemoryUtilization × gpuMemoryGiB × 2^30
    ///             − parameterCount × 2 bytes / TP                       (bf16 weights, sharded)
    ///             − activationTokens × (2·hidden + 3·intermediate / TP) × 2 bytes
    ///                                     (residual + normed input, gate/up output, activation)
    ///             − activationSequences × vocab × 4 bytes                (fp32 logits)
    ///             − nonTorchReserveGiB × 2^30
    ///     blocks  = ⌊ usable / (blockSizeTokens × kvBytesPerTokenPerGPU) ⌋
    ///
    /// with kvBytesPerTokenPerGPU = 2 (K, V) × layers × ⌈kvHeads / TP⌉ × headDim × 2 bytes.
    public static func kvCapacityBlocks(model: ModelShape, tensorParallel: Int, gpuMemoryGiB: Double,
                                        options: Options = Options()) throws(BenchError) -> Int {
        let gib = 1024.0 * 1024 * 1024
        let tp = Double(tensorParallel)
        let weights = model.parameterCount * 2 / tp
        let activations = Double(options.activationTokens) * (2 * Double(model.hiddenSize) + 3 * Double(model.intermediateSize) / tp) * 2
            + Double(options.activationSequences) * Double(model.vocabSize) * 4
        let usable = options.gpuMemoryUtilization * gpuMemoryGiB * gib - weights - activations - options.nonTorchReserveGiB * gib
        let kvHeads = max(1, (model.numKVHeads + tensorParallel - 1) / tensorParallel)
        let perToken = 2 * Double(model.numLayers) * Double(kvHeads) * Double(model.hiddenSize / model.numHeads) * 2
        let blocks = usable / (Double(options.blockSizeTokens) * perToken)
        guard blocks >= 1 else {
            let w = (weights / gib * 10).rounded() / 10
            throw BenchError.usage("\(model.name) on \(tensorParallel) GPU(s) of \(gpuMemoryGiB) GiB leaves no room for a KV block (weights \(w) GiB per GPU)")
        }
        return Int(blocks.rounded(.down))
    }

    /// The LM head's time per iteration, ms: one read of its vocab × hidden bf16 weights (split
    /// over TP) at the HBM bandwidth. vLLM computes logits only for each sequence's last token, a
    /// few hundred rows at most, which keeps the GEMM weight-read bound; `mlp.csv` has no LM head.
    public static func lmHeadMs(model: ModelShape, tensorParallel: Int, bandwidthGBps: Double) -> Double {
        Double(model.vocabSize) * Double(model.hiddenSize) * 2 / Double(tensorParallel) / (bandwidthGBps * 1e9) * 1000
    }

    static func checkOptions(_ o: Options) throws(BenchError) {
        guard o.blockSizeTokens > 0 else { throw BenchError.usage("block size must be positive, got \(o.blockSizeTokens)") }
        guard o.gpuMemoryUtilization > 0, o.gpuMemoryUtilization <= 1 else {
            throw BenchError.usage("GPU memory utilisation must be in (0, 1], got \(o.gpuMemoryUtilization)")
        }
        guard o.activationTokens >= 0, o.activationSequences >= 0, o.nonTorchReserveGiB >= 0 else {
            throw BenchError.usage("activation reserve settings must be ≥ 0")
        }
        guard o.fixedOverheadMs >= 0, o.fixedOverheadMs.isFinite else {
            throw BenchError.usage("fixed overhead must be ≥ 0 ms, got \(o.fixedOverheadMs)")
        }
        guard o.pivotThroughputFraction > 0, o.pivotThroughputFraction <= 1 else {
            throw BenchError.usage("pivot throughput fraction must be in (0, 1], got \(o.pivotThroughputFraction)")
        }
    }

    /// The 40-hex-digit commit named in the directory's README.md, if it names one (the shared
    /// copy's README does).
    static func vidurCommit(directory: String) -> String? {
        let path = directory + "/README.md"
        guard FileIO.exists(path), let bytes = try? FileIO.readFile(path) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let isHex: (Character) -> Bool = { $0.isHexDigit && ($0.isNumber || $0.isLowercase) }
        var run = ""
        for ch in text + " " {
            if isHex(ch) {
                run.append(ch)
            } else {
                if run.count == 40 { return run }
                run = ""
            }
        }
        return nil
    }

    static func sha256(_ bytes: [UInt8]) -> String {
        var h = SHA256()
        h.update(buffer: bytes)
        return h.hexDigest()
    }
}

/// A comma-separated file with a header row (Vidur's CSVs: no quoting, no embedded commas).
struct CSVTable {
    let file: String
    let header: [String]
    let columns: [String: Int]
    /// Fields of each data row, and the row's 1-based line number in the file.
    let rows: [[Substring]]
    let lines: [Int]

    init(text: String, file: String) throws(BenchError) {
        self.file = file
        var header: [String]? = nil
        var rows: [[Substring]] = []
        var lines: [Int] = []
        var lineNo = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNo += 1
            let line = raw.hasSuffix("\r") ? raw.dropLast() : raw
            if line.isEmpty { continue }
            if line.contains("\"") { throw BenchError.data(file, line: lineNo, "quoted CSV fields are not supported") }
            let fields = line.split(separator: ",", omittingEmptySubsequences: false)
            if let header {
                guard fields.count == header.count else {
                    throw BenchError.data(file, line: lineNo, "has \(fields.count) fields, the header has \(header.count)")
                }
                rows.append(fields.map { Substring($0) })
                lines.append(lineNo)
            } else {
                header = fields.map(String.init)
            }
        }
        guard let header else { throw BenchError.data(file, "empty file, expected a CSV header") }
        self.header = header
        var columns: [String: Int] = [:]
        for (i, name) in header.enumerated() where columns[name] == nil { columns[name] = i }
        self.columns = columns
        self.rows = rows
        self.lines = lines
    }

    func column(_ name: String) throws(BenchError) -> Int {
        guard let i = columns[name] else { throw BenchError.data(file, field: name, "missing column") }
        return i
    }

    func error(_ row: Int, _ col: Int, _ message: String) -> BenchError {
        BenchError.data(file, line: lines[row], field: header[col], message)
    }

    func double(_ row: Int, _ col: Int) throws(BenchError) -> Double {
        let s = rows[row][col]
        guard let v = Double(s), v.isFinite else { throw error(row, col, "expected a number, got '\(s)'") }
        return v
    }

    func nonNegative(_ row: Int, _ col: Int) throws(BenchError) -> Double {
        let v = try double(row, col)
        guard v >= 0 else { throw error(row, col, "must be ≥ 0, got \(v)") }
        return v
    }

    /// An integer field (written "32" or "32.0").
    func int(_ row: Int, _ col: Int) throws(BenchError) -> Int {
        let s = rows[row][col]
        if let i = Int(s) { return i }
        guard let v = Double(s), v == v.rounded(), abs(v) < 9e15 else { throw error(row, col, "expected an integer, got '\(s)'") }
        return Int(v)
    }
}
