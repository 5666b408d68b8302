import ArgumentParser
import BenchCore
import Cluster
import Engine
import Foundation
import Harness
import Reporting

struct ClusterCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster",
        abstract: "Run a workload on a simulated fleet of engine instances scaled by an autoscaler (Chiron or a baseline).",
        discussion: """
        Each instance is the bundled engine on the simulated GPU (--profile, --policy). A new instance serves \
        --startup-delay seconds after the autoscaler asks for it and is billed from that moment to its stop; \
        the fleet starts with --initial-instances (default --min-instances) warm instances. Requests wait in a \
        global queue until an instance has room (fewer than its batch size of requests held).
        Autoscalers: chiron (pools interactive/mixed/batch, local batch-size tuning from p99 TBT, global \
        scaling from a waiting-time bound on batch deadlines and interactive TTFT risk, hysteresis, batch \
        preemption from mixed instances), utilization (KV/load thresholds, SLO-blind), llumnix (average \
        freeness: scale up below 10, down above 60, every 10 s; dispatch to the freest instance), static \
        (fixed fleet). Writes the usual results directory (summary.json gains `cluster`) and timeline.jsonl: \
        scale events with their reasons, instances ready and stopped (with their GPU-seconds), batch-size \
        changes, evictions, and a sample of the pools every control interval.
        """)

    @OptionGroup var source: WorkloadFlags
    @OptionGroup var engine: EngineFlags

    @Option(name: .long, help: "Scheduling policy of every instance: \(PolicyName.list) (default sarathi: chunked prefill, as vLLM serves by default).")
    var policy = "sarathi"

    @OptionGroup var policyFlags: PolicyFlags

    @Option(name: .long, help: "Autoscaler: chiron, utilization, llumnix or static.")
    var autoscaler = "chiron"

    @Option(name: .long, help: "Fewest serving instances (≥ 1).")
    var minInstances = 1

    @Option(name: .long, help: "Most instances at once, loading ones included.")
    var maxInstances = 16

    @Option(name: .long, help: "Instances serving at t = 0 (default: --min-instances; static: the fleet).")
    var initialInstances: Int?

    @Option(name: .long, help: "Seconds from a scale-out decision to the instance serving (model load).")
    var startupDelay = 60.0

    @Option(name: .long, help: "Requests an instance holds at once (Chiron's local autoscaler tunes it from here).")
    var batchSize = 64

    @Option(name: .long, help: "Seconds between global autoscaler decisions.")
    var controlInterval = 10.0

    @Option(name: .long, help: "Seconds between Chiron's local batch-size decisions.")
    var localInterval = 2.0

    @OptionGroup var metrics: MetricsFlags

    @Option(name: .long, help: ArgumentHelp(
        "How requests.jsonl stores token times: delta (token_deltas_us: whole microseconds, the first since run start, then since the previous token) or absolute (token_times_s, as 'run' writes them).",
        discussion: "Both read back to the same times; delta is the default here because a fleet run emits hundreds of millions of tokens and it halves the file."))
    var tokenTimes: TokenTimesArgument = .delta

    @Flag(name: .long, help: ArgumentHelp(
        "Write summary.json, run.json and timeline.jsonl but no requests.jsonl.",
        discussion: "For large fleets whose per-token records are not wanted (a 1-hour, 100-instance run writes 3.7 GB of them). The summary is computed from every record as usual; report, plot and export need the records, and --cooldown needs them too."))
    var summaryOnly = false

    @Option(name: .shortAndLong, help: "Results directory (default: results/<workload>-cluster-<autoscaler>).")
    var output: String?

    @Flag(name: .long, help: "Print summary.json instead of tables.")
    var json = false

    func validate() throws {
        guard AutoscalerName(rawValue: autoscaler) != nil else {
            throw ValidationError("--autoscaler: '\(autoscaler)' is not one of \(AutoscalerName.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard minInstances >= 1 else { throw ValidationError("--min-instances must be ≥ 1") }
        guard maxInstances >= minInstances else { throw ValidationError("--max-instances must be ≥ --min-instances") }
        if let n = initialInstances, n < minInstances || n > maxInstances {
            throw ValidationError("--initial-instances must be between --min-instances and --max-instances")
        }
        guard startupDelay >= 0, startupDelay.isFinite else { throw ValidationError("--startup-delay must be ≥ 0 seconds") }
        if summaryOnly && metrics.cooldown > 0 {
            throw ValidationError("--summary-only cannot be used with --cooldown (the cool-down window needs the records)")
        }
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be ≥ 1") }
        guard controlInterval > 0, controlInterval.isFinite else { throw ValidationError("--control-interval must be > 0 seconds") }
        guard localInterval > 0, localInterval.isFinite else { throw ValidationError("--local-interval must be > 0 seconds") }
    }

    var fleetOptions: FleetOptions {
        var o = FleetOptions()
        o.minInstances = minInstances
        o.maxInstances = maxInstances
        o.initialInstances = initialInstances
        o.startupDelayS = startupDelay
        o.batchSize = batchSize
        o.controlIntervalS = controlInterval
        o.localIntervalS = localInterval
        return o
    }

    func run() throws {
        try guarded {
            if policyFlags.rejectHopeless || policyFlags.dropLost {
                throw BenchError.usage("--reject-hopeless and --drop-lost apply to run, sweep, compare and serve, not to cluster")
            }
            let name = AutoscalerName(rawValue: autoscaler)!
            let policyName = try PolicyName.parse(policy)
            let profile = try engine.resolveProfile()
            let commandStart = monotonicSeconds()
            let workload = try source.load()
            if let e = workload.sessionsUnsupported(by: "cluster") { throw e }
            Interrupt.install()
            let out = output ?? "results/\(source.label)-cluster-\(name.rawValue)"
            var target = FleetTarget(profile: profile, policy: policyName, policyOptions: policyFlags.options, autoscaler: name,
                                     options: fleetOptions)
            target.jitterCV = engine.jitterCV
            target.jitterSeed = engine.jitterSeed
            target.tokenTimes = tokenTimes.encoding
            target.summaryOnly = summaryOnly
            let result = try Harness.run(workload, on: target, output: out, metrics: metrics.options, shouldStop: { Interrupt.isRequested })
            let outcome = result.run.details.outcome
            if json {
                FileHandleWriter.write(String(decoding: result.summary.json(), as: UTF8.self), fd: 1)
            } else {
                print(result.summary.table(), terminator: "")
                print(String(format: "\n%@: %.3f GPU-hours, %d scale events, peak %d instances (%d started), %d evictions; "
                             + "simulated %.0f s (%d iterations, %.1f%% in settled decode stretches) in %.2f s wall, %.2f s with "
                             + "loading and writing. Results in %@ (timeline.jsonl: the fleet over time)",
                             name.rawValue, outcome.gpuSeconds / 3600, outcome.scaleEvents, outcome.peakInstances,
                             outcome.instancesStarted, outcome.evictions, outcome.endS, outcome.iterations,
                             100 * Double(outcome.settledIterations) / Double(max(1, outcome.iterations)),
                             result.run.details.simulationWallS, monotonicSeconds() - commandStart, out))
            }
            if outcome.stopped { throw BenchExit(code: Interrupt.exitCode) }
        }
    }
}
