import BenchCore
import Testing
@testable import Reporting

/// summary.json read back as a `SummaryFile` (its writer is `Summary.json()`).
@Suite struct SummaryFileTests {
    /// The mixed fixture's summary, written and read back; `classes` in the order given.
    func fixture(target: String = "engine:sim profile=p policy=q", classes: [String] = ["chat", "batch"]) throws -> (Summary, SummaryFile) {
        let s = try Metrics.summarize(MetricsTests.mixed, classes: classes, run: RunInfo(target: target, workload: SummaryJSONTests.header))
        return (s, SummaryFile(json: try parseJSON(s.json())))
    }

    @Test func numbersAreReadByTheirDottedPaths() throws {
        let (s, f) = try fixture()
        #expect(f.target == "engine:sim profile=p policy=q")
        #expect(f.value("requests.total") == 6 && f.value("requests.met_slo") == 2)
        #expect(f.value("window_s") == 13)
        #expect(close(f.value("goodput.requests_per_s"), s.overall.goodputRequestsPerS, rel: 0, abs: 5e-7))
        #expect(close(f.value("throughput.output_tokens_per_s"), s.overall.outputTokensPerS, rel: 0, abs: 5e-4))
        #expect(f.value("latency_ms.ttft.mean") == 950)
        #expect(f.value("by_class.chat.requests.total") == 3)
        #expect(close(f.value("by_class.chat.latency_ms.ttft.p99"), try #require(s.group("chat")?.ttft?.p99), rel: 0, abs: 5e-4))
        // Objects, strings, booleans and nulls are not numbers.
        #expect(f.value("latency_ms") == nil && f.value("target") == nil && f.value("valid") == nil)
        #expect(f.value("slo_attainment.by_class.batch.ttft") == nil, "null in the file")
        #expect(f.value("no.such.path") == nil)
    }

    @Test func attainmentAndGoodputOverallAndByClass() throws {
        let (s, f) = try fixture()
        let chat = try #require(s.group("chat")), batch = try #require(s.group("batch"))
        #expect(close(f.attainment(className: nil), s.overall.attainment.overall, rel: 0, abs: 5e-7))
        #expect(close(f.attainment(className: "chat"), chat.attainment.overall, rel: 0, abs: 5e-7))
        #expect(close(f.attainment(className: "batch"), batch.attainment.overall, rel: 0, abs: 5e-7))
        #expect(f.attainment(className: nil) == f.value("slo_attainment.overall"))
        #expect(f.attainment(className: "chat") == f.value("by_class.chat.slo_attainment.overall"))
        #expect(close(f.goodputRequestsPerS(className: nil), s.overall.goodputRequestsPerS, rel: 0, abs: 5e-7))
        #expect(close(f.goodputRequestsPerS(className: "chat"), chat.goodputRequestsPerS, rel: 0, abs: 5e-7))
        #expect(f.goodputRequestsPerS(className: "batch") == f.value("by_class.batch.goodput.requests_per_s"))
        #expect(f.attainment(className: "idle") == nil && f.goodputRequestsPerS(className: "idle") == nil)
    }

    /// `classes` follows the file's `by_class` order (the run's class order), not a sorted one;
    /// a class without requests is not in the file.
    @Test func classesKeepTheFilesOrder() throws {
        #expect(try fixture(classes: ["chat", "batch"]).1.classes == ["chat", "batch"])
        #expect(try fixture(classes: ["batch", "chat"]).1.classes == ["batch", "chat"])
        #expect(try fixture(classes: ["chat", "idle", "batch"]).1.classes == ["chat", "batch"])
    }

