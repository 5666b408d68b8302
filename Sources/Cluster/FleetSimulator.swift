import BenchCore
import Engine
import HeapModule

/// A discrete-event simulation of a fleet of simulated engine instances behind a router and a
/// global queue, scaled by an autoscaler. Time jumps from event to event: an arrival, the end
/// of some instance's iteration, an instance finishing its model load, a control or local tick.
/// Instances run the bundled engine (policy and simulated GPU) unchanged; the fleet only decides
/// which requests reach which instance and when instances exist. No I/O: records and timeline
/// events go to the callbacks.
public final class FleetSimulator {
    public let profile: HardwareProfile
    public let policy: PolicyName
    public let policyOptions: PolicyOptions
    public let options: FleetOptions
    var autoscaler: any Autoscaler
    /// Seed of the simulated GPUs' jitter (instance i uses seed + i); 0 jitter by default.
    public var jitterCV = 0.0
    public var jitterSeed: UInt64 = 0

    var instances: [Instance] = []
    var events = Heap<FleetEvent>()
    var eventSeq = 0
    var jobs: [Int: Job] = [:]
    var interactiveQueue = Heap<QueueEntry>()
    var batchQueue = Heap<QueueEntry>()
    var now = 0.0
    var openJobs = 0

    public struct Outcome: Sendable {
        public var endS: Double
        public var gpuSeconds: Double
        public var scaleEvents: Int
        public var peakInstances: Int
        public var instancesStarted: Int
        public var evictions: Int
        public var iterations: Int
        /// Iterations applied as steps of settled decode stretches (the fast path).
        public var settledIterations: Int
        public var stopped: Bool
    }

    var scaleEvents = 0
    var peakInstances = 0
    var evictions = 0
    var iterations = 0
    var settledIterations = 0
    var gpuSeconds = 0.0

    public init(profile: HardwareProfile, policy: PolicyName, policyOptions: PolicyOptions, options: FleetOptions, autoscaler: any Autoscaler) {
        self.profile = profile
        self.policy = policy
        self.policyOptions = policyOptions
        self.options = options
        self.autoscaler = autoscaler
        usesPools = autoscaler.usesPools
        routing = autoscaler.routing
        tunesBatchSize = autoscaler.tunesBatchSize
    }

    // The autoscaler's fixed traits, read once (an existential's properties cost a call each).
    let usesPools: Bool
    let routing: Routing
    let tunesBatchSize: Bool

    // MARK: running

    var onTimeline: (TimelineEvent) throws -> Void = { _ in }
    var onRecord: (RequestRecord) throws -> Void = { _ in }

