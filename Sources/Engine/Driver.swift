import BenchCore

/// One engine iteration, as written to `iterations.jsonl`.
public struct IterationRecord: Sendable {
    public var index: Int
    public var startS: Double
    public var durationS: Double
    public var prefillTokens: Int
    public var decodeCount: Int
    public var numRequests: Int
    public var chunkSizes: [Int]
    public var kvUsedBlocks: Int
    public var kvFreeBlocks: Int
    public var waiting: Int
    public var budgetTokens: Int?
    public var predictedS: Double?
    public var preempted: Int

    public func json() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256)
        w.beginObject()
        w.key("i"); w.int(index)
        w.key("start_s"); w.fixed(startS, decimals: 6)
        w.key("duration_s"); w.fixed(durationS, decimals: 7)
        w.key("prefill_tokens"); w.int(prefillTokens)
        w.key("decode_count"); w.int(decodeCount)
        w.key("num_requests"); w.int(numRequests)
        w.key("chunks")
        w.beginArray()
        for c in chunkSizes { w.int(c) }
        w.endArray()
        w.key("kv_used"); w.int(kvUsedBlocks)
        w.key("kv_free"); w.int(kvFreeBlocks)
        w.key("waiting"); w.int(waiting)
        w.key("budget_tokens"); w.optionalInt(budgetTokens)
        w.key("predicted_s"); w.optionalFixed(predictedS, decimals: 7)
        w.key("preempted"); w.int(preempted)
        w.endObject()
        return w.bytes
    }
}

/// Runs an engine in simulated time: time jumps to the next arrival when idle and advances by
/// each iteration's reported duration. Tokens are emitted at iteration ends.
public struct SimulationDriver<Backend: ExecutionBackend> {
    public let engine: EngineCore
    public var backend: Backend
    /// Called after each iteration (tests check invariants here).
    public var afterStep: ((EngineCore) -> Void)?
    /// Abort, before each iteration, every request that can no longer meet its SLOs (the
    /// oracle's clairvoyant schedule: the work would be wasted). Off by default: real engines do
    /// not know that a client will count a late request as lost.
    public var dropMissed = false

    public init(engine: EngineCore, backend: Backend) {
        self.engine = engine
        self.backend = backend
    }

    public struct Outcome: Sendable {
        public var endS: Double
        public var iterations: Int
        public var preemptions: Int
        public var stopped: Bool
    }

    /// - Parameters:
    ///   - requests: sorted by arrival; later session turns are released as their previous
    ///     turns end (`ArrivalSchedule`).
    ///   - onIteration: each iteration's record.
    ///   - onDone: each request when it finishes, is rejected, or is aborted at the end.
    ///   - shouldStop: polled between iterations (Ctrl-C); unfinished requests are then reported
    ///     as aborted.
    public mutating func run(_ requests: [EngineRequest],
                             onIteration: (IterationRecord) throws -> Void,
                             onDone: (EngineRequest) throws -> Void,
                             shouldStop: () -> Bool = { false }) throws -> Outcome {
        var now = 0.0
        var arrivals = SessionArrivals(requests)
        var stopped = false
        func done(_ r: EngineRequest) throws {
            try onDone(r)
            arrivals.ended(r, at: r.doneS ?? now)
        }
        while true {
            if shouldStop() {
                stopped = true
                break
            }
            while let r = arrivals.popDue(by: now) {
                if engine.add(r, now: max(now, r.arrivalS)) != nil { try done(r) }
            }
            if !engine.hasWork {
                guard let due = arrivals.nextDueS else { break }
                now = due
                continue
            }
            if dropMissed || engine.policy.sloRules.dropLost {
                for r in engine.dropLostRequests(now: now) { try done(r) }
                if !engine.hasWork { continue }
            }
            guard let step = engine.step(now: now, backend: &backend) else {
                if let due = arrivals.nextDueS {
                    now = max(now, due)
                    continue
                }
                break  // no progress possible: the rest is aborted below
            }
            now = step.endS
            try onIteration(step.record)
            afterStep?(engine)
            for r in step.finished { try done(r) }
        }
        // Whatever is left never finished: report it as aborted (Ctrl-C or a stuck scheduler).
        for r in engine.running + engine.policy.waitingRequests.sorted(by: { $0.id < $1.id }) {
            r.phase = .finished
            r.finishReason = .aborted
            r.rejectReason = stopped ? "run interrupted" : "the scheduler could not make progress"
            try onDone(r)
        }
        if !stopped {
            for r in arrivals.notHandedOut() {
                r.finishReason = .aborted
                r.rejectReason = "run ended"
                try onDone(r)
            }
        }
        return Outcome(endS: now, iterations: engine.iterationCount, preemptions: engine.preemptionCount, stopped: stopped)
    }
}

/// `ArrivalSchedule` over engine requests: hands out each request when due, setting a released
/// session turn's arrival to its due time.
struct SessionArrivals {
    let requests: [EngineRequest]
    var schedule: ArrivalSchedule

    init(_ requests: [EngineRequest]) {
        self.requests = requests
        schedule = ArrivalSchedule(requests.map { ArrivalSchedule.Entry(id: $0.id, arrivalS: $0.arrivalS, session: $0.session) })
    }

    var nextDueS: Double? { schedule.peek()?.dueS }

    mutating func popDue(by now: Double) -> EngineRequest? {
        guard let (i, due) = schedule.peek(), due <= now else { return nil }
        schedule.pop()
        let r = requests[i]
        if r.arrivalS != due { r.setDue(due) }
        return r
    }

    mutating func ended(_ r: EngineRequest, at t: Double) {
        if schedule.hasSessions { schedule.ended(id: r.id, atS: t) }
    }

    func notHandedOut() -> [EngineRequest] { schedule.notHandedOut().map { requests[$0] } }
}
