import ArgumentParser
import BenchCore
import Reporting

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a results directory: tables per class and overall, or summary.json with --json.",
        discussion: """
        The summary is recomputed from requests.jsonl, so --tbt-mode, --warmup and --cooldown apply; with the
        defaults it equals the run's summary.json. A directory left by an interrupted run (requests.jsonl.partial)
        is read too and reported as interrupted.
        """)

    @Argument(help: "Results directory.")
    var directory: String

    @Flag(name: .long, help: "Print summary.json (schema accelbench.summary/1) instead of tables.")
    var json = false

    @OptionGroup var metrics: MetricsFlags

    func run() throws {
        try guarded {
            let reader = try ResultsReader(directory: directory)
            let summary = try reader.summarize(options: metrics.options)
            if json {
                FileHandleWriter.write(String(decoding: summary.json(), as: UTF8.self), fd: 1)
            } else {
                if reader.recovered { print("note: the run did not finish; reading its journal \(reader.requestsPath)") }
                print(summary.table(), terminator: "")
            }
        }
    }
}
