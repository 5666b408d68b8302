import Testing
@testable import BenchCore

private func record(intended: Double = 0, times: [Double], done: Double? = nil, status: String = "ok",
                    slo: SLO) -> RequestRecord {
    RequestRecord(id: 0, className: "c", intendedS: intended, sentS: intended, firstTokenS: times.first,
                  tokenTimesS: times, doneS: status == "ok" ? (done ?? times.last ?? intended) : done, status: status,
                  promptTokens: 1, outputTokens: times.count, tokenCountSource: .synthetic, slo: slo, metSLO: false)
}

private func misses(_ itts: [Double], ttft: Double = 1.0, tbt: Double = 0.1) -> [Int] {
    let r = etalonDeadlineMisses(interTokenTimes: itts, ttftDeadline: ttft, tbtDeadline: tbt)
    return [r.missed, r.total]
}

@Suite struct SLOVerdictTests {
    @Test func allDimensionsMet() {
        // TTFT 0.25 s ≤ 0.5, gaps 0.125 and 0.0625 ≤ 0.125, E2E 0.4375 ≤ 1.
        let r = record(times: [0.25, 0.375, 0.4375], slo: SLO(ttftMs: 500, tbtMs: 125, jctS: 1))
        let v = SLOVerdict.evaluate(r)
        #expect(v.ttftS == 0.25 && v.tbtStatS == 0.125 && v.e2eS == 0.4375)
        #expect(v.ttftMet && v.tbtMet && v.jctMet && v.met)
    }

    @Test func eachDimensionCanFail() {
        // TTFT 0.625 > 0.5.
        var v = SLOVerdict.evaluate(record(times: [0.625, 0.75], slo: SLO(ttftMs: 500, tbtMs: 125)))
        #expect(!v.ttftMet && v.tbtMet && v.jctMet && !v.met)
        // One gap of 0.25 > 0.125.
        v = SLOVerdict.evaluate(record(times: [0.25, 0.5, 0.5625], slo: SLO(ttftMs: 500, tbtMs: 125)))
        #expect(v.ttftMet && !v.tbtMet && !v.met && v.tbtStatS == 0.25)
        // E2E 2.5 s > jct 2 s.
        v = SLOVerdict.evaluate(record(times: [0.5, 2.5], slo: SLO(jctS: 2)))
        #expect(v.ttftMet && v.tbtMet && !v.jctMet && !v.met)
        // Exactly at the bound is met (and a sub-microsecond excess is tolerated).
        v = SLOVerdict.evaluate(record(intended: 1, times: [1.5, 1.625], slo: SLO(ttftMs: 500, tbtMs: 125, jctS: 0.625)))
        #expect(v.met)
        v = SLOVerdict.evaluate(record(times: [0.5000004], slo: SLO(ttftMs: 500)))
        #expect(v.met)
        v = SLOVerdict.evaluate(record(times: [0.500002], slo: SLO(ttftMs: 500)))
        #expect(!v.met)
    }

    @Test func oneTokenIsVacuouslyMetForTBT() {
        let v = SLOVerdict.evaluate(record(times: [0.25], slo: SLO(ttftMs: 500, tbtMs: 1)))
        #expect(v.tbtStatS == nil && v.tbtMet && v.met)
    }

    @Test func noSLOMeansMetWhenOK() {
        #expect(SLOVerdict.evaluate(record(times: [100], slo: SLO())).met)
    }

    @Test func failedRequestsNeverMeet() {
        let r = record(times: [0.25, 0.375], done: nil, status: "timeout_total", slo: SLO(ttftMs: 500, tbtMs: 125, jctS: 10))
        let v = SLOVerdict.evaluate(r)
        #expect(!v.met && !v.ttftMet && !v.tbtMet && !v.jctMet)
        // Even with no SLO at all.
        #expect(!SLOVerdict.evaluate(record(times: [], done: nil, status: "http_500", slo: SLO())).met)
    }

    @Test func ttftFromIntendedNotSent() {
        var r = record(intended: 1, times: [1.625], slo: SLO(ttftMs: 500))
        r.sentS = 1.25  // 0.375 from sent would pass; 0.625 from intended does not
        let v = SLOVerdict.evaluate(r)
        #expect(v.ttftS == 0.625 && !v.met)
    }

