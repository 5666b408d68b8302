/// Additive description of one iteration's work, accumulated by schedulers as they add requests.
public struct IterationLoad: Sendable, Equatable {
    /// New tokens this iteration: prefill chunk tokens + one per decode.
    public var tokens: Int = 0
    public var numSequences: Int = 0
    /// Σ over prefill chunks of n × (context + (n + 1) / 2): causal query-key pairs.
    public var prefillAttentionPairs: Double = 0
    /// Σ over prefill chunks of their pairs ÷ (context + n), the keys the chunk's last query
    /// sees: with `prefillAttentionPairs`, what a rate that depends on length needs
    /// (`HardwareProfile.attentionHalfTokens`).
    public var prefillPairsPerKey: Double = 0
    /// Σ over decodes of the context length attended to (KV read).
    public var decodeContextTokens: Int = 0
    /// Σ over prefill chunks of the cached context they attend to (KV read from HBM). An addition
    /// to the agreed API: it lets the model count the memory traffic of a short chunk against a
    /// long cached prefix.
    public var prefillContextTokens: Int = 0

    public init() {}

    /// A prefill chunk of `newTokens` prompt tokens; `contextTokens` = tokens already computed
    /// before this chunk (cached prefix or earlier chunks). A chunk of no tokens adds nothing.
    public mutating func addPrefill(newTokens: Int, contextTokens: Int) {
        guard newTokens > 0 else { return }
        let n = Double(newTokens)
        tokens += newTokens
        numSequences += 1
        let pairs = n * (Double(max(contextTokens, 0)) + (n + 1) / 2)
        prefillAttentionPairs += pairs
        prefillPairsPerKey += pairs / (Double(max(contextTokens, 0)) + n)
        prefillContextTokens += max(contextTokens, 0)
    }

    /// One decode step of a sequence whose new token attends to `contextTokens` tokens.
    public mutating func addDecode(contextTokens: Int) {
        tokens += 1
        numSequences += 1
        decodeContextTokens += max(contextTokens, 0)
    }

    public static func + (a: IterationLoad, b: IterationLoad) -> IterationLoad {
        var s = a
        s.tokens += b.tokens
        s.numSequences += b.numSequences
        s.prefillAttentionPairs += b.prefillAttentionPairs
        s.prefillPairsPerKey += b.prefillPairsPerKey
        s.decodeContextTokens += b.decodeContextTokens
        s.prefillContextTokens += b.prefillContextTokens
        return s
    }
}

/// Predicted duration of one iteration on a `HardwareProfile`:
///
///     time = linear(tokens) + attention + allReduce(tokens) + perSequence(sequences) + overhead
///                                                                              (0 for an empty load)
///
/// - **linear**: the profile's measured non-attention table (Vidur's per-operator medians,
///   summed over layers, plus the embedding), made monotone and interpolated — see
///   `linearSeconds(tokens:)`.
/// - **attention**, from first principles because Vidur's attention profiles are not in the
///   shared data. Per phase, the larger of a compute time and a memory time (a roofline), and
///   the two phases *summed* (prefill and decode attention run as separate kernels in vLLM's
///   FlashAttention backends, so they do not overlap):
///   - prefill compute: 4 · pairs · headDim · numHeads FLOPs per layer (QKᵀ and PV, two FLOPs per
///     multiply-add; `pairs` = causal query-key pairs), × layers / TP, at
///     `peakTFLOPs × attentionEfficiency × L / (L + attentionHalfTokens)` for a chunk whose
///     queries see L keys (a constant rate when `attentionHalfTokens` is 0);
///   - prefill memory: the cached context's K and V read once per chunk,
///     `prefillContextTokens × kvBytesPerTokenPerGPU` at `memoryBandwidthGBps`;
///   - decode memory: `decodeContextTokens × kvBytesPerTokenPerGPU` (K and V × KV heads per GPU
///     × headDim × 2 bytes × layers) at `memoryBandwidthGBps`;
///   - decode compute: 4 · context · headDim · numHeads per layer / TP at the same attention
///     rate (always below the memory time for these models; kept for completeness).
///   The bandwidth is the datasheet figure, so decode attention is an optimistic bound.
/// - **allReduce**: tensor parallelism all-reduces the hidden states twice per layer (after the
///   attention output projection and after the MLP down projection), each `tokens × hiddenSize
///   × 2` bytes; one all-reduce's time is interpolated from the profile's measured table (made
///   monotone like the linear table). Zero for TP 1.
/// - **perSequence**: the profile's per-sequence table (`sequenceMs`; the LM head row and
///   sampling of each sequence, measured on CPUs), made monotone and interpolated like the linear
///   table. Zero for profiles without one.
/// - **overhead**: `profile.overheadMs`, once per non-empty iteration.
public struct IterationTimeModel: Sendable {
    public let profile: HardwareProfile

