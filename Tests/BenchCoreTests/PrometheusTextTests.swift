import Testing
@testable import BenchCore

/// A vLLM-style scrape: HELP/TYPE lines, labels, a histogram, a NaN, a timestamp, CRLF.
private let vllmScrape = """
# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B"} 3.0
vllm:num_requests_running{engine="1",model_name="meta-llama/Llama-3.1-8B"} 2.0
vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B"} 7.0\r
vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B"} 0.5
vllm:kv_cache_usage_perc{engine="1",model_name="meta-llama/Llama-3.1-8B"} 0.25
vllm:num_preemptions_total{engine="0",model_name="meta-llama/Llama-3.1-8B"} 4
vllm:prefix_cache_hits_total{model_name="m"} 300
vllm:prefix_cache_queries_total{model_name="m"} 1000 1712345678901
vllm:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m"} 12
odd_metric{path="a\\"b\\\\c\\nd",} NaN

accelbench_num_requests_running 99
"""

@Suite struct PrometheusTextTests {
    @Test func parsesSamplesLabelsAndSpecialValues() throws {
        let s = try PrometheusText.parse(vllmScrape, source: "scrape")
        #expect(s.count == 11)
        #expect(s[0].name == "vllm:num_requests_running" && s[0].label("engine") == "0" && s[0].value == 3)
        #expect(s[2].value == 7)  // CR before the newline
        #expect(s[7].value == 1000)  // timestamp dropped
        #expect(s[8].label("le") == "+Inf")
        #expect(s[9].label("path") == "a\"b\\c\nd" && s[9].value.isNaN)
        #expect(s[9].key == #"odd_metric{path="a\"b\\c\nd"}"#)
        #expect(s[10].key == "accelbench_num_requests_running")
    }

    @Test(arguments: [
        ("vllm:x{a=\"1\" 3", "expected ',' or '}'"),
        ("vllm:x{a=1} 3", "needs =\"value\""),
        ("vllm:x 3 pm", "not a timestamp"),
        ("vllm:x", "blank before the value"),
        ("vllm:x{a=\"1\"} three", "'three' is not a sample value"),
        ("1vllm 3", "metric name"),
        ("x{a=\"\\q\"} 1", "unknown escape"),
    ])
    func badLinesNameTheLine(_ line: String, _ says: String) {
        do {
            _ = try PrometheusText.parse("# HELP ok fine\nok 1\n\(line)\n", source: "http://h/metrics")
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.description.hasPrefix("http://h/metrics:3:") && error.description.contains(says), "\(error)")
        }
    }

    /// The first exported name wins (accelbench serve's own names are not counted again);
    /// counts add over engines, fractions average.
    @Test func knownMetricsCombineAcrossSeries() throws {
        let s = try PrometheusText.parse(vllmScrape, source: "scrape")
        #expect(ServerMetric.value(of: .running, in: s) == 5)
        #expect(ServerMetric.value(of: .waiting, in: s) == 7)
        #expect(ServerMetric.value(of: .kvUsage, in: s) == 0.375)
        #expect(ServerMetric.value(of: .preemptions, in: s) == 4)
        #expect(ServerMetric.value(of: .prefixCacheHitRate, in: s) == nil)
        let sglang = try PrometheusText.parse("sglang:num_running_reqs{model_name=\"m\"} 6\nsglang:token_usage{model_name=\"m\"} 0.28\n", source: "s")
        #expect(ServerMetric.value(of: .running, in: sglang) == 6 && ServerMetric.value(of: .kvUsage, in: sglang) == 0.28)
        let llama = try PrometheusText.parse("llamacpp:requests_processing 1\nllamacpp:requests_deferred 2\n", source: "l")
        #expect(ServerMetric.value(of: .running, in: llama) == 1 && ServerMetric.value(of: .waiting, in: llama) == 2)
    }

    /// Each scrape keeps only the series that changed; the file round-trips (NaN included); the
    /// digest counts counters from the last scrape before the run, and gauges over the run.
    @Test func seriesStoreChangesAndDigest() throws {
        func scrape(_ running: Double, _ hits: Double, _ queries: Double, nan: Bool = false) -> [PrometheusSample] {
            [PrometheusSample(name: "vllm:num_requests_running", value: running),
             PrometheusSample(name: "vllm:prefix_cache_hits_total", value: hits),
             PrometheusSample(name: "vllm:prefix_cache_queries_total", value: queries),
             PrometheusSample(name: "other", value: nan ? .nan : 1)]
        }
        let series = ServerMetricsScrape.series([
            (-0.05, 0.001, .success(scrape(0, 100, 400))),
            (0.3, 0.002, .success(scrape(4, 100, 400, nan: true))),
            (0.6, 0.002, .failure(.io("u", "HTTP 404"))),
            (0.9, 0.001, .success(scrape(2, 160, 600, nan: true))),
        ])
        #expect(series[0].changed.count == 4)
        #expect(series[1].changed.map(\.key) == ["vllm:num_requests_running", "other"])
        #expect(series[2].error == "u: HTTP 404" && series[2].values.isEmpty)
        #expect(series[3].changed.map(\.key) == ["vllm:num_requests_running", "vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"])
        for s in series {
            let back = try ServerMetricsScrape.read(try JSONParser.parse(String(decoding: s.jsonLine(), as: UTF8.self)), file: "f", line: 1)
            #expect(back == s)
        }
        let d = ServerMetricsDigest(series)
        #expect(d.scrapes == 3 && d.failed == 1 && d.firstError == "u: HTTP 404")
        #expect(d.mean[.running] == 3 && d.peak[.running] == 4)
        #expect(d.increase[.prefixCacheHits] == 60 && d.increase[.prefixCacheQueries] == 200 && d.prefixCacheHitRate == 0.3)
        #expect(d.line.hasPrefix("3 scrapes") && d.line.contains("3 scrapes (1 failed: u: HTTP 404)") && d.line.contains("prefix-cache hit rate 30"))
    }
}