    /// - Parameters:
    ///   - requests: sorted by arrival; `batchClasses` names the classes of kind batch (others
    ///     are interactive; a class with only a JCT SLO counts as batch too).
    public func run(_ requests: [WorkloadRequest], batchClasses: Set<String>,
                    onRecord: @escaping (RequestRecord) throws -> Void,
                    onTimeline: @escaping (TimelineEvent) throws -> Void,
                    shouldStop: () -> Bool = { false }) throws -> Outcome {
        self.onRecord = onRecord
        self.onTimeline = onTimeline
        let initialPool: Pool = .mixed
        for _ in 0..<options.initial { try startInstance(pool: initialPool, readyAt: 0, reason: "initial fleet") }
        var next = 0
        var nextControl = options.controlIntervalS
        var nextLocal = tunesBatchSize ? options.localIntervalS : Double.infinity
        var stopped = false
        // A fleet that holds requests but does nothing across many ticks is stuck (e.g. every
        // instance gone and the autoscaler never adds one): end instead of ticking forever.
        var idleTicks = 0
        while true {
            if shouldStop() {
                stopped = true
                break
            }
            let tArrival = next < requests.count ? requests[next].arrivalS : Double.infinity
            let tEvent = events.min?.t ?? .infinity
            if tArrival == .infinity && openJobs == 0 { break }
            let t = min(tArrival, tEvent, nextControl, nextLocal)
            now = max(now, t)
            if tEvent <= t {
                let e = events.removeMin()
                idleTicks = 0
                switch e.kind {
                case .iterationEnd:
                    // A stretch cut short left its original end event behind.
                    if e.seq == instances[e.instance].liveEvent { try endIteration(instances[e.instance]) }
                case .ready: try instanceReady(instances[e.instance])
                }
            } else if tArrival <= t {
                idleTicks = 0
                // Every arrival at this instant, then one dispatch.
                while next < requests.count, requests[next].arrivalS <= now {
                    let w = requests[next]
                    next += 1
                    let isBatch = batchClasses.contains(w.className) || (w.slo.jctS != nil && w.slo.ttftMs == nil && w.slo.tbtMs == nil)
                    let job = Job(w, isBatch: isBatch)
                    jobs[w.id] = job
                    openJobs += 1
                    enqueue(job)
                }
                try dispatch(to: nil)
            } else if nextControl <= t {
                nextControl += options.controlIntervalS
                try controlTick()
                if tEvent == .infinity && tArrival == .infinity {
                    idleTicks += 1
                    if idleTicks > 10_000 { break }
                }
            } else {
                nextLocal += options.localIntervalS
                try localTick()
            }
        }
        // Whatever is left never finished (with the tokens of iterations that ended by now).
        syncAll()
        let reason = stopped ? "run interrupted" : "the fleet could not make progress"
        for id in jobs.keys.sorted() {
            let job = jobs[id]!
            if let r = job.attempt { job.take(r.tokenTimes) }
            try onRecord(job.record(doneS: nil, failure: reason))
        }
        jobs.removeAll()
        for i in instances where !i.isStopped { try stop(i) }
        return Outcome(endS: now, gpuSeconds: gpuSeconds, scaleEvents: scaleEvents, peakInstances: peakInstances,
                       instancesStarted: instances.count, evictions: evictions, iterations: iterations, settledIterations: settledIterations, stopped: stopped)
    }

    // MARK: instances

    func startInstance(pool: Pool, readyAt: Double, reason: String) throws {
        let id = instances.count
        let engine = EngineCore(profile: profile, policy: policy.make(policyOptions, profile: profile))
        let backend = SimulatedBackend(profile: profile, jitterCV: jitterCV, seed: jitterSeed &+ UInt64(id))
        let i = Instance(id: id, pool: pool, startS: now, readyS: readyAt, engine: engine, backend: backend, batchSize: options.batchSize)
        instances.append(i)
        peakInstances = max(peakInstances, instances.reduce(0) { $0 + ($1.isStopped ? 0 : 1) })
        try onTimeline(.scaleOut(t: now, instance: id, pool: pool, reason: reason))
        if readyAt <= now {
            try onTimeline(.ready(t: now, instance: id, pool: pool))
        } else {
            push(FleetEvent(t: readyAt, seq: 0, instance: id, kind: .ready))
        }
    }

    @discardableResult
    func push(_ e: FleetEvent) -> Int {
        var e = e
        eventSeq += 1
        e.seq = eventSeq
        events.insert(e)
        return eventSeq
    }

    func instanceReady(_ i: Instance) throws {
        guard !i.isStopped else { return }
        try onTimeline(.ready(t: now, instance: i.id, pool: i.pool))
        try dispatch(to: nil)
    }

    func stop(_ i: Instance) throws {
        i.stopS = now
        let g = now - i.startS
        gpuSeconds += g
        try onTimeline(.stopped(t: now, instance: i.id, pool: i.pool, gpuSeconds: g))
    }

    /// Starts the instance's next iteration if it is idle and has work.
    func kick(_ i: Instance) {
        guard i.busyUntil == nil, i.isReady(now), i.engine.hasWork else { return }
        if options.fastForward {
            let (k, context) = i.engine.settledDecodeStretch(limit: options.maxSettledSteps)
            if k >= 2 {
                startSettledRun(i, steps: k, contextTokens: context)
                return
            }
        }
        let now = self.now
        guard let step = i.engine.beginStep(now: now, backend: &i.backend, startS: { now }) else { return }
        let d = step.result.durationS
        i.inFlight = step
        i.busyUntil = now + d
        i.busySinceControlS += d
        i.liveEvent = push(FleetEvent(t: now + d, seq: 0, instance: i.id, kind: .iterationEnd))
    }

