import BenchCore
@testable import Engine
import Testing

/// AccelGen's scheduling step phase by phase: each test crafts a small engine state, runs the
/// phases of `AccelGenPolicy.schedule` in order up to the one under test and checks that
/// phase's own effect. Expected numbers come from the profile and the options, not constants.
@Suite struct AccelGenStepTests {
    /// An engine with an AccelGen policy (the shipped default profile, KV capacity optional).
    func make(kvBlocks: Int? = nil, maxNumSeqs: Int = PolicyOptions().maxNumSeqs,
              _ configure: (inout AccelGenOptions) -> Void = { _ in }) -> (EngineCore, AccelGenPolicy) {
        let profile = testProfile(kvBlocks: kvBlocks)
        var o = AccelGenOptions()
        configure(&o)
        let policy = AccelGenPolicy(o, maxNumSeqs: maxNumSeqs, profile: profile)
        return (EngineCore(profile: profile, policy: policy), policy)
    }

    /// A step at `now`, started as `EngineCore.schedule(now:)` starts one: a new step serial
    /// first, so no request counts as marked (a fresh request's mark is 0).
    func begin(_ engine: EngineCore, _ policy: AccelGenPolicy, now: Double) -> AccelGenStep {
        engine.stepSerial += 1
        return AccelGenStep(policy: policy, view: SchedulerView(engine: engine, now: now))
    }

    func req(_ id: Int, at t: Double = 0, prompt: Int, output: Int = 50, slo: SLO = SLO()) -> EngineRequest {
        EngineRequest(id: id, className: "c", arrivalS: t, promptTokens: prompt, maxOutputTokens: output, slo: slo)
    }

    /// Admits `r` and puts it mid-decode: its prompt computed, one token emitted at `lastTokenS`.
    @discardableResult
    func decoding(_ r: EngineRequest, in engine: EngineCore, lastTokenS: Double) throws -> EngineRequest {
        try #require(engine.admit(r, now: r.arrivalS))
        r.numComputedTokens = r.promptTokens
        r.phase = .decoding
        r.numOutputTokens = 1
        r.tokenTimes = [lastTokenS]
        r.lastTokenS = lastTokenS
        return r
    }

    /// Admits `r` with `computed` tokens of its prompt done.
    @discardableResult
    func prefilling(_ r: EngineRequest, in engine: EngineCore, computed: Int = 0) throws -> EngineRequest {
        try #require(engine.admit(r, now: r.arrivalS))
        r.numComputedTokens = computed
        return r
    }

    /// Puts `r` in the policy's waiting queue.
    @discardableResult
    func waiting(_ r: EngineRequest, in engine: EngineCore) -> EngineRequest {
        #expect(engine.add(r, now: r.arrivalS) == nil)
        return r
    }

    func ids(_ plan: StepPlan) -> [Int] { plan.items.map(\.request.id) }

    /// The linear rule S_pf × SLO_min / T_pf, as `tokenBudget` computes it.
    func linearBudget(_ engine: EngineCore, minTBT: Double) -> Int {
        Int(Double(engine.profile.pivotTokens) * minTBT / (engine.profile.pivotMs / 1000))
    }

    // MARK: formBudget, tokenBudget

    /// SLO_min is the tightest TBT among running decodes that can still meet it (a lost decode
    /// and a prefilling request do not count); the budget and T_iter_max follow from it.
    @Test func formBudgetTakesSLOMinFromLiveDecodes() throws {
        let (engine, p) = make()
        let now = 10.0
        try decoding(req(0, prompt: 100, slo: SLO(tbtMs: 50)), in: engine, lastTokenS: now)
        try decoding(req(1, prompt: 100, slo: SLO(tbtMs: 30)), in: engine, lastTokenS: now)
        try decoding(req(2, prompt: 100, slo: SLO(tbtMs: 10)), in: engine, lastTokenS: now - 0.02)  // lost: 20 ms > 10 ms
        try prefilling(req(3, prompt: 100, slo: SLO(ttftMs: 1000, tbtMs: 5)), in: engine)
        var s = begin(engine, p, now: now)
        s.formBudget()
        #expect(s.minTBT == 30.0 / 1000)
        let expected = linearBudget(engine, minTBT: 30.0 / 1000)
        #expect(expected > 1 && expected < engine.profile.model.maxContextTokens, "the rule, not a clamp, is under test")
        #expect(s.budget == expected)
        var full = IterationLoad()
        full.addPrefill(newTokens: expected, contextTokens: 0)
        #expect(p.tIterMax == min(engine.timeModel.seconds(full), 30.0 / 1000))
        #expect(s.cands.count == 4 && s.cands.allSatisfy { !$0.fromWaiting })
    }

