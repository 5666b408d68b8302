import BenchCore
import HeapModule

/// AccelGen's parameters (seeds-spec.md §1.3–1.6). One switch per mechanism, for ablations.
public struct AccelGenOptions: Sendable, Equatable {
    public enum BudgetRule: String, Sendable, CaseIterable {
        /// The paper's rule: S_b = S_pf × SLO_min / T_pf (a linear iteration-time model).
        case linear
        /// Our alternative: the largest token count whose predicted time (the profile's full
        /// model, attention included) fits in SLO_min.
        case predicted
    }

    public var budgetRule: BudgetRule = .linear
    /// γ: requests whose slack is within γ of the most urgent one are batching candidates.
    /// 0.75 s: the paper's value.
    public var gammaS = 0.75
    /// Prompts at least this long are "long" (exclusive allocation). 4096: our choice; the paper
    /// calls 4K–100K-token prompts long.
    public var longPromptTokens = 4096
    /// Iteration budget when no decoding request has a TBT SLO (nothing bounds the iteration).
    /// nil = the model's context length (a whole prompt fits). Our choice.
    public var maxBudgetTokens: Int?
    /// Fixed budget used when dynamic chunking is switched off (Sarathi-Serve's 512).
    public var fixedBudgetTokens = 512
    /// Waiting requests examined per step (the queue's most urgent ones). Bounds the step's cost
    /// at large queues. 32: our choice.
    public var waitingCandidates = 32

    /// Mechanisms (all on by default; each off is one ablation).
    public var dynamicChunking = true
    public var sloOrdering = true
    public var multiResource = true
    public var exclusiveLong = true
    /// After the γ window, give leftover budget to the other candidates in slack order. Our
    /// choice (the paper's loop stops at the window), so capacity is not left idle.
    public var workConserving = true
    /// Shorten prefill chunks when the predicted iteration time would exceed the tightest TBT
    /// in the batch (the "SLO-guaranteed" part of dynamic chunking).
    public var enforceIterationSLO = true
    /// Requests that can no longer meet their SLO drop behind every savable one and are the
    /// first preemption victims (our choice: goodput counts only SLO-met requests; the paper
    /// does not say what happens to late requests).
    public var demoteLost = true

    public init() {}

    /// The mechanisms switched off, by their flag names (`no-dynamic-chunking`, ...), so a run's
    /// target names its ablation and plots and baselines tell ablations apart.
    public var ablations: [String] {
        let switches: [(Bool, String)] = [
            (dynamicChunking, "no-dynamic-chunking"), (sloOrdering, "no-slo-ordering"),
            (multiResource, "no-multi-resource"), (exclusiveLong, "no-exclusive-long"),
            (workConserving, "no-work-conserving"), (enforceIterationSLO, "no-enforce-iteration-slo"),
            (demoteLost, "no-demote-lost"),
        ]
        return switches.filter { !$0.0 }.map(\.1)
    }
}

/// AccelGen: SLO-guaranteed dynamic chunking, iteration-level slack prioritisation and
/// multi-resource (compute + KV) best-fit batching, with exclusive allocation for long prompts.
///
/// Choices where the paper (as far as it could be read) is silent, all [INF] in seeds-spec:
/// - `T_iter_max` is the predicted time of an iteration of a full budget of prompt tokens (capped at
///   SLO_min when the SLO guarantee is on): the longest the iteration being formed can take;
///   `avg_chunk` is an exponential average (α 0.1) of the prefill chunks scheduled (initially S_pf).
/// - Slack, seconds it can still wait: online prefill `TTFT deadline − now − ⌈remaining / avg_chunk⌉ · T_iter_max`;
///   online decode (and a preempted request that already emitted tokens) `last token + TBT − now − T_iter_max`;
///   offline `(JCT deadline − now − est) / n` where `n` = remaining iterations (prefill chunks plus output
///   tokens, the output length being the request's max_tokens) and `est` = n × mean predicted iteration time:
///   the allowed waiting spread over the remaining iterations, recomputed each step so early or late
///   finishes carry forward. Requests with no SLO have slack +∞ (best effort). Ties: arrival, then id.
/// - Urgent: slack < T_iter_max. The slack already reserves one iteration for the request
///   itself, so if it sits out this iteration (up to T_iter_max more) it misses: it "must run this
///   iteration". A request that has already lost its SLO is demoted behind all others (`demoteLost`).
/// - SLO_min: the tightest TBT among running decodes; with none, the budget is `maxBudgetTokens`.
///   Prefilling requests are protected by their slack instead.
/// - The 2-D distance is over the remaining fractions of this iteration's token budget and of all KV blocks.
/// - KV for a prompt is reserved whole on admission (vLLM's v0 block manager, which AccelGen builds on).
/// - Exclusive allocation: a new long prompt is not started while another long prompt is still
///   prefilling, unless it is urgent; running long prefills get the budget first.
public final class AccelGenPolicy: SchedulingPolicy {
    public let name = "accelgen"
    let o: AccelGenOptions
    let maxNumSeqs: Int
    let pivotTokens: Double
    let pivotS: Double
    let contextTokens: Int

