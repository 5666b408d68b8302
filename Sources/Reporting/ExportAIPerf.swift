import BenchCore
import Foundation

/// AIPerf 0.13's export directory, from an accelbench run. Metrics are computed as AIPerf's metric
/// classes define them (aiperf/metrics/types), over the same client-side view vLLM uses: times
/// from the send (`sent_s`) to streamed chunks.
///
/// Written: per request, ISL, OSL, output token count, TTFT, time to second token, request latency
/// (send → last content chunk), inter-token latency ((latency − TTFT) / (OSL − 1), AIPerf's
/// fallback without per-chunk usage), inter-chunk latencies, decode duration, output token
/// throughput per user (1 / ITL), E2E output token throughput (OSL / latency) and prefill throughput
/// per user (ISL / TTFT); in aggregate, their statistics (numpy's: population std, linearly
/// interpolated percentiles) over successful requests, and request/error counts, durations, totals
/// and throughputs. Benchmark duration is AIPerf's: first send to last successful request's last chunk.
/// `good_request_count` and `goodput` are accelbench's SLO verdicts (`met_slo`, each request against
/// its class's SLO, TTFT from the intended time) over that duration, written only when some request
/// has an SLO (AIPerf writes them only with `--goodput`).
///
/// Not written, because accelbench does not measure them: HTTP trace timings (`http_req_*`,
/// connection, DNS, sending/receiving), `usage_*` and their diff metrics (accelbench keeps one
/// token count with its source), reasoning-token metrics and time to first output token (the
/// split is measured, in requests.jsonl, but not yet mapped to AIPerf's names), credit/scheduling latencies, the time-sliced `effective_*`/`active_*`
/// series, telemetry, and `aiperf_version`/`benchmark_id`/`start_time`/`end_time` (no wall clock).
/// Per-request timestamps (`*_ns`) count from the run's start, not from 1970.
public enum AIPerfExport {
    public static let schemaVersion = "1.4"
    public static let recordsFile = "profile_export.jsonl"
    public static let aggregateFile = "profile_export_aiperf.json"
    public static let csvFile = "profile_export_aiperf.csv"

    /// A per-request metric: AIPerf's tag, CSV header and display unit, and its value(s) for one
    /// successful request (nil where AIPerf raises NoMetricValue).
    struct RecordMetric: Sendable {
        let tag: String
        let header: String
        let unit: String
        let isList: Bool
        let values: @Sendable (ClientView) -> [Double]?
    }

    /// Milliseconds from seconds that are whole microseconds, without float noise (8.059, not 8.059000000000001).
    @Sendable static func ms(_ s: Double) -> Double { (s * 1e6).rounded() / 1e3 }

    /// ITL in seconds, as AIPerf: the decode window over the tokens after the first.
    static func itl(_ v: ClientView) -> Double? {
        guard v.record.outputTokens >= 2, let t = v.ttftS, let l = v.latencyS else { return nil }
        return (l - t) / Double(v.record.outputTokens - 1)
    }

