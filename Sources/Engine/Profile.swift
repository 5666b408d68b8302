import BenchCore
import Foundation

// Hardware profiles: what the simulated GPU is (model shape, memory, bandwidth, compute) and the
// measured time tables its iteration-time model interpolates. The shipped profiles are package
// resources (`Profiles/*.json`), built by `ProfileBuilder` from Vidur's measured operator timings;
// `Profiles/README.md` states the data's source, its MIT licence notice and every constant.

/// The shape of a Llama-architecture decoder (gated SiLU MLP, RMSNorm, rotary embeddings, no
/// biases, untied input embedding and LM head, grouped-query attention when
/// `numKVHeads < numHeads`).
public struct ModelShape: Codable, Sendable, Equatable {
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

    enum CodingKeys: String, CodingKey {
        case name
        case numLayers = "num_layers"
        case hiddenSize = "hidden_size"
        case numHeads = "num_heads"
        case numKVHeads = "num_kv_heads"
        case intermediateSize = "intermediate_size"
        case vocabSize = "vocab_size"
        case maxContextTokens = "max_context_tokens"
        case parameterCount = "parameter_count"
    }
}

/// One simulated serving instance: a model on `tensorParallel` identical GPUs, with the measured
/// tables its `IterationTimeModel` reads. Every per-GPU quantity is for one GPU of the group.
public struct HardwareProfile: Codable, Sendable, Equatable {
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

    enum CodingKeys: String, CodingKey {
        case name, gpu, model
        case tensorParallel = "tensor_parallel"
        case gpuMemoryGiB = "gpu_memory_gib"
        case memoryBandwidthGBps = "memory_bandwidth_gbps"
        case peakTFLOPs = "peak_tflops"
        case attentionEfficiency = "attention_efficiency"
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
    }

    /// Written as the first key of every profile file; optional when reading.
    public static let schema = "accelbench.profile/1"

