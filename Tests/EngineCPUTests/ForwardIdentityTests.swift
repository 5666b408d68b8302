import BenchCore
@testable import EngineCPU
import Engine
import Models
import Testing

/// The forward pass's internal identities on a small seeded model: the same tokens give the same
/// logits however the engine splits, batches or places them.
struct ForwardIdentityTests {
    static let config = LlamaConfig(numLayers: 3, hiddenSize: 64, numHeads: 4, numKVHeads: 2, intermediateSize: 96,
                                    vocabSize: 300, contextLength: 512, ropeBase: 10_000, rmsEpsilon: 1e-5,
                                    tiedEmbeddings: false)
    static let weights = LlamaWeights.synthetic(config, seed: 7)

    static func model(blocks: Int = 64, blockSize: Int = 4) -> LlamaCPU {
        LlamaCPU(weights: weights, cache: PagedKVCache(numBlocks: blocks, blockSize: blockSize, numLayers: config.numLayers,
                                                       numKVHeads: config.numKVHeads, headDim: config.headDim))
    }

    static func tokens(_ n: Int, seed: UInt64) -> [Int32] {
        var rng = SeededRNG(seed: seed)
        return (0..<n).map { _ in Int32(rng.next() % UInt64(config.vocabSize)) }
    }

    static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// Runs a prompt in chunks of `chunk` tokens over `blocks`, returning the last logits.
    static func prefill(_ m: LlamaCPU, _ toks: [Int32], chunk: Int, blocks: [Int32]) -> [Float] {
        var pos = 0
        var last: [Float] = []
        while pos < toks.count {
            let n = min(chunk, toks.count - pos)
            let done = pos + n == toks.count
            let out = m.forward([SequenceChunk(tokens: Array(toks[pos..<(pos + n)]), startPosition: pos, blocks: blocks, wantsLogits: done)])
            if done { last = out[0] }
            pos += n
        }
        return last
    }

    @Test func chunkedPrefillEqualsUnchunked() {
        for seed: UInt64 in 1...3 {
            let toks = Self.tokens(37, seed: seed)
            let blocks = (0..<10).map { Int32($0) }
            let whole = Self.prefill(Self.model(), toks, chunk: 37, blocks: blocks)
            for chunk in [1, 5, 16] {
                let split = Self.prefill(Self.model(), toks, chunk: chunk, blocks: blocks)
                #expect(Self.maxDiff(whole, split) < 1e-4, "seed \(seed), chunk \(chunk)")
                #expect(Sampler.argmax(whole) == Sampler.argmax(split), "seed \(seed), chunk \(chunk)")
            }
        }
    }

    @Test func pagedEqualsContiguous() {
        let toks = Self.tokens(29, seed: 11)
        let contiguous = Self.prefill(Self.model(), toks, chunk: 8, blocks: (0..<8).map { Int32($0) })
        // Scattered, out-of-order blocks of the same pool.
        let scattered: [Int32] = [40, 3, 17, 62, 9, 25, 51, 30]
        let paged = Self.prefill(Self.model(), toks, chunk: 8, blocks: scattered)
        #expect(Self.maxDiff(contiguous, paged) == 0)
    }

    @Test func batchedEqualsAlone() {
        let a = Self.tokens(21, seed: 1), b = Self.tokens(9, seed: 2), c = Self.tokens(14, seed: 3)
        let ba: [Int32] = [0, 1, 2, 3, 4, 5], bb: [Int32] = [10, 11, 12], bc: [Int32] = [20, 21, 22, 23]
        let m = Self.model()
        // a is half prefilled, b and c start; then one mixed iteration: a finishes, b's first
        // chunk, c whole.
        _ = m.forward([SequenceChunk(tokens: Array(a[0..<12]), startPosition: 0, blocks: ba, wantsLogits: false)])
        let batched = m.forward([
            SequenceChunk(tokens: Array(a[12...]), startPosition: 12, blocks: ba, wantsLogits: true),
            SequenceChunk(tokens: Array(b[0..<5]), startPosition: 0, blocks: bb, wantsLogits: false),
            SequenceChunk(tokens: c, startPosition: 0, blocks: bc, wantsLogits: true),
        ])
        #expect(batched.count == 2)
        let aloneA = Self.prefill(Self.model(), a, chunk: 21, blocks: ba)
        let aloneC = Self.prefill(Self.model(), c, chunk: 14, blocks: bc)
        #expect(Self.maxDiff(batched[0], aloneA) < 1e-4)
        #expect(Self.maxDiff(batched[1], aloneC) < 1e-4)
    }

    @Test func decodeStepsEqualOnePrefill() {
        // Greedy decoding token by token gives the logits a prefill of the same sequence gives.
        let prompt = Self.tokens(10, seed: 5)
        let blocks = (0..<8).map { Int32($0) }
        let m = Self.model()
        var seq = prompt
        var logits = Self.prefill(m, prompt, chunk: 10, blocks: blocks)
        for _ in 0..<6 {
            let next = Sampler.argmax(logits)
            seq.append(next)
            logits = m.forward([SequenceChunk(tokens: [next], startPosition: seq.count - 1, blocks: blocks, wantsLogits: true)])[0]
        }
        let recomputed = Self.prefill(Self.model(), seq, chunk: seq.count, blocks: blocks)
        #expect(Self.maxDiff(logits, recomputed) < 1e-4)
    }

    @Test func samplingIsSeededPerRequest() {
        let logits: [Float] = (0..<50).map { Float($0 % 7) * 0.3 }
        let p = SamplingParams(temperature: 0.8, topK: 20, topP: 0.9, seed: 42)
        let draws = (0..<20).map { Sampler.sample(logits, p, draw: $0) }
        #expect(draws == (0..<20).map { Sampler.sample(logits, p, draw: $0) })
        #expect(Set(draws).count > 1)
        // Only ids among the top 20 can be drawn, and greedy is argmax.
        let top20 = Set((0..<50).sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }.prefix(20).map { Int32($0) })
        #expect(draws.allSatisfy { top20.contains($0) })
        #expect(Sampler.sample(logits, .greedy, draw: 0) == Sampler.argmax(logits))
    }
}
