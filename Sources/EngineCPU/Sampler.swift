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
    public static func sample(_ logits: [Float], _ p: SamplingParams, draw: Int) -> Int32 {
        guard p.temperature > 0 else { return argmax(logits) }
        var order = Array(0..<logits.count)
        order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        if p.topK > 0 && p.topK < order.count { order.removeSubrange(p.topK...) }
        let top = Double(logits[order[0]])
        var probs = order.map { Foundation.exp((Double(logits[$0]) - top) / p.temperature) }
        let total = probs.reduce(0, +)
        if p.topP < 1 {
            var cumulative = 0.0
            var keep = probs.count
            for (i, q) in probs.enumerated() {
                cumulative += q / total
                if cumulative >= p.topP { keep = i + 1; break }
            }
            probs.removeSubrange(keep...)
            order.removeSubrange(keep...)
        }
        var rng = SeededRNG(seed: p.seed, stream: 0x5A4D_504C, index: UInt64(draw))
        let u = rng.uniform() * probs.reduce(0, +)
        var acc = 0.0
        for (i, q) in probs.enumerated() {
            acc += q
            if u < acc { return Int32(order[i]) }
        }
        return Int32(order[order.count - 1])
    }
}
