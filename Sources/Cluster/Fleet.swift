import BenchCore
import Engine
import HeapModule

/// The pools of a Chiron fleet (seeds-spec §2.2): interactive instances serve interactive
/// requests, batch instances batch requests, and mixed instances both (batch work on them is
/// preemptible). SLO-blind baselines put every instance in `mixed`.
public enum Pool: String, Sendable, CaseIterable {
    case interactive, mixed, batch
}

/// Fleet settings shared by every autoscaler. Times in seconds.
public struct FleetOptions: Sendable {
    /// From the scale-out decision to the instance serving (model load). 60 s: the issue's
    /// default; seeds-spec §2.1 says 15 s to 1 min.
    public var startupDelayS = 60.0
    public var minInstances = 1
    public var maxInstances = 16
    /// Instances serving at t = 0 (the fleet is warm when the run starts); nil = minInstances.
    public var initialInstances: Int?
    /// Requests an instance holds at once (running + its own waiting queue): the "batch size"
    /// QLM's backpressure caps and Chiron's local autoscaler tunes. 64: our choice.
    public var batchSize = 64
    /// Global autoscaler period. 10 s: Llumnix's SCALING_INTERVAL; Chiron's is unpublished.
    public var controlIntervalS = 10.0
    /// Local autoscaler period (Chiron). 2 s: our choice (long enough for a p99 of TBT gaps).
    public var localIntervalS = 2.0
    /// Compute stretches of decode-only iterations at once (`EngineCore.settledDecodeSteps`):
    /// the records are the same either way; off only to check that. Our design.
    public var fastForward = true
    /// Longest stretch computed at once, iterations. 256: our choice; a stretch cut short by an
    /// arrival wastes the iteration times computed past the cut.
    public var maxSettledSteps = 256

    public init() {}

    public var initial: Int { initialInstances ?? minInstances }
}

/// One request across its attempts: an evicted batch request resumes on another instance with
/// the tokens it already produced kept (its prompt and those tokens are recomputed there).
final class Job {
    let w: WorkloadRequest
    let isBatch: Bool
    /// Tokens emitted by finished attempts.
    var tokenTimes: [Double] = []
    var attempt: EngineRequest?
    var instance: Int?
    var evictions = 0

    init(_ w: WorkloadRequest, isBatch: Bool) {
        self.w = w
        self.isBatch = isBatch
    }

    /// Batch: the JCT deadline; interactive: the first-token deadline (queue order keys).
    var deadlineS: Double {
        if let j = w.slo.jctS { return w.arrivalS + j }
        if let t = w.slo.ttftMs { return w.arrivalS + t / 1000 }
        return .infinity
    }

    var remainingTokens: Int { w.outputTokens - tokenTimes.count }

    /// Keeps the token times of an attempt that ended (shared, not copied, for the first).
    func take(_ times: [Double]) {
        if tokenTimes.isEmpty { tokenTimes = times } else { tokenTimes += times }
    }

    func makeAttempt() -> EngineRequest {
        // A resumed attempt recomputes the prompt and the tokens already produced.
        EngineRequest(id: w.id, className: w.className, arrivalS: w.arrivalS, promptTokens: w.promptTokens + tokenTimes.count,
                      maxOutputTokens: remainingTokens, slo: w.slo, prefixGroup: nil, prefixTokens: nil)
    }

    func record(doneS: Double?, failure: String?) -> RequestRecord {
        var r = RequestRecord(id: w.id, className: w.className, intendedS: w.arrivalS, sentS: w.arrivalS,
                              firstTokenS: tokenTimes.first, tokenTimesS: tokenTimes, doneS: doneS,
                              status: failure == nil ? "ok" : "failed", error: failure,
                              promptTokens: w.promptTokens, outputTokens: tokenTimes.count, tokenCountSource: .engine,
                              slo: w.slo, metSLO: false)
        r.metSLO = failure == nil && r.metSLOAsStored
        return r
    }
}

/// One engine instance of the fleet: its own engine (policy, KV cache) and simulated GPU.
final class Instance {
    let id: Int
    var pool: Pool
    /// GPU time is billed from the scale-out decision (the model loads on the GPU) to the stop.
    let startS: Double
    let readyS: Double
    var stopS: Double?
    var draining = false
    let engine: EngineCore
    var backend: SimulatedBackend
    /// The iteration in flight (begun with `EngineCore.beginStep`, finished at its end event).
    var inFlight: StepInFlight?
    /// A stretch of settled decode steps in flight instead of `inFlight` (the fast path).
    var run: SettledRun?
    var busyUntil: Double?
    /// The sequence number of this instance's live iteration-end event; others are stale (a
    /// stretch cut short pushes a new one).
    var liveEvent = 0
    /// End of the next step of `run` to apply before anyone looks at the engine (+∞ when none
    /// is pending): kept apart so the check costs one comparison.
    var nextSettledEnd = Double.infinity
    /// Buffers of the last stretch, reused by the next (one allocation per instance, not per
    /// stretch).
    var spareEnds: [Double] = []
    var spareDurations: [Double] = []
    /// Jobs on this instance, by request id.
    var jobs: [Int: Job] = [:]
    /// Batch jobs to evict at the end of the current iteration (the engine is touched only
    /// between iterations).
    var pendingEvictions: Set<Int> = []
    var batchSize: Int

    // Measurements since the last local tick (Chiron's local autoscaler) and control tick.
    var tbtGapsMs: [Double] = []
    var tokensSinceLocal = 0
    var tokensSinceControl = 0
    var busySinceControlS = 0.0
    var firstTokensSinceControl = 0
    var ttftMissesSinceControl = 0

