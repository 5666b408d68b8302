import BenchCore
import Foundation

// Hardware profiles: what the simulated GPU is (model shape, memory, bandwidth, compute) and the
// measured time tables its iteration-time model interpolates. The shipped profiles are package
// resources (`Profiles/*.json`), built by `ProfileBuilder` from Vidur's measured operator timings;
// `Profiles/README.md` states the data's source, its MIT licence notice and every constant.

/// The shape of a Llama-architecture decoder (gated SiLU MLP, RMSNorm, rotary embeddings, no
/// biases, untied input embedding and LM head, grouped-query attention when
/// `numKVHeads < numHeads`).
public struct ModelShape: Sendable, Equatable {
    /// Hugging Face id, e.g. "meta-llama/Llama-2-7b-hf".
    public var name: String
    public var numLayers: Int
    /// n_embd.
    public var hiddenSize: Int
    /// Query heads.
    public var numHeads: Int
    /// Key/value heads (GQA: fewer than `numHeads`).
    public var numKVHeads: Int
    /// n_expanded_embd: the MLP's inner width (gate and up projections each have this width).
    public var intermediateSize: Int
    public var vocabSize: Int
    /// Longest sequence (prompt + output) the model supports: Llama-2 4096, Llama-3 8192.
    public var maxContextTokens: Int
    /// Total parameters, `ModelShape.llamaParameterCount` of the other fields.
    public var parameterCount: Double

    public var headDim: Int { hiddenSize / numHeads }

    public init(name: String, numLayers: Int, hiddenSize: Int, numHeads: Int, numKVHeads: Int,
                intermediateSize: Int, vocabSize: Int, maxContextTokens: Int, parameterCount: Double? = nil) {
        self.name = name
        self.numLayers = numLayers
        self.hiddenSize = hiddenSize
        self.numHeads = numHeads
        self.numKVHeads = numKVHeads
        self.intermediateSize = intermediateSize
        self.vocabSize = vocabSize
        self.maxContextTokens = maxContextTokens
        self.parameterCount = parameterCount ?? ModelShape.llamaParameterCount(
            numLayers: numLayers, hiddenSize: hiddenSize, numHeads: numHeads, numKVHeads: numKVHeads,
            intermediateSize: intermediateSize, vocabSize: vocabSize)
    }

    /// Parameters of a Llama-architecture model, from its shape (h = hidden, d = h / heads,
    /// kv = KV heads, I = intermediate, V = vocabulary, L = layers):
    ///
    ///     P = 2·V·h                         input embedding + untied LM head
    ///       + L·( 2·h·h + 2·h·(kv·d)        q and o; k and v projections
    ///           + 3·h·I                     gate, up, down projections
    ///           + 2·h )                     two RMSNorm weight vectors
    ///       + h                             final RMSNorm
    ///
    /// Gives 6,738,415,616 for Llama-2-7B, 68,976,648,192 for Llama-2-70B, 8,030,261,248 for
    /// Llama-3-8B and 70,553,706,496 for Llama-3-70B, the published parameter counts.
    public static func llamaParameterCount(numLayers: Int, hiddenSize: Int, numHeads: Int, numKVHeads: Int,
                                           intermediateSize: Int, vocabSize: Int) -> Double {
        let h = Double(hiddenSize)
        let kvWidth = Double(numKVHeads) * Double(hiddenSize / max(numHeads, 1))
        let perLayer = 2 * h * h + 2 * h * kvWidth + 3 * h * Double(intermediateSize) + 2 * h
        return 2 * Double(vocabSize) * h + Double(numLayers) * perLayer + h
    }

    /// The keys of a profile's "model" object, spelled only here: the reader, the writer and the
    /// validator's field names all use these.
    enum Key: String, ProfileKey {
        case name
        case numLayers = "num_layers"
        case hiddenSize = "hidden_size"
        case numHeads = "num_heads"
        case numKVHeads = "num_kv_heads"
        case intermediateSize = "intermediate_size"
        case vocabSize = "vocab_size"
        case maxContextTokens = "max_context_tokens"
        case parameterCount = "parameter_count"

        /// Errors name a model key under its parent: "model.num_layers".
        var field: String { HardwareProfile.Key.model.rawValue + "." + rawValue }
    }
}

