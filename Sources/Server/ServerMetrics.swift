import BenchCore
import Engine
import Foundation
import Prometheus

/// The server's Prometheus metrics (text exposition at `GET /metrics`). Updated from the engine
/// thread through `RealTimeObserver`, and from HTTP handlers for errors; every metric object
/// is thread-safe. Names follow vLLM's where one exists (`vllm:num_requests_running` →
/// `accelbench_num_requests_running`).
public final class ServerMetrics: RealTimeObserver, @unchecked Sendable {
    public let registry = PrometheusCollectorRegistry()
    let running: Gauge
    let waiting: Gauge
    let kvUsage: Gauge
    let kvUsedBlocks: Gauge
    let preemptions: Counter
    let iterationSeconds: ValueHistogram
    let iterationLateSeconds: ValueHistogram
    let iterationOverBudget: Counter
    let budgetTokens: Gauge
    let batchedTokens: ValueHistogram
    private let lock = NSLock()
    private var lastPreemptions = 0
    private var perClass: [String: (ttft: ValueHistogram, tbt: ValueHistogram, met: Counter, missed: Counter)] = [:]
    private var finishedByReason: [String: Counter] = [:]
    private var httpErrors: [String: Counter] = [:]
    /// The tightest TBT SLO among requests seen (iteration time is compared with it).
    private var tightestTBTS = Double.infinity

