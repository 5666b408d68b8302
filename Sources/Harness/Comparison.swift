import BenchCore
import Engine
import Foundation
import Reporting

/// `accelbench compare`: one workload under several policies (and AccelGen's ablations), a
/// results directory each, and one table.
public enum Comparison {
    /// A policy to run, with the directory name it gets.
    public struct Variant {
        public var label: String
        public var policy: PolicyName
        public var options: PolicyOptions
    }

    /// The policies as given, then (with `ablations`) accelgen with each mechanism switched off.
    public static func variants(_ policies: [PolicyName], options: PolicyOptions, ablations: Bool) -> [Variant] {
        var out = policies.map { Variant(label: $0.rawValue, policy: $0, options: options) }
        guard ablations else { return out }
        // Labelled by what is switched off (`accelgen-no-dynamic-chunking`), the names runs'
        // targets and the command-line flags use.
        func variant(_ change: (inout AccelGenOptions) -> Void) -> Variant {
            var o = options
            change(&o.accelgen)
            let off = o.accelgen.ablations.filter { !options.accelgen.ablations.contains($0) }
            return Variant(label: (["accelgen"] + off).joined(separator: "-"), policy: .accelgen, options: o)
        }
        out += [
            variant { $0.dynamicChunking = false },
            variant { $0.sloOrdering = false },
            variant { $0.multiResource = false },
            variant { $0.exclusiveLong = false },
        ]
        return out
    }

    public typealias Row = (label: String, result: RunResult<SimulationDriver<SimulatedBackend>.Outcome>)

    /// One row per run: rates, goodput, attainment overall and per class, tails, preemptions.
    public static func table(_ rows: [Row], classes: [String], profile: HardwareProfile) -> String {
        func f(_ x: Double?, _ d: Int) -> String { x.map { String(format: "%.\(d)f", $0) } ?? "-" }
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "-" }
        let header = ["policy", "req/s", "out tok/s", "goodput req/s", "attain"] + classes
            + ["p99 TTFT ms", "p99 TBT ms", "preempt", "rejected", "dropped"]
        let body = rows.map { p, o -> [String] in
            let s = o.summary
            return [p, f(s.overall.requestsPerS, 3), f(s.overall.outputTokensPerS, 0), f(s.overall.goodputRequestsPerS, 3),
                    pct(s.overall.attainment.overall)] + classes.map { pct(s.group($0)?.attainment.overall) }
                + [f(s.overall.ttft?.p99, 0), f(s.overall.tbt?.p99, 1), String(o.run.details.preemptions),
                   String(s.overall.rejected), String(s.overall.dropped)]
        }
        return "profile \(profile.name)\n" + TextTable.render(header: header, rows: body)
    }
}
