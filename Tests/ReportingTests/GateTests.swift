import BenchCore
import Testing
@testable import Reporting

@Suite struct GateTests {
    func summary(goodput: Double, ttftP99: Double?, rate: Double? = 4) throws -> SummaryFile {
        let p99 = ttftP99.map { String($0) } ?? "null"
        let r = rate.map { String($0) } ?? "null"
        return SummaryFile(json: try JSONParser.parse("""
        {"target":"engine:sim profile=x policy=y","workload":{"spec_digest":"sha256:ab","seed":7,"count":100,"rate_rps":\(r)},
         "goodput":{"requests_per_s":\(goodput)},"latency_ms":{"ttft":{"p99":\(p99)}}}
        """))
    }

    func baseline(relative: Double = 0, absolute: Double = 0) -> Baseline {
        Baseline(target: "t", specDigest: "sha256:ab", seed: 7, count: 100, rateRPS: 4, metrics: [
            .init(path: "goodput.requests_per_s", polarity: .higher, relative: relative, absolute: absolute, value: 3),
            .init(path: "latency_ms.ttft.p99", polarity: .lower, relative: relative, absolute: absolute, value: 200),
        ])
    }

    @Test func exitCodesFollowTheVerdicts() throws {
        #expect(GateReport.evaluate(baseline(), summary: try summary(goodput: 3, ttftP99: 200)).exitCode == ExitCodes.ok)
        #expect(GateReport.evaluate(baseline(), summary: try summary(goodput: 2.9, ttftP99: 200)).exitCode == ExitCodes.regression)
        #expect(GateReport.evaluate(baseline(), summary: try summary(goodput: 3, ttftP99: 210)).exitCode == ExitCodes.regression)
        #expect(GateReport.evaluate(baseline(), summary: try summary(goodput: 3.1, ttftP99: 190)).exitCode == ExitCodes.improvementOnly)
        // One better, one worse: a regression wins.
        #expect(GateReport.evaluate(baseline(), summary: try summary(goodput: 3.5, ttftP99: 201)).exitCode == ExitCodes.regression)
        // A metric the run lacks (null latency) cannot pass.
        let missing = GateReport.evaluate(baseline(), summary: try summary(goodput: 3, ttftP99: nil))
        #expect(missing.exitCode == ExitCodes.regression && missing.rows[1].verdict == .missing)
    }

    @Test func aChangeMustExceedBothTolerances() throws {
        // 5% relative and 0.05 absolute: a drop of 0.1 (3.3%) passes, 0.2 (6.7%) fails.
        let b = baseline(relative: 0.05, absolute: 0.05)
        #expect(GateReport.evaluate(b, summary: try summary(goodput: 2.9, ttftP99: 200)).exitCode == ExitCodes.ok)
        #expect(GateReport.evaluate(b, summary: try summary(goodput: 2.8, ttftP99: 200)).exitCode == ExitCodes.regression)
        // Past the relative tolerance but within the absolute one: no change.
        let abs = baseline(relative: 0.01, absolute: 20)
        #expect(GateReport.evaluate(abs, summary: try summary(goodput: 3, ttftP99: 215)).exitCode == ExitCodes.ok)
    }

    @Test func baselinesRoundTripAndMatchTheirWorkload() throws {
        let b = baseline(relative: 0.02, absolute: 0.5)
        let text = String(decoding: b.json(), as: UTF8.self)
        #expect(try Baseline.parse(text, file: "b.json") == b)
        #expect(b.matchesWorkload(of: try summary(goodput: 1, ttftP99: 1)))
        #expect(!b.matchesWorkload(of: try summary(goodput: 1, ttftP99: 1, rate: 8)))
        #expect(!b.matchesWorkload(of: try summary(goodput: 1, ttftP99: 1, rate: nil)))
    }

