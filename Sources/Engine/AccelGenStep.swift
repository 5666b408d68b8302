/// One AccelGen scheduling step, phase by phase (the order `AccelGenPolicy.schedule` calls
/// them in): the token budget, the candidates, the urgent set, exclusive allocation of running
/// long prefills, best fit within the γ window, work conservation, progress, the requeue of
/// waiting requests not admitted, and the SLO trim. The policy keeps what lasts across steps
/// (queue, T_iter_max, averages); this holds what one step builds.
struct AccelGenStep {
    typealias Candidate = AccelGenPolicy.Candidate

    let p: AccelGenPolicy
    let o: AccelGenOptions
    let view: SchedulerView
    var plan = StepPlan()
    /// Running requests, then the waiting ones popped this step; sorted by slack in `placeUrgent`.
    var cands: [Candidate] = []
    /// Per running candidate, the iterations its slack reserves (× T_iter_max once known).
    var iterTerms: [Double] = []
    /// SLO_min: the tightest TBT among running decodes that can still meet it, seconds.
    var minTBT = Double.infinity
    var budget = 0
    /// Tokens placed in the plan so far.
    var used = 0
    /// Waiting entries taken out of the queue this step.
    var popped: [KeyedEntry] = []
    /// Candidates not urgent (every candidate when SLO ordering is off).
    var rest: [Candidate] = []
    var longPrefilling = false
    /// Blocks the running whole-prefill requests still need to finish (`chunkFreeBlocks`).
    var decodeReserve: Int?
    var urgentDecodes = 0
    var urgentExtraBlocks = 0

    init(policy: AccelGenPolicy, view: SchedulerView) {
        p = policy
        o = policy.o
        self.view = view
        cands.reserveCapacity(view.runningCount + o.waitingCandidates)
        iterTerms.reserveCapacity(view.runningCount)
    }

    // MARK: budget

    /// Dynamic chunking: one pass over the running requests (their slack terms and SLO_min),
    /// then the token budget from SLO_min and T_iter_max, the longest this iteration can take:
    /// a full budget of prompt tokens (bounded by SLO_min when the SLO guarantee is on).
    mutating func formBudget() {
        for r in view.running {
            let lost = o.demoteLost && p.isLost(r, now: view.now)
            if r.phase == .decoding, !lost, let tbt = r.slo.tbtMs { minTBT = min(minTBT, tbt / 1000) }
            if o.sloOrdering {
                let (raw, iters) = p.slackTerms(r, now: view.now, lost: lost)
                cands.append(Candidate(request: r, slack: raw, fromWaiting: false, isLong: r.promptTokens >= o.longPromptTokens))
                iterTerms.append(iters)
            } else {
                cands.append(Candidate(request: r, slack: r.arrivalS, fromWaiting: false, isLong: r.promptTokens >= o.longPromptTokens))
                iterTerms.append(0)
            }
        }
        budget = tokenBudget()
        var fullBudget = IterationLoad()
        fullBudget.addPrefill(newTokens: budget, contextTokens: 0)
        p.tIterMax = view.timeModel.seconds(fullBudget)
        if o.enforceIterationSLO && o.dynamicChunking && minTBT.isFinite { p.tIterMax = min(p.tIterMax, minTBT) }
    }

    /// The budget rule applied to SLO_min (the cap when no decode has a TBT SLO).
    func tokenBudget() -> Int {
        let cap = o.maxBudgetTokens ?? p.contextTokens
        guard o.dynamicChunking else { return o.fixedBudgetTokens }
        guard minTBT.isFinite else { return cap }
        let budget: Int
        switch o.budgetRule {
        case .linear: budget = Int(p.pivotTokens * minTBT / p.pivotS)
        case .predicted: budget = view.timeModel.maxTokens(within: minTBT, base: IterationLoad())
        }
        return min(max(budget, 1), cap)
    }

    // MARK: candidates

    /// Every running request (slack completed now that T_iter_max is known; urgent decodes
    /// counted), and the most urgent waiting ones: only as many as could be admitted this step
    /// (none at max_num_seqs).
    mutating func gatherCandidates() {
        let tIterMax = p.tIterMax
        if o.sloOrdering {
            for i in cands.indices {
                cands[i].slack -= iterTerms[i] * tIterMax
                if cands[i].slack < tIterMax && cands[i].request.phase == .decoding {
                    urgentDecodes += 1
                    urgentExtraBlocks += view.extraBlocksForDecode(cands[i].request)
                }
            }
        }
        let admissible = min(o.waitingCandidates, max(0, p.maxNumSeqs - view.runningCount))
        while popped.count < admissible, let e = p.waiting.popMin() {
            popped.append(e)
            cands.append(Candidate(request: e.request, slack: o.sloOrdering ? p.slack(e.request, now: view.now) : e.request.arrivalS,
                                   fromWaiting: true, isLong: e.request.promptTokens >= o.longPromptTokens))
        }
    }

