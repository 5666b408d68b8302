import BenchCore
import DequeModule

/// One request's share of an iteration.
public struct PlanItem {
    public let request: EngineRequest
    /// Tokens computed this iteration: a prefill chunk, or 1 for a decode.
    public let newTokens: Int
    public let isPrefill: Bool
    /// Tokens already in KV before this iteration (attention context).
    public let contextTokens: Int
}


/// What the policy decided for one iteration.
public struct StepPlan {
    public var items: [PlanItem] = []
    public var load = IterationLoad()
    /// The policy's token budget for this iteration, if it has one.
    public var budgetTokens: Int?
    /// The policy's own prediction of the iteration time (seconds), if it makes one.
    public var predictedS: Double?
    public var preempted = 0

    public init() {}

    public var isEmpty: Bool { items.isEmpty }
    public var prefillTokens: Int { items.reduce(0) { $0 + ($1.isPrefill ? $1.newTokens : 0) } }
    public var decodeCount: Int { items.reduce(0) { $0 + ($1.isPrefill ? 0 : 1) } }

    public mutating func addPrefill(_ r: EngineRequest, tokens: Int) {
        items.append(PlanItem(request: r, newTokens: tokens, isPrefill: true, contextTokens: r.numComputedTokens))
        load.addPrefill(newTokens: tokens, contextTokens: r.numComputedTokens)
    }

    /// Changes the prefill chunk of item `i` (0 removes it) and recomputes the load.
    public mutating func setChunk(at i: Int, tokens: Int) {
        precondition(items[i].isPrefill)
        let old = items[i]
        if tokens <= 0 {
            items.remove(at: i)
        } else {
            items[i] = PlanItem(request: old.request, newTokens: tokens, isPrefill: true, contextTokens: old.contextTokens)
        }
        var l = IterationLoad()
        for item in items {
            if item.isPrefill { l.addPrefill(newTokens: item.newTokens, contextTokens: item.contextTokens) } else { l.addDecode(contextTokens: item.contextTokens) }
        }
        load = l
    }

    public mutating func addDecode(_ r: EngineRequest) {
        items.append(PlanItem(request: r, newTokens: 1, isPrefill: false, contextTokens: r.numComputedTokens))
        load.addDecode(contextTokens: r.numComputedTokens)
    }
}

/// What a backend reports for an executed plan.
public struct StepResult: Sendable {
    /// How long the iteration took, seconds (simulated or measured).
    public var durationS: Double
    /// A real model's sampled tokens, one per plan item (-1 for a prefill chunk that emits no
    /// token); nil from backends that produce no text.
    public var sampledTokens: [Int32]?
    /// Why a real backend could not run the iteration (a device error); nil when it ran. The
    /// real-time driver then applies nothing and aborts every request with this reason.
    public var failure: String?
    public init(durationS: Double, sampledTokens: [Int32]? = nil, failure: String? = nil) {
        self.durationS = durationS
        self.sampledTokens = sampledTokens
        self.failure = failure
    }
}

/// Executes iterations: the simulated GPU, or a real CPU/CUDA model in later issues.
public protocol ExecutionBackend {
    mutating func execute(_ plan: StepPlan) -> StepResult
}

/// A scheduling policy: a step function over the engine's queues, handed the current time.
public protocol SchedulingPolicy: AnyObject {
    var name: String { get }
    /// A new request was admitted to the waiting queue (or returned there by a preemption).
    func enqueue(_ r: EngineRequest, now: Double)
    /// Forms the next iteration at `view.now`. May admit, preempt and allocate through `view`.
    func schedule(_ view: SchedulerView) -> StepPlan
    /// A request left the engine (finished or aborted).
    func removed(_ r: EngineRequest)
    /// Takes a waiting request out of the queue (an abort); false when it is not there.
    func removeWaiting(_ r: EngineRequest) -> Bool
    /// Waiting requests in the policy's own queue.
    var waitingCount: Int { get }
    /// Every waiting request (for invariant checks; order unspecified).
    var waitingRequests: [EngineRequest] { get }
    /// True when, with nothing waiting and every running request decoding, this policy's next
    /// iteration is a decode of every running request in running order (the settled fast path
    /// may then stand in for `schedule`; see `settledDecodeSteps`).
    func decodesEveryRunningRequest(runningCount: Int) -> Bool
    /// SLO-aware admission and drop; applied by the engine (`add`) and the drivers
    /// (`dropLostRequests`).
    var sloRules: SLORules { get }
}

extension SchedulingPolicy {
    /// Policies without the rules (vllm, sarathi) keep them off.
    public var sloRules: SLORules { SLORules() }