    /// The linear rule, clamped to [1, cap] (cap: `maxBudgetTokens`, else the model's context).
    @Test func tokenBudgetLinearRuleIsClamped() {
        let (engine, p) = make()
        let context = engine.profile.model.maxContextTokens
        var s = begin(engine, p, now: 0)
        s.minTBT = 0.030
        #expect(s.tokenBudget() == linearBudget(engine, minTBT: 0.030))
        s.minTBT = 100  // a budget far over the context
        #expect(linearBudget(engine, minTBT: 100) > context)
        #expect(s.tokenBudget() == context)
        s.minTBT = 1e-9  // not one token
        #expect(linearBudget(engine, minTBT: 1e-9) < 1)
        #expect(s.tokenBudget() == 1)

        let (e2, p2) = make { $0.maxBudgetTokens = 300 }
        var s2 = begin(e2, p2, now: 0)
        s2.minTBT = 0.050
        #expect(linearBudget(e2, minTBT: 0.050) > 300)
        #expect(s2.tokenBudget() == 300)
    }

    /// The predicted rule: the largest token count the full time model fits in SLO_min.
    @Test func tokenBudgetPredictedRule() {
        let (engine, p) = make { $0.budgetRule = .predicted }
        var s = begin(engine, p, now: 0)
        s.minTBT = 0.030
        let expected = min(max(engine.timeModel.maxTokens(within: 0.030, base: IterationLoad()), 1), engine.profile.model.maxContextTokens)
        #expect(s.tokenBudget() == expected)
    }

    /// Dynamic chunking off: the fixed budget, whatever SLO_min is.
    @Test func tokenBudgetIsFixedWithoutDynamicChunking() {
        let (engine, p) = make {
            $0.dynamicChunking = false
            $0.fixedBudgetTokens = 256
        }
        var s = begin(engine, p, now: 0)
        s.minTBT = 0.030
        #expect(s.tokenBudget() == 256)
        s.minTBT = .infinity
        #expect(s.tokenBudget() == 256)
    }

    /// No decode with a TBT SLO: the cap (`maxBudgetTokens`, else the model's context).
    @Test func tokenBudgetIsTheCapWithoutTBT() throws {
        let (engine, p) = make()
        try decoding(req(0, prompt: 100, slo: SLO(ttftMs: 500)), in: engine, lastTokenS: 1)
        var s = begin(engine, p, now: 1)
        s.formBudget()
        #expect(s.minTBT == .infinity)
        #expect(s.budget == engine.profile.model.maxContextTokens)

        let (e2, p2) = make { $0.maxBudgetTokens = 1000 }
        var s2 = begin(e2, p2, now: 0)
        s2.formBudget()
        #expect(s2.budget == 1000)
    }

    // MARK: gatherCandidates

    /// Pops the most urgent waiting requests, at most min(waitingCandidates, maxNumSeqs − running).
    @Test func gatherCandidatesPopsOnlyWhatCouldBeAdmitted() throws {
        for (running, maxSeqs, examined) in [(1, 4, 2), (3, 4, 32), (4, 4, 32), (0, 128, 3)] {
            let (engine, p) = make(maxNumSeqs: maxSeqs) { $0.waitingCandidates = examined }
            for i in 0..<running { try decoding(req(100 + i, prompt: 64, slo: SLO(tbtMs: 1000)), in: engine, lastTokenS: 0) }
            // Queued least urgent first: the queue orders them by TTFT deadline.
            for i in (0..<5).reversed() { waiting(req(i, prompt: 64, slo: SLO(ttftMs: 1000 + 100 * Double(i))), in: engine) }
            var s = begin(engine, p, now: 0)
            s.formBudget()
            s.gatherCandidates()
            let n = min(examined, max(0, maxSeqs - running), 5)
            let label = "running \(running) max \(maxSeqs) examined \(examined)"
            #expect(s.popped.map(\.request.id) == Array(0..<n), "\(label)")
            #expect(p.waitingCount == 5 - n, "\(label)")
            #expect(s.cands.count == running + n && s.cands.filter(\.fromWaiting).count == n, "\(label)")
        }
    }

