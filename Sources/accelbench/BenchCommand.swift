import ArgumentParser
import BenchCore
import Dispatch
import Reporting
import Workloads
import Foundation
import Engine
import Harness
#if canImport(Glibc)
import Glibc
#endif

/// Reproducible performance measurements of accelbench's own hot paths (release build).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure accelbench's own speed: generation, metrics, scheduler steps and whole simulations.",
        subcommands: [GenerateBench.self, MetricsBench.self, SchedulerBench.self, SimulateBench.self, EndpointBench.self, ServeBench.self])

    struct GenerateBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate",
            abstract: "Time generating COUNT requests from a spec and writing the file.")

        @Option(name: .long, help: "Spec to generate from.")
        var spec = "workloads/mixed-slo.yaml"

        @Option(name: .long, help: "Requests to generate.")
        var count = 1_000_000

        @Option(name: .long, help: "Where to write the workload (default: a temporary file, removed after).")
        var output: String?

        @Option(name: .customLong("repeat"), help: "Repetitions; the best and median wall times are reported.")
        var repetitions: Int = 3

        func run() throws {
            try guarded {
                let out = output ?? "/tmp/accelbench-bench-\(getpid()).jsonl"
                var times: [Double] = []
                var bytes = 0
                for _ in 0..<max(1, repetitions) {
                    let t0 = monotonicSeconds()
                    let parsed = try WorkloadSpec.load(path: spec)
                    let workload = try WorkloadGenerator(spec: parsed, specFile: spec).generate(GenerateOptions(count: count))
                    let encoded = workload.encoded()
                    try FileIO.writeAtomically(encoded, to: out)
                    times.append(monotonicSeconds() - t0)
                    bytes = encoded.count
                }
                if output == nil { try? FileIO.removeFile(out) }
                report(name: "generate \(count) requests from \(spec)", times: times,
                       extra: "file \(bytes / 1_000_000) MB")
            }
        }
    }

    struct MetricsBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "metrics",
            abstract: "Time the metrics path over synthetic run records (REQUESTS × TOKENS token times).",
            discussion: """
            Records are synthesised from a seeded generator inside the timed region (so the figure includes making
            them) and streamed through the same accumulator 'report' uses, split over --threads workers and merged.
            With --via-file DIR the records are first written as a results directory and the timed region is
            'report' reading and summarising it.
            """)

        @Option(name: .long, help: "Requests.")
        var requests = 1_000_000

        @Option(name: .long, help: "Output tokens per request.")
        var tokens = 200

        @Option(name: .long, help: "Worker threads.")
        var threads = 2

        @Option(name: .long, help: "Write a results directory here first and time reading it back.")
        var viaFile: String?

        func run() throws {
            try guarded {
                let options = MetricsOptions()
                if let dir = viaFile {
                    let writer = try ResultsWriter(directory: dir, run: RunInfo(target: "bench:synthetic"))
                    for i in 0..<requests { try writer.append(synthesize(i)) }
                    try writer.finish()
                    let t0 = monotonicSeconds()
                    let summary = try ResultsReader(directory: dir).summarize(options: options)
                    let dt = monotonicSeconds() - t0
                    report(name: "report over \(requests) × \(tokens) tokens from \(dir)", times: [dt],
                           extra: "attainment \(summary.overall.attainment.overall)")
                    return
                }
                let t0 = monotonicSeconds()
                let parts = max(1, threads)
                let results = WorkerSlots<MetricsAccumulator>(count: parts)
                let n = requests
                DispatchQueue.concurrentPerform(iterations: parts) { p in
                    var acc = MetricsAccumulator(options: options, classes: ["chat", "batch"])
                    var i = p * n / parts
                    let end = (p + 1) * n / parts
                    while i < end {
                        acc.add(synthesize(i))
                        i += 1
                    }
                    results.set(p, acc)
                }
                var total = MetricsAccumulator(options: options, classes: ["chat", "batch"])
                for acc in results.values { total.merge(acc!) }
                let summary = try total.finish()
                let dt = monotonicSeconds() - t0
                report(name: "metrics over \(requests) requests × \(tokens) tokens, \(parts) threads", times: [dt],
                       extra: "tbt samples \(summary.overall.tbt?.count ?? 0), attainment \(String(format: "%.4f", summary.overall.attainment.overall))")
            }
        }

        /// A deterministic record: Poisson-like arrivals at 100 req/s, a TTFT of 50–550 ms,
        /// and token gaps of 20–60 ms with an occasional 300 ms stall.
        func synthesize(_ i: Int) -> RequestRecord {
            var rng = SeededRNG(seed: 7, stream: 1, index: UInt64(i))
            let intended = Double(i) / 100
            let first = intended + 0.05 + 0.5 * rng.uniform()
            var times = [Double](repeating: 0, count: tokens)
            var t = first
            for k in 0..<tokens {
                if k > 0 { t += rng.uniform() < 0.01 ? 0.3 : 0.02 + 0.04 * rng.uniform() }
                times[k] = t
            }
            let batch = i % 5 == 0
            let slo = batch ? SLO(jctS: 30) : SLO(ttftMs: 400, tbtMs: 100)
            let failed = i % 97 == 0
            return RequestRecord(id: i, className: batch ? "batch" : "chat", intendedS: intended, sentS: intended,
                                 firstTokenS: failed ? nil : first, tokenTimesS: failed ? [] : times, doneS: failed ? nil : t,
                                 status: failed ? "http_500" : "ok", promptTokens: 1000, outputTokens: failed ? 0 : tokens,
                                 tokenCountSource: .synthetic, slo: slo, metSLO: false)
        }
    }
}

