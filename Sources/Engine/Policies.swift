import BenchCore
import DequeModule
import HeapModule

/// Settings shared by the policies; each field documents its default and source.
public struct PolicyOptions: Sendable, Equatable {
    /// vllm: most tokens in one (prefill) iteration. nil = the model's context length, the
    /// smallest value vLLM accepts with chunking off.
    public var maxNumBatchedTokens: Int?
    /// vllm: most sequences running at once. 256: vLLM's default `max_num_seqs`.
    public var vllmMaxNumSeqs = 256
    /// sarathi / edf: token budget per iteration. 512: Sarathi-Serve's default chunk size.
    public var tokenBudget = 512
    /// sarathi / edf / accelgen: most sequences running at once. 128: Sarathi-Serve's default.
    public var maxNumSeqs = 128
    public var accelgen = AccelGenOptions()
    /// edf / accelgen: SLO-aware admission and drop (off by default).
    public var sloRules = SLORules()

    public init() {}

    /// The switches of `policy` that differ from the defaults, by flag name (AccelGen's ablations,
    /// then the SLO rules), for a run's target identity.
    public func labels(for policy: PolicyName) -> [String] {
        (policy == .accelgen ? accelgen.ablations : []) + sloRules.labels
    }

    /// What makes these settings unusable, naming the flag that sets each; nil when they are fine.
    public var problem: String? {
        if let m = maxNumBatchedTokens, m <= 0 { return "--max-num-batched-tokens must be > 0" }
        for (flag, v) in [("--vllm-max-num-seqs", vllmMaxNumSeqs), ("--token-budget", tokenBudget), ("--max-num-seqs", maxNumSeqs),
                          ("--long-prompt-tokens", accelgen.longPromptTokens), ("--waiting-candidates", accelgen.waitingCandidates)] where v <= 0 {
            return "\(flag) must be > 0"
        }
        if !(accelgen.gammaS >= 0 && accelgen.gammaS.isFinite) { return "--gamma must be ≥ 0 seconds" }
        if let m = accelgen.maxBudgetTokens, m <= 0 { return "--max-budget-tokens must be > 0" }
        return nil
    }
}

public enum PolicyName: String, CaseIterable, Sendable {
    case vllm, sarathi, edf, accelgen

    public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }

    public static func parse(_ s: String) throws(BenchError) -> PolicyName {
        guard let p = PolicyName(rawValue: s) else {
            throw BenchError.usage("unknown policy '\(s)'; valid policies: \(list)")
        }
        return p
    }

    public func make(_ options: PolicyOptions, profile: HardwareProfile) -> SchedulingPolicy {
        switch self {
        case .vllm: return VLLMPolicy(options, profile: profile)
        case .sarathi: return SarathiPolicy(options)
        case .edf:
            let p = EDFPolicy(options)
            p.sloRules = options.sloRules
            return p
        case .accelgen:
            let p = AccelGenPolicy(options.accelgen, maxNumSeqs: options.maxNumSeqs, profile: profile)
            p.sloRules = options.sloRules
            return p
        }
    }
}

/// SLO-aware admission and drop, for the deadline-ordered policies (edf, accelgen; issue 20).
/// Both are off by default: a serving engine cannot know that a client counts a late answer as
/// lost (an SLO is a target, and a late reply may still be used), AccelGen's paper does not say
/// that it sheds or drops, and goodput-maximising runs switch them on to show the trade (the
/// summary counts rejected and dropped requests apart).
public struct SLORules: Sendable, Equatable {
    /// Reject a request on arrival when its first token cannot come before its TTFT deadline:
    /// predicted as one iteration holding its whole prefill and the remaining prefill of every
    /// request ahead of it (an earlier TTFT deadline, no token yet). One iteration is the
    /// cheapest way the time model allows to compute those tokens, so only requests that miss
    /// even in that best case are turned away.
    public var rejectHopeless = false
    /// Drop (abort) a request the moment one of its deadlines passes (TTFT before its first
    /// token, the next token's TBT, JCT): it can no longer meet its SLO, and the engine's work
    /// on it would be wasted.
    public var dropLost = false

    public init(rejectHopeless: Bool = false, dropLost: Bool = false) {
        self.rejectHopeless = rejectHopeless
        self.dropLost = dropLost
    }

    /// The rules switched on, by flag name, for a run's target identity.
    public var labels: [String] {
        (rejectHopeless ? ["reject-hopeless"] : []) + (dropLost ? ["drop-lost"] : [])
    }

