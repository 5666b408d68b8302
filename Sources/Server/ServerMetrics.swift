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
    /// The same state under vLLM's names, so vLLM dashboards and scrapers read `serve`.
    let vllm: VLLMMetrics

    /// Latency buckets, seconds (our choice: 1 ms to 60 s, roughly ×2 apart, as vLLM's TTFT buckets).
    static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
                                           1, 2.5, 5, 7.5, 10, 20, 40, 60]
    static let tokenBuckets: [Double] = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]

    /// - Parameter modelName: the `model_name` label of the vLLM-named metrics (the first served name).
    public init(modelName: String = "accelbench") {
        vllm = VLLMMetrics(registry: registry, modelName: modelName)
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
        vllm.iteration(prefillTokens: prefillTokens, decodes: decodes)
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
        vllm.token(r, index: index, timeS: timeS)
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
        vllm.finished(r)
        finishedCounter(r.finishReason?.rawValue ?? "aborted").increment()
        guard r.finishReason == .completed, !r.slo.isEmpty else { return }
        let m = classMetrics(r.className)
        if r.record().metSLO { m.met.increment() } else { m.missed.increment() }
    }

    public func state(running r: Int, waiting w: Int, kvUsed: Int, kvTotal: Int, preemptions p: Int, prefixCache: (hits: Int, queries: Int)) {
        vllm.prefixCache(hits: prefixCache.hits, queries: prefixCache.queries)
        running.set(to: Double(r))
        waiting.set(to: Double(w))
        kvUsedBlocks.set(to: Double(kvUsed))
        let usage = kvTotal > 0 ? Double(kvUsed) / Double(kvTotal) : 0
        kvUsage.set(to: usage)
        vllm.state(running: r, waiting: w, kvUsage: usage)
        if p > lastPreemptions {
            preemptions.increment(by: Int64(p - lastPreemptions))
            vllm.preemptions.increment(by: Int64(p - lastPreemptions))
            lastPreemptions = p
        }
    }
}

/// `serve`'s state under the names vLLM (v1) exports, beside the `accelbench_*` ones, each with
/// a `model_name` label as vLLM's carry: the scheduler gauges, preemption and token counters,
/// finished requests by `finished_reason` (stop, length, abort), and the latency and size
/// histograms a vLLM Grafana dashboard reads. Times are the engine's clock, as vLLM's are.
final class VLLMMetrics: @unchecked Sendable {
    let running: Gauge
    let waiting: Gauge
    let kvUsage: Gauge
    let preemptions: Counter
    let promptTokens: Counter
    let generationTokens: Counter
    let prefixHits: Counter
    let prefixQueries: Counter
    private var lastPrefix = (hits: 0, queries: 0)
    private let lock = NSLock()
    let ttft: ValueHistogram
    let interToken: ValueHistogram
    let e2e: ValueHistogram
    let queueTime: ValueHistogram
    let iterationTokens: ValueHistogram
    let promptSize: ValueHistogram
    let generationSize: ValueHistogram
    private let success: [String: Counter]