/// One simulated serving instance: a model on `tensorParallel` identical GPUs, with the measured
/// tables its `IterationTimeModel` reads. Every per-GPU quantity is for one GPU of the group.
public struct HardwareProfile: Sendable, Equatable {
    /// "<gpu>-<model-short>[-tp<N>]", e.g. "h100-llama2-7b", "a100-llama3-70b-tp8".
    public var name: String
    /// e.g. "NVIDIA H100 SXM 80GB".
    public var gpu: String
    public var model: ModelShape
    public var tensorParallel: Int
    /// HBM per GPU, GiB (vendor datasheet: 80 GB for both shipped GPUs).
    public var gpuMemoryGiB: Double
    /// HBM bandwidth per GPU, GB/s (10^9 bytes/s), vendor datasheet.
    public var memoryBandwidthGBps: Double
    /// Dense BF16 tensor-core peak per GPU, TFLOP/s (10^12), vendor datasheet.
    public var peakTFLOPs: Double
    /// Fraction of `peakTFLOPs` that prefill attention reaches (FlashAttention-2 figures; see
    /// `ProfileBuilder.GPUSpec`).
    public var attentionEfficiency: Double
    /// Keys per query at which prefill attention reaches half of its long-sequence rate, tokens:
    /// the rate for a chunk whose queries see L keys is `attentionEfficiency × L / (L + this)`
    /// of `peakTFLOPs` (FlashAttention's rate rises with sequence length and saturates; the long
    /// context profiles fit FlashAttention-3's published figures, `ProfileBuilder.GPUSpec`). 0, the
    /// default, is a rate independent of length (the profiles built before long context).
    public var attentionHalfTokens: Double = 0
    /// Tokens per KV-cache block (AccelGen's paper uses 32).
    public var blockSizeTokens: Int
    /// KV blocks per GPU after weights and the activation reserve (`ProfileBuilder.kvCapacityBlocks`).
    /// With tensor parallelism every GPU holds its share of every block, so this is also the
    /// instance's block count.
    public var kvCapacityBlocks: Int
    /// Fixed per-iteration time, ms: CPU work (scheduling, input preparation, sampling, output
    /// processing, launches) plus the LM head's weight read, which the measured table lacks.
    public var overheadMs: Double
    /// Token counts of the measured non-attention table, strictly ascending.
    public var linearTokens: [Int]
    /// Non-attention GPU time of one whole iteration with that many tokens, ms:
    /// Σ per-layer operator medians × layers + embedding median (no LM head: see `overheadMs`).
    public var linearMs: [Double]
    /// Sequence counts of the per-sequence table, strictly ascending; empty (the default) when
    /// `linearMs` already includes each sequence's cost, as the GPU profiles' tables do.
    public var sequenceCounts: [Int] = []
    /// Time an iteration spends per sequence it carries, beyond the linear table, ms: the LM head
    /// row and the sampling of each sequence (`profile calibrate --engine cpu` measures it,
    /// because on a CPU the LM head is a large part of a decode and a prefill chunk computes it
    /// once, not once per token).
    public var sequenceMs: [Double] = []
    /// All-reduce message sizes, bytes, strictly ascending (empty when `tensorParallel` is 1).
    public var allReduceBytes: [Double]
    /// Median time of one all-reduce of that size across `tensorParallel` GPUs, ms.
    public var allReduceMs: [Double]
    /// S_pf, AccelGen's pivot forward size: the smallest measured token count at which the GPU
    /// saturates (`ProfileBuilder.pivotTokens`).
    public var pivotTokens: Int
    /// T_pf: predicted iteration time at S_pf with no attention (linear + all-reduce + overhead), ms.
    public var pivotMs: Double
    /// Provenance: which files, which commit, licence.
    public var source: String