    // MARK: placeUrgent, takeUrgentDecodes

    /// Urgent decodes (slack < T_iter_max) run this iteration; the others are left in `rest`.
    @Test func placeUrgentRunsUrgentDecodes() throws {
        let (engine, p) = make()
        let now = 1.0
        let urgent = try decoding(req(0, prompt: 100, slo: SLO(tbtMs: 30)), in: engine, lastTokenS: now - 0.025)
        let loose = try decoding(req(1, prompt: 100, slo: SLO(tbtMs: 1000)), in: engine, lastTokenS: now)
        let queued = waiting(req(2, at: now, prompt: 100, slo: SLO(ttftMs: 5000)), in: engine)
        var s = begin(engine, p, now: now)
        s.formBudget()
        s.gatherCandidates()
        #expect(s.urgentDecodes == 1)
        s.placeUrgent()
        #expect(ids(s.plan) == [urgent.id] && s.plan.decodeCount == 1)
        #expect(s.used == 1 && s.plan.budgetTokens == s.budget)
        #expect(Set(s.rest.map(\.id)) == [loose.id, queued.id])
    }

    /// The fast path: urgent decodes whose KV blocks are free join the batch with their block
    /// reserved and leave the candidates.
    @Test func takeUrgentDecodesReservesTheirBlocks() throws {
        let (engine, p) = make()
        let now = 1.0
        let urgent = try decoding(req(0, prompt: 64, slo: SLO(tbtMs: 30)), in: engine, lastTokenS: now - 0.025)  // 2 full blocks
        try decoding(req(1, prompt: 100, slo: SLO(tbtMs: 1000)), in: engine, lastTokenS: now)
        let free = engine.freeBlocks
        var s = begin(engine, p, now: now)
        s.formBudget()
        s.gatherCandidates()
        #expect(s.urgentExtraBlocks == 1 && s.urgentExtraBlocks <= engine.freeBlocks)
        s.takeUrgentDecodes()
        #expect(ids(s.plan) == [urgent.id] && s.used == 1)
        #expect(urgent.blocks.count == engine.kv.blocksFor(tokens: 65) && engine.freeBlocks == free - 1)
        #expect(engine.isMarked(urgent) && !s.cands.contains { $0.request === urgent })
    }

    /// KV short for an urgent decode: the larger-slack running request is preempted for it.
    /// (Its slack is 0: its TBT budget is exactly T_iter_max, so it can still make it.)
    @Test func placeUrgentPreemptsALargerSlackRequestWhenKVIsShort() throws {
        let (engine, p) = make(kvBlocks: 4)
        let now = 1.0
        let urgent = try decoding(req(0, prompt: 32, slo: SLO(tbtMs: 30)), in: engine, lastTokenS: now)  // 1 block, needs 1 more
        let victim = try decoding(req(1, prompt: 96), in: engine, lastTokenS: now)  // best effort: 3 blocks
        #expect(engine.freeBlocks == 0)
        var s = begin(engine, p, now: now)
        s.formBudget()
        s.gatherCandidates()
        #expect(s.urgentDecodes == 1 && s.urgentExtraBlocks > engine.freeBlocks, "the slow path, with preemption")
        s.placeUrgent()
        #expect(ids(s.plan) == [urgent.id] && s.plan.preempted == 1)
        #expect(victim.phase == .waiting && victim.blocks.isEmpty && victim.preemptions == 1)
        #expect(engine.running.map(\.id) == [urgent.id] && p.waitingRequests.map(\.id) == [victim.id])
        #expect(urgent.blocks.count == 2)
    }

    /// The same, but the urgent decode's slack is already negative (25 ms of its 30 ms TBT gone,
    /// T_iter_max 30 ms): it misses either way, so nothing is preempted for it and it waits.
    @Test func placeUrgentDoesNotPreemptForARequestThatMissesAnyway() throws {
        let (engine, p) = make(kvBlocks: 4)
        let now = 1.0
        let urgent = try decoding(req(0, prompt: 32, slo: SLO(tbtMs: 30)), in: engine, lastTokenS: now - 0.025)
        let victim = try decoding(req(1, prompt: 96), in: engine, lastTokenS: now)
        var s = begin(engine, p, now: now)
        s.formBudget()
        s.gatherCandidates()
        s.placeUrgent()
        #expect(s.plan.preempted == 0 && !ids(s.plan).contains(urgent.id))
        #expect(victim.phase == .decoding && victim.preemptions == 0)
    }