    init(registry: PrometheusCollectorRegistry, modelName: String) {
        let label = [("model_name", modelName)]
        func d(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(metricName: "vllm:" + name, unitName: unit, helpText: help)
        }
        func histogram(_ name: String, _ unit: String, _ help: String, _ buckets: [Double]) -> ValueHistogram {
            registry.makeValueHistogram(descriptor: d(name, unit, help), labels: label, buckets: buckets)
        }
        running = registry.makeGauge(descriptor: d("num_requests_running", "", "Number of requests in model execution batches."), labels: label)
        waiting = registry.makeGauge(descriptor: d("num_requests_waiting", "", "Number of requests waiting to be processed."), labels: label)
        kvUsage = registry.makeGauge(descriptor: d("kv_cache_usage", "perc", "KV-cache usage. 1 means 100 percent usage."), labels: label)
        preemptions = registry.makeCounter(descriptor: d("num_preemptions", "total", "Cumulative number of preemptions."), labels: label)
        promptTokens = registry.makeCounter(descriptor: d("prompt_tokens", "total", "Number of prefill tokens processed."), labels: label)
        generationTokens = registry.makeCounter(descriptor: d("generation_tokens", "total", "Number of generation tokens processed."), labels: label)
        prefixHits = registry.makeCounter(descriptor: d("prefix_cache_hits", "total", "Prefix cache hits, in terms of number of cached tokens."), labels: label)
        prefixQueries = registry.makeCounter(descriptor: d("prefix_cache_queries", "total", "Prefix cache queries, in terms of number of queried tokens."), labels: label)
        let latency = ServerMetrics.latencyBuckets, sizes = [1.0] + ServerMetrics.tokenBuckets + [32768, 65536, 131072]
        ttft = histogram("time_to_first_token", "seconds", "Histogram of time to first token in seconds.", latency)
        interToken = histogram("inter_token_latency", "seconds", "Histogram of inter-token latency in seconds.", latency)
        e2e = histogram("e2e_request_latency", "seconds", "Histogram of end-to-end request latency in seconds.", latency)
        queueTime = histogram("request_queue_time", "seconds", "Histogram of time spent waiting before the first schedule, seconds.", latency)
        iterationTokens = histogram("iteration_tokens", "total", "Histogram of number of tokens per engine step.", sizes)
        promptSize = histogram("request_prompt_tokens", "", "Number of prefill tokens processed, per request.", sizes)
        generationSize = histogram("request_generation_tokens", "", "Number of generation tokens processed, per request.", sizes)
        var success: [String: Counter] = [:]
        for reason in ["stop", "length", "abort"] {
            success[reason] = registry.makeCounter(descriptor: d("request_success", "total", "Count of finished requests by finish reason."),
                                                   labels: label + [("finished_reason", reason)])
        }
        self.success = success
    }

    /// The engine's running totals (`EngineCore.prefixHitTokens`, `prefixQueryTokens`), as counters.
    func prefixCache(hits: Int, queries: Int) {
        lock.lock()
        let dh = hits - lastPrefix.hits, dq = queries - lastPrefix.queries
        lastPrefix = (max(hits, lastPrefix.hits), max(queries, lastPrefix.queries))
        lock.unlock()
        if dh > 0 { prefixHits.increment(by: Int64(dh)) }
        if dq > 0 { prefixQueries.increment(by: Int64(dq)) }
    }

    func state(running r: Int, waiting w: Int, kvUsage usage: Double) {
        running.set(to: Double(r))
        waiting.set(to: Double(w))
        kvUsage.set(to: usage)
    }

    func iteration(prefillTokens: Int, decodes: Int) {
        iterationTokens.record(Double(prefillTokens + decodes))
        if prefillTokens > 0 { promptTokens.increment(by: Int64(prefillTokens)) }
    }

    func token(_ r: EngineRequest, index: Int, timeS: Double) {
        generationTokens.increment()
        if index == 0 {
            ttft.record(timeS - r.arrivalS)
        } else if index - 1 < r.tokenTimes.count {
            interToken.record(timeS - r.tokenTimes[index - 1])
        }
    }

    /// vLLM's `finished_reason`: `stop` (a stop token), `length` (max_tokens), `abort` (anything
    /// that did not complete: rejected, aborted, dropped).
    func finished(_ r: EngineRequest) {
        guard r.finishReason == .completed else {
            success["abort"]?.increment()
            return
        }
        success[r.tokens?.stopped == true ? "stop" : "length"]?.increment()
        if let done = r.doneS { e2e.record(done - r.arrivalS) }
        if let first = r.firstScheduledS { queueTime.record(first - r.arrivalS) }
        promptSize.record(Double(r.promptTokens))
        generationSize.record(Double(r.numOutputTokens))
    }
}