    @Test func badBaselinesNameTheField() {
        let bad = #"{"schema":"accelbench.baseline/1","target":"t","workload":{"spec_digest":"d","seed":1,"count":2},"metrics":[{"path":"a","polarity":"up","value":1}]}"#
        #expect(throws: BenchError.data(SourceLocation(file: "b.json", field: "metrics[0].polarity"), "must be \"higher\" or \"lower\"")) {
            try Baseline.parse(bad, file: "b.json")
        }
    }

    @Test func junitAndMarkdownListEveryMetric() throws {
        let r = GateReport.evaluate(baseline(), summary: try summary(goodput: 2, ttftP99: 200))
        let xml = r.junit(suite: "s")
        #expect(xml.contains("tests=\"2\" failures=\"1\"") && xml.contains("<failure"))
        let md = r.markdown(title: "t")
        #expect(md.contains("| `goodput.requests_per_s` | higher | 3 | 2 | -33.33% | regression |"))
        #expect(md.contains("| `latency_ms.ttft.p99` | lower | 200 | 200 | +0.00% | unchanged |"))
    }

    @Test func bootstrapIntervalsCoverTheTrueDifferenceAndAreSeeded() {
        // Two samples of 8 whose means differ by exactly 1.
        let a = [10.0, 11, 9, 10.5, 9.5, 10.2, 9.8, 10]
        let b = a.map { $0 - 1 }
        let ci = Bootstrap().meanDifferenceInterval(a, b)
        #expect(ci.contains(1) && ci.lowerBound > 0 && ci.upperBound < 2)
        #expect(Bootstrap().meanDifferenceInterval(a, b) == ci)
        // A constant difference has no spread; a sample of one is a constant.
        #expect(Bootstrap().meanDifferenceInterval([5, 5, 5], [3]) == 2...2)
    }

    func repeats(_ goodputs: [Double]) throws -> [SummaryFile] {
        try goodputs.map { try summary(goodput: $0, ttftP99: 200) }
    }

    @Test func repeatedRunsRegressOnlyWhenTheWholeIntervalIsBeyondTheTolerance() throws {
        // Baseline from 5 noisy repeats around 3.0.
        var b = baseline()
        b.metrics[0].samples = [2.9, 3.1, 3.0, 2.95, 3.05]
        b.metrics[0].value = 3.0
        // Same noise, same mean: unchanged although the mean differs from 3 exactly in no run.
        let same = GateReport.evaluate(b, repeats: try repeats([3.05, 2.9, 3.1, 2.95, 3.0]))
        #expect(same.exitCode == ExitCodes.ok && same.rows[0].changeInterval!.contains(0))
        // A small shift inside the noise: unchanged (a single run would have failed exactly).
        #expect(GateReport.evaluate(b, repeats: try repeats([3.0, 2.85, 3.05, 2.9, 2.95])).exitCode == ExitCodes.ok)
        #expect(GateReport.evaluate(baseline(), summary: try summary(goodput: 2.95, ttftP99: 200)).exitCode == ExitCodes.regression)
        // A shift well outside it: regression, and its interval excludes 0.
        let worse = GateReport.evaluate(b, repeats: try repeats([2.5, 2.4, 2.6, 2.45, 2.55]))
        #expect(worse.exitCode == ExitCodes.regression && worse.rows[0].changeInterval!.upperBound < 0)
        #expect(worse.rows[0].runs == 5 && abs(worse.rows[0].current! - 2.5) < 1e-12)
        #expect(GateReport.evaluate(b, repeats: try repeats([3.5, 3.4, 3.6, 3.45, 3.55])).exitCode == ExitCodes.improvementOnly)
        // A relative tolerance of 20% swallows the 17% drop.
        b.metrics[0].relative = 0.2
        #expect(GateReport.evaluate(b, repeats: try repeats([2.5, 2.4, 2.6, 2.45, 2.55])).exitCode == ExitCodes.ok)
        // Samples survive the file.
        let text = String(decoding: b.json(), as: UTF8.self)
        #expect(try Baseline.parse(text, file: "b.json") == b)
        #expect(worse.markdown(title: "t").contains("95% CI of change"))
    }
}
