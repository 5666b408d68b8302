import BenchCore
import Foundation

/// What a served request hears from the engine thread.
public enum TokenEvent: Sendable, Equatable {
    /// Output token `index` (0-based) was emitted at `timeS` (seconds since the loop started);
    /// `id` is a real model's token id (-1 on the simulated GPU), read on the engine thread.
    case token(index: Int, timeS: Double, id: Int32)
    /// The request left the engine: completed, rejected (never fits) or aborted (client gone,
    /// drain ran out).
    case finished(FinishReason, String?)
}

/// One request handed to the engine loop; the HTTP side keeps it to abort it.
public final class ServedRequest: @unchecked Sendable {
    public let request: EngineRequest
    let onEvent: @Sendable (TokenEvent) -> Void
    /// Touched only on the engine thread.
    var emitted = 0

    init(request: EngineRequest, onEvent: @escaping @Sendable (TokenEvent) -> Void) {
        self.request = request
        self.onEvent = onEvent
    }

    public var id: Int { request.id }
}

/// Counters the loop publishes for /metrics and for tests (read under the loop's lock).
public struct RealTimeStats: Sendable {
    public var running = 0
    public var waiting = 0
    public var kvUsedBlocks = 0
    public var kvTotalBlocks = 0
    public var iterations = 0
    public var preemptions = 0
    public var submitted = 0
    public var completed = 0
    public var aborted = 0
    public var rejected = 0
    /// Sum and maximum of how late the thread woke after an iteration's simulated end, seconds.
    public var lateSumS = 0.0
    public var lateMaxS = 0.0
    /// The driver's own time per iteration, summed: `schedule(now:)` before the simulated GPU
    /// starts, plus applying the result after it ends, seconds (handing tokens to the HTTP side
    /// overlaps the next iteration and is not counted). Together with
    /// `lateSumS` this is how far the driver moves served latencies from the profile's.
    public var overheadSumS = 0.0
    public var invariantViolations: [String] = []
    /// Why the backend failed (a device error); from then on every request is aborted with it.
    public var backendFailure: String?

    /// The line `serve` prints when it stops.
    public var stoppedLine: String {
        let n = Double(max(1, iterations))
        return String(format: "stopped: %d requests, %d completed, %d aborted, %d iterations; driver overhead per iteration: mean %.1f µs (schedule + apply), woke late by mean %.1f µs, max %.3f ms",
                      submitted, completed, aborted, iterations, overheadSumS / n * 1e6, lateSumS / n * 1e6, lateMaxS * 1e3)
    }
}

/// Observes the engine (metrics): `iteration` and `state` are called on the engine thread, `token` and
/// `finished` on the delivery thread; all must be quick.
public protocol RealTimeObserver: AnyObject, Sendable {
    func iteration(durationS: Double, lateS: Double, budgetTokens: Int?, predictedS: Double?, prefillTokens: Int, decodes: Int)
    func token(_ r: EngineRequest, index: Int, timeS: Double)
    func finished(_ r: EngineRequest)
    func state(running: Int, waiting: Int, kvUsed: Int, kvTotal: Int, preemptions: Int, prefixCache: (hits: Int, queries: Int))
}

/// The real-time driver: the same engine and policies as a simulated run, on a thread of its
/// own, on the clock it is handed. Each iteration goes through the engine's one step
/// (`beginStep` at `now`, `finishStep` at the time reached): a simulated backend reports the
/// profile's predicted duration and the thread sleeps until the iteration's end; a real backend
/// has spent the time by the time it returns. Tokens are stamped with the time actually reached,
/// so driver overhead shows up in served latencies and in `lateSumS`. Requests, aborts and drains
/// arrive through a locked inbox and are applied between iterations.
public final class RealTimeDriver: @unchecked Sendable {
    let engine: EngineCore
    var backend: any ExecutionBackend
    let clock: any RealTimeClock
    let t0: Double
    weak var observer: RealTimeObserver?
    /// Check the engine's invariants after every iteration (tests; O(running) per step).
    let checkInvariants: Bool