    public init(name: String, gpu: String, model: ModelShape, tensorParallel: Int, gpuMemoryGiB: Double,
                memoryBandwidthGBps: Double, peakTFLOPs: Double, attentionEfficiency: Double,
                blockSizeTokens: Int, kvCapacityBlocks: Int, overheadMs: Double,
                linearTokens: [Int], linearMs: [Double], allReduceBytes: [Double], allReduceMs: [Double],
                pivotTokens: Int, pivotMs: Double, source: String) {
        self.name = name
        self.gpu = gpu
        self.model = model
        self.tensorParallel = tensorParallel
        self.gpuMemoryGiB = gpuMemoryGiB
        self.memoryBandwidthGBps = memoryBandwidthGBps
        self.peakTFLOPs = peakTFLOPs
        self.attentionEfficiency = attentionEfficiency
        self.blockSizeTokens = blockSizeTokens
        self.kvCapacityBlocks = kvCapacityBlocks
        self.overheadMs = overheadMs
        self.linearTokens = linearTokens
        self.linearMs = linearMs
        self.allReduceBytes = allReduceBytes
        self.allReduceMs = allReduceMs
        self.pivotTokens = pivotTokens
        self.pivotMs = pivotMs
        self.source = source
    }

    /// The keys of a profile file, spelled only here (with `schemaKey`), in the order the writer
    /// emits them: the reader, the writer and the validator's field names all use these.
    enum Key: String, ProfileKey {
        case name, gpu, model
        case tensorParallel = "tensor_parallel"
        case gpuMemoryGiB = "gpu_memory_gib"
        case memoryBandwidthGBps = "memory_bandwidth_gbps"
        case peakTFLOPs = "peak_tflops"
        case attentionEfficiency = "attention_efficiency"
        case attentionHalfTokens = "attention_half_tokens"
        case blockSizeTokens = "block_size_tokens"
        case kvCapacityBlocks = "kv_capacity_blocks"
        case overheadMs = "overhead_ms"
        case pivotTokens = "pivot_tokens"
        case pivotMs = "pivot_ms"
        case source
        case linearTokens = "linear_tokens"
        case linearMs = "linear_ms"
        case allReduceBytes = "all_reduce_bytes"
        case allReduceMs = "all_reduce_ms"
        case sequenceCounts = "sequence_counts"
        case sequenceMs = "sequence_ms"

        var field: String { rawValue }
    }

    /// Written as the first key of every profile file; optional when reading.
    public static let schema = "accelbench.profile/1"
    /// The key `schema` is written under (not a stored property, so kept out of `Key`).
    static let schemaKey = "schema"

    /// A long-context profile (128K), so the default workload's 4K-100K+ prompts fit (issue 19);
    /// the 4K-context Llama-2 profiles run `workloads/mixed-slo-short.yaml`.
    public static let defaultName = "h100-llama3.1-8b"

    // MARK: derived quantities

    /// The longest request (prompt + output) one instance can hold: the model's context or the
    /// whole KV cache, whichever is smaller.
    public var maxTokensPerRequest: Int {
        min(model.maxContextTokens, kvCapacityBlocks * blockSizeTokens)
    }

    /// KV heads stored on each GPU: the heads are split across the tensor-parallel group, and
    /// replicated when there are fewer KV heads than GPUs (vLLM's rule).
    public var kvHeadsPerGPU: Int {
        max(1, (model.numKVHeads + tensorParallel - 1) / max(tensorParallel, 1))
    }

    /// KV-cache bytes one token occupies on one GPU: K and V × layers × KV heads per GPU ×
    /// head dim × 2 bytes (16-bit cache).
    public var kvBytesPerTokenPerGPU: Double {
        2 * Double(model.numLayers) * Double(kvHeadsPerGPU) * Double(model.headDim) * 2
    }

    // MARK: builtins

    /// Names of the profiles shipped as package resources, sorted.
    public static var builtinNames: [String] { BuiltinProfiles.names }

    /// The file of a shipped profile (in the package's resource bundle), or nil for an unknown name.
    public static func builtinPath(_ name: String) -> String? {
        BuiltinProfiles.names.contains(name) ? BuiltinProfiles.path(of: name) : nil
    }

    /// A shipped profile by name; an unknown name is a usage error listing the valid names.
    public static func builtin(_ name: String) throws(BenchError) -> HardwareProfile {
        guard BuiltinProfiles.names.contains(name), let path = BuiltinProfiles.path(of: name) else {
            throw BenchError.usage("unknown profile '\(name)'; valid profiles: \(builtinNames.joined(separator: ", "))")
        }
        return try load(path: path)
    }

    /// Reads and validates a profile JSON file. Every error names the file and the field.
    public static func load(path: String) throws(BenchError) -> HardwareProfile {
        let bytes = try FileIO.readFile(path)
        return try parse(String(decoding: bytes, as: UTF8.self), file: path)
    }

