import BenchCore
import Testing
@testable import Reporting

/// Hand-computed fixtures. Times are binary fractions where possible so that gaps and sums are
/// exact; latency percentiles come from a 3-significant-digit HDR histogram and are compared to
/// within 0.1%, means and maxima exactly.
@Suite struct MetricsTests {
    /// Two 1-token outputs: no gaps, so the TBT SLO is vacuously met and TPOT/TBT are absent.
    @Test func oneTokenOutputs() throws {
        let slo = SLO(ttftMs: 1000, tbtMs: 100)
        let s = try Metrics.summarize([
            rec(0, intended: 0, times: [0.5], slo: slo),
            rec(1, intended: 1, times: [1.25], slo: slo),
        ])
        let g = s.overall
        #expect(g.total == 2 && g.completed == 2 && g.failed == 0 && g.met == 2)
        #expect(g.attainment.overall == 1 && g.attainment.ttft == 1 && g.attainment.tbt == 1)
        #expect(g.attainment.jct == nil && g.attainment.tbtTokenLevel == nil)
        #expect(g.tpot == nil && g.tbt == nil)
        #expect(g.ttft?.count == 2 && exact(g.ttft?.mean, 375) && exact(g.ttft?.max, 500))
        #expect(close(g.ttft?.p50, 250) && close(g.ttft?.p99, 500))
        #expect(exact(s.windowS, 1.25) && exact(g.requestsPerS, 1.6))
        // Fluidity: both first tokens meet the 1 s TTFT deadline → (0 missed, 1 total) each.
        #expect(g.fluidityMeanIndex == 1 && g.fluidityP99MissRate == 0)
        let json = try parseJSON(s.json())
        #expect(json.at("latency_ms", "tpot") == .null && json.at("latency_ms", "tbt") == .null)
        #expect(json.at("slo_attainment", "tbt") == .number(1))
        #expect(json.at("slo_attainment", "tbt_token_level") == .null)
    }

    /// r0 ok and met; r1 fails with no tokens; r2 times out after two tokens. Failed requests are
    /// not met in every dimension that has an SLO, and are left out of latency statistics,
    /// throughput and token-level TBT.
    /// Two reasoning streams and one plain one. The `think` class measures TTFT to the answer:
    /// its TTFTs are 0.75 and 0.5 s (SLO 0.625 s: one met); the plain class's 0.25 s. The
    /// `reasoning` block counts the two streams, their 3 reasoning tokens, and both first-token
    /// times; a summary without reasoning has no such block.
    @Test func reasoningStreamsAreSplitAndTTFTFollowsTheSLO() throws {
        var a = rec(0, "think", intended: 0, times: [0.25, 0.5, 0.75, 1], slo: SLO(ttftMs: 625, ttftOf: .content))
        a.reasoningTokens = 2; a.firstContentS = 0.75
        var b = rec(1, "think", intended: 1, times: [1.25, 1.5], slo: SLO(ttftMs: 625, ttftOf: .content))
        b.reasoningTokens = 1; b.firstContentS = 1.5
        let c = rec(2, "plain", intended: 2, times: [2.25, 2.5], slo: SLO(ttftMs: 625))
        let s = try Metrics.summarize([a, b, c])
        let think = try #require(s.group("think"))
        #expect(think.attainment.ttft == 0.5 && think.met == 1)
        #expect(exact(think.ttft?.mean, 625) && exact(s.group("plain")?.ttft?.mean, 250))
        #expect(think.reasoningRequests == 2 && think.reasoningTokens == 3)
        #expect(exact(think.reasoningFirstToken?.mean, 250) && exact(think.reasoningFirstContent?.mean, 625))
        #expect(s.overall.reasoningRequests == 2 && s.group("plain")?.reasoningRequests == 0)
        let json = String(decoding: s.json(), as: UTF8.self)
        #expect(json.contains(#""reasoning":{"requests":2,"reasoning_tokens":3,"latency_ms":{"first_token":{"count":2"#))
        #expect(json.components(separatedBy: "\"reasoning\":").count == 3)  // overall and think, not plain
        #expect(s.table().contains("reasoning: 2 requests, 3 reasoning tokens"))
        let plain = String(decoding: try Metrics.summarize([c]).json(), as: UTF8.self)
        #expect(!plain.contains("reasoning"))
    }

