import ArgumentParser
import BenchCore
import Foundation
import Reporting

struct GateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gate",
        abstract: "Compare a run with a stored baseline: exit 0 pass, 2 regression, 4 improvement only, 5 baseline missing.",
        discussion: """
        A baseline (JSON, schema accelbench.baseline/1) lists metrics as dotted paths into summary.json, each with \
        polarity higher|lower and relative and absolute tolerances: a change counts only when it exceeds both. \
        Simulated runs are deterministic, so new baselines for them get tolerances 0 (any change shows); other \
        targets get --relative (default 5%, our choice). --update writes the baseline from the run, or refreshes \
        the values of an existing one and keeps its metrics and tolerances. The run must be of the baseline's \
        workload (spec digest, seed, count and rate) and target, else exit 65. RESULTS may be a directory of \
        repeated runs (`run --repeat N`): each metric's mean change then gets a 95% percentile-bootstrap interval \
        (10,000 resamples of the runs and of the baseline's stored samples), and it regresses or improves only \
        when the whole interval lies beyond the tolerance.
        """)

    @Argument(help: "Results directory (with summary.json).")
    var results: String

    @Option(name: .long, help: "Baseline file (e.g. baselines/NAME.json).")
    var baseline: String

    @Flag(name: .long, help: "Write the baseline from this run (new file: default metrics; existing: refresh its values).")
    var update = false

    @Option(name: .long, help: "Relative tolerance of metrics in a new baseline for a non-simulated run (fraction).")
    var relative = 0.05

    @Option(name: .long, help: "Write a JUnit XML report here.")
    var junit: String?

    @Option(name: .long, help: "Write a Markdown report here.")
    var markdown: String?

    func validate() throws {
        guard relative >= 0 else { throw ValidationError("--relative must be ≥ 0") }
    }

    @Flag(name: .long, help: "Compare even when the run's target (engine, policy, endpoint) differs from the baseline's.")
    var anyTarget = false

    func run() throws {
        try guarded {
            let runs = try GatedRuns(directory: results)
            let exists = FileManager.default.fileExists(atPath: baseline)
            var stored: Baseline?
            if exists { stored = try Baseline.parse(String(decoding: try FileIO.readFile(baseline), as: UTF8.self), file: baseline) }

            if update {
                let fresh = try Baseline.updated(stored, from: runs.summaries, relative: relative, source: runs.source)
                try FileIO.writeAtomically(fresh.json(), to: baseline)
                print("\(exists ? "refreshed" : "wrote") \(baseline): \(fresh.metrics.count) metrics from \(results)\(runs.repeated ? " (\(runs.summaries.count) runs)" : "")")
                return
            }
            guard let stored else {
                printError("accelbench: baseline \(baseline) does not exist (create it with --update)")
                throw BenchExit(code: ExitCodes.baselineMissing)
            }
            try stored.checkComparable(with: runs, baselinePath: baseline, anyTarget: anyTarget)
            let report = GateReport.evaluate(stored, repeats: runs.summaries)
            let title = "\(results) against \(baseline)"
            print(report.markdown(title: title), terminator: "")
            if let junit { try FileIO.writeAtomically(Array(report.junit(suite: baseline).utf8), to: junit) }
            if let markdown { try FileIO.writeAtomically(Array(report.markdown(title: title).utf8), to: markdown) }
            print(report.verdictLine)
            if report.exitCode != ExitCodes.ok { throw BenchExit(code: report.exitCode) }
        }
    }
}