    private let condition = NSCondition()
    // Guarded by `condition`:
    private var inbox: [ServedRequest] = []
    private var abortBox: [(ServedRequest, String)] = []
    private var stopRequested = false
    private var drainDeadline: Double?
    private var published = RealTimeStats()
    private var exited = false
    private var nextID = 0

    private var thread: Thread?
    /// Engine-thread state.
    private var live: [ObjectIdentifier: ServedRequest] = [:]
    private var stats = RealTimeStats()

    public init(engine: EngineCore, backend: any ExecutionBackend, clock: any RealTimeClock,
                observer: RealTimeObserver? = nil, checkInvariants: Bool = false) {
        self.engine = engine
        self.backend = backend
        self.clock = clock
        self.observer = observer
        self.checkInvariants = checkInvariants
        t0 = clock.now()
        stats.kvTotalBlocks = engine.kv.totalBlocks
        published = stats
    }

    /// Seconds since the driver was created (the engine's time axis).
    public func now() -> Double { clock.now() - t0 }

    public func start() {
        let d = Thread { [self] in deliveryLoop() }
        d.name = "accelbench-deliver"
        d.start()
        let t = Thread { [self] in run() }
        t.name = "accelbench-engine"
        t.stackSize = 8 << 20
        thread = t
        t.start()
    }

    public var snapshot: RealTimeStats {
        condition.lock()
        defer { condition.unlock() }
        return published
    }

    /// Requests accepted but not yet finished, plus those in the inbox.
    public var waitingPlusInbox: Int {
        condition.lock()
        defer { condition.unlock() }
        return published.waiting + inbox.count
    }

    /// Hands a request to the engine. Its arrival time is now. Returns nil while draining.
    /// - Parameter prefix: the request's prefix group, the tokens it may reuse from the group's
    ///   cache, and the tokens it leaves there (`EngineRequest.prefixRegisterTokens`).
    public func submit(className: String, promptTokens: Int, maxOutputTokens: Int, slo: SLO, tokens: RequestTokens? = nil,
                       prefix: (group: Int, reuse: Int, register: Int)? = nil,
                       onEvent: @escaping @Sendable (TokenEvent) -> Void) -> ServedRequest? {
        condition.lock()
        defer { condition.unlock() }
        guard drainDeadline == nil, !stopRequested else { return nil }
        let r = EngineRequest(id: nextID, className: className, arrivalS: now(), promptTokens: promptTokens,
                              maxOutputTokens: maxOutputTokens, slo: slo, prefixGroup: prefix?.group, prefixTokens: prefix?.reuse)
        r.prefixRegisterTokens = prefix?.register
        r.tokens = tokens
        nextID += 1
        let s = ServedRequest(request: r, onEvent: onEvent)
        inbox.append(s)
        condition.signal()
        return s
    }

    /// Hands a prepared request to the engine (an in-process run: its id, token ids and arrival
    /// time, on this driver's time axis, are the caller's). Returns nil while draining.
    public func submit(_ r: EngineRequest, onEvent: @escaping @Sendable (TokenEvent) -> Void) -> ServedRequest? {
        condition.lock()
        defer { condition.unlock() }
        guard drainDeadline == nil, !stopRequested else { return nil }
        let s = ServedRequest(request: r, onEvent: onEvent)
        inbox.append(s)
        condition.signal()
        return s
    }

    /// Called on the engine thread after every iteration (an in-process run's iteration
    /// records). Set before `start`.
    public var onStep: ((StepOutcome) -> Void)?

    /// Aborts a request (its client disconnected). Applied between iterations; its KV blocks
    /// are freed then. Harmless when it already finished.
    public func abort(_ s: ServedRequest, reason: String) {
        condition.lock()
        abortBox.append((s, reason))
        condition.signal()
        condition.unlock()
    }

    /// Stops taking requests; those in flight get until `seconds` from now, then are aborted.
    public func beginDrain(seconds: Double) {
        condition.lock()
        if drainDeadline == nil { drainDeadline = now() + seconds }
        condition.signal()
        condition.unlock()
    }

    /// Whether a drain has begun and nothing is left in flight.
    public var drained: Bool {
        condition.lock()
        defer { condition.unlock() }
        return drainDeadline != nil && inbox.isEmpty && published.running == 0 && published.waiting == 0
    }