    // Monotone (isotonic) copies of the measured tables, and the slopes used beyond them.
    let linearX: [Double]
    let linearY: [Double]   // seconds
    let linearTailSlope: Double  // seconds per token
    let reduceX: [Double]   // bytes
    let reduceY: [Double]   // seconds
    let reduceTailSlope: Double  // seconds per byte
    let sequenceX: [Double]
    let sequenceY: [Double]  // seconds
    let sequenceTailSlope: Double  // seconds per sequence
    let allReducesPerIteration: Double
    let allReduceBytesPerToken: Double
    let attentionSecondsPerPair: Double     // prefill compute, whole model, per query-key pair
    let kvReadSecondsPerToken: Double       // one cached token's K and V, all layers, one GPU

    /// Decode attention per token of context, seconds: a decode step attending to c tokens costs
    /// exactly c times this (the roofline max of two terms linear in c), and batches add up.
    public var decodeAttentionSecondsPerContextToken: Double { max(attentionSecondsPerPair, kvReadSecondsPerToken) }
    /// Prefill attention per query-key pair at the long-sequence rate, seconds: every chunk costs
    /// at least its pairs times this (the oracle's lower bound).
    public var prefillAttentionSecondsPerPair: Double { attentionSecondsPerPair }
    let overheadSeconds: Double

    /// Largest token count `maxTokens(within:base:)` reports (16 Mi tokens).
    public static let maxTokensCap = 1 << 24

    public init(profile: HardwareProfile) {
        self.profile = profile
        let m = profile.model
        let tp = Double(max(profile.tensorParallel, 1))

        linearX = profile.linearTokens.map(Double.init)
        linearY = TableMath.isotonic(profile.linearMs).map { $0 / 1000 }
        linearTailSlope = TableMath.tailSlope(x: linearX, y: profile.linearMs.map { $0 / 1000 })

        if profile.tensorParallel > 1, !profile.allReduceBytes.isEmpty {
            reduceX = profile.allReduceBytes
            reduceY = TableMath.isotonic(profile.allReduceMs).map { $0 / 1000 }
            reduceTailSlope = TableMath.tailSlope(x: reduceX, y: profile.allReduceMs.map { $0 / 1000 })
        } else {
            reduceX = []
            reduceY = []
            reduceTailSlope = 0
        }
        sequenceX = profile.sequenceCounts.map(Double.init)
        sequenceY = TableMath.isotonic(profile.sequenceMs).map { $0 / 1000 }
        sequenceTailSlope = sequenceX.isEmpty ? 0 : TableMath.tailSlope(x: sequenceX, y: profile.sequenceMs.map { $0 / 1000 })
        allReducesPerIteration = 2 * Double(m.numLayers)
        allReduceBytesPerToken = Double(m.hiddenSize) * 2

        let attentionFLOPsPerPair = 4 * Double(m.headDim) * Double(m.numHeads) * Double(m.numLayers) / tp
        attentionSecondsPerPair = attentionFLOPsPerPair / (profile.peakTFLOPs * 1e12 * profile.attentionEfficiency)
        kvReadSecondsPerToken = profile.kvBytesPerTokenPerGPU / (profile.memoryBandwidthGBps * 1e9)
        overheadSeconds = profile.overheadMs / 1000
    }

    /// Total predicted iteration time, seconds (0 for an empty load).
    public func seconds(_ load: IterationLoad) -> Double {
        if load.tokens <= 0, load.numSequences <= 0 { return 0 }
        return seconds(load, tokenTermsS: tokenTermsSeconds(tokens: load.tokens))
    }

