import BenchCore

/// One instance as an autoscaler sees it at a tick.
public struct InstanceView: Sendable {
    public var id: Int
    public var pool: Pool
    public var ready: Bool
    public var draining: Bool
    /// Requests held (running + the instance's own queue) and the cap on them.
    public var load: Int
    public var batchSize: Int
    public var running: Int
    public var batchJobs: Int
    public var kvUsedFraction: Double
    /// Llumnix-style freeness: KV tokens left after the queued prompts, per running request (the
    /// decode steps the batch can still take). Large when idle.
    public var freenessTokens: Double
    /// Fraction of the last control interval spent in iterations.
    public var busyFraction: Double
    /// Tokens (prompt and output) processed per second since the instance's last local tick.
    public var tokensPerS: Double
    /// p99 of the gaps between tokens of requests with a TBT SLO since the last local tick (ms).
    public var p99TBTms: Double?
    /// The tightest TBT SLO among the requests it holds (ms).
    public var tightestTBTms: Double?
    /// Held interactive requests still without a first token that have waited more than the
    /// fleet's TTFT risk fraction of their TTFT SLO (queued inside the engine).
    public var ttftAtRisk: Int
    /// First tokens since the last control tick, and how many of them missed their TTFT SLO.
    public var firstTokens: Int
    public var ttftMisses: Int
}

/// A request waiting in the global queue.
public struct QueuedView: Sendable {
    public var arrivalS: Double
    public var deadlineS: Double
    /// Tokens it still needs processed (prompt, recomputed output, remaining output).
    public var tokens: Int
    public var isBatch: Bool
}

public struct FleetView: Sendable {
    public var now: Double
    public var instances: [InstanceView]
    /// Interactive first in arrival order, then batch in queue order.
    public var queued: [QueuedView]
    public var options: FleetOptions
    /// Fraction of a TTFT SLO after which a request without its first token counts as at risk
    /// (`InstanceView.ttftAtRisk`).
    public var ttftRiskFraction: Double
    /// Non-stopped instances (serving, loading or draining).
    public var live: Int { instances.count }
}

public enum ScaleAction: Sendable, Equatable {
    case scaleOut(Pool, reason: String)
    case scaleIn(instance: Int, reason: String)
}

/// Where a dispatched request goes among instances with room.
public enum Routing: Sendable {
    /// The fewest held requests.
    case leastLoaded
    /// The largest freeness (Llumnix's dispatch).
    case freest
}

/// A fleet autoscaler: global decisions every control interval, and optionally a per-instance
/// batch size every local interval.
public protocol Autoscaler {
    var name: String { get }
    /// Chiron's pools, interactive-first queue and batch preemption; else one mixed pool and one
    /// FCFS queue.
    var usesPools: Bool { get }
    var routing: Routing { get }
    /// Whether `local` is used (the fleet then measures TBT gaps per instance).
    var tunesBatchSize: Bool { get }
    /// See `FleetView.ttftRiskFraction`.
    var ttftRiskFraction: Double { get }
    mutating func control(_ fleet: FleetView) -> [ScaleAction]
    /// A new batch size for the instance and the reason, or nil to keep it.
    mutating func local(_ instance: InstanceView, now: Double) -> (Int, String)?
}

extension Autoscaler {
    public var usesPools: Bool { false }
    public var routing: Routing { .leastLoaded }
    public var tunesBatchSize: Bool { false }
    public var ttftRiskFraction: Double { 0.5 }
    public mutating func local(_ instance: InstanceView, now: Double) -> (Int, String)? { nil }
}

public enum AutoscalerName: String, Sendable, CaseIterable {
    case chiron, utilization, llumnix
    case fixed = "static"
}

/// A fixed fleet of `FleetOptions.initial` instances.
public struct StaticAutoscaler: Autoscaler {
    public let name = "static"
    public init() {}
    public mutating func control(_ fleet: FleetView) -> [ScaleAction] { [] }
}

/// The SLO-blind autoscaler of "previous systems" (seeds-spec §2.5): scale on utilization
/// thresholds, one instance per control interval.
public struct UtilizationAutoscaler: Autoscaler {
    public let name = "utilization"
    /// Scale out above, in below (fractions). 0.8 / 0.3: our choice (common HPA-style targets).
    public var upThreshold = 0.8
    public var downThreshold = 0.3

    public init() {}

    /// Utilization = the larger of mean KV use and held-plus-queued requests over total batch
    /// capacity, over serving instances.
    public static func utilization(_ fleet: FleetView) -> Double? {
        let serving = fleet.instances.filter { $0.ready && !$0.draining }
        guard !serving.isEmpty else { return nil }
        let kv = serving.reduce(0) { $0 + $1.kvUsedFraction } / Double(serving.count)
        let capacity = serving.reduce(0) { $0 + $1.batchSize }
        let demand = serving.reduce(0) { $0 + $1.load } + fleet.queued.count
        return max(kv, Double(demand) / Double(max(1, capacity)))
    }

    public mutating func control(_ fleet: FleetView) -> [ScaleAction] {
        guard let u = UtilizationAutoscaler.utilization(fleet) else { return [] }
        let starting = fleet.instances.contains { !$0.ready }
        if u > upThreshold, !starting, fleet.live < fleet.options.maxInstances {
            return [.scaleOut(.mixed, reason: String(format: "utilization %.2f > %.2f", u, upThreshold))]
        }
        let serving = fleet.instances.filter { $0.ready && !$0.draining }
        if u < downThreshold, serving.count > fleet.options.minInstances, let victim = serving.min(by: { ($0.load, -$0.id) < ($1.load, -$1.id) }) {
            return [.scaleIn(instance: victim.id, reason: String(format: "utilization %.2f < %.2f", u, downThreshold))]
        }
        return []
    }
}

/// Llumnix's autoscaler with its public defaults (seeds-spec §2.5): every 10 s, average
/// freeness below 10 adds an instance, above 60 removes the freest; dispatch to the freest.
public struct LlumnixAutoscaler: Autoscaler {
    public let name = "llumnix"
    public var routing: Routing { .freest }
    /// Llumnix's SCALE_UP_THRESHOLD / SCALE_DOWN_THRESHOLD (freeness, decode steps).
    public var scaleUpThreshold = 10.0
    public var scaleDownThreshold = 60.0

    public init() {}

    public mutating func control(_ fleet: FleetView) -> [ScaleAction] {
        let serving = fleet.instances.filter { $0.ready && !$0.draining }
        guard !serving.isEmpty else { return [] }
        // Queued requests are charged to the average as Llumnix's virtual usage of pending
        // requests: their prompts spread over the serving instances' running requests.
        let queuedTokens = fleet.queued.reduce(0) { $0 + $1.tokens }
        let running = max(1, serving.reduce(0) { $0 + $1.running })
        let avg = serving.reduce(0) { $0 + $1.freenessTokens } / Double(serving.count) - Double(queuedTokens) / Double(running)
        let starting = fleet.instances.contains { !$0.ready }
        if avg < scaleUpThreshold, !starting, fleet.live < fleet.options.maxInstances {
            return [.scaleOut(.mixed, reason: String(format: "average freeness %.1f < %.0f", avg, scaleUpThreshold))]
        }
        if avg > scaleDownThreshold, serving.count > fleet.options.minInstances,
           let victim = serving.max(by: { ($0.freenessTokens, $0.id) < ($1.freenessTokens, $1.id) }) {
            return [.scaleIn(instance: victim.id, reason: String(format: "average freeness %.1f > %.0f", avg, scaleDownThreshold))]
        }
        return []
    }
}
