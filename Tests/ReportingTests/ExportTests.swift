import BenchCore
import Foundation
import Testing
@testable import Reporting

/// `accelbench export`: the files other tools' readers open must have the keys and types those
/// tools write, and numbers that agree with the records they came from.
@Suite struct ExportTests {
    static let header = WorkloadHeader(
        generator: "test", specName: "export-fixture", specDigest: "sha256:00", seed: 7, rateRps: 20, count: 40,
        durationS: 2, classes: [WorkloadClassInfo(name: "chat", kind: .interactive, share: 0.5, sloRule: "ttft 300ms"),
                                WorkloadClassInfo(name: "code,review", kind: .interactive, share: 0.25, sloRule: "tbt 40ms"),
                                WorkloadClassInfo(name: "batch", kind: .batch, share: 0.25, sloRule: "jct 5s")])
    static let target = "endpoint:http://127.0.0.1:8000 model=tiny api=chat"

    /// 40 requests at microsecond-exact times: three classes (one name with a comma), varied
    /// lengths, one two-token chunk, one closed-loop wait, an HTTP error whose message needs CSV
    /// quoting, and a timeout after two tokens.
    static let records: [RequestRecord] = {
        var out: [RequestRecord] = []
        for i in 0..<40 {
            let cls = ["chat", "chat", "code,review", "batch"][i % 4]
            let slo: SLO = cls == "chat" ? SLO(ttftMs: 300, tbtMs: 100) : cls == "batch" ? SLO(jctS: 5) : SLO(tbtMs: 40)
            let intended = Double(i) * 0.05
            let sent = intended + Double(i % 3) * 0.000125
            let first = sent + 0.020 + Double(i % 7) * 0.011
            let gaps = (0..<(2 + i % 9)).map { 0.008 + Double(($0 * 7 + i) % 5) * 0.003 }
            var times = tokens(first: first, gaps: gaps)
            if i == 5 { times.insert(times[2], at: 2) }  // a chunk carrying two tokens
            var r = rec(i, cls, intended: intended, sent: sent, times: times, prompt: 100 + 17 * i, slo: slo)
            if i == 9 { r.queuedS = 0.0125 }
            if i == 13 {
                r = rec(i, cls, intended: intended, sent: sent, times: [], status: "http_500", prompt: 120, output: 0, slo: slo)
                r.error = "upstream said \"no\", sorry"
            }
            if i == 22 {
                r = rec(i, cls, intended: intended, sent: sent, times: [first, first + 0.01], status: "timeout_total", prompt: 90, output: 2, slo: slo)
                r.doneS = first + 3
            }
            out.append(r.quantized())
        }
        // Journaled in completion order, not id order.
        return out.sorted { (Metrics.lastInstant(of: $0), $0.id) < (Metrics.lastInstant(of: $1), $1.id) }
    }()

    static var ok: [RequestRecord] { records.filter(\.isOK).sorted { $0.id < $1.id } }

    /// A results directory written the way a run writes it.
    static func resultsDir() throws -> TempDir {
        let dir = try TempDir()
        let w = try ResultsWriter(directory: dir.path, run: RunInfo(target: target, workload: header))
        for r in records { try w.append(r) }
        try w.finish(runEndS: 2.5)
        return dir
    }

    static func collapsed(_ times: [Double]) -> [Double] {
        var c: [Double] = []
        for t in times where c.last != t { c.append(t) }
        return c
    }

    static func mean(_ xs: [Double]) -> Double { xs.reduce(0, +) / Double(xs.count) }

    static func near(_ a: Double?, _ b: Double, _ tol: Double = 1e-6) -> Bool {
        guard let a else { return false }
        return abs(a - b) <= tol * max(1, abs(b))
    }

    // MARK: vLLM