    /// Aborts everything left and ends the thread; waits for it.
    public func stop() {
        condition.lock()
        stopRequested = true
        condition.signal()
        while thread != nil && !exited { condition.wait() }
        condition.unlock()
    }

    // MARK: engine thread

    /// Token and finish events of the last iteration. A delivery thread hands them to the HTTP
    /// side (and the metrics) while the engine thread goes on with the next iteration, as vLLM
    /// overlaps output processing with the next step: waking a handler costs microseconds per
    /// stream, which would otherwise delay every iteration.
    private var deliveries: [(ServedRequest, TokenEvent)] = []
    private let deliveryCondition = NSCondition()
    private var deliveryQueue: [(ServedRequest, TokenEvent)] = []
    private var deliveryStop = false
    private var deliveryDone = false

    /// Engine thread: hands the pending events over (one signal per iteration).
    private func deliver() {
        guard !deliveries.isEmpty else { return }
        deliveryCondition.lock()
        deliveryQueue.append(contentsOf: deliveries)
        deliveryCondition.signal()
        deliveryCondition.unlock()
        deliveries.removeAll(keepingCapacity: true)
    }

    private func deliveryLoop() {
        var batch: [(ServedRequest, TokenEvent)] = []
        while true {
            deliveryCondition.lock()
            while deliveryQueue.isEmpty && !deliveryStop { deliveryCondition.wait() }
            swap(&batch, &deliveryQueue)
            let last = deliveryStop && batch.isEmpty
            deliveryCondition.unlock()
            if last { break }
            for (s, e) in batch {
                switch e {
                case .token(let i, let t, _): observer?.token(s.request, index: i, timeS: t)
                case .finished: observer?.finished(s.request)
                }
                s.onEvent(e)
            }
            batch.removeAll(keepingCapacity: true)
        }
        deliveryCondition.lock()
        deliveryDone = true
        deliveryCondition.broadcast()
        deliveryCondition.unlock()
    }

    /// What the inbox held when the engine thread took it.
    private struct Inbox {
        var arrivals: [ServedRequest]
        var aborts: [(ServedRequest, String)]
        var stopping: Bool
        var drainEnd: Double?
    }

