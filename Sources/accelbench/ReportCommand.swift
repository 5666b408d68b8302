import ArgumentParser
import BenchCore
import Plotting
import Reporting

struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Summarise a results directory: tables per class and overall, or summary.json with --json.",
        discussion: """
        The summary is recomputed from requests.jsonl, so --tbt-mode, --warmup and --cooldown apply; with the
        defaults it equals the run's summary.json. A directory left by an interrupted run (requests.jsonl.partial)
        is read too and reported as interrupted.
        --html FILE also writes one self-contained HTML page: the tables, the run's facts and its figures
        (ttft-cdf, tbt-cdf, timeline, gantt) as inline SVG drawn by gnuplot. DIR may also be a sweep directory
        (with sweep.json): the page then has a table of its points and the rate figures, and the points are printed.
        """)

    @Argument(help: "Results directory (or, with --html, a sweep directory).")
    var directory: String

    @Flag(name: .long, help: "Print summary.json (schema accelbench.summary/1) instead of tables.")
    var json = false

    @Option(name: .long, help: "Also write a self-contained HTML report (tables, run facts, figures as inline SVG) to FILE.")
    var html: String?

    @OptionGroup var metrics: MetricsFlags

    func run() throws {
        try guarded {
            if SweepInput.isSweep(directory) {
                try sweepReport()
                return
            }
            let reader = try ResultsReader(directory: directory)
            let summary = try reader.summarize(options: metrics.options)
            if json {
                FileHandleWriter.write(String(decoding: summary.json(), as: UTF8.self), fd: 1)
            } else {
                if reader.recovered { print("note: the run did not finish; reading its journal \(reader.requestsPath)") }
                print(summary.table(), terminator: "")
            }
            if let html {
                let (runs, _) = try Plotter.loadInputs([directory])
                let (figures, notes) = try HTMLReport.figures(runs: runs, sweeps: [], selection: [.ttftCDF, .tbtCDF, .timeline, .gantt],
                                                              templates: PlotTemplates(), gnuplot: try GnuplotRunner())
                let page = HTMLReport.results(summary: summary, directory: directory, recovered: reader.recovered, figures: figures, notes: notes)
                try FileIO.writeAtomically(Array(page.utf8), to: html)
                print("wrote \(html)")
            }
        }
    }

    /// A sweep directory: its points as a table, and the HTML page when asked for.
    private func sweepReport() throws(BenchError) {
        let (_, sweeps) = try Plotter.loadInputs([directory])
        let sweep = sweeps[0]
        if json { throw BenchError.usage("--json reads a results directory; \(directory) is a sweep directory") }
        print(sweep.table(), terminator: "")
        if let html {
            let (figures, notes) = try HTMLReport.figures(runs: [], sweeps: sweeps, selection: [.attainmentVsRate, .goodputVsRate, .throughputVsRate],
                                                          templates: PlotTemplates(), gnuplot: try GnuplotRunner())
            try FileIO.writeAtomically(Array(HTMLReport.sweep(sweep, figures: figures, notes: notes).utf8), to: html)
            print("wrote \(html)")
        }
    }
}
