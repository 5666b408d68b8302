import BenchCore
import Engine
import EngineCUDA
import Foundation
import Models
import Reporting

/// The bundled engine running a real model on an NVIDIA GPU, in real time, through the CUDA
/// backend library (`cuda/`, loaded with dlopen): the same policies, driver and records as the
/// CPU engine; each iteration's time is what CUDA events measured.
public struct CUDAEngineTarget: RealModelTarget {
    /// The scheduling profile: block size, KV blocks and the model's context are the GPU
    /// engine's; its time model is what predicting policies (AccelGen, EDF) plan with.
    public var profile: HardwareProfile
    public var policy: PolicyName
    public var policyOptions: PolicyOptions
    public let model: CUDAModel
    public let modelName: String
    /// nil for synthetic weights (token ids only).
    public let tokenizer: ModelTokenizer?
    public let chatTemplate: ChatTemplate?
    public let device: String
    public var promptSeed: UInt64 = 0
    public var prefixCaching = false
    public var onProgress: ((EngineProgress) -> Void)?

    /// Share of the device memory left free after the weights that the KV pool takes when
    /// `--kv-memory-gib` is not given; the rest holds activations, cuBLAS's workspace and graphs.
    /// 0.85: our choice (vLLM's gpu_memory_utilization is 0.9 of the whole device).
    public static let freeMemoryFraction = 0.85

    public struct Options {
        public var source: ModelSource
        public var libraryPath: String
        public var base: HardwareProfile
        /// nil: `freeMemoryFraction` of what is free once the weights are up.
        public var kvMemoryGiB: Double?
        public var blockSize = 16
        public var graphs = true
        public var chatTemplateFile: String?

        public init(source: ModelSource, libraryPath: String, base: HardwareProfile) {
            self.source = source
            self.libraryPath = libraryPath
            self.base = base
        }
    }

    /// Loads the library (after checking driver and device), puts the model on the GPU and sizes
    /// the KV pool. Every way this can fail is a `BenchError.unavailable` with the loader's message.
    public init(_ o: Options, policy: PolicyName, policyOptions: PolicyOptions) throws(BenchError) {
        let library: CUDALibrary
        switch CUDALibrary.load(path: o.libraryPath) {
        case .success(let l): library = l
        case .failure(let why): throw why.benchError
        }
        let config: LlamaConfig, weights: CUDAModel.Weights
        switch o.source {
        case .synthetic(let arch, let seed):
            config = LlamaConfig.known[arch]!
            weights = .synthetic(seed: seed)
            (modelName, tokenizer, chatTemplate) = ("synthetic-\(arch)", nil, nil)
        default:
            let loaded = try o.source.load(chatTemplateFile: o.chatTemplateFile)
            config = loaded.weights.config
            weights = .loaded(loaded.weights)
            (modelName, tokenizer, chatTemplate) = (loaded.name, loaded.tokenizer, loaded.chatTemplate)
        }
        model = try CUDAModel(library: library, config: config, weights: weights)
        try model.setGraphs(o.graphs)
        device = try model.deviceName()
        let perBlock = model.bytesPerBlock(blockSize: o.blockSize)
        let bytes: Double
        if let gib = o.kvMemoryGiB { bytes = gib * 1_073_741_824 } else { bytes = Double(try model.memory().free) * Self.freeMemoryFraction }
        let blocks = Int(bytes / Double(perBlock))
        guard blocks > 0 else { throw BenchError.unavailable("no room for the KV cache on \(device): \(Int(bytes)) bytes for blocks of \(perBlock)") }
        try model.allocateKV(blocks: blocks, blockSize: o.blockSize)
        profile = Self.profile(config: config, modelName: modelName, device: device, base: o.base, blocks: blocks, blockSize: o.blockSize)
        self.policy = policy
        self.policyOptions = policyOptions
    }

    static func profile(config c: LlamaConfig, modelName: String, device: String, base: HardwareProfile, blocks: Int,
                        blockSize: Int) -> HardwareProfile {
        var p = base
        p.name = "cuda-" + ModelNames.short(modelName)
        p.gpu = device
        p.setRealModel(c, name: modelName)
        p.blockSizeTokens = blockSize
        p.kvCapacityBlocks = blocks
        return p
    }

    public var identity: TargetIdentity {
        .engine(.init(backend: "cuda", profile: profile.name, policy: policy.rawValue,
                      ablations: policyOptions.labels(for: policy)))
    }

    public var vocabSize: Int { model.config.vocabSize }
    public var reservedTokenIDs: Set<Int32> { ModelTokenizer.reservedIDs(tokenizer) }
    public func makeBackend() -> CUDABackend { CUDABackend(model: model) }
    public func makeExecutionBackend() throws(BenchError) -> any ExecutionBackend { makeBackend() }
}
