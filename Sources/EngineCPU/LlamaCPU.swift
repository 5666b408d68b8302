import BenchCore
import CKernels
import COpenBLAS
import Foundation
import Models

/// One sequence's part of a batched forward pass: the tokens at positions
/// `startPosition ..< startPosition + tokens.count` (a prefill chunk, or one decode token),
/// attending to the sequence's cached positions before them and causally to each other.
public struct SequenceChunk {
    public var tokens: [Int32]
    public var startPosition: Int
    /// The sequence's KV blocks (the engine's block ids), covering every position it writes.
    public var blocks: [Int32]
    /// Whether the last position's logits are wanted (a completed prefill or a decode).
    public var wantsLogits: Bool

    public init(tokens: [Int32], startPosition: Int, blocks: [Int32], wantsLogits: Bool) {
        self.tokens = tokens
        self.startPosition = startPosition
        self.blocks = blocks
        self.wantsLogits = wantsLogits
    }
}

/// A Llama-architecture transformer on the CPU, batched over every token of an iteration:
/// the projections and the MLP are single GEMMs over the concatenated tokens of all sequences
/// (OpenBLAS sgemm); attention reads each sequence's context from the paged KV cache.
public final class LlamaCPU: @unchecked Sendable {
    public let weights: LlamaWeights
    public let cache: PagedKVCache
    public var config: LlamaConfig { weights.config }
    private var scratch = Scratch()
    /// Inverse frequencies of the rotated pairs, θ^(-2i/ropeDim).
    private let ropeInvFreq: [Double]

    /// Queries per attention tile: bounds the score buffer to `tile × context` floats.
    static let attentionTileRows = 128
    /// Chunks of at most this many tokens (decodes, short chunks) attend with direct SIMD loops
    /// over the cache blocks; longer ones gather each head's context and use sgemm. Below it, the
    /// two sgemm calls per head cost more in OpenBLAS's dispatch than the arithmetic (measured with
    /// `bench cpu`: decode at batch 32 spent most of its step there). Our choice, by measurement.
    static let directAttentionMaxTokens = 8

    public init(weights: LlamaWeights, cache: PagedKVCache) {
        precondition(cache.numLayers == weights.config.numLayers && cache.numKVHeads == weights.config.numKVHeads
                     && cache.headDim == weights.config.headDim)
        self.weights = weights
        self.cache = cache
        let c = weights.config
        ropeInvFreq = (0..<(c.ropeDim / 2)).map { i in pow(c.ropeBase, -2 * Double(i) / Double(c.ropeDim)) }
    }

    /// Sets the thread count (process-wide): OpenBLAS's, and the worker pool's that runs the
    /// quantized kernels and the decode attention.
    public static func setThreads(_ n: Int) {
        openblas_set_num_threads(Int32(max(1, n)))
        threadCount = max(1, n)
        poolLock.withLock {
            if sharedPool?.threads != threadCount { sharedPool = WorkerPool(threads: threadCount) }
        }
    }

    nonisolated(unsafe) static var threadCount = 1
    nonisolated(unsafe) private static var sharedPool: WorkerPool?
    private static let poolLock = NSLock()

    /// The worker pool at the current thread count (nil only if threads cannot be created).
    static var pool: WorkerPool? {
        poolLock.withLock {
            if sharedPool?.threads != threadCount { sharedPool = WorkerPool(threads: threadCount) }
            return sharedPool
        }
    }

    /// Runs `body(i)` for i in 0..<iterations on the worker pool (in order on the caller
    /// without one).
    static func parallel(iterations: Int, _ body: (Int) -> Void) {
        if let pool { pool.run(iterations: iterations, body) } else { for i in 0..<iterations { body(i) } }
    }

    /// Iterations of at most this many tokens multiply the weights' own quantized blocks (when
    /// the file has Q4_0, Q4_1 or Q8_0 ones); more go through sgemm on the fp32 copy, whose
    /// packing is then amortized. Our choice, by measurement (`bench cpu`, docs/engine-cpu.md).
    public nonisolated(unsafe) static var quantizedMaxRows = 32

