import BenchCore
@testable import Engine
import Testing

/// Small scenarios checked by hand: which requests run in which iteration, with what chunk, and
/// when their tokens appear (iteration ends, from the profile's own time model).
@Suite struct PolicyScenarioTests {
    let profile = testProfile()
    var model: IterationTimeModel { IterationTimeModel(profile: profile) }

    func load(prefills: [(Int, Int)] = [], decodes: [Int] = []) -> Double {
        var l = IterationLoad()
        for (n, ctx) in prefills { l.addPrefill(newTokens: n, contextTokens: ctx) }
        for ctx in decodes { l.addDecode(contextTokens: ctx) }
        return model.seconds(l)
    }

    func req(_ id: Int, at t: Double = 0, prompt: Int, output: Int, slo: SLO = SLO()) -> EngineRequest {
        EngineRequest(id: id, className: "c", arrivalS: t, promptTokens: prompt, maxOutputTokens: output, slo: slo)
    }

    /// AccelGen's urgent requests may preempt larger-slack ones, but only to save an SLO: a
    /// request whose slack is already negative (it misses even if it runs every iteration from
    /// now) waits for room instead of evicting a running request, which would recompute its KV
    /// for nothing. Request 0 (lax JCT) holds most of a 120-block cache; request 1 needs 94 blocks
    /// and a 3000-token prefill, which takes longer than a 50 ms TTFT: its deadline has not passed
    /// (it is not yet lost) but its slack is negative from the start.
    @Test(arguments: [(2000.0, true), (50.0, false)])
    func accelgenPreemptsOnlyToSaveAnSLO(ttftMs: Double, preempts: Bool) throws {
        let small = testProfile(kvBlocks: 120)
        let requests = [req(0, prompt: 2000, output: 400, slo: SLO(jctS: 1000)),
                        req(1, at: 0.5, prompt: 3000, output: 10, slo: SLO(ttftMs: ttftMs))]
        var violations: [String] = []
        let out = try simulate(.accelgen, requests: requests, profile: small) { engine, _ in
            if violations.isEmpty { violations = engine.invariantViolations() }
        }
        #expect(violations.isEmpty)
        #expect(out.records.allSatisfy { $0.status == "ok" })
        let preempted = out.iterations.reduce(0) { $0 + $1.preempted }
        #expect((preempted > 0) == preempts, "TTFT \(ttftMs) ms: \(preempted) preemptions")
        #expect(out.records[1].metSLO == preempts)
    }

    @Test func vllmPrefillsWholePromptsFirstThenDecodes() throws {
        let out = try simulate(.vllm, requests: [req(0, prompt: 100, output: 3), req(1, prompt: 200, output: 2)], profile: profile)
        // 1: both prompts whole (300 tokens); 2: both decode; 3: request 0 decodes alone.
        #expect(out.iterations.map(\.chunkSizes) == [[100, 200], [], []])
        #expect(out.iterations.map(\.decodeCount) == [0, 2, 1])
        let t1 = load(prefills: [(100, 0), (200, 0)])
        let t2 = t1 + load(decodes: [100, 200])
        let t3 = t2 + load(decodes: [101])
        #expect(out.records[0].tokenTimesS == [t1, t2, t3].map { ($0 * 1e6).rounded() / 1e6 } || out.records[0].tokenTimesS == [t1, t2, t3])
        #expect(out.records[1].tokenTimesS == [t1, t2])
        #expect(out.records[0].doneS == t3)
    }

    @Test func sarathiChunksWithinItsBudgetDecodesFirst() throws {
        var options = PolicyOptions()
        options.tokenBudget = 128
        let out = try simulate(.sarathi, requests: [req(0, prompt: 300, output: 2), req(1, prompt: 50, output: 2)],
                               profile: profile, options: options)
        // FCFS chunks: 128, 128, then 44 of request 0 and all 50 of request 1; then both decode.
        #expect(out.iterations.map(\.chunkSizes) == [[128], [128], [44, 50], []])
        #expect(out.iterations.map(\.decodeCount) == [0, 0, 0, 2])
        let t1 = load(prefills: [(128, 0)])
        let t2 = t1 + load(prefills: [(128, 128)])
        let t3 = t2 + load(prefills: [(44, 256), (50, 0)])
        let t4 = t3 + load(decodes: [300, 50])
        #expect(out.records[0].tokenTimesS == [t3, t4])
        #expect(out.records[1].tokenTimesS == [t3, t4])
    }

    @Test func edfServesTheEarlierDeadlineFirst() throws {
        var options = PolicyOptions()
        options.tokenBudget = 128
        let out = try simulate(.edf, requests: [req(0, prompt: 100, output: 2, slo: SLO(ttftMs: 1000)),
                                                req(1, prompt: 100, output: 2, slo: SLO(ttftMs: 200))],
                               profile: profile, options: options)
        // Request 1's TTFT deadline (0.2 s) comes first: all of it, then 28 tokens of request 0.
        #expect(out.iterations[0].chunkSizes == [100, 28])
        let t1 = load(prefills: [(100, 0), (28, 0)])
        #expect(out.records[1].tokenTimesS.first == t1)
        #expect(out.records[0].tokenTimesS.first! > t1)
    }

