import ArgumentParser
import BenchCore
import Engine
import Harness
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

    @Flag(name: .long, help: "Add accelgen with each mechanism switched off: -dynamic-chunking, -slo-ordering, -multi-resource, -exclusive-long.")
    var ablations = false

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
            var variants: [(String, PolicyName, PolicyOptions)] = names.map { ($0.rawValue, $0, policyFlags.options) }
            if ablations {
                let base = policyFlags.options
                func variant(_ label: String, _ change: (inout AccelGenOptions) -> Void) -> (String, PolicyName, PolicyOptions) {
                    var o = base
                    change(&o.accelgen)
                    return (label, .accelgen, o)
                }
                variants += [
                    variant("accelgen-dynamic-chunking") { $0.dynamicChunking = false },
                    variant("accelgen-slo-ordering") { $0.sloOrdering = false },
                    variant("accelgen-multi-resource") { $0.multiResource = false },
                    variant("accelgen-exclusive-long") { $0.exclusiveLong = false },
                ]
            }
            var rows: [(String, EngineResult)] = []
            for (label, p, options) in variants {
                let progress = ProgressLine(label: p.rawValue, enabled: true)
                let r = try Harness.run(workload, on: engine.target(p, options, profile: profile, progress: progress),
                                        output: root + "/" + label, metrics: metrics.options, shouldStop: { Interrupt.isRequested })
                progress?.clear()
                rows.append((label, r))
                if r.run.stopped { break }
            }
            print(Compare.table(rows, classes: workload.header.classes.map(\.name), profile: profile))
            print("results in \(root)/<policy>")
            if rows.contains(where: { $0.1.run.stopped }) { throw BenchExit(code: ExitCodes.interrupted) }
        }
    }

    typealias EngineResult = RunResult<SimulationDriver<SimulatedBackend>.Outcome>

    static func table(_ rows: [(String, EngineResult)], classes: [String], profile: HardwareProfile) -> String {
        func f(_ x: Double?, _ d: Int) -> String { x.map { String(format: "%.\(d)f", $0) } ?? "-" }
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        let header = ["policy", "req/s", "out tok/s", "goodput req/s", "attain"] + classes + ["p99 TTFT ms", "p99 TBT ms", "preempt"]
        let body = rows.map { p, o -> [String] in
            let s = o.summary
            return [p, f(s.overall.requestsPerS, 3), f(s.overall.outputTokensPerS, 0), f(s.overall.goodputRequestsPerS, 3),
                    pct(s.overall.attainment.overall)] + classes.map { pct(s.group($0)?.attainment.overall) }
                + [f(s.overall.ttft?.p99, 0), f(s.overall.tbt?.p99, 1), String(o.run.details.preemptions)]
        }
        return "profile \(profile.name)\n" + TextTable.render(header: header, rows: body)
    }
}