    /// Runs the chunks as one batch, writes their keys and values into the cache, and returns the
    /// logits of the last position of each chunk that wants them, `vocab` floats each, in
    /// chunk order.
    public func forward(_ chunks: [SequenceChunk]) -> [[Float]] {
        let c = config
        let t = chunks.reduce(0) { $0 + $1.tokens.count }
        guard t > 0 else { return [] }
        scratch.reserve(tokens: t, config: c)
        let positions = chunks.flatMap { ch in (0..<ch.tokens.count).map { ch.startPosition + $0 } }
        embed(chunks, into: scratch.x.p)
        ropeTables(positions)
        for layer in 0..<c.numLayers {
            attentionBlock(layer: layer, chunks: chunks, tokens: t)
            mlpBlock(layer: layer, tokens: t)
        }
        return logits(chunks)
    }

    // MARK: phases

    private func embed(_ chunks: [SequenceChunk], into x: UnsafeMutablePointer<Float>) {
        let h = config.hiddenSize
        weights.tokenEmbedding.values.withUnsafeBufferPointer { e in
            var row = 0
            for ch in chunks {
                for tok in ch.tokens {
                    precondition(tok >= 0 && Int(tok) < config.vocabSize, "token id \(tok) outside the vocabulary")
                    (x + row * h).update(from: e.baseAddress! + Int(tok) * h, count: h)
                    row += 1
                }
            }
        }
    }

    /// cos and sin of every (position, pair) of this batch.
    private func ropeTables(_ positions: [Int]) {
        let pairs = ropeInvFreq.count
        for (row, pos) in positions.enumerated() {
            for i in 0..<pairs {
                let angle = Double(pos) * ropeInvFreq[i]
                scratch.cos.p[row * pairs + i] = Float(Foundation.cos(angle))
                scratch.sin.p[row * pairs + i] = Float(Foundation.sin(angle))
            }
        }
    }

    /// x += Wo · attention(RMSNorm(x)).
    private func attentionBlock(layer: Int, chunks: [SequenceChunk], tokens t: Int) {
        let c = config, lw = weights.layers[layer]
        let s = scratch
        rmsNorm(s.x.p, lw.attnNorm, rows: t, width: c.hiddenSize, eps: c.rmsEpsilon, into: s.xn.p)
        gemm(s.xn.p, rows: t, lw.wq, into: s.q.p, accumulate: false)
        gemm(s.xn.p, rows: t, lw.wk, into: s.k.p, accumulate: false)
        gemm(s.xn.p, rows: t, lw.wv, into: s.v.p, accumulate: false)
        applyRoPE(s.q.p, rows: t, heads: c.numHeads)
        applyRoPE(s.k.p, rows: t, heads: c.numKVHeads)
        var row = 0
        var short: [(chunk: Int, firstRow: Int)] = []
        for (index, ch) in chunks.enumerated() {
            ch.blocks.withUnsafeBufferPointer { blocks in
                for i in 0..<ch.tokens.count {
                    cache.store(layer: layer, blocks: blocks, position: ch.startPosition + i,
                                k: s.k.p + (row + i) * c.kvDim, v: s.v.p + (row + i) * c.kvDim)
                }
                if ch.tokens.count > Self.directAttentionMaxTokens { attend(layer: layer, chunk: ch, blocks: blocks, firstRow: row) }
            }
            if ch.tokens.count <= Self.directAttentionMaxTokens { short.append((index, row)) }
            row += ch.tokens.count
        }
        attendShortChunks(layer: layer, chunks: chunks, short)
        gemm(s.attn.p, rows: t, lw.wo, into: s.x.p, accumulate: true)
    }