    /// A reasoning stream: the first token at 0.25 s, the first answer token at 0.75 s. The
    /// default SLO measures TTFT to the first token; `ttft_of: content` to the answer, and every
    /// reader of the stored record (verdict, fast verdict, metrics) agrees.
    @Test func ttftOfContentMeasuresToTheFirstAnswerToken() throws {
        var r = record(times: [0.25, 0.5, 0.75, 1], slo: SLO(ttftMs: 500))
        r.reasoningTokens = 2
        r.firstContentS = 0.75
        #expect(SLOVerdict.evaluate(r).ttftS == 0.25 && SLOVerdict.evaluate(r).met)
        r.slo.ttftOf = .content
        let v = SLOVerdict.evaluate(r)
        #expect(v.ttftS == 0.75 && !v.met)
        #expect(r.verdictAsStored() == v && !r.metSLOAsStored)
        let back = try RequestRecord.read(try JSONParser.parse(String(decoding: r.jsonLine, as: UTF8.self)), file: "f", line: 1)
        #expect(back == r && back.slo.ttftOf == .content)
        // Without reasoning, the answer starts at the first token.
        r.reasoningTokens = 0
        r.firstContentS = nil
        #expect(SLOVerdict.evaluate(r).ttftS == 0.25)
        // Reasoning only, no answer: the content TTFT was never reached.
        r.reasoningTokens = 4
        #expect(SLOVerdict.evaluate(r).ttftS == nil && !SLOVerdict.evaluate(r).ttftMet)
    }

    @Test func firstTokenFallsBackToTokenTimes() {
        var r = record(intended: 0, times: [0.75, 1], slo: SLO(ttftMs: 500))
        r.firstTokenS = nil
        #expect(SLOVerdict.evaluate(r).ttftS == 0.75)
    }

    /// gaps: 99 × 0.0625 and one 10 s stall → max 10 (fail at 100 ms), p99 nearest rank of 100
    /// gaps is the 99th smallest = 0.0625 (pass), mean = (99 × 0.0625 + 10) / 100 = 0.161875 (fail).
    /// gaps: 98 × 0.0625 and two 0.5 → p99 = 99th smallest = 0.5 (fail), mean = 7.125 / 100 = 0.07125 (pass).
    @Test func tbtModes() {
        func times(_ gaps: [Double]) -> [Double] {
            var t = [0.25]
            for g in gaps { t.append(t[t.count - 1] + g) }
            return t
        }
        let slo = SLO(ttftMs: 1000, tbtMs: 100)
        let x = record(times: times(Array(repeating: 0.0625, count: 99) + [10]), slo: slo)
        let y = record(times: times(Array(repeating: 0.0625, count: 49) + [0.5] + Array(repeating: 0.0625, count: 49) + [0.5]), slo: slo)
        #expect(SLOVerdict.evaluate(x, mode: .max).tbtStatS == 10)
        #expect(!SLOVerdict.evaluate(x, mode: .max).met)
        #expect(SLOVerdict.evaluate(x, mode: .p99).tbtStatS == 0.0625)
        #expect(SLOVerdict.evaluate(x, mode: .p99).met)
        #expect(SLOVerdict.evaluate(x, mode: .mean).tbtStatS == 0.161875)
        #expect(!SLOVerdict.evaluate(x, mode: .mean).met)
        #expect(!SLOVerdict.evaluate(y, mode: .max).met)
        #expect(SLOVerdict.evaluate(y, mode: .p99).tbtStatS == 0.5)
        #expect(!SLOVerdict.evaluate(y, mode: .p99).met)
        #expect(SLOVerdict.evaluate(y, mode: .mean).tbtStatS == 0.07125)
        #expect(SLOVerdict.evaluate(y, mode: .mean).met)
        #expect(SLOVerdict.p99Gap([1]) == nil)
        #expect(SLOVerdict.p99Gap([1, 3]) == 2)
    }
}

/// Worked by hand from seeds-spec §3.3 (the code's algorithm):
///   token 0:   itt0 ≤ ttft_dl + slack → slack += ttft_dl − itt0; total += 1
///              else k = 1 + ⌊(itt0 − slack − ttft_dl) / tbt_dl⌋; missed += k; total += k; slack = 0
///   token i>0: itt ≤ tbt_dl + slack → slack += tbt_dl − itt; total += 1
///              else k = ⌊(itt − slack) / tbt_dl⌋; missed += k; total += k; slack = 0
@Suite struct EtalonDeadlineTests {
    /// ttft 1 s, tbt 0.1 s, itts [0.5, 0.1, 0.1]:
    ///   t0: 0.5 ≤ 1 → slack 0.5, total 1
    ///   t1: 0.1 ≤ 0.1 + 0.5 → slack 0.5 + 0.1 − 0.1 = 0.5, total 2
    ///   t2: same → total 3.  Result 0 missed of 3.
    @Test func onTimeTokens() {
        #expect(misses([0.5, 0.1, 0.1]) == [0, 3])
    }