    /// Resolves a --profile argument: a builtin name or a path to a JSON file.
    public static func resolve(_ nameOrPath: String) throws(BenchError) -> HardwareProfile {
        if BuiltinProfiles.names.contains(nameOrPath) { return try builtin(nameOrPath) }
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".json") || FileIO.exists(nameOrPath) {
            return try load(path: nameOrPath)
        }
        throw BenchError.usage(
            "unknown profile '\(nameOrPath)'; valid profiles: \(builtinNames.joined(separator: ", ")) (or a path to a profile JSON file)")
    }

    // MARK: JSON

    /// Parses and validates profile JSON text; `file` names the source in errors.
    public static func parse(_ text: String, file: String) throws(BenchError) -> HardwareProfile {
        typealias K = Key
        typealias M = ModelShape.Key
        let value: JSONValue
        do {
            value = try JSONParser.parse(text)
        } catch {
            throw BenchError.data(file, error.description)
        }
        var f = try JSONFields(value, file: file, line: nil)
        if let schema = try f.optionalString(schemaKey), schema != HardwareProfile.schema {
            throw f.error(schemaKey, "unsupported schema '\(schema)', expected '\(HardwareProfile.schema)'")
        }
        let name = try f.string(K.name)
        let gpu = try f.string(K.gpu)
        guard var m = try f.optionalObject(K.model) else { throw f.error(K.model, "missing required object") }
        let model = ModelShape(
            name: try m.string(M.name), numLayers: try m.int(M.numLayers), hiddenSize: try m.int(M.hiddenSize),
            numHeads: try m.int(M.numHeads), numKVHeads: try m.int(M.numKVHeads),
            intermediateSize: try m.int(M.intermediateSize), vocabSize: try m.int(M.vocabSize),
            maxContextTokens: try m.int(M.maxContextTokens), parameterCount: try m.double(M.parameterCount))
        try m.finish()
        let linearTokensD = try requiredArray(&f, K.linearTokens)
        var linearTokens: [Int] = []
        for (i, d) in linearTokensD.enumerated() {
            guard d == d.rounded(), abs(d) < 9e15 else { throw f.error(K.linearTokens.at(i), "expected an integer, got \(d)") }
            linearTokens.append(Int(d))
        }
        let p = HardwareProfile(
            name: name, gpu: gpu, model: model,
            tensorParallel: try f.int(K.tensorParallel),
            gpuMemoryGiB: try f.double(K.gpuMemoryGiB),
            memoryBandwidthGBps: try f.double(K.memoryBandwidthGBps),
            peakTFLOPs: try f.double(K.peakTFLOPs),
            attentionEfficiency: try f.double(K.attentionEfficiency),
            blockSizeTokens: try f.int(K.blockSizeTokens),
            kvCapacityBlocks: try f.int(K.kvCapacityBlocks),
            overheadMs: try f.double(K.overheadMs),
            linearTokens: linearTokens,
            linearMs: try requiredArray(&f, K.linearMs),
            allReduceBytes: try requiredArray(&f, K.allReduceBytes),
            allReduceMs: try requiredArray(&f, K.allReduceMs),
            pivotTokens: try f.int(K.pivotTokens),
            pivotMs: try f.double(K.pivotMs),
            source: try f.string(K.source))
        var q = p
        if let counts = try f.optionalDoubleArray(K.sequenceCounts) {
            for (i, d) in counts.enumerated() {
                guard d == d.rounded(), abs(d) < 9e15 else { throw f.error(K.sequenceCounts.at(i), "expected an integer, got \(d)") }
                q.sequenceCounts.append(Int(d))
            }
        }
        q.sequenceMs = try f.optionalDoubleArray(K.sequenceMs) ?? []
        q.attentionHalfTokens = try f.optionalDouble(K.attentionHalfTokens.rawValue) ?? 0
        try f.finish()
        try q.validate(file: file)
        return q
    }

    private static func requiredArray(_ f: inout JSONFields, _ key: Key) throws(BenchError) -> [Double] {
        guard let a = try f.optionalDoubleArray(key) else { throw f.error(key, "missing required array") }
        return a
    }

    /// Checks every invariant the time model and the block manager rely on; the error names
    /// `file` and the field (JSON key path).
    public func validate(file: String) throws(BenchError) {
        typealias K = Key
        typealias M = ModelShape.Key
        func fail(_ field: String, _ message: String) -> BenchError {
            BenchError.data(file, field: field, message)
        }
        func fail(_ key: some ProfileKey, _ message: String) -> BenchError { fail(key.field, message) }
        func positive(_ key: some ProfileKey, _ v: Int) throws(BenchError) {
            guard v > 0 else { throw fail(key, "must be positive, got \(v)") }
        }
        func positive(_ key: some ProfileKey, _ v: Double) throws(BenchError) {
            guard v.isFinite, v > 0 else { throw fail(key, "must be positive, got \(v)") }
        }
        guard !name.isEmpty else { throw fail(K.name, "must not be empty") }
        guard !gpu.isEmpty else { throw fail(K.gpu, "must not be empty") }
        guard !model.name.isEmpty else { throw fail(M.name, "must not be empty") }
        try positive(M.numLayers, model.numLayers)
        try positive(M.hiddenSize, model.hiddenSize)
        try positive(M.numHeads, model.numHeads)
        try positive(M.numKVHeads, model.numKVHeads)
        try positive(M.intermediateSize, model.intermediateSize)
        try positive(M.vocabSize, model.vocabSize)
        try positive(M.maxContextTokens, model.maxContextTokens)
        try positive(M.parameterCount, model.parameterCount)
        guard model.hiddenSize % model.numHeads == 0 else {
            throw fail(M.numHeads, "must divide \(M.hiddenSize.rawValue) \(model.hiddenSize), got \(model.numHeads)")
        }
        guard model.numKVHeads <= model.numHeads, model.numHeads % model.numKVHeads == 0 else {
            throw fail(M.numKVHeads, "must divide \(M.numHeads.rawValue) \(model.numHeads), got \(model.numKVHeads)")
        }
        try positive(K.tensorParallel, tensorParallel)
        try positive(K.gpuMemoryGiB, gpuMemoryGiB)
        try positive(K.memoryBandwidthGBps, memoryBandwidthGBps)
        try positive(K.peakTFLOPs, peakTFLOPs)
        guard attentionEfficiency.isFinite, attentionEfficiency > 0, attentionEfficiency <= 1 else {
            throw fail(K.attentionEfficiency, "must be in (0, 1], got \(attentionEfficiency)")
        }
        guard attentionHalfTokens.isFinite, attentionHalfTokens >= 0 else {
            throw fail(K.attentionHalfTokens, "must be ≥ 0, got \(attentionHalfTokens)")
        }
        try positive(K.blockSizeTokens, blockSizeTokens)
        try positive(K.kvCapacityBlocks, kvCapacityBlocks)
        guard overheadMs.isFinite, overheadMs >= 0 else { throw fail(K.overheadMs, "must be ≥ 0, got \(overheadMs)") }
        guard !linearTokens.isEmpty else { throw fail(K.linearTokens, "must not be empty") }
        for i in linearTokens.indices {
            guard linearTokens[i] > 0 else { throw fail(K.linearTokens.at(i), "must be positive, got \(linearTokens[i])") }
            if i > 0, linearTokens[i] <= linearTokens[i - 1] {
                throw fail(K.linearTokens.at(i), "must be strictly ascending, got \(linearTokens[i]) after \(linearTokens[i - 1])")
            }
        }
        guard linearMs.count == linearTokens.count else {
            throw fail(K.linearMs, "has \(linearMs.count) values but \(K.linearTokens.rawValue) has \(linearTokens.count)")
        }
        for i in linearMs.indices {
            guard linearMs[i].isFinite, linearMs[i] > 0 else { throw fail(K.linearMs.at(i), "must be positive, got \(linearMs[i])") }
        }
        if tensorParallel > 1, allReduceBytes.isEmpty {
            throw fail(K.allReduceBytes, "must not be empty when \(K.tensorParallel.rawValue) is \(tensorParallel)")
        }
        for i in allReduceBytes.indices {
            guard allReduceBytes[i].isFinite, allReduceBytes[i] > 0 else {
                throw fail(K.allReduceBytes.at(i), "must be positive, got \(allReduceBytes[i])")
            }
            if i > 0, allReduceBytes[i] <= allReduceBytes[i - 1] {
                throw fail(K.allReduceBytes.at(i), "must be strictly ascending, got \(allReduceBytes[i]) after \(allReduceBytes[i - 1])")
            }
        }
        guard allReduceMs.count == allReduceBytes.count else {
            throw fail(K.allReduceMs, "has \(allReduceMs.count) values but \(K.allReduceBytes.rawValue) has \(allReduceBytes.count)")
        }
        for i in allReduceMs.indices {
            guard allReduceMs[i].isFinite, allReduceMs[i] >= 0 else {
                throw fail(K.allReduceMs.at(i), "must be ≥ 0, got \(allReduceMs[i])")
            }
        }
        try positive(K.pivotTokens, pivotTokens)
        try positive(K.pivotMs, pivotMs)
        try validateSequenceTable(fail)
    }

    private func validateSequenceTable(_ fail: (String, String) -> BenchError) throws(BenchError) {
        typealias K = Key
        for i in sequenceCounts.indices {
            guard sequenceCounts[i] > 0 else { throw fail(K.sequenceCounts.at(i), "must be positive, got \(sequenceCounts[i])") }
            if i > 0, sequenceCounts[i] <= sequenceCounts[i - 1] {
                throw fail(K.sequenceCounts.at(i), "must be strictly ascending, got \(sequenceCounts[i]) after \(sequenceCounts[i - 1])")
            }
        }
        guard sequenceMs.count == sequenceCounts.count else {
            throw fail(K.sequenceMs.field, "has \(sequenceMs.count) values but \(K.sequenceCounts.rawValue) has \(sequenceCounts.count)")
        }
        for i in sequenceMs.indices {
            guard sequenceMs[i].isFinite, sequenceMs[i] >= 0 else { throw fail(K.sequenceMs.at(i), "must be ≥ 0, got \(sequenceMs[i])") }
        }
    }

    /// Deterministic pretty JSON (two-space indent, fixed key order, shortest round-tripping
    /// numbers, long number arrays wrapped at 100 columns, trailing newline): exactly the bytes
    /// of the shipped file, and what `load` reads back to an equal profile.
    public func jsonString() -> String {
        typealias K = Key
        typealias M = ModelShape.Key
        let modelFields: [(M, String)] = [
            (.name, PrettyJSON.quoted(model.name)),
            (.numLayers, String(model.numLayers)),
            (.hiddenSize, String(model.hiddenSize)),
            (.numHeads, String(model.numHeads)),
            (.numKVHeads, String(model.numKVHeads)),
            (.intermediateSize, String(model.intermediateSize)),
            (.vocabSize, String(model.vocabSize)),
            (.maxContextTokens, String(model.maxContextTokens)),
            (.parameterCount, PrettyJSON.number(model.parameterCount)),
        ]
        let fields: [(K, String)] = [
            (.name, PrettyJSON.quoted(name)),
            (.gpu, PrettyJSON.quoted(gpu)),
            (.model, PrettyJSON.object(modelFields.map { ($0.0.rawValue, $0.1) }, indent: 2)),
            (.tensorParallel, String(tensorParallel)),
            (.gpuMemoryGiB, PrettyJSON.number(gpuMemoryGiB)),
            (.memoryBandwidthGBps, PrettyJSON.number(memoryBandwidthGBps)),
            (.peakTFLOPs, PrettyJSON.number(peakTFLOPs)),
            (.attentionEfficiency, PrettyJSON.number(attentionEfficiency)),
        ] + (attentionHalfTokens == 0 ? [] : [(.attentionHalfTokens, PrettyJSON.number(attentionHalfTokens))]) + [
            (.blockSizeTokens, String(blockSizeTokens)),
            (.kvCapacityBlocks, String(kvCapacityBlocks)),
            (.overheadMs, PrettyJSON.number(overheadMs)),
            (.pivotTokens, String(pivotTokens)),
            (.pivotMs, PrettyJSON.number(pivotMs)),
            (.source, PrettyJSON.quoted(source)),
            (.linearTokens, PrettyJSON.array(linearTokens.map { String($0) })),
            (.linearMs, PrettyJSON.array(linearMs.map(PrettyJSON.number))),
            (.allReduceBytes, PrettyJSON.array(allReduceBytes.map(PrettyJSON.number))),
            (.allReduceMs, PrettyJSON.array(allReduceMs.map(PrettyJSON.number))),
        ] + (sequenceCounts.isEmpty ? [] : [
            (.sequenceCounts, PrettyJSON.array(sequenceCounts.map { String($0) })),
            (.sequenceMs, PrettyJSON.array(sequenceMs.map(PrettyJSON.number))),
        ])
        let schemaField = (HardwareProfile.schemaKey, PrettyJSON.quoted(HardwareProfile.schema))
        return PrettyJSON.object([schemaField] + fields.map { ($0.0.rawValue, $0.1) }, indent: 0) + "\n"
    }
}

