import BenchCore
import Engine
import Foundation
import Oracle
import Reporting

/// Runs one workload through the bundled engine in simulated time and writes a results directory.
struct EngineRun {
    var workload: Workload
    var profile: HardwareProfile
    var policy: PolicyName
    var policyOptions: PolicyOptions
    var jitterCV: Double
    var jitterSeed: UInt64
    var metrics: MetricsOptions
    var output: String
    /// Show a progress line on stderr (only when it is a terminal).
    var progress: Bool
    var prefixCaching = false
    /// Only these requests are served (an oracle schedule); the others are rejected on arrival.
    var admitted: Set<Int>?
    /// Abort requests as soon as they can no longer meet their SLOs (an oracle schedule).
    var dropMissed = false

    struct Outcome {
        var summary: Summary
        var engine: SimulationDriver<SimulatedBackend>.Outcome
        var wallS: Double
    }

    func execute() throws -> Outcome {
        let engine = EngineCore(profile: profile, policy: policy.make(policyOptions, profile: profile), prefixCaching: prefixCaching)
        if let admitted { engine.admissionFilter = { admitted.contains($0.id) ? nil : FeasibleSchedule.notAdmitted } }
        var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile, jitterCV: jitterCV, seed: jitterSeed))
        driver.dropMissed = dropMissed
        // Jittered runs say so: they are not deterministic (`gate` gives them tolerances).
        var target = "engine:sim profile=\(profile.name) policy=\(policy.rawValue)"
        let ablations = policy == .accelgen ? policyOptions.accelgen.ablations : []
        if !ablations.isEmpty { target += " ablations=" + ablations.joined(separator: ",") }
        if jitterCV > 0 { target += " jitter_cv=\(jitterCV)" }
        let writer = try ResultsWriter(directory: output, run: RunInfo(target: target, workload: workload.header),
                                       options: metrics, withIterations: true)
        let requests = workload.requests.map(EngineRequest.init)
        let total = requests.count
        var done = 0
        let start = monotonicSeconds()
        var lastProgress = start
        let showProgress = progress && isatty(2) != 0
        var simNow = 0.0
        let outcome = try driver.run(requests, onIteration: { rec in
            try writer.appendIteration(rec.json())
            simNow = rec.startS + rec.durationS
            if showProgress {
                let t = monotonicSeconds()
                if t - lastProgress > 0.25 && t - start > 1 {
                    lastProgress = t
                    FileHandleWriter.write(String(format: "\r  %@: simulated %.0f s, %d/%d requests done, %d waiting   ",
                                                  policy.rawValue, simNow, done, total, rec.waiting), fd: 2)
                }
            }
        }, onDone: { r in
            done += 1
            try writer.append(r.record())
        }, shouldStop: { Interrupt.isRequested })
        if showProgress && monotonicSeconds() - start > 1 { FileHandleWriter.write("\r\u{1B}[K", fd: 2) }
        let summary = try writer.finish(runEndS: outcome.endS, interrupted: outcome.stopped,
                                        engineIterations: outcome.iterations, enginePreemptions: outcome.preemptions)
        return Outcome(summary: summary, engine: outcome, wallS: monotonicSeconds() - start)
    }
}