    /// Policies that order or limit decodes (deadline order, dynamic chunking) keep the default.
    public func decodesEveryRunningRequest(runningCount: Int) -> Bool { false }
}

/// The engine's state and its mechanics (admission, KV allocation, preemption, applying an
/// iteration's result). Policies decide; this type does. It never reads a clock.
public final class EngineCore {
    public let profile: HardwareProfile
    public let timeModel: IterationTimeModel
    public let policy: SchedulingPolicy
    public internal(set) var kv: KVBlockManager
    /// Admitted requests (prefilling or decoding), in admission order.
    public internal(set) var running: [EngineRequest] = []
    public private(set) var preemptionCount = 0
    public internal(set) var iterationCount = 0
    private var nextAdmission = 0

    /// Share the KV blocks of a prompt prefix among requests of the same `prefix_group`
    /// (automatic prefix caching; off by default, as in vLLM v0).
    public let prefixCaching: Bool
    /// Per prefix group: the full blocks of its shared prefix, held by the cache itself.
    private var prefixCache: [Int: (blocks: [Int32], lastUse: Int)] = [:]
    /// Prompt tokens not computed because their KV came from the prefix cache.
    public private(set) var prefixHitTokens = 0
    /// Prompt tokens looked up in the prefix cache (every admission's prefill, with prefix
    /// caching on): vLLM's `prefix_cache_queries`, of which `prefixHitTokens` hit.
    public private(set) var prefixQueryTokens = 0

    public init(profile: HardwareProfile, policy: SchedulingPolicy, prefixCaching: Bool = false) {
        self.profile = profile
        timeModel = IterationTimeModel(profile: profile)
        self.policy = policy
        self.prefixCaching = prefixCaching
        kv = KVBlockManager(totalBlocks: profile.kvCapacityBlocks, blockSizeTokens: profile.blockSizeTokens)
        blockSizeTokens = profile.blockSizeTokens
    }

    /// Accepts a request into the waiting queue, or rejects it (returned reason) when it can
    /// never run: longer than the model's context or than the whole KV cache.
    public func add(_ r: EngineRequest, now: Double) -> String? {
        if let filter = admissionFilter, let reason = filter(r) { return reject(r, now: now, reason) }
        if r.peakTokens > profile.model.maxContextTokens {
            return reject(r, now: now, "prompt + output = \(r.peakTokens) tokens exceeds the model's context of \(profile.model.maxContextTokens)")
        }
        if kv.blocksFor(tokens: r.peakTokens) > kv.totalBlocks {
            return reject(r, now: now, "needs \(kv.blocksFor(tokens: r.peakTokens)) KV blocks; the cache holds \(kv.totalBlocks)")
        }
        if policy.sloRules.rejectHopeless, let reason = hopelessReason(r, now: now) {
            return reject(r, now: now, reason, as: .shed)
        }
        policy.enqueue(r, now: now)
        return nil
    }

    private func reject(_ r: EngineRequest, now: Double, _ reason: String, as finish: FinishReason = .rejected) -> String {
        r.phase = .finished
        r.finishReason = finish
        r.rejectReason = reason
        r.doneS = now
        return reason
    }

    public var hasWork: Bool { !running.isEmpty || policy.waitingCount > 0 }

    /// Give every iteration record the profile's predicted time, not only the iterations of
    /// policies that predict one: set by drivers of real backends, so `iterations.jsonl` puts the
    /// measured time next to the simulator's (how a calibrated profile is checked). Off for the
    /// simulated backend, whose duration is the prediction.
    public var predictsEveryIteration = false

    /// Admission control from outside the policy (the oracle's clairvoyant schedule): a request
    /// for which it returns a reason is rejected on arrival with that reason.
    public var admissionFilter: ((EngineRequest) -> String?)?

    /// Aborts a request that has not finished (its client went away, or `as: .dropped` the drop
    /// rule): a waiting request leaves the queue, a running one frees its KV blocks. Call it
    /// between iterations, never between `schedule` and `apply`. Returns false when the request
    /// was not in the engine.
    @discardableResult
    public func abort(_ r: EngineRequest, now: Double, reason: String, as finish: FinishReason = .aborted) -> Bool {
        switch r.phase {
        case .finished:
            return false
        case .waiting:
            guard policy.removeWaiting(r) else { return false }
        case .prefilling, .decoding:
            guard let i = running.firstIndex(where: { $0 === r }) else { return false }
            running.remove(at: i)
            kv.free(r.blocks)
            r.blocks = []
        }
        r.phase = .finished
        r.finishReason = finish
        r.rejectReason = reason
        r.doneS = now
        policy.removed(r)
        return true
    }