    typealias Entry = KeyedEntry

    /// Waiting requests keyed by a time-invariant urgency (the deadline the slack counts down to),
    /// or by arrival when SLO ordering is off.
    var waiting = Heap<Entry>()
    var tIterMax: Double
    var meanIterS: Double
    var avgChunk: Double

    init(_ o: AccelGenOptions, maxNumSeqs: Int, profile: HardwareProfile) {
        self.o = o
        self.maxNumSeqs = maxNumSeqs
        pivotTokens = Double(profile.pivotTokens)
        pivotS = profile.pivotMs / 1000
        contextTokens = profile.model.maxContextTokens
        tIterMax = pivotS
        meanIterS = pivotS
        avgChunk = Double(profile.pivotTokens)
    }

    public func enqueue(_ r: EngineRequest, engine: EngineCore, now: Double) {
        waiting.insert(Entry(key: o.sloOrdering ? staticKey(r) : r.arrivalS, request: r))
    }

    public func removed(_ r: EngineRequest) {}
    public func removeWaiting(_ r: EngineRequest) -> Bool { waiting.remove(r) }
    public var waitingCount: Int { waiting.count }
    public var waitingRequests: [EngineRequest] { waiting.unordered.map(\.request) }

    /// The deadline a waiting request's slack counts down to (its order in the queue).
    func staticKey(_ r: EngineRequest) -> Double {
        if let last = r.lastTokenS, let tbt = r.slo.tbtMs { return last + tbt / 1000 }
        if r.numOutputTokens == 0, let ttft = r.slo.ttftMs { return r.arrivalS + ttft / 1000 }
        if let jct = r.slo.jctS {
            let iters = Double(r.remainingPrefill) / pivotTokens + Double(r.maxOutputTokens - r.numOutputTokens)
            return r.arrivalS + jct - iters * pivotS
        }
        return .infinity
    }

    /// Slack given to requests that can no longer meet their SLO: after every savable and
    /// best-effort request, in arrival order. They are also the first preemption victims.
    static let demotedSlack = 1e12

    /// Whether `r` has already lost its SLO (the rule is per-token max TBT, the default metric):
    /// its TTFT or JCT deadline has passed, or one of its token gaps exceeded its TBT.
    func isLost(_ r: EngineRequest, now: Double) -> Bool {
        if let tbt = r.slo.tbtMs {
            let limit = tbt / 1000
            if r.maxTokenGapS > limit { return true }
            if let last = r.lastTokenS, now - last > limit { return true }
        }
        if r.numOutputTokens == 0, let ttft = r.slo.ttftMs, now > r.arrivalS + ttft / 1000 { return true }
        if let jct = r.slo.jctS, now > r.arrivalS + jct { return true }
        return false
    }

    /// Remaining slack of `r` at `now`, seconds (see the type's doc).
    func slack(_ r: EngineRequest, now: Double) -> Double {
        let (raw, iters) = slackTerms(r, now: now, lost: o.demoteLost && isLost(r, now: now))
        return raw - iters * tIterMax
    }

    /// Slack as `raw − iters × T_iter_max`, so it can be computed before this step's T_iter_max
    /// is known (one pass over the running requests).
    @inline(__always)
    func slackTerms(_ r: EngineRequest, now: Double, lost: Bool) -> (raw: Double, iters: Double) {
        if lost { return (AccelGenPolicy.demotedSlack + r.arrivalS, 0) }
        let prefillIters = r.phase == .decoding ? 0 : (Double(r.remainingPrefill) / avgChunk).rounded(.up)
        if r.phase == .decoding || r.numOutputTokens > 0, let tbt = r.slo.tbtMs, let last = r.lastTokenS {
            return (last + tbt / 1000 - now, max(1, prefillIters))
        }
        if let ttft = r.slo.ttftMs, r.numOutputTokens == 0 {
            return (r.arrivalS + ttft / 1000 - now, prefillIters)
        }
        if let jct = r.slo.jctS {
            let n = max(1, prefillIters + Double(r.maxOutputTokens - r.numOutputTokens))
            return ((r.arrivalS + jct - now - n * meanIterS) / n, 0)
        }
        return (.infinity, 0)
    }

