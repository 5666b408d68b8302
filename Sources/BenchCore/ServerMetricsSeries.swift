/// Serving-engine state that accelbench knows by name across servers, so a run against vLLM,
/// SGLang, TGI, llama.cpp or `accelbench serve` reports the same quantities.
public enum ServerMetric: String, Sendable, CaseIterable {
    /// Requests in the running batch.
    case running
    /// Requests queued (waiting, deferred, preempted).
    case waiting
    /// Fraction of the KV cache in use, 0–1.
    case kvUsage = "kv_usage"
    /// Preemptions so far (a counter).
    case preemptions
    /// Prompt tokens found in the prefix cache so far, and prompt tokens looked up (counters).
    case prefixCacheHits = "prefix_cache_hits"
    case prefixCacheQueries = "prefix_cache_queries"
    /// A server's own prefix-cache hit rate, 0–1 (a gauge, for servers without the counters).
    case prefixCacheHitRate = "prefix_cache_hit_rate"
    /// GPU telemetry (`--gpu-metrics`): utilisation in percent (mean over GPUs), framebuffer
    /// memory used in MiB and power in W (sums over GPUs), under DCGM exporter's names, which the
    /// `nvidia-smi` sampler also uses.
    case gpuUtilization = "gpu_util_percent"
    case gpuMemoryUsed = "gpu_memory_used_mib"
    case gpuPower = "gpu_power_w"

    /// The names servers export it under, in order: the first present in a scrape is used, so a
    /// server that exports two (`accelbench serve`: vLLM's and its own) is counted once. From each
    /// project's documented metrics: vLLM v1 (and v0's `gpu_*` names), SGLang, TGI, llama.cpp's
    /// server (`--metrics`), accelbench serve.
    public var sourceNames: [String] {
        switch self {
        case .running:
            return ["vllm:num_requests_running", "sglang:num_running_reqs", "tgi_batch_current_size",
                    "llamacpp:requests_processing", "accelbench_num_requests_running"]
        case .waiting:
            return ["vllm:num_requests_waiting", "sglang:num_queue_reqs", "tgi_queue_size",
                    "llamacpp:requests_deferred", "accelbench_num_requests_waiting"]
        case .kvUsage:
            return ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "sglang:token_usage",
                    "llamacpp:kv_cache_usage_ratio", "accelbench_kv_cache_usage_ratio"]
        case .preemptions:
            return ["vllm:num_preemptions_total", "accelbench_num_preemptions_total"]
        case .prefixCacheHits:
            return ["vllm:prefix_cache_hits_total", "sglang:cached_tokens_total"]
        case .prefixCacheQueries:
            return ["vllm:prefix_cache_queries_total", "sglang:prompt_tokens_total"]
        case .prefixCacheHitRate:
            return ["vllm:gpu_prefix_cache_hit_rate", "sglang:cache_hit_rate"]
        case .gpuUtilization: return ["DCGM_FI_DEV_GPU_UTIL"]
        case .gpuMemoryUsed: return ["DCGM_FI_DEV_FB_USED"]
        case .gpuPower: return ["DCGM_FI_DEV_POWER_USAGE"]
        }
    }

    /// Fractions and percentages average over a name's series (one per engine, rank or GPU);
    /// counts add up.
    var isFraction: Bool { self == .kvUsage || self == .prefixCacheHitRate || self == .gpuUtilization }

    /// Counters: a run reports their increase, not their level.
    public var isCounter: Bool { self == .preemptions || self == .prefixCacheHits || self == .prefixCacheQueries }

    /// The value in one scrape's samples, or nil when the server exports none of the names.
    public static func value(of metric: ServerMetric, in samples: [PrometheusSample]) -> Double? {
        for name in metric.sourceNames {
            let values = samples.filter { $0.name == name && $0.value.isFinite }.map(\.value)
            guard !values.isEmpty else { continue }
            let sum = values.reduce(0, +)
            return metric.isFraction ? sum / Double(values.count) : sum
        }
        return nil
    }
}