    /// Reason given to the requests the drop rule (or the oracle's schedule) aborts.
    public static let droppedReason = "dropped: its SLO could no longer be met"

    /// The drop rule: aborts, as dropped, every request that can no longer meet its SLO at `now`
    /// (a deadline has passed, or a token came late: `hasLostSLO`). Drivers call it between iterations when
    /// `policy.sloRules.dropLost` is on (and the oracle's replay always). Returns them, in id order.
    public func dropLostRequests(now: Double) -> [EngineRequest] {
        let lost = (running + policy.waitingRequests).filter { $0.hasLostSLO(now: now) }.sorted { $0.id < $1.id }
        return lost.filter { abort($0, now: now, reason: Self.droppedReason, as: .dropped) }
    }

    /// The admission rule's verdict on a new request: nil when its first token can still come
    /// in time; else why not. The prediction is one iteration holding `r`'s whole prefill and
    /// the remaining prefill of every request ahead of it (an earlier TTFT deadline and no token
    /// yet), the cheapest way the time model allows to compute those tokens (`SLORules`).
    func hopelessReason(_ r: EngineRequest, now: Double) -> String? {
        guard let ttftMs = r.slo.ttftMs else { return nil }
        let deadline = r.arrivalS + ttftMs / 1000
        var load = IterationLoad()
        load.addPrefill(newTokens: r.prefillTarget, contextTokens: 0)
        for q in running + policy.waitingRequests where q.numOutputTokens == 0 && q.remainingPrefill > 0 {
            guard let t = q.slo.ttftMs, q.arrivalS + t / 1000 <= deadline else { continue }
            load.addPrefill(newTokens: q.remainingPrefill, contextTokens: q.numComputedTokens)
        }
        let firstTokenS = now + timeModel.seconds(load)
        guard firstTokenS > deadline else { return nil }
        return String(format: "rejected: its first token could not come before %.3f s (TTFT deadline %.3f s): %d prefill tokens ahead of it",
                      firstTokenS, deadline, load.tokens - r.prefillTarget)
    }

    /// Number of `schedule(now:)` calls so far; marks made during a step carry it.
    public internal(set) var stepSerial = 0

    /// Forms the next iteration (the policy decides; it may admit, preempt and allocate).
    public func schedule(now: Double) -> StepPlan {
        stepSerial += 1
        return policy.schedule(SchedulerView(engine: self, now: now))
    }

    /// Marks `r` as taken in the step being formed.
    @inline(__always) public func mark(_ r: EngineRequest) { r.mark = stepSerial }
    @inline(__always) public func isMarked(_ r: EngineRequest) -> Bool { r.mark == stepSerial }

    // MARK: mechanics for policies

    /// Admits a waiting request: allocates KV for its whole prefill (as vLLM's v0 block manager
    /// and Sarathi-Serve do), or with `firstChunkTokens` only for the prefix cache's hit and that
    /// first chunk (the request then grows its KV chunk by chunk, `reservePrefill`). Returns
    /// false, taking nothing, if the blocks are not free.
    public func admit(_ r: EngineRequest, now: Double, firstChunkTokens: Int? = nil) -> Bool {
        precondition(r.phase == .waiting)
        let shared = cachedPrefix(for: r)
        let sharedTokens = shared.count * kv.blockSizeTokens
        let covered = firstChunkTokens.map { min(r.prefillTarget, sharedTokens + max(1, $0)) } ?? r.prefillTarget
        let need = kv.blocksFor(tokens: covered) - shared.count
        guard let blocks = allocate(need, sparing: shared) else { return false }
        if prefixCaching { prefixQueryTokens += r.prefillTarget }
        r.kvByChunk = firstChunkTokens != nil && covered < r.prefillTarget
        if !shared.isEmpty {
            kv.retain(shared)
            r.numComputedTokens = shared.count * kv.blockSizeTokens
            prefixHitTokens += r.numComputedTokens
        }
        r.blocks = shared + blocks
        r.phase = .prefilling
        r.admissionSeq = nextAdmission
        nextAdmission += 1
        if r.firstScheduledS == nil { r.firstScheduledS = now }
        running.append(r)
        return true
    }

    /// Tokens per KV block (a copy: the scheduler's hot loops should not touch the block manager).
    public let blockSizeTokens: Int

    @inline(__always)
    func blocksFor(tokens: Int) -> Int { (tokens + blockSizeTokens - 1) / blockSizeTokens }

