import BenchCore
@testable import Engine
import Testing

/// The settled fast path against `schedule` + `apply`: the same tokens, counters and free
/// blocks, and it never claims a stretch that would preempt or pass a finish.
@Suite struct SettledDecodeTests {
    /// Two engines with the same requests; both run ordinary iterations until the first is
    /// settled, then one takes the stretch by `advanceSettledDecode` and the other iteration by
    /// iteration.
    @Test(arguments: [PolicyName.sarathi, .vllm])
    func aStretchEqualsItsIterations(policy: PolicyName) throws {
        for seed: UInt64 in 1...6 {
            // A tight cache in half the cases, so the stretch must stop short of a shortage.
            let profile = testProfile(kvBlocks: seed.isMultiple(of: 2) ? 180 : nil)
            func make() -> (EngineCore, [EngineRequest]) {
                let e = EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile))
                let reqs = randomRequests(seed: seed, count: 12, rate: 1000, maxPrompt: 600, maxOutput: 120)
                for r in reqs { _ = e.add(r, now: 0) }
                return (e, reqs)
            }
            let (a, ra) = make()
            let (b, rb) = make()
            var backend = SimulatedBackend(profile: profile)
            var now = 0.0
            var checked = 0
            var finishes = 0
            for _ in 0..<400 where a.hasWork {
                let k = a.settledDecodeSteps(limit: 64)
                #expect(k == b.settledDecodeSteps(limit: 64))
                if k >= 2 {
                    // Iteration by iteration on `a`, recording the end times.
                    var ends: [Double] = []
                    var finishedA: [Int] = []
                    for step in 0..<k {
                        let plan = a.schedule(now: now)
                        #expect(plan.preempted == 0 && plan.prefillTokens == 0 && plan.decodeCount == a.running.count, "seed \(seed)")
                        now += backend.execute(plan).durationS
                        let done = a.apply(plan, now: now)
                        #expect(step == k - 1 || done.isEmpty, "seed \(seed): a settled step before the last finished a request")
                        finishedA += done.map(\.id)
                        ends.append(now)
                    }
                    // Alternately start the stretch on its own and with its first steps.
                    var finishedB: [EngineRequest] = []
                    if seed.isMultiple(of: 3) {
                        finishedB += b.advanceSettledDecode(endingAt: ends[0..<(k / 2)], nextInFlight: true, includingStart: true)
                    } else {
                        finishedB += b.advanceSettledDecode(endingAt: [], nextInFlight: true)
                        finishedB += b.advanceSettledDecode(endingAt: ends[0..<(k / 2)], nextInFlight: true)
                    }
                    finishedB += b.advanceSettledDecode(endingAt: ends[(k / 2)...], nextInFlight: false)
                    #expect(finishedA == finishedB.map(\.id), "seed \(seed): finished requests")
                    finishes += finishedA.count
                    checked += 1
                } else {
                    for e in [a, b] {
                        let plan = e.schedule(now: now)
                        if e === a { now += backend.execute(plan).durationS }
                        e.apply(plan, now: now)
                    }
                }
                #expect(a.invariantViolations().isEmpty && b.invariantViolations().isEmpty, "seed \(seed): \(b.invariantViolations().prefix(3)) k=\(k)")
                #expect(a.kv.freeBlocks == b.kv.freeBlocks && a.iterationCount == b.iterationCount && a.stepSerial == b.stepSerial, "seed \(seed)")
                for (x, y) in zip(ra, rb) {
                    #expect(x.tokenTimes == y.tokenTimes && x.numComputedTokens == y.numComputedTokens && x.phase == y.phase
                            && x.maxTokenGapS == y.maxTokenGapS && x.blocks.count == y.blocks.count && x.doneS == y.doneS, "seed \(seed) request \(x.id)")
                }
            }
            #expect(checked > 0, "seed \(seed): no stretch")
            #expect(finishes > 0, "seed \(seed): no stretch ended with a finish")
            #expect(!a.hasWork && !b.hasWork, "seed \(seed)")
        }
    }
}