    /// Softmax(Q·Kᵀ/√d + causal mask)·V for one chunk, every query head, written to its rows of
    /// the attention output. Heads that share a KV head (GQA) share one gather of its context.
    private func attend(layer: Int, chunk: SequenceChunk, blocks: UnsafeBufferPointer<Int32>, firstRow: Int) {
        let c = config, s = scratch, d = c.headDim
        let n = chunk.tokens.count, length = chunk.startPosition + n
        let group = c.numHeads / c.numKVHeads
        let scale = 1 / Float(d).squareRoot()
        s.reserveContext(length, headDim: d, tile: min(n, Self.attentionTileRows))
        for g in 0..<c.numKVHeads {
            cache.gather(layer: layer, blocks: blocks, head: g, length: length, k: s.ctxK.p, v: s.ctxV.p)
            for head in (g * group)..<((g + 1) * group) {
                var tileStart = 0
                while tileStart < n {
                    let rows = min(Self.attentionTileRows, n - tileStart)
                    // Keys beyond the tile's last query are masked for every row: leave them out.
                    let visible = chunk.startPosition + tileStart + rows
                    let q = s.q.p + (firstRow + tileStart) * c.qDim + head * d
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(visible), Int32(d),
                                scale, q, Int32(c.qDim), s.ctxK.p, Int32(d), 0, s.scores.p, Int32(visible))
                    for r in 0..<rows {
                        softmaxRow(s.scores.p + r * visible, visible: chunk.startPosition + tileStart + r + 1, width: visible)
                    }
                    let out = s.attn.p + (firstRow + tileStart) * c.qDim + head * d
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(rows), Int32(d), Int32(visible),
                                1, s.scores.p, Int32(visible), s.ctxV.p, Int32(d), 0, out, Int32(c.qDim))
                    tileStart += rows
                }
            }
        }
    }

    /// Attention of the short chunks (decodes): one task per (chunk, KV head), spread over the
    /// threads; each task writes only its own heads' output and has its own score buffer.
    private func attendShortChunks(layer: Int, chunks: [SequenceChunk], _ short: [(chunk: Int, firstRow: Int)]) {
        guard !short.isEmpty else { return }
        let kvHeads = config.numKVHeads
        let tasks = short.count * kvHeads
        let threads = min(Self.threadCount, tasks)
        let longest = short.reduce(0) { max($0, chunks[$1.chunk].startPosition + chunks[$1.chunk].tokens.count) }
        let work = UnsafeSendable((self, chunks, short))
        Self.parallel(iterations: threads) { thread in
            let (model, chunks, short) = work.value
            let scores = UnsafeMutablePointer<Float>.allocate(capacity: max(1, longest) * min(64, model.config.numHeads / kvHeads))
            defer { scores.deallocate() }
            var task = thread
            while task < tasks {
                let (index, firstRow) = short[task / kvHeads]
                chunks[index].blocks.withUnsafeBufferPointer { blocks in
                    model.attendDirect(layer: layer, chunk: chunks[index], blocks: blocks, firstRow: firstRow, kvHead: task % kvHeads,
                                       scores: scores)
                }
                task += threads
            }
        }
    }

    /// The same attention for a short chunk and the query heads of one KV head, reading keys and
    /// values in place in their blocks (`ab_attend_paged`: each row read once for the whole GQA
    /// group). `scores` holds a group's scores for the longest context.
    private func attendDirect(layer: Int, chunk: SequenceChunk, blocks: UnsafeBufferPointer<Int32>, firstRow: Int, kvHead g: Int,
                              scores: UnsafeMutablePointer<Float>) {
        let c = config, s = scratch, d = c.headDim
        let group = c.numHeads / c.numKVHeads
        let scale = 1 / Float(d).squareRoot()
        let (k, v) = cache.base(layer: layer, head: g)
        for i in 0..<chunk.tokens.count {
            // The kernel takes up to 64 query heads at a time.
            for first in stride(from: 0, to: group, by: 64) {
                let row = (firstRow + i) * c.qDim + (g * group + first) * d
                let rc = ab_attend_paged(s.q.p + row, Int32(d), Int32(min(64, group - first)), Int32(d), k, v, blocks.baseAddress,
                                         cache.blockStride, Int32(cache.blockSize), Int32(chunk.startPosition + i + 1), scale, scores,
                                         s.attn.p + row, Int32(d))
                precondition(rc == 0, "ab_attend_paged rejected its arguments")
            }
        }
    }

    /// x += W_down · (SiLU(W_gate · RMSNorm(x)) ⊙ W_up · RMSNorm(x)).
    private func mlpBlock(layer: Int, tokens t: Int) {
        let c = config, lw = weights.layers[layer], s = scratch
        rmsNorm(s.x.p, lw.ffnNorm, rows: t, width: c.hiddenSize, eps: c.rmsEpsilon, into: s.xn.p)
        gemm(s.xn.p, rows: t, lw.wGate, into: s.gate.p, accumulate: false)
        gemm(s.xn.p, rows: t, lw.wUp, into: s.up.p, accumulate: false)
        // SwiGLU, vectorised and split over the workers (at batch 32 the scalar loop was about 6%
        // of a decode step).
        let n = t * c.intermediateSize, threads = min(Self.threadCount, max(1, n / 4096))
        let gate = UnsafeSendable(s.gate.p), up = UnsafeSendable(s.up.p)
        Self.parallel(iterations: threads) { k in
            let lo = n * k / threads, hi = n * (k + 1) / threads
            ab_silu_mul(gate.value + lo, up.value + lo, hi - lo)
        }
        gemm(s.gate.p, rows: t, lw.wDown, into: s.x.p, accumulate: true)
    }

    /// Final norm and LM head for the last row of each chunk that wants logits.
    private func logits(_ chunks: [SequenceChunk]) -> [[Float]] {
        let c = config, s = scratch, h = c.hiddenSize
        var wanted: [Int] = []
        var row = 0
        for ch in chunks {
            row += ch.tokens.count
            if ch.wantsLogits { wanted.append(row - 1) }
        }
        guard !wanted.isEmpty else { return [] }
        for (i, r) in wanted.enumerated() {
            rmsNorm(s.x.p + r * h, weights.outputNorm, rows: 1, width: h, eps: c.rmsEpsilon, into: s.xn.p + i * h)
        }
        var out = [Float](repeating: 0, count: wanted.count * c.vocabSize)
        out.withUnsafeMutableBufferPointer { o in
            gemm(s.xn.p, rows: wanted.count, weights.lmHead, into: o.baseAddress!, accumulate: false)
        }
        return (0..<wanted.count).map { Array(out[($0 * c.vocabSize)..<(($0 + 1) * c.vocabSize)]) }
    }

    // MARK: kernels

    /// y[rows × w.rows] (+)= x[rows × w.cols] · Wᵀ.
    private func gemm(_ x: UnsafePointer<Float>, rows: Int, _ w: WeightMatrix, into y: UnsafeMutablePointer<Float>,
                      accumulate: Bool) {
        if rows <= Self.quantizedMaxRows, let q = w.quantized {
            return quantizedGemm(x, rows: rows, q, outputs: w.rows, inputs: w.cols, into: y, accumulate: accumulate)
        }
        w.values.withUnsafeBufferPointer { wp in
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(rows), Int32(w.rows), Int32(w.cols), 1,
                        x, Int32(w.cols), wp.baseAddress!, Int32(w.cols), accumulate ? 1 : 0, y, Int32(w.rows))
        }
    }

    /// The C kernel over the file's blocks, output rows split over the threads.
    private func quantizedGemm(_ x: UnsafePointer<Float>, rows: Int, _ q: QuantizedRows, outputs: Int, inputs: Int,
                               into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
        let threads = min(Self.threadCount, max(1, outputs / 64))
        let xs = UnsafeSendable(x), ys = UnsafeSendable(y)
        q.bytes.withUnsafeBytes { raw in
            let w = UnsafeSendable(raw.baseAddress!)
            Self.parallel(iterations: threads) { t in
                let r0 = outputs * t / threads, r1 = outputs * (t + 1) / threads
                let status = ab_quant_gemm(Int32(q.type.rawValue), w.value, Int32(inputs), Int32(r0), Int32(r1), xs.value, Int32(rows),
                                           ys.value, Int32(outputs), accumulate ? 1 : 0)
                precondition(status == 0, "quantized kernel refused \(q.type.name) with \(inputs) inputs")
            }
        }
    }

    private func rmsNorm(_ x: UnsafePointer<Float>, _ weight: [Float], rows: Int, width: Int, eps: Float,
                         into y: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            for r in 0..<rows {
                let xr = x + r * width, yr = y + r * width
                var sum: Float = 0
                for i in 0..<width { sum += xr[i] * xr[i] }
                let inv = 1 / (sum / Float(width) + eps).squareRoot()
                for i in 0..<width { yr[i] = xr[i] * inv * w[i] }
            }
        }
    }

    /// Rotates adjacent pairs (x[2i], x[2i+1]) of each head's first `ropeDim` dimensions.
    private func applyRoPE(_ x: UnsafeMutablePointer<Float>, rows: Int, heads: Int) {
        let d = config.headDim, pairs = ropeInvFreq.count, width = heads * d
        for r in 0..<rows {
            let cs = scratch.cos.p + r * pairs, sn = scratch.sin.p + r * pairs
            for h in 0..<heads {
                let v = x + r * width + h * d
                for i in 0..<pairs {
                    let a = v[2 * i], b = v[2 * i + 1]
                    v[2 * i] = a * cs[i] - b * sn[i]
                    v[2 * i + 1] = a * sn[i] + b * cs[i]
                }
            }
        }
    }

    /// In-place softmax over the first `visible` entries; the rest (masked) become 0.
    private func softmaxRow(_ row: UnsafeMutablePointer<Float>, visible: Int, width: Int) {
        var m = -Float.infinity
        for j in 0..<visible { m = max(m, row[j]) }
        var sum: Float = 0
        for j in 0..<visible {
            let e = Foundation.exp(row[j] - m)
            row[j] = e
            sum += e
        }
        let inv = 1 / sum
        for j in 0..<visible { row[j] *= inv }
        for j in visible..<width { row[j] = 0 }
    }
}