    /// Blocks a decode step of `r` needs beyond what it holds (0 or 1).
    @inline(__always)
    public func extraBlocksForDecode(_ r: EngineRequest) -> Int {
        max(0, blocksFor(tokens: r.numComputedTokens + 1) - r.blocks.count)
    }

    /// Blocks admitting `r` takes.
    @inline(__always)
    public func blocksToAdmit(_ r: EngineRequest) -> Int { blocksFor(tokens: r.prefillTarget) }

    /// Blocks a prefill chunk of `tokens` more tokens of `r` needs beyond what it holds (0 unless
    /// its KV grows by chunk).
    @inline(__always)
    public func extraBlocksForPrefill(_ r: EngineRequest, tokens: Int) -> Int {
        max(0, blocksFor(tokens: r.numComputedTokens + tokens) - r.blocks.count)
    }

    /// The longest next prefill chunk of `r` (at most `limit` tokens) that its blocks plus
    /// `freeBlocks` more can hold.
    @inline(__always)
    public func prefillTokensFitting(_ r: EngineRequest, freeBlocks: Int, limit: Int) -> Int {
        let room = (r.blocks.count + freeBlocks) * blockSizeTokens - r.numComputedTokens
        return max(0, min(limit, r.remainingPrefill, room))
    }

    /// Makes room for a prefill chunk of `tokens` tokens of `r`; false, taking nothing, if the
    /// blocks are not free.
    public func reservePrefill(_ r: EngineRequest, tokens: Int) -> Bool {
        let extra = extraBlocksForPrefill(r, tokens: tokens)
        if extra == 0 { return true }
        guard let b = allocate(extra, sparing: []) else { return false }
        r.blocks.append(contentsOf: b)
        if blocksFor(tokens: r.prefillTarget) <= r.blocks.count { r.kvByChunk = false }
        return true
    }

    /// Free KV blocks now.
    public var freeBlocks: Int { kv.freeBlocks }

    /// Makes room for one decode token of `r`; false if the blocks are not free.
    public func reserveDecode(_ r: EngineRequest) -> Bool {
        let extra = extraBlocksForDecode(r)
        if extra == 0 { return true }
        if kv.allocate(extra, appendingTo: &r.blocks) { return true }
        guard let b = allocate(extra, sparing: []) else { return false }
        r.blocks.append(contentsOf: b)
        return true
    }

    // MARK: prefix cache

    /// The cached blocks `r` can reuse: whole blocks of its group's prefix, leaving at least one
    /// prompt token to compute (the last prefill step produces the first output token).
    private func cachedPrefix(for r: EngineRequest) -> [Int32] {
        guard prefixCaching, let g = r.prefixGroup, let pt = r.prefixTokens, var entry = prefixCache[g] else { return [] }
        let usable = min(entry.blocks.count, pt / kv.blockSizeTokens, (r.prefillTarget - 1) / kv.blockSizeTokens)
        guard usable > 0 else { return [] }
        entry.lastUse = stepSerial
        prefixCache[g] = entry
        return Array(entry.blocks.prefix(usable))
    }

    /// Allocates `n` blocks, first evicting cached prefixes nobody else holds (least recently used
    /// first, then by group id) when the free list is short.
    private func allocate(_ n: Int, sparing: [Int32]) -> [Int32]? {
        if let b = kv.allocate(n) { return b }
        guard prefixCaching, !prefixCache.isEmpty else { return nil }
        let spared = Set(sparing)
        let order = prefixCache.sorted { ($0.value.lastUse, $0.key) < ($1.value.lastUse, $1.key) }
        for (g, entry) in order where kv.freeBlocks < n {
            guard entry.blocks.allSatisfy({ kv.holders($0) == 1 && !spared.contains($0) }) else { continue }
            kv.free(entry.blocks)
            prefixCache[g] = nil
        }
        return kv.allocate(n)
    }

    /// After `r`'s prefill covers its group's prefix, the cache keeps those blocks: when the
    /// group has no entry yet, or a shorter one (a session's next turn extends its history; the
    /// entry's blocks are then a prefix of `r`'s, which reused them or recomputed the same tokens).
    private func registerPrefix(_ r: EngineRequest) {
        guard prefixCaching, let g = r.prefixGroup, let pt = r.prefixRegisterTokens ?? r.prefixTokens else { return }
        let prefixBlocks = pt / kv.blockSizeTokens
        if let entry = prefixCache[g], entry.blocks.count >= prefixBlocks { return }
        // Only once the whole prefix (its full blocks) is computed, or the prefill is done.
        guard r.numComputedTokens / kv.blockSizeTokens >= prefixBlocks || r.numComputedTokens >= r.prefillTarget else { return }
        let k = min(prefixBlocks, r.numComputedTokens / kv.blockSizeTokens, r.blocks.count)
        guard k > (prefixCache[g]?.blocks.count ?? 0) else { return }
        let blocks = Array(r.blocks.prefix(k))
        kv.retain(blocks)
        if let old = prefixCache[g] { kv.free(old.blocks) }
        prefixCache[g] = (blocks, stepSerial)
    }

