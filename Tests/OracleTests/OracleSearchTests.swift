import BenchCore
import Engine
import Foundation
import Testing
import Workloads
@testable import Oracle

/// The default profile shrunk to a tiny KV cache, so schedules of a few requests collide.
func tinyProfile() throws -> HardwareProfile {
    var p = try HardwareProfile.resolve(HardwareProfile.defaultName)
    p.kvCapacityBlocks = 96  // 3,072 tokens: two or three requests at a time
    return p
}

@Suite struct OracleSearchTests {
    @Test func dyadicCoverIsExactAtItsFloorLevel() {
        var rng = SeededRNG(seed: 5, stream: 0xD1AD)
        for trial in 0..<2000 {
            let lo = Int(rng.uniform(0, 5000))
            let hi = lo + Int(rng.uniform(0, 3000))
            let span = [2, 4, 8, 32, 1 << 20][trial % 5]
            let nodes = RelaxationBound.dyadicCover(lo, hi, floorSpan: span)
            let floor = nodes.map(\.level).min()!
            // Rounded out to the floor level, then covered exactly once.
            let first = (lo >> floor) << floor, last = ((hi >> floor) + 1) << floor - 1
            var covered = [Int](repeating: 0, count: last - first + 1)
            for n in nodes {
                for s in (n.index << n.level)..<((n.index + 1) << n.level) {
                    #expect(s >= first && s <= last, "trial \(trial): node outside the range")
                    if s >= first && s <= last { covered[s - first] += 1 }
                }
            }
            #expect(covered.allSatisfy { $0 == 1 }, "trial \(trial): lo \(lo) hi \(hi) span \(span)")
            #expect((last - first + 1) >> floor <= span, "trial \(trial)")
            let levels = Dictionary(grouping: nodes, by: \.level)
            #expect(levels.values.allSatisfy { $0.count <= 2 }, "trial \(trial)")
        }
    }

    /// Exhaustive search over schedules the simulated engine can run on 7 requests: every
    /// admission subset × every policy × dropping missed requests or not. None beats the bound;
    /// the exact MILP optimum lies between the best found and the LP bound.
    @Test func exhaustiveSchedulesNeverBeatTheBound() throws {
        let profile = try tinyProfile()
        for seed in UInt64(31)...33 {
            let reqs = randomWorkload(seed: seed, n: 7, rate: 25)
            let lp = RelaxationBound.solve(reqs, profile: profile)
            var o = RelaxationBound.Options()
            o.integral = true
            o.timeLimitS = 60
            let ip = RelaxationBound.solve(reqs, profile: profile, options: o)
            #expect(lp.solution.status == .optimal && ip.solution.status == .optimal, "seed \(seed)")
            var best = 0
            for mask in 0..<(1 << reqs.count) {
                let admitted = Set(reqs.indices.filter { mask & (1 << $0) != 0 }.map { reqs[$0].id })
                for policy in PolicyName.allCases {
                    for drop in [false, true] {
                        let s = try FeasibleSchedule.simulate(reqs, profile: profile, policy: policy, admitted: admitted,
                                                              dropMissed: drop, weight: { _ in 1 })
                        best = max(best, s.metRequests)
                        #expect(Double(s.metRequests) <= lp.metRequests + 1e-6, "seed \(seed): \(policy) on \(admitted.sorted()) met \(s.metRequests) > U \(lp.metRequests)")
                    }
                }
            }
            let found = try FeasibleSchedule.search(reqs, profile: profile, served: lp.served, weight: { _ in 1 })
            #expect(Double(best) <= ip.metRequests + 1e-6, "seed \(seed): exhaustive \(best) > MILP \(ip.metRequests)")
            #expect(Double(found.metRequests) <= ip.metRequests + 1e-6, "seed \(seed): L \(found.metRequests) > MILP \(ip.metRequests)")
            // The local search over admission reaches the best of every subset × policy here.
            #expect(found.metRequests == best, "seed \(seed): L \(found.metRequests), exhaustive best \(best)")
            #expect(ip.metRequests <= lp.metRequests + 1e-6, "seed \(seed): MILP \(ip.metRequests) > U \(lp.metRequests)")
            print(String(format: "oracle exhaustive, seed %llu: L %d, exhaustive best %d, MILP %.0f, U %.2f", seed, found.metRequests, best, ip.metRequests, lp.metRequests))
        }
    }

    /// The first requests of every shipped workload: no policy beats the bound, and the
    /// feasible schedule's value is what it reports.
    @Test(arguments: ["mixed-slo", "mixed-slo-short", "long-prompt", "azure-conv", "azure-code", "interactive-batch", "mooncake", "smoke"])
    func everyPolicyStaysUnderTheBoundOnShippedWorkloads(name: String) throws {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        let specPath = url.appendingPathComponent("workloads/\(name).yaml").path
        let spec = try WorkloadSpec.load(path: specPath)
        let requests = try WorkloadGenerator(spec: spec, specFile: specPath).generate(GenerateOptions(count: 120)).requests
        let profile = try HardwareProfile.resolve(HardwareProfile.defaultName)
        let bound = RelaxationBound.solve(requests, profile: profile)
        #expect(bound.solution.status == .optimal, "\(name)")
        for policy in PolicyName.allCases {
            let got = try metByPolicy(policy, requests, profile: profile)
            #expect(Double(got.requests) <= bound.metRequests + 1e-6, "\(name), \(policy): \(got.requests) > U \(bound.metRequests)")
        }
        let schedule = try FeasibleSchedule.search(requests, profile: profile, served: bound.served, weight: { _ in 1 })
        #expect(Double(schedule.metRequests) <= bound.metRequests + 1e-6, "\(name)")
        let again = try FeasibleSchedule.simulate(requests, profile: profile, policy: schedule.policy, admitted: Set(schedule.admitted),
                                                  dropMissed: schedule.dropMissed, weight: { _ in 1 })
        #expect(again.iterationsSHA256 == schedule.iterationsSHA256 && again.metRequests == schedule.metRequests, "\(name)")
    }
}
