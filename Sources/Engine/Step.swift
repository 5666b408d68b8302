import BenchCore

/// One iteration planned and executed but not yet applied: what a driver holds while the
/// iteration runs (a simulated one until its end event, a real one until the backend returns).
public struct StepInFlight {
    public let plan: StepPlan
    public let result: StepResult
    /// When the iteration started, seconds on the driver's time axis.
    public let startS: Double

    /// The end a simulated-time driver applies it at.
    public var predictedEndS: Double { startS + result.durationS }
}

/// What one iteration did: its plan, the backend's report, the requests it finished and the
/// engine's state right after it (the iteration record's fields, kept as plain counts so a
/// driver that writes no records pays nothing for them).
public struct StepOutcome {
    public let plan: StepPlan
    public let result: StepResult
    public let startS: Double
    public let endS: Double
    /// The requests this iteration finished, in plan order.
    public let finished: [EngineRequest]
    /// 0-based index of the iteration.
    public let index: Int
    public let kvUsedBlocks: Int
    public let kvFreeBlocks: Int
    public let waiting: Int

    /// The iteration as `iterations.jsonl` records it.
    public var record: IterationRecord {
        var chunks: [Int] = []
        var prefillTokens = 0
        for item in plan.items where item.isPrefill {
            chunks.append(item.newTokens)
            prefillTokens += item.newTokens
        }
        return IterationRecord(index: index, startS: startS, durationS: result.durationS, prefillTokens: prefillTokens,
                               decodeCount: plan.items.count - chunks.count, numRequests: plan.items.count,
                               chunkSizes: chunks, kvUsedBlocks: kvUsedBlocks, kvFreeBlocks: kvFreeBlocks,
                               waiting: waiting, budgetTokens: plan.budgetTokens, predictedS: plan.predictedS,
                               preempted: plan.preempted)
    }
}

/// The engine's one step: schedule → execute → apply. Every driver goes through these two
/// halves: the simulated-time driver and the benchmarks through `step`, which applies the
/// iteration at its reported end; the fleet and the real-time driver through `beginStep` and
/// `finishStep`, because other events (or a real wait) come between an iteration's start and
/// its end. Nothing may touch the engine between the two halves except `add` (a request
/// joining the waiting queue).
extension EngineCore {
    /// Plans the next iteration at `now` and has `backend` execute it. `startS` is read after
    /// the plan is formed (a real-time driver's clock: scheduling time is then overhead before
    /// the iteration starts; simulated drivers start it at `now`). Returns nil when the policy
    /// planned nothing.
    public func beginStep<Backend: ExecutionBackend>(now: Double, backend: inout Backend,
                                                     startS: () -> Double) -> StepInFlight? {
        let plan = schedule(now: now)
        guard !plan.isEmpty else { return nil }
        let start = startS()
        let result = backend.execute(plan)
        return StepInFlight(plan: plan, result: result, startS: start)
    }

    /// Applies an iteration begun with `beginStep` that ended at `endS`.
    public func finishStep(_ s: StepInFlight, endS: Double) -> StepOutcome {
        let finished = apply(s.plan, sampled: s.result.sampledTokens, now: endS)
        var plan = s.plan
        if predictsEveryIteration, plan.predictedS == nil { plan.predictedS = timeModel.seconds(plan.load) }
        return StepOutcome(plan: plan, result: s.result, startS: s.startS, endS: endS, finished: finished,
                           index: iterationCount - 1, kvUsedBlocks: kv.usedBlocks, kvFreeBlocks: kv.freeBlocks,
                           waiting: policy.waitingCount)
    }

    /// One iteration in simulated time: planned and started at `now`, applied at `now` plus the
    /// duration the backend reports. nil when the policy planned nothing.
    public func step<Backend: ExecutionBackend>(now: Double, backend: inout Backend) -> StepOutcome? {
        guard let s = beginStep(now: now, backend: &backend, startS: { now }) else { return nil }
        return finishStep(s, endS: s.predictedEndS)
    }
}