    // MARK: settled decode stretches (the fast path)
    //
    // A stretch stands for `steps` back-to-back decode iterations whose times are computed at
    // its start. Its steps are applied lazily: before anything reads the engine (`sync`), and
    // all remaining ones at its end event. Something that changes the instance (a request
    // assigned, an eviction asked, a batch-size or draining change) first cuts the stretch
    // after the step in flight (`cut`). Between those moments an iteration end would
    // only start the next identical decode step: the router hands an instance work only when a
    // queue's head fits it, and every enqueue is followed by a dispatch to all instances or by
    // a cut of those the job fits (`evict`).

    func startSettledRun(_ i: Instance, steps k: Int, contextTokens context: Int) {
        let n = i.engine.running.count
        // Kept only when jitter draws must be replayed after a cut.
        let before = i.backend.jitterCV > 0 ? i.backend : nil
        // The previous stretch's buffers, moved out so they are uniquely held.
        var ends = i.spareEnds
        var durations = i.spareDurations
        i.spareEnds = []
        i.spareDurations = []
        ends.removeAll(keepingCapacity: true)
        durations.removeAll(keepingCapacity: true)
        var t = now
        for s in 1...k {
            let d = i.backend.duration(of: EngineCore.settledDecodeLoad(step: s, contextTokens: context, sequences: n))
            t += d
            ends.append(t)
            durations.append(d)
        }
        // The engine starts the first step at the first `advance` (`sync` does it before
        // anything reads the engine: `nextSettledEnd` is now until then).
        i.busySinceControlS += durations[0]
        i.run = SettledRun(ends: ends, durations: durations, contextTokens: context, sequences: n, backendAtStart: before)
        i.nextSettledEnd = now
        i.busyUntil = t
        i.liveEvent = push(FleetEvent(t: t, seq: 0, instance: i.id, kind: .iterationEnd))
    }

    /// Applies the stretch's steps up to (not including) `through`, and starts the next one if
    /// any (as `endIteration` and `kick` would at each of their ends). Returns the requests the
    /// stretch's last step finished (only when `through` is its end).
    @discardableResult
    func advance(_ i: Instance, _ run: inout SettledRun, through: Int) -> [EngineRequest] {
        let from = run.applied
        let m = through - from
        guard m > 0 || !run.started else { return [] }
        let more = through < run.steps
        let finished = i.engine.advanceSettledDecode(endingAt: run.ends[from..<through], nextInFlight: more, includingStart: !run.started)
        run.started = true
        guard m > 0 else { return finished }
        run.applied = through
        iterations += m
        settledIterations += m
        i.tokensSinceLocal += run.sequences * m
        i.tokensSinceControl += run.sequences * m
        if tunesBatchSize {
            func gaps(_ r: EngineRequest) {
                guard r.slo.tbtMs != nil else { return }
                let times = r.tokenTimes
                for k in max(1, times.count - m)..<times.count { i.tbtGapsMs.append((times[k] - times[k - 1]) * 1000) }
            }
            for r in i.engine.running { gaps(r) }
            for r in finished { gaps(r) }
        }
        // Each step after the first applied one started at the previous one's end.
        for s in (from + 1)..<(more ? through + 1 : through) { i.busySinceControlS += run.durations[s] }
        return finished
    }

    /// Applies the steps of `i`'s stretch that ended by now, except the last (its event does).
    func sync(_ i: Instance) {
        guard i.nextSettledEnd <= now, var run = i.run else { return }
        i.run = nil
        var through = run.applied
        while through < run.steps - 1, run.ends[through] <= now { through += 1 }
        advance(i, &run, through: through)
        i.nextSettledEnd = run.applied < run.steps - 1 ? run.ends[run.applied] : .infinity
        i.run = run
    }

    func syncAll() {
        for i in instances where i.nextSettledEnd <= now { sync(i) }
    }

    /// Ends `i`'s stretch with the step in flight, before something changes the instance. (The
    /// steps that ended are applied here too: measured faster than leaving them all to the end
    /// event.)
    func cut(_ i: Instance) {
        guard i.run != nil else { return }
        sync(i)
        guard var run = i.run, run.applied + 1 < run.steps else { return }
        let keep = run.applied + 1
        i.run = nil
        run.ends.removeLast(run.steps - keep)
        run.durations.removeLast(run.durations.count - keep)
        if let start = run.backendAtStart {
            // Redraw the jitter of the kept steps only, as step-by-step iterations would have.
            i.backend = start
            for s in 1...keep {
                _ = i.backend.duration(of: EngineCore.settledDecodeLoad(step: s, contextTokens: run.contextTokens, sequences: run.sequences))
            }
        }
        i.nextSettledEnd = .infinity
        i.busyUntil = run.ends[keep - 1]
        i.liveEvent = push(FleetEvent(t: run.ends[keep - 1], seq: 0, instance: i.id, kind: .iterationEnd))
        i.run = run
    }