/// One scrape of a server's metrics during a run: a line of `server_metrics.jsonl`.
public struct ServerMetricsScrape: Sendable, Equatable {
    /// When the scrape was sent, seconds since the run's start (negative: before the first request).
    public var tS: Double
    /// How long the server took to answer, seconds.
    public var durationS: Double
    /// nil when the scrape succeeded; else what went wrong (HTTP status, transport, parse error).
    public var error: String?
    /// The known quantities this server exported (`ServerMetric`).
    public var values: [ServerMetric: Double]
    /// Every series whose value changed since the previous successful scrape (all of them in the
    /// first), by `PrometheusSample.key`: unknown names are kept raw, at a fraction of the bytes
    /// of whole scrapes (a vLLM scrape is hundreds of series, most of them constant).
    public var changed: [(key: String, value: Double)]

    public init(tS: Double, durationS: Double, error: String? = nil, values: [ServerMetric: Double] = [:],
                changed: [(key: String, value: Double)] = []) {
        self.tS = tS
        self.durationS = durationS
        self.error = error
        self.values = values
        self.changed = changed
    }

    public static func == (a: ServerMetricsScrape, b: ServerMetricsScrape) -> Bool {
        a.tS == b.tS && a.durationS == b.durationS && a.error == b.error && a.values == b.values
            && a.changed.map(\.key) == b.changed.map(\.key) && zip(a.changed, b.changed).allSatisfy { $0.value == $1.value || ($0.value.isNaN && $1.value.isNaN) }
    }

    /// Builds the scrapes of a run from what the server sent, in order: the known values of each,
    /// and the series that changed since the previous successful one.
    public static func series(_ raw: [(tS: Double, durationS: Double, result: Result<[PrometheusSample], BenchError>)]) -> [ServerMetricsScrape] {
        var last: [String: Double] = [:]
        var out: [ServerMetricsScrape] = []
        for r in raw {
            switch r.result {
            case .failure(let e):
                out.append(ServerMetricsScrape(tS: r.tS, durationS: r.durationS, error: e.description))
            case .success(let samples):
                var values: [ServerMetric: Double] = [:]
                for m in ServerMetric.allCases { values[m] = ServerMetric.value(of: m, in: samples) }
                var changed: [(key: String, value: Double)] = []
                for s in samples {
                    let k = s.key
                    if let old = last[k], old == s.value || (old.isNaN && s.value.isNaN) { continue }
                    last[k] = s.value
                    changed.append((k, s.value))
                }
                out.append(ServerMetricsScrape(tS: r.tS, durationS: r.durationS, values: values, changed: changed))
            }
        }
        return out
    }

    // MARK: the file

    public func jsonLine() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 128 + 48 * changed.count)
        w.beginObject()
        w.key("t_s"); w.fixed(tS, decimals: 6)
        w.key("duration_s"); w.fixed(durationS, decimals: 6)
        if let error { w.key("error"); w.string(error) }
        for m in ServerMetric.allCases {
            guard let v = values[m] else { continue }
            w.key(m.rawValue); w.double(v)
        }
        if error == nil {
            w.key("changed")
            w.beginObject()
            for (k, v) in changed {
                w.key(k)
                // JSON has no NaN or infinities: they are written as the exposition's strings.
                if v.isFinite { w.double(v) } else { w.string(v.isNaN ? "NaN" : (v > 0 ? "+Inf" : "-Inf")) }
            }
            w.endObject()
        }
        w.endObject()
        w.newline()
        return w.bytes
    }

    public static func read(_ value: JSONValue, file: String, line: Int) throws(BenchError) -> ServerMetricsScrape {
        var f = try JSONFields(value, file: file, line: line)
        var s = ServerMetricsScrape(tS: try f.double("t_s"), durationS: try f.double("duration_s"))
        s.error = try f.optionalString("error")
        for m in ServerMetric.allCases {
            if let v = try f.optionalDouble(m.rawValue) { s.values[m] = v }
        }
        switch f.raw("changed") {
        case nil, .null?: break
        case .object(let pairs)?:
            for (k, v) in pairs {
                switch v {
                case .number(let d): s.changed.append((k, d))
                case .string(let t):
                    guard let d = PrometheusText.parseValue(t) ?? (t == "NaN" ? .nan : nil) else {
                        throw BenchError.data(file, line: line, field: "changed.\(k)", "'\(t)' is not a sample value")
                    }
                    s.changed.append((k, d))
                default:
                    throw BenchError.data(file, line: line, field: "changed.\(k)", "expected a number")
                }
            }
        case let other?:
            throw f.error("changed", "expected an object, got a \(other.typeName)")
        }
        try f.finish()
        return s
    }

    /// Reads `server_metrics.jsonl`; errors name the file and line.
    public static func readFile(_ path: String) throws(BenchError) -> [ServerMetricsScrape] {
        var out: [ServerMetricsScrape] = []
        try forEachLine(try FileIO.readFile(path)) { (n, line) throws(BenchError) in
            let v: JSONValue
            do { v = try JSONParser.parse(line) } catch { throw BenchError.data(path, line: n, "not valid JSON: \(error)") }
            out.append(try read(v, file: path, line: n))
        }
        return out
    }
}

