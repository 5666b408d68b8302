import BenchCore
import Foundation

/// Attainment fractions; nil where no request in the group has that SLO.
public struct Attainment: Sendable, Equatable {
    public var overall: Double
    public var ttft: Double?
    public var tbt: Double?
    public var jct: Double?
    public var tbtTokenLevel: Double?
}

/// Metrics for one class or for all requests.
public struct GroupSummary: Sendable, Equatable {
    public var total: Int
    public var completed: Int
    public var failed: Int
    /// Of the failed: never admitted, and dropped by the engine's drop rule.
    public var rejected: Int
    public var dropped: Int
    public var met: Int
    public var requestsPerS: Double
    public var inputTokensPerS: Double
    public var outputTokensPerS: Double
    public var goodputRequestsPerS: Double
    public var goodputOutputTokensPerS: Double
    public var attainment: Attainment
    public var ttft: LatencyStats?
    public var tbt: LatencyStats?
    public var tpot: LatencyStats?
    public var e2e: LatencyStats?
    /// Mean over requests of Etalon's fluidity index (1 − deadline-miss rate).
    public var fluidityMeanIndex: Double?
    /// 99th percentile (nearest rank) over requests of the deadline-miss rate.
    public var fluidityP99MissRate: Double?
    /// Completed requests that streamed reasoning tokens (0: no `reasoning` block is written).
    public var reasoningRequests: Int
    /// Their reasoning tokens, of `outputTokensPerS`'s output tokens.
    public var reasoningTokens: Int
    /// Over those requests: time to the first token of any kind, and to the first answer token.
    public var reasoningFirstToken: LatencyStats?
    public var reasoningFirstContent: LatencyStats?

    init(_ g: GroupAccumulator, windowS: Double) {
        func frac(_ a: Int, _ b: Int) -> Double? { b > 0 ? Double(a) / Double(b) : nil }
        total = g.total
        completed = g.completed
        failed = g.failed
        rejected = g.rejected
        dropped = g.dropped
        met = g.met
        requestsPerS = Double(g.completed) / windowS
        inputTokensPerS = Double(g.inputTokens) / windowS
        outputTokensPerS = Double(g.outputTokens) / windowS
        goodputRequestsPerS = Double(g.met) / windowS
        goodputOutputTokensPerS = Double(g.goodOutputTokens) / windowS
        attainment = Attainment(overall: Double(g.met) / Double(max(g.total, 1)), ttft: frac(g.ttftMet, g.ttftHave),
                                tbt: frac(g.tbtMet, g.tbtHave), jct: frac(g.jctMet, g.jctHave),
                                tbtTokenLevel: frac(g.gapsMet, g.gapsTotal))
        ttft = g.ttft.stats
        tbt = g.tbt.stats
        tpot = g.tpot.stats
        e2e = g.e2e.stats
        reasoningRequests = g.reasoningRequests
        reasoningTokens = g.reasoningTokens
        reasoningFirstToken = g.firstAnyToken.stats
        reasoningFirstContent = g.firstContent.stats
        if g.missRates.isEmpty {
            fluidityMeanIndex = nil
            fluidityP99MissRate = nil
        } else {
            // Summed in sorted order so the result does not depend on how records were split
            // among workers.
            let sorted = g.missRates.sorted()
            fluidityMeanIndex = sorted.reduce(0) { $0 + (1 - $1) } / Double(sorted.count)
            fluidityP99MissRate = nearestRank(sorted, 0.99)
        }
    }
}

/// Everything `summary.json` holds (schema `accelbench.summary/1`).
public struct Summary: Sendable, Equatable {
    public static let schema = "accelbench.summary/1"
    public var run: RunInfo
    public var options: MetricsOptions
    public var windowStartS: Double
    public var windowS: Double
    public var excluded: Int
    public var overall: GroupSummary
    public var classes: [(String, GroupSummary)]
    public var dispatchLagMs: LatencyStats?
    public var valid: Bool
    public var invalidReasons: [String]
    /// Multi-turn sessions, when the workload has them.
    public var sessions: SessionSummary? = nil

