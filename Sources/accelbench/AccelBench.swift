import ArgumentParser
import BenchCore

@main
struct AccelBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "accelbench",
        abstract: "Benchmark and load generation for LLM inference serving under heterogeneous SLOs.",
        discussion: """
        Exit codes: 0 ok; 2 gate regression; 3 run invalid; 4 gate improvement only; 5 baseline missing;
        64 usage error; 65 bad input data; 74 I/O error; 130 interrupted by SIGINT, 143 by SIGTERM (partial results written).
        """,
        version: generatorVersionString,
        subcommands: [Generate.self, WorkloadCommand.self, Run.self, Compare.self, Report.self, PlotCommand.self, ExportCommand.self, MergeCommand.self, K8sCommand.self, OracleCommand.self, GateCommand.self, SweepCommand.self, ClusterCommand.self, ProfileCommand.self, MockServerCommand.self, ServeCommand.self, Bench.self]
    )
}

let generatorVersionString = "0.1.0"

/// Runs a command body, turning `BenchError` into a one-line message and its exit code.
func guarded(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let e as BenchError {
        printError("accelbench: \(e)")
        throw ExitCode(e.exitCode)
    } catch let e as BenchExit {
        throw ExitCode(e.code)
    }
}

func printError(_ s: String) {
    var err = StandardError()
    print(s, to: &err)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        FileHandleWriter.write(string, fd: 2)
    }
}

enum FileHandleWriter {
    static func write(_ s: String, fd: Int32) {
        let bytes = Array(s.utf8)
        try? FileIO.writeAll(fd, bytes, path: fd == 2 ? "<stderr>" : "<stdout>")
    }
}
