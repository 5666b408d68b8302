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
///   prefilling, unless it is urgent; running long prefills in the γ window get the budget first.
public final class AccelGenPolicy: SchedulingPolicy {
    public let name = "accelgen"
    public var sloRules = SLORules()
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

    public func enqueue(_ r: EngineRequest, now: Double) {
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

    /// Forms one iteration along the phases of the type's doc; each is a function of
    /// `AccelGenStep`, which holds the step's state.
    public func schedule(_ view: SchedulerView) -> StepPlan {
        var step = AccelGenStep(policy: self, view: view)
        step.formBudget()
        step.gatherCandidates()
        step.placeUrgent()
        step.placeRunningLongPrefills()
        step.bestFit(step.gammaWindow())
        step.conserveWork()
        step.ensureProgress()
        step.requeueUnadmitted()
        return step.finish()
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

