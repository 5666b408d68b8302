import ArgumentParser
import BenchCore
import Engine
import Foundation
import Reporting

struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run one workload under several policies and print one comparison table.",
        discussion: "Writes a results directory per policy under OUTPUT/<policy>.")

    @OptionGroup var source: WorkloadFlags
    @OptionGroup var engine: EngineFlags

    @Option(name: .long, help: "Comma-separated policies (\(PolicyName.list)).")
    var policies = PolicyName.allCases.map(\.rawValue).joined(separator: ",")

    @OptionGroup var policyFlags: PolicyFlags
    @OptionGroup var metrics: MetricsFlags

    @Option(name: .shortAndLong, help: "Output directory (default: results/<workload>-compare).")
    var output: String?

    func validate() throws {
        let names = policies.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty, !names.contains(where: \.isEmpty) else { throw ValidationError("--policies: give a comma-separated list of \(PolicyName.list)") }
        for n in names where PolicyName(rawValue: n) == nil {
            throw ValidationError("--policies: unknown policy '\(n)'; valid policies: \(PolicyName.list)")
        }
    }

    func run() throws {
        try guarded {
            let names = try policies.split(separator: ",").map { s throws(BenchError) in try PolicyName.parse(String(s).trimmingCharacters(in: .whitespaces)) }
            let profile = try engine.resolveProfile()
            let workload = try source.load()
            Interrupt.install()
            let root = output ?? "results/\(source.label)-compare"
            var rows: [(PolicyName, EngineRun.Outcome)] = []
            for p in names {
                let r = try EngineRun(workload: workload, profile: profile, policy: p, policyOptions: policyFlags.options,
                                      jitterCV: engine.jitterCV, jitterSeed: engine.jitterSeed, metrics: metrics.options,
                                      output: root + "/" + p.rawValue, progress: true).execute()
                rows.append((p, r))
                if r.engine.stopped { break }
            }
            print(Compare.table(rows, classes: workload.header.classes.map(\.name), profile: profile))
            print("results in \(root)/<policy>")
            if rows.contains(where: { $0.1.engine.stopped }) { throw BenchExit(code: ExitCodes.interrupted) }
        }
    }

    static func table(_ rows: [(PolicyName, EngineRun.Outcome)], classes: [String], profile: HardwareProfile) -> String {
        func f(_ x: Double?, _ d: Int) -> String { x.map { String(format: "%.\(d)f", $0) } ?? "-" }
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        let header = ["policy", "req/s", "out tok/s", "goodput req/s", "attain"] + classes + ["p99 TTFT ms", "p99 TBT ms", "preempt"]
        let body = rows.map { p, o -> [String] in
            let s = o.summary
            return [p.rawValue, f(s.overall.requestsPerS, 3), f(s.overall.outputTokensPerS, 0), f(s.overall.goodputRequestsPerS, 3),
                    pct(s.overall.attainment.overall)] + classes.map { pct(s.group($0)?.attainment.overall) }
                + [f(s.overall.ttft?.p99, 0), f(s.overall.tbt?.p99, 1), String(o.engine.preemptions)]
        }
        return "profile \(profile.name)\n" + TextTable.render(header: header, rows: body)
    }
}