    static let recordMetrics: [RecordMetric] = {
        func one(_ tag: String, _ header: String, _ unit: String, _ f: @escaping @Sendable (ClientView) -> Double?) -> RecordMetric {
            RecordMetric(tag: tag, header: header, unit: unit, isList: false) { v in f(v).map { [$0] } }
        }
        return [
            one("input_sequence_length", "Input Sequence Length", "tokens") { Double($0.record.promptTokens) },
            one("output_sequence_length", "Output Sequence Length", "tokens") { Double($0.record.outputTokens) },
            one("output_token_count", "Output Token Count", "tokens") { Double($0.record.outputTokens) },
            one("time_to_first_token", "Time to First Token", "ms") { $0.ttftS.map(ms) },
            one("time_to_second_token", "Time to Second Token", "ms") { v in
                v.chunks.count >= 2 ? ms(span(v.chunks[0], v.chunks[1])) : nil
            },
            one("request_latency", "Request Latency", "ms") { $0.latencyS.map(ms) },
            one("inter_token_latency", "Inter Token Latency", "ms") { itl($0).map { $0 * 1000 } },
            RecordMetric(tag: "inter_chunk_latency", header: "Inter Chunk Latency", unit: "ms", isList: true) { v in
                v.chunkGapsS.isEmpty ? nil : v.chunkGapsS.map(ms)
            },
            one("decode_duration", "Decode Duration", "ms") { v in
                guard let t = v.ttftS, let l = v.latencyS else { return nil }
                return ms(span(t, l))
            },
            one("output_token_throughput_per_user", "Output Token Throughput Per User", "tokens/sec/user") { v in
                itl(v).flatMap { $0 > 0 ? 1 / $0 : nil }
            },
            one("e2e_output_token_throughput", "E2E Output Token Throughput", "tokens/sec/user") { v in
                v.latencyS.flatMap { $0 > 0 ? Double(v.record.outputTokens) / $0 : nil }
            },
            one("prefill_throughput_per_user", "Prefill Throughput Per User", "tokens/sec/user") { v in
                v.ttftS.flatMap { $0 > 0 ? Double(v.record.promptTokens) / $0 : nil }
            },
        ]
    }()

    /// AIPerf's percentile columns.
    static let percentiles: [Double] = [1, 5, 10, 25, 50, 75, 90, 95, 99]

    /// The three files, by name.
    public static func files(_ s: ExportSource) -> [(name: String, bytes: [UInt8])] {
        let views = s.records.map(ClientView.init)
        let ok = views.filter { $0.record.isOK && $0.record.sentS != nil }
        var samples: [String: [Double]] = [:]
        var perRequest: [[(RecordMetric, [Double])]] = []
        perRequest.reserveCapacity(views.count)
        for v in views {
            var row: [(RecordMetric, [Double])] = []
            if v.record.isOK && v.record.sentS != nil {
                for m in recordMetrics {
                    guard let x = m.values(v) else { continue }
                    row.append((m, x))
                    samples[m.tag, default: []].append(contentsOf: x)
                }
            }
            perRequest.append(row)
        }
        let scalars = aggregateScalars(s, views: views, ok: ok)
        let stats = recordMetrics.compactMap { m in SampleStats(samples[m.tag] ?? []).map { (m, $0) } }
        return [
            (recordsFile, recordsJSONL(views, perRequest)),
            (aggregateFile, aggregateJSON(s, views: views, stats: stats, scalars: scalars)),
            (csvFile, csv(stats: stats, scalars: scalars)),
        ]
    }

    // MARK: profile_export.jsonl

    static func ns(_ s: Double) -> Int { Int((s * 1e6).rounded()) * 1000 }

