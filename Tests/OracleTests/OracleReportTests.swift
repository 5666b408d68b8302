import BenchCore
import Engine
import Foundation
import Reporting
import Testing
@testable import Oracle

/// The summary of `policy` running `workload` on the simulated engine, as a results directory's.
func simulatedSummary(_ policy: PolicyName, _ workload: Workload, profile: HardwareProfile) throws -> Summary {
    let engine = EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile))
    var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile))
    var records: [RequestRecord] = []
    _ = try driver.run(workload.requests.map { EngineRequest($0) }, onIteration: { _ in }, onDone: { records.append($0.record()) })
    return try Metrics.summarize(records, classes: workload.header.classes.map(\.name),
                                 run: RunInfo(target: "engine:sim profile=\(profile.name) policy=\(policy.rawValue)", workload: workload.header))
}

/// `accelbench oracle`'s report (oracle.json and its printed lines) on a workload of ten
/// requests, which the solver and the schedule search finish in well under a second.
@Suite struct OracleReportTests {
    let profile = try! HardwareProfile.resolve(HardwareProfile.defaultName)
    let workload = Workload(header: randomWorkloadHeader(seed: 12, count: 10, rate: 20), requests: randomWorkload(seed: 12, n: 10, rate: 20))

    func report(_ question: OracleQuestion = OracleQuestion()) throws -> (OracleReport, Summary) {
        let summary = try simulatedSummary(.sarathi, workload, profile: profile)
        let r = try OracleReport.compute(workload, source: "random.jsonl", profile: profile, question: question,
                                         runs: [(directory: "results/sarathi", summary: summary)])
        return (r, summary)
    }

    @Test func theFiguresAreTheBoundTheScheduleAndTheirGap() throws {
        let (r, summary) = try report()
        #expect(r.bound.solution.status == .optimal)
        let u = r.upperValue, l = r.feasibleValue
        #expect(u == r.bound.metRequests)
        #expect(l == Double(r.schedule.metRequests))
        #expect(u > 0 && l <= u + 1e-6, "L \(l) > U \(u)")
        #expect(r.gap == (u - l) / u)
        #expect(r.total == workload.requests.count)
        #expect(r.lastArrivalS == workload.requests.map(\.arrivalS).max())
        // The run is rated against U.
        let rating = try #require(r.ratings.first)
        #expect(r.ratings.count == 1)
        #expect(rating.directory == "results/sarathi" && rating.target == summary.run.target)
        #expect(rating.achieved == Double(summary.overall.met))
        #expect(rating.achieved <= u + 1e-6)
        #expect(rating.efficiency == rating.achieved / u)
    }

    @Test func oracleJSONParsesAndItsGapIsItsBoundsGap() throws {
        let (r, _) = try report()
        let bytes = r.json()
        #expect(bytes.last == 0x0A)
        let v = try JSONParser.parse(String(decoding: bytes, as: UTF8.self))
        #expect(v["schema"] == .string(OracleReport.schema))
        #expect(v["objective"] == .string("requests") && v["class"] == .null)
        #expect(v["workload"]?["spec"] == .string("random") && v["workload"]?["requests"] == .number(10))
        #expect(v["workload"]?["spec_digest"] == .string(workload.header.specDigest))
        #expect(v["profile"] == .string(profile.name))
        func number(_ path: String...) throws -> Double {
            var x: JSONValue? = v
            for k in path { x = x?[k] }
            guard case .number(let d)? = x else { throw BenchError.data("oracle.json", field: path.joined(separator: "."), "not a number") }
            return d
        }
        let u = try number("upper_bound", "met_requests"), l = try number("feasible", "met_requests"), gap = try number("gap")
        // U and L have 4 decimals and the gap 6: the gap of the written bounds is within their rounding.
        #expect(abs(u - r.upperValue) <= 5e-5 && l == Double(r.schedule.metRequests))
        #expect(abs(gap - r.gap) <= 5e-7)
        #expect(abs(gap - (u - l) / u) <= 5e-7 + 5e-5 / u + 5e-5 * l / (u * u), "gap \(gap), U \(u), L \(l)")
        #expect(abs(try number("upper_bound", "attainment") - r.upperValue / 10) <= 5e-7)
        #expect(try number("feasible", "attainment") == Double(r.schedule.metRequests) / 10)
        #expect(v["solver"]?["status"] == .string("optimal"))
        #expect(v["schedule"]?["policy"] == .string(r.schedule.policy.rawValue))
        #expect(try number("schedule", "admitted") == Double(r.schedule.admitted.count))
        #expect(v["schedule"]?["iterations_sha256"] == .string(r.schedule.iterationsSHA256))
        #expect(v["by_class"].map { if case .object(let p) = $0 { return p.map(\.0) } else { return [] } }
            == Set(workload.requests.map(\.className)).sorted())
        guard case .array(let runs)? = v["runs"] else {
            Issue.record("runs is not an array")
            return
        }
        #expect(runs.count == 1)
        #expect(runs.first?["dir"] == .string("results/sarathi"))
        if case .number(let e)? = runs.first?["efficiency"] { #expect(abs(e - r.ratings[0].efficiency) <= 5e-7) } else { Issue.record("no efficiency") }
    }

    /// The printed report: the bounds and gap, the solver, then one line per rated run.
    @Test func linesHaveTheBoundsTheSolverAndEachRun() throws {
        let (r, _) = try report()
        let lines = r.lines()
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("upper bound: ") && lines[0].contains("requests meeting their SLOs"), "\(lines[0])")
        #expect(lines[0].contains("feasible: \(Int(r.feasibleValue)) (\(r.schedule.policy.rawValue)"), "\(lines[0])")
        #expect(lines[0].hasSuffix(String(format: "gap %.2f%%", r.gap * 100)), "\(lines[0])")
        #expect(lines[1].hasPrefix("solver \(r.bound.solution.solver): \(r.bound.solution.status.description) in "), "\(lines[1])")
        #expect(lines[1].contains("\(r.bound.variables) variables, \(r.bound.constraints) constraints"), "\(lines[1])")
        let a = r.ratings[0]
        #expect(lines[2] == "  results/sarathi: \(Int(a.achieved)) (" + String(format: "%.1f", a.efficiency * 100) + "% of the bound)", "\(lines[2])")
        // No runs: no run lines.
        let bare = try OracleReport.compute(workload, source: "random.jsonl", profile: profile, question: OracleQuestion(), runs: [])
        #expect(bare.lines().count == 2)
    }

    /// A question about one class in output tokens: the report's figures are that class's.
    @Test func aClassQuestionInTokens() throws {
        var q = OracleQuestion()
        q.objective = .tokens
        q.className = "chat"
        let (r, summary) = try report(q)
        let chatCount = workload.requests.filter { $0.className == "chat" }.count
        #expect(r.total == chatCount)
        #expect(r.upperValue == r.bound.metTokens(for: "chat"))
        #expect(r.feasibleValue <= r.upperValue + 1e-6)
        #expect(r.gap == (r.upperValue > 0 ? (r.upperValue - r.feasibleValue) / r.upperValue : 0))
        let v = try JSONParser.parse(String(decoding: r.json(), as: UTF8.self))
        #expect(v["objective"] == .string("tokens") && v["class"] == .string("chat"))
        let achieved = r.ratings[0].achieved
        let g = summary.group("chat")
        #expect(achieved == ((g?.goodputOutputTokensPerS ?? 0) * summary.windowS).rounded())
        #expect(r.lines()[0].contains("output tokens meeting their SLOs"))
    }
}
