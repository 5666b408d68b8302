import BenchCore
import Foundation
import Reporting

/// `run --repeat N`: one workload N times, each into `OUTPUT/repeat-i`, and `repeats.json`
/// naming them (for `gate`'s bootstrap intervals).
public struct RepeatedRun<Target: RunTarget> {
    public var count: Int
    /// The target of repeat `i` (1-based): engine repeats vary the jitter seed.
    public var target: (Int) -> Target
    public var metrics = MetricsOptions()

    public init(count: Int, metrics: MetricsOptions = .init(), target: @escaping (Int) -> Target) {
        self.count = count
        self.metrics = metrics
        self.target = target
    }

    public struct Outcome {
        public var summaries: [Summary]
        /// The repeats' directories, relative to the output directory.
        public var directories: [String]
        /// Ctrl-C stopped a repeat: repeats.json names the repeats up to it.
        public var stopped: Bool
    }

    /// Runs the repeats; `onRepeat` sees each as it ends (repeat number, result, its directory).
    public func run(_ workload: Workload, output: String, shouldStop: @escaping () -> Bool,
                    onRepeat: (Int, RunResult<Target.Details>, String) -> Void = { _, _, _ in }) throws -> Outcome {
        try FileIO.makeDirectories(output)
        var outcome = Outcome(summaries: [], directories: [], stopped: false)
        var targetName = ""
        for i in 1...count {
            let dir = "repeat-\(i)"
            let result = try Harness.run(workload, on: target(i), output: output + "/" + dir, metrics: metrics, shouldStop: shouldStop)
            targetName = result.summary.run.target
            outcome.summaries.append(result.summary)
            outcome.directories.append(dir)
            onRepeat(i, result, output + "/" + dir)
            if result.run.stopped {
                outcome.stopped = true
                break
            }
        }
        try RepeatSet.write(directory: output, target: targetName, runs: outcome.directories)
        return outcome
    }

    /// The line `run --repeat` prints as each repeat ends.
    public static func line(_ i: Int, of count: Int, _ summary: Summary, directory: String) -> String {
        String(format: "repeat %d/%d: attainment %.4f, goodput %.3f req/s, TTFT p99 %@ ms -> %@", i, count,
               summary.overall.attainment.overall, summary.overall.goodputRequestsPerS,
               summary.overall.ttft.map { String(format: "%.1f", $0.p99) } ?? "-", directory)
    }
}