    init(id: Int, pool: Pool, startS: Double, readyS: Double, engine: EngineCore, backend: SimulatedBackend, batchSize: Int) {
        self.id = id
        self.pool = pool
        self.startS = startS
        self.readyS = readyS
        self.engine = engine
        self.backend = backend
        self.batchSize = batchSize
    }

    var isStopped: Bool { stopS != nil }
    func isReady(_ now: Double) -> Bool { stopS == nil && readyS <= now }
    /// Jobs counted against the batch size (a job being evicted no longer counts).
    var load: Int { jobs.count - pendingEvictions.count }
    func hasRoom(_ now: Double) -> Bool { isReady(now) && !draining && load < batchSize }
    func accepts(_ job: Job) -> Bool {
        switch pool {
        case .mixed: return true
        case .interactive: return !job.isBatch
        case .batch: return job.isBatch
        }
    }
    var batchJobs: Int { jobs.values.reduce(0) { $0 + ($1.isBatch ? 1 : 0) } }
}

/// A stretch of settled decode steps: their end times, computed when it began. Steps up to
/// `applied` have been applied to the engine; the step after it is in flight.
struct SettledRun {
    var ends: [Double]
    var durations: [Double]
    var applied = 0
    /// Whether the engine has started the first step (its scheduling step counted, its blocks
    /// reserved): left to the first `advance`, which visits the requests anyway.
    var started = false
    /// The running context and count at the start (each step's load follows from them).
    let contextTokens: Int
    let sequences: Int
    /// The simulated GPU before the stretch drew its iteration times (to redraw a cut stretch's
    /// jitter exactly as step-by-step iterations would have).
    let backendAtStart: SimulatedBackend?
    var steps: Int { ends.count }
}

/// What the fleet writes besides request records: scale events, batch-size changes,
/// evictions, and a periodic sample of the pools (`timeline.jsonl`).
public enum TimelineEvent: Sendable {
    case scaleOut(t: Double, instance: Int, pool: Pool, reason: String)
    case ready(t: Double, instance: Int, pool: Pool)
    case scaleIn(t: Double, instance: Int, pool: Pool, reason: String)
    case stopped(t: Double, instance: Int, pool: Pool, gpuSeconds: Double)
    case batchSize(t: Double, instance: Int, from: Int, to: Int, reason: String)
    case evict(t: Double, instance: Int, request: Int)
    case sample(t: Double, serving: [Pool: Int], starting: Int, draining: Int, queuedInteractive: Int, queuedBatch: Int,
                batchSizes: [(Int, Int)])

    public func json() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 160)
        w.beginObject()
        func head(_ t: Double, _ e: String) {
            w.key("t"); w.fixed(t, decimals: 6)
            w.key("event"); w.string(e)
        }
        switch self {
        case .scaleOut(let t, let i, let p, let reason):
            head(t, "scale_out"); w.key("instance"); w.int(i); w.key("pool"); w.string(p.rawValue); w.key("reason"); w.string(reason)
        case .ready(let t, let i, let p):
            head(t, "ready"); w.key("instance"); w.int(i); w.key("pool"); w.string(p.rawValue)
        case .scaleIn(let t, let i, let p, let reason):
            head(t, "scale_in"); w.key("instance"); w.int(i); w.key("pool"); w.string(p.rawValue); w.key("reason"); w.string(reason)
        case .stopped(let t, let i, let p, let g):
            head(t, "stopped"); w.key("instance"); w.int(i); w.key("pool"); w.string(p.rawValue); w.key("gpu_s"); w.fixed(g, decimals: 6)
        case .batchSize(let t, let i, let from, let to, let reason):
            head(t, "batch_size"); w.key("instance"); w.int(i); w.key("from"); w.int(from); w.key("to"); w.int(to); w.key("reason"); w.string(reason)
        case .evict(let t, let i, let r):
            head(t, "evict"); w.key("instance"); w.int(i); w.key("request"); w.int(r)
        case .sample(let t, let serving, let starting, let draining, let qi, let qb, let sizes):
            head(t, "sample")
            w.key("serving")
            w.beginObject()
            for p in Pool.allCases { w.key(p.rawValue); w.int(serving[p] ?? 0) }
            w.endObject()
            w.key("starting"); w.int(starting)
            w.key("draining"); w.int(draining)
            w.key("queued")
            w.beginObject()
            w.key("interactive"); w.int(qi)
            w.key("batch"); w.int(qb)
            w.endObject()
            w.key("batch_size")
            w.beginObject()
            for (i, b) in sizes { w.key(String(i)); w.int(b) }
            w.endObject()
        }
        w.endObject()
        return w.bytes
    }
}

/// A queued job's position: interactive and batch queues order by `key` (arrival, or deadline
/// for Chiron's batch queue), then id.
struct QueueEntry: Comparable {
    var key: Double
    var id: Int
    static func < (a: QueueEntry, b: QueueEntry) -> Bool { a.key != b.key ? a.key < b.key : a.id < b.id }
}

/// An event on the fleet's clock: an instance's iteration ends, or it finishes loading.
struct FleetEvent: Comparable {
    enum Kind { case iterationEnd, ready }
    var t: Double
    var seq: Int
    var instance: Int
    var kind: Kind
    static func < (a: FleetEvent, b: FleetEvent) -> Bool { a.t != b.t ? a.t < b.t : a.seq < b.seq }
    static func == (a: FleetEvent, b: FleetEvent) -> Bool { a.t == b.t && a.seq == b.seq }
}