    /// ttft 1 s, tbt 0.1 s, itts [0.5, 0.55, 0.2]:
    ///   t0: slack 0.5, total 1
    ///   t1: 0.55 ≤ 0.1 + 0.5 = 0.6 → met (slack from the early first token covers the stall);
    ///       slack 0.5 + 0.1 − 0.55 = 0.05, total 2
    ///   t2: 0.2 > 0.1 + 0.05 → k = ⌊(0.2 − 0.05) / 0.1⌋ = ⌊1.5⌋ = 1; missed 1, total 3, slack 0.
    @Test func slackCarriesFromTTFT() {
        #expect(misses([0.5, 0.55]) == [0, 2])
        #expect(misses([0.5, 0.55, 0.2]) == [1, 3])
    }

    /// ttft 1 s, tbt 0.1 s, itts [0.5, 0.75]:
    ///   t0: slack 0.5, total 1
    ///   t1: 0.75 > 0.1 + 0.5 = 0.6 → missed; k = ⌊(0.75 − 0.5) / 0.1⌋ = ⌊2.5⌋ = 2; missed 2, total 3.
    /// Then a 0.1 gap with slack 0 is met: 2 of 4.
    @Test func slackNotEnough() {
        #expect(misses([0.5, 0.75]) == [2, 3])
        #expect(misses([0.5, 0.75, 0.1]) == [2, 4])
    }

    /// ttft 1 s, tbt 0.1 s, itts [1.0, 0.35]:
    ///   t0: 1.0 ≤ 1.0 → slack 0, total 1
    ///   t1: 0.35 > 0.1 → k = ⌊0.35 / 0.1⌋ = 3 (a long stall is three missed periodic deadlines);
    ///       missed 3, total 4.
    @Test func longStallCountsSeveralMisses() {
        #expect(misses([1.0, 0.35]) == [3, 4])
        // A stall of 0.15 s is a single miss: ⌊1.5⌋ = 1.
        #expect(misses([1.0, 0.15]) == [1, 2])
    }

    /// ttft 1 s, tbt 0.1 s, itts [1.25, 0.1]:
    ///   t0: 1.25 > 1.0 → k = 1 + ⌊(1.25 − 0 − 1.0) / 0.1⌋ = 1 + ⌊2.5⌋ = 3; missed 3, total 3, slack 0
    ///   t1: 0.1 ≤ 0.1 → total 4.  Result 3 of 4.
    @Test func lateFirstToken() {
        #expect(misses([1.25]) == [3, 3])
        #expect(misses([1.25, 0.1]) == [3, 4])
    }

    /// Binary-exact deadlines: ttft 0.5 s, tbt 0.25 s, itts [0.25, 0.25, 0.5, 1.0]:
    ///   t0: 0.25 ≤ 0.5 → slack 0.25, total 1
    ///   t1: 0.25 ≤ 0.5 → slack 0.25 + 0.25 − 0.25 = 0.25, total 2
    ///   t2: 0.5 ≤ 0.25 + 0.25 → slack 0.25 + 0.25 − 0.5 = 0, total 3
    ///   t3: 1.0 > 0.25 → k = ⌊1.0 / 0.25⌋ = 4; missed 4, total 7.
    @Test func exactDeadlines() {
        #expect(misses([0.25, 0.25, 0.5, 1.0], ttft: 0.5, tbt: 0.25) == [4, 7])
        var c = EtalonDeadlineCounter(ttftDeadline: 0.5, tbtDeadline: 0.25)
        for itt in [0.25, 0.25, 0.5, 1.0] { c.observe(itt) }
        #expect(c.missed == 4 && c.total == 7 && c.missRate == 4.0 / 7.0)
    }

    /// A near-zero TBT deadline (corrupt SLO data) gives a capped count, not an Int overflow trap.
    @Test func absurdDeadlineDoesNotTrap() {
        let r = etalonDeadlineMisses(interTokenTimes: [0.5, 10], ttftDeadline: 1, tbtDeadline: 1e-300)
        #expect(r.missed == 1_000_000_000_000 && r.total == 1_000_000_000_001)
        let late = etalonDeadlineMisses(interTokenTimes: [5], ttftDeadline: 1, tbtDeadline: 1e-300)
        #expect(late.missed == 1_000_000_000_001)
    }

    @Test func emptyInput() {
        #expect(misses([]) == [0, 0])
        #expect(EtalonDeadlineCounter(ttftDeadline: 1, tbtDeadline: 1).missRate == 0)
    }
}
