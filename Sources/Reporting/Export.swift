import BenchCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Formats `accelbench export` writes, so dashboards built for other tools can read accelbench runs.
/// Conversions are pure (results → bytes); the command only picks paths.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// `vllm bench serve --save-result --save-detailed` result JSON.
    case vllmBench = "vllm-bench"
    /// AIPerf 0.13's export directory (profile_export.jsonl, profile_export_aiperf.json and .csv).
    case aiperf
    /// One row per request (RFC 4180).
    case csv

    /// Where the export goes without `-o`, relative to the results directory: under `export/`, so
    /// the run's own files are never overwritten.
    public var defaultRelativePath: String {
        switch self {
        case .vllmBench: return "export/vllm-bench.json"
        case .aiperf: return "export/aiperf"
        case .csv: return "export/requests.csv"
        }
    }
}

/// A results directory read for export: its records in request-id order (the workload's order;
/// `requests.jsonl` is in completion order) and the summary over all of them.
public struct ExportSource {
    public var directory: String
    public var run: RunInfo
    public var runEndS: Double?
    public var records: [RequestRecord]
    /// Recomputed over every request with the default options (TBT mode max, no warm-up or
    /// cool-down), so it equals a default run's summary.json and covers the same requests as the
    /// per-request arrays an export holds.
    public var summary: Summary
    /// When the run finished, in seconds since 1970 (UTC): `run.json`'s modification time, which the
    /// run writes last. accelbench records no wall-clock time; nil when the file is missing.
    public var finishedAtUnixS: Int?
    /// Read from an unfinished run's journal (`requests.jsonl.partial`).
    public var recovered: Bool

    public init(directory: String) throws(BenchError) {
        let reader = try ResultsReader(directory: directory)
        let records = try reader.records()
        var finished: Int?
        var st = stat()
        if stat(directory + "/" + ResultsFiles.run, &st) == 0 { finished = Int(st.st_mtim.tv_sec) }
        try self.init(records: records, run: reader.run, runEndS: reader.runEndS, finishedAtUnixS: finished, directory: directory)
        recovered = reader.recovered
    }

    public init(records: [RequestRecord], run: RunInfo, runEndS: Double?, finishedAtUnixS: Int?,
                directory: String) throws(BenchError) {
        var run = run
        run.source = directory
        self.directory = directory
        self.run = run
        self.runEndS = runEndS
        self.finishedAtUnixS = finishedAtUnixS
        recovered = false
        // Stable: ties (which a valid file does not have) keep file order.
        self.records = records.enumerated().sorted { ($0.element.id, $0.offset) < ($1.element.id, $1.offset) }.map(\.element)
        summary = try Metrics.summarize(self.records, classes: run.workload?.classes.map(\.name) ?? [], runEndS: runEndS, run: run)
    }

    /// Whether any request carries an SLO; goodput fields are written only then (as the other
    /// tools write goodput only when given SLOs).
    var hasSLOs: Bool { records.contains { $0.slo.ttftMs != nil || $0.slo.tbtMs != nil || $0.slo.jctS != nil } }

    /// `key=value` words of the run's target (`endpoint:URL model=M api=chat`).
    func targetField(_ key: String) -> String? {
        for word in run.target.split(separator: " ") where word.hasPrefix(key + "=") {
            return String(word.dropFirst(key.count + 1))
        }
        return nil
    }
}

/// One request as a client-side tool (vLLM, AIPerf) measures it: from the moment it was sent, per
/// streamed chunk. accelbench writes one token time per token, a chunk of k tokens as k equal
/// times; collapsing the repeats gives the chunk arrival times those tools time.
struct ClientView {
    let record: RequestRecord
    /// Chunk arrival times, seconds since run start.
    let chunks: [Double]
    /// First chunk − send, seconds (nil without a send or a chunk).
    let ttftS: Double?
    /// Last chunk − send, seconds: vLLM's `latency` and AIPerf's request latency (both end at the
    /// last content chunk, not at the end of the stream).
    let latencyS: Double?
    /// Gaps between consecutive chunks, seconds.
    let chunkGapsS: [Double]

