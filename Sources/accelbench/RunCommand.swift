import ArgumentParser
import BenchCore
import Engine
import Foundation
import Harness
import Oracle
import Reporting

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a workload against the bundled engine or a remote OpenAI-compatible endpoint and write a results directory.",
        discussion: """
        With no flags: generates workloads/mixed-slo.yaml and runs it on the default profile \
        (\(HardwareProfile.defaultName)) with the accelgen policy, into results/mixed-slo-accelgen.
        The simulated engine advances time by each iteration's predicted duration; tokens are emitted at
        iteration ends. Ctrl-C (or SIGTERM) stops at the next iteration and writes the results gathered so far (exit 130; 143 after SIGTERM).
        """)

    @OptionGroup var source: WorkloadFlags
    @OptionGroup var engine: EngineFlags
    @OptionGroup var remote: EndpointFlags

    @Option(name: .long, help: "Scheduling policy: \(PolicyName.list).")
    var policy = "accelgen"

    @OptionGroup var policyFlags: PolicyFlags
    @OptionGroup var metrics: MetricsFlags

    @Option(name: .shortAndLong, help: "Results directory (default: results/<workload>-<policy>).")
    var output: String?

    @Flag(name: .long, help: "Print summary.json instead of tables.")
    var json = false

    @Option(name: .long, help: "Execute a schedule written by `oracle --schedule-out` (its policy and admitted requests) on the simulated engine, and check that it reproduces the oracle's iterations exactly.")
    var replaySchedule: String?

    @Option(name: .customLong("repeat"), help: "Run the workload N times into OUTPUT/repeat-1..N and write OUTPUT/repeats.json; `gate` compares repeated runs with bootstrap confidence intervals. Engine runs give repeat i jitter seed --jitter-seed + i − 1.")
    var repeats = 1

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeat must be ≥ 1") }
        if repeats > 1 && replaySchedule != nil { throw ValidationError("--repeat and --replay-schedule do not go together") }
        if repeats > 1 && remote.endpoint == nil && engine.jitterCV == 0 {
            throw ValidationError("--repeat: the simulated engine without --jitter-cv gives identical runs; add --jitter-cv or repeat an --endpoint run")
        }
    }

    func run() throws {
        try guarded {
            if repeats > 1 { return try runRepeated() }
            if remote.endpoint != nil { return try runEndpoint() }
            if engine.engine == "cpu" { return try runCPU() }
            if engine.engine == "cuda" { return try runCUDA() }
            var policyName = try PolicyName.parse(policy)
            let profile = try engine.resolveProfile()
            let workload = try source.load()
            var replay: ScheduleFile?
            if let path = replaySchedule {
                let r = try ScheduleFile.read(path, workload: workload.header, profile: profile.name)
                if engine.jitterCV > 0 { throw BenchError.usage("--replay-schedule needs a deterministic engine (no --jitter-cv)") }
                policyName = r.policy
                replay = r
            }
            try policyFlags.check(policyName)
            Interrupt.install()
            let out = output ?? "results/\(source.label)-\(policyName.rawValue)"
            let progress = ProgressLine(label: policyName.rawValue, enabled: !json)
            var target = engine.target(policyName, policyFlags.options, profile: profile, progress: progress)
            target.admitted = replay.map { Set($0.admitted) }
            target.dropMissed = replay?.dropMissed ?? false
            let result = try Harness.run(workload, on: target, output: out, metrics: metrics.options, shouldStop: { Interrupt.isRequested })
            progress?.clear()
            if let replay, let path = replaySchedule {
                let digest = SHA256.hex(Array(try FileIO.readFile(out + "/iterations.jsonl")))
                if let why = replay.replayMismatch(iterationsSHA256: digest, metRequests: result.summary.overall.met) {
                    throw BenchError.data(path, why)
                }
                if !json { print("replayed \(path): identical iterations (sha256 \(digest.prefix(16))…), \(replay.metRequests) requests met") }
            }
            let e = result.run.details
            if json {
                FileHandleWriter.write(String(decoding: result.summary.json(), as: UTF8.self), fd: 1)
            } else {
                print(result.summary.table(), terminator: "")
                print(String(format: "\n%d iterations, %d preemptions; simulated %.1f s in %.2f s wall. Results in %@",
                             e.iterations, e.preemptions, e.endS, result.wallS, out))
            }
            if e.stopped { throw BenchExit(code: Interrupt.exitCode) }
            if !result.summary.valid { throw BenchExit(code: ExitCodes.invalidRun) }
        }
    }
}