    @Test func failedRequests() throws {
        let slo = SLO(ttftMs: 500, tbtMs: 125, jctS: 10)
        let s = try Metrics.summarize([
            rec(0, intended: 0, times: [0.25, 0.375], prompt: 10, slo: slo),
            rec(1, intended: 0.5, times: [], status: "http_500", prompt: 20, output: 0, slo: slo),
            rec(2, intended: 1, times: [1.25, 1.375], status: "timeout_total", prompt: 30, slo: slo),
        ])
        let g = s.overall
        #expect(g.total == 3 && g.completed == 1 && g.failed == 2 && g.met == 1)
        #expect(exact(g.attainment.overall, 1.0 / 3))
        #expect(exact(g.attainment.ttft, 1.0 / 3) && exact(g.attainment.tbt, 1.0 / 3) && exact(g.attainment.jct, 1.0 / 3))
        #expect(g.attainment.tbtTokenLevel == 1)  // only r0's one gap
        #expect(g.ttft?.count == 1 && exact(g.ttft?.mean, 250))
        #expect(g.tbt?.count == 1 && exact(g.tbt?.max, 125))
        #expect(g.tpot?.count == 1 && exact(g.tpot?.mean, 125))
        #expect(g.e2e?.count == 1 && exact(g.e2e?.max, 375))
        // Window: the latest instant is r2's last token, 1.375 s.
        #expect(exact(s.windowS, 1.375))
        #expect(exact(g.requestsPerS, 1 / 1.375))
        #expect(exact(g.inputTokensPerS, 10 / 1.375) && exact(g.outputTokensPerS, 2 / 1.375))
        #expect(exact(g.goodputRequestsPerS, 1 / 1.375) && exact(g.goodputOutputTokensPerS, 2 / 1.375))
        // Dispatch lag counts every request that was sent, failed or not.
        #expect(s.dispatchLagMs?.count == 3)
        // Fluidity only for completed requests: r0 is (0 of 2).
        #expect(g.fluidityMeanIndex == 1)
    }

    /// A chunk of 3 tokens arriving at once at 0.5 s: gaps [0.25, 0, 0, 0.25]. The stall before
    /// the chunk is counted once; the chunk's other tokens have gaps of 0.
    @Test func multiTokenChunks() throws {
        let times = [0.25, 0.5, 0.5, 0.5, 0.75]
        var s = try Metrics.summarize([rec(0, intended: 0, times: times, slo: SLO(ttftMs: 1000, tbtMs: 250))])
        var g = s.overall
        #expect(g.tbt?.count == 4 && exact(g.tbt?.mean, 125) && exact(g.tbt?.max, 250))
        #expect(close(g.tbt?.p50, 0) && close(g.tbt?.p90, 250))
        #expect(g.tpot?.count == 1 && exact(g.tpot?.mean, 125))  // (0.75 − 0.25) / 4
        #expect(g.attainment.tbtTokenLevel == 1 && g.attainment.tbt == 1 && g.met == 1)
        // At 200 ms only the two zero gaps meet the bound.
        let tight = [rec(0, intended: 0, times: times, slo: SLO(ttftMs: 1000, tbtMs: 200))]
        s = try Metrics.summarize(tight)
        g = s.overall
        #expect(g.attainment.tbtTokenLevel == 0.5 && g.attainment.tbt == 0 && g.met == 0)
        #expect(try Metrics.summarize(tight, options: .init(tbtMode: .mean)).overall.met == 1)  // mean 0.125
        #expect(try Metrics.summarize(tight, options: .init(tbtMode: .p99)).overall.met == 0)  // 4th of 4 = 0.25
    }

    @Test func emptyWindowIsAnError() {
        let records = [rec(0, intended: 0, times: [0.25]), rec(1, intended: 1, times: [1.5])]
        let e = summaryError { () throws(BenchError) in try Metrics.summarize(records, options: .init(warmupS: 5)) }
        let d = e?.description ?? ""
        #expect(d.contains("no requests in the measurement window [5.0, 1.5]"), "\(d)")
        #expect(d.contains("2 excluded"), "\(d)")
        let e2 = summaryError { () throws(BenchError) in try Metrics.summarize(records, options: .init(cooldownS: 10)) }
        #expect(e2?.description.contains("measurement window") == true)
        // Requests inside, but a window of zero length.
        let e3 = summaryError { () throws(BenchError) in
            try Metrics.summarize(records, runEndS: 0, run: RunInfo(source: "runs/r1"))
        }
        #expect(e3?.description.contains("runs/r1") == true && e3?.description.contains("is empty") == true, "\(String(describing: e3))")
    }