    func endIteration(_ i: Instance) throws {
        var finished: [EngineRequest] = []
        if var run = i.run {
            i.run = nil
            finished = advance(i, &run, through: run.steps)
            i.spareEnds = run.ends
            i.spareDurations = run.durations
            i.nextSettledEnd = .infinity
            i.busyUntil = nil
        } else {
            guard let step = i.inFlight else { return }
            i.inFlight = nil
            i.busyUntil = nil
            finished = finishStep(step, on: i)
        }
        for r in finished {
            guard let job = i.jobs.removeValue(forKey: r.id) else { continue }
            i.pendingEvictions.remove(r.id)
            try complete(job, r)
        }
        // Evictions wait for the iteration boundary (the engine is not touched mid-iteration).
        for id in i.pendingEvictions.sorted() {
            if let job = i.jobs[id] { try evict(job, from: i) }
        }
        i.pendingEvictions.removeAll()
        if i.draining && i.jobs.isEmpty && !i.isStopped { try stop(i) }
        try dispatch(to: i)
        kick(i)
    }

    /// Finishes an ordinary iteration and takes the measurements the autoscalers read.
    func finishStep(_ step: StepInFlight, on i: Instance) -> [EngineRequest] {
        iterations += 1
        let measuresTBT = tunesBatchSize
        let plan = step.plan
        let finished = i.engine.finishStep(step, endS: now).finished
        var tokens = 0
        for k in plan.items.indices {
            let isPrefill = plan.items[k].isPrefill
            tokens += plan.items[k].newTokens
            let r = plan.items[k].request
            if isPrefill, r.numOutputTokens == 1, r.promptTokens == r.prefillTarget, let job = i.jobs[r.id], job.tokenTimes.isEmpty {
                // This iteration produced the request's first token.
                i.firstTokensSinceControl += 1
                if let t = r.slo.ttftMs, now - r.arrivalS > t / 1000 { i.ttftMissesSinceControl += 1 }
            }
            // The gap this iteration closed, for requests the local autoscaler guards.
            if measuresTBT, !isPrefill, r.slo.tbtMs != nil, r.tokenTimes.count >= 2 {
                i.tbtGapsMs.append((r.tokenTimes[r.tokenTimes.count - 1] - r.tokenTimes[r.tokenTimes.count - 2]) * 1000)
            }
        }
        i.tokensSinceLocal += tokens
        i.tokensSinceControl += tokens
        return finished
    }

    func complete(_ job: Job, _ r: EngineRequest) throws {
        job.take(r.tokenTimes)
        job.attempt = nil
        jobs[job.w.id] = nil
        openJobs -= 1
        if r.finishReason == .completed {
            try onRecord(job.record(doneS: r.doneS, failure: nil))
        } else {
            try onRecord(job.record(doneS: nil, failure: r.rejectReason ?? "aborted"))
        }
    }

    // MARK: queues and routing

    func enqueue(_ job: Job) {
        if usesPools {
            if job.isBatch {
                batchQueue.insert(QueueEntry(key: job.deadlineS, id: job.w.id))
            } else {
                interactiveQueue.insert(QueueEntry(key: job.w.arrivalS, id: job.w.id))
            }
        } else {
            // One FCFS queue for SLO-blind autoscalers.
            interactiveQueue.insert(QueueEntry(key: job.w.arrivalS, id: job.w.id))
        }
    }

    /// Instance to serve `job`: among those with room that accept it, by the routing rule.
    /// `only` restricts to one instance (the one whose iteration just freed room).
    func pick(_ job: Job, only: Instance?) -> Instance? {
        if let only { return only.hasRoom(now) && only.accepts(job) ? only : nil }
        var best = -1
        var bestScore = -Double.infinity
        for k in instances.indices {
            let i = instances[k]
            guard i.hasRoom(now) && i.accepts(job) else { continue }
            // Chiron sends a request to its own pool before the mixed one.
            let own = usesPools && i.pool != .mixed ? 1e12 : 0
            let score: Double
            switch routing {
            case .leastLoaded: score = own - Double(i.load)
            case .freest: score = own + freeness(i)
            }
            if score > bestScore {
                best = k
                bestScore = score
            }
        }
        return best >= 0 ? instances[best] : nil
    }

