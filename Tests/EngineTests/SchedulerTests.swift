import BenchCore
@testable import Engine
import Testing

/// A small profile for tests: the shipped default with a tight KV cache so preemption happens.
/// The profile the hand-built scheduler scenarios use: the 4K-context h100-llama2-7b, whose
/// numbers they were worked out on (long contexts have their own tests, `longContextProfile`).
func testProfile(kvBlocks: Int? = nil) -> HardwareProfile {
    var p = try! HardwareProfile.builtin("h100-llama2-7b")
    if let kvBlocks { p.kvCapacityBlocks = kvBlocks }
    return p
}

/// Seeded random requests: mixed lengths, some with TTFT/TBT SLOs, some offline.
func randomRequests(seed: UInt64, count: Int, rate: Double, maxPrompt: Int = 3000, maxOutput: Int = 300) -> [EngineRequest] {
    var rng = SeededRNG(seed: seed)
    var t = 0.0
    return (0..<count).map { i in
        t += rng.exponential() / rate
        let kind = rng.index(below: 3)
        let slo: SLO = kind == 0 ? SLO(ttftMs: 500 + 1000 * rng.uniform(), tbtMs: 50 + 150 * rng.uniform())
            : kind == 1 ? SLO(jctS: 30 + 100 * rng.uniform()) : SLO()
        return EngineRequest(id: i, className: ["chat", "batch", "none"][kind], arrivalS: t,
                             promptTokens: 1 + rng.index(below: maxPrompt), maxOutputTokens: 1 + rng.index(below: maxOutput), slo: slo)
    }
}

struct RunOutput {
    var records: [RequestRecord] = []
    var iterations: [IterationRecord] = []
    var outcome: SimulationDriver<SimulatedBackend>.Outcome?
}

func simulate(_ policy: PolicyName, requests: [EngineRequest], profile: HardwareProfile, options: PolicyOptions = PolicyOptions(),
              check: ((EngineCore, StepPlan?) -> Void)? = nil) throws -> RunOutput {
    let engine = EngineCore(profile: profile, policy: policy.make(options, profile: profile))
    var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile))
    driver.afterStep = { e in check?(e, nil) }
    var out = RunOutput()
    out.outcome = try driver.run(requests, onIteration: { out.iterations.append($0) }, onDone: { out.records.append($0.record()) })
    out.records.sort { $0.id < $1.id }
    return out
}

@Suite struct SchedulerInvariantTests {
    @Test(arguments: PolicyName.allCases)
    func invariantsHoldAfterEveryStep(policy: PolicyName) throws {
        for seed: UInt64 in 1...4 {
            let profile = testProfile(kvBlocks: 600)  // 19,200 tokens of KV: forces preemption
            let reqs = randomRequests(seed: seed, count: 150, rate: 6)
            var violations: [String] = []
            let out = try simulate(policy, requests: reqs, profile: profile) { engine, _ in
                if violations.isEmpty { violations = engine.invariantViolations() }
            }
            #expect(violations.isEmpty, "seed \(seed) policy \(policy): \(violations.prefix(3))")
            // Tokens conserved: every completed request emitted exactly its output length, in order.
            for r in out.records {
                if r.status == "ok" {
                    let req = reqs[r.id]
                    #expect(r.outputTokens == req.maxOutputTokens && r.tokenTimesS.count == req.maxOutputTokens, "seed \(seed) request \(r.id)")
                    #expect(zip(r.tokenTimesS, r.tokenTimesS.dropFirst()).allSatisfy { $0 <= $1 }, "seed \(seed)")
                    #expect(r.tokenTimesS.first! > r.intendedS, "seed \(seed)")
                }
            }
            #expect(out.records.count == reqs.count, "seed \(seed): every request is recorded once")
            #expect(out.records.allSatisfy { $0.status == "ok" }, "seed \(seed) policy \(policy): \(out.records.filter { $0.status != "ok" }.prefix(2).map { $0.error ?? $0.status })")
        }
    }