extension Run {
    /// `--engine cpu`: the workload against the real model, in real time.
    func runCPU() throws {
        if replaySchedule != nil { throw BenchError.usage("--replay-schedule needs the simulated engine") }
        let policyName = try PolicyName.parse(policy)
        try policyFlags.check(policyName)
        let workload = try source.load()
        let progress = ProgressLine(label: "cpu \(policyName.rawValue)", enabled: !json)
        let target = try engine.cpuTarget(policyName, policyFlags.options, progress: progress)
        if !json { print("cpu engine: \(target.model.name), \(target.profile.kvCapacityBlocks) KV blocks of \(target.profile.blockSizeTokens) tokens (--kv-memory-gib \(engine.cpuKVMemoryGiB)), \(target.threads) threads") }
        try runReal(target, workload: workload, into: output ?? "results/\(source.label)-cpu-\(policyName.rawValue)", progress: progress)
    }

    /// `--engine cuda`: the workload against the real model on the GPU, in real time.
    func runCUDA() throws {
        if replaySchedule != nil { throw BenchError.usage("--replay-schedule needs the simulated engine") }
        let policyName = try PolicyName.parse(policy)
        try policyFlags.check(policyName)
        let workload = try source.load()
        let progress = ProgressLine(label: "cuda \(policyName.rawValue)", enabled: !json)
        let target = try engine.cudaTarget(policyName, policyFlags.options, progress: progress)
        if !json {
            let kv = Double(target.profile.kvCapacityBlocks * target.model.bytesPerBlock(blockSize: target.profile.blockSizeTokens)) / 1_073_741_824
            print("cuda engine: \(target.modelName) on \(target.device), \(target.profile.kvCapacityBlocks) KV blocks of \(target.profile.blockSizeTokens) tokens (\(String(format: "%.1f", kv)) GiB)")
        }
        try runReal(target, workload: workload, into: output ?? "results/\(source.label)-cuda-\(policyName.rawValue)", progress: progress)
    }

    /// A real engine's run: results, the summary, and the exit code (69 when the backend failed
    /// part-way: the results gathered until then are written).
    func runReal<T: RealModelTarget>(_ target: T, workload: Workload, into out: String, progress: ProgressLine?) throws {
        Interrupt.install()
        let result = try Harness.run(workload, on: target, output: out, metrics: metrics.options, shouldStop: { Interrupt.isRequested })
        progress?.clear()
        if json {
            FileHandleWriter.write(String(decoding: result.summary.json(), as: UTF8.self), fd: 1)
        } else {
            print(result.summary.table(), terminator: "")
            print(String(format: "\n%d iterations, %d preemptions; %.1f s of real time. Results in %@",
                         result.run.engineIterations ?? 0, result.run.enginePreemptions ?? 0, result.run.endS, out))
        }
        if let failure = result.run.details.backendFailure {
            throw BenchError.unavailable("the backend failed: \(failure); the results gathered until then are in \(out)")
        }
        if result.run.stopped { throw BenchExit(code: Interrupt.exitCode) }
        if !result.summary.valid { throw BenchExit(code: ExitCodes.invalidRun) }
    }

    var defaultEndpointOutput: String { "results/\(source.label)-" + HTTPTarget.directoryName(url: remote.endpoint!) }

