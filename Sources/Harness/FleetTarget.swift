import BenchCore
import Cluster
import Engine
import Reporting

/// A simulated fleet of engine instances scaled by an autoscaler (`accelbench cluster`). Its
/// results directory gains `timeline.jsonl` and summary.json a `cluster` section.
public struct FleetTarget: RunTarget {
    public var profile: HardwareProfile
    public var policy: PolicyName
    public var policyOptions: PolicyOptions
    public var autoscaler: AutoscalerName
    public var options: FleetOptions
    public var jitterCV = 0.0
    public var jitterSeed: UInt64 = 0
    public var tokenTimes: TokenTimesEncoding = .delta
    public var summaryOnly = false

    public init(profile: HardwareProfile, policy: PolicyName, policyOptions: PolicyOptions, autoscaler: AutoscalerName,
                options: FleetOptions) {
        self.profile = profile
        self.policy = policy
        self.policyOptions = policyOptions
        self.autoscaler = autoscaler
        self.options = options
    }

    public var identity: TargetIdentity {
        .cluster(.init(backend: "sim", profile: profile.name, policy: policy.rawValue, autoscaler: autoscaler.rawValue,
                       minInstances: options.minInstances, maxInstances: options.maxInstances, startupS: options.startupDelayS,
                       jitterCV: jitterCV > 0 ? jitterCV : nil))
    }

    public var writesIterations: Bool { false }
    /// A fleet's records come faster than one core encodes them.
    public var recordWriting: RecordWriting { .batched }

    /// The fleet's counters, and the simulation's own wall time (loading and writing excluded).
    public struct Details: Sendable {
        public var outcome: FleetSimulator.Outcome
        public var simulationWallS: Double
    }

    public static func makeAutoscaler(_ name: AutoscalerName) -> any Autoscaler {
        switch name {
        case .chiron: return ChironAutoscaler()
        case .utilization: return UtilizationAutoscaler()
        case .llumnix: return LlumnixAutoscaler()
        case .fixed: return StaticAutoscaler()
        }
    }

    public func run(_ workload: Workload, into writer: ResultsWriter, shouldStop: @escaping () -> Bool) throws -> TargetRun<Details> {
        if let e = workload.sessionsUnsupported(by: "cluster") { throw e }
        let sim = FleetSimulator(profile: profile, policy: policy, policyOptions: policyOptions, options: options,
                                 autoscaler: FleetTarget.makeAutoscaler(autoscaler))
        sim.jitterCV = jitterCV
        sim.jitterSeed = jitterSeed
        let batchClasses = Set(workload.header.classes.filter { $0.kind == .batch }.map(\.name))
        var timeline: [UInt8] = []
        let start = monotonicSeconds()
        let outcome = try sim.run(workload.requests, batchClasses: batchClasses, onRecord: { try writer.append($0) },
                                  onTimeline: { e in
                                      timeline += e.json()
                                      timeline.append(0x0A)
                                  }, shouldStop: shouldStop)
        let wall = monotonicSeconds() - start
        try FileIO.writeAtomically(timeline, to: writer.directory + "/timeline.jsonl")
        return TargetRun(endS: outcome.endS, stopped: outcome.stopped, engineIterations: outcome.iterations,
                         cluster: clusterSection(outcome), details: Details(outcome: outcome, simulationWallS: wall))
    }

    /// summary.json's `cluster`: GPU-hours, scale events, peak instances and the fast path's share.
    func clusterSection(_ o: FleetSimulator.Outcome) -> JSONValue {
        .object([
            ("autoscaler", .string(autoscaler.rawValue)),
            ("gpu_hours", .number((o.gpuSeconds / 3600 * 1e6).rounded() / 1e6)),
            ("gpu_seconds", .number((o.gpuSeconds * 1e3).rounded() / 1e3)),
            ("scale_events", .number(Double(o.scaleEvents))),
            ("peak_instances", .number(Double(o.peakInstances))),
            ("instances_started", .number(Double(o.instancesStarted))),
            ("evictions", .number(Double(o.evictions))),
            ("startup_delay_s", .number(options.startupDelayS)),
            ("settled_iterations", .number(Double(o.settledIterations))),
        ])
    }
}
