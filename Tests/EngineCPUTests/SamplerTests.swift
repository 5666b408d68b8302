import BenchCore
import Engine
@testable import EngineCPU
import Foundation
import Testing

/// The lazily sorted sampler draws exactly what a sampler that sorts the whole vocabulary draws.
struct SamplerTests {
    /// The plain definition: sort every id, keep top-k, then the top-p prefix, draw over it.
    static func reference(_ logits: [Float], _ p: SamplingParams, draw: Int) -> Int32 {
        let order = logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        let top = Double(logits[order[0]])
        func q(_ i: Int) -> Double { Foundation.exp((Double(logits[i]) - top) / p.temperature) }
        var kept = logits.count
        var total = 0.0
        if p.topK > 0 && p.topK < logits.count {
            kept = p.topK
            for k in 0..<kept { total += q(order[k]) }
        } else {
            for i in logits.indices { total += q(i) }
        }
        if p.topP < 1 {
            var c = 0.0
            for k in 0..<kept {
                c += q(order[k])
                if c / total >= p.topP { kept = k + 1; break }
            }
            total = c
        }
        var rng = SeededRNG(seed: p.seed, stream: 0x5A4D_504C, index: UInt64(draw))
        let u = rng.uniform() * total
        var acc = 0.0
        for k in 0..<kept {
            acc += q(order[k])
            if u < acc { return Int32(order[k]) }
        }
        return Int32(order[kept - 1])
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
