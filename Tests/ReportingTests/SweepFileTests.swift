import BenchCore
import Testing
@testable import Reporting

/// `sweep.json`: what `SweepFile.json` writes, `SweepFile.read` reads back; a malformed file's
/// error names the file and the field.
@Suite struct SweepFileTests {
    /// Two rates of the mixed fixture (one with an oracle bound, one class without requests)
    /// and two searches, written and read back.
    @Test func roundTripsWhatTheWriterWrites() throws {
        let dir = try TempDir()
        let summary = try Metrics.summarize(MetricsTests.mixed, classes: ["chat", "batch", "idle"],
                                            run: RunInfo(target: "engine:sim profile=p policy=accelgen"))
        let bound = SweepPoint.OracleBound(metRequests: 4.5, byClass: ["chat": 3, "batch": 1.5], lastArrivalS: 2.5)
        let points = [SweepPoint(rateRPS: 5, directory: "rate-5", summary: summary, oracle: bound),
                      SweepPoint(rateRPS: 2, directory: "rate-2", summary: summary)]
        let searches = [SweepSearch(className: nil, result: .init(outcome: .found, capacityRPS: 3.75, failingRPS: 3.8, probed: [4, 3.5])),
                        SweepSearch(className: "chat", result: .init(outcome: .aboveRange, capacityRPS: 64, failingRPS: nil, probed: [8]))]
        let header = SweepFile.Header(spec: "mixed-fixture", target: summary.run.target, seed: 42, count: 6, classes: ["chat", "batch", "idle"])
        let bytes = SweepFile.json(header, points: points, targetAttainment: 0.9, precision: 0.025, searches: searches)
        let path = dir.file(SweepFile.name)
        try dir.write(SweepFile.name, bytes)

        let c = try SweepFile.read(path: path)
        #expect(c.spec == "mixed-fixture" && c.target == "engine:sim profile=p policy=accelgen" && c.seed == 42 && c.count == 6)
        #expect(c.classes == ["chat", "batch", "idle"])
        #expect(c.points.map(\.rateRps) == [2, 5] && c.points.map(\.dir) == ["rate-2", "rate-5"])
        let o = summary.overall
        for p in c.points {
            // Written with 6 decimals (rates) and 3 (tokens).
            #expect(close(p.attainment, o.attainment.overall, rel: 0, abs: 5e-7))
            #expect(close(p.goodputRps, o.goodputRequestsPerS, rel: 0, abs: 5e-7))
            #expect(close(p.goodputTokensPerS, o.goodputOutputTokensPerS, rel: 0, abs: 5e-4))
            #expect(close(p.throughputRps, o.requestsPerS, rel: 0, abs: 5e-7))
            #expect(close(p.outputTokensPerS, o.outputTokensPerS, rel: 0, abs: 5e-4))
            for (name, g) in summary.classes {
                if g.total > 0 {
                    #expect(close(p.classAttainment[name], g.attainment.overall, rel: 0, abs: 5e-7), "\(name)")
                } else {
                    #expect(p.classAttainment[name] == nil, "\(name) has no requests")
                }
                #expect(close(p.classGoodputRps[name], g.goodputRequestsPerS, rel: 0, abs: 5e-7), "\(name)")
            }
        }
        #expect(c.points[0].oracleAttainment == nil && c.points[0].oracleGoodputRps == nil)
        #expect(close(c.points[1].oracleAttainment, 4.5 / Double(o.total), rel: 0, abs: 5e-7))
        #expect(close(c.points[1].oracleGoodputRps, 4.5 / 2.5, rel: 0, abs: 5e-7))
        // The bound's inputs come back exactly (a merge of split sweeps rebuilds the file from them).
        #expect(c.points[1].oracleMet == 4.5 && c.points[1].oracleWindowS == 2.5 && c.points[1].oracleClassMet == ["chat": 3, "batch": 1.5])
        #expect(c.complete && c.share == nil)
        // Two searches: the overall one gives the capacity, the class one its entry in by_class.
        #expect(c.search == SweepFile.Contents.Search(targetAttainment: 0.9, className: nil, capacityRps: 3.75, classCapacityRps: ["chat": 64]))

        // Without a search the file says null, and the reader has none.
        let plain = SweepFile.json(SweepFile.Header(spec: "s", target: "t", seed: 1, count: 2, classes: []), points: [], targetAttainment: nil,
                                   precision: 0.025, searches: [])
        try dir.write("plain.json", plain)
        #expect(try SweepFile.read(path: dir.file("plain.json")) == SweepFile.Contents(spec: "s", target: "t", seed: 1, count: 2))

        // A share of a split sweep, unfinished, with a seed past Int's range: all read back.
        let share = SweepFile.Share(segment: Segment(index: 1, count: 3), rates: [4, 1, 2, 3, 5])
        #expect(share.ownRates == [2, 5])
        let partial = SweepFile.json(SweepFile.Header(spec: "s", target: "t", seed: UInt64(1) << 63, count: 2, classes: [], share: share, complete: false),
                                     points: [], targetAttainment: nil, precision: 0.025, searches: [])
        try dir.write("share.json", partial)
        let back = try SweepFile.read(path: dir.file("share.json"))
        #expect(back.share == share && !back.complete && back.seed == UInt64(1) << 63)
    }

