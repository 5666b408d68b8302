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

    @Flag(name: .long, help: "Add accelgen with each mechanism switched off: accelgen-no-dynamic-chunking, -no-slo-ordering, -no-multi-resource, -no-exclusive-long.")
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
            var rows: [Comparison.Row] = []
            for v in Comparison.variants(names, options: policyFlags.options, ablations: ablations) {
                let progress = ProgressLine(label: v.policy.rawValue, enabled: true)
                let r = try Harness.run(workload, on: engine.target(v.policy, v.options, profile: profile, progress: progress),
                                        output: root + "/" + v.label, metrics: metrics.options, shouldStop: { Interrupt.isRequested })
                progress?.clear()
                rows.append((v.label, r))
                if r.run.stopped { break }
            }
            print(Comparison.table(rows, classes: workload.header.classes.map(\.name), profile: profile))
            print("results in \(root)/<policy>")
            if rows.contains(where: { $0.result.run.stopped }) { throw BenchExit(code: Interrupt.exitCode) }
        }
    }
}