    struct Candidate {
        let request: EngineRequest
        var slack: Double
        let fromWaiting: Bool
        var isLong: Bool
        // Copied from the request so sorting reads plain fields.
        let arrival: Double
        let id: Int

        init(request: EngineRequest, slack: Double, fromWaiting: Bool, isLong: Bool) {
            self.request = request
            self.slack = slack
            self.fromWaiting = fromWaiting
            self.isLong = isLong
            arrival = request.arrivalS
            id = request.id
        }
    }

    public func schedule(_ engine: EngineCore, now: Double) -> StepPlan {
        var plan = StepPlan()
        // Dynamic chunking: the token budget from the tightest iteration SLO among running decodes.
        // One pass over the running requests: their slack terms and SLO_min.
        var minTBT = Double.infinity
        var cands: [Candidate] = []
        cands.reserveCapacity(engine.running.count + o.waitingCandidates)
        var iterTerms: [Double] = []
        iterTerms.reserveCapacity(engine.running.count)
        for r in engine.running {
            let lost = o.demoteLost && isLost(r, now: now)
            if r.phase == .decoding, !lost, let tbt = r.slo.tbtMs { minTBT = min(minTBT, tbt / 1000) }
            if o.sloOrdering {
                let (raw, iters) = slackTerms(r, now: now, lost: lost)
                cands.append(Candidate(request: r, slack: raw, fromWaiting: false, isLong: r.promptTokens >= o.longPromptTokens))
                iterTerms.append(iters)
            } else {
                cands.append(Candidate(request: r, slack: r.arrivalS, fromWaiting: false, isLong: r.promptTokens >= o.longPromptTokens))
                iterTerms.append(0)
            }
        }
        let cap = o.maxBudgetTokens ?? contextTokens
        var budget: Int
        if !o.dynamicChunking {
            budget = o.fixedBudgetTokens
        } else if minTBT.isFinite {
            switch o.budgetRule {
            case .linear: budget = Int(pivotTokens * minTBT / pivotS)
            case .predicted: budget = engine.timeModel.maxTokens(within: minTBT, base: IterationLoad())
            }
            budget = min(max(budget, 1), cap)
        } else {
            budget = cap
        }
        // T_iter_max for this step: the longest this iteration can be — a full budget of prompt
        // tokens (bounded by SLO_min when the SLO guarantee is on).
        var fullBudget = IterationLoad()
        fullBudget.addPrefill(newTokens: budget, contextTokens: 0)
        tIterMax = engine.timeModel.seconds(fullBudget)
        if o.enforceIterationSLO && o.dynamicChunking && minTBT.isFinite { tIterMax = min(tIterMax, minTBT) }

        // Candidates: every running request (slack completed now that T_iter_max is known), and
        // the most urgent waiting ones.
        var urgentDecodes = 0
        var urgentExtraBlocks = 0
        if o.sloOrdering {
            for i in cands.indices {
                cands[i].slack -= iterTerms[i] * tIterMax
                if cands[i].slack < tIterMax && cands[i].request.phase == .decoding {
                    urgentDecodes += 1
                    urgentExtraBlocks += engine.extraBlocksForDecode(cands[i].request)
                }
            }
        }
        var popped: [Entry] = []
        // Only as many as could be admitted this step (none at max_num_seqs).
        let admissible = min(o.waitingCandidates, max(0, maxNumSeqs - engine.running.count))
        while popped.count < admissible, let e = waiting.popMin() {
            popped.append(e)
            cands.append(Candidate(request: e.request, slack: o.sloOrdering ? slack(e.request, now: now) : e.request.arrivalS,
                                   fromWaiting: true, isLong: e.request.promptTokens >= o.longPromptTokens))
        }
        var used = 0
        // Fast path: when every urgent decode's extra KV block fits, none needs a preemption and
        // their order does not matter; they join the batch as they are and only the rest is sorted.
        if o.sloOrdering {
            if urgentDecodes > 0 && urgentExtraBlocks <= engine.freeBlocks {
                var others: [Candidate] = []
                others.reserveCapacity(cands.count - urgentDecodes)
                plan.items.reserveCapacity(cands.count)
                for c in cands {
                    if c.request.phase == .decoding && c.slack < tIterMax {
                        _ = engine.reserveDecode(c.request)
                        engine.mark(c.request)
                        plan.addDecode(c.request)
                        used += 1
                    } else {
                        others.append(c)
                    }
                }
                cands = others
            }
        }
        cands.sort { a, b in
            if a.slack != b.slack { return a.slack < b.slack }
            if a.arrival != b.arrival { return a.arrival < b.arrival }
            return a.id < b.id
        }
        plan.items.reserveCapacity(cands.count)

        plan.budgetTokens = budget
        let totalBlocks = Double(engine.kv.totalBlocks)
        var longPrefilling = engine.running.contains { $0.phase == .prefilling && $0.promptTokens >= o.longPromptTokens }

        // Victim for a shortage: the running request with the largest slack (ties: the later
        // arrival) not in the batch, and of lower priority than `c`.
        func victim(below c: Candidate) -> EngineRequest? {
            let mine = (c.slack, c.request.arrivalS, c.request.id)
            for v in cands.reversed() where !v.fromWaiting {
                guard (v.slack, v.request.arrivalS, v.request.id) > mine else { return nil }
                let r = v.request
                if r.phase != .waiting && !engine.isMarked(r) { return r }
            }
            return nil
        }

        /// Adds `c` with up to `maxTokens` prefill tokens; false if it cannot run now.
        func add(_ c: Candidate, maxTokens: Int, mayPreempt: Bool) -> Bool {
            let r = c.request
            switch r.phase {
            case .decoding:
                while !engine.reserveDecode(r) {
                    guard mayPreempt, let v = victim(below: c) else { return false }
                    engine.preempt(v, now: now)
                    plan.preempted += 1
                }
                engine.mark(r)
                plan.addDecode(r)
                used += 1
                return true
            case .prefilling:
                let n = min(r.remainingPrefill, maxTokens)
                guard n > 0 else { return false }
                engine.mark(r)
                plan.addPrefill(r, tokens: n)
                used += n
                return true
            case .waiting:
                guard maxTokens > 0, engine.running.count < maxNumSeqs else { return false }
                if o.exclusiveLong, c.isLong, longPrefilling, c.slack >= tIterMax { return false }
                while !engine.admit(r, now: now) {
                    guard mayPreempt, let v = victim(below: c) else { return false }
                    engine.preempt(v, now: now)
                    plan.preempted += 1
                }
                if c.isLong { longPrefilling = true }
                engine.mark(r)
                let n = min(r.remainingPrefill, maxTokens)
                plan.addPrefill(r, tokens: n)
                used += n
                return true
            case .finished:
                return false
            }
        }

        var rest: [Candidate] = []
        // 1. Urgent requests in slack order; they may preempt larger-slack ones.
        //    Urgent decodes always run (one token each) so progress never stalls on the budget.
        if o.sloOrdering {
            for c in cands {
                if c.slack < tIterMax {
                    if engine.isMarked(c.request) || (c.request.phase == .waiting && !c.fromWaiting) { continue }
                    _ = add(c, maxTokens: max(0, budget - used), mayPreempt: true)
                } else {
                    rest.append(c)
                }
            }
        } else {
            rest = cands
        }
        // Exclusive allocation: running long prefills get the budget first.
        if o.exclusiveLong {
            for c in rest where !c.fromWaiting && c.isLong && c.request.phase == .prefilling && !engine.isMarked(c.request) {
                _ = add(c, maxTokens: budget - used, mayPreempt: false)
            }
        }
        // 2. Candidates within γ of the most urgent one.
        let head = (cands.first?.slack ?? 0)
        let window = o.sloOrdering ? head + o.gammaS : .infinity
        var pool = rest.filter { c in
            c.slack <= window && !engine.isMarked(c.request) && c.request.phase != .finished
                && (c.request.phase != .waiting || c.fromWaiting)
        }
        // 3. Best fit on (compute budget left, free KV blocks), normalised by capacity.
        while !pool.isEmpty, used < budget {
            let aC = Double(budget - used)
            let aM = Double(engine.freeBlocks)
            var best = -1
            var bestScore = Double.infinity
            var seenDecode: (Bool, Bool) = (false, false)  // decodes needing 0 / 1 new block
            for (i, c) in pool.enumerated() {
                let r = c.request
                var dC: Double
                var dM: Double
                switch r.phase {
                case .decoding:
                    let extra = engine.extraBlocksForDecode(r)
                    // All decodes with the same needs score alike: only the first (most urgent) counts.
                    if extra == 0 { if seenDecode.0 { continue }; seenDecode.0 = true } else { if seenDecode.1 { continue }; seenDecode.1 = true }
                    dC = 1
                    dM = Double(extra)
                case .prefilling:
                    dC = Double(min(r.remainingPrefill, budget - used))
                    dM = 0
                case .waiting:
                    if o.exclusiveLong, c.isLong, longPrefilling { continue }
                    if engine.running.count >= maxNumSeqs { continue }
                    dC = Double(min(r.remainingPrefill, budget - used))
                    dM = Double(engine.blocksToAdmit(r))
                case .finished:
                    continue
                }
                guard dC <= aC, dM <= aM else { continue }
                if !o.multiResource { best = i; break }
                let x = (aC - dC) / Double(budget), y = (aM - dM) / totalBlocks
                let score = x * x + y * y
                if score < bestScore {
                    bestScore = score
                    best = i
                }
            }
            if best < 0 { break }
            let c = pool.remove(at: best)
            _ = add(c, maxTokens: budget - used, mayPreempt: false)
        }
        // Work conservation (our choice; the paper's loop stops at the γ window): budget still
        // left goes to the remaining candidates in slack order.
        if o.workConserving {
            var admitting = true
            for c in rest where used < budget && !engine.isMarked(c.request) {
                let r = c.request
                if r.phase == .waiting {
                    // Admission stops at the first waiting request that does not fit (FCFS within slack order).
                    if !c.fromWaiting || !admitting { continue }
                    if engine.blocksToAdmit(r) > engine.freeBlocks { admitting = false; continue }
                }
                if r.phase == .decoding && engine.extraBlocksForDecode(r) > engine.freeBlocks { continue }
                _ = add(c, maxTokens: budget - used, mayPreempt: false)
            }
        }
        // Progress: if nothing could be placed (KV exhausted by requests that are not urgent),
        // the most urgent running request runs, preempting the largest-slack ones.
        if plan.isEmpty {
            for c in cands where !c.fromWaiting && c.request.phase != .waiting {
                if add(c, maxTokens: max(1, budget), mayPreempt: true) { break }
            }
        }
        // Waiting requests not admitted go back to the queue.
        for e in popped where e.request.phase == .waiting && !engine.isMarked(e.request) {
            waiting.insert(e)
        }
        // SLO guarantee: if the prediction still exceeds SLO_min (the budget rule is an
        // approximation; prefill attention is not in it), shorten the last prefill chunks.
        if o.enforceIterationSLO, o.dynamicChunking, minTBT.isFinite {
            trim(&plan, to: minTBT, model: engine.timeModel)
        }
        let predicted = engine.timeModel.seconds(plan.load)
        plan.predictedS = predicted
        observe(plan, predicted: predicted)
        return plan
    }

