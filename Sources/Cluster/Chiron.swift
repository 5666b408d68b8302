import Foundation

/// Chiron's hierarchical autoscaling, reconstructed (seeds-spec §2.4: the paper's formulas are
/// not public; every constant here is a parameter, and "our choice" unless it says otherwise).
///
/// Local (per instance, every `FleetOptions.localIntervalS`): multiplicative decrease of the
/// batch size when the instance's p99 TBT exceeds its tightest TBT SLO; additive increase while
/// the instance is saturated, its p99 TBT is under α·SLO and the last increase still raised its
/// token throughput by more than ε (a plateau stops growth until the next decrease).
///
/// Global (every control interval): batch deadlines are checked with a QLM-style waiting-time
/// estimate — the tokens queued ahead of each batch request, in deadline order, plus a CLT
/// confidence term z·σ·√k that grows slower than the queue, so the relative bound tightens as
/// the queue grows — against the fleet's measured tokens/s per instance. Where a deadline is at
/// risk the batch pool grows to the instances the estimate needs (minus those already serving or
/// loading). Interactive TTFT is at risk when a queued interactive request has waited more than
/// `ttftRiskFraction` of its TTFT SLO or interactive-capable instances are above `highLoad`; then
/// one interactive instance is added. A pool shrinks by one instance only after it has been below
/// `lowLoad` with nothing at risk for `hysteresisS`, which keeps a square-wave load from flapping.
/// Interactive requests preempt batch work on mixed instances back to the global queue (done
/// by the fleet, `usesPools`).
public struct ChironAutoscaler: Autoscaler {
    public let name = "chiron"
    public var usesPools: Bool { true }
    public var tunesBatchSize: Bool { true }

    // Local autoscaler.
    /// Multiplicative decrease factor β (seeds-spec §2.4: ≈ 0.5).
    public var decreaseFactor = 0.5
    /// Grow only while p99 TBT < α × SLO (seeds-spec §2.4: ≈ 0.9).
    public var headroomAlpha = 0.9
    /// Additive increase, requests per local tick.
    public var increaseStep = 8
    /// A throughput gain below this fraction is a plateau.
    public var plateauEpsilon = 0.02
    public var minBatchSize = 4
    public var maxBatchSize = 512

    // Global autoscaler.
    /// One-sided confidence for the waiting-time bound (1.645: 95%).
    public var confidenceZ = 1.645
    /// Instance throughput assumed before any is measured (tokens/s).
    public var assumedTokensPerS = 4000.0
    public var ttftRiskFraction = 0.5
    /// Interactive first tokens in a control interval may miss their TTFT SLO up to this
    /// fraction before the pool counts as at risk (the attainment guard of seeds-spec §2.4).
    public var ttftMissGuard = 0.01
    public var highLoad = 0.8
    public var lowLoad = 0.3
    /// A pool must be idle this long before it shrinks (seconds).
    public var hysteresisS = 120.0

    private var throughputBeforeIncrease: [Int: Double] = [:]
    private var plateaued: Set<Int> = []
    private var lowSince: [Pool: Double] = [:]

    public init() {}

    public mutating func local(_ i: InstanceView, now: Double) -> (Int, String)? {
        guard i.ready, !i.draining else { return nil }
        if let p99 = i.p99TBTms, let slo = i.tightestTBTms, p99 > slo {
            let b = max(minBatchSize, Int(Double(i.batchSize) * decreaseFactor))
            throughputBeforeIncrease[i.id] = nil
            plateaued.remove(i.id)
            guard b != i.batchSize else { return nil }
            return (b, String(format: "p99 TBT %.1f ms > SLO %.1f ms", p99, slo))
        }
        // Growth is judged only when the cap binds: an unsaturated instance's throughput says
        // nothing about a larger batch.
        guard i.load >= i.batchSize, i.batchSize < maxBatchSize, !plateaued.contains(i.id) else { return nil }
        if let p99 = i.p99TBTms, let slo = i.tightestTBTms, p99 >= headroomAlpha * slo { return nil }
        if let before = throughputBeforeIncrease[i.id], i.tokensPerS <= before * (1 + plateauEpsilon) {
            plateaued.insert(i.id)
            return nil
        }
        throughputBeforeIncrease[i.id] = i.tokensPerS
        let b = min(maxBatchSize, i.batchSize + increaseStep)
        return (b, String(format: "saturated, throughput %.0f tok/s still rising", i.tokensPerS))
    }

