import BenchCore
import Foundation
import Engine
import Testing
@testable import Oracle

/// A seeded workload of `n` requests whose SLOs are tight enough that schedulers miss some.
func randomWorkload(seed: UInt64, n: Int, rate: Double) -> [WorkloadRequest] {
    var rng = SeededRNG(seed: seed, stream: 0x0AC1)
    var t = 0.0
    var out: [WorkloadRequest] = []
    for i in 0..<n {
        t += -log(rng.uniformPositive()) / rate
        let kind = rng.uniform()
        if kind < 0.6 {
            out.append(WorkloadRequest(id: i, arrivalS: t, className: "chat", promptTokens: Int(rng.uniform(32, 2048)),
                                       outputTokens: Int(rng.uniform(2, 96)),
                                       slo: SLO(ttftMs: rng.uniform(40, 400), tbtMs: rng.uniform(12, 60))))
        } else if kind < 0.85 {
            out.append(WorkloadRequest(id: i, arrivalS: t, className: "batch", promptTokens: Int(rng.uniform(256, 3000)),
                                       outputTokens: Int(rng.uniform(8, 128)), slo: SLO(jctS: rng.uniform(0.3, 4))))
        } else {
            out.append(WorkloadRequest(id: i, arrivalS: t, className: "ttft-only", promptTokens: Int(rng.uniform(16, 1024)),
                                       outputTokens: Int(rng.uniform(1, 64)), slo: SLO(ttftMs: rng.uniform(20, 200))))
        }
    }
    return out
}

/// Requests that met their SLOs when `policy` ran the workload on the simulated engine.
func metByPolicy(_ policy: PolicyName, _ requests: [WorkloadRequest], profile: HardwareProfile) throws -> (requests: Int, tokens: Int) {
    let engine = EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile))
    var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile))
    var met = 0, tokens = 0
    _ = try driver.run(requests.map { EngineRequest($0) }, onIteration: { _ in }, onDone: { r in
        let rec = r.record()
        if rec.metSLO {
            met += 1
            tokens += rec.outputTokens
        }
    })
    return (met, tokens)
}

@Suite struct RelaxationBoundTests {
    let profile = try! HardwareProfile.resolve(HardwareProfile.defaultName)

    @Test func theIterationLowerBoundIsBelowTheModel() {
        let model = IterationTimeModel(profile: profile)
        let cap = profile.kvCapacityBlocks * profile.blockSizeTokens
        let lb = IterationTimeLowerBound(model: model, maxTokens: cap)
        #expect(lb.lines.count >= 2)
        var n = 1
        while n <= cap {
            var load = IterationLoad()
            load.addDecode(contextTokens: 0)
            load.tokens = n
            #expect(lb.atLeast(tokens: n) <= model.seconds(load) + 1e-12, "n = \(n)")
            n += max(1, n / 7)
        }
        // Tight at one token, and attention only adds time.
        var one = IterationLoad()
        one.addDecode(contextTokens: 0)
        #expect(abs(lb.atLeast(tokens: 1) - model.seconds(one)) < 1e-12)
        var prefill = IterationLoad()
        prefill.addPrefill(newTokens: 3000, contextTokens: 500)
        #expect(lb.atLeast(tokens: 3000) <= model.seconds(prefill))
    }

    @Test func everyPolicyStaysUnderTheBound() throws {
        for seed in UInt64(1)...6 {
            let reqs = randomWorkload(seed: seed, n: 12 + Int(seed) * 6, rate: 6 + Double(seed) * 3)
            for objective in OracleObjective.allCases {
                var o = RelaxationBound.Options()
                o.objective = objective
                let bound = RelaxationBound.solve(reqs, profile: profile, options: o)
                #expect(bound.solution.status == .optimal, "seed \(seed)")
                var best = 0.0
                let upper = objective == .requests ? bound.metRequests : bound.metTokens
                for policy in PolicyName.allCases {
                    let got = try metByPolicy(policy, reqs, profile: profile)
                    let achieved = objective == .requests ? Double(got.requests) : Double(got.tokens)
                    best = max(best, achieved)
                    #expect(achieved <= upper + 1e-6, "seed \(seed), \(policy), \(objective): \(achieved) > bound \(upper)")
                }
                print(String(format: "oracle bound, seed %llu, %@: best policy %.0f, bound %.2f, %d requests", seed, objective.rawValue, best, upper, reqs.count))
            }
        }
    }

    @Test func theIntegralOptimumLiesUnderTheLPBound() throws {
        for seed in UInt64(11)...14 {
            let reqs = randomWorkload(seed: seed, n: 10, rate: 20)
            var o = RelaxationBound.Options()
            let lp = RelaxationBound.solve(reqs, profile: profile, options: o)
            o.integral = true
            o.timeLimitS = 60
            let ip = RelaxationBound.solve(reqs, profile: profile, options: o)
            #expect(lp.solution.status == .optimal && ip.solution.status == .optimal, "seed \(seed)")
            #expect(ip.metRequests <= lp.metRequests + 1e-6, "seed \(seed)")
            #expect(ip.served.allSatisfy { abs($0 - $0.rounded()) < 1e-6 }, "seed \(seed)")
            // And no policy beats the integral optimum either (it is still a relaxation).
            for policy in PolicyName.allCases {
                #expect(Double(try metByPolicy(policy, reqs, profile: profile).requests) <= ip.metRequests + 1e-6, "seed \(seed), \(policy)")
            }
        }
    }