    /// Keys of `vllm bench serve --save-result --save-detailed` and the JSON type each has there
    /// (from real result files; "number?" = number or null).
    static let vllmKeys: [(String, String)] = [
        ("date", "string"), ("endpoint_type", "string"), ("backend", "string"), ("label", "null"),
        ("model_id", "string"), ("tokenizer_id", "string"), ("num_prompts", "int"), ("request_rate", "number?"),
        ("burstiness", "number?"), ("max_concurrency", "number?"), ("duration", "number"), ("completed", "int"),
        ("failed", "int"), ("total_input_tokens", "int"), ("total_output_tokens", "int"),
        ("request_throughput", "number"), ("request_goodput", "number?"), ("output_throughput", "number"),
        ("total_token_throughput", "number"), ("input_lens", "array"), ("output_lens", "array"), ("ttfts", "array"),
        ("itls", "array"), ("latencies", "array"), ("start_times", "array"), ("queue_times", "array"),
        ("errors", "array"), ("max_output_tokens_per_s", "number"), ("max_concurrent_requests", "int"),
        ("rtfx", "number"),
        ("mean_ttft_ms", "number"), ("median_ttft_ms", "number"), ("std_ttft_ms", "number"), ("p99_ttft_ms", "number"),
        ("mean_tpot_ms", "number"), ("median_tpot_ms", "number"), ("std_tpot_ms", "number"), ("p99_tpot_ms", "number"),
        ("mean_itl_ms", "number"), ("median_itl_ms", "number"), ("std_itl_ms", "number"), ("p99_itl_ms", "number"),
        ("mean_e2el_ms", "number"), ("median_e2el_ms", "number"), ("std_e2el_ms", "number"), ("p99_e2el_ms", "number"),
    ]

    static func hasType(_ v: JSONValue?, _ type: String) -> Bool {
        guard let v else { return false }
        switch type {
        case "null": return v.isNull
        case "int": if case .number(let d) = v { return d == d.rounded() } else { return false }
        case "number?": return v.isNull || v.typeName == "number"
        default: return v.typeName == type
        }
    }

    @Test func vllmBenchHasTheKeysAndTypesReadersUse() throws {
        let dir = try Self.resultsDir()
        let j = try parseJSON(Export.vllmBench(try ExportSource(directory: dir.path)))
        for (key, type) in Self.vllmKeys {
            #expect(Self.hasType(j[key], type), "\(key) should be \(type), is \(j[key]?.typeName ?? "missing")")
        }
        // Fields the workload defines are filled, not left null.
        #expect(j["request_rate"]?.number == 20)
        #expect(j["request_goodput"]?.number != nil)
        #expect(j["model_id"] == .string("tiny") && j["backend"] == .string("openai-chat"))
        guard case .string(let date)? = j["date"] else { Issue.record("no date"); return }
        #expect(date.count == 15 && date.split(separator: "-").map(\.count) == [8, 6])
        // accelbench measures no generated text, so none is invented.
        #expect(j["generated_texts"] == nil)
    }

