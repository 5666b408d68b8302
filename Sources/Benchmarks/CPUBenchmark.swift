import BenchCore
import EngineCPU
import Foundation
import Harness
import Models

/// `bench cpu`: the CPU backend's forward pass alone (no scheduler), measured the way
/// `scripts/interop/cpu_peer.py` measures llama.cpp, so the two can stand in one table:
/// - prefill: one sequence of P tokens in one forward pass from an empty cache (logits for the
///   last token only); median over the repetitions after one warm-up;
/// - decode: B sequences each holding C tokens of context, then steps of one token per sequence
///   in one batched forward pass (logits for every token); median step time, B tokens per step.
public struct CPUBenchmark {
    public var model: ModelSource
    public var threads: Int
    public var prefillTokens: [Int] = [128, 512]
    public var batches: [Int] = [1, 8, 32]
    public var context = 128
    public var steps = 32
    public var repetitions = 5
    /// `LlamaCPU.quantizedMaxRows` for this measurement (nil: the default).
    public var quantizedMaxRows: Int?

    public init(model: ModelSource, threads: Int) {
        self.model = model
        self.threads = threads
    }

    public struct Measurement: Sendable {
        public var kind: String
        public var tokens: Int?
        public var batch: Int?
        public var context: Int?
        public var medianMs: Double
        public var tokensPerS: Double
    }

    public func run() throws(BenchError) -> [Measurement] {
        let loaded = try model.load()
        LlamaCPU.setThreads(threads)
        if let q = quantizedMaxRows { LlamaCPU.quantizedMaxRows = q }
        let c = loaded.weights.config
        let blockSize = 16
        let longest = max(prefillTokens.max() ?? 0, context + steps)
        let blocksPerSequence = (longest + blockSize - 1) / blockSize
        let sequences = max(1, batches.max() ?? 1)
        let cpu = LlamaCPU(weights: loaded.weights, cache: PagedKVCache(numBlocks: blocksPerSequence * sequences, blockSize: blockSize,
                                                                        numLayers: c.numLayers, numKVHeads: c.numKVHeads, headDim: c.headDim))
        func blocks(_ s: Int) -> [Int32] { (0..<blocksPerSequence).map { Int32(s * blocksPerSequence + $0) } }
        func tokens(_ n: Int, _ s: Int) -> [Int32] { (0..<n).map { Int32(100 + (1000 + 7 * $0 + 13 * s) % (c.vocabSize - 100)) } }
        var out: [Measurement] = []
        for p in prefillTokens {
            let chunk = SequenceChunk(tokens: tokens(p, 0), startPosition: 0, blocks: blocks(0), wantsLogits: true)
            let ms = Self.medianMs(warmups: 1, runs: repetitions) { _ = cpu.forward([chunk]) }
            out.append(Measurement(kind: "prefill", tokens: p, medianMs: ms, tokensPerS: Double(p) / ms * 1000))
        }
        for b in batches {
            for s in 0..<b {
                _ = cpu.forward([SequenceChunk(tokens: tokens(context, s), startPosition: 0, blocks: blocks(s), wantsLogits: false)])
            }
            var step = 0
            let ms = Self.medianMs(warmups: 0, runs: steps) {
                let chunks = (0..<b).map { s in
                    SequenceChunk(tokens: [Int32(100 + (step * 31 + s) % 1000)], startPosition: context + step, blocks: blocks(s), wantsLogits: true)
                }
                _ = cpu.forward(chunks)
                step += 1
            }
            out.append(Measurement(kind: "decode", batch: b, context: context, medianMs: ms, tokensPerS: Double(b) / ms * 1000))
        }
        return out
    }

    static func medianMs(warmups: Int, runs: Int, _ body: () -> Void) -> Double {
        for _ in 0..<warmups { body() }
        var times: [Double] = []
        for _ in 0..<max(1, runs) {
            let t0 = monotonicSeconds()
            body()
            times.append((monotonicSeconds() - t0) * 1000)
        }
        times.sort()
        return times.count % 2 == 1 ? times[times.count / 2] : (times[times.count / 2 - 1] + times[times.count / 2]) / 2
    }

    /// One JSON object per measurement, in `cpu_peer.py`'s shape.
    public static func jsonLine(_ m: Measurement, threads: Int) -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("tool"); w.string("accelbench")
        w.key("threads"); w.int(threads)
        w.key("kind"); w.string(m.kind)
        if let t = m.tokens { w.key("tokens"); w.int(t) }
        if let b = m.batch { w.key("batch"); w.int(b) }
        if let c = m.context { w.key("context"); w.int(c) }
        w.key("median_ms"); w.fixed(m.medianMs, decimals: 3)
        w.key("tokens_per_s"); w.fixed(m.tokensPerS, decimals: 1)
        w.endObject()
        return w.string
    }

    public static func tableLine(_ m: Measurement) -> String {
        let what = m.kind == "prefill" ? "prefill \(m.tokens ?? 0) tokens" : "decode batch \(m.batch ?? 0) at context \(m.context ?? 0)"
        return String(format: "%-32@ %10.2f ms %10.1f tokens/s", what as NSString, m.medianMs, m.tokensPerS)
    }
}
