import ArgumentParser
import BenchCore
import Workloads

struct WorkloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workload",
        abstract: "Inspect workload files.",
        subcommands: [Stats.self])

    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Per-class counts, rates, burstiness, length percentiles and SLO ranges of a workload file.")

        @Argument(help: "Workload file (JSONL) written by 'accelbench generate'.")
        var file: String

        @Flag(name: .long, help: "Print JSON instead of a table.")
        var json = false

        func run() throws {
            try guarded {
                let workload = try Workload.decode(try FileIO.readFile(file), file: file)
                let stats = WorkloadStats(workload)
                print(json ? stats.json() : stats.table(), terminator: json ? "\n" : "")
            }
        }
    }
}