    init(_ r: RequestRecord) {
        record = r
        var c: [Double] = []
        c.reserveCapacity(r.tokenTimesS.count)
        for t in r.tokenTimesS where c.last != t { c.append(t) }
        if c.isEmpty, let f = r.firstTokenS { c = [f] }
        chunks = c
        if let sent = r.sentS, let first = c.first, let last = c.last {
            ttftS = span(sent, first)
            latencyS = span(sent, last)
        } else {
            ttftS = nil
            latencyS = nil
        }
        chunkGapsS = c.count < 2 ? [] : (1..<c.count).map { span(c[$0 - 1], c[$0]) }
    }
}

/// b − a at the microsecond precision of `requests.jsonl`, without the float noise of the subtraction.
@inline(__always)
func span(_ a: Double, _ b: Double) -> Double { ((b - a) * 1e6).rounded() / 1e6 }

/// Exact statistics of a sample, as numpy computes them for both tools: mean, population standard
/// deviation (`np.std`, ddof 0), and percentiles by linear interpolation (`np.percentile`'s
/// default). They can differ from summary.json's HDR-histogram percentiles in the 4th digit.
struct SampleStats {
    let sorted: [Double]
    let sum: Double
    var count: Int { sorted.count }
    var mean: Double { sum / Double(count) }
    var min: Double { sorted[0] }
    var max: Double { sorted[count - 1] }

    /// nil for an empty sample.
    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        sorted = values.sorted()
        // Summed in sorted order: the same bytes whatever order the values came in.
        sum = sorted.reduce(0, +)
    }

    var std: Double {
        let m = mean
        let ss = sorted.reduce(0) { $0 + ($1 - m) * ($1 - m) }
        return (ss / Double(count)).squareRoot()
    }

    func percentile(_ p: Double) -> Double {
        let virtualIndex = p / 100 * Double(count - 1)
        let lo = Int(virtualIndex)
        let hi = Swift.min(lo + 1, count - 1)
        return sorted[lo] + (virtualIndex - Double(lo)) * (sorted[hi] - sorted[lo])
    }
}

public enum Export {
    /// Writes `format` for `source` to `path` (a file, or for AIPerf a directory), atomically file by
    /// file, creating parent directories. Returns the files written.
    @discardableResult
    public static func write(_ format: ExportFormat, source: ExportSource, to path: String) throws(BenchError) -> [String] {
        func parent(_ p: String) -> String? {
            guard let slash = p.lastIndex(of: "/"), slash != p.startIndex else { return nil }
            return String(p[..<slash])
        }
        switch format {
        case .vllmBench, .csv:
            if FileIO.isDirectory(path) { throw BenchError.io(path, "is a directory; -o names the output file") }
            if let dir = parent(path) { try FileIO.makeDirectories(dir) }
            try FileIO.writeAtomically(format == .csv ? requestsCSV(source) : vllmBench(source), to: path)
            return [path]
        case .aiperf:
            if FileIO.exists(path) && !FileIO.isDirectory(path) { throw BenchError.io(path, "is a file; -o names the output directory for aiperf") }
            try FileIO.makeDirectories(path)
            var written: [String] = []
            for (name, bytes) in aiperf(source) {
                try FileIO.writeAtomically(bytes, to: path + "/" + name)
                written.append(path + "/" + name)
            }
            return written
        }
    }

    // MARK: requests CSV

    /// The columns of `requests.csv`, in order. Times are seconds since run start (µs precision);
    /// latencies are accelbench's own, as summary.json computes them: TTFT and E2E from the
    /// intended (arrival) time, TPOT the mean gap from first to last token, max TBT the largest gap.
    /// They are filled wherever the record has the times, failed requests included; empty = null.
    /// `ttft_ms` ends where the request's SLO says (`slo_ttft_of`: the first token, or the first
    /// answer token of a reasoning stream); `reasoning_tokens` and `first_content_s` are 0 and
    /// empty for streams without reasoning.
    public static let csvColumns = [
        "id", "class", "status", "error", "intended_s", "sent_s", "first_token_s", "done_s", "queued_s",
        "prompt_tokens", "output_tokens", "token_count_source", "ttft_ms", "tpot_ms", "max_tbt_ms", "e2e_ms",
        "slo_ttft_ms", "slo_tbt_ms", "slo_jct_s", "met_slo", "slo_ttft_of", "reasoning_tokens", "first_content_s",
    ]