    // MARK: urgent set

    /// Urgent requests (slack < T_iter_max: they must run this iteration) in slack order; they
    /// may preempt larger-slack ones. Urgent decodes always run (one token each) so progress
    /// never stalls on the budget. The others are left in `rest`.
    mutating func placeUrgent() {
        if o.sloOrdering && urgentDecodes > 0 && urgentExtraBlocks <= view.freeBlocks { takeUrgentDecodes() }
        cands.sort { a, b in
            if a.slack != b.slack { return a.slack < b.slack }
            if a.arrival != b.arrival { return a.arrival < b.arrival }
            return a.id < b.id
        }
        plan.items.reserveCapacity(cands.count)
        plan.budgetTokens = budget
        longPrefilling = view.running.contains { $0.phase == .prefilling && $0.promptTokens >= o.longPromptTokens }
        guard o.sloOrdering else {
            rest = cands
            return
        }
        let tIterMax = p.tIterMax
        for c in cands {
            if c.slack < tIterMax {
                if view.isMarked(c.request) || (c.request.phase == .waiting && !c.fromWaiting) { continue }
                // Negative slack: by the policy's own estimate (each remaining iteration at
                // T_iter_max, what a full batch takes under load) the request misses its SLO even
                // if it runs every iteration from now. It runs if there is room, but evicting
                // another request's KV, which that one must recompute, would buy nothing. (A
                // best-case test on the time model instead kept most of the preemptions and lost
                // the gain: interactive-batch at 6 req/s 79% instead of 98%.)
                _ = add(c, maxTokens: max(0, budget - used), mayPreempt: c.slack >= 0)
            } else {
                rest.append(c)
            }
        }
    }

    /// The fast path: when every urgent decode's extra KV block fits, none needs a preemption
    /// and their order does not matter; they join the batch as they are and only the rest is
    /// sorted.
    mutating func takeUrgentDecodes() {
        var others: [Candidate] = []
        others.reserveCapacity(cands.count - urgentDecodes)
        plan.items.reserveCapacity(cands.count)
        for c in cands {
            if c.request.phase == .decoding && c.slack < p.tIterMax {
                _ = view.reserveDecode(c.request)
                view.mark(c.request)
                plan.addDecode(c.request)
                used += 1
            } else {
                others.append(c)
            }
        }
        cands = others
    }

    // MARK: exclusive allocation, γ window, best fit

    /// Exclusive allocation: running long prefills in the γ window get the budget first. Only
    /// those in the window: the paper's batching loop runs over the window's candidates, and a
    /// long prefill with seconds of slack placed ahead of requests near their deadlines would
    /// invert slack ordering (on mixed-slo.yaml at 2.5 req/s, 1,500 requests, doing so cost
    /// 1.9 points of attainment, more than switching the mechanism off).
    mutating func placeRunningLongPrefills() {
        guard o.exclusiveLong else { return }
        let edge = windowEdge
        for c in rest where !c.fromWaiting && c.isLong && c.request.phase == .prefilling && !view.isMarked(c.request) && c.slack <= edge {
            _ = add(c, maxTokens: budget - used, mayPreempt: false)
        }
    }

    /// The largest slack in the γ window: γ past the most urgent candidate's (unbounded
    /// without SLO ordering).
    var windowEdge: Double {
        o.sloOrdering ? (cands.first?.slack ?? 0) + o.gammaS : .infinity
    }

    /// The candidates within γ of the most urgent one (all of them without SLO ordering).
    func gammaWindow() -> [Candidate] {
        let edge = windowEdge
        return rest.filter { c in
            c.slack <= edge && !view.isMarked(c.request) && c.request.phase != .finished
                && (c.request.phase != .waiting || c.fromWaiting)
        }
    }

    /// Best fit on (compute budget left, free KV blocks), normalised by capacity, until the
    /// budget is used or nothing in `pool` fits.
    mutating func bestFit(_ pool: [Candidate]) {
        var pool = pool
        while !pool.isEmpty, used < budget, let best = bestFitIndex(in: pool) {
            let c = pool.remove(at: best)
            _ = add(c, maxTokens: budget - used, mayPreempt: false)
        }
    }