    /// The same on a 128K-context profile with prompts up to 20K tokens and a third of a long
    /// prompt's worth of spare KV: long prompts are admitted whole or (accelgen) grow their KV by
    /// chunk, preemptions happen, and every request still finishes with all its tokens.
    @Test(arguments: PolicyName.allCases)
    func invariantsHoldWithLongPromptsUnderKVPressure(policy: PolicyName) throws {
        for seed: UInt64 in 1...3 {
            var profile = try HardwareProfile.builtin("h100-llama3.1-8b")
            profile.kvCapacityBlocks = 30_000 / profile.blockSizeTokens
            let reqs = randomRequests(seed: seed, count: 60, rate: 2, maxPrompt: 20_000, maxOutput: 200)
            var violations: [String] = []
            var grewByChunk = false
            let out = try simulate(policy, requests: reqs, profile: profile) { engine, _ in
                if violations.isEmpty { violations = engine.invariantViolations() }
                grewByChunk = grewByChunk || engine.running.contains { $0.kvByChunk }
            }
            #expect(violations.isEmpty, "seed \(seed) policy \(policy): \(violations.prefix(3))")
            #expect(grewByChunk == (policy == .accelgen), "seed \(seed) policy \(policy)")
            #expect(out.records.count == reqs.count && out.records.allSatisfy { $0.status == "ok" && $0.outputTokens == reqs[$0.id].maxOutputTokens },
                    "seed \(seed) policy \(policy)")
        }
    }

    @Test func sarathiNeverExceedsItsBudget() throws {
        var options = PolicyOptions()
        options.tokenBudget = 256
        let out = try simulate(.sarathi, requests: randomRequests(seed: 9, count: 120, rate: 8), profile: testProfile(), options: options)
        #expect(out.iterations.allSatisfy { $0.prefillTokens + $0.decodeCount <= 256 })
        #expect(out.iterations.contains { $0.prefillTokens + $0.decodeCount == 256 })
    }

    @Test(arguments: PolicyName.allCases)
    func sameInputsGiveIdenticalRecords(policy: PolicyName) throws {
        let a = try simulate(policy, requests: randomRequests(seed: 3, count: 80, rate: 5), profile: testProfile(kvBlocks: 800))
        let b = try simulate(policy, requests: randomRequests(seed: 3, count: 80, rate: 5), profile: testProfile(kvBlocks: 800))
        #expect(a.records == b.records)
        #expect(a.iterations.map { $0.json() } == b.iterations.map { $0.json() })
    }

    @Test(arguments: PolicyName.allCases)
    func noStarvationBelowCapacity(policy: PolicyName) throws {
        // A light load: everything finishes, and nobody waits far longer than the rest.
        let reqs = randomRequests(seed: 5, count: 100, rate: 1, maxPrompt: 1000, maxOutput: 100)
        let out = try simulate(policy, requests: reqs, profile: testProfile())
        #expect(out.records.allSatisfy { $0.status == "ok" })
        let waits = out.records.map { $0.firstTokenS! - $0.intendedS }
        #expect(waits.max()! < 2.0, "policy \(policy): max TTFT \(waits.max()!) s at 1 req/s")
    }

    @Test func tooLongRequestsAreRejectedAndTheRunGoesOn() throws {
        let profile = testProfile()
        var reqs = randomRequests(seed: 2, count: 10, rate: 2)
        reqs.insert(EngineRequest(id: 10, className: "chat", arrivalS: 0.5, promptTokens: profile.model.maxContextTokens, maxOutputTokens: 10, slo: SLO()), at: 3)
        let out = try simulate(.sarathi, requests: reqs, profile: profile)
        let rejected = out.records.first { $0.id == 10 }!
        #expect(rejected.status == "rejected")
        #expect(rejected.error?.contains("context") == true)
        #expect(out.records.filter { $0.status == "ok" }.count == 10)
    }
}

@Suite struct PrefixCachingTests {
    func grouped(seed: UInt64, count: Int) -> [EngineRequest] {
        var rng = SeededRNG(seed: seed)
        var t = 0.0
        return (0..<count).map { i in
            t += rng.exponential() / 4
            let prompt = 600 + rng.index(below: 2000)
            return EngineRequest(id: i, className: "c", arrivalS: t, promptTokens: prompt, maxOutputTokens: 1 + rng.index(below: 200),
                                 slo: SLO(ttftMs: 2000, tbtMs: 150), prefixGroup: rng.index(below: 5), prefixTokens: 512)
        }
    }