    /// The engine thread: inbox, then one step, until stopped.
    private func run() {
        while true {
            if !deliveries.isEmpty && !engine.hasWork { deliver() }
            let box = takeInbox()
            let t = now()
            applyInbox(box, now: t)
            if let failure = stats.backendFailure { abortAll(now: t, reason: "backend failed: \(failure)") }
            if box.stopping || (box.drainEnd.map { t >= $0 } ?? false) {
                abortAll(now: t, reason: box.stopping ? "server stopped" : "drain time ran out")
                deliver()
                publish()
                if box.stopping { break }
                continue
            }
            if engine.policy.sloRules.dropLost {
                for r in engine.dropLostRequests(now: t) { if let s = live[ObjectIdentifier(r)] { finish(s) } }
            }
            guard engine.hasWork else {
                deliver()
                publish()
                continue
            }
            if !runStep(now: t) {
                // Nothing can run (every request waits for memory that nobody will free): wait
                // for an arrival or an abort rather than spin.
                deliver()
                publish()
                condition.lock()
                if inbox.isEmpty && abortBox.isEmpty && !stopRequested { _ = condition.wait(until: Date(timeIntervalSinceNow: 0.01)) }
                condition.unlock()
                continue
            }
            publish()
        }
        endDelivery()
        condition.lock()
        exited = true
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until there is something to do, then empties the inbox.
    private func takeInbox() -> Inbox {
        condition.lock()
        defer { condition.unlock() }
        while inbox.isEmpty && abortBox.isEmpty && !stopRequested && !engine.hasWork {
            if let d = drainDeadline { _ = condition.wait(until: Date(timeIntervalSinceNow: max(0.001, d - now()))); break }
            condition.wait()
        }
        let box = Inbox(arrivals: inbox, aborts: abortBox, stopping: stopRequested, drainEnd: drainDeadline)
        inbox.removeAll()
        abortBox.removeAll()
        return box
    }

    /// Aborts, then arrivals, between iterations.
    private func applyInbox(_ box: Inbox, now t: Double) {
        for (s, reason) in box.aborts where live[ObjectIdentifier(s.request)] != nil {
            if engine.abort(s.request, now: t, reason: reason) { finish(s) }
        }
        for s in box.arrivals {
            if engine.add(s.request, now: t) != nil {
                finish(s)
            } else {
                live[ObjectIdentifier(s.request)] = s
                stats.submitted += 1
            }
        }
    }

    private func abortAll(now t: Double, reason: String) {
        for s in live.values.sorted(by: { $0.id < $1.id }) where engine.abort(s.request, now: t, reason: reason) { finish(s) }
    }

    /// One iteration through the engine's step: planned at `t`, started once the plan exists
    /// (scheduling time is real overhead), applied at the time reached after its end. False
    /// when the policy planned nothing.
    private func runStep(now t: Double) -> Bool {
        guard let begun = engine.beginStep(now: t, backend: &backend, startS: { now() }) else { return false }
        if let failure = begun.result.failure {
            // Nothing of the iteration is applied: every request ends, aborted with the reason.
            stats.backendFailure = failure
            abortAll(now: now(), reason: "backend failed: \(failure)")
            return true
        }
        let end = begun.startS + begun.result.durationS
        deliver()
        clock.sleep(until: t0 + end)
        let reached = now()
        let late = max(0, reached - end)
        let step = engine.finishStep(begun, endS: reached)
        queueTokens(of: step)
        stats.iterations += 1
        stats.lateSumS += late
        stats.lateMaxS = max(stats.lateMaxS, late)
        stats.overheadSumS += (begun.startS - t) + (now() - reached)  // delivery excluded: it overlaps the next step
        onStep?(step)
        let record = step.record
        observer?.iteration(durationS: begun.result.durationS, lateS: late, budgetTokens: record.budgetTokens,
                            predictedS: record.predictedS, prefillTokens: record.prefillTokens, decodes: record.decodeCount)
        if checkInvariants {
            let v = engine.invariantViolations()
            if !v.isEmpty { stats.invariantViolations.append(contentsOf: v) }
        }
        return true
    }

    /// The tokens and finishes of an iteration, for the delivery thread.
    private func queueTokens(of step: StepOutcome) {
        for item in step.plan.items {
            let r = item.request
            guard let s = live[ObjectIdentifier(r)] else { continue }
            while s.emitted < r.numOutputTokens {
                let i = s.emitted
                s.emitted += 1
                let id = r.tokens.map { $0.ids[$0.promptCount + i] } ?? -1
                deliveries.append((s, .token(index: i, timeS: step.endS, id: id)))
            }
        }
        for r in step.finished {
            if let s = live[ObjectIdentifier(r)] { finish(s) }
        }
    }

    /// Stops the delivery thread once it has handed over everything.
    private func endDelivery() {
        deliveryCondition.lock()
        deliveryStop = true
        deliveryCondition.signal()
        while !deliveryDone { deliveryCondition.wait() }
        deliveryCondition.unlock()
    }

    private func finish(_ s: ServedRequest) {
        live[ObjectIdentifier(s.request)] = nil
        let r = s.request
        switch r.finishReason {
        case .completed?: stats.completed += 1
        case .rejected?, .shed?: stats.rejected += 1
        default: stats.aborted += 1
        }
        deliveries.append((s, .finished(r.finishReason ?? .aborted, r.rejectReason)))
    }

    private func publish() {
        stats.running = engine.running.count
        stats.waiting = engine.policy.waitingCount
        stats.kvUsedBlocks = engine.kv.usedBlocks
        stats.preemptions = engine.preemptionCount
        observer?.state(running: stats.running, waiting: stats.waiting, kvUsed: stats.kvUsedBlocks, kvTotal: stats.kvTotalBlocks,
                        preemptions: stats.preemptions, prefixCache: (engine.prefixHitTokens, engine.prefixQueryTokens))
        condition.lock()
        published = stats
        condition.unlock()
    }
}