    /// The terms of `seconds(_:)` that depend on the token count alone (linear + all-reduce),
    /// which a caller may keep while only the context changes (settled decode steps).
    public func tokenTermsSeconds(tokens: Int) -> Double {
        linearSeconds(tokens: tokens) + allReduceSeconds(tokens: tokens)
    }

    /// `seconds(_:)` of a non-empty load, given `tokenTermsSeconds(tokens: load.tokens)`.
    @inline(__always)
    public func seconds(_ load: IterationLoad, tokenTermsS: Double) -> Double {
        tokenTermsS + attentionSeconds(load) + sequenceSeconds(load.numSequences) + overheadSeconds
    }

    /// The per-sequence term for `count` sequences, seconds (0 without a per-sequence table).
    public func sequenceSeconds(_ count: Int) -> Double {
        guard count > 0, !sequenceX.isEmpty else { return 0 }
        return TableMath.interpolate(Double(count), x: sequenceX, y: sequenceY, tailSlope: sequenceTailSlope)
    }

    /// The four terms of `seconds(_:)`, seconds (all 0 for an empty load).
    public func breakdown(_ load: IterationLoad) -> (linear: Double, attention: Double, allReduce: Double, overhead: Double) {
        if load.tokens <= 0, load.numSequences <= 0 { return (0, 0, 0, 0) }
        return (linearSeconds(tokens: load.tokens), attentionSeconds(load), allReduceSeconds(tokens: load.tokens),
                sequenceSeconds(load.numSequences) + overheadSeconds)
    }

    /// Non-attention GPU time of an iteration of `tokens` tokens, seconds (0 for none).
    ///
    /// The measured table is noisy (for H100 + Llama-2-7B, 96 tokens measure 7.30 ms and 128
    /// tokens 6.37 ms), and a scheduler must never see more tokens predicted faster, so the model
    /// uses the table's isotonic regression — the least-squares non-decreasing fit
    /// (pool-adjacent-violators) — and interpolates it linearly. Below the first measured count
    /// the first value holds (the flat, weight-read-bound region). Beyond the last, it continues
    /// from the last fitted value with the least-squares slope of the raw table's top half of
    /// the token range (e.g. 2048–4096 tokens): the last few points alone are too noisy to give
    /// a slope.
    public func linearSeconds(tokens: Int) -> Double {
        guard tokens > 0 else { return 0 }
        return TableMath.interpolate(Double(tokens), x: linearX, y: linearY, tailSlope: linearTailSlope)
    }

    /// Time of all the all-reduces of an iteration of `tokens` tokens, seconds (0 for TP 1).
    public func allReduceSeconds(tokens: Int) -> Double {
        guard tokens > 0, !reduceX.isEmpty else { return 0 }
        let bytes = Double(tokens) * allReduceBytesPerToken
        return allReducesPerIteration * TableMath.interpolate(bytes, x: reduceX, y: reduceY, tailSlope: reduceTailSlope)
    }

    /// Attention time of `load` (prefill + decode, each the roofline max of compute and memory).
    public func attentionSeconds(_ load: IterationLoad) -> Double {
        // At L keys the rate is the long-sequence rate × L / (L + half): each chunk's time is its
        // pairs × (1 + half / L) at the long-sequence rate.
        let prefill = max((load.prefillAttentionPairs + profile.attentionHalfTokens * load.prefillPairsPerKey) * attentionSecondsPerPair,
                          Double(load.prefillContextTokens) * kvReadSecondsPerToken)
        let decodeContext = Double(load.decodeContextTokens)
        let decode = max(decodeContext * attentionSecondsPerPair, decodeContext * kvReadSecondsPerToken)
        return prefill + decode
    }