    /// Where the KV cache is what binds (a tiny cache, decodes of 1,000-token prompts that must
    /// overlap to meet their JCTs) and where prefill attention does (100K-token prompts whose TTFT
    /// the linear layers alone would meet), each new part of the relaxation lowers U, and no policy beats the lower U.
    @Test func kvResidencyAndPrefillAttentionTightenTheBound() throws {
        let tiny = try tinyProfile()
        let decodes = (0..<12).map { i in
            WorkloadRequest(id: i, arrivalS: Double(i) * 0.001, className: "batch", promptTokens: 1000, outputTokens: 200, slo: SLO(jctS: 2.5))
        }
        var prompts: [WorkloadRequest] = []
        for i in 0..<3 {
            prompts.append(WorkloadRequest(id: i, arrivalS: Double(i) * 10, className: "chat", promptTokens: 100_000, outputTokens: 2,
                                           slo: SLO(ttftMs: 4000)))
        }
        for (name, reqs, profile, off) in [("kv", decodes, tiny, \RelaxationBound.Options.kvResidency),
                                            ("attention", prompts, profile, \RelaxationBound.Options.prefillAttention)] {
            var without = RelaxationBound.Options()
            without[keyPath: off] = false
            let loose = RelaxationBound.solve(reqs, profile: profile, options: without)
            let tight = RelaxationBound.solve(reqs, profile: profile)
            #expect(loose.solution.status == .optimal && tight.solution.status == .optimal, "\(name)")
            #expect(tight.metRequests < loose.metRequests - 0.1, "\(name): U \(tight.metRequests) with, \(loose.metRequests) without")
            for policy in PolicyName.allCases {
                let met = try metByPolicy(policy, reqs, profile: profile).requests
                #expect(Double(met) <= tight.metRequests + 1e-6, "\(name), \(policy): \(met) > U \(tight.metRequests)")
            }
            print(String(format: "oracle %@: U %.2f with the rows, %.2f without", name, tight.metRequests, loose.metRequests))
        }
    }

    @Test func splittingIntoSegmentsOnlyLoosensTheBound() throws {
        let reqs = randomWorkload(seed: 21, n: 40, rate: 12)
        let whole = RelaxationBound.solve(reqs, profile: profile)
        var o = RelaxationBound.Options()
        o.segmentVariables = 300
        let split = RelaxationBound.solve(reqs, profile: profile, options: o)
        #expect(whole.solution.status == .optimal && split.solution.status == .optimal)
        #expect(split.solution.solver.contains("segments"))
        #expect(split.metRequests >= whole.metRequests - 1e-6)
        for policy in PolicyName.allCases {
            #expect(Double(try metByPolicy(policy, reqs, profile: profile).requests) <= split.metRequests + 1e-6, "\(policy)")
        }
    }

    /// A segment that a schedule meets whole is not solved, and its bound is what the solve
    /// gives; a schedule that misses one of its requests spares nothing.
    @Test func aSegmentAScheduleMeetsWholeNeedsNoSolve() throws {
        let reqs = randomWorkload(seed: 23, n: 40, rate: 0.5)
        var o = RelaxationBound.Options()
        o.segmentVariables = 300
        let solved = RelaxationBound.solve(reqs, profile: profile, options: o)
        #expect(solved.solution.status == .optimal && solved.segments > 1 && solved.attainedSegments == 0)
        let schedules = try FeasibleSchedule.admittingAll(reqs, profile: profile) { _ in 1 }
        let met = schedules.map { Set($0.metIDs) }
        let shortcut = RelaxationBound.solve(reqs, profile: profile, options: o, attainedBy: met)
        #expect(shortcut.solution.status == .optimal)
        #expect(shortcut.attainedSegments > 0, "no segment attained: \(schedules.map(\.metRequests)) of \(reqs.count)")
        #expect(abs(shortcut.metRequests - solved.metRequests) < 1e-6, "U \(shortcut.metRequests) with the shortcut, \(solved.metRequests) solved")
        for (a, b) in zip(shortcut.served, solved.served) { #expect(abs(a - b) < 1e-6) }
        // Every request but one met: the segment holding it must be solved.
        let one = try #require(schedules.flatMap(\.metIDs).min())
        let allButOne = Set(reqs.map(\.id)).subtracting([one])
        let partial = RelaxationBound.solve(reqs, profile: profile, options: o, attainedBy: [allButOne])
        #expect(partial.attainedSegments == solved.segments - 1)
    }

    @Test func impossibleSLOsAndRequestsWithoutSLOs() {
        let reqs = [
            // 4,000 prompt tokens cannot finish their prefill in 1 ms.
            WorkloadRequest(id: 0, arrivalS: 0, className: "x", promptTokens: 4000, outputTokens: 4, slo: SLO(ttftMs: 1)),
            // No SLO: always counted.
            WorkloadRequest(id: 1, arrivalS: 0.1, className: "y", promptTokens: 10, outputTokens: 4),
            // Easy.
            WorkloadRequest(id: 2, arrivalS: 0.2, className: "x", promptTokens: 10, outputTokens: 4, slo: SLO(ttftMs: 500, tbtMs: 100)),
        ]
        let b = RelaxationBound.solve(reqs, profile: profile)
        #expect(b.solution.status == .optimal)
        #expect(b.impossible == 1)
        #expect(abs(b.metRequests - 2) < 1e-9)
        #expect(zip(b.served, [0.0, 1, 1]).allSatisfy { abs($0 - $1) < 1e-9 })
        #expect(b.byClass["x"]?.total == 2)
    }
}
