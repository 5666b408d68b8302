import BenchCore
import Engine
@testable import EngineCPU
import Foundation
import Testing

/// The lazily sorted sampler draws exactly what a sampler that sorts the whole vocabulary draws.
struct SamplerTests {
    /// The plain definition: sort every id, keep top-k, then the top-p prefix, draw over it.
    /// Written over arrays of (id, weight) pairs in sorted order; its sums run in the same order
    /// as the sampler's, so the draws must be equal, not close.
    static func reference(_ logits: [Float], _ p: SamplingParams, draw: Int) -> Int32 {
        let ranked = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let best = Double(logits[ranked[0]])
        let weight = { (i: Int) in Foundation.exp((Double(logits[i]) - best) / p.temperature) }
        let topKActive = p.topK > 0 && p.topK < logits.count
        var pool: [(id: Int, w: Double)] = ranked.prefix(topKActive ? p.topK : logits.count).map { ($0, weight($0)) }
        var mass = topKActive ? pool.map(\.w).reduce(0, +) : logits.indices.map(weight).reduce(0, +)
        if p.topP < 1 {
            var running = 0.0
            let cut = pool.firstIndex { running += $0.w; return running / mass >= p.topP }
            pool = Array(pool.prefix(cut.map { $0 + 1 } ?? pool.count))
            mass = pool.map(\.w).reduce(0, +)
        }
        var rng = SeededRNG(seed: p.seed, stream: 0x5A4D_504C, index: UInt64(draw))
        let u = rng.uniform() * mass
        var acc = 0.0
        for (id, w) in pool {
            acc += w
            if u < acc { return Int32(id) }
        }
        return Int32(pool[pool.count - 1].id)
    }

    @Test func matchesTheFullSortOnRandomLogits() {
        for seed in UInt64(1)...60 {
            var rng = SeededRNG(seed: seed)
            let n = 200 + Int(rng.next() % 3000)
            let spread = 1 + 20 * rng.uniform()   // flat to peaked distributions
            // Rounded to a coarse grid so that ties occur.
            let logits = (0..<n).map { _ in Float((rng.uniform() * spread * 4).rounded() / 4) }
            let p = SamplingParams(temperature: [0.3, 0.7, 1, 1.5, 4][Int(seed % 5)], topK: [0, 5, 50, n + 1][Int(seed % 4)],
                                   topP: [1, 0.9, 0.5, 0.999][Int(seed / 4 % 4)], seed: seed)
            for d in 0..<8 {
                #expect(Sampler.sample(logits, p, draw: d) == Self.reference(logits, p, draw: d), "seed \(seed), draw \(d)")
            }
        }
    }
}