    @Test func vllmBenchValuesAgreeWithTheRecords() throws {
        let dir = try Self.resultsDir()
        let source = try ExportSource(directory: dir.path)
        let j = try parseJSON(Export.vllmBench(source))
        let ok = Self.ok
        #expect(j["num_prompts"]?.number == 40)
        #expect(j["completed"]?.number == Double(ok.count) && ok.count == 38)
        #expect(j["failed"]?.number == 2)
        #expect(j["total_input_tokens"]?.number == Double(ok.reduce(0) { $0 + $1.promptTokens }))
        #expect(j["total_output_tokens"]?.number == Double(ok.reduce(0) { $0 + $1.outputTokens }))
        #expect(j["duration"]?.number == 2.5)
        // The same window and count as summary.json, so the same throughput.
        #expect(j["request_throughput"]?.number == source.summary.overall.requestsPerS)
        #expect(j["request_goodput"]?.number == source.summary.overall.goodputRequestsPerS)

        // TTFT from the send, as vLLM measures it.
        let ttfts = ok.map { $0.firstTokenS! - $0.sentS! }
        #expect(Self.near(j["mean_ttft_ms"]?.number, Self.mean(ttfts) * 1000))
        let sorted = ttfts.sorted()
        #expect(Self.near(j["median_ttft_ms"]?.number, (sorted[18] + sorted[19]) / 2 * 1000))
        let e2e = ok.map { $0.tokenTimesS.last! - $0.sentS! }
        #expect(Self.near(j["mean_e2el_ms"]?.number, Self.mean(e2e) * 1000))
        let tpots = ok.map { ($0.tokenTimesS.last! - $0.firstTokenS!) / Double($0.outputTokens - 1) }
        #expect(Self.near(j["mean_tpot_ms"]?.number, Self.mean(tpots) * 1000))

        // Per-request arrays in id order, one entry per request.
        guard case .array(let itls)? = j["itls"], case .array(let errors)? = j["errors"],
              case .array(let outLens)? = j["output_lens"], case .array(let lat)? = j["latencies"] else {
            Issue.record("missing arrays"); return
        }
        #expect(itls.count == 40 && errors.count == 40 && outLens.count == 40 && lat.count == 40)
        let byID = Dictionary(uniqueKeysWithValues: Self.records.map { ($0.id, $0) })
        for i in 0..<40 {
            let r = byID[i]!
            guard case .array(let gaps) = itls[i] else { Issue.record("itls[\(i)]"); continue }
            #expect(gaps.count == max(0, Self.collapsed(r.tokenTimesS).count - 1), "request \(i)")
            #expect(errors[i] == .string(r.isOK ? "" : r.error!))
            #expect(outLens[i].number == Double(r.isOK ? r.outputTokens : 0))
            if !r.isOK { #expect(lat[i].number == 0) }
        }
        // The two-token chunk is one inter-chunk gap fewer than its tokens.
        guard case .array(let g5) = itls[5] else { return }
        #expect(g5.count == byID[5]!.tokenTimesS.count - 2)
        let allGaps = ok.flatMap { r in zip(Self.collapsed(r.tokenTimesS).dropFirst(), Self.collapsed(r.tokenTimesS)).map { $0 - $1 } }
        #expect(Self.near(j["mean_itl_ms"]?.number, Self.mean(allGaps) * 1000))
        // Closed-loop wait counts in the client queue time, as vLLM's semaphore wait does.
        guard case .array(let queue)? = j["queue_times"] else { return }
        #expect(Self.near(queue[9].number, byID[9]!.sentS! - byID[9]!.intendedS + 0.0125))
    }

    @Test func vllmGoodputIsNullWithoutSLOs() throws {
        let plain = Self.ok.prefix(5).map { r -> RequestRecord in
            var r = r
            r.slo = SLO()
            return r
        }
        let s = try ExportSource(records: Array(plain), run: RunInfo(target: "engine:sim profile=p policy=fcfs"), runEndS: nil,
                                 finishedAtUnixS: 0, directory: "mem")
        let j = try parseJSON(Export.vllmBench(s))
        #expect(j["request_goodput"]?.isNull == true)
        #expect(j["date"] == .string("19700101-000000"))
        #expect(j["backend"] == .string("accelbench-engine"))
        #expect(j["request_rate"]?.isNull == true)
    }

    // MARK: AIPerf

    /// Metrics of AIPerf's profile_export_aiperf.json with full statistics, and the statistic keys.
    static let aiperfDistributionMetrics = [
        ("request_latency", "ms"), ("time_to_first_token", "ms"), ("time_to_second_token", "ms"),
        ("inter_token_latency", "ms"), ("inter_chunk_latency", "ms"), ("output_token_throughput_per_user", "tokens/sec/user"),
        ("output_sequence_length", "tokens"), ("input_sequence_length", "tokens"), ("output_token_count", "tokens"),
        ("prefill_throughput_per_user", "tokens/sec/user"), ("decode_duration", "ms"),
        ("e2e_output_token_throughput", "tokens/sec/user"),
    ]
    static let aiperfStatKeys = ["unit", "avg", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "min", "max", "std", "count", "sum"]
    /// Metrics AIPerf writes with `unit` and `avg` only.
    static let aiperfScalarMetrics = [
        ("request_throughput", "requests/sec"), ("request_count", "requests"), ("output_token_throughput", "tokens/sec"),
        ("total_output_tokens", "tokens"), ("benchmark_duration", "sec"), ("total_isl", "tokens"), ("total_osl", "tokens"),
        ("request_error_rate", "%"), ("completed_request_count", "requests"), ("total_token_throughput", "tokens/sec"),
        ("input_token_throughput", "tokens/sec"), ("error_request_count", "requests"), ("good_request_count", "requests"),
        ("goodput", "requests/sec"),
    ]

    static func aiperfFiles() throws -> (source: ExportSource, files: [String: [UInt8]]) {
        let dir = try resultsDir()
        let source = try ExportSource(directory: dir.path)
        let out = dir.file("export/aiperf")
        let written = try Export.write(.aiperf, source: source, to: out)
        var files: [String: [UInt8]] = [:]
        for p in written { files[String(p.split(separator: "/").last!)] = try FileIO.readFile(p) }
        return (source, files)
    }

    @Test func aiperfAggregateHasTheKeysReadersUse() throws {
        let (_, files) = try Self.aiperfFiles()
        #expect(files.keys.sorted() == ["profile_export.jsonl", "profile_export_aiperf.csv", "profile_export_aiperf.json"])
        let j = try parseJSON(files["profile_export_aiperf.json"]!)
        #expect(j["schema_version"] == .string("1.4"))
        for (tag, unit) in Self.aiperfDistributionMetrics {
            guard let m = j[tag] else { Issue.record("\(tag) missing"); continue }
            #expect(m.keys == Self.aiperfStatKeys, "\(tag)")
            #expect(m["unit"] == .string(unit), "\(tag)")
            for k in Self.aiperfStatKeys.dropFirst() { #expect(m[k]?.number != nil, "\(tag).\(k)") }
        }
        for (tag, unit) in Self.aiperfScalarMetrics {
            guard let m = j[tag] else { Issue.record("\(tag) missing"); continue }
            #expect(m.keys == ["unit", "avg"], "\(tag)")
            #expect(m["unit"] == .string(unit) && m["avg"]?.number != nil, "\(tag)")
        }
        // Nothing accelbench does not measure.
        #expect(!j.keys.contains { $0.hasPrefix("http_") || $0.hasPrefix("usage_") })
        #expect(j["time_to_first_output_token"] == nil && j["aiperf_version"] == nil)
        #expect(j["input_config"]?.at("models", "items") != nil)
        #expect(j["input_config"]?.at("endpoint", "type") == .string("chat"))
        guard case .array(let errs)? = j["error_summary"] else { Issue.record("error_summary"); return }
        #expect(errs.count == 2)
        #expect(errs.contains { $0.at("error_details", "code")?.number == 500 })
    }

    @Test func aiperfValuesAgreeWithTheRecords() throws {
        let (source, files) = try Self.aiperfFiles()
        let j = try parseJSON(files["profile_export_aiperf.json"]!)
        let ok = Self.ok
        #expect(j.at("request_count", "avg")?.number == Double(ok.count))
        #expect(j.at("error_request_count", "avg")?.number == 2)
        #expect(j.at("completed_request_count", "avg")?.number == 40)
        #expect(j.at("time_to_first_token", "count")?.number == Double(ok.count))
        #expect(Self.near(j.at("time_to_first_token", "avg")?.number, Self.mean(ok.map { $0.firstTokenS! - $0.sentS! }) * 1000))
        #expect(j.at("input_sequence_length", "sum")?.number == Double(ok.reduce(0) { $0 + $1.promptTokens }))
        #expect(j.at("total_osl", "avg")?.number == Double(ok.reduce(0) { $0 + $1.outputTokens }))
        let gaps = ok.reduce(0) { $0 + Self.collapsed($1.tokenTimesS).count - 1 }
        #expect(j.at("inter_chunk_latency", "count")?.number == Double(gaps))
        #expect(j.at("good_request_count", "avg")?.number == Double(source.summary.overall.met))
        // AIPerf's duration: first send to the last successful request's last chunk.
        let start = Self.records.compactMap(\.sentS).min()!
        let end = ok.map { $0.tokenTimesS.last! }.max()!
        #expect(Self.near(j.at("benchmark_duration", "avg")?.number, end - start))
        #expect(Self.near(j.at("request_throughput", "avg")?.number, Double(ok.count) / (end - start)))
        // ITL = (latency − TTFT) / (OSL − 1).
        let itls = ok.map { ($0.tokenTimesS.last! - $0.firstTokenS!) / Double($0.outputTokens - 1) * 1000 }
        #expect(Self.near(j.at("inter_token_latency", "avg")?.number, Self.mean(itls)))
        let lo = j.at("request_latency", "min")?.number ?? .nan, p50 = j.at("request_latency", "p50")?.number ?? .nan
        let hi = j.at("request_latency", "max")?.number ?? .nan
        #expect(lo <= p50 && p50 <= hi)
    }

    @Test func aiperfRecordsHaveTheFieldsAIPerfsModelRequires() throws {
        let (_, files) = try Self.aiperfFiles()
        let lines = files["profile_export.jsonl"]!.split(separator: 0x0A).map(Array.init)
        #expect(lines.count == 40)
        let byID = Dictionary(uniqueKeysWithValues: Self.records.map { ($0.id, $0) })
        for line in lines {
            let j = try parseJSON(line)
            guard let md = j["metadata"], let id = md["session_num"]?.number.map(Int.init), let r = byID[id] else {
                Issue.record("no metadata/session_num"); continue
            }
            // MetricRecordMetadata's required fields.
            for k in ["request_start_ns", "request_end_ns"] { #expect(Self.hasType(md[k], "int"), "\(k)") }
            for k in ["worker_id", "record_processor_id", "benchmark_phase"] { #expect(md[k]?.typeName == "string", "\(k)") }
            #expect(md["request_start_ns"]?.number == (r.sentS! * 1e6).rounded() * 1000)
            guard case .object(let metrics)? = j["metrics"] else { Issue.record("metrics"); continue }
            for (tag, m) in metrics {
                #expect(m.keys == ["value", "unit"], "\(tag)")
                #expect(!tag.hasPrefix("http_"))
            }
            if r.isOK {
                #expect(j["error"] == nil)
                #expect(Self.near(j.at("metrics", "time_to_first_token", "value")?.number, (r.firstTokenS! - r.sentS!) * 1000))
                #expect(j.at("metrics", "output_sequence_length", "value")?.number == Double(r.outputTokens))
                #expect(j.at("metrics", "input_sequence_length", "unit") == .string("tokens"))
            } else {
                #expect(metrics.isEmpty)
                #expect(j.at("error", "type") == .string(r.status))
                #expect(j.at("error", "message")?.typeName == "string")
            }
        }
    }

    @Test func aiperfCSVHasBothSections() throws {
        let (_, files) = try Self.aiperfFiles()
        let text = String(decoding: files["profile_export_aiperf.csv"]!, as: UTF8.self)
        let sections = text.components(separatedBy: "\n\n")
        #expect(sections.count == 2)
        let stats = sections[0].split(separator: "\n")
        #expect(stats.first == "Metric,avg,min,max,sum,p1,p5,p10,p25,p50,p75,p90,p95,p99,std")
        #expect(stats.count == 1 + Self.aiperfDistributionMetrics.count)
        #expect(stats.dropFirst().allSatisfy { $0.split(separator: ",", omittingEmptySubsequences: false).count == 15 })
        #expect(stats.contains { $0.hasPrefix("Time to First Token (ms),") })
        let scalars = sections[1].split(separator: "\n")
        #expect(scalars.first == "Metric,Value")
        #expect(scalars.contains("Request Count,38.00"))
        #expect(scalars.count == 1 + Self.aiperfScalarMetrics.count)
    }

    // MARK: CSV

    /// RFC 4180 records (quoted fields, doubled quotes, CRLF).
    static func parseCSV(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false
        var chars = Array(text)[...]
        while let c = chars.popFirst() {
            if quoted {
                if c == "\"" {
                    if chars.first == "\"" { field.append("\""); chars.removeFirst() } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\r\n" || c == "\n" {
                row.append(field); rows.append(row); row = []; field = ""
            } else {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }

    @Test func csvParsesBackToOneRowPerRequest() throws {
        let dir = try Self.resultsDir()
        let source = try ExportSource(directory: dir.path)
        let out = dir.file("export/requests.csv")
        try Export.write(.csv, source: source, to: out)
        let bytes = try FileIO.readFile(out)
        #expect(bytes.suffix(2) == [0x0D, 0x0A])
        let rows = Self.parseCSV(String(decoding: bytes, as: UTF8.self))
        #expect(rows.count == 41)
        #expect(rows[0] == Export.csvColumns)
        #expect(rows.allSatisfy { $0.count == Export.csvColumns.count })
        let col = Dictionary(uniqueKeysWithValues: rows[0].enumerated().map { ($1, $0) })
        #expect(rows.dropFirst().map { Int($0[col["id"]!])! } == Array(0..<40))
        let byID = Dictionary(uniqueKeysWithValues: Self.records.map { ($0.id, $0) })
        for row in rows.dropFirst() {
            let r = byID[Int(row[col["id"]!])!]!
            #expect(row[col["class"]!] == r.className)
            #expect(row[col["status"]!] == r.status)
            #expect(row[col["error"]!] == (r.error ?? ""))
            #expect(row[col["met_slo"]!] == (r.metSLO ? "true" : "false"))
            #expect(Double(row[col["sent_s"]!]) == r.sentS)
            #expect(Int(row[col["output_tokens"]!]) == r.outputTokens)
            if let first = r.firstTokenS {
                #expect(Self.near(Double(row[col["ttft_ms"]!]), (first - r.intendedS) * 1000, 1e-9))
            } else {
                #expect(row[col["ttft_ms"]!] == "")
            }
        }
        // Mean TTFT of ok rows equals summary.json's (both from the intended time).
        let okRows = rows.dropFirst().filter { $0[col["status"]!] == "ok" }
        let meanTTFT = Self.mean(okRows.map { Double($0[col["ttft_ms"]!])! })
        #expect(close(source.summary.overall.ttft?.mean, meanTTFT))
    }

    // MARK: determinism, errors

    @Test func sameDirectoryGivesSameBytes() throws {
        let dir = try Self.resultsDir()
        let a = try ExportSource(directory: dir.path), b = try ExportSource(directory: dir.path)
        #expect(Export.vllmBench(a) == Export.vllmBench(b))
        #expect(Export.requestsCSV(a) == Export.requestsCSV(b))
        #expect(Export.aiperf(a).map(\.bytes) == Export.aiperf(b).map(\.bytes))
    }

    @Test func statisticsAreNumpys() throws {
        let s = try #require(SampleStats([4, 1, 3, 2]))
        #expect(s.percentile(50) == 2.5)
        #expect(abs(s.percentile(99) - 3.97) < 1e-12)
        #expect(abs(s.std - 1.118033988749895) < 1e-12)
        #expect(s.mean == 2.5 && s.min == 1 && s.max == 4 && s.sum == 10)
        #expect(SampleStats([]) == nil)
    }

    static func exportError(_ dir: String) -> BenchError? {
        do {
            _ = try ExportSource(directory: dir)
            return nil
        } catch {
            return error
        }
    }

    @Test func badInputNamesTheFileAndLine() throws {
        let missing = Self.exportError("/nonexistent/accelbench-export")
        #expect(missing?.exitCode == ExitCodes.ioError)
        let empty = try TempDir()
        let notResults = Self.exportError(empty.path)
        #expect(notResults?.exitCode == ExitCodes.dataError)
        #expect(notResults?.description.contains("requests.jsonl") == true)

        let dir = try Self.resultsDir()
        var bytes = try dir.read("requests.jsonl")
        bytes += Array("{\"id\":99,\"class\":\"chat\"}\n".utf8)
        try dir.write("requests.jsonl", bytes)
        guard case .data(let loc, _)? = Self.exportError(dir.path) else { Issue.record("expected a data error"); return }
        #expect(loc.file.hasSuffix("requests.jsonl") && loc.line == 41 && loc.field != nil)
    }

    @Test func writeRefusesAFileWhereADirectoryGoes() throws {
        let dir = try Self.resultsDir()
        let source = try ExportSource(directory: dir.path)
        #expect(throws: BenchError.self) { try Export.write(.aiperf, source: source, to: dir.file("run.json")) }
        #expect(throws: BenchError.self) { try Export.write(.csv, source: source, to: dir.path) }
    }
}