    /// The policies the rules apply to: those that order by deadline, so "ahead" means an
    /// earlier deadline.
    public static let policies: [PolicyName] = [.edf, .accelgen]
}

/// A waiting-queue entry ordered by a key (a deadline, a slack deadline), then arrival, then id.
struct KeyedEntry: Comparable {
    let key: Double
    let arrival: Double
    let id: Int
    let request: EngineRequest

    init(key: Double, request: EngineRequest) {
        self.key = key
        arrival = request.arrivalS
        id = request.id
        self.request = request
    }

    static func < (a: KeyedEntry, b: KeyedEntry) -> Bool { (a.key, a.arrival, a.id) < (b.key, b.arrival, b.id) }
    static func == (a: KeyedEntry, b: KeyedEntry) -> Bool { a.id == b.id && a.key == b.key }
}

/// Policies whose waiting queue is FCFS share its bookkeeping.
protocol FCFSQueuedPolicy: SchedulingPolicy {
    var waiting: FCFSQueue { get set }
}

extension FCFSQueuedPolicy {
    public func enqueue(_ r: EngineRequest, now: Double) { waiting.enqueue(r) }
    public func removed(_ r: EngineRequest) {}
    public func removeWaiting(_ r: EngineRequest) -> Bool {
        guard let i = waiting.queue.firstIndex(where: { $0 === r }) else { return false }
        waiting.queue.remove(at: i)
        return true
    }
    public var waitingCount: Int { waiting.queue.count }
    public var waitingRequests: [EngineRequest] { Array(waiting.queue) }
}

extension Heap where Element == KeyedEntry {
    /// Removes `r` (O(n): aborts are rare). False when it is not queued.
    mutating func remove(_ r: EngineRequest) -> Bool {
        let all = unordered
        guard all.contains(where: { $0.request === r }) else { return false }
        self = Heap(all.filter { $0.request !== r })
        return true
    }
}

/// A FCFS waiting queue; preempted requests go back to its front (as in vLLM).
struct FCFSQueue {
    var queue: Deque<EngineRequest> = []

    mutating func enqueue(_ r: EngineRequest) {
        if r.preemptions > 0 {
            // Back to the front, keeping preempted requests in arrival order among themselves.
            var i = 0
            while i < queue.count, queue[i].preemptions > 0, queue[i].arrivalS <= r.arrivalS { i += 1 }
            queue.insert(r, at: i)
        } else {
            queue.append(r)
        }
    }
}

/// vLLM (v0 default scheduler): FCFS, prefill-prioritised, whole prompts (no chunking). An
/// iteration is either all prefills or all decodes; on a KV shortage the newest running request
/// is preempted (recompute).
public final class VLLMPolicy: FCFSQueuedPolicy {
    public let name = "vllm"
    let maxBatchedTokens: Int
    let maxNumSeqs: Int
    var waiting = FCFSQueue()

    init(_ o: PolicyOptions, profile: HardwareProfile) {
        maxBatchedTokens = o.maxNumBatchedTokens ?? profile.model.maxContextTokens
        maxNumSeqs = o.vllmMaxNumSeqs
    }

    public func schedule(_ view: SchedulerView) -> StepPlan {
        var plan = StepPlan()
        plan.budgetTokens = maxBatchedTokens
        var tokens = 0
        while let r = waiting.queue.first {
            let n = r.remainingPrefill
            guard tokens + n <= maxBatchedTokens || plan.isEmpty && n > maxBatchedTokens && tokens == 0 else { break }
            guard view.runningCount < maxNumSeqs, view.admit(r) else { break }
            waiting.queue.removeFirst()
            // Admission may have found part of the prompt in the prefix cache.
            plan.addPrefill(r, tokens: r.remainingPrefill)
            tokens += r.remainingPrefill
        }
        if !plan.isEmpty { return plan }
        var i = 0
        while i < view.runningCount {
            let r = view.running[i]
            view.mark(r)
            if view.reserveDecode(r, plan: &plan, victim: { view.newestUnmarked() }) {
                plan.addDecode(r)
                i += 1
            }
        }
        return plan
    }

    /// With the queue empty, the decode loop takes every running request.
    public func decodesEveryRunningRequest(runningCount: Int) -> Bool { waiting.queue.isEmpty }
}

/// Sarathi-Serve's stall-free batching: running decodes first, then ongoing partial prefills,
/// then new prefills, each chunk `min(remaining, budget − batched)` (sarathi_scheduler.py).
public final class SarathiPolicy: FCFSQueuedPolicy {
    public let name = "sarathi"
    let budget: Int
    let maxNumSeqs: Int
    var waiting = FCFSQueue()