    /// The candidate whose demand leaves the least of (budget, KV) unused, by the 2-D distance
    /// over the remaining fractions (the first that fits without multi-resource batching).
    mutating func bestFitIndex(in pool: [Candidate]) -> Int? {
        let aC = Double(budget - used)
        let aM = Double(view.freeBlocks)
        let totalBlocks = Double(view.totalBlocks)
        var best: Int?
        var bestScore = Double.infinity
        var seenDecode: (Bool, Bool) = (false, false)  // decodes needing 0 / 1 new block
        for (i, c) in pool.enumerated() {
            let r = c.request
            var dC: Double
            var dM: Double
            switch r.phase {
            case .decoding:
                let extra = view.extraBlocksForDecode(r)
                // All decodes with the same needs score alike: only the first (most urgent) counts.
                if extra == 0 { if seenDecode.0 { continue }; seenDecode.0 = true } else { if seenDecode.1 { continue }; seenDecode.1 = true }
                dC = 1
                dM = Double(extra)
            case .prefilling where r.kvByChunk:
                guard let d = chunkDemand(r) else { continue }
                (dC, dM) = d
            case .prefilling:
                dC = Double(min(r.remainingPrefill, budget - used))
                dM = 0
            case .waiting:
                if o.exclusiveLong, c.isLong, longPrefilling { continue }
                if view.runningCount >= p.maxNumSeqs { continue }
                if growsByChunk(c) {
                    guard let d = chunkDemand(r) else { continue }
                    (dC, dM) = d
                } else {
                    dC = Double(min(r.remainingPrefill, budget - used))
                    dM = Double(view.blocksToAdmit(r))
                }
            case .finished:
                continue
            }
            guard dC <= aC, dM <= aM else { continue }
            if !o.multiResource { return i }
            let x = (aC - dC) / Double(budget), y = (aM - dM) / totalBlocks
            let score = x * x + y * y
            if score < bestScore {
                bestScore = score
                best = i
            }
        }
        return best
    }

    // MARK: work conservation, progress, requeue, trim

    /// Work conservation (our choice; the paper's loop stops at the γ window): budget still
    /// left goes to the remaining candidates in slack order.
    mutating func conserveWork() {
        guard o.workConserving else { return }
        var admitting = true
        for c in rest where used < budget && !view.isMarked(c.request) {
            let r = c.request
            if r.phase == .waiting {
                // Admission stops at the first waiting request that does not fit (FCFS within slack order).
                if !c.fromWaiting || !admitting { continue }
                if growsByChunk(c) ? view.freeBlocks == 0 : view.blocksToAdmit(r) > view.freeBlocks { admitting = false; continue }
            }
            if r.phase == .decoding && view.extraBlocksForDecode(r) > view.freeBlocks { continue }
            _ = add(c, maxTokens: budget - used, mayPreempt: false)
        }
    }

    /// If nothing could be placed (KV exhausted by requests that are not urgent), the most
    /// urgent running request runs, preempting the largest-slack ones.
    mutating func ensureProgress() {
        guard plan.isEmpty else { return }
        for c in cands where !c.fromWaiting && c.request.phase != .waiting {
            if add(c, maxTokens: max(1, budget), mayPreempt: true) { break }
        }
    }

    /// Waiting requests not admitted go back to the queue.
    func requeueUnadmitted() {
        for e in popped where e.request.phase == .waiting && !view.isMarked(e.request) {
            p.waiting.insert(e)
        }
    }

    /// SLO guarantee: if the prediction still exceeds SLO_min (the budget rule is an
    /// approximation; prefill attention is not in it), the last prefill chunks are shortened.
    /// Then the plan's prediction, and the policy's averages learn from it.
    mutating func finish() -> StepPlan {
        if o.enforceIterationSLO, o.dynamicChunking, minTBT.isFinite {
            p.trim(&plan, to: minTBT, model: view.timeModel)
        }
        let predicted = view.timeModel.seconds(plan.load)
        plan.predictedS = predicted
        p.observe(plan, predicted: predicted)
        return plan
    }

    // MARK: placing one candidate

    /// Victim for a shortage: the running request with the largest slack (ties: the later
    /// arrival) not in the batch, and of lower priority than `c`.
    func victim(below c: Candidate) -> EngineRequest? {
        let mine = (c.slack, c.request.arrivalS, c.request.id)
        for v in cands.reversed() where !v.fromWaiting {
            guard (v.slack, v.request.arrivalS, v.request.id) > mine else { return nil }
            let r = v.request
            if r.phase != .waiting && !view.isMarked(r) { return r }
        }
        return nil
    }