    /// Llumnix's freeness: KV tokens left after the queued prompts, per running request.
    func freeness(_ i: Instance) -> Double {
        let waitingTokens = i.engine.policy.waitingRequests.reduce(0) { $0 + $1.prefillTarget }
        let free = i.engine.kv.freeBlocks * profile.blockSizeTokens - waitingTokens
        return Double(free) / Double(max(1, i.engine.running.count))
    }

    func dispatch(to only: Instance?) throws {
        // Routing by freeness reads every engine (least-loaded routing reads only job counts).
        if only == nil && routing == .freest { syncAll() }
        try drain(&interactiveQueue, only: only, preempt: usesPools)
        if usesPools { try drain(&batchQueue, only: only, preempt: false) }
    }

    private func drain(_ queue: inout Heap<QueueEntry>, only: Instance?, preempt: Bool) throws {
        while let head = queue.min {
            guard let job = jobs[head.id] else {
                _ = queue.removeMin()
                continue
            }
            var target = pick(job, only: only)
            if target == nil, preempt, only == nil { target = try preemptBatch(for: job) }
            guard let i = target else { return }
            _ = queue.removeMin()
            try assign(job, to: i)
        }
    }

    /// Chiron: an interactive request with no room anywhere evicts the least urgent batch job of
    /// a mixed instance back to the global queue (at that instance's iteration end).
    func preemptBatch(for job: Job) throws -> Instance? {
        guard !job.isBatch else { return nil }
        var best: (Instance, Job)?
        for i in instances where i.pool == .mixed && i.isReady(now) && !i.draining && i.load >= i.batchSize {
            for j in i.jobs.values where j.isBatch && !i.pendingEvictions.contains(j.w.id) {
                if best == nil || (j.deadlineS, j.w.id) > (best!.1.deadlineS, best!.1.w.id) { best = (i, j) }
            }
        }
        guard let (i, victim) = best else { return nil }
        if i.busyUntil == nil {
            // Idle between iterations: evict now.
            try evict(victim, from: i)
        } else {
            cut(i)
            i.pendingEvictions.insert(victim.w.id)
        }
        return i
    }

    /// Takes a job off an instance between iterations and returns it to the global queue with
    /// the tokens it produced there.
    func evict(_ job: Job, from i: Instance) throws {
        precondition(i.run == nil, "eviction inside a stretch of decode steps")
        guard let r = job.attempt else { return }
        i.jobs[job.w.id] = nil
        i.engine.abort(r, now: now, reason: "evicted")
        job.take(r.tokenTimes)
        job.attempt = nil
        job.instance = nil
        job.evictions += 1
        evictions += 1
        try onTimeline(.evict(t: now, instance: i.id, request: job.w.id))
        enqueue(job)
        // Instances inside a stretch would take it at their next iteration end: end their
        // stretches there.
        for o in instances where o.run != nil && o.hasRoom(now) && o.accepts(job) { cut(o) }
    }

    func assign(_ job: Job, to i: Instance) throws {
        cut(i)
        let r = job.makeAttempt()
        if let reason = i.engine.add(r, now: now) {
            // Too long for the model or the KV cache: no instance can serve it.
            jobs[job.w.id] = nil
            openJobs -= 1
            try onRecord(job.record(doneS: nil, failure: reason))
            return
        }
        job.attempt = r
        job.instance = i.id
        i.jobs[job.w.id] = job
        kick(i)
    }

    // MARK: ticks