    /// The largest token count N whose predicted time — linear(N) + all-reduce(N) + overhead,
    /// plus the attention already in `base` — fits in `seconds`. N is the iteration's *total*
    /// token count (it includes `base.tokens`; the room left is `N - base.tokens`, which is
    /// negative when `base` alone does not fit), directly comparable with AccelGen's
    /// S_b = S_pf × SLO_min / T_pf. Attention of tokens not yet in `base` is not counted.
    /// Returns 0 when not even one token fits, and at most `maxTokensCap`.
    public func maxTokens(within seconds: Double, base: IterationLoad) -> Int {
        guard seconds > 0 else { return 0 }
        // Evaluated with `seconds(_:)` itself, so that callers checking the answer with it get
        // exactly the same arithmetic.
        var load = base
        func fits(_ n: Int) -> Bool {
            load.tokens = n
            return self.seconds(load) <= seconds
        }
        guard fits(1) else { return 0 }
        var lo = 1  // fits
        var hi = 2
        while hi <= IterationTimeModel.maxTokensCap, fits(hi) {
            lo = hi
            hi *= 2
        }
        if hi > IterationTimeModel.maxTokensCap { return IterationTimeModel.maxTokensCap }
        // invariant: fits(lo), !fits(hi)
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if fits(mid) { lo = mid } else { hi = mid }
        }
        return lo
    }
}

/// Table helpers shared by the time model and the profile builder.
enum TableMath {
    /// Isotonic (non-decreasing) least-squares regression with equal weights:
    /// pool-adjacent-violators.
    static func isotonic(_ y: [Double]) -> [Double] {
        var sums: [Double] = []
        var counts: [Int] = []
        sums.reserveCapacity(y.count)
        counts.reserveCapacity(y.count)
        for v in y {
            sums.append(v)
            counts.append(1)
            while sums.count > 1,
                  sums[sums.count - 2] / Double(counts[counts.count - 2]) > sums[sums.count - 1] / Double(counts[counts.count - 1]) {
                let s = sums.removeLast()
                let c = counts.removeLast()
                sums[sums.count - 1] += s
                counts[counts.count - 1] += c
            }
        }
        var out: [Double] = []
        out.reserveCapacity(y.count)
        for (s, c) in zip(sums, counts) {
            out.append(contentsOf: repeatElement(s / Double(c), count: c))
        }
        return out
    }

    /// Slope for extrapolating beyond the last point: least squares over the points in the top
    /// half of the x range (x ≥ x_max / 2); the last two points when that half holds fewer than
    /// two; y/x of the only point for a one-point table. Never negative (a non-positive fit falls
    /// back to y_last / x_last), so extrapolated times keep growing.
    static func tailSlope(x: [Double], y: [Double]) -> Double {
        guard let xLast = x.last, let yLast = y.last else { return 0 }
        let fallback = xLast > 0 ? max(yLast / xLast, 0) : 0
        var idx = x.indices.filter { x[$0] >= xLast / 2 }
        if idx.count < 2 {
            guard x.count >= 2 else { return fallback }
            idx = [x.count - 2, x.count - 1]
        }
        let n = Double(idx.count)
        let mx = idx.reduce(0) { $0 + x[$1] } / n
        let my = idx.reduce(0) { $0 + y[$1] } / n
        var sxy = 0.0
        var sxx = 0.0
        for i in idx {
            sxy += (x[i] - mx) * (y[i] - my)
            sxx += (x[i] - mx) * (x[i] - mx)
        }
        guard sxx > 0 else { return fallback }
        let slope = sxy / sxx
        return slope > 0 ? slope : fallback
    }

    /// Linear interpolation in an ascending table (exact at the table's points); the first value
    /// below it, the last value plus `tailSlope` × distance above it.
    @inline(__always)
    static func interpolate(_ q: Double, x: [Double], y: [Double], tailSlope: Double) -> Double {
        let n = x.count
        if n == 0 { return 0 }
        if q <= x[0] { return y[0] }
        if q >= x[n - 1] { return y[n - 1] + tailSlope * (q - x[n - 1]) }
        // first index with x[i] >= q (1 ≤ i ≤ n - 1)
        var lo = 1
        var hi = n - 1
        while lo < hi {
            let mid = (lo + hi) >> 1
            if x[mid] < q { lo = mid + 1 } else { hi = mid }
        }
        if x[lo] == q { return y[lo] }
        let x0 = x[lo - 1], x1 = x[lo]
        let y0 = y[lo - 1], y1 = y[lo]
        // Clamped so that rounding can never make the result leave [y0, y1]: the interpolant
        // stays non-decreasing across segment boundaries.
        return min(max(y0 + (y1 - y0) * ((q - x0) / (x1 - x0)), y0), y1)
    }
}