    /// Instances of tokens/s the queued batch work needs to meet every deadline it still can.
    func batchInstancesNeeded(_ fleet: FleetView, tokensPerInstance: Double) -> (Double, String) {
        let queue = fleet.queued.filter(\.isBatch).sorted { ($0.deadlineS, $0.arrivalS) < ($1.deadlineS, $1.arrivalS) }
        guard !queue.isEmpty else { return (0, "") }
        let n = Double(queue.count)
        let mean = queue.reduce(0.0) { $0 + Double($1.tokens) } / n
        let sd = (queue.reduce(0.0) { $0 + (Double($1.tokens) - mean) * (Double($1.tokens) - mean) } / n).squareRoot()
        var cumulative = 0.0
        var worst = 0.0
        var why = ""
        for (k, q) in queue.enumerated() {
            cumulative += Double(q.tokens)
            let slack = q.deadlineS - fleet.now
            guard slack > 0 else { continue }
            // Upper bound on the work ahead of (and including) the k-th request.
            let bound = cumulative + confidenceZ * sd * Double(k + 1).squareRoot()
            let need = bound / (slack * tokensPerInstance)
            if need > worst {
                worst = need
                why = String(format: "batch request %d of %d: %.0f tokens ahead within %.0f s", k + 1, queue.count, bound, slack)
            }
        }
        return (worst, why)
    }

    public mutating func control(_ fleet: FleetView) -> [ScaleAction] {
        let now = fleet.now
        let live = fleet.instances.filter { !$0.draining }
        var room = fleet.options.maxInstances - fleet.live
        var actions: [ScaleAction] = []

        // Measured tokens/s of busy batch-capable instances, else the assumption.
        let busy = live.filter { $0.ready && $0.pool != .interactive && $0.load > 0 && $0.tokensPerS > 0 }
        let perInstance = busy.isEmpty ? assumedTokensPerS : busy.reduce(0) { $0 + $1.tokensPerS } / Double(busy.count)
        let (need, why) = batchInstancesNeeded(fleet, tokensPerInstance: perInstance)
        let batchCapable = live.filter { $0.pool != .interactive }.count
        let batchDeficit = Int(need.rounded(.up)) - batchCapable
        if batchDeficit > 0, room > 0 {
            for _ in 0..<min(batchDeficit, room) {
                actions.append(.scaleOut(.batch, reason: String(format: "batch deadlines at risk: need %.1f instances at %.0f tok/s (%@)", need, perInstance, why)))
            }
            room -= min(batchDeficit, room)
        }

        let interactiveCapable = live.filter { $0.pool != .batch && $0.ready }
        let capacity = interactiveCapable.reduce(0) { $0 + $1.batchSize }
        let held = interactiveCapable.reduce(0) { $0 + $1.load - ($1.pool == .mixed ? $1.batchJobs : 0) }
        let interactiveLoad = Double(held) / Double(max(1, capacity))
        // Queued globally, or held by an instance without a first token, past the risk fraction.
        let waitedTooLong = fleet.queued.contains { !$0.isBatch && $0.deadlineS.isFinite
            && now - $0.arrivalS > ttftRiskFraction * ($0.deadlineS - $0.arrivalS) }
            || interactiveCapable.contains { $0.ttftAtRisk > 0 }
        let firstTokens = interactiveCapable.reduce(0) { $0 + $1.firstTokens }
        let misses = interactiveCapable.reduce(0) { $0 + $1.ttftMisses }
        let missing = firstTokens > 0 && Double(misses) > ttftMissGuard * Double(firstTokens)
        let interactiveStarting = live.contains { $0.pool == .interactive && !$0.ready }
        let interactiveRisk = waitedTooLong || missing || interactiveLoad > highLoad
        if interactiveRisk, !interactiveStarting, room > 0 {
            let reason: String
            if waitedTooLong {
                reason = String(format: "interactive TTFT at risk: a request waited over %.0f%% of its SLO without a first token", ttftRiskFraction * 100)
            } else if missing {
                reason = "interactive TTFT misses: \(misses) of \(firstTokens) first tokens in the last interval"
            } else {
                reason = String(format: "interactive load %.2f > %.2f", interactiveLoad, highLoad)
            }
            actions.append(.scaleOut(.interactive, reason: reason))
        }

        // Scale in after the hysteresis window, one instance per pool and tick.
        let batchQueued = fleet.queued.contains(where: \.isBatch)
        for pool in [Pool.interactive, .batch] {
            let members = live.filter { $0.pool == pool && $0.ready }
            let load = members.isEmpty ? 0 : Double(members.reduce(0) { $0 + $1.load }) / Double(max(1, members.reduce(0) { $0 + $1.batchSize }))
            let quiet = !members.isEmpty && load < lowLoad && (pool == .interactive ? !interactiveRisk : (!batchQueued && batchDeficit <= 0))
            guard quiet else {
                lowSince[pool] = nil
                continue
            }
            let since = lowSince[pool] ?? now
            lowSince[pool] = since
            if now - since >= hysteresisS, let victim = members.min(by: { ($0.load, -$0.id) < ($1.load, -$1.id) }) {
                actions.append(.scaleIn(instance: victim.id, reason: String(format: "%@ pool below %.0f%% load for %.0f s", pool.rawValue, lowLoad * 100, now - since)))
                lowSince[pool] = now
            }
        }
        return actions
    }
}