    /// Multi-resource batching: a long prompt's KV grows with its prefill chunks ("chunk = min(tokens
    /// that fill A_c, tokens that fill A_m)", seeds-spec §1.5), so it can start, and hold KV only
    /// for what it has computed, while the cache is too full for its whole prompt. Other
    /// requests (and every request without multi-resource batching) reserve their whole prefill
    /// on admission, as vLLM's v0 block manager does.
    func growsByChunk(_ c: Candidate) -> Bool { o.multiResource && c.isLong }

    /// Free blocks a chunk growing by chunk may take: those not needed by the running requests
    /// that reserved whole prefills to reach their last output token, so a growing prompt never
    /// forces one of them into a preemption (our choice: without this reserve, long-prompt at
    /// 2 req/s took 381 preemptions instead of 49 and lost 10 points of attainment).
    /// With `usingReserve` (an urgent request that may preempt), every free block.
    mutating func chunkFreeBlocks(usingReserve: Bool = false) -> Int {
        if usingReserve { return view.freeBlocks }
        if decodeReserve == nil {
            let bs = view.blockSizeTokens
            decodeReserve = view.running.reduce(0) { sum, r in
                r.kvByChunk ? sum : sum + max(0, (r.peakTokens + bs - 1) / bs - r.blocks.count)
            }
        }
        return max(0, view.freeBlocks - decodeReserve!)
    }

    /// Best-fit demand (tokens, blocks) of the next chunk of `r` growing by chunk: as long as
    /// both the budget and the free KV allow (seeds-spec §1.5); nil when not one token fits.
    mutating func chunkDemand(_ r: EngineRequest) -> (Double, Double)? {
        let n = view.prefillTokensFitting(r, freeBlocks: chunkFreeBlocks(), limit: budget - used)
        return n == 0 ? nil : (Double(n), Double(view.extraBlocksForPrefill(r, tokens: n)))
    }

    /// Admits waiting `c`: its whole prefill's KV, or its first chunk's (at most `maxTokens`,
    /// cut to the free blocks) when it grows by chunk. False, taking nothing, when nothing fits.
    mutating func admit(_ c: Candidate, maxTokens: Int, mayUseReserve: Bool) -> Bool {
        guard growsByChunk(c) else { return view.admit(c.request) }
        let n = min(maxTokens, chunkFreeBlocks(usingReserve: mayUseReserve) * view.blockSizeTokens)
        return n > 0 && view.admit(c.request, firstChunkTokens: n)
    }

    /// Adds `c` with up to `maxTokens` prefill tokens; false if it cannot run now.
    mutating func add(_ c: Candidate, maxTokens: Int, mayPreempt: Bool) -> Bool {
        let r = c.request
        switch r.phase {
        case .decoding:
            while !view.reserveDecode(r) {
                guard mayPreempt, let v = victim(below: c) else { return false }
                view.preempt(v)
                plan.preempted += 1
            }
            view.mark(r)
            plan.addDecode(r)
            used += 1
            return true
        case .prefilling:
            var n = min(r.remainingPrefill, maxTokens)
            guard n > 0 else { return false }
            if r.kvByChunk {
                // Cut the chunk to the free KV; with none free, preempt (if allowed) or wait.
                while true {
                    let fit = view.prefillTokensFitting(r, freeBlocks: chunkFreeBlocks(usingReserve: mayPreempt), limit: n)
                    if fit > 0 { n = fit; break }
                    guard mayPreempt, let v = victim(below: c) else { return false }
                    view.preempt(v)
                    plan.preempted += 1
                }
                _ = view.reservePrefill(r, tokens: n)
            }
            view.mark(r)
            plan.addPrefill(r, tokens: n)
            used += n
            return true
        case .waiting:
            guard maxTokens > 0, view.runningCount < p.maxNumSeqs else { return false }
            if o.exclusiveLong, c.isLong, longPrefilling, c.slack >= p.tIterMax { return false }
            while !admit(c, maxTokens: maxTokens, mayUseReserve: mayPreempt) {
                guard mayPreempt, let v = victim(below: c) else { return false }
                view.preempt(v)
                plan.preempted += 1
            }
            if c.isLong { longPrefilling = true }
            view.mark(r)
            // A request growing by chunk holds KV for its first chunk only.
            let n = min(r.remainingPrefill, maxTokens, r.blocks.count * view.blockSizeTokens - r.numComputedTokens)
            plan.addPrefill(r, tokens: n)
            used += n
            return true
        case .finished:
            return false
        }
    }
}