    @Test func accelgenKeepsTheIterationWithinTheTightestTBT() throws {
        // One request decoding with a 30 ms TBT SLO, then a 3,000-token prompt arrives: AccelGen's
        // budget chunks the prompt so each iteration's predicted time stays within 30 ms.
        let decoding = req(0, prompt: 200, output: 200, slo: SLO(ttftMs: 1000, tbtMs: 30))
        let long = req(1, at: 0.2, prompt: 3000, output: 5, slo: SLO(ttftMs: 5000))
        let out = try simulate(.accelgen, requests: [decoding, long], profile: profile)
        let whileBoth = out.iterations.filter { $0.decodeCount >= 1 && $0.prefillTokens > 0 }
        #expect(!whileBoth.isEmpty)
        #expect(whileBoth.allSatisfy { $0.durationS <= 0.030 + 1e-9 }, "\(whileBoth.map(\.durationS).max()!)")
        #expect(out.records[0].metSLO, "the decoding request keeps its TBT")
        #expect(out.records[1].status == "ok")
        // Sarathi's fixed 512-token chunks are blind to the SLO; compare for the record.
        let sarathi = try simulate(.sarathi, requests: [req(0, prompt: 200, output: 200, slo: SLO(ttftMs: 1000, tbtMs: 30)),
                                                         req(1, at: 0.2, prompt: 3000, output: 5, slo: SLO(ttftMs: 5000))], profile: profile)
        #expect(sarathi.iterations.allSatisfy { $0.prefillTokens + $0.decodeCount <= 512 })
    }

    @Test func accelgenPutsUrgentRequestsFirst() throws {
        // Two prompts at once (3,500 + 600 tokens, over the 4,096-token budget); the one with the
        // tight TTFT goes first and gets its whole prompt in the first iteration.
        let out = try simulate(.accelgen, requests: [req(0, prompt: 3500, output: 2, slo: SLO(ttftMs: 10_000)),
                                                     req(1, prompt: 600, output: 2, slo: SLO(ttftMs: 150))], profile: profile)
        #expect(out.iterations[0].chunkSizes.first == 600)
        #expect(out.records[1].metSLO)
        #expect(out.records[1].tokenTimesS[0] < out.records[0].tokenTimesS[0])
    }
}

/// Property: whenever a step's decodes alone fit within the tightest TBT among them, AccelGen's
/// predicted iteration time is within that TBT (the "SLO-guaranteed" chunking).
@Test(arguments: [AccelGenOptions.BudgetRule.linear, .predicted])
func accelgenPredictedTimeWithinTightestTBT(rule: AccelGenOptions.BudgetRule) throws {
    for seed: UInt64 in 11...13 {
        let profile = testProfile()
        var options = PolicyOptions()
        options.accelgen.budgetRule = rule
        let policy = PolicyName.accelgen.make(options, profile: profile) as! AccelGenPolicy
        let engine = EngineCore(profile: profile, policy: policy)
        var backend = SimulatedBackend(profile: profile)
        let reqs = randomRequests(seed: seed, count: 120, rate: 4)
        var now = 0.0, next = 0, checked = 0
        var failures: [String] = []
        for _ in 0..<200_000 {
            while next < reqs.count, reqs[next].arrivalS <= now { _ = engine.add(reqs[next], now: now); next += 1 }
            if !engine.hasWork { if next >= reqs.count { break }; now = reqs[next].arrivalS; continue }
            let slos = engine.running.filter { $0.phase == .decoding && !policy.isLost($0, now: now) }.compactMap { $0.slo.tbtMs }
            let plan = engine.schedule(now: now)
            if plan.isEmpty { if next < reqs.count { now = reqs[next].arrivalS; continue }; break }
            if let tightest = slos.min().map({ $0 / 1000 }) {
                var decodesOnly = IterationLoad()
                for item in plan.items where !item.isPrefill { decodesOnly.addDecode(contextTokens: item.contextTokens) }
                if engine.timeModel.seconds(decodesOnly) <= tightest {
                    checked += 1
                    if plan.predictedS! > tightest + 1e-12 && failures.count < 3 {
                        failures.append("t=\(now): predicted \(plan.predictedS!) > \(tightest)")
                    }
                }
            }
            now += backend.execute(plan).durationS
            engine.apply(plan, now: now)
        }
        #expect(failures.isEmpty, "seed \(seed) rule \(rule): \(failures)")
        #expect(checked > 100, "seed \(seed): only \(checked) steps checked")
    }
}