    /// One row per request in id order, a header row first, RFC 4180 (CRLF line ends; fields with a
    /// comma, quote or line break quoted, quotes doubled).
    public static func requestsCSV(_ s: ExportSource) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 * (s.records.count + 1))
        func row(_ fields: [String]) {
            for (i, f) in fields.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: csvField(f).utf8)
            }
            out.append(contentsOf: [0x0D, 0x0A])
        }
        row(csvColumns)
        for r in s.records {
            let t = r.tokenTimesS
            let first = r.firstTokenS ?? t.first
            let ttftEnd = r.ttftEndS
            var tpot: Double?, maxGap: Double?
            if t.count >= 2 {
                tpot = (t[t.count - 1] - t[0]) / Double(t.count - 1)
                maxGap = (1..<t.count).reduce(0.0) { Swift.max($0, t[$1] - t[$1 - 1]) }
            }
            row([
                String(r.id), r.className, r.status, r.error ?? "",
                fixedText(r.intendedS, 6), fixedText(r.sentS, 6), fixedText(first, 6), fixedText(r.doneS, 6), fixedText(r.queuedS, 6),
                String(r.promptTokens), String(r.outputTokens), r.tokenCountSource.rawValue,
                fixedText(ttftEnd.map { span(r.intendedS, $0) * 1000 }, 3), fixedText(tpot.map { $0 * 1000 }, 3),
                fixedText(maxGap.map { $0 * 1000 }, 3), fixedText(r.doneS.map { span(r.intendedS, $0) * 1000 }, 3),
                fixedText(r.slo.ttftMs, 3), fixedText(r.slo.tbtMs, 3), fixedText(r.slo.jctS, 6), r.metSLO ? "true" : "false",
                r.slo.ttftOf.rawValue, String(r.reasoningTokens), fixedText(r.firstContentS, 6),
            ])
        }
        return out
    }

    static func csvField(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// The fixed-point text `requests.jsonl` uses for the same value (trailing zeros dropped); "" for nil.
    static func fixedText(_ v: Double?, _ decimals: Int) -> String {
        guard let v, v.isFinite else { return "" }
        var w = JSONWriter(reservingCapacity: 24)
        w.fixed(v, decimals: decimals)
        return w.string
    }

    // MARK: vLLM bench serve

    /// Percentiles written for each latency, as `vllm bench serve --metric-percentiles 50,90,95,99`
    /// writes them (vLLM's default is 99 alone; dashboards commonly read p50/p90 too).
    public static let vllmPercentiles: [Double] = [50, 90, 95, 99]
    /// Latencies with mean/median/std/percentile keys, as `--percentile-metrics ttft,tpot,itl,e2el`.
    public static let vllmPercentileMetrics = ["ttft", "tpot", "itl", "e2el"]

    /// The result JSON of `vllm bench serve --save-result --save-detailed`, computed as vLLM computes
    /// it (vllm/benchmarks/serve.py):
    /// - TTFT, ITL and latency count from the request's send (`sent_s`), not from its intended time
    ///   as accelbench's summary does; latency ends at the last content chunk; ITLs are gaps between
    ///   chunks. TPOT = (latency − TTFT) / (output tokens − 1) over requests with more than one token.
    /// - duration = the run's measurement window (run start to run end, summary.json `window_s`), so
    ///   `request_throughput` equals summary.json's.
    /// - `request_goodput`: accelbench's SLO goodput (requests that met their own class's SLO per
    ///   second, TTFT judged from the intended time, every token gap against the TBT SLO), not vLLM's
    ///   `--goodput` thresholds; null when no request has an SLO, as vLLM writes it without `--goodput`.
    /// - Per-request arrays are in request-id order. Failed requests get vLLM's defaults: output
    ///   length 0 and latency 0.0, TTFT 0.0 unless a first chunk arrived; `start_times` are seconds
    ///   since the run's start (vLLM's are `perf_counter` readings), null for a request never sent;
    ///   `queue_times` = send − workload arrival (vLLM's `client_queue_time`).
    /// - `date` is when the run finished (run.json's modification time, UTC, vLLM's format), not the
    ///   export's time, so the same directory exports to the same bytes.
    /// - `model_id` and `tokenizer_id` (vLLM's default: the model) are the endpoint's model, or for
    ///   engine runs the simulated profile; `backend` is openai/openai-chat for endpoint runs
    ///   (vLLM's names for those APIs) and accelbench-engine for simulated ones.
    /// - Not written, as accelbench does not have them: `generated_texts`; `burstiness` and
    ///   `max_concurrency` are null (the arrival process lives in the workload spec); `request_rate`
    ///   is the workload's mean offered rate, null if it has none. `label` is null (vLLM's default).
    /// - `accelbench_target` and `accelbench_spec` are extra keys, as vLLM's `--metadata KEY=VALUE` adds.
    public static func vllmBench(_ s: ExportSource) -> [UInt8] {
        let views = s.records.map(ClientView.init)
        let ok = views.filter { $0.record.isOK }
        let duration = s.summary.windowS
        let model = s.targetField("model") ?? s.targetField("profile") ?? s.run.target
        let backend: String
        switch s.targetField("api") {
        case "chat": backend = "openai-chat"
        case "completions": backend = "openai"
        case let api?: backend = api
        case nil: backend = s.run.target.hasPrefix("engine:") ? "accelbench-engine" : "accelbench"
        }

        var ttfts: [Double] = [], tpots: [Double] = [], itls: [Double] = [], e2els: [Double] = []
        var totalIn = 0, totalOut = 0
        for v in ok {
            totalIn += v.record.promptTokens
            totalOut += v.record.outputTokens
            guard let ttft = v.ttftS, let lat = v.latencyS else { continue }
            ttfts.append(ttft)
            e2els.append(lat)
            itls.append(contentsOf: v.chunkGapsS)
            if v.record.outputTokens > 1 { tpots.append((lat - ttft) / Double(v.record.outputTokens - 1)) }
        }
        let peak = vllmPeaks(ok)

        var w = JSONWriter(reservingCapacity: 4096 + 64 * s.records.count)
        w.beginObject()
        w.key("date")
        if let t = s.finishedAtUnixS { w.string(vllmDate(t)) } else { w.null() }
        w.key("endpoint_type"); w.string(backend)
        w.key("backend"); w.string(backend)
        w.key("label"); w.null()
        w.key("model_id"); w.string(model)
        w.key("tokenizer_id"); w.string(model)
        w.key("num_prompts"); w.int(s.records.count)
        w.key("accelbench_target"); w.string(s.run.target)
        if let h = s.run.workload { w.key("accelbench_spec"); w.string(h.specName) }
        w.key("request_rate"); w.optionalDouble(s.run.workload?.rateRps)
        w.key("burstiness"); w.null()
        w.key("max_concurrency"); w.null()
        w.key("duration"); w.double(duration)
        w.key("completed"); w.int(ok.count)
        w.key("failed"); w.int(views.count - ok.count)
        w.key("total_input_tokens"); w.int(totalIn)
        w.key("total_output_tokens"); w.int(totalOut)
        w.key("request_throughput"); w.double(Double(ok.count) / duration)
        w.key("request_goodput")
        if s.hasSLOs { w.double(s.summary.overall.goodputRequestsPerS) } else { w.null() }
        w.key("output_throughput"); w.double(Double(totalOut) / duration)
        w.key("total_token_throughput"); w.double(Double(totalIn + totalOut) / duration)
        w.key("input_lens"); intArray(&w, views.map { $0.record.promptTokens })
        w.key("output_lens"); intArray(&w, views.map { $0.record.isOK ? $0.record.outputTokens : 0 })
        w.key("ttfts"); w.fixedArray(views.map { $0.ttftS ?? 0 }, decimals: 6)
        w.key("itls")
        w.beginArray()
        for v in views { w.fixedArray(v.chunkGapsS, decimals: 6) }
        w.endArray()
        w.key("latencies"); w.fixedArray(views.map { $0.record.isOK ? ($0.latencyS ?? 0) : 0 }, decimals: 6)
        w.key("start_times")
        w.beginArray()
        for v in views { w.optionalFixed(v.record.sentS, decimals: 6) }
        w.endArray()
        w.key("queue_times")
        w.beginArray()
        for v in views {
            let r = v.record
            w.optionalFixed(r.sentS.map { span(r.intendedS - (r.queuedS ?? 0), $0) }, decimals: 6)
        }
        w.endArray()
        w.key("errors")
        w.beginArray()
        for v in views { w.string(v.record.isOK ? "" : (v.record.error ?? v.record.status)) }
        w.endArray()
        w.key("max_output_tokens_per_s"); w.double(peak.tokensPerS)
        w.key("max_concurrent_requests"); w.int(peak.concurrent)
        // Audio input seconds per second; text workloads have none (vLLM writes 0.0 for them too).
        w.key("rtfx"); w.double(0)
        for (name, values) in [("ttft", ttfts), ("tpot", tpots), ("itl", itls), ("e2el", e2els)] {
            // vLLM's `np.mean(x or 0)`: an empty list reads as 0.
            let st = SampleStats(values)
            w.key("mean_\(name)_ms"); w.double((st?.mean ?? 0) * 1000)
            w.key("median_\(name)_ms"); w.double((st?.percentile(50) ?? 0) * 1000)
            w.key("std_\(name)_ms"); w.double((st?.std ?? 0) * 1000)
            for p in vllmPercentiles {
                w.key("p\(percentileWord(p))_\(name)_ms"); w.double((st?.percentile(p) ?? 0) * 1000)
            }
        }
        w.endObject()
        w.newline()
        return w.bytes
    }

    /// vLLM's key spelling of a percentile: "99", "99.9".
    static func percentileWord(_ p: Double) -> String {
        p == p.rounded() ? String(Int(p)) : String(p)
    }

    static func intArray(_ w: inout JSONWriter, _ values: [Int]) {
        w.beginArray()
        for v in values { w.int(v) }
        w.endArray()
    }

    /// `%Y%m%d-%H%M%S` in UTC.
    static func vllmDate(_ unixS: Int) -> String {
        var t = time_t(unixS)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d%02d%02d-%02d%02d%02d", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec))
    }

    /// vLLM's `max_output_tokens_per_s` and `max_concurrent_requests`: successful requests' chunks
    /// counted in one-second buckets from the first send, and requests active in each bucket.
    static func vllmPeaks(_ ok: [ClientView]) -> (tokensPerS: Double, concurrent: Int) {
        let timed = ok.filter { $0.record.sentS != nil && $0.latencyS != nil }
        guard let minStart = timed.map({ $0.record.sentS! }).min() else { return (0, 0) }
        let maxEnd = timed.map { $0.record.sentS! + $0.latencyS! }.max()!
        let buckets = Int((maxEnd - minStart).rounded(.up)) + 1
        var tokens = [Int](repeating: 0, count: buckets)
        var active = [Int](repeating: 0, count: buckets)
        for v in timed {
            let start = v.record.sentS!
            for t in v.chunks {
                let b = Int(t - minStart)
                if b >= 0 && b < buckets { tokens[b] += 1 }
            }
            let first = Int(start - minStart), last = Int(start + v.latencyS! - minStart)
            for b in first...last where b < buckets { active[b] += 1 }
        }
        return (Double(tokens.max()!), active.max()!)
    }
}