    public static let defaultName = "h100-llama2-7b"

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
        let value: JSONValue
        do {
            value = try JSONParser.parse(text)
        } catch {
            throw BenchError.data(file, error.description)
        }
        var f = try JSONFields(value, file: file, line: nil)
        if let schema = try f.optionalString("schema"), schema != HardwareProfile.schema {
            throw f.error("schema", "unsupported schema '\(schema)', expected '\(HardwareProfile.schema)'")
        }
        let name = try f.string("name")
        let gpu = try f.string("gpu")
        guard var m = try f.optionalObject("model") else { throw f.error("model", "missing required object") }
        let model = ModelShape(
            name: try m.string("name"), numLayers: try m.int("num_layers"), hiddenSize: try m.int("hidden_size"),
            numHeads: try m.int("num_heads"), numKVHeads: try m.int("num_kv_heads"),
            intermediateSize: try m.int("intermediate_size"), vocabSize: try m.int("vocab_size"),
            maxContextTokens: try m.int("max_context_tokens"), parameterCount: try m.double("parameter_count"))
        try m.finish()
        let linearTokensD = try requiredArray(&f, "linear_tokens")
        var linearTokens: [Int] = []
        for (i, d) in linearTokensD.enumerated() {
            guard d == d.rounded(), abs(d) < 9e15 else { throw f.error("linear_tokens[\(i)]", "expected an integer, got \(d)") }
            linearTokens.append(Int(d))
        }
        let p = HardwareProfile(
            name: name, gpu: gpu, model: model,
            tensorParallel: try f.int("tensor_parallel"),
            gpuMemoryGiB: try f.double("gpu_memory_gib"),
            memoryBandwidthGBps: try f.double("memory_bandwidth_gbps"),
            peakTFLOPs: try f.double("peak_tflops"),
            attentionEfficiency: try f.double("attention_efficiency"),
            blockSizeTokens: try f.int("block_size_tokens"),
            kvCapacityBlocks: try f.int("kv_capacity_blocks"),
            overheadMs: try f.double("overhead_ms"),
            linearTokens: linearTokens,
            linearMs: try requiredArray(&f, "linear_ms"),
            allReduceBytes: try requiredArray(&f, "all_reduce_bytes"),
            allReduceMs: try requiredArray(&f, "all_reduce_ms"),
            pivotTokens: try f.int("pivot_tokens"),
            pivotMs: try f.double("pivot_ms"),
            source: try f.string("source"))
        try f.finish()
        try p.validate(file: file)
        return p
    }

    private static func requiredArray(_ f: inout JSONFields, _ key: String) throws(BenchError) -> [Double] {
        guard let a = try f.optionalDoubleArray(key) else { throw f.error(key, "missing required array") }
        return a
    }

    /// Checks every invariant the time model and the block manager rely on; the error names
    /// `file` and the field (JSON key path).
    public func validate(file: String) throws(BenchError) {
        func fail(_ field: String, _ message: String) -> BenchError {
            BenchError.data(file, field: field, message)
        }
        func positive(_ field: String, _ v: Int) throws(BenchError) {
            guard v > 0 else { throw fail(field, "must be positive, got \(v)") }
        }
        func positive(_ field: String, _ v: Double) throws(BenchError) {
            guard v.isFinite, v > 0 else { throw fail(field, "must be positive, got \(v)") }
        }
        guard !name.isEmpty else { throw fail("name", "must not be empty") }
        guard !gpu.isEmpty else { throw fail("gpu", "must not be empty") }
        guard !model.name.isEmpty else { throw fail("model.name", "must not be empty") }
        try positive("model.num_layers", model.numLayers)
        try positive("model.hidden_size", model.hiddenSize)
        try positive("model.num_heads", model.numHeads)
        try positive("model.num_kv_heads", model.numKVHeads)
        try positive("model.intermediate_size", model.intermediateSize)
        try positive("model.vocab_size", model.vocabSize)
        try positive("model.max_context_tokens", model.maxContextTokens)
        try positive("model.parameter_count", model.parameterCount)
        guard model.hiddenSize % model.numHeads == 0 else {
            throw fail("model.num_heads", "must divide hidden_size \(model.hiddenSize), got \(model.numHeads)")
        }
        guard model.numKVHeads <= model.numHeads, model.numHeads % model.numKVHeads == 0 else {
            throw fail("model.num_kv_heads", "must divide num_heads \(model.numHeads), got \(model.numKVHeads)")
        }
        try positive("tensor_parallel", tensorParallel)
        try positive("gpu_memory_gib", gpuMemoryGiB)
        try positive("memory_bandwidth_gbps", memoryBandwidthGBps)
        try positive("peak_tflops", peakTFLOPs)
        guard attentionEfficiency.isFinite, attentionEfficiency > 0, attentionEfficiency <= 1 else {
            throw fail("attention_efficiency", "must be in (0, 1], got \(attentionEfficiency)")
        }
        try positive("block_size_tokens", blockSizeTokens)
        try positive("kv_capacity_blocks", kvCapacityBlocks)
        guard overheadMs.isFinite, overheadMs >= 0 else { throw fail("overhead_ms", "must be ≥ 0, got \(overheadMs)") }
        guard !linearTokens.isEmpty else { throw fail("linear_tokens", "must not be empty") }
        for i in linearTokens.indices {
            guard linearTokens[i] > 0 else { throw fail("linear_tokens[\(i)]", "must be positive, got \(linearTokens[i])") }
            if i > 0, linearTokens[i] <= linearTokens[i - 1] {
                throw fail("linear_tokens[\(i)]", "must be strictly ascending, got \(linearTokens[i]) after \(linearTokens[i - 1])")
            }
        }
        guard linearMs.count == linearTokens.count else {
            throw fail("linear_ms", "has \(linearMs.count) values but linear_tokens has \(linearTokens.count)")
        }
        for i in linearMs.indices {
            guard linearMs[i].isFinite, linearMs[i] > 0 else { throw fail("linear_ms[\(i)]", "must be positive, got \(linearMs[i])") }
        }
        if tensorParallel > 1, allReduceBytes.isEmpty {
            throw fail("all_reduce_bytes", "must not be empty when tensor_parallel is \(tensorParallel)")
        }
        for i in allReduceBytes.indices {
            guard allReduceBytes[i].isFinite, allReduceBytes[i] > 0 else {
                throw fail("all_reduce_bytes[\(i)]", "must be positive, got \(allReduceBytes[i])")
            }
            if i > 0, allReduceBytes[i] <= allReduceBytes[i - 1] {
                throw fail("all_reduce_bytes[\(i)]", "must be strictly ascending, got \(allReduceBytes[i]) after \(allReduceBytes[i - 1])")
            }
        }
        guard allReduceMs.count == allReduceBytes.count else {
            throw fail("all_reduce_ms", "has \(allReduceMs.count) values but all_reduce_bytes has \(allReduceBytes.count)")
        }
        for i in allReduceMs.indices {
            guard allReduceMs[i].isFinite, allReduceMs[i] >= 0 else {
                throw fail("all_reduce_ms[\(i)]", "must be ≥ 0, got \(allReduceMs[i])")
            }
        }
        try positive("pivot_tokens", pivotTokens)
        try positive("pivot_ms", pivotMs)
    }

    /// Deterministic pretty JSON (two-space indent, fixed key order, shortest round-tripping
    /// numbers, long number arrays wrapped at 100 columns, trailing newline): exactly the bytes
    /// of the shipped file, and what `load` reads back to an equal profile.
    public func jsonString() -> String {
        var out = "{\n"
        var first = true
        func field(_ key: String, _ rendered: String) {
            if !first { out += ",\n" }
            first = false
            out += "  " + PrettyJSON.quoted(key) + ": " + rendered
        }
        field("schema", PrettyJSON.quoted(HardwareProfile.schema))
        field("name", PrettyJSON.quoted(name))
        field("gpu", PrettyJSON.quoted(gpu))
        let modelFields: [(String, String)] = [
            ("name", PrettyJSON.quoted(model.name)),
            ("num_layers", String(model.numLayers)),
            ("hidden_size", String(model.hiddenSize)),
            ("num_heads", String(model.numHeads)),
            ("num_kv_heads", String(model.numKVHeads)),
            ("intermediate_size", String(model.intermediateSize)),
            ("vocab_size", String(model.vocabSize)),
            ("max_context_tokens", String(model.maxContextTokens)),
            ("parameter_count", PrettyJSON.number(model.parameterCount)),
        ]
        field("model", "{\n" + modelFields.map { "    " + PrettyJSON.quoted($0.0) + ": " + $0.1 }.joined(separator: ",\n") + "\n  }")
        field("tensor_parallel", String(tensorParallel))
        field("gpu_memory_gib", PrettyJSON.number(gpuMemoryGiB))
        field("memory_bandwidth_gbps", PrettyJSON.number(memoryBandwidthGBps))
        field("peak_tflops", PrettyJSON.number(peakTFLOPs))
        field("attention_efficiency", PrettyJSON.number(attentionEfficiency))
        field("block_size_tokens", String(blockSizeTokens))
        field("kv_capacity_blocks", String(kvCapacityBlocks))
        field("overhead_ms", PrettyJSON.number(overheadMs))
        field("pivot_tokens", String(pivotTokens))
        field("pivot_ms", PrettyJSON.number(pivotMs))
        field("source", PrettyJSON.quoted(source))
        field("linear_tokens", PrettyJSON.array(linearTokens.map { String($0) }))
        field("linear_ms", PrettyJSON.array(linearMs.map(PrettyJSON.number)))
        field("all_reduce_bytes", PrettyJSON.array(allReduceBytes.map(PrettyJSON.number)))
        field("all_reduce_ms", PrettyJSON.array(allReduceMs.map(PrettyJSON.number)))
        out += "\n}\n"
        return out
    }
}

/// The few formatting rules of `HardwareProfile.jsonString()`, on top of `JSONWriter`'s scalars.
enum PrettyJSON {
    static func quoted(_ s: String) -> String {
        var w = JSONWriter()
        w.string(s)
        return w.string
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