    /// Arrivals at 0, 1, 2, 3 s; each done 0.5 s later, so the run ends at 3.5 s.
    static let evenlySpaced = (0..<4).map { i in
        rec(i, intended: Double(i), times: [Double(i) + 0.25], done: Double(i) + 0.5, prompt: 100, output: 1)
    }

    @Test func warmupTrimming() throws {
        var s = try Metrics.summarize(Self.evenlySpaced)
        #expect(s.overall.total == 4 && s.excluded == 0 && s.windowStartS == 0 && exact(s.windowS, 3.5))
        s = try Metrics.summarize(Self.evenlySpaced, options: .init(warmupS: 1.5))
        #expect(s.overall.total == 2 && s.excluded == 2)
        #expect(s.windowStartS == 1.5 && exact(s.windowS, 2.0))
        #expect(exact(s.overall.requestsPerS, 1.0) && exact(s.overall.inputTokensPerS, 100))
        // An arrival exactly at the warm-up's end is measured.
        s = try Metrics.summarize(Self.evenlySpaced, options: .init(warmupS: 1))
        #expect(s.overall.total == 3 && exact(s.windowS, 2.5))
        let json = try parseJSON(s.json())
        #expect(json.at("requests", "excluded_by_window") == .number(1))
        #expect(json.at("window_start_s") == .number(1) && json.at("window_s") == .number(2.5))
        #expect(json.at("options", "warmup_s") == .number(1))
    }

    @Test func cooldownTrimming() throws {
        // Window end 3.5 − 1 = 2.5: the arrival at 3 is excluded.
        var s = try Metrics.summarize(Self.evenlySpaced, options: .init(cooldownS: 1))
        #expect(s.overall.total == 3 && s.excluded == 1 && exact(s.windowS, 2.5))
        // Warm-up 0.5 and cool-down 1.5: window [0.5, 2.0], arrivals 1 and 2 (the end is inclusive).
        s = try Metrics.summarize(Self.evenlySpaced, options: .init(warmupS: 0.5, cooldownS: 1.5))
        #expect(s.overall.total == 2 && s.excluded == 2 && exact(s.windowS, 1.5))
        #expect(exact(s.overall.requestsPerS, 2 / 1.5))
        // A run end given by the driver wins over the records' latest instant.
        s = try Metrics.summarize(Self.evenlySpaced, options: .init(cooldownS: 1), runEndS: 10)
        #expect(s.overall.total == 4 && exact(s.windowS, 9))
        // The streaming accumulator with an explicit window end gives the same summary.
        var acc = MetricsAccumulator(options: .init(cooldownS: 1), windowEndS: 2.5)
        for r in Self.evenlySpaced { acc.add(r) }
        #expect(try acc.finish() == (try Metrics.summarize(Self.evenlySpaced, options: .init(cooldownS: 1))))
    }

    /// chat (ttft 500 ms, tbt 125 ms) and batch (jct 10 s):
    ///   c0 @0   tokens .25 .375 .5          met
    ///   c1 @1   tokens 1.75 1.875           TTFT .75 > .5
    ///   c2 @2   tokens 2.25 2.5             gap .25 > .125
    ///   b0 @.5  tokens 2.5 3.5 4.5 5.5 6.5  E2E 6 ≤ 10, met
    ///   b1 @1.5 tokens 3 13                 E2E 11.5 > 10
    ///   b2 @2.5 rejected
    /// Window 13 s (b1's completion).
    static let mixed: [RequestRecord] = {
        let chat = SLO(ttftMs: 500, tbtMs: 125)
        let batch = SLO(jctS: 10)
        return [
            rec(0, "chat", intended: 0, sent: 0, times: [0.25, 0.375, 0.5], prompt: 100, slo: chat),
            rec(10, "batch", intended: 0.5, sent: 0.5, times: [2.5, 3.5, 4.5, 5.5, 6.5], prompt: 1000, slo: batch),
            rec(1, "chat", intended: 1, sent: 1.001, times: [1.75, 1.875], prompt: 200, slo: chat),
            rec(11, "batch", intended: 1.5, sent: 1.502, times: [3, 13], prompt: 1000, slo: batch),
            rec(2, "chat", intended: 2, sent: 2.003, times: [2.25, 2.5], prompt: 50, slo: chat),
            rec(12, "batch", intended: 2.5, sent: 2.504, times: [], status: "rejected", prompt: 500, output: 0, slo: batch),
        ]
    }()