    @Test func theWorkloadIdentityIsRead() throws {
        let (_, f) = try fixture()
        let id = try #require(f.workload)
        let h = SummaryJSONTests.header
        #expect(id.spec == h.specName && id.specDigest == h.specDigest && id.seed == h.seed && id.count == h.count && id.rateRPS == h.rateRps)
        #expect(id.matches(h.identity))
        // A summary without a workload (or with part of one) has none.
        #expect(SummaryFile(json: try JSONParser.parse(#"{"target":"t"}"#)).workload == nil)
        #expect(SummaryFile(json: try JSONParser.parse(#"{"workload":{"spec_digest":"d","seed":1}}"#)).workload == nil)
        let noRate = SummaryFile(json: try JSONParser.parse(#"{"workload":{"spec_digest":"d","seed":1,"count":2,"rate_rps":null}}"#))
        #expect(noRate.workload == WorkloadIdentity(specDigest: "d", seed: 1, count: 2, rateRPS: nil))
    }

    @Test func aHandMadeFileReadsWhatItHas() throws {
        let f = SummaryFile(json: try JSONParser.parse(#"{"a":null,"b":{"c":1.5,"d":[1,2],"e":{"f":-2}},"by_class":{"y":{},"x":{}}}"#))
        #expect(f.target == nil && f.workload == nil)
        #expect(f.classes == ["y", "x"])
        #expect(f.numbers == ["b.c": 1.5, "b.e.f": -2])
        #expect(f.value("a") == nil && f.value("b.d") == nil)
    }

    @Test func readingAFileNamesItInErrors() throws {
        let dir = try TempDir()
        let (s, _) = try fixture()
        try dir.write("summary.json", s.json())
        let f = try SummaryFile.read(dir.file("summary.json"))
        #expect(f.target == s.run.target && f.classes == ["chat", "batch"])
        try dir.write("bad.json", Array("{\"target\":".utf8))
        do {
            _ = try SummaryFile.read(dir.file("bad.json"))
            Issue.record("bad JSON was read")
        } catch {
            #expect(String(describing: error).hasPrefix(dir.file("bad.json") + ": not valid JSON"), "\(error)")
        }
    }
}

/// `Baseline.updated` (`gate --update`).
@Suite struct BaselineUpdateTests {
    func fixture(target: String) throws -> SummaryFile {
        let s = try Metrics.summarize(MetricsTests.mixed, classes: ["chat", "batch"], run: RunInfo(target: target, workload: SummaryJSONTests.header))
        return SummaryFile(json: try parseJSON(s.json()))
    }

    /// A summary with a goodput and an attainment (a repeat, for the mean).
    func small(goodput: Double, attainment: Double = 0.5, target: String = "engine:sim profile=p policy=q") throws -> SummaryFile {
        SummaryFile(json: try JSONParser.parse("""
        {"target":"\(target)","workload":{"spec_digest":"sha256:ab","seed":7,"count":100,"rate_rps":4},
         "goodput":{"requests_per_s":\(goodput)},"slo_attainment":{"overall":\(attainment)}}
        """))
    }

    /// The default metrics the summary has, in `defaultMetrics` order.
    func expectedPaths(_ f: SummaryFile) -> [String] {
        Baseline.defaultMetrics(classes: f.classes).map(\.path).filter { f.value($0) != nil }
    }

    @Test func aNewBaselineOfAnExactTargetHasZeroTolerances() throws {
        let f = try fixture(target: "engine:sim profile=p policy=q")
        let b = try Baseline.updated(nil, from: [f], relative: 0.05, source: "s.json")
        #expect(b.target == "engine:sim profile=p policy=q")
        #expect(b.metrics.map(\.path) == expectedPaths(f))
        #expect(b.metrics.map(\.path).contains("by_class.chat.slo_attainment.overall"))
        #expect(b.metrics.map(\.path).contains("latency_ms.ttft.p99"))
        let polarity = Dictionary(uniqueKeysWithValues: Baseline.defaultMetrics(classes: f.classes).map { ($0.path, $0.polarity) })
        for m in b.metrics {
            #expect(m.relative == 0 && m.absolute == 0, "\(m.path)")
            #expect(m.value == f.value(m.path), "\(m.path)")
            #expect(m.polarity == polarity[m.path], "\(m.path)")
            #expect(m.samples.isEmpty, "one run keeps no samples")
        }
        // The summary's workload.
        let h = SummaryJSONTests.header
        #expect(b.specDigest == h.specDigest && b.seed == h.seed && b.count == h.count && b.rateRPS == h.rateRps)
        #expect(b.matchesWorkload(of: f))
        // And it survives its file.
        #expect(try Baseline.parse(String(decoding: b.json(), as: UTF8.self), file: "b.json") == b)
    }

    @Test(arguments: ["endpoint:http://127.0.0.1:8000/v1/completions model=m api=completions",
                      "engine:sim profile=p policy=q jitter_cv=0.1",
                      "cluster:sim profile=p policy=q autoscaler=chiron instances=1-4 startup_s=60.0",
                      "fixture"])
    func aNewBaselineOfAnyOtherTargetGetsTheRelativeTolerance(_ target: String) throws {
        let f = try fixture(target: target)
        let b = try Baseline.updated(nil, from: [f], relative: 0.05, source: "s.json")
        #expect(b.target == target)
        #expect(b.metrics.map(\.path) == expectedPaths(f))
        #expect(!b.metrics.isEmpty)
        #expect(b.metrics.allSatisfy { $0.relative == 0.05 && $0.absolute == 0 })
    }

    @Test func aStoredBaselineKeepsItsMetricsAndToleranceAndTakesTheNewValues() throws {
        let f = try fixture(target: "endpoint:http://h:1 model=m api=chat")
        let stored = Baseline(target: "engine:sim profile=old policy=q", specDigest: "sha256:old", seed: 1, count: 2, rateRPS: nil, metrics: [
            .init(path: "latency_ms.ttft.p99", polarity: .lower, relative: 0.2, absolute: 3, value: 1, samples: [1, 1]),
            .init(path: "goodput.requests_per_s", polarity: .higher, relative: 0.1, absolute: 0.5, value: 99),
        ])
        let b = try Baseline.updated(stored, from: [f], relative: 0.05, source: "s.json")
        // The stored metrics, in their order, with their polarity and tolerances: not the defaults.
        #expect(b.metrics.map(\.path) == ["latency_ms.ttft.p99", "goodput.requests_per_s"])
        #expect(b.metrics.map(\.polarity) == [.lower, .higher])
        #expect(b.metrics.map(\.relative) == [0.2, 0.1] && b.metrics.map(\.absolute) == [3, 0.5])
        #expect(b.metrics[0].value == f.value("latency_ms.ttft.p99") && b.metrics[1].value == f.value("goodput.requests_per_s"))
        #expect(b.metrics.allSatisfy { $0.samples.isEmpty }, "a single run replaces the stored samples")
        // Target and workload are the new run's.
        #expect(b.target == "endpoint:http://h:1 model=m api=chat")
        #expect(b.specDigest == SummaryJSONTests.header.specDigest && b.seed == 42 && b.count == 6 && b.rateRPS == 2.5)
    }

    @Test func aMetricTheRunLacksThrowsNamingItsPath() throws {
        let f = try fixture(target: "engine:sim profile=p policy=q")
        let stored = Baseline(target: "t", specDigest: "d", seed: 1, count: 2, rateRPS: nil, metrics: [
            .init(path: "goodput.requests_per_s", polarity: .higher, relative: 0, absolute: 0, value: 1),
            .init(path: "by_class.translation.slo_attainment.overall", polarity: .higher, relative: 0, absolute: 0, value: 1),
        ])
        #expect(throws: BenchError.data(SourceLocation(file: "runs/summary.json", field: "by_class.translation.slo_attainment.overall"),
                                        "the baseline's metric is not in this run")) {
            try Baseline.updated(stored, from: [f], relative: 0.05, source: "runs/summary.json")
        }
        // A null value is as absent as a missing key.
        let nullP99 = SummaryFile(json: try JSONParser.parse("""
        {"target":"t","workload":{"spec_digest":"d","seed":1,"count":2},"latency_ms":{"ttft":{"p99":null}}}
        """))
        let latency = Baseline(target: "t", specDigest: "d", seed: 1, count: 2, rateRPS: nil, metrics: [
            .init(path: "latency_ms.ttft.p99", polarity: .lower, relative: 0, absolute: 0, value: 1),
        ])
        #expect(throws: BenchError.data(SourceLocation(file: "x.json", field: "latency_ms.ttft.p99"), "the baseline's metric is not in this run")) {
            try Baseline.updated(latency, from: [nullP99], relative: 0, source: "x.json")
        }
    }

    @Test func aFileThatIsNotASummaryThrows() throws {
        let noTarget = SummaryFile(json: try JSONParser.parse(#"{"workload":{"spec_digest":"d","seed":1,"count":2}}"#))
        let noWorkload = SummaryFile(json: try JSONParser.parse(#"{"target":"t"}"#))
        for f in [noTarget, noWorkload] {
            #expect(throws: BenchError.data(SourceLocation(file: "x.json"), "not an accelbench summary (target, workload.spec_digest, seed, count)")) {
                try Baseline.updated(nil, from: [f], relative: 0.05, source: "x.json")
            }
        }
    }

    /// Repeats: each metric's value is the mean over the runs and every run's value is kept.
    @Test func repeatedSummariesGiveTheMeanAndKeepTheSamples() throws {
        let runs = try [small(goodput: 1, attainment: 0.5), small(goodput: 2, attainment: 0.75), small(goodput: 4, attainment: 1)]
        let fresh = try Baseline.updated(nil, from: runs, relative: 0.05, source: "repeats.json")
        #expect(fresh.metrics.map(\.path) == ["goodput.requests_per_s", "slo_attainment.overall"])
        #expect(fresh.metrics[0].value == (1.0 + 2 + 4) / 3 && fresh.metrics[0].samples == [1, 2, 4])
        #expect(fresh.metrics[1].value == (0.5 + 0.75 + 1) / 3 && fresh.metrics[1].samples == [0.5, 0.75, 1])
        #expect(fresh.metrics.allSatisfy { $0.relative == 0 }, "engine:sim without jitter")
        #expect(fresh.seed == 7 && fresh.count == 100 && fresh.rateRPS == 4)

        let stored = Baseline(target: "t", specDigest: "d", seed: 1, count: 2, rateRPS: nil, metrics: [
            .init(path: "goodput.requests_per_s", polarity: .higher, relative: 0.03, absolute: 0.1, value: 10, samples: [9, 11]),
        ])
        let refreshed = try Baseline.updated(stored, from: runs, relative: 0.05, source: "repeats.json")
        #expect(refreshed.metrics.count == 1)
        #expect(refreshed.metrics[0].value == (1.0 + 2 + 4) / 3 && refreshed.metrics[0].samples == [1, 2, 4])
        #expect(refreshed.metrics[0].relative == 0.03 && refreshed.metrics[0].absolute == 0.1)
        // The samples survive the file, for the next gate's bootstrap.
        #expect(try Baseline.parse(String(decoding: refreshed.json(), as: UTF8.self), file: "b.json") == refreshed)
    }
}