    init(_ o: PolicyOptions) {
        budget = o.tokenBudget
        maxNumSeqs = o.maxNumSeqs
    }

    public func schedule(_ view: SchedulerView) -> StepPlan {
        var plan = StepPlan()
        plan.budgetTokens = budget
        var used = 0
        var i = 0
        while i < view.runningCount, used < budget {
            let r = view.running[i]
            guard r.phase == .decoding else { i += 1; continue }
            view.mark(r)
            if view.reserveDecode(r, plan: &plan, victim: { view.newestUnmarked() }) {
                plan.addDecode(r)
                used += 1
                i += 1
            }
        }
        for r in view.running where r.phase == .prefilling && used < budget {
            let n = min(r.remainingPrefill, budget - used)
            plan.addPrefill(r, tokens: n)
            used += n
        }
        while used < budget, view.runningCount < maxNumSeqs, let r = waiting.queue.first {
            guard view.admit(r) else { break }
            waiting.queue.removeFirst()
            let n = min(r.remainingPrefill, budget - used)
            plan.addPrefill(r, tokens: n)
            used += n
        }
        return plan
    }

    /// The decode loop takes every running request while they fit in the token budget.
    public func decodesEveryRunningRequest(runningCount: Int) -> Bool { waiting.queue.isEmpty && runningCount <= budget }
}

/// Earliest deadline first with chunked prefill (an extra baseline): every candidate's next
/// deadline — TTFT for a request that has not produced a token, the next token's TBT deadline
/// for one that has, JCT for offline work — orders the batch within the fixed token budget.
/// Preemption on a KV shortage takes the running request with the latest deadline.
public final class EDFPolicy: SchedulingPolicy {
    public let name = "edf"
    public var sloRules = SLORules()
    let budget: Int
    let maxNumSeqs: Int

    typealias Entry = KeyedEntry

    var waiting = Heap<Entry>()

    init(_ o: PolicyOptions) {
        budget = o.tokenBudget
        maxNumSeqs = o.maxNumSeqs
    }

    /// The request's next deadline, seconds since run start (+∞ without SLOs).
    static func deadline(_ r: EngineRequest) -> Double {
        if let last = r.lastTokenS, let tbt = r.slo.tbtMs { return last + tbt / 1000 }
        if r.numOutputTokens == 0, let ttft = r.slo.ttftMs { return r.arrivalS + ttft / 1000 }
        if let jct = r.slo.jctS { return r.arrivalS + jct }
        return .infinity
    }

    public func enqueue(_ r: EngineRequest, now: Double) {
        waiting.insert(Entry(key: EDFPolicy.deadline(r), request: r))
    }

    public func removed(_ r: EngineRequest) {}
    public func removeWaiting(_ r: EngineRequest) -> Bool { waiting.remove(r) }
    public var waitingCount: Int { waiting.count }
    public var waitingRequests: [EngineRequest] { waiting.unordered.map(\.request) }

    public func schedule(_ view: SchedulerView) -> StepPlan {
        var plan = StepPlan()
        plan.budgetTokens = budget
        var running = view.running.map { Entry(key: EDFPolicy.deadline($0), request: $0) }
        running.sort()
        var used = 0
        var ri = 0
        var admitting = true
        while used < budget {
            let fromRunning: Bool
            if ri < running.count {
                if admitting, let top = waiting.min, top < running[ri] { fromRunning = false } else { fromRunning = true }
            } else if admitting, waiting.min != nil {
                fromRunning = false
            } else {
                break
            }
            if fromRunning {
                let r = running[ri].request
                ri += 1
                guard r.phase != .waiting else { continue }  // preempted earlier in this step
                view.mark(r)
                if r.phase == .decoding {
                    let ok = view.reserveDecode(r, plan: &plan) {
                        running.last { $0.request.phase != .waiting && !view.isMarked($0.request) }?.request
                    }
                    if ok {
                        plan.addDecode(r)
                        used += 1
                    }
                } else {
                    let n = min(r.remainingPrefill, budget - used)
                    plan.addPrefill(r, tokens: n)
                    used += n
                }
            } else {
                let top = waiting.min!
                guard view.runningCount < maxNumSeqs, view.admit(top.request) else {
                    admitting = false
                    continue
                }
                _ = waiting.popMin()
                view.mark(top.request)
                let n = min(top.request.remainingPrefill, budget - used)
                plan.addPrefill(top.request, tokens: n)
                used += n
            }
        }
        return plan
    }
}
