import BenchCore
import Engine
import Foundation

/// Draws tokens as a request's `SamplingParams` say (greedy, temperature, top-k, top-p, seed).
public enum Sampler {
    public static func argmax(_ logits: [Float]) -> Int32 {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits.enumerated() where v > bestValue {
            best = i
            bestValue = v
        }
        return Int32(best)
    }

    /// Draws one token. `draw` is the request's `draw`-th sampled token (the generator's index),
    /// so a preempted and recomputed request draws the same numbers again.
    ///
    /// Tokens are taken in order of decreasing logit (lower id first among equals); top-k keeps
    /// the first k, top-p the shortest prefix whose probability reaches p, and the draw walks the
    /// kept prefix. Only the tokens that order actually reaches are sorted (`SamplingOrder`):
    /// sorting all 49,152 logits cost milliseconds per token, more than a small model's decode.
    public static func sample(_ logits: [Float], _ p: SamplingParams, draw: Int) -> Int32 {
        guard p.temperature > 0 else { return argmax(logits) }
        var order = SamplingOrder(logits)
        let top = Double(logits[Int(argmax(logits))])
        func q(_ i: Int) -> Double { Foundation.exp((Double(logits[i]) - top) / p.temperature) }
        // The kept tokens: a prefix of the order, and their total weight.
        var kept = logits.count
        var total = 0.0
        if p.topK > 0 && p.topK < logits.count {
            kept = p.topK
            for k in 0..<kept { total += q(order[k]) }
        } else {
            for i in logits.indices { total += q(i) }
        }
        if p.topP < 1 {
            var cumulative = 0.0
            for k in 0..<kept {
                cumulative += q(order[k])
                if cumulative / total >= p.topP { kept = k + 1; break }
            }
            total = cumulative
        }
        let u = p.uniform(forToken: draw) * total
        var acc = 0.0
        for k in 0..<kept {
            acc += q(order[k])
            if u < acc { return Int32(order[k]) }
        }
        return Int32(order[kept - 1])
    }
}

/// Token ids in sampling order (decreasing logit, lower id first among equals), sorted lazily:
/// at first only the ids whose probability is within `firstCutRatio` of the most likely one at
/// temperature 1 or less (a handful, usually), and all of them once a caller reads past those.
/// Every id in the first part precedes every id outside it, so its order is the full order's
/// prefix.
struct SamplingOrder {
    /// The first part's cut, in logits below the largest: ln(10⁴) (our choice; top-p and the
    /// draw rarely walk past tokens 10⁴ times less likely than the first).
    static let firstCutLogits: Float = 9.21
    private let logits: [Float]
    private var sorted: [Int]
    private var complete: Bool

    init(_ logits: [Float]) {
        self.logits = logits
        let cut = (logits.max() ?? 0) - Self.firstCutLogits
        sorted = logits.indices.filter { logits[$0] >= cut }
        complete = sorted.count == logits.count
        sorted.sort(by: precedes)
    }

    private func precedes(_ a: Int, _ b: Int) -> Bool { logits[a] > logits[b] || (logits[a] == logits[b] && a < b) }

    subscript(k: Int) -> Int {
        mutating get {
            if k >= sorted.count && !complete {
                sorted = Array(logits.indices)
                sorted.sort(by: precedes)
                complete = true
            }
            return sorted[k]
        }
    }
}
