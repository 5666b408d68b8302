import ArgumentParser
import BenchCore
import Engine
import Reporting
import Foundation

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a workload against the bundled engine or a remote OpenAI-compatible endpoint and write a results directory.",
        discussion: """
        With no flags: generates workloads/mixed-slo.yaml and runs it on the default profile \
        (\(HardwareProfile.defaultName)) with the accelgen policy, into results/mixed-slo-accelgen.
        The simulated engine advances time by each iteration's predicted duration; tokens are emitted at
        iteration ends. Ctrl-C stops at the next iteration and writes the results gathered so far (exit 130).
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
            var policyName = try PolicyName.parse(policy)
            let profile = try engine.resolveProfile()
            let workload = try source.load()
            var replay: ReplaySchedule?
            if let path = replaySchedule {
                let r = try ReplaySchedule.load(path, workload: workload.header, profile: profile.name)
                if engine.jitterCV > 0 { throw BenchError.usage("--replay-schedule needs a deterministic engine (no --jitter-cv)") }
                policyName = r.policy
                replay = r
            }
            Interrupt.install()
            let out = output ?? "results/\(source.label)-\(policyName.rawValue)"
            let result = try EngineRun(workload: workload, profile: profile, policy: policyName, policyOptions: policyFlags.options,
                                       jitterCV: engine.jitterCV, jitterSeed: engine.jitterSeed, metrics: metrics.options,
                                       output: out, progress: !json, prefixCaching: engine.prefixCaching,
                                       admitted: replay.map { Set($0.admitted) }, dropMissed: replay?.dropMissed ?? false).execute()
            if let replay {
                let digest = SHA256.hex(Array(try FileIO.readFile(out + "/iterations.jsonl")))
                guard digest == replay.iterationsSHA256, result.summary.overall.met == replay.metRequests else {
                    throw BenchError.data(replay.path, "the replay did not reproduce the schedule: iterations sha256 \(digest) (expected \(replay.iterationsSHA256)), \(result.summary.overall.met) requests met (expected \(replay.metRequests))")
                }
                if !json { print("replayed \(replay.path): identical iterations (sha256 \(digest.prefix(16))…), \(replay.metRequests) requests met") }
            }
            if json {
                FileHandleWriter.write(String(decoding: result.summary.json(), as: UTF8.self), fd: 1)
            } else {
                print(result.summary.table(), terminator: "")
                print(String(format: "\n%d iterations, %d preemptions; simulated %.1f s in %.2f s wall. Results in %@",
                             result.engine.iterations, result.engine.preemptions, result.engine.endS, result.wallS, out))
            }
            if result.engine.stopped { throw BenchExit(code: ExitCodes.interrupted) }
            if !result.summary.valid { throw BenchExit(code: ExitCodes.invalidRun) }
        }
    }
}

extension Run {
    var defaultEndpointOutput: String {
        let host = remote.endpoint!.replacingOccurrences(of: "://", with: "-").replacingOccurrences(of: "/", with: "_")
        return "results/\(source.label)-\(host)"
    }

    func runEndpoint() throws {
        let workload = try source.load()
        Interrupt.install()
        let out = output ?? defaultEndpointOutput
        let result = try EndpointRun(workload: workload, options: try remote.options(), warmupRequests: remote.warmupRequests,
                                     metrics: metrics.options, output: out).execute()
        if json {
            FileHandleWriter.write(String(decoding: result.summary.json(), as: UTF8.self), fd: 1)
        } else {
            print(result.summary.table(), terminator: "")
            let e = result.endpoint
            print(String(format: "\n%d requests sent; dispatch lag p50 %.3f ms, p99 %.3f ms, max %.3f ms; offered %.2f req/s, achieved %.2f; client thread %.0f%% of a core, preempted %d times. Results in %@",
                         e.dispatched, e.lagP50Ms, e.lagP99Ms, e.lagMaxMs, e.offeredRate, e.achievedRate, e.cpuShare * 100, e.preemptions, out))
            let versions = e.httpVersions.sorted { $0.key < $1.key }.map { "HTTP/\($0.key) \($0.value)" }
            if !versions.isEmpty { print("protocol: " + versions.joined(separator: ", ")) }
        }
        if result.endpoint.stopped { throw BenchExit(code: ExitCodes.interrupted) }
        if !result.summary.valid { throw BenchExit(code: ExitCodes.invalidRun) }
    }
}

extension Run {
    /// `--repeat N`: the same workload N times, each into its own results directory, then
    /// `repeats.json` naming them and a table of each metric's mean with its bootstrap interval.
    func runRepeated() throws {
        let workload = try source.load()
        Interrupt.install()
        let out: String
        var target = ""
        let engineProfile: HardwareProfile?
        let policyName: PolicyName?
        if remote.endpoint != nil {
            out = output ?? defaultEndpointOutput
            engineProfile = nil
            policyName = nil
        } else {
            policyName = try PolicyName.parse(policy)
            engineProfile = try engine.resolveProfile()
            out = output ?? "results/\(source.label)-\(policyName!.rawValue)"
        }
        try FileIO.makeDirectories(out)
        var summaries: [Summary] = []
        var dirs: [String] = []
        for i in 1...repeats {
            let dir = "repeat-\(i)"
            let path = out + "/" + dir
            let summary: Summary
            let stopped: Bool
            if let engineProfile, let policyName {
                let r = try EngineRun(workload: workload, profile: engineProfile, policy: policyName, policyOptions: policyFlags.options,
                                      jitterCV: engine.jitterCV, jitterSeed: engine.jitterSeed &+ UInt64(i - 1), metrics: metrics.options,
                                      output: path, progress: !json, prefixCaching: engine.prefixCaching).execute()
                summary = r.summary
                stopped = r.engine.stopped
            } else {
                let r = try EndpointRun(workload: workload, options: try remote.options(), warmupRequests: remote.warmupRequests,
                                        metrics: metrics.options, output: path).execute()
                summary = r.summary
                stopped = r.endpoint.stopped
            }
            target = summary.run.target
            summaries.append(summary)
            dirs.append(dir)
            if !json {
                print(String(format: "repeat %d/%d: attainment %.4f, goodput %.3f req/s, TTFT p99 %@ ms -> %@", i, repeats,
                             summary.overall.attainment.overall, summary.overall.goodputRequestsPerS,
                             summary.overall.ttft.map { String(format: "%.1f", $0.p99) } ?? "-", path))
            }
            if stopped {
                try RepeatSet.write(directory: out, target: target, runs: dirs)
                throw BenchExit(code: ExitCodes.interrupted)
            }
        }
        try RepeatSet.write(directory: out, target: target, runs: dirs)
        let parsed = try RepeatSet(directory: out).summaries
        if json {
            FileHandleWriter.write(String(decoding: try FileIO.readFile(out + "/" + RepeatSet.file), as: UTF8.self), fd: 1)
        } else {
            print(RepeatSet.table(parsed), terminator: "")
            print("\(repeats) runs in \(out) (\(RepeatSet.file)); gate them with `accelbench gate \(out) --baseline FILE`")
        }
        if summaries.contains(where: { !$0.valid }) { throw BenchExit(code: ExitCodes.invalidRun) }
    }
}

/// Ends a command with a given exit code after its output is written.
struct BenchExit: Error {
    var code: Int32
}

/// A schedule file written by `oracle --schedule-out`.
struct ReplaySchedule {
    var path: String
    var policy: PolicyName
    var admitted: [Int]
    var dropMissed: Bool
    var metRequests: Int
    var iterationsSHA256: String

    static func load(_ path: String, workload: WorkloadHeader, profile: String) throws(BenchError) -> ReplaySchedule {
        let text = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        let v: JSONValue
        do { v = try JSONParser.parse(text) } catch { throw BenchError.data(path, "not valid JSON: \(error)") }
        func str(_ k: String) throws(BenchError) -> String {
            guard case .string(let s)? = v[k] else { throw BenchError.data(path, "field '\(k)': missing or not a string") }
            return s
        }
        func int(_ k: String) throws(BenchError) -> Int {
            guard case .number(let d)? = v[k], d == d.rounded() else { throw BenchError.data(path, "field '\(k)': missing or not an integer") }
            return Int(d)
        }
        guard try str("schema") == "accelbench.schedule/1" else { throw BenchError.data(path, "field 'schema': not accelbench.schedule/1") }
        guard try str("spec_digest") == workload.specDigest, try int("seed") == Int(workload.seed), try int("count") == workload.count else {
            throw BenchError.data(path, "the schedule is for another workload (spec digest, seed or count differ)")
        }
        guard try str("profile") == profile else { throw BenchError.data(path, "the schedule is for profile '\((try? str("profile")) ?? "?")', not '\(profile)'") }
        let policy = try PolicyName.parse(try str("policy"))
        guard case .array(let ids)? = v["admitted"] else { throw BenchError.data(path, "field 'admitted': missing or not an array") }
        var admitted: [Int] = []
        for x in ids {
            guard case .number(let d) = x, d == d.rounded() else { throw BenchError.data(path, "field 'admitted': not an array of request ids") }
            admitted.append(Int(d))
        }
        var dropMissed = false
        switch v["drop_missed"] {
        case nil: break
        case .bool(let b)?: dropMissed = b
        default: throw BenchError.data(path, "field 'drop_missed': not a boolean")
        }
        return ReplaySchedule(path: path, policy: policy, admitted: admitted, dropMissed: dropMissed, metRequests: try int("met_requests"),
                              iterationsSHA256: try str("iterations_sha256"))
    }
}