/// A key enum of the profile file (`HardwareProfile.Key`, `ModelShape.Key`): the
/// key is the raw value; `field` is how errors name it.
fileprivate protocol ProfileKey: RawRepresentable where RawValue == String {
    var field: String { get }
}

extension ProfileKey {
    /// An array element as errors name it: "linear_tokens[3]".
    func at(_ index: Int) -> String { "\(field)[\(index)]" }
}

/// `JSONFields` access by profile key, so that the reader spells no key itself.
extension JSONFields {
    fileprivate mutating func string(_ key: some ProfileKey) throws(BenchError) -> String { try string(key.rawValue) }
    fileprivate mutating func int(_ key: some ProfileKey) throws(BenchError) -> Int { try int(key.rawValue) }
    fileprivate mutating func double(_ key: some ProfileKey) throws(BenchError) -> Double { try double(key.rawValue) }
    fileprivate mutating func optionalDoubleArray(_ key: some ProfileKey) throws(BenchError) -> [Double]? {
        try optionalDoubleArray(key.rawValue)
    }
    fileprivate mutating func optionalObject(_ key: some ProfileKey) throws(BenchError) -> JSONFields? {
        try optionalObject(key.rawValue)
    }
    fileprivate func error(_ key: some ProfileKey, _ message: String) -> BenchError { error(key.rawValue, message) }
}