    static func recordsJSONL(_ views: [ClientView], _ perRequest: [[(RecordMetric, [Double])]]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 1200 * views.count)
        for (v, metrics) in zip(views, perRequest) {
            let r = v.record
            w.beginObject()
            w.key("metadata")
            w.beginObject()
            w.key("session_num"); w.int(r.id)
            w.key("turn_index"); w.int(0)
            // The workload's arrival: when AIPerf's rate limiter would have issued the credit.
            w.key("credit_issued_ns"); w.int(ns(r.intendedS))
            w.key("request_start_ns"); w.int(ns(r.sentS ?? r.intendedS))
            w.key("request_end_ns"); w.int(ns(Metrics.lastInstant(of: r)))
            w.key("worker_id"); w.string("accelbench")
            w.key("record_processor_id"); w.string("accelbench-export")
            w.key("benchmark_phase"); w.string("profiling")
            w.key("phase_name"); w.string("profiling")
            w.key("phase_kind"); w.string("profiling")
            w.key("was_cancelled"); w.bool(r.status == "aborted")
            // Extra fields (AIPerf's models allow them): what accelbench knows of the request.
            w.key("accelbench_id"); w.int(r.id)
            w.key("accelbench_class"); w.string(r.className)
            w.key("accelbench_status"); w.string(r.status)
            w.key("accelbench_met_slo"); w.bool(r.metSLO)
            w.endObject()
            w.key("metrics")
            w.beginObject()
            for (m, x) in metrics {
                w.key(m.tag)
                w.beginObject()
                w.key("value")
                if m.isList {
                    w.beginArray()
                    for e in x { w.double(e) }
                    w.endArray()
                } else {
                    w.double(x[0])
                }
                w.key("unit"); w.string(m.unit)
                w.endObject()
            }
            w.endObject()
            if !r.isOK {
                w.key("error")
                errorDetails(&w, r)
            }
            w.endObject()
            w.newline()
        }
        return w.bytes
    }

    /// AIPerf's ErrorDetails: an HTTP status as the code, accelbench's status as the type.
    static func errorDetails(_ w: inout JSONWriter, _ r: RequestRecord) {
        w.beginObject()
        w.key("code")
        if r.status.hasPrefix("http_"), let code = Int(r.status.dropFirst(5)) { w.int(code) } else { w.null() }
        w.key("type"); w.string(r.status)
        w.key("message"); w.string(r.error ?? r.status)
        w.endObject()
    }

    // MARK: profile_export_aiperf.json

    /// A metric with only a value (AIPerf writes `unit` and `avg`).
    struct Scalar {
        let tag: String
        let header: String
        let unit: String
        /// Whether the CSV header shows the unit (AIPerf hides it for request counts).
        let showUnit: Bool
        let value: Double
    }

    static func aggregateScalars(_ s: ExportSource, views: [ClientView], ok: [ClientView]) -> [Scalar] {
        var out: [Scalar] = []
        func add(_ tag: String, _ header: String, _ unit: String, _ v: Double, showUnit: Bool = true) {
            out.append(Scalar(tag: tag, header: header, unit: unit, showUnit: showUnit, value: v))
        }
        let errors = views.count - ok.count
        let totalISL = ok.reduce(0) { $0 + $1.record.promptTokens }
        let totalOSL = ok.reduce(0) { $0 + $1.record.outputTokens }
        let starts = views.compactMap(\.record.sentS)
        let ends = ok.compactMap { v in v.latencyS.map { v.record.sentS! + $0 } }
        var duration: Double?
        if let a = starts.min(), let b = ends.max(), b > a { duration = span(a, b) }
        if let d = duration { add("request_throughput", "Request Throughput", "requests/sec", Double(ok.count) / d) }
        add("request_count", "Request Count", "requests", Double(ok.count), showUnit: false)
        if errors > 0 { add("error_request_count", "Error Request Count", "requests", Double(errors), showUnit: false) }
        if let d = duration {
            add("output_token_throughput", "Output Token Throughput", "tokens/sec", Double(totalOSL) / d)
        }
        add("total_output_tokens", "Total Output Tokens", "tokens", Double(totalOSL))
        if let d = duration { add("benchmark_duration", "Benchmark Duration", "sec", d) }
        add("total_isl", "Total Input Sequence Length", "tokens", Double(totalISL))
        add("total_osl", "Total Output Sequence Length", "tokens", Double(totalOSL))
        if s.hasSLOs {
            let good = s.summary.overall.met
            add("good_request_count", "Good Request Count", "requests", Double(good), showUnit: false)
            if let d = duration { add("goodput", "Goodput", "requests/sec", Double(good) / d) }
        }
        if !views.isEmpty {
            add("request_error_rate", "Request Error Rate", "%", 100 * Double(errors) / Double(views.count))
            add("completed_request_count", "Completed Requests (Success + Error)", "requests", Double(views.count), showUnit: false)
        }
        if let d = duration {
            add("total_token_throughput", "Total Token Throughput", "tokens/sec", Double(totalISL + totalOSL) / d)
            add("input_token_throughput", "Input Token Throughput", "tokens/sec", Double(totalISL) / d)
        }
        return out
    }

    static func aggregateJSON(_ s: ExportSource, views: [ClientView], stats: [(RecordMetric, SampleStats)], scalars: [Scalar]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 16384)
        w.beginObject()
        w.key("schema_version"); w.string(schemaVersion)
        w.key("exporter"); w.string("accelbench export")
        w.key("accelbench_target"); w.string(s.run.target)
        if let h = s.run.workload {
            w.key("accelbench_spec"); w.string(h.specName)
            w.key("accelbench_spec_digest"); w.string(h.specDigest)
            w.key("accelbench_seed"); w.uint64(h.seed)
        }
        for sc in scalars {
            w.key(sc.tag)
            w.beginObject()
            w.key("unit"); w.string(sc.unit)
            w.key("avg"); w.double(sc.value)
            w.endObject()
        }
        for (m, st) in stats {
            w.key(m.tag)
            w.beginObject()
            w.key("unit"); w.string(m.unit)
            w.key("avg"); w.double(st.mean)
            for p in percentiles { w.key("p\(Int(p))"); w.double(st.percentile(p)) }
            w.key("min"); w.double(st.min)
            w.key("max"); w.double(st.max)
            w.key("std"); w.double(st.std)
            w.key("count"); w.int(st.count)
            w.key("sum"); w.double(st.sum)
            w.endObject()
        }
        let model = s.targetField("model")
        let api = s.targetField("api")
        if model != nil || api != nil {
            // The parts of AIPerf's input_config that accelbench's target names.
            w.key("input_config")
            w.beginObject()
            if let model {
                w.key("models"); w.beginObject(); w.key("items"); w.beginArray()
                w.beginObject(); w.key("name"); w.string(model); w.endObject()
                w.endArray(); w.endObject()
            }
            if let api {
                w.key("endpoint"); w.beginObject(); w.key("type"); w.string(api); w.endObject()
            }
            w.endObject()
        }
        w.key("was_cancelled"); w.bool(s.run.interrupted)
        w.key("is_complete"); w.bool(!s.run.interrupted)
        w.key("error_summary")
        w.beginArray()
        for (r, count) in errorGroups(views) {
            w.beginObject()
            w.key("error_details"); errorDetails(&w, r)
            w.key("count"); w.int(count)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        w.newline()
        return w.bytes
    }

    /// Failed requests grouped by (status, error), most frequent first, then by status and message.
    static func errorGroups(_ views: [ClientView]) -> [(RequestRecord, Int)] {
        var groups: [String: (RequestRecord, Int)] = [:]
        for v in views where !v.record.isOK {
            let key = v.record.status + "\u{0}" + (v.record.error ?? "")
            groups[key, default: (v.record, 0)].1 += 1
        }
        return groups.sorted { a, b in
            a.value.1 != b.value.1 ? a.value.1 > b.value.1 : a.key < b.key
        }.map(\.value)
    }

    // MARK: profile_export_aiperf.csv

    /// AIPerf's CSV: per-request metrics with their statistics (sorted by header), a blank line, then
    /// the scalar metrics; values with two decimals; LF line ends, as AIPerf writes it.
    static func csv(stats: [(RecordMetric, SampleStats)], scalars: [Scalar]) -> [UInt8] {
        func f(_ v: Double) -> String { String(format: "%.2f", v) }
        var out = "Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std\n"
        for (m, st) in stats.sorted(by: { $0.0.header < $1.0.header }) {
            var cells = ["\(m.header) (\(m.unit))", f(st.mean), f(st.min), f(st.max), f(st.sum)]
            cells += percentiles.map { f(st.percentile($0)) }
            cells.append(f(st.std))
            out += cells.map(Export.csvField).joined(separator: ",") + "\n"
        }
        out += "\nMetric,Value\n"
        for sc in scalars.sorted(by: { $0.header < $1.header }) {
            let name = sc.showUnit ? "\(sc.header) (\(sc.unit))" : sc.header
            out += Export.csvField(name) + "," + f(sc.value) + "\n"
        }
        return Array(out.utf8)
    }
}

extension Export {
    /// AIPerf's export directory: file name → bytes (see `AIPerfExport`).
    public static func aiperf(_ s: ExportSource) -> [(name: String, bytes: [UInt8])] { AIPerfExport.files(s) }
}