    func readError(_ text: String, in dir: TempDir) throws -> (path: String, error: BenchError?) {
        let path = dir.file(SweepFile.name)
        try dir.write(SweepFile.name, Array(text.utf8))
        do {
            _ = try SweepFile.read(path: path)
            return (path, nil)
        } catch {
            return (path, error)
        }
    }

    @Test func malformedFilesNameTheFileAndTheField() throws {
        let dir = try TempDir()
        let point = #"{"rate_rps":2,"dir":"rate-2","attainment":0.5,"goodput_rps":1,"throughput_rps":2}"#
        let cases: [(String, String, String)] = [
            (#"{"schema":"accelbench.sweep/0","points":[]}"#, "schema", "expected 'accelbench.sweep/1', got 'accelbench.sweep/0'"),
            (#"{"schema":"accelbench.sweep/1"}"#, "points", "missing array of points"),
            (#"{"schema":"accelbench.sweep/1","classes":["chat",3],"points":[]}"#, "classes[1]", "expected a string"),
            (#"{"schema":"accelbench.sweep/1","points":[\#(point),{"rate_rps":4,"attainment":0.5,"goodput_rps":1}]}"#,
             "points[1].throughput_rps", "missing required number"),
            (#"{"schema":"accelbench.sweep/1","points":[{"rate_rps":2,"attainment":0.5,"goodput_rps":1,"throughput_rps":2,"by_class":{"chat":{"attainment":"high"}}}]}"#,
             "points[0].by_class.chat.attainment", "expected a number, got string"),
            (#"{"schema":"accelbench.sweep/1","points":[{"rate_rps":2,"attainment":0.5,"goodput_rps":1,"throughput_rps":2,"oracle":{"upper_bound_goodput_rps":true}}]}"#,
             "points[0].oracle.upper_bound_goodput_rps", "expected a number, got boolean"),
            (#"{"schema":"accelbench.sweep/1","points":[],"search":{"target_attainment":0.9,"by_class":{"chat":"x"}}}"#,
             "search.by_class.chat", "expected a number"),
            (#"{"schema":"accelbench.sweep/1","points":[],"search":{"capacity_rps":3}}"#, "search.target_attainment", "missing required number"),
        ]
        for (text, field, message) in cases {
            let (path, error) = try readError(text, in: dir)
            #expect(error == BenchError.data(path, field: field, message), "\(text)")
            #expect(error?.description == "\(path): field '\(field)': \(message)")
        }
        // Not JSON at all: the file (line 1), and the parser's complaint.
        let (path, error) = try readError(#"{"schema":"accelbench.sweep/1","points":["#, in: dir)
        guard case .data(let at, _)? = error else { Issue.record("expected a data error, got \(String(describing: error))"); return }
        #expect(at == SourceLocation(file: path, line: 1))
    }
}
