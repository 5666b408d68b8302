import ArgumentParser
import BenchCore
import Plotting

struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Draw figures of results and sweep directories with gnuplot.",
        discussion: """
        Figures: ttft-cdf, tbt-cdf (one panel per class, one line per run; dashed: the median of the class's \
        SLOs), timeline (engine iterations; from iterations.jsonl), gantt (per-request queueing and decoding), \
        policy-bars (two or more results directories: attainment and goodput per class, one bar per run), and \
        from sweep directories (with sweep.json) attainment-vs-rate, goodput-vs-rate, throughput-vs-rate. \
        Figures that do not apply to the inputs are skipped with a note. With several results directories, \
        timeline and gantt are drawn per run as timeline-RUN and gantt-RUN. Next to each figure DIR holds its \
        data (NAME.dat) and the filled-in script (NAME.gp): `cd DIR && gnuplot NAME.gp` draws it again. \
        gnuplot runs as a child process; if it fails, the message shows its error and the script's path (exit 74).
        """)

    @Argument(help: "Results directories (from `run`) and sweep directories (holding sweep.json).")
    var inputs: [String] = []

    @Option(name: [.short, .customLong("output")], help: "Directory for the figures, their data and scripts.")
    var output: String

    @Option(name: .long, help: "Image format: png, svg or pdf.")
    var format: PlotFormatArgument = .png

    @Option(name: .long, help: "Comma-separated figures to draw (default: every figure that applies).")
    var figures: String?

    @Option(name: .long, help: "START:END seconds shown by timeline and gantt (default: the whole run; gantt: the first 100 requests).")
    var window: String?

    @Option(name: .long, help: "Directory of templates (NAME.gp) to use instead of the built-in ones, file by file.")
    var templates: String?

    func validate() throws {
        guard !inputs.isEmpty else { throw ValidationError("give at least one results or sweep directory") }
        _ = try selection()
        _ = try parsedWindow()
        if let templates, !FileIO.isDirectory(templates) {
            throw ValidationError("--templates: '\(templates)' is not a directory")
        }
    }

    func selection() throws -> [Figure]? {
        guard let figures else { return nil }
        var out: [Figure] = []
        for name in figures.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let f = Figure(rawValue: name) else {
                throw ValidationError("--figures: unknown figure '\(name)'; valid: \(Figure.list)")
            }
            if !out.contains(f) { out.append(f) }
        }
        guard !out.isEmpty else { throw ValidationError("--figures: name at least one figure (\(Figure.list))") }
        return out
    }

    func parsedWindow() throws -> ClosedRange<Double>? {
        guard let window else { return nil }
        let parts = window.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let a = Double(parts[0]), let b = Double(parts[1]), a.isFinite, b.isFinite, a >= 0, a < b else {
            throw ValidationError("--window must be START:END in seconds with 0 ≤ START < END, e.g. 10:20")
        }
        return a...b
    }

    func run() throws {
        let selected = try selection()
        let window = try parsedWindow()
        try guarded {
            let (runs, sweeps) = try Plotter.loadInputs(inputs)
            for r in runs where r.recovered { print("note: \(r.directory): the run did not finish; reading its journal") }
            let plotter = Plotter(runs: runs, sweeps: sweeps, format: format.format, templates: PlotTemplates(overrideDirectory: templates),
                                  options: FigureOptions(window: window), gnuplot: try GnuplotRunner())
            let outcome = try plotter.render(into: output, selection: selected)
            for note in outcome.notes { print("note: \(note)") }
            for w in outcome.warnings { printError("warning: \(w)") }
            for f in outcome.figures { print("wrote \(f.image)") }
            if outcome.figures.isEmpty {
                throw BenchError.usage("no figure applies to these inputs (figures: \(Figure.list))")
            }
        }
    }
}

enum PlotFormatArgument: String, ExpressibleByArgument, CaseIterable {
    case png, svg, pdf
    var format: PlotFormat { PlotFormat(rawValue: rawValue)! }
}
