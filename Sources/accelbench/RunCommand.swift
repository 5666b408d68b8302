import ArgumentParser
import BenchCore
import Engine
import Reporting

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

    func run() throws {
        try guarded {
            if remote.endpoint != nil { return try runEndpoint() }
            let policyName = try PolicyName.parse(policy)
            let profile = try engine.resolveProfile()
            let workload = try source.load()
            Interrupt.install()
            let out = output ?? "results/\(source.label)-\(policyName.rawValue)"
            let result = try EngineRun(workload: workload, profile: profile, policy: policyName, policyOptions: policyFlags.options,
                                       jitterCV: engine.jitterCV, jitterSeed: engine.jitterSeed, metrics: metrics.options,
                                       output: out, progress: !json, prefixCaching: engine.prefixCaching).execute()
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
    func runEndpoint() throws {
        let workload = try source.load()
        Interrupt.install()
        let host = remote.endpoint!.replacingOccurrences(of: "://", with: "-").replacingOccurrences(of: "/", with: "_")
        let out = output ?? "results/\(source.label)-\(host)"
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

/// Ends a command with a given exit code after its output is written.
struct BenchExit: Error {
    var code: Int32
}

import Foundation