    func runEndpoint() throws {
        var workload = try source.load()
        let segment = try remote.parsedSegment()
        if let segment { workload = workload.segment(segment) }
        Interrupt.install()
        let out = output ?? defaultEndpointOutput + (segment.map { "-segment-\($0.index)-of-\($0.count)" } ?? "")
        let target = HTTPTarget(options: try remote.options(), warmupRequests: remote.warmupRequests)
        let result = try Harness.run(workload, on: target, output: out, metrics: metrics.options, shouldStop: { Interrupt.isRequested })
        let e = result.run.details
        if json {
            FileHandleWriter.write(String(decoding: result.summary.json(), as: UTF8.self), fd: 1)
        } else {
            print(result.summary.table(), terminator: "")
            print(String(format: "\n%d requests sent; offered %.2f req/s, achieved %.2f; client thread %.0f%% of a core, preempted %d times. Results in %@",
                         e.dispatched, e.offeredRate, e.achievedRate, e.cpuShare * 100, e.preemptions, out))
            let versions = e.httpVersions.sorted { $0.key < $1.key }.map { "HTTP/\($0.key) \($0.value)" }
            if !versions.isEmpty { print("protocol: " + versions.joined(separator: ", ") + " (\(e.httpClient) client)") }
            if let m = e.serverMetrics { print("server metrics: " + m.line) }
            if let m = e.gpuMetrics { print("GPU metrics: " + m.line) }
            for n in e.telemetryNotes { print(n) }
        }
        if e.stopped { throw BenchExit(code: Interrupt.exitCode) }
        if !result.summary.valid { throw BenchExit(code: ExitCodes.invalidRun) }
    }
}

extension Run {
    /// `--repeat N`: the same workload N times, each into its own results directory, then
    /// `repeats.json` naming them and a table of each metric's mean with its bootstrap interval.
    func runRepeated() throws {
        let workload = try source.load()
        Interrupt.install()
        var progress: ProgressLine?
        func repeated<T: RunTarget>(into out: String, _ target: @escaping (Int) -> T) throws -> (summaries: [Summary], stopped: Bool) {
            let o = try RepeatedRun(count: repeats, metrics: metrics.options, target: target).run(
                workload, output: out, shouldStop: { Interrupt.isRequested }) { i, r, path in
                    progress?.clear()
                    if !json { print(RepeatedRun<T>.line(i, of: repeats, r.summary, directory: path)) }
                }
            return (o.summaries, o.stopped)
        }
        let outcome: (summaries: [Summary], stopped: Bool)
        let out: String
        if remote.endpoint != nil {
            out = output ?? defaultEndpointOutput
            let options = try remote.options()
            outcome = try repeated(into: out) { _ in HTTPTarget(options: options, warmupRequests: remote.warmupRequests) }
        } else {
            let policyName = try PolicyName.parse(policy)
            try policyFlags.check(policyName)
            let profile = try engine.resolveProfile()
            out = output ?? "results/\(source.label)-\(policyName.rawValue)"
            outcome = try repeated(into: out) { i in
                progress = ProgressLine(label: policyName.rawValue, enabled: !json)
                return engine.target(policyName, policyFlags.options, profile: profile, jitterSeedOffset: UInt64(i - 1), progress: progress)
            }
        }
        if outcome.stopped { throw BenchExit(code: Interrupt.exitCode) }
        let parsed = try RepeatSet(directory: out).summaries
        if json {
            FileHandleWriter.write(String(decoding: try FileIO.readFile(out + "/" + RepeatSet.file), as: UTF8.self), fd: 1)
        } else {
            print(RepeatSet.table(parsed), terminator: "")
            print("\(repeats) runs in \(out) (\(RepeatSet.file)); gate them with `accelbench gate \(out) --baseline FILE`")
        }
        if outcome.summaries.contains(where: { !$0.valid }) { throw BenchExit(code: ExitCodes.invalidRun) }
    }
}

/// Ends a command with a given exit code after its output is written.
struct BenchExit: Error {
    var code: Int32
}
