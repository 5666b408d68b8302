import ArgumentParser
import BenchCore
import Workloads

/// Overrides of a spec's seed, rate and size; shared by `generate` and (later) `sweep`.
struct GenerationFlags: ParsableArguments {
    @Option(name: .long, help: "Seed (default: the spec's 'seed', else 0). Same spec + seed → byte-identical file.")
    var seed: UInt64?

    // `.unconditional`: a negative number is the value (so `--rate -2` gets validate's message), not a flag.
    @Option(name: .long, parsing: .unconditional, help: "Total mean offered rate in requests/s; every arrival process is scaled, other draws kept.")
    var rate: Double?

    @Option(name: .long, parsing: .unconditional, help: "Number of requests (at most 100,000,000).")
    var count: Int?

    @Option(name: .long, parsing: .unconditional, help: "Generate arrivals in [0, S) seconds.")
    var duration: Double?

    func validate() throws {
        if count != nil && duration != nil { throw ValidationError("give --count or --duration, not both") }
        if let count, count <= 0 { throw ValidationError("--count must be > 0") }
        if let duration, !(duration > 0) || !duration.isFinite { throw ValidationError("--duration must be > 0 seconds") }
        if let rate, !(rate > 0) || !rate.isFinite { throw ValidationError("--rate must be > 0 requests/s") }
    }

    var options: GenerateOptions {
        GenerateOptions(seed: seed, rate: rate, count: count, durationS: duration)
    }
}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a workload file (JSONL) from a YAML spec.",
        discussion: "The output is written atomically: on any error no file is left behind.")

    @Argument(help: "Workload spec (YAML), e.g. workloads/mixed-slo.yaml.")
    var spec: String

    @Option(name: .shortAndLong, help: "Output workload file (JSONL).")
    var output: String

    @OptionGroup var generation: GenerationFlags

    @Flag(name: .long, help: "Print the workload's statistics after writing it.")
    var stats = false

    func run() throws {
        try guarded {
            let parsed = try WorkloadSpec.load(path: spec)
            let workload = try WorkloadGenerator(spec: parsed, specFile: spec).generate(generation.options)
            try FileIO.writeAtomically(workload.encoded(), to: output)
            print("wrote \(workload.requests.count) requests to \(output)")
            if stats { print(WorkloadStats(workload).table(), terminator: "") }
        }
    }
}