    /// Preempts by recomputation: frees its KV; it returns to the waiting queue and will
    /// recompute its prompt and the tokens generated so far.
    public func preempt(_ r: EngineRequest, now: Double) {
        precondition(r.phase == .prefilling || r.phase == .decoding)
        kv.free(r.blocks)
        r.blocks = []
        r.kvByChunk = false
        r.numComputedTokens = 0
        r.prefillTarget = r.promptTokens + r.numOutputTokens
        r.phase = .waiting
        r.preemptions += 1
        preemptionCount += 1
        if let i = running.firstIndex(where: { $0 === r }) { running.remove(at: i) }
        policy.enqueue(r, now: now)
    }

    /// Applies an executed iteration that ended at `now`: prefill chunks advance; a prefill that
    /// completes and every decode emit one token at `now` (with `sampled`, a real model's token
    /// ids per plan item, the token is appended to the request's ids, and a stop token ends it).
    /// Returns the requests that finished.
    @discardableResult
    public func apply(_ plan: StepPlan, sampled: [Int32]? = nil, now: Double) -> [EngineRequest] {
        iterationCount += 1
        var finished: [EngineRequest] = []
        for k in plan.items.indices {
            let r = plan.items[k].request
            r.numComputedTokens += plan.items[k].newTokens
            if plan.items[k].isPrefill {
                if prefixCaching && r.prefixGroup != nil { registerPrefix(r) }
                if r.numComputedTokens < r.prefillTarget { continue }
                r.phase = .decoding
            }
            r.numOutputTokens += 1
            if let last = r.lastTokenS { r.maxTokenGapS = max(r.maxTokenGapS, now - last) }
            r.tokenTimes.append(now)
            r.lastTokenS = now
            let stopped = sampled.map { r.tokens?.append($0[k]) ?? false } ?? false
            if r.numOutputTokens >= r.maxOutputTokens || stopped {
                finish(r, now: now)
                finished.append(r)
            }
        }
        if !finished.isEmpty {
            running.removeAll { $0.phase == .finished }
        }
        return finished
    }

    func finish(_ r: EngineRequest, now: Double) {
        kv.free(r.blocks)
        r.blocks = []
        r.phase = .finished
        r.finishReason = .completed
        r.doneS = now
        policy.removed(r)
    }

    // MARK: invariants (tests call these after every step)

    public func invariantViolations() -> [String] {
        let cacheHeld = prefixCache.keys.sorted().map { prefixCache[$0]!.blocks }
        var problems = kv.invariantViolations(held: running.map(\.blocks) + cacheHeld)
        let waiting = policy.waitingRequests
        let runningIDs = Set(running.map { ObjectIdentifier($0) })
        for r in waiting {
            if runningIDs.contains(ObjectIdentifier(r)) { problems.append("request \(r.id) is both running and waiting") }
            if r.phase != .waiting { problems.append("waiting request \(r.id) is in phase \(r.phase)") }
            if !r.blocks.isEmpty { problems.append("waiting request \(r.id) holds KV blocks") }
        }
        if Set(waiting.map { ObjectIdentifier($0) }).count != waiting.count { problems.append("a request is queued twice") }
        for r in running {
            if r.phase != .prefilling && r.phase != .decoding { problems.append("running request \(r.id) is in phase \(r.phase)") }
            if r.numComputedTokens > r.prefillTarget && r.phase == .prefilling {
                problems.append("request \(r.id) computed \(r.numComputedTokens) > its prefill \(r.prefillTarget)")
            }
            if r.numComputedTokens > r.promptTokens + r.numOutputTokens {
                problems.append("request \(r.id) computed more tokens than it has")
            }
            let mustHold = r.phase == .prefilling && !r.kvByChunk ? r.prefillTarget : r.numComputedTokens
            if r.kvByChunk && r.phase != .prefilling { problems.append("request \(r.id) grows its KV by chunk after its prefill") }
            if kv.blocksFor(tokens: mustHold) > r.blocks.count {
                problems.append("request \(r.id) holds \(r.blocks.count) blocks for \(r.numComputedTokens) tokens")
            }
            if r.numOutputTokens >= r.maxOutputTokens { problems.append("request \(r.id) should have finished") }
        }
        return problems
    }
}
