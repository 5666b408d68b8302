import ArgumentParser
import Benchmarks
import Engine

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