/// Growable scratch buffers of one forward pass, kept between iterations.
final class Scratch {
    final class Buffer {
        private(set) var p = UnsafeMutablePointer<Float>.allocate(capacity: 1)
        private var capacity = 1
        func reserve(_ n: Int) {
            guard n > capacity else { return }
            p.deallocate()
            capacity = max(n, capacity * 3 / 2)
            p = .allocate(capacity: capacity)
        }
        deinit { p.deallocate() }
    }

    let x = Buffer(), xn = Buffer(), q = Buffer(), k = Buffer(), v = Buffer(), attn = Buffer()
    let gate = Buffer(), up = Buffer(), cos = Buffer(), sin = Buffer()
    let ctxK = Buffer(), ctxV = Buffer(), scores = Buffer()

    func reserve(tokens t: Int, config c: LlamaConfig) {
        x.reserve(t * c.hiddenSize)
        xn.reserve(t * c.hiddenSize)
        q.reserve(t * c.qDim)
        attn.reserve(t * c.qDim)
        k.reserve(t * c.kvDim)
        v.reserve(t * c.kvDim)
        gate.reserve(t * c.intermediateSize)
        up.reserve(t * c.intermediateSize)
        cos.reserve(t * c.ropeDim / 2)
        sin.reserve(t * c.ropeDim / 2)
    }

    func reserveContext(_ length: Int, headDim: Int, tile: Int) {
        ctxK.reserve(length * headDim)
        ctxV.reserve(length * headDim)
        scores.reserve(max(1, tile) * length)
    }
}

/// A pointer handed to the kernel's worker threads, which write disjoint rows.
struct UnsafeSendable<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