/// The few formatting rules of `HardwareProfile.jsonString()`, on top of `JSONWriter`'s scalars.
enum PrettyJSON {
    static func quoted(_ s: String) -> String {
        var w = JSONWriter()
        w.string(s)
        return w.string
    }

    /// `{`, one `"key": value` line per pair indented two spaces past `indent`, then `}` at
    /// `indent` (no trailing newline).
    static func object(_ pairs: [(String, String)], indent: Int) -> String {
        let pad = String(repeating: " ", count: indent)
        return "{\n" + pairs.map { pad + "  " + quoted($0.0) + ": " + $0.1 }.joined(separator: ",\n") + "\n" + pad + "}"
    }

    /// JSONWriter's rule: integral values below 1e15 as integers, others in Swift's shortest
    /// round-tripping form.
    static func number(_ v: Double) -> String {
        var w = JSONWriter()
        w.double(v)
        return w.string
    }

    /// `[]`, or the items wrapped at 100 columns, indented four spaces, closing bracket at two.
    static func array(_ items: [String]) -> String {
        if items.isEmpty { return "[]" }
        var out = "["
        var line = "    "
        for (i, item) in items.enumerated() {
            let piece = item + (i + 1 < items.count ? "," : "")
            if line.count > 4, line.count + 1 + piece.count > 100 {
                out += "\n" + line
                line = "    "
            }
            line += (line.count > 4 ? " " : "") + piece
        }
        out += "\n" + line + "\n  ]"
        return out
    }
}

/// Lookup of the JSON files in the `Profiles` resource folder.
enum BuiltinProfiles {
    static let directory: String? = {
        if let url = Bundle.module.url(forResource: HardwareProfile.defaultName, withExtension: "json", subdirectory: "Profiles") {
            return url.deletingLastPathComponent().path
        }
        if let base = Bundle.module.resourceURL {
            let dir = base.appendingPathComponent("Profiles").path
            if FileIO.isDirectory(dir) { return dir }
        }
        return nil
    }()

    static let names: [String] = {
        guard let directory, let entries = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return entries.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
            .map { String($0.dropLast(5)) }
            .sorted()
    }()

    static func path(of name: String) -> String? {
        guard let directory else { return nil }
        return directory + "/" + name + ".json"
    }
}
