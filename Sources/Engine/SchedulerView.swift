/// What a policy sees of the engine while it forms one iteration: the time, the running
/// requests, KV free and capacity, the time predictor, and the mechanics a plan needs (admit,
/// reserve a decode block, preempt, mark). It cannot add, abort or apply, so a policy decides
/// and the engine does (`EngineCore.schedule(now:)` hands one to the policy per step).
public struct SchedulerView {
    /// The step's time, seconds; policies never read a clock.
    public let now: Double
    private let engine: EngineCore

    init(engine: EngineCore, now: Double) {
        self.engine = engine
        self.now = now
    }

    /// Admitted requests (prefilling or decoding), in admission order.
    @inline(__always) public var running: [EngineRequest] { engine.running }
    @inline(__always) public var runningCount: Int { engine.running.count }
    /// Free KV blocks now.
    @inline(__always) public var freeBlocks: Int { engine.kv.freeBlocks }
    /// Tokens per KV block.
    @inline(__always) public var blockSizeTokens: Int { engine.blockSizeTokens }
    /// KV blocks in the whole cache.
    @inline(__always) public var totalBlocks: Int { engine.kv.totalBlocks }
    /// The profile's iteration-time predictor.
    @inline(__always) public var timeModel: IterationTimeModel { engine.timeModel }

    /// Admits a waiting request with KV for its whole prefill; false, taking nothing, when the
    /// blocks are not free.
    @inline(__always) public func admit(_ r: EngineRequest) -> Bool { engine.admit(r, now: now) }
    /// Admits a waiting request with KV for its first `tokens` prefill tokens only (it grows by
    /// chunk, `reservePrefill`); false, taking nothing, when the blocks are not free.
    @inline(__always) public func admit(_ r: EngineRequest, firstChunkTokens tokens: Int) -> Bool {
        engine.admit(r, now: now, firstChunkTokens: tokens)
    }
    /// Makes room for a prefill chunk of `tokens` tokens of `r`; false when the blocks are not free.
    @inline(__always) public func reservePrefill(_ r: EngineRequest, tokens: Int) -> Bool { engine.reservePrefill(r, tokens: tokens) }
    /// Blocks a prefill chunk of `tokens` tokens of `r` needs beyond what it holds.
    @inline(__always) public func extraBlocksForPrefill(_ r: EngineRequest, tokens: Int) -> Int {
        engine.extraBlocksForPrefill(r, tokens: tokens)
    }
    /// The longest next prefill chunk of `r`, at most `limit`, that its blocks and `freeBlocks` hold.
    @inline(__always) public func prefillTokensFitting(_ r: EngineRequest, freeBlocks: Int, limit: Int) -> Int {
        engine.prefillTokensFitting(r, freeBlocks: freeBlocks, limit: limit)
    }
    /// Makes room for one decode token of `r`; false when the blocks are not free.
    @inline(__always) public func reserveDecode(_ r: EngineRequest) -> Bool { engine.reserveDecode(r) }
    /// Preempts `r` by recomputation; it returns to the policy's queue through `enqueue`.
    @inline(__always) public func preempt(_ r: EngineRequest) { engine.preempt(r, now: now) }
    /// Blocks a decode step of `r` needs beyond what it holds (0 or 1).
    @inline(__always) public func extraBlocksForDecode(_ r: EngineRequest) -> Int { engine.extraBlocksForDecode(r) }
    /// Blocks admitting `r` takes.
    @inline(__always) public func blocksToAdmit(_ r: EngineRequest) -> Int { engine.blocksToAdmit(r) }
    /// Marks `r` as taken in this step.
    @inline(__always) public func mark(_ r: EngineRequest) { engine.mark(r) }
    @inline(__always) public func isMarked(_ r: EngineRequest) -> Bool { engine.isMarked(r) }

    /// Reserves one decode token of `r`, preempting `victim()` while blocks are short. Returns
    /// false when `r` itself had to be preempted (it is then no longer running).
    func reserveDecode(_ r: EngineRequest, plan: inout StepPlan, victim: () -> EngineRequest?) -> Bool {
        while !reserveDecode(r) {
            let v = victim() ?? r
            preempt(v)
            plan.preempted += 1
            if v === r { return false }
        }
        return true
    }

    /// The most recently admitted running request not marked in this step, if any.
    func newestUnmarked() -> EngineRequest? {
        engine.running.last { !engine.isMarked($0) }
    }
}