    // MARK: placeRunningLongPrefills

    /// Exclusive allocation: a running long prefill in the γ window gets the budget before any
    /// other candidate, even one with less slack. One beyond the window (here best effort, slack
    /// +∞) does not jump ahead of requests nearer their deadlines (issue 19: doing so inverted
    /// slack ordering on the long/short mix).
    @Test func placeRunningLongPrefillsGivesTheBudgetToARunningLongPrefillInTheWindow() throws {
        // The long prefill's TTFT: 0.2 s more than the short one's (within γ = 0.75 s), or none.
        for (exclusive, longTTFTMs) in [(true, 10_200.0), (true, nil), (false, 10_200.0)] as [(Bool, Double?)] {
            let (engine, p) = make {
                $0.longPromptTokens = 1000
                $0.maxBudgetTokens = 1500
                $0.exclusiveLong = exclusive
            }
            let long = try prefilling(req(0, at: 0.5, prompt: 3000, slo: SLO(ttftMs: longTTFTMs)), in: engine, computed: 1000)
            let short = waiting(req(1, at: 0.5, prompt: 100, slo: SLO(ttftMs: 10_000)), in: engine)
            var s = begin(engine, p, now: 0.5)
            s.formBudget()
            s.gatherCandidates()
            s.placeUrgent()
            #expect(s.plan.isEmpty && s.rest.first?.request === short, "nothing urgent; the short one has less slack")
            let longSlack = try #require(s.rest.first { $0.request === long }).slack
            let inWindow = longSlack <= s.rest[0].slack + p.o.gammaS
            #expect(inWindow == (longTTFTMs != nil), "long slack \(longSlack), head \(s.rest[0].slack)")
            s.placeRunningLongPrefills()
            if exclusive && inWindow {
                #expect(ids(s.plan) == [long.id] && s.plan.prefillTokens == min(long.remainingPrefill, s.budget))
                #expect(s.used == s.budget)
            } else {
                #expect(s.plan.isEmpty, "exclusive \(exclusive), in window \(inWindow)")
            }
        }
    }

    /// Multi-resource batching: a long prompt whose whole prefill does not fit in the free KV
    /// starts with KV for its first chunk only and grows it chunk by chunk, leaving the blocks the
    /// running request still needs; without multi-resource batching it waits for the whole.
    @Test func aLongPromptGrowsItsKVByChunk() throws {
        for multi in [true, false] {
            let (engine, _) = make(kvBlocks: 100) {
                $0.longPromptTokens = 1000
                $0.maxBudgetTokens = 512
                $0.multiResource = multi
            }
            let bs = engine.blockSizeTokens
            let running = try decoding(req(0, prompt: 50 * bs - 1, output: 20 * bs), in: engine, lastTokenS: 0)
            let long = waiting(req(1, prompt: 60 * bs, output: 10), in: engine)
            #expect(engine.freeBlocks < engine.blocksToAdmit(long))
            var now = 0.01
            let first = engine.schedule(now: now)
            if multi {
                let chunk = try #require(first.items.first { $0.request === long }).newTokens
                #expect(long.kvByChunk && long.blocks.count == (chunk + bs - 1) / bs)
            } else {
                #expect(long.phase == .waiting && ids(first) == [running.id])
            }
            var plan = first
            for _ in 0..<2000 where !plan.isEmpty {
                now += plan.predictedS ?? 0.01
                engine.apply(plan, now: now)
                #expect(engine.invariantViolations().isEmpty, "multi \(multi)")
                // The running request's remaining tokens always fit beside the growing prompt.
                #expect(running.phase == .finished || running.blocks.count + long.blocks.count <= engine.kv.totalBlocks)
                plan = engine.schedule(now: now)
            }
            #expect(long.phase == .finished && running.phase == .finished && running.preemptions == 0, "multi \(multi)")
        }
    }

    // MARK: gammaWindow