    /// Shrinks prefill chunks, last first, until the plan's predicted time is within `limit`
    /// (or only decodes are left: then the SLO is infeasible for this batch).
    func trim(_ plan: inout StepPlan, to limit: Double, model: IterationTimeModel) {
        while model.seconds(plan.load) > limit, let idx = plan.items.lastIndex(where: { $0.isPrefill }) {
            let item = plan.items[idx]
            var lo = 0, hi = item.newTokens - 1  // the largest chunk that fits lies in lo...hi
            while lo < hi {
                let mid = (lo + hi + 1) / 2
                var trial = plan
                trial.setChunk(at: idx, tokens: mid)
                if model.seconds(trial.load) <= limit { lo = mid } else { hi = mid - 1 }
            }
            plan.setChunk(at: idx, tokens: lo)
        }
    }

    /// Updates the mean iteration time and the average chunk from this plan.
    func observe(_ plan: StepPlan, predicted: Double) {
        guard !plan.isEmpty else { return }
        meanIterS = 0.9 * meanIterS + 0.1 * predicted
        var avg = avgChunk
        plan.items.withUnsafeBufferPointer { items in
            for i in items.indices where items[i].isPrefill {
                avg = 0.9 * avg + 0.1 * Double(items[i].newTokens)
            }
        }
        avgChunk = avg
    }
}

