import BenchCore
import Engine
import Models

/// A model on the GPU: the library's context with its weights and KV pool.
public final class CUDAModel: @unchecked Sendable {
    /// The weights: a loaded model's (uploaded, rounded to bf16) or seeded ones made on the device.
    public enum Weights {
        case loaded(LlamaWeights)
        case synthetic(seed: UInt64)
    }

    public let library: CUDALibrary
    public let config: LlamaConfig
    public private(set) var numBlocks = 0
    public private(set) var blockSize = 0
    let context: OpaquePointer

    /// Tensor ids of `cuda/accelbench_cuda.h`.
    enum Tensor: Int32 {
        case tokenEmbedding = 0, outputNorm, output, attnNorm, wq, wk, wv, wo, ffnNorm, wGate, wUp, wDown
    }

    public init(library: CUDALibrary, config c: LlamaConfig, weights: Weights, device: Int32 = 0) throws(BenchError) {
        self.library = library
        self.config = c
        let shape: [Int32] = [c.numLayers, c.hiddenSize, c.numHeads, c.numKVHeads, c.headDim, c.intermediateSize, c.vocabSize, c.ropeDim]
            .map { Int32($0) }
        var err = [CChar](repeating: 0, count: 512)
        guard let ctx = library.create(shape, c.ropeBase, c.rmsEpsilon, c.tiedEmbeddings ? 1 : 0, device, &err, Int32(err.count)) else {
            throw BenchError.unavailable("the CUDA backend could not start: \(String(cString: err))")
        }
        context = ctx
        switch weights {
        case .synthetic(let seed): try check(library.synthetic(ctx, seed), "making synthetic weights")
        case .loaded(let w): try upload(w)
        }
    }

    deinit { library.destroy(context) }

    private func check(_ status: Int32, _ what: String) throws(BenchError) {
        guard status == 0 else { throw BenchError.unavailable("CUDA backend, \(what): \(lastError)") }
    }

    var lastError: String { library.lastError(context).map { String(cString: $0) } ?? "unknown error" }

    private func upload(_ w: LlamaWeights) throws(BenchError) {
        func put(_ t: Tensor, _ layer: Int, _ values: [Float]) throws(BenchError) {
            let status = values.withUnsafeBufferPointer { library.setWeight(context, t.rawValue, Int32(layer), $0.baseAddress, Int64($0.count)) }
            try check(status, "uploading tensor \(t) of layer \(layer)")
        }
        try put(.tokenEmbedding, -1, w.tokenEmbedding.values)
        try put(.outputNorm, -1, w.outputNorm)
        if let output = w.output { try put(.output, -1, output.values) }
        for (i, l) in w.layers.enumerated() {
            try put(.attnNorm, i, l.attnNorm)
            try put(.wq, i, l.wq.values)
            try put(.wk, i, l.wk.values)
            try put(.wv, i, l.wv.values)
            try put(.wo, i, l.wo.values)
            try put(.ffnNorm, i, l.ffnNorm)
            try put(.wGate, i, l.wGate.values)
            try put(.wUp, i, l.wUp.values)
            try put(.wDown, i, l.wDown.values)
        }
    }

    /// Free and total device memory, bytes.
    public func memory() throws(BenchError) -> (free: Int64, total: Int64) {
        var free: Int64 = 0, total: Int64 = 0
        try check(library.memory(context, &free, &total), "reading device memory")
        return (free, total)
    }

    public func deviceName() throws(BenchError) -> String {
        var out = [CChar](repeating: 0, count: 256)
        try check(library.deviceName(context, &out, Int32(out.count)), "reading the device name")
        return String(cString: out)
    }

    public func bytesPerBlock(blockSize: Int) -> Int { Int(library.bytesPerBlock(context, Int32(blockSize))) }

    public func allocateKV(blocks: Int, blockSize: Int) throws(BenchError) {
        try check(library.allocKV(context, Int32(blocks), Int32(blockSize)), "allocating \(blocks) KV blocks")
        numBlocks = blocks
        self.blockSize = blockSize
    }

    /// Decode-only iterations replayed from CUDA graphs (on by default).
    public func setGraphs(_ on: Bool) throws(BenchError) {
        try check(library.setOption(context, 0, on ? 1 : 0), "setting graphs")
    }

    /// One iteration (see `ab_cuda_step`): the sampled ids (-1 where no logits) and the device time.
    public func step(_ chunks: [CUDAChunk]) -> Result<(sampled: [Int32], seconds: Double), CUDAStepFailure> {
        var info: [Int32] = [], tokens: [Int32] = [], tables: [Int32] = [], sampling: [Float] = [], topK: [Int32] = []
        info.reserveCapacity(4 * chunks.count)
        for c in chunks {
            info += [Int32(c.startPosition), Int32(c.tokens.count), c.wantsLogits ? 1 : 0, Int32(c.blocks.count)]
            tokens += c.tokens
            tables += c.blocks
            sampling += [Float(c.temperature), Float(c.topP), Float(c.u)]
            topK.append(Int32(clamping: c.topK))
        }
        var sampled = [Int32](repeating: -1, count: chunks.count)
        var seconds = 0.0
        let status = library.step(context, Int32(chunks.count), info, tokens, tables, sampling, topK, &sampled, nil, &seconds)
        guard status == 0 else { return .failure(CUDAStepFailure(message: lastError)) }
        return .success((sampled, seconds))
    }
}

public struct CUDAStepFailure: Error, Sendable {
    public var message: String
}

/// One sequence's part of an iteration, with how its token is drawn.
public struct CUDAChunk {
    public var tokens: [Int32]
    public var startPosition: Int
    public var blocks: [Int32]
    public var wantsLogits: Bool
    public var temperature = 0.0
    public var topK = 0
    public var topP = 1.0
    /// The draw in [0, 1): the CPU sampler's for the same request and token index.
    public var u = 0.0

    public init(tokens: [Int32], startPosition: Int, blocks: [Int32], wantsLogits: Bool) {
        self.tokens = tokens
        self.startPosition = startPosition
        self.blocks = blocks
        self.wantsLogits = wantsLogits
    }
}

/// The engine's CUDA backend: each `StepPlan` runs on the GPU; the iteration's time is what CUDA
/// events measured. A failed step is reported (`StepResult.failure`), never a crash.
public struct CUDABackend: ExecutionBackend {
    public let model: CUDAModel

    public init(model: CUDAModel) { self.model = model }

    public mutating func execute(_ plan: StepPlan) -> StepResult {
        var chunks: [CUDAChunk] = []
        chunks.reserveCapacity(plan.items.count)
        for item in plan.items {
            let r = item.request
            guard let tokens = r.tokens else { return StepResult(durationS: 0, failure: "request \(r.id) has no token ids; a real backend needs them") }
            let from = item.contextTokens, to = from + item.newTokens
            var c = CUDAChunk(tokens: Array(tokens.ids[from..<to]), startPosition: from, blocks: r.blocks,
                              wantsLogits: !item.isPrefill || to >= r.prefillTarget)
            let s = tokens.sampling
            c.temperature = s.temperature
            c.topK = s.topK
            c.topP = s.topP
            c.u = s.temperature > 0 ? s.uniform(forToken: r.numOutputTokens) : 0
            chunks.append(c)
        }
        switch model.step(chunks) {
        case .success(let out): return StepResult(durationS: out.seconds, sampledTokens: out.sampled)
        case .failure(let f): return StepResult(durationS: 0, failure: "CUDA backend: \(f.message)")
        }
    }
}
