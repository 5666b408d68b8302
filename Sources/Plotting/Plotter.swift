import BenchCore
import Foundation
import Reporting

/// A figure written to the output directory, with the files that make it.
public struct RenderedFigure: Sendable, Equatable {
    public var figure: Figure
    public var name: String
    public var image: String
    public var script: String
    public var data: String
}

public struct PlotOutcome: Sendable {
    public var figures: [RenderedFigure]
    /// One line per figure (or per run of a per-run figure) left out, and why.
    public var notes: [String]
    /// gnuplot's warnings on figures it still drew.
    public var warnings: [String]
}

/// Turns results and sweep directories into figures: for each figure that applies, a data file,
/// the filled-in script and the image, all in one directory, so `cd DIR && gnuplot NAME.gp`
/// draws the same image again.
public struct Plotter {
    public var runs: [RunInput]
    public var sweeps: [SweepInput]
    public var format: PlotFormat
    public var templates: PlotTemplates
    public var options: FigureOptions
    public var gnuplot: GnuplotRunner

    public init(runs: [RunInput], sweeps: [SweepInput], format: PlotFormat = .png, templates: PlotTemplates = .init(),
                options: FigureOptions = .init(), gnuplot: GnuplotRunner) {
        self.runs = runs
        self.sweeps = sweeps
        self.format = format
        self.templates = templates
        self.options = options
        self.gnuplot = gnuplot
    }

    /// Loads each path as a sweep directory (it holds `sweep.json`) or a results directory, and
    /// gives the runs and the sweeps labels that are unique among them.
    public static func loadInputs(_ paths: [String]) throws(BenchError) -> (runs: [RunInput], sweeps: [SweepInput]) {
        var runs: [RunInput] = []
        var sweeps: [SweepInput] = []
        for p in paths {
            if SweepInput.isSweep(p) { sweeps.append(try SweepInput.load(p)) } else { runs.append(try RunInput.load(p)) }
        }
        let runLabels = RunLabels.assign(runs.map { ($0.run.target, $0.directory) })
        for i in runs.indices { runs[i].label = runLabels[i] }
        let sweepLabels = RunLabels.assign(sweeps.map { ($0.target, $0.directory) })
        for i in sweeps.indices { sweeps[i].label = sweepLabels[i] }
        return (runs, sweeps)
    }

    /// Draws `selection` (nil: every figure) into `directory`.
    public func render(into directory: String, selection: [Figure]? = nil) throws(BenchError) -> PlotOutcome {
        try FileIO.makeDirectories(directory)
        var jobs: [FigureJob] = []
        var notes: [String] = []
        let perRunSuffix = runs.count > 1
        for figure in selection ?? Figure.allCases {
            switch figure {
            case .ttftCDF, .tbtCDF:
                if runs.isEmpty { notes.append("\(figure.rawValue): skipped: needs a results directory"); continue }
                if let job = FigureBuilder.cdf(figure, runs: runs, options: options) { jobs.append(job) } else {
                    notes.append("\(figure.rawValue): skipped: no completed request has a positive value to draw")
                }
            case .attainmentVsRate, .goodputVsRate, .throughputVsRate:
                if sweeps.isEmpty { notes.append("\(figure.rawValue): skipped: needs a sweep directory (with sweep.json)"); continue }
                let job: FigureJob? = switch figure {
                case .attainmentVsRate: FigureBuilder.attainmentVsRate(sweeps)
                case .goodputVsRate: FigureBuilder.goodputVsRate(sweeps)
                default: FigureBuilder.throughputVsRate(sweeps)
                }
                if let job { jobs.append(job) } else { notes.append("\(figure.rawValue): skipped: the sweeps have no points") }
            case .timeline, .gantt:
                if runs.isEmpty { notes.append("\(figure.rawValue): skipped: needs a results directory"); continue }
                for run in runs {
                    let name = perRunSuffix ? figure.rawValue + "-" + Plotter.slug(run.label) : figure.rawValue
                    let job = figure == .timeline ? FigureBuilder.timeline(run, name: name, options: options)
                                                  : FigureBuilder.gantt(run, name: name, options: options)
                    if let job { jobs.append(job); continue }
                    if figure == .timeline && run.iterations == nil {
                        notes.append("timeline: skipped for \(run.label): no \(ResultsFiles.iterations) (only engine runs write one)")
                    } else {
                        notes.append("\(figure.rawValue): skipped for \(run.label): nothing in the window")
                    }
                }
            case .serverMetrics:
                if runs.isEmpty { notes.append("server-metrics: skipped: needs a results directory"); continue }
                for run in runs {
                    let name = perRunSuffix ? figure.rawValue + "-" + Plotter.slug(run.label) : figure.rawValue
                    if let job = FigureBuilder.serverMetrics(run, name: name, options: options) { jobs.append(job); continue }
                    notes.append(run.serverMetrics == nil
                                 ? "server-metrics: skipped for \(run.label): no \(ResultsFiles.serverMetrics) (run --endpoint … --server-metrics writes one)"
                                 : "server-metrics: skipped for \(run.label): no successful scrape in the window")
                }
            case .policyBars:
                if runs.count < 2 { notes.append("policy-bars: skipped: needs two or more results directories"); continue }
                if let job = FigureBuilder.policyBars(runs) { jobs.append(job) }
            }
        }
        var rendered: [RenderedFigure] = []
        var warnings: [String] = []
        for job in jobs {
            let (figure, w) = try render(job, into: directory)
            rendered.append(figure)
            warnings += w.map { "\(job.name): gnuplot: \($0)" }
        }
        return PlotOutcome(figures: rendered, notes: notes, warnings: warnings)
    }