    @Test func goodputThroughputAndClasses() throws {
        let s = try Metrics.summarize(Self.mixed, classes: ["batch", "chat"])
        let g = s.overall
        #expect(exact(s.windowS, 13))
        #expect(g.total == 6 && g.completed == 5 && g.failed == 1 && g.met == 2)
        #expect(exact(g.requestsPerS, 5.0 / 13))
        #expect(exact(g.inputTokensPerS, 2350.0 / 13) && exact(g.outputTokensPerS, 14.0 / 13))
        #expect(exact(g.goodputRequestsPerS, 2.0 / 13) && exact(g.goodputOutputTokensPerS, 8.0 / 13))
        #expect(exact(g.attainment.overall, 2.0 / 6))
        #expect(exact(g.attainment.ttft, 2.0 / 3) && exact(g.attainment.tbt, 2.0 / 3) && exact(g.attainment.jct, 1.0 / 3))
        #expect(g.attainment.tbtTokenLevel == 0.75)  // chat gaps: .125 .125 .125 .25

        #expect(s.classes.map(\.0) == ["batch", "chat"])
        let chat = try #require(s.group("chat"))
        #expect(chat.total == 3 && chat.completed == 3 && chat.met == 1)
        #expect(exact(chat.attainment.overall, 1.0 / 3) && exact(chat.attainment.ttft, 2.0 / 3))
        #expect(exact(chat.attainment.tbt, 2.0 / 3) && chat.attainment.jct == nil && chat.attainment.tbtTokenLevel == 0.75)
        #expect(exact(chat.goodputRequestsPerS, 1.0 / 13) && exact(chat.goodputOutputTokensPerS, 3.0 / 13))
        #expect(exact(chat.ttft?.mean, 1250.0 / 3))
        let batch = try #require(s.group("batch"))
        #expect(batch.total == 3 && batch.completed == 2 && batch.failed == 1 && batch.met == 1)
        #expect(exact(batch.attainment.jct, 1.0 / 3) && batch.attainment.ttft == nil && batch.attainment.tbt == nil)
        #expect(batch.attainment.tbtTokenLevel == nil && batch.fluidityMeanIndex == nil)
        #expect(exact(batch.goodputOutputTokensPerS, 5.0 / 13) && exact(batch.inputTokensPerS, 2000.0 / 13))

        // Latency over completed requests (ms).
        // TTFT 250 750 250 2000 1500; E2E 500 875 500 6000 11500; TPOT 125 125 250 1000 10000;
        // TBT gaps 125 125 | 125 | 250 | 1000 ×4 | 10000 → p50 is the 5th of 9 = 1000.
        #expect(g.ttft?.count == 5 && exact(g.ttft?.mean, 950) && exact(g.ttft?.max, 2000))
        #expect(close(g.ttft?.p50, 750) && close(g.ttft?.p90, 2000) && close(g.ttft?.p99, 2000))
        #expect(g.e2e?.count == 5 && exact(g.e2e?.mean, 3875) && exact(g.e2e?.max, 11500) && close(g.e2e?.p50, 875))
        #expect(g.tpot?.count == 5 && exact(g.tpot?.mean, 2300) && close(g.tpot?.p50, 250))
        #expect(g.tbt?.count == 9 && exact(g.tbt?.mean, 1625) && exact(g.tbt?.max, 10000))
        #expect(close(g.tbt?.p50, 1000) && close(g.tbt?.p90, 10000) && close(g.tbt?.p999, 10000))

        // Fluidity (chat only; deadlines 0.5 s / 0.125 s):
        //   c0: TTFT .25 → slack .25; gaps .125 .125 met → 0 of 3
        //   c1: TTFT .75 → k = 1 + ⌊(.75 − .5)/.125⌋ = 3 missed; gap .125 met → 3 of 4 = 0.75
        //   c2: TTFT .25 → slack .25; gap .25 ≤ .375 met → 0 of 2
        // mean index (1 + 0.25 + 1)/3 = 0.75; p99 nearest rank of 3 = the largest = 0.75.
        #expect(exact(g.fluidityMeanIndex, 0.75) && g.fluidityP99MissRate == 0.75)
        #expect(exact(chat.fluidityMeanIndex, 0.75))
    }