    func view(_ i: Instance, sinceLocalS: Double?) -> InstanceView {
        var p99: Double?
        if !i.tbtGapsMs.isEmpty {
            let sorted = i.tbtGapsMs.sorted()
            p99 = sorted[min(sorted.count - 1, Int((Double(sorted.count) * 0.99).rounded(.up)) - 1)]
        }
        let tightest = i.jobs.values.compactMap(\.w.slo.tbtMs).min()
        var atRisk = 0
        let fraction = autoscaler.ttftRiskFraction
        for j in i.jobs.values where !j.isBatch && j.tokenTimes.isEmpty && (j.attempt?.tokenTimes.isEmpty ?? true) {
            if let t = j.w.slo.ttftMs, now - j.w.arrivalS > fraction * t / 1000 { atRisk += 1 }
        }
        let kvTotal = i.engine.kv.totalBlocks
        return InstanceView(id: i.id, pool: i.pool, ready: i.isReady(now), draining: i.draining, load: i.load, batchSize: i.batchSize,
                            running: i.engine.running.count, batchJobs: i.batchJobs,
                            kvUsedFraction: Double(kvTotal - i.engine.kv.freeBlocks) / Double(max(1, kvTotal)),
                            freenessTokens: freeness(i),
                            busyFraction: min(1, i.busySinceControlS / options.controlIntervalS),
                            tokensPerS: sinceLocalS.map { Double(i.tokensSinceLocal) / $0 } ?? Double(i.tokensSinceControl) / options.controlIntervalS,
                            p99TBTms: p99, tightestTBTms: tightest, ttftAtRisk: atRisk,
                            firstTokens: i.firstTokensSinceControl, ttftMisses: i.ttftMissesSinceControl)
    }

    func controlTick() throws {
        syncAll()
        let live = instances.filter { !$0.isStopped }
        var queued: [QueuedView] = []
        for q in [interactiveQueue, batchQueue] {
            for e in q.unordered {
                guard let j = jobs[e.id] else { continue }
                queued.append(QueuedView(arrivalS: j.w.arrivalS, deadlineS: j.deadlineS,
                                         tokens: j.w.promptTokens + j.w.outputTokens + j.tokenTimes.count, isBatch: j.isBatch))
            }
        }
        let fleet = FleetView(now: now, instances: live.map { view($0, sinceLocalS: nil) }, queued: queued, options: options,
                              ttftRiskFraction: autoscaler.ttftRiskFraction)
        var serving: [Pool: Int] = [:]
        for i in live where i.isReady(now) && !i.draining { serving[i.pool, default: 0] += 1 }
        try onTimeline(.sample(t: now, serving: serving, starting: live.filter { !$0.isReady(now) }.count,
                               draining: live.filter(\.draining).count,
                               queuedInteractive: queued.filter { !$0.isBatch }.count, queuedBatch: queued.filter(\.isBatch).count,
                               batchSizes: live.map { ($0.id, $0.batchSize) }))
        for i in live {
            i.tokensSinceControl = 0
            i.busySinceControlS = 0
            i.firstTokensSinceControl = 0
            i.ttftMissesSinceControl = 0
        }
        for action in autoscaler.control(fleet) {
            switch action {
            case .scaleOut(let pool, let reason):
                guard instances.filter({ !$0.isStopped }).count < options.maxInstances else { continue }
                scaleEvents += 1
                try startInstance(pool: pool, readyAt: now + options.startupDelayS, reason: reason)
            case .scaleIn(let id, let reason):
                guard id < instances.count, !instances[id].isStopped, !instances[id].draining,
                      instances.filter({ !$0.isStopped && !$0.draining }).count > options.minInstances else { continue }
                let i = instances[id]
                scaleEvents += 1
                cut(i)
                i.draining = true
                try onTimeline(.scaleIn(t: now, instance: id, pool: i.pool, reason: reason))
                if i.jobs.isEmpty || !i.isReady(now) {
                    // Nothing to finish (or still loading): stop at once. A loading instance holds no jobs.
                    try stop(i)
                }
            }
        }
        try dispatch(to: nil)
    }

    func localTick() throws {
        syncAll()
        for i in instances where !i.isStopped && i.isReady(now) {
            let v = view(i, sinceLocalS: options.localIntervalS)
            i.tbtGapsMs.removeAll(keepingCapacity: true)
            i.tokensSinceLocal = 0
            guard let (b, reason) = autoscaler.local(v, now: now), b != i.batchSize else { continue }
            try onTimeline(.batchSize(t: now, instance: i.id, from: i.batchSize, to: b, reason: reason))
            cut(i)
            i.batchSize = b
        }
        try dispatch(to: nil)
    }
}