    /// The window holds the candidates whose slack is within γ of the most urgent one (all of
    /// them without SLO ordering).
    @Test func gammaWindowExcludesCandidatesBeyondHeadSlackPlusGamma() {
        for ordering in [true, false] {
            let (engine, p) = make { $0.sloOrdering = ordering }
            let gammaMs = p.o.gammaS * 1000
            // Same arrival and prompt: the slacks differ by the TTFTs alone.
            let head = waiting(req(0, prompt: 100, slo: SLO(ttftMs: 1000)), in: engine)
            let inside = waiting(req(1, prompt: 100, slo: SLO(ttftMs: 1000 + gammaMs / 2)), in: engine)
            let beyond = waiting(req(2, prompt: 100, slo: SLO(ttftMs: 1000 + gammaMs * 2)), in: engine)
            var s = begin(engine, p, now: 0)
            s.formBudget()
            s.gatherCandidates()
            s.placeUrgent()
            s.placeRunningLongPrefills()
            #expect(s.plan.isEmpty, "nothing urgent")
            let window = s.gammaWindow().map(\.id)
            if ordering {
                #expect(s.cands.first?.request === head)
                #expect(window == [head.id, inside.id])
            } else {
                #expect(Set(window) == [head.id, inside.id, beyond.id])
            }
        }
    }

    // MARK: bestFit, bestFitIndex

    /// Best fit on (budget, KV): a running prefill that would fill the budget exactly loses to a
    /// waiting prompt that uses less compute but much of the free KV; first fit (multi-resource
    /// off) takes the first candidate in order.
    @Test func bestFitPicksTheBest2DFitAndFirstFitWithoutMultiResource() throws {
        for multi in [true, false] {
            let (engine, p) = make(kvBlocks: 100) {
                $0.maxBudgetTokens = 1000
                $0.multiResource = multi
            }
            // Both best effort (slack +∞), so the window keeps arrival order: running, waiting.
            let running = try prefilling(req(0, prompt: 1600), in: engine, computed: 600)  // 1,000 left, holds 50 blocks
            let queued = waiting(req(1, at: 0.1, prompt: 960), in: engine)  // 30 blocks
            var s = begin(engine, p, now: 0.2)
            s.formBudget()
            s.gatherCandidates()
            s.placeUrgent()
            s.placeRunningLongPrefills()
            let pool = s.gammaWindow()
            #expect(pool.map(\.id) == [running.id, queued.id])
            #expect(s.budget == 1000 && running.remainingPrefill == s.budget)
            // Scores: running (budget left 0, KV left 50/100) 0.25; queued (40/1000, 20/100) ≈ 0.04.
            #expect(s.bestFitIndex(in: pool) == (multi ? 1 : 0))
            s.bestFit(pool)
            if multi {
                #expect(ids(s.plan) == [queued.id, running.id])
                #expect(s.plan.items.map(\.newTokens) == [queued.promptTokens, s.budget - queued.promptTokens])
            } else {
                #expect(ids(s.plan) == [running.id] && s.plan.prefillTokens == s.budget)
                #expect(queued.phase == .waiting)
            }
        }
    }

    // MARK: conserveWork

    /// Leftover budget goes to the candidates beyond the window in slack order; admission stops
    /// at the first waiting request that does not fit (a later one that would fit waits), while
    /// running requests still get budget.
    @Test func conserveWorkFillsInSlackOrderAndStopsAdmittingAtTheFirstMisfit() throws {
        for conserving in [true, false] {
            let (engine, p) = make(kvBlocks: 60) { $0.workConserving = conserving }
            let running = try prefilling(req(0, prompt: 320), in: engine)  // best effort, 10 blocks
            let head = waiting(req(1, prompt: 320, slo: SLO(ttftMs: 2000)), in: engine)  // 10 blocks
            let next = waiting(req(2, prompt: 320, slo: SLO(ttftMs: 10_000)), in: engine)  // 10 blocks
            let tooBig = waiting(req(3, prompt: 1600, slo: SLO(ttftMs: 11_000)), in: engine)  // 50 blocks: 30 are left
            let small = waiting(req(4, prompt: 32, slo: SLO(ttftMs: 12_000)), in: engine)  // 1 block: would fit
            var s = begin(engine, p, now: 0)
            s.formBudget()
            s.gatherCandidates()
            s.placeUrgent()
            s.placeRunningLongPrefills()
            s.bestFit(s.gammaWindow())
            #expect(ids(s.plan) == [head.id], "only the head is within γ")
            s.conserveWork()
            if conserving {
                #expect(ids(s.plan) == [head.id, next.id, running.id])
                #expect(s.plan.items.map(\.newTokens) == [320, 320, 320] && s.used <= s.budget)
                #expect(tooBig.phase == .waiting && small.phase == .waiting)
                #expect(engine.freeBlocks >= engine.blocksToAdmit(small), "the small one was left though it fits")
            } else {
                #expect(ids(s.plan) == [head.id])
            }
        }
    }