    func render(_ job: FigureJob, into directory: String) throws(BenchError) -> (RenderedFigure, [String]) {
        let dataName = job.name + ".dat"
        let scriptName = job.name + ".gp"
        let imageName = job.name + "." + format.fileExtension
        let (template, source) = try templates.template(for: job.figure.rawValue)
        var values = job.values
        values["TERMINAL"] = format.terminal(width: job.width, height: job.height)
        values["OUTPUT"] = imageName
        values["DATA"] = dataName
        let script = try PlotTemplates.fill(template, values: values, source: source)
        let dir = directory.hasSuffix("/") ? String(directory.dropLast()) : directory
        let imagePath = dir + "/" + imageName
        try FileIO.writeAtomically(Array(job.data.utf8), to: dir + "/" + dataName)
        try FileIO.writeAtomically(Array(script.utf8), to: dir + "/" + scriptName)
        // A figure left by an earlier plot must not pass for this one.
        if FileIO.exists(imagePath) { try FileIO.removeFile(imagePath) }
        let outcome: GnuplotRunner.Outcome
        do {
            outcome = try gnuplot.run(script: script, in: dir, scriptPath: dir + "/" + scriptName)
        } catch {
            // Name the template too: the fix belongs there, not in the filled-in copy.
            guard case .io(let path, let message) = error else { throw error }
            throw BenchError.io(path, message + "\n  (the script was filled in from the template \(source))")
        }
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: imagePath),
              let size = attrs[.size] as? NSNumber, size.intValue > 0 else {
            throw BenchError.io(dir + "/" + scriptName, "gnuplot reported success but wrote no \(imageName)")
        }
        return (RenderedFigure(figure: job.figure, name: job.name, image: imagePath, script: dir + "/" + scriptName,
                               data: dir + "/" + dataName), outcome.warnings)
    }

    /// A file-name-safe form of a label: letters, digits, `.`, `_` and `-`; others become `-`.
    public static func slug(_ label: String) -> String {
        var out = ""
        for ch in label {
            if ch.isASCII && (ch.isLetter || ch.isNumber || ch == "." || ch == "_" || ch == "-") { out.append(ch) } else if out.last != "-" { out.append("-") }
        }
        while out.hasSuffix("-") { out.removeLast() }
        while out.hasPrefix("-") || out.hasPrefix(".") { out.removeFirst() }
        return out.isEmpty ? "run" : out
    }
}
