import ArgumentParser
import BenchCore
import Benchmarks
import Engine
import Foundation
import Harness

/// Reproducible performance measurements of accelbench's own hot paths (release build).
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure accelbench's own speed: generation, metrics, scheduler steps and whole simulations.",
        subcommands: [GenerateBench.self, MetricsBench.self, SchedulerBench.self, SimulateBench.self, EndpointBench.self, ServeBench.self,
                      CPUBench.self])

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
            try guarded { for line in try SelfBenchmarks.generate(spec: spec, count: count, output: output, repetitions: repetitions) { print(line) } }
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
            try guarded { for line in try SelfBenchmarks.metrics(requests: requests, tokens: tokens, threads: threads, viaFile: viaFile) { print(line) } }
        }
    }
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
            try guarded { for line in try SelfBenchmarks.scheduler(policy: policy, running: running, waiting: waiting, steps: steps, waitingCandidates: waitingCandidates) { print(line) } }
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
            try guarded { for line in try SelfBenchmarks.simulate(spec: spec, policies: policies, profile: profile) { print(line) } }
        }
    }
}

extension Bench {
    /// The CPU backend's prefill and decode speed (issue 17's performance table; the peer is
    /// llama.cpp, `./run.sh interop cpu`).
    struct CPUBench: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "cpu",
            abstract: "Prefill and batched decode speed of the CPU engine's forward pass (no scheduler).",
            discussion: """
            Prefill: one sequence of P tokens in one forward pass from an empty cache, median over --reps after a \
            warm-up. Decode: B sequences of --context tokens, then --steps steps of one token per sequence in one \
            batched pass; median step time. scripts/interop/cpu_peer.py measures llama.cpp the same way.
            """)

        @Option(name: .long, help: "The model, a GGUF file (default: the shipped SmolLM2-135M).")
        var modelFile: String?
        @Option(name: .long, help: "Seeded random weights at a real architecture's shapes instead of a model file.")
        var syntheticWeights: String?
        @Option(name: .long, help: "OpenBLAS threads (default: every core).")
        var threads: Int?
        @Option(name: .long, help: "Prefill lengths, comma-separated.")
        var prefill = "128,512"
        @Option(name: .long, help: "Decode batch sizes, comma-separated.")
        var batches = "1,8,32"
        @Option(name: .long, help: "Context of each decoding sequence, tokens.")
        var context = 128
        @Option(name: .long, help: "Timed decode steps per batch size.")
        var steps = 32
        @Option(name: .long, help: "Timed prefill repetitions.")
        var reps = 5
        @Option(name: .long, help: "Iterations of at most this many tokens use the quantized kernels (default: the engine's).")
        var quantizedMaxRows: Int?
        @Flag(name: .long, help: "One JSON object per measurement (cpu_peer.py's shape).")
        var json = false

        func run() throws {
            try guarded {
                func list(_ s: String, _ flag: String) throws(BenchError) -> [Int] {
                    let v = s.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                    guard !v.isEmpty, v.allSatisfy({ $0 > 0 }) else { throw BenchError.usage("--\(flag): positive integers, comma-separated") }
                    return v
                }
                let threads = self.threads ?? ProcessInfo.processInfo.activeProcessorCount
                var b = CPUBenchmark(model: try ModelSource.resolve(modelFile: modelFile, syntheticWeights: syntheticWeights), threads: threads)
                b.prefillTokens = try list(prefill, "prefill")
                b.batches = try list(batches, "batches")
                guard context > 0, steps > 0, reps > 0 else { throw BenchError.usage("--context, --steps and --reps must be > 0") }
                b.context = context
                b.steps = steps
                b.repetitions = reps
                b.quantizedMaxRows = quantizedMaxRows
                for m in try b.run() { print(json ? CPUBenchmark.jsonLine(m, threads: threads) : CPUBenchmark.tableLine(m)) }
            }
        }
    }
}