    /// Latency buckets, seconds (our choice: 1 ms to 60 s, roughly ×2 apart, as vLLM's TTFT buckets).
    static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
                                           1, 2.5, 5, 7.5, 10, 20, 40, 60]
    static let tokenBuckets: [Double] = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]

    public init() {
        func d(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "accelbench", metricName: name, unitName: unit, helpText: help)
        }
        running = registry.makeGauge(descriptor: d("num_requests_running", "", "Requests in the running batch."))
        waiting = registry.makeGauge(descriptor: d("num_requests_waiting", "", "Requests waiting (queued or preempted)."))
        kvUsage = registry.makeGauge(descriptor: d("kv_cache_usage", "ratio", "Fraction of KV-cache blocks in use."))
        kvUsedBlocks = registry.makeGauge(descriptor: d("kv_cache_used", "blocks", "KV-cache blocks in use."))
        preemptions = registry.makeCounter(descriptor: d("num_preemptions", "total", "Preemptions (recompute) so far."))
        iterationSeconds = registry.makeValueHistogram(descriptor: d("iteration_duration", "seconds", "Engine iteration time (simulated GPU)."),
                                                       buckets: ServerMetrics.latencyBuckets)
        iterationLateSeconds = registry.makeValueHistogram(
            descriptor: d("iteration_late", "seconds", "How late the driver woke after an iteration's end."),
            buckets: [0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05])
        iterationOverBudget = registry.makeCounter(
            descriptor: d("iterations_over_tightest_tbt", "total", "Iterations longer than the tightest TBT SLO seen."))
        budgetTokens = registry.makeGauge(descriptor: d("iteration_budget", "tokens", "The policy's token budget for the last iteration."))
        batchedTokens = registry.makeValueHistogram(descriptor: d("iteration_batched", "tokens", "Tokens (prefill + decode) per iteration."),
                                                    buckets: ServerMetrics.tokenBuckets)
    }

    private func classMetrics(_ name: String) -> (ttft: ValueHistogram, tbt: ValueHistogram, met: Counter, missed: Counter) {
        lock.lock()
        defer { lock.unlock() }
        if let m = perClass[name] { return m }
        let label = [("class", name)]
        let m = (
            ttft: registry.makeValueHistogram(
                descriptor: MetricNameDescriptor(namespace: "accelbench", metricName: "time_to_first_token", unitName: "seconds",
                                                 helpText: "Time to first token (engine clock: arrival to emission)."),
                labels: label, buckets: ServerMetrics.latencyBuckets),
            tbt: registry.makeValueHistogram(
                descriptor: MetricNameDescriptor(namespace: "accelbench", metricName: "time_between_tokens", unitName: "seconds",
                                                 helpText: "Gap between consecutive output tokens."),
                labels: label, buckets: ServerMetrics.latencyBuckets),
            met: registry.makeCounter(
                descriptor: MetricNameDescriptor(namespace: "accelbench", metricName: "slo_requests", unitName: "total",
                                                 helpText: "Completed requests by SLO outcome and class."),
                labels: [("class", name), ("outcome", "met")]),
            missed: registry.makeCounter(
                descriptor: MetricNameDescriptor(namespace: "accelbench", metricName: "slo_requests", unitName: "total",
                                                 helpText: "Completed requests by SLO outcome and class."),
                labels: [("class", name), ("outcome", "missed")])
        )
        perClass[name] = m
        return m
    }

    /// A counter with one label, made on first use and kept in `cache`.
    private func labeledCounter(_ cache: inout [String: Counter], name: String, help: String, label: String, value: String) -> Counter {
        lock.lock()
        defer { lock.unlock() }
        if let c = cache[value] { return c }
        let c = registry.makeCounter(descriptor: MetricNameDescriptor(namespace: "accelbench", metricName: name, unitName: "total", helpText: help),
                                     labels: [(label, value)])
        cache[value] = c
        return c
    }

    /// Counts a request that left the engine, by reason.
    private func finishedCounter(_ reason: String) -> Counter {
        labeledCounter(&finishedByReason, name: "requests_finished", help: "Requests that left the engine, by reason.", label: "reason", value: reason)
    }

    /// Counts an HTTP error reply (400, 413, 429, 503...).
    public func httpError(_ status: Int) {
        labeledCounter(&httpErrors, name: "http_errors", help: "Error replies by HTTP status.", label: "status", value: String(status)).increment()
    }

    public func text() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16 * 1024)
        registry.emit(into: &out)
        return out
    }

    // MARK: RealTimeObserver (engine thread)

    public func iteration(durationS: Double, lateS: Double, budgetTokens budget: Int?, predictedS: Double?, prefillTokens: Int, decodes: Int) {
        iterationSeconds.record(durationS)
        iterationLateSeconds.record(lateS)
        batchedTokens.record(Double(prefillTokens + decodes))
        if let budget { budgetTokens.set(to: Double(budget)) }
        lock.lock()
        let tightest = tightestTBTS
        lock.unlock()
        if durationS > tightest { iterationOverBudget.increment() }
    }

    public func token(_ r: EngineRequest, index: Int, timeS: Double) {
        let m = classMetrics(r.className)
        if index == 0 {
            m.ttft.record(timeS - r.arrivalS)
            if let tbt = r.slo.tbtMs {
                lock.lock()
                tightestTBTS = min(tightestTBTS, tbt / 1000)
                lock.unlock()
            }
        } else if index - 1 < r.tokenTimes.count {
            m.tbt.record(timeS - r.tokenTimes[index - 1])
        }
    }

    public func finished(_ r: EngineRequest) {
        finishedCounter(r.finishReason?.rawValue ?? "aborted").increment()
        guard r.finishReason == .completed, !r.slo.isEmpty else { return }
        let m = classMetrics(r.className)
        if r.record().metSLO { m.met.increment() } else { m.missed.increment() }
    }

    public func state(running r: Int, waiting w: Int, kvUsed: Int, kvTotal: Int, preemptions p: Int) {
        running.set(to: Double(r))
        waiting.set(to: Double(w))
        kvUsedBlocks.set(to: Double(kvUsed))
        kvUsage.set(to: kvTotal > 0 ? Double(kvUsed) / Double(kvTotal) : 0)
        if p > lastPreemptions {
            preemptions.increment(by: Int64(p - lastPreemptions))
            lastPreemptions = p
        }
    }
}