    func run(_ policy: PolicyName, _ reqs: [EngineRequest], caching: Bool, kvBlocks: Int? = nil) throws -> (RunOutput, EngineCore, [String]) {
        let profile = testProfile(kvBlocks: kvBlocks)
        let engine = EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile), prefixCaching: caching)
        var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile))
        var violations: [String] = []
        driver.afterStep = { e in if violations.isEmpty { violations = e.invariantViolations() } }
        var out = RunOutput()
        out.outcome = try driver.run(reqs, onIteration: { out.iterations.append($0) }, onDone: { out.records.append($0.record()) })
        return (out, engine, violations)
    }

    @Test(arguments: PolicyName.allCases)
    func sharedPrefixesSkipComputeAndKeepInvariants(policy: PolicyName) throws {
        for seed: UInt64 in 21...22 {
            let (cached, engine, violations) = try run(policy, grouped(seed: seed, count: 80), caching: true, kvBlocks: 500)
            #expect(violations.isEmpty, "seed \(seed) \(policy): \(violations.prefix(2))")
            #expect(cached.records.allSatisfy { $0.status == "ok" }, "seed \(seed)")
            let (plain, _, _) = try run(policy, grouped(seed: seed, count: 80), caching: false, kvBlocks: 500)
            let computed = cached.iterations.reduce(0) { $0 + $1.prefillTokens }
            let computedPlain = plain.iterations.reduce(0) { $0 + $1.prefillTokens }
            #expect(engine.prefixHitTokens > 0, "seed \(seed)")
            #expect(computed < computedPlain, "seed \(seed) \(policy): \(computed) vs \(computedPlain)")
            // Outputs are the same requests either way.
            #expect(cached.records.map(\.outputTokens).sorted() == plain.records.map(\.outputTokens).sorted())
        }
    }
}

@Suite struct DropMissedTests {
    /// With `dropMissed`, a request whose first-token deadline passes behind a long prefill is
    /// aborted then (not served late), the invariants hold, and the others are unaffected.
    @Test(arguments: PolicyName.allCases)
    func lostRequestsAreDroppedAtTheirDeadline(policy: PolicyName) throws {
        let profile = testProfile(kvBlocks: nil)
        func requests() -> [EngineRequest] {
            [EngineRequest(id: 0, className: "long", arrivalS: 0, promptTokens: 4000, maxOutputTokens: 4, slo: SLO(ttftMs: 5000)),
             EngineRequest(id: 1, className: "tight", arrivalS: 0.001, promptTokens: 100, maxOutputTokens: 50, slo: SLO(ttftMs: 1, tbtMs: 200)),
             EngineRequest(id: 2, className: "easy", arrivalS: 0.002, promptTokens: 100, maxOutputTokens: 8, slo: SLO(ttftMs: 5000, tbtMs: 500))]
        }
        for drop in [false, true] {
            let engine = EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile))
            var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile))
            driver.dropMissed = drop
            var violations: [String] = []
            driver.afterStep = { e in if violations.isEmpty { violations = e.invariantViolations() } }
            var records: [Int: RequestRecord] = [:]
            _ = try driver.run(requests(), onIteration: { _ in }, onDone: { records[$0.id] = $0.record() })
            #expect(violations.isEmpty, "\(policy) drop \(drop): \(violations.prefix(2))")
            #expect(records[0]?.metSLO == true && records[2]?.metSLO == true, "\(policy) drop \(drop)")
            let tight = try #require(records[1])
            #expect(!tight.metSLO)
            if drop {
                #expect(tight.status == "dropped" && tight.error == EngineCore.droppedReason, "\(policy)")
                #expect(tight.tokenTimesS.isEmpty && (tight.doneS ?? 0) > 0.001, "\(policy)")
            } else {
                #expect(tight.status == "ok", "\(policy)")
            }
        }
    }
}