    public static func == (a: Summary, b: Summary) -> Bool {
        a.json() == b.json()
    }

    public func group(_ name: String) -> GroupSummary? { classes.first { $0.0 == name }?.1 }

    // MARK: JSON

    public func json() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 8192)
        w.beginObject()
        w.key("schema"); w.string(Summary.schema)
        w.key("target"); w.string(run.target)
        if let h = run.workload {
            w.key("workload")
            w.beginObject()
            h.identity.write([.spec, .specDigest, .seed, .rateRPS, .count], to: &w)
            w.endObject()
        }
        w.key("options")
        w.beginObject()
        w.key("tbt_mode"); w.string(options.tbtMode.rawValue)
        w.key("warmup_s"); w.double(options.warmupS)
        w.key("cooldown_s"); w.double(options.cooldownS)
        w.endObject()
        writeCounts(overall, excluded: excluded, to: &w)
        w.key("window_start_s"); w.fixed(windowStartS, decimals: 6)
        w.key("window_s"); w.fixed(windowS, decimals: 6)
        writeRates(overall, to: &w)
        w.key("slo_attainment")
        w.beginObject()
        writeAttainmentFields(overall.attainment, to: &w)
        w.key("by_class")
        w.beginObject()
        for (name, g) in classes {
            w.key(name)
            w.beginObject()
            writeAttainmentFields(g.attainment, to: &w)
            w.endObject()
        }
        w.endObject()
        w.endObject()
        w.key("latency_ms"); writeLatencies(overall, to: &w)
        w.key("fluidity"); writeFluidity(overall, to: &w)
        writeReasoning(overall, to: &w)
        if let sessions {
            w.key("sessions")
            sessions.write(to: &w)
        }
        w.key("dispatch_lag_ms")
        if let lag = dispatchLagMs {
            w.beginObject()
            w.key("p50"); w.fixed(lag.p50, decimals: 3)
            w.key("p99"); w.fixed(lag.p99, decimals: 3)
            w.key("max"); w.fixed(lag.max, decimals: 3)
            w.endObject()
        } else {
            w.null()
        }
        w.key("by_class")
        w.beginObject()
        for (name, g) in classes {
            w.key(name)
            w.beginObject()
            writeCounts(g, excluded: nil, to: &w)
            writeRates(g, to: &w)
            w.key("slo_attainment")
            w.beginObject()
            writeAttainmentFields(g.attainment, to: &w)
            w.endObject()
            w.key("latency_ms"); writeLatencies(g, to: &w)
            w.key("fluidity"); writeFluidity(g, to: &w)
            writeReasoning(g, to: &w)
            w.endObject()
        }
        w.endObject()
        if run.engineIterations != nil || run.enginePreemptions != nil {
            w.key("engine")
            w.beginObject()
            w.key("iterations"); w.optionalInt(run.engineIterations)
            w.key("preemptions"); w.optionalInt(run.enginePreemptions)
            w.endObject()
        }
        if let c = run.cluster {
            w.key("cluster")
            c.write(to: &w)
        }
        w.key("valid"); w.bool(valid)
        w.key("invalid_reasons")
        w.beginArray()
        for r in invalidReasons { w.string(r) }
        w.endArray()
        w.endObject()
        w.newline()
        return w.bytes
    }

    func writeCounts(_ g: GroupSummary, excluded: Int?, to w: inout JSONWriter) {
        w.key("requests")
        w.beginObject()
        w.key("total"); w.int(g.total)
        w.key("completed"); w.int(g.completed)
        w.key("failed"); w.int(g.failed)
        w.key("rejected"); w.int(g.rejected)
        w.key("dropped"); w.int(g.dropped)
        w.key("met_slo"); w.int(g.met)
        if let excluded { w.key("excluded_by_window"); w.int(excluded) }
        w.endObject()
    }

    func writeRates(_ g: GroupSummary, to w: inout JSONWriter) {
        w.key("throughput")
        w.beginObject()
        w.key("requests_per_s"); w.fixed(g.requestsPerS, decimals: 6)
        w.key("input_tokens_per_s"); w.fixed(g.inputTokensPerS, decimals: 3)
        w.key("output_tokens_per_s"); w.fixed(g.outputTokensPerS, decimals: 3)
        w.endObject()
        w.key("goodput")
        w.beginObject()
        w.key("requests_per_s"); w.fixed(g.goodputRequestsPerS, decimals: 6)
        w.key("output_tokens_per_s"); w.fixed(g.goodputOutputTokensPerS, decimals: 3)
        w.endObject()
    }

    func writeAttainmentFields(_ a: Attainment, to w: inout JSONWriter) {
        w.key("overall"); w.fixed(a.overall, decimals: 6)
        w.key("ttft"); w.optionalFixed(a.ttft, decimals: 6)
        w.key("tbt"); w.optionalFixed(a.tbt, decimals: 6)
        w.key("jct"); w.optionalFixed(a.jct, decimals: 6)
        w.key("tbt_token_level"); w.optionalFixed(a.tbtTokenLevel, decimals: 6)
    }

    /// `reasoning` {requests, reasoning_tokens, latency_ms {first_token, first_content}}, only
    /// for a group in which some completed request streamed reasoning.
    func writeReasoning(_ g: GroupSummary, to w: inout JSONWriter) {
        guard g.reasoningRequests > 0 else { return }
        w.key("reasoning")
        w.beginObject()
        w.key("requests"); w.int(g.reasoningRequests)
        w.key("reasoning_tokens"); w.int(g.reasoningTokens)
        w.key("latency_ms")
        w.beginObject()
        for (k, s) in [("first_token", g.reasoningFirstToken), ("first_content", g.reasoningFirstContent)] {
            w.key(k)
            writeStats(s, to: &w)
        }
        w.endObject()
        w.endObject()
    }

    func writeLatencies(_ g: GroupSummary, to w: inout JSONWriter) {
        w.beginObject()
        for (k, s) in [("ttft", g.ttft), ("tbt", g.tbt), ("tpot", g.tpot), ("e2e", g.e2e)] {
            w.key(k)
            writeStats(s, to: &w)
        }
        w.endObject()
    }

    func writeStats(_ s: LatencyStats?, to w: inout JSONWriter) {
        guard let s else { w.null(); return }
        w.beginObject()
        w.key("count"); w.int(s.count)
        w.key("mean"); w.fixed(s.mean, decimals: 3)
        w.key("p50"); w.fixed(s.p50, decimals: 3)
        w.key("p90"); w.fixed(s.p90, decimals: 3)
        w.key("p95"); w.fixed(s.p95, decimals: 3)
        w.key("p99"); w.fixed(s.p99, decimals: 3)
        w.key("p999"); w.fixed(s.p999, decimals: 3)
        w.key("max"); w.fixed(s.max, decimals: 3)
        w.endObject()
    }

    func writeFluidity(_ g: GroupSummary, to w: inout JSONWriter) {
        w.beginObject()
        w.key("mean_index"); w.optionalFixed(g.fluidityMeanIndex, decimals: 6)
        w.key("p99_miss_rate"); w.optionalFixed(g.fluidityP99MissRate, decimals: 6)
        w.endObject()
    }

    // MARK: text

    /// Tables for a terminal: one row per class plus "all".
    public func table() -> String {
        func f(_ x: Double?, _ d: Int) -> String { x.map { $0.isFinite ? String(format: "%.\(d)f", $0) : "-" } ?? "-" }
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        var out = "target \(run.target)"
        if let h = run.workload { out += "  workload \(h.specName) (seed \(h.seed))" }
        out += "  window \(f(windowS, 2)) s from \(f(windowStartS, 2)) s  tbt-mode \(options.tbtMode.rawValue)\n"
        if !valid { out += "INVALID RUN: " + invalidReasons.joined(separator: "; ") + "\n" }
        out += "\n"
        let rows: [(String, GroupSummary)] = classes + [("all", overall)]
        out += TextTable.render(
            header: ["class", "requests", "ok", "failed", "req/s", "out tok/s", "goodput req/s", "attain", "ttft", "tbt", "jct", "tbt tok"],
            rows: rows.map { n, g in
                [n, String(g.total), String(g.completed), String(g.failed), f(g.requestsPerS, 3), f(g.outputTokensPerS, 1),
                 f(g.goodputRequestsPerS, 3), pct(g.attainment.overall), pct(g.attainment.ttft), pct(g.attainment.tbt),
                 pct(g.attainment.jct), pct(g.attainment.tbtTokenLevel)]
            })
        out += "\nlatency (ms): mean / p50 / p90 / p99 / max\n"
        func lat(_ s: LatencyStats?) -> String {
            guard let s else { return "-" }
            return "\(f(s.mean, 1)) / \(f(s.p50, 1)) / \(f(s.p90, 1)) / \(f(s.p99, 1)) / \(f(s.max, 1))"
        }
        out += TextTable.render(
            header: ["class", "TTFT", "TBT", "TPOT", "E2E", "fluidity"],
            rows: rows.map { n, g in
                [n, lat(g.ttft), lat(g.tbt), lat(g.tpot), lat(g.e2e), f(g.fluidityMeanIndex, 3)]
            })
        if let sessions { out += sessions.text }
        if overall.reasoningRequests > 0 {
            out += "\nreasoning: \(overall.reasoningRequests) requests, \(overall.reasoningTokens) reasoning tokens; "
            out += "time to first token p50 \(f(overall.reasoningFirstToken?.p50, 1)) ms, to first answer token p50 \(f(overall.reasoningFirstContent?.p50, 1)) ms\n"
        }
        if let lag = dispatchLagMs {
            out += "\ndispatch lag (ms): p50 \(f(lag.p50, 3))  p99 \(f(lag.p99, 3))  max \(f(lag.max, 3))\n"
        }
        return out
    }
}