/// Peak resident memory of this process in MB (getrusage reports kB on Linux).
func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_maxrss) / 1024
}

func report(name: String, times: [Double], extra: String) {
    let sorted = times.sorted()
    let median = sorted[sorted.count / 2]
    print(String(format: "%@: best %.3f s, median %.3f s over %d run(s); peak RSS %.0f MB; %@",
                 name, sorted[0], median, sorted.count, peakRSSMegabytes(), extra))
}

extension Bench {
    /// One scheduler step at a large queue, as the engine issue's target states it.
    struct SchedulerBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "scheduler",
            abstract: "Time one scheduling step with RUNNING decoding requests and WAITING queued ones (median over STEPS).",
            discussion: """
            The running requests decode with 1–2k-token contexts and TBT SLOs; the waiting ones are a mix of \
            interactive and offline requests. max_num_seqs is set to RUNNING, so the queue stays as large as \
            asked. Each step is timed from schedule(now:) to its return; the iteration is then applied \
            (untimed) so the state moves on as in a run.
            """)

        @Option(name: .long, help: "Policy to time.")
        var policy = "accelgen"
        @Option(name: .long, help: "Running (decoding) requests.")
        var running = 256
        @Option(name: .long, help: "Waiting requests.")
        var waiting = 10_000
        @Option(name: .long, help: "Timed steps.")
        var steps = 1000
        @Option(name: .long, help: "accelgen: waiting requests examined per step.")
        var waitingCandidates = 32

        func run() throws {
            try guarded {
                let name = try PolicyName.parse(policy)
                var profile = try HardwareProfile.builtin(HardwareProfile.defaultName)
                profile.kvCapacityBlocks = 1_000_000  // room for every running request: no preemption noise
                var options = PolicyOptions()
                options.maxNumSeqs = running
                options.vllmMaxNumSeqs = running
                options.accelgen.waitingCandidates = waitingCandidates
                let engine = EngineCore(profile: profile, policy: name.make(options, profile: profile))
                var rng = SeededRNG(seed: 1)
                // Running: admit and prefill them in bulk first.
                var now = 0.0
                // Prompts of 500–1,500 tokens and outputs up to the context: none finishes within the timed steps.
                let context = profile.model.maxContextTokens
                guard steps < context - 1500 else { throw BenchError.usage("--steps must be below \(context - 1500) (requests would finish)") }
                let runners = (0..<running).map { i in
                    let prompt = 500 + rng.index(below: 1000)
                    return EngineRequest(id: i, className: "chat", arrivalS: 0, promptTokens: prompt,
                                         maxOutputTokens: context - prompt, slo: SLO(ttftMs: 1000, tbtMs: 100 + 100 * rng.uniform()))
                }
                for r in runners where engine.add(r, now: now) != nil { throw BenchError.usage("a running request was rejected") }
                var backend = SimulatedBackend(profile: profile)
                var warmup = 0
                while engine.running.count < running || engine.running.contains(where: { $0.phase != .decoding }) {
                    warmup += 1
                    if warmup > 100_000 { throw BenchError.usage("could not bring \(running) requests to decoding") }
                    guard let step = engine.step(now: now, backend: &backend) else { throw BenchError.usage("the policy planned nothing") }
                    now = step.endS
                }
                for i in 0..<waiting {
                    let offline = i % 4 == 0
                    let r = EngineRequest(id: running + i, className: offline ? "batch" : "chat", arrivalS: now,
                                          promptTokens: 100 + rng.index(below: 3000), maxOutputTokens: 100 + rng.index(below: 500),
                                          slo: offline ? SLO(jctS: 600) : SLO(ttftMs: 1000 + 4000 * rng.uniform(), tbtMs: 100))
                    _ = engine.add(r, now: now)
                }
                var samples: [Double] = []
                samples.reserveCapacity(steps)
                for _ in 0..<steps {
                    // Timed from the step's start to its plan being formed (`startS` is read then).
                    let t0 = monotonicSeconds()
                    let begun = engine.beginStep(now: now, backend: &backend) {
                        samples.append(monotonicSeconds() - t0)
                        return now
                    }
                    guard let begun else { throw BenchError.usage("the policy planned nothing") }
                    now = engine.finishStep(begun, endS: begun.predictedEndS).endS
                }
                samples.sort()
                func us(_ q: Double) -> String { String(format: "%.1f", samples[min(samples.count - 1, Int(q * Double(samples.count)))] * 1e6) }
                print("scheduler step, policy \(name.rawValue), \(engine.running.count) running, \(engine.policy.waitingCount) waiting: median \(us(0.5)) µs, p90 \(us(0.9)) µs, p99 \(us(0.99)) µs over \(steps) steps")
            }
        }
    }

    /// Whole simulations of a workload per policy (the engine issue's speed target).
    struct SimulateBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "simulate",
            abstract: "Time simulating a workload with each policy: the engine and driver alone, then a full 'run' writing results.")

        @Option(name: .long, help: "Spec to generate the workload from.")
        var spec = "workloads/azure-conv.yaml"
        @Option(name: .long, help: "Comma-separated policies.")
        var policies = PolicyName.allCases.map(\.rawValue).joined(separator: ",")
        @Option(name: .long, help: "Profile.")
        var profile = HardwareProfile.defaultName

        func run() throws {
            try guarded {
                let prof = try HardwareProfile.resolve(profile)
                let parsed = try WorkloadSpec.load(path: spec)
                let workload = try WorkloadGenerator(spec: parsed, specFile: spec).generate()
                for p in policies.split(separator: ",") {
                    let name = try PolicyName.parse(String(p))
                    let engine = EngineCore(profile: prof, policy: name.make(PolicyOptions(), profile: prof))
                    var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: prof))
                    var records = 0
                    let t0 = monotonicSeconds()
                    let outcome = try driver.run(workload.requests.map(EngineRequest.init), onIteration: { _ in },
                                                 onDone: { r in records += r.record().tokenTimesS.isEmpty ? 0 : 1 })
                    let engineS = monotonicSeconds() - t0
                    let dir = "/tmp/accelbench-simulate-\(getpid())-\(name.rawValue)"
                    let full = try Harness.run(workload, on: EngineTarget(profile: prof, policy: name, policyOptions: PolicyOptions()), output: dir)
                    try? FileManager.default.removeItem(atPath: dir)
                    print(String(format: "%@: %d requests, %d iterations, simulated %.0f s: engine+driver %.2f s wall; full run writing results %.2f s wall; attainment %.1f%%",
                                 name.rawValue, workload.requests.count, outcome.iterations, outcome.endS, engineS, full.wallS,
                                 full.summary.overall.attainment.overall * 100))
                }
            }
        }
    }
}
