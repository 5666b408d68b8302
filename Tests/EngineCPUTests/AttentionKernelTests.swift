import BenchCore
import CKernels
import Foundation
import Testing

/// `ab_attend_paged` (the decode attention kernel) against the definition computed in Double:
/// GQA groups, scattered blocks, contexts that are not multiples of 8 or of the block size, and a
/// head size that is not a multiple of 8 (the plain C path).
struct AttentionKernelTests {
    @Test func matchesTheDefinition() {
        for seed in UInt64(1)...12 {
            var rng = SeededRNG(seed: seed)
            let d = [8, 12, 64, 72][Int(seed % 4)], group = [1, 3, 4, 7][Int(seed / 4 % 4)], bs = [1, 4, 16][Int(seed % 3)]
            let visible = 1 + Int(rng.next() % 70)
            let blocksNeeded = (visible + bs - 1) / bs, pool = blocksNeeded + 5
            // A pool of blocks; the sequence uses a shuffled subset.
            var ids = Array(0..<pool).map { Int32($0) }
            for i in stride(from: ids.count - 1, to: 0, by: -1) { ids.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            let blockIDs = Array(ids.prefix(blocksNeeded))
            let stride = bs * d
            let k = (0..<(pool * stride)).map { _ in Float(rng.uniform() * 2 - 1) }
            let v = (0..<(pool * stride)).map { _ in Float(rng.uniform() * 2 - 1) }
            let q = (0..<(group * d)).map { _ in Float(rng.uniform() * 4 - 2) }
            let scale = 1 / Float(d).squareRoot()
            var out = [Float](repeating: .nan, count: group * d)
            var scores = [Float](repeating: 0, count: group * visible)
            let rc = ab_attend_paged(q, Int32(d), Int32(group), Int32(d), k, v, blockIDs, stride, Int32(bs), Int32(visible), scale,
                                     &scores, &out, Int32(d))
            #expect(rc == 0)
            for h in 0..<group {
                func row(_ base: [Float], _ j: Int) -> ArraySlice<Float> {
                    let o = Int(blockIDs[j / bs]) * stride + (j % bs) * d
                    return base[o..<(o + d)]
                }
                let qh = Array(q[(h * d)..<((h + 1) * d)])
                var s: [Double] = []
                for j in 0..<visible {
                    let kj = Array(row(k, j))
                    var dot = 0.0
                    for i in 0..<d { dot += Double(qh[i]) * Double(kj[i]) }
                    s.append(dot * Double(scale))
                }
                let m = s.max()!
                let e = s.map { Foundation.exp($0 - m) }
                let total = e.reduce(0, +)
                let vs = (0..<visible).map { Array(row(v, $0)) }
                for i in 0..<d {
                    var expected = 0.0
                    for j in 0..<visible { expected += e[j] / total * Double(vs[j][i]) }
                    #expect(abs(Double(out[h * d + i]) - expected) < 2e-5, "seed \(seed): head \(h) dim \(i)")
                }
            }
        }
    }

    @Test func rejectsBadArguments() {
        var out = [Float](repeating: 0, count: 8), scores = [Float](repeating: 0, count: 8)
        let q = [Float](repeating: 1, count: 8), kv = [Float](repeating: 1, count: 8), ids: [Int32] = [0]
        #expect(ab_attend_paged(q, 8, 65, 8, kv, kv, ids, 8, 1, 1, 1, &scores, &out, 8) == -1)
        #expect(ab_attend_paged(q, 8, 1, 8, kv, kv, ids, 8, 1, 0, 1, &scores, &out, 8) == -1)
    }
}
