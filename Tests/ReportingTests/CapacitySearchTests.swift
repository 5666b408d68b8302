import Foundation
import BenchCore
import Testing
@testable import Reporting

@Suite struct CapacitySearchTests {
    /// A deterministic mock: attainment 0.95 up to `capacity`, 0.5 above.
    func step(_ capacity: Double) -> (Double) -> Double { { $0 <= capacity ? 0.95 : 0.5 } }

    @Test func findsAStepCapacityToTheRequestedPrecision() {
        let r = CapacitySearch(targetAttainment: 0.9).run(start: 1, probe: step(7.3))
        #expect(r.outcome == .found)
        let cap = r.capacityRPS!, fail = r.failingRPS!
        #expect(cap <= 7.3 && fail > 7.3 && (fail - cap) / fail <= 0.025)
        // Bracketing 1, 2, 4, 8 then bisection: a handful of probes.
        #expect(r.probed.prefix(4) == [1, 2, 4, 8] && r.probed.count <= 10)
    }

    @Test func findsASmoothCapacityFromAboveAndBelow() {
        // attainment = 1 / (1 + (r/10)^4): 0.9 at r* = 10 · (1/9)^(1/4).
        let exact = 10 * pow(1.0 / 9, 0.25)
        for start in [0.1, 1, 100, 5000] {
            let r = CapacitySearch(targetAttainment: 0.9).run(start: start) { 1 / (1 + pow($0 / 10, 4)) }
            #expect(r.outcome == .found)
            #expect(r.capacityRPS! <= exact && r.failingRPS! > exact && (r.failingRPS! - r.capacityRPS!) / r.failingRPS! <= 0.025,
                    "start \(start): \(r)")
        }
    }

    @Test func usesKnownGridPointsAndStaysBelowTheLowestFailure() {
        // Noise: 6 fails although 7 passes; the capacity stays below 6.
        let known: [Double: Double] = [2: 1, 4: 0.95, 6: 0.85, 7: 0.92, 8: 0.6]
        var probes: [Double] = []
        let r = CapacitySearch(targetAttainment: 0.9).run(start: 1, known: known) { rate in
            probes.append(rate)
            return rate <= 5 ? 0.93 : 0.8
        }
        #expect(r.outcome == .found && r.capacityRPS! >= 4 && r.capacityRPS! <= 5 && r.failingRPS! <= 6)
        #expect(probes.allSatisfy { $0 > 4 && $0 < 6 })
    }

    @Test func reportsWhenTheCapacityIsOutOfRange() {
        var s = CapacitySearch(targetAttainment: 0.9)
        s.maxRate = 64
        let high = s.run(start: 1) { _ in 1 }
        #expect(high.outcome == .aboveRange && high.capacityRPS == 64 && high.failingRPS == nil)
        let low = CapacitySearch(targetAttainment: 0.9).run(start: 1) { _ in 0 }
        #expect(low.outcome == .belowRange && low.capacityRPS == nil)
    }

    @Test func randomizedCapacitiesAreFound() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SeededRNG(seed: seed)
        for _ in 0..<200 {
            let capacity = CapacitySearch.round(0.05 * pow(10, rng.uniform(0, 5)))
            let start = 0.05 * pow(10, rng.uniform(0, 5))
            let r = CapacitySearch(targetAttainment: 0.9).run(start: start, probe: step(capacity))
            #expect(r.outcome == .found && r.capacityRPS! <= capacity && r.failingRPS! > capacity
                    && (r.failingRPS! - r.capacityRPS!) / r.failingRPS! <= 0.025, "seed \(seed): capacity \(capacity) start \(start) → \(r)")
        }
    }
}