    @Test func perClassOrderFollowsFirstSeenWithoutAHeader() throws {
        let s = try Metrics.summarize(Self.mixed)
        #expect(s.classes.map(\.0) == ["chat", "batch"])
        // A class named in the header with no requests in the window is left out.
        let t = try Metrics.summarize(Self.mixed, classes: ["idle", "chat", "batch"])
        #expect(t.classes.map(\.0) == ["chat", "batch"])
    }

    /// X: 99 gaps of 62.5 ms and one 10 s stall → max fails, p99 (99th of 100) passes, mean 161.875 ms fails.
    /// Y: 98 gaps of 62.5 ms and two 0.5 s → max fails, p99 = 0.5 fails, mean 71.25 ms passes.
    /// Z: 100 gaps of 62.5 ms → passes everywhere. SLO tbt 100 ms.
    @Test func tbtModesChangeTheVerdict() throws {
        let slo = SLO(ttftMs: 1000, tbtMs: 100)
        let small = Array(repeating: 0.0625, count: 49)
        let records = [
            rec(0, "x", intended: 0, times: tokens(first: 0.25, gaps: small + small + [0.0625, 10]), slo: slo),
            rec(1, "y", intended: 0, times: tokens(first: 0.25, gaps: small + [0.5] + small + [0.5]), slo: slo),
            rec(2, "z", intended: 0, times: tokens(first: 0.25, gaps: small + small + [0.0625, 0.0625]), slo: slo),
        ]
        #expect(records.map { $0.tokenTimesS.count } == [101, 101, 101])
        func attained(_ mode: TBTMode) throws -> [Double] {
            let s = try Metrics.summarize(records, options: .init(tbtMode: mode))
            #expect(s.overall.attainment.tbtTokenLevel == 297.0 / 300)  // token level ignores the mode
            return ["x", "y", "z"].map { s.group($0)?.attainment.tbt ?? -1 }
        }
        #expect(try attained(.max) == [0, 0, 1])
        #expect(try attained(.p99) == [1, 0, 1])
        #expect(try attained(.mean) == [0, 1, 1])
        let s = try Metrics.summarize(records, options: .init(tbtMode: .p99))
        #expect(exact(s.overall.attainment.overall, 2.0 / 3))
        #expect(try parseJSON(s.json()).at("options", "tbt_mode") == .string("p99"))
    }

    /// TTFT counts from the intended send (0.625 s), not the late actual send (0.375 s).
    @Test func ttftFromIntendedTime() throws {
        let r = rec(0, intended: 1, sent: 1.25, times: [1.625, 1.75], slo: SLO(ttftMs: 500))
        #expect(!r.metSLO)
        let s = try Metrics.summarize([r])
        #expect(exact(s.overall.ttft?.mean, 625) && exact(s.overall.e2e?.mean, 750))
        #expect(s.overall.met == 0 && s.overall.attainment.ttft == 0)
        #expect(exact(s.dispatchLagMs?.max, 250))
    }

    /// Lags of 0, 1, …, 99 ms: p50 = the 50th smallest = 49 ms, p99 = the 99th = 98 ms, max 99 ms.
    @Test func dispatchLag() throws {
        var records = (0..<100).map { i in
            rec(i, intended: Double(i), sent: Double(i) + Double(i) / 1000, times: [Double(i) + 0.25])
        }
        // Never sent (no lag), and sent before the warm-up ends (excluded): neither counts.
        records.append(rec(100, intended: 50.5, sent: nil, times: [], status: "connection"))
        records[records.count - 1].sentS = nil
        records.insert(rec(200, intended: -1, sent: 5, times: [5.5]), at: 0)
        let s = try Metrics.summarize(records, options: .init(warmupS: 0))
        #expect(s.overall.total == 101)  // the arrival at −1 s is before the window's start
        let lag = try #require(s.dispatchLagMs)
        #expect(lag.count == 100)
        #expect(close(lag.p50, 49) && close(lag.p99, 98) && close(lag.max, 99, rel: 1e-9))
        #expect(close(lag.mean, 49.5, rel: 1e-9))
        let json = try parseJSON(s.json())
        #expect(json.at("dispatch_lag_ms")?.keys == ["p50", "p99", "max"])
        #expect(close(json.at("dispatch_lag_ms", "p50")?.number, 49) && json.at("dispatch_lag_ms", "max") == .number(99))
        // With no send times at all there is no lag section.
        var unsent = rec(0, intended: 0, times: [0.5])
        unsent.sentS = nil
        #expect(try Metrics.summarize([unsent]).dispatchLagMs == nil)
        #expect(try parseJSON(try Metrics.summarize([unsent]).json()).at("dispatch_lag_ms") == .null)
    }