/// summary.json read back, beside its writer (`Summary.json()`): the target, the workload it
/// measured, its classes, and every number by its dotted path (`goodput.requests_per_s`,
/// `by_class.chat.slo_attainment.overall`: the paths gate baselines name). Gate, repeated-run
/// sets and plots read summaries through this type, not by walking JSON.
public struct SummaryFile: Sendable {
    /// The `target` string (nil in files that lack it).
    public var target: String?
    public var workload: WorkloadIdentity?
    /// The classes of `by_class`, in the file's order.
    public var classes: [String]
    /// Every number in the file, by dotted path (null values are absent).
    public var numbers: [String: Double]

    public init(json v: JSONValue) {
        if case .string(let t)? = v["target"] { target = t }
        workload = WorkloadIdentity(json: v["workload"])
        classes = []
        if case .object(let pairs)? = v["by_class"] { classes = pairs.map(\.0) }
        numbers = [:]
        SummaryFile.collect(v, prefix: "", into: &numbers)
    }

    private static func collect(_ v: JSONValue, prefix: String, into out: inout [String: Double]) {
        switch v {
        case .number(let d): out[prefix] = d
        case .object(let pairs):
            for (k, x) in pairs { collect(x, prefix: prefix.isEmpty ? k : prefix + "." + k, into: &out) }
        default: break
        }
    }

    /// Reads `path`; errors name the file.
    public static func read(_ path: String) throws(BenchError) -> SummaryFile {
        let bytes = try FileIO.readFile(path)
        do {
            return SummaryFile(json: try bytes.withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue in
                try JSONParser.parse(b)
            })
        } catch {
            throw BenchError.data(SourceLocation(file: path), "not valid JSON: \(error)")
        }
    }

    /// The number at a dotted path (nil when absent or null, e.g. a latency with no samples).
    public func value(_ path: String) -> Double? { numbers[path] }

    /// SLO attainment overall (nil class) or of one class.
    public func attainment(className: String?) -> Double? {
        value(className.map { "by_class.\($0).slo_attainment.overall" } ?? "slo_attainment.overall")
    }

    /// Goodput in requests per second, overall (nil class) or of one class.
    public func goodputRequestsPerS(className: String?) -> Double? {
        value(className.map { "by_class.\($0).goodput.requests_per_s" } ?? "goodput.requests_per_s")
    }
}
