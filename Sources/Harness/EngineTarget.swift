import BenchCore
import Engine
import Oracle
import Reporting

/// The bundled engine in this process, on the simulated GPU, in simulated time.
public struct EngineTarget: RunTarget {
    public var profile: HardwareProfile
    public var policy: PolicyName
    public var policyOptions: PolicyOptions
    /// The simulated backend's jitter: coefficient of variation (0: deterministic) and seed.
    public var jitterCV = 0.0
    public var jitterSeed: UInt64 = 0
    public var prefixCaching = false
    /// Only these requests are served (an oracle schedule); the others are rejected on arrival.
    public var admitted: Set<Int>?
    /// Abort requests as soon as they can no longer meet their SLOs (an oracle schedule).
    public var dropMissed = false
    /// Called after every iteration, for a progress line.
    public var onProgress: ((EngineProgress) -> Void)?

    public init(profile: HardwareProfile, policy: PolicyName, policyOptions: PolicyOptions) {
        self.profile = profile
        self.policy = policy
        self.policyOptions = policyOptions
    }

    public var identity: TargetIdentity {
        .engine(.init(backend: "sim", profile: profile.name, policy: policy.rawValue,
                      ablations: policyOptions.labels(for: policy), jitterCV: jitterCV > 0 ? jitterCV : nil))
    }

    public var writesIterations: Bool { true }
    public var recordWriting: RecordWriting { .inline }

    public func run(_ workload: Workload, into writer: ResultsWriter,
                    shouldStop: @escaping () -> Bool) throws -> TargetRun<SimulationDriver<SimulatedBackend>.Outcome> {
        let engine = EngineCore(profile: profile, policy: policy.make(policyOptions, profile: profile), prefixCaching: prefixCaching)
        if let admitted { engine.admissionFilter = { admitted.contains($0.id) ? nil : FeasibleSchedule.notAdmitted } }
        var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile, jitterCV: jitterCV, seed: jitterSeed))
        driver.dropMissed = dropMissed
        let requests = workload.requests.map(EngineRequest.init)
        var progress = EngineProgress(simulatedS: 0, done: 0, total: requests.count, waiting: 0)
        let outcome = try driver.run(requests, onIteration: { rec in
            try writer.appendIteration(rec.json())
            if let onProgress {
                progress.simulatedS = rec.startS + rec.durationS
                progress.waiting = rec.waiting
                onProgress(progress)
            }
        }, onDone: { r in
            progress.done += 1
            try writer.append(r.record())
        }, shouldStop: shouldStop)
        return TargetRun(endS: outcome.endS, stopped: outcome.stopped, engineIterations: outcome.iterations,
                         enginePreemptions: outcome.preemptions, details: outcome)
    }
}

/// Where a simulated run stands, after an iteration.
public struct EngineProgress: Sendable {
    public var simulatedS: Double
    public var done: Int
    public var total: Int
    public var waiting: Int
}
