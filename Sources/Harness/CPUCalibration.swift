import BenchCore
import Engine
import EngineCPU
import Foundation
import Models

/// `profile calibrate --engine cpu`: measures the CPU backend's iteration times and writes a
/// profile the simulated backend reads, so a workload can be simulated as this machine runs it.
///
/// The simulated time model is `linear(tokens) + attention + overhead` (`IterationTimeModel`).
/// Each term is measured on its own:
/// - **linear**: T sequences of one token at position 0 in one pass (attention is negligible),
///   logits for every row as in a decode batch; the table is the median per T;
/// - **prefill attention**: a chunk of `chunkTokens` tokens at growing cached contexts; the time
///   grows with the causal query-key pairs, and the slope is the seconds per pair, written as
///   `peak_tflops` with an attention efficiency of 1;
/// - **decode attention**: `decodeBatch` decodes at growing contexts; the slope per context token
///   is written as `memory_bandwidth_gbps` over the profile's KV bytes per token.
/// The fixed per-iteration cost is in the linear table; `overhead_ms` is 0.
public struct CPUCalibration {
    public var model: LoadedModel
    public var threads: Int
    public var repetitions = 3
    public var linearTokens = [1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
    public var chunkTokens = 128
    public var prefillContexts = [0, 512, 1536]
    public var decodeBatch = 8
    public var decodeContexts = [128, 1024, 2048]

    public init(model: LoadedModel, threads: Int) {
        self.model = model
        self.threads = threads
    }

    public struct Result {
        public var profile: HardwareProfile
        public var secondsPerPair: Double
        public var secondsPerContextToken: Double
    }

    /// Measures and returns `base` (block size, KV capacity) with the measured timings.
    public func run(base: HardwareProfile) throws(BenchError) -> Result {
        LlamaCPU.setThreads(threads)
        let c = model.weights.config
        let longest = max(linearTokens.max() ?? 1, chunkTokens + (prefillContexts.max() ?? 0), (decodeContexts.max() ?? 0) + 1)
        let perSequence = (longest + 15) / 16
        let sequences = max(linearTokens.max() ?? 1, decodeBatch)
        let cpu = LlamaCPU(weights: model.weights, cache: PagedKVCache(numBlocks: perSequence * sequences, blockSize: 16,
                                                                       numLayers: c.numLayers, numKVHeads: c.numKVHeads, headDim: c.headDim))
        func blocks(_ s: Int) -> [Int32] { (0..<perSequence).map { Int32(s * perSequence + $0) } }
        func tokens(_ n: Int, _ s: Int) -> [Int32] { (0..<n).map { Int32(100 + (7 * $0 + 13 * s) % (c.vocabSize - 100)) } }
        func time(_ chunks: [SequenceChunk]) -> Double {
            _ = cpu.forward(chunks)
            var times = (0..<max(1, repetitions)).map { _ in
                let t0 = monotonicSeconds()
                _ = cpu.forward(chunks)
                return monotonicSeconds() - t0
            }
            times.sort()
            return times[times.count / 2]
        }
        var p = base
        p.linearTokens = linearTokens
        p.linearMs = linearTokens.map { t in
            time((0..<t).map { SequenceChunk(tokens: tokens(1, $0), startPosition: 0, blocks: blocks($0), wantsLogits: true) }) * 1000
        }
        // Prefill attention: the same chunk after growing cached contexts.
        let n = Double(chunkTokens)
        var pairs: [Double] = [], prefillS: [Double] = []
        for ctx in prefillContexts {
            if ctx > 0 { _ = cpu.forward([SequenceChunk(tokens: tokens(ctx, 0), startPosition: 0, blocks: blocks(0), wantsLogits: false)]) }
            prefillS.append(time([SequenceChunk(tokens: tokens(chunkTokens, 1), startPosition: ctx, blocks: blocks(0), wantsLogits: true)]))
            pairs.append(n * (Double(ctx) + (n + 1) / 2))
        }
        let perPair = max(1e-15, Self.slope(x: pairs, y: prefillS))
        // Decode attention: a batch of decodes after growing contexts.
        var contextTokens: [Double] = [], decodeS: [Double] = []
        for ctx in decodeContexts {
            for s in 0..<decodeBatch {
                _ = cpu.forward([SequenceChunk(tokens: tokens(ctx, s), startPosition: 0, blocks: blocks(s), wantsLogits: false)])
            }
            decodeS.append(time((0..<decodeBatch).map {
                SequenceChunk(tokens: tokens(1, $0 + 7), startPosition: ctx, blocks: blocks($0), wantsLogits: true)
            }))
            contextTokens.append(Double(decodeBatch * ctx))
        }
        let perContextToken = max(1e-15, Self.slope(x: contextTokens, y: decodeS))
        let m = p.model
        p.attentionEfficiency = 1
        p.peakTFLOPs = 4 * Double(m.headDim) * Double(m.numHeads) * Double(m.numLayers) / perPair / 1e12
        p.memoryBandwidthGBps = p.kvBytesPerTokenPerGPU / perContextToken / 1e9
        p.overheadMs = 0
        p.allReduceBytes = []
        p.allReduceMs = []
        p.source = "accelbench profile calibrate --engine cpu: \(model.name), \(threads) threads, medians of \(repetitions) (\(ISO8601DateFormatter().string(from: Date())))"
        try ProfileBuilder.setPivot(&p, fraction: ProfileBuilder.Options().pivotThroughputFraction)
        try p.validate(file: "calibrated profile")
        return Result(profile: p, secondsPerPair: perPair, secondsPerContextToken: perContextToken)
    }

    /// Least-squares slope of y on x.
    static func slope(x: [Double], y: [Double]) -> Double {
        let n = Double(x.count), mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        let sxy = zip(x, y).reduce(0) { $0 + ($1.0 - mx) * ($1.1 - my) }, sxx = x.reduce(0) { $0 + ($1 - mx) * ($1 - mx) }
        return sxx > 0 ? sxy / sxx : 0
    }
}