    /// SLO ttft 1 s, tbt 0.125 s:
    ///   A @0: TTFT .5 → slack .5; gaps .125 .125 met → miss 0
    ///   B @1: TTFT 1.25 → k = 1 + ⌊.25/.125⌋ = 3 missed; gap .125 met → 3/4 = 0.75
    ///   C @2: TTFT 1.0 → slack 0; gap .5 → k = ⌊.5/.125⌋ = 4 missed → 4/5 = 0.8
    ///   D @3: TTFT .25 → slack .75; gap .25 → slack .625; gap .375 → slack .375 → miss 0
    /// mean index = (1 + .25 + .2 + 1)/4 = 0.6125; p99 (4th of 4) = 0.8.
    /// A failed request and one without a TBT SLO are left out.
    @Test func fluidityWorkedExample() throws {
        let slo = SLO(ttftMs: 1000, tbtMs: 125)
        let records = [
            rec(0, intended: 0, times: [0.5, 0.625, 0.75], slo: slo),
            rec(1, intended: 1, times: [2.25, 2.375], slo: slo),
            rec(2, intended: 2, times: [3.0, 3.5], slo: slo),
            rec(3, intended: 3, times: [3.25, 3.5, 3.875], slo: slo),
            rec(4, intended: 3, times: [9, 20], status: "timeout_total", slo: slo),
            rec(5, intended: 3, times: [9, 20], slo: SLO(ttftMs: 1000)),
        ]
        let s = try Metrics.summarize(records)
        #expect(exact(s.overall.fluidityMeanIndex, 0.6125))
        #expect(s.overall.fluidityP99MissRate == 0.8)
        let json = try parseJSON(s.json())
        #expect(json.at("fluidity", "mean_index") == .number(0.6125) && json.at("fluidity", "p99_miss_rate") == .number(0.8))
    }

    /// Nearest rank over 100 requests: rank 99. One bad request out of 100 → p99 = 0; two → 0.75.
    @Test func fluidityP99IsNearestRank() throws {
        let slo = SLO(ttftMs: 1000, tbtMs: 125)
        func run(bad: Int) throws -> Double? {
            var records: [RequestRecord] = []
            for i in 0..<100 {
                let a = Double(i)
                // bad ones: TTFT 1.25 → 3 of 4 missed (as B above)
                let first: Double = i < bad ? 1.25 : 0.5
                records.append(rec(i, intended: a, times: [a + first, a + first + 0.125], slo: slo))
            }
            return try Metrics.summarize(records).overall.fluidityP99MissRate
        }
        #expect(try run(bad: 1) == 0)
        #expect(try run(bad: 2) == 0.75)
        #expect(try run(bad: 0) == 0)
    }

    /// Dense per-microsecond counts in front of the histogram change nothing: the same stats as
    /// recording every value into the histogram, whatever the mix of values below and above
    /// the dense range and however partial accumulators are merged.
    @Test func denseCountsGiveTheHistogramsStats() {
        for seed: UInt64 in 1...8 {
            var rng = SeededRNG(seed: seed)
            var plain = LatencyAccumulator()
            var parts = [LatencyAccumulator(denseLimitMicros: 1000), LatencyAccumulator(denseLimitMicros: 1000), LatencyAccumulator()]
            for k in 0..<3000 {
                let us = rng.next() % 4 == 0 ? UInt64.random(in: 0..<5_000_000, using: &rng) : UInt64.random(in: 0..<1500, using: &rng)
                plain.recordMicros(us)
                parts[k % 3].tally { $0.add(us) }
            }
            var merged = LatencyAccumulator(denseLimitMicros: 1000)
            for p in parts.shuffled(using: &rng) { merged.merge(p) }
            #expect(merged.stats == plain.stats, "seed \(seed)")
            #expect(parts[0].stats != nil && parts[0].count == 1000, "seed \(seed)")
        }
    }
}