/// What a run's scrapes say, over those taken during the run (t ≥ 0): gauges' mean and peak,
/// counters' increase, and the prefix-cache hit rate over the run.
public struct ServerMetricsDigest: Sendable, Equatable {
    public var scrapes: Int
    public var failed: Int
    /// The first failure's message, when some scrape failed.
    public var firstError: String?
    public var mean: [ServerMetric: Double] = [:]
    public var peak: [ServerMetric: Double] = [:]
    /// Counters: last − first value over the run's successful scrapes.
    public var increase: [ServerMetric: Double] = [:]

    /// Δhits / Δqueries when the server counts both, else the mean of its own hit-rate gauge.
    public var prefixCacheHitRate: Double? {
        if let h = increase[.prefixCacheHits], let q = increase[.prefixCacheQueries], q > 0 { return h / q }
        return mean[.prefixCacheHitRate]
    }

    public init(_ scrapes: [ServerMetricsScrape]) {
        let during = scrapes.filter { $0.tS >= 0 }
        self.scrapes = during.count
        let ok = during.filter { $0.error == nil }
        failed = during.count - ok.count
        firstError = during.first { $0.error != nil }?.error
        // Counters count from the last successful scrape before the run, when there is one.
        let baseline = scrapes.last { $0.tS < 0 && $0.error == nil }
        for m in ServerMetric.allCases {
            let values = ok.compactMap { $0.values[m] }
            guard let lastValue = values.last else { continue }
            if m.isCounter {
                let first = baseline?.values[m] ?? values[0]
                increase[m] = lastValue - first
            } else {
                mean[m] = values.reduce(0, +) / Double(values.count)
                peak[m] = values.max()
            }
        }
    }

    /// One line for the terminal (the caller names the source: "server metrics: …").
    public var line: String {
        func f(_ x: Double?, _ d: Int) -> String {
            guard let x else { return "-" }
            var w = JSONWriter()
            w.fixed(x, decimals: d)
            return String(decoding: w.bytes, as: UTF8.self)
        }
        var parts = ["\(scrapes) scrapes" + (failed > 0 ? " (\(failed) failed: \(firstError ?? ""))" : "")]
        if mean[.running] != nil { parts.append("running mean \(f(mean[.running], 1)) peak \(f(peak[.running], 0))") }
        if mean[.waiting] != nil { parts.append("waiting mean \(f(mean[.waiting], 1)) peak \(f(peak[.waiting], 0))") }
        if mean[.kvUsage] != nil { parts.append("KV usage mean \(f(mean[.kvUsage].map { $0 * 100 }, 1))% peak \(f(peak[.kvUsage].map { $0 * 100 }, 1))%") }
        if let p = increase[.preemptions] { parts.append("preemptions \(f(p, 0))") }
        if let h = prefixCacheHitRate { parts.append("prefix-cache hit rate \(f(h * 100, 1))%") }
        if mean[.gpuUtilization] != nil { parts.append("GPU utilisation mean \(f(mean[.gpuUtilization], 1))% peak \(f(peak[.gpuUtilization], 0))%") }
        if mean[.gpuMemoryUsed] != nil { parts.append("GPU memory peak \(f(peak[.gpuMemoryUsed], 0)) MiB") }
        if mean[.gpuPower] != nil { parts.append("GPU power mean \(f(mean[.gpuPower], 1)) W") }
        return parts.joined(separator: "; ")
    }
}
