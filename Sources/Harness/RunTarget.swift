import BenchCore
import Reporting

/// How a run against a target ended, in the terms every results directory records.
public struct TargetRun<Details> {
    /// The run's end on its own time axis, seconds.
    public var endS: Double
    /// Stopped early (Ctrl-C): the records are those gathered so far.
    public var stopped: Bool
    /// Why the run is not a valid measurement (endpoint runs: dispatch lag, rate shortfall).
    public var invalidReasons: [String] = []
    public var engineIterations: Int?
    public var enginePreemptions: Int?
    /// Fleet runs: summary.json's `cluster` section.
    public var cluster: JSONValue?
    /// Segments started at a wall-clock instant: the start and the clock's state (run.json `clock`).
    public var clock: JSONValue?
    /// Load-generator runs: the dispatch-lag limit the records are checked against.
    public var lagLimit: (ms: Double, note: String)?
    /// What only this kind of target reports (the engine's counters, the load generator's lag).
    public var details: Details

    public init(endS: Double, stopped: Bool, invalidReasons: [String] = [], engineIterations: Int? = nil,
                enginePreemptions: Int? = nil, cluster: JSONValue? = nil, details: Details) {
        self.endS = endS
        self.stopped = stopped
        self.invalidReasons = invalidReasons
        self.engineIterations = engineIterations
        self.enginePreemptions = enginePreemptions
        self.cluster = cluster
        self.details = details
    }
}

/// Something a workload runs against: the bundled engine in this process (`EngineTarget`) or an
/// OpenAI-compatible server over HTTP (`HTTPTarget`). Both hand `RequestRecord`s to one
/// `ResultsWriter`, so every target writes the same results directory.
public protocol RunTarget {
    associatedtype Details
    /// The `target` the results files name.
    var identity: TargetIdentity { get }
    /// Whether the run writes `iterations.jsonl` (engine targets).
    var writesIterations: Bool { get }
    /// Where the writer encodes the records (`RecordWriting`).
    var recordWriting: RecordWriting { get }
    /// How requests.jsonl stores token times.
    var tokenTimes: TokenTimesEncoding { get }
    /// Keep the summary only, not the records (fleets whose records are not wanted).
    var summaryOnly: Bool { get }
    /// Runs `workload`, handing every request's record (and every iteration's) to `writer` as
    /// it finishes; `shouldStop` is polled (Ctrl-C).
    func run(_ workload: Workload, into writer: ResultsWriter,
             shouldStop: @escaping () -> Bool) throws -> TargetRun<Details>
}

extension RunTarget {
    public var tokenTimes: TokenTimesEncoding { .absolute }
    public var summaryOnly: Bool { false }
}

/// A finished run: its summary (as written to summary.json) and the target's report.
public struct RunResult<Details> {
    public var summary: Summary
    public var run: TargetRun<Details>
    /// Wall-clock seconds the run took, writing included.
    public var wallS: Double
}

/// The composition root: running workloads against targets, repeatedly or over rates.
public enum Harness {
    /// Runs `workload` on `target` into the results directory `output`.
    public static func run<Target: RunTarget>(_ workload: Workload, on target: Target, output: String,
                                              metrics: MetricsOptions = .init(),
                                              shouldStop: @escaping () -> Bool = { false }) throws -> RunResult<Target.Details> {
        let start = monotonicSeconds()
        let writer = try ResultsWriter(directory: output, run: RunInfo(target: target.identity.description, workload: workload.header),
                                       options: metrics, withIterations: target.writesIterations, writing: target.recordWriting,
                                       tokenTimes: target.tokenTimes, summaryOnly: target.summaryOnly)
        let run = try target.run(workload, into: writer, shouldStop: shouldStop)
        let summary = try writer.finish(runEndS: run.endS, interrupted: run.stopped, invalidReasons: run.invalidReasons,
                                        engineIterations: run.engineIterations, enginePreemptions: run.enginePreemptions,
                                        cluster: run.cluster, clock: run.clock, lagLimit: run.lagLimit)
        return RunResult(summary: summary, run: run, wallS: monotonicSeconds() - start)
    }
}