    // MARK: ensureProgress

    /// Nothing placed (KV exhausted by requests that are not urgent): the most urgent running
    /// request runs, preempting the larger-slack one.
    @Test func ensureProgressRunsTheMostUrgentRunningRequest() throws {
        let (engine, p) = make(kvBlocks: 4)
        let now = 1.0
        let tighter = try decoding(req(0, prompt: 64, slo: SLO(tbtMs: 500)), in: engine, lastTokenS: now)  // 2 blocks, needs 1 more
        let looser = try decoding(req(1, prompt: 64, slo: SLO(tbtMs: 1000)), in: engine, lastTokenS: now)
        #expect(engine.freeBlocks == 0)
        var s = begin(engine, p, now: now)
        s.formBudget()
        s.gatherCandidates()
        s.placeUrgent()
        s.placeRunningLongPrefills()
        s.bestFit(s.gammaWindow())
        s.conserveWork()
        #expect(s.urgentDecodes == 0 && s.plan.isEmpty, "neither is urgent and neither fits")
        s.ensureProgress()
        #expect(ids(s.plan) == [tighter.id] && s.plan.preempted == 1)
        #expect(looser.phase == .waiting && engine.running.map(\.id) == [tighter.id])
    }

    // MARK: requeueUnadmitted

    /// Waiting requests popped as candidates but not admitted go back to the queue.
    @Test func requeueUnadmittedPutsPoppedRequestsBack() throws {
        let (engine, p) = make(kvBlocks: 10)
        // 300 + 10 tokens fit the 10-block cache, and admitting one takes all of it.
        let first = waiting(req(0, prompt: 300, output: 10, slo: SLO(ttftMs: 1000)), in: engine)
        let second = waiting(req(1, prompt: 300, output: 10, slo: SLO(ttftMs: 2000)), in: engine)
        var s = begin(engine, p, now: 0)
        s.formBudget()
        s.gatherCandidates()
        #expect(s.popped.count == 2 && p.waitingCount == 0)
        s.placeUrgent()
        s.placeRunningLongPrefills()
        s.bestFit(s.gammaWindow())
        s.conserveWork()
        s.ensureProgress()
        #expect(ids(s.plan) == [first.id] && second.phase == .waiting && p.waitingCount == 0)
        s.requeueUnadmitted()
        #expect(p.waitingRequests.map(\.id) == [second.id])
        #expect(engine.invariantViolations().isEmpty, "\(engine.invariantViolations())")
    }

    // MARK: finish

    /// SLO guarantee: prefill chunks are cut to the largest that keeps the predicted time within
    /// SLO_min. The over-long plan is crafted directly (the budget rule rarely overshoots by
    /// much), then `finish` is called.
    @Test func finishTrimsPrefillChunksToSLOMin() throws {
        for enforce in [true, false] {
            let (engine, p) = make { $0.enforceIterationSLO = enforce }
            let now = 1.0
            let decode = try decoding(req(0, prompt: 2000, slo: SLO(tbtMs: 30)), in: engine, lastTokenS: now)
            let prompt = try prefilling(req(1, prompt: 3000), in: engine)
            var s = begin(engine, p, now: now)
            s.formBudget()
            let limit = s.minTBT
            #expect(limit == 0.030)
            s.plan.addDecode(decode)
            s.plan.addPrefill(prompt, tokens: 3000)
            #expect(engine.timeModel.seconds(s.plan.load) > limit)
            let plan = s.finish()
            #expect(plan.predictedS == engine.timeModel.seconds(plan.load))
            #expect(ids(plan) == [decode.id, prompt.id] && !plan.items[0].isPrefill)
            let chunk = plan.items[1].newTokens
            if enforce {
                #expect(plan.predictedS! <= limit)
                #expect(chunk > 0 && chunk < 3000)
                var bigger = plan
                bigger.setChunk(at: 1, tokens: chunk + 1)
                #expect(engine.timeModel.seconds(bigger.load) > limit, "the largest chunk that fits")
            } else {
                #expect(chunk == 3000 && plan.predictedS! > limit)
            }
        }
    }
}
