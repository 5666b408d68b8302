import ArgumentParser
import BenchCore
import Reporting

struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Convert a results directory into vLLM bench, AIPerf or CSV result files for other tools' dashboards.",
        discussion: """
        vllm-bench: the result JSON of `vllm bench serve --save-result --save-detailed` (default DIR/export/vllm-bench.json). \
        aiperf: AIPerf 0.13's export directory, profile_export.jsonl, profile_export_aiperf.json and .csv \
        (default DIR/export/aiperf/). csv: one row per request with a header row, RFC 4180 (default DIR/export/requests.csv). \
        The vLLM and AIPerf files time requests as those tools do, from the send (sent_s) to streamed chunks; \
        accelbench's own summary counts TTFT from the intended time. Goodput fields carry accelbench's SLO goodput. \
        Every request is exported (no --warmup/--cooldown window). Metrics accelbench does not measure (HTTP timings, \
        generated texts) are left out. See docs/reports.md, "Exports".
        """)

    @Argument(help: "Results directory (with requests.jsonl).")
    var directory: String

    @Option(name: .long, help: "Output format: vllm-bench, aiperf or csv.")
    var format: ExportFormat

    @Option(name: [.short, .customLong("output")], help: "Output file (a directory for aiperf); default under DIR/export/.")
    var output: String?

    func validate() throws {
        if let output, output.isEmpty { throw ValidationError("-o/--output must not be empty") }
    }

    func run() throws {
        try guarded {
            let source = try ExportSource(directory: directory)
            if source.recovered { print("note: the run did not finish; exporting its journal \(directory)/requests.jsonl.partial") }
            let path = output ?? directory + "/" + format.defaultRelativePath
            let written = try Export.write(format, source: source, to: path)
            print("exported \(source.records.count) requests from \(directory) as \(format.rawValue): \(written.joined(separator: ", "))")
        }
    }
}

extension ExportFormat: ExpressibleByArgument {}
