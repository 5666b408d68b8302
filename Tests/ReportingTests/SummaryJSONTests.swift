import BenchCore
import Testing
@testable import Reporting

@Suite struct SummaryJSONTests {
    static let header = WorkloadHeader(
        generator: "test", specName: "mixed-fixture", specDigest: "sha256:00", seed: 42, rateRps: 2.5, count: 6,
        durationS: 3, classes: [WorkloadClassInfo(name: "chat", kind: .interactive, share: 0.5, sloRule: "ttft 500ms"),
                                WorkloadClassInfo(name: "batch", kind: .batch, share: 0.5, sloRule: "jct 10s")])

    /// Every key the issue asks for, with the fixture's values (see MetricsTests.mixed).
    @Test func hasAllKeys() throws {
        let s = try Metrics.summarize(MetricsTests.mixed, classes: ["chat", "batch"],
                                      run: RunInfo(target: "fixture", workload: Self.header))
        let bytes = s.json()
        #expect(bytes.last == 0x0A)
        let j = try parseJSON(bytes)
        #expect(j["schema"] == .string("accelbench.summary/1"))
        #expect(j["target"] == .string("fixture"))
        #expect(j.at("workload", "spec") == .string("mixed-fixture") && j.at("workload", "seed") == .number(42))

        let req = try #require(j["requests"])
        for k in ["total", "completed", "failed"] { #expect(req[k] != nil, "requests.\(k)") }
        #expect(req["total"] == .number(6) && req["completed"] == .number(5) && req["failed"] == .number(1))
        #expect(j["window_s"] == .number(13))

        let tp = try #require(j["throughput"])
        #expect(tp.keys == ["requests_per_s", "input_tokens_per_s", "output_tokens_per_s"])
        #expect(close(tp["requests_per_s"]?.number, 5.0 / 13, rel: 0, abs: 5e-7))
        #expect(close(tp["input_tokens_per_s"]?.number, 2350.0 / 13, rel: 0, abs: 5e-4))
        #expect(close(tp["output_tokens_per_s"]?.number, 14.0 / 13, rel: 0, abs: 5e-4))
        let gp = try #require(j["goodput"])
        #expect(gp.keys == ["requests_per_s", "output_tokens_per_s"])
        #expect(close(gp["requests_per_s"]?.number, 2.0 / 13, rel: 0, abs: 5e-7) && close(gp["output_tokens_per_s"]?.number, 8.0 / 13, rel: 0, abs: 5e-4))

        let att = try #require(j["slo_attainment"])
        #expect(att.keys == ["overall", "ttft", "tbt", "jct", "tbt_token_level", "by_class"])
        #expect(close(att["overall"]?.number, 1.0 / 3, rel: 0, abs: 5e-7) && att["tbt_token_level"] == .number(0.75))
        #expect(att["by_class"]?.keys == ["chat", "batch"])
        #expect(att.at("by_class", "chat")?.keys == ["overall", "ttft", "tbt", "jct", "tbt_token_level"])
        #expect(att.at("by_class", "batch", "ttft") == .null && close(att.at("by_class", "batch", "jct")?.number, 1.0 / 3, rel: 0, abs: 5e-7))

        let lat = try #require(j["latency_ms"])
        #expect(lat.keys == ["ttft", "tbt", "tpot", "e2e"])
        for k in lat.keys {
            let stats = try #require(lat[k])
            for f in ["mean", "p50", "p90", "p95", "p99", "p999", "max"] {
                #expect(stats[f]?.number != nil, "latency_ms.\(k).\(f)")
            }
        }
        #expect(lat.at("ttft", "mean") == .number(950) && lat.at("e2e", "max") == .number(11500))

        #expect(j["fluidity"]?.keys == ["mean_index", "p99_miss_rate"])
        #expect(j.at("fluidity", "mean_index") == .number(0.75))
        #expect(j["dispatch_lag_ms"]?.keys == ["p50", "p99", "max"])
        #expect(close(j.at("dispatch_lag_ms", "max")?.number, 4, rel: 1e-3))
        #expect(j["valid"] == .bool(true))
        #expect(j["invalid_reasons"] == .array([]))

        // Per-class sections carry the same shape.
        let chat = try #require(j.at("by_class", "chat"))
        for k in ["requests", "throughput", "goodput", "slo_attainment", "latency_ms", "fluidity"] {
            #expect(chat[k] != nil, "by_class.chat.\(k)")
        }
        #expect(j.at("by_class", "batch", "requests", "failed") == .number(1))
        #expect(j.at("by_class", "batch", "fluidity", "mean_index") == .null)
    }

    @Test func invalidRunsSayWhy() throws {
        let s = try Metrics.summarize(MetricsTests.mixed,
                                      run: RunInfo(interrupted: true, invalidReasons: ["dispatch lag p99 above 10 ms"]))
        #expect(!s.valid)
        let j = try parseJSON(s.json())
        #expect(j["valid"] == .bool(false))
        #expect(j["invalid_reasons"] == .array([.string("dispatch lag p99 above 10 ms"),
                                                 .string("interrupted before all requests finished")]))
        #expect(s.table().contains("INVALID RUN"))
    }

    @Test func jsonIsDeterministicAndTableRenders() throws {
        let a = try Metrics.summarize(MetricsTests.mixed)
        let b = try Metrics.summarize(MetricsTests.mixed)
        #expect(a.json() == b.json())
        let t = a.table()
        #expect(t.contains("chat") && t.contains("batch") && t.contains("all"))
    }
}
