import BenchCore
import Foundation
import Reporting

/// One self-contained HTML page per results or sweep directory: tables, run facts and the
/// figures as inline SVG. No external files, fonts or scripts, so the page can be mailed or
/// attached to a CI run and still show everything.
public enum HTMLReport {
    /// Renders the figures that apply to the inputs as SVG in a temporary directory and returns
    /// their markup (ids made unique per figure) in figure order, with the skip notes.
    public static func figures(runs: [RunInput], sweeps: [SweepInput], selection: [Figure], templates: PlotTemplates,
                               options: FigureOptions = .init(), gnuplot: GnuplotRunner) throws(BenchError) -> (figures: [(name: String, svg: String)], notes: [String]) {
        let base = FileManager.default.temporaryDirectory.path + "/accelbench-html-\(getpid())-\(UUID().uuidString)"
        try FileIO.makeDirectories(base)
        defer { try? FileManager.default.removeItem(atPath: base) }
        let plotter = Plotter(runs: runs, sweeps: sweeps, format: .svg, templates: templates, options: options, gnuplot: gnuplot)
        let outcome = try plotter.render(into: base, selection: selection)
        var out: [(String, String)] = []
        for (i, f) in outcome.figures.enumerated() {
            let svg = String(decoding: try FileIO.readFile(f.image), as: UTF8.self)
            out.append((f.name, inlineSVG(svg, idPrefix: "fig\(i + 1)-")))
        }
        return (out, outcome.notes)
    }

    /// The page for one results directory: facts, the tables `report` prints, and figures.
    public static func results(summary: Summary, directory: String, recovered: Bool, figures: [(name: String, svg: String)], notes: [String]) -> String {
        let run = summary.run
        var facts: [(String, String)] = [("directory", directory), ("target", run.target)]
        if let h = run.workload {
            facts.append(("workload", "\(h.specName) (seed \(h.seed), \(h.count) requests" + (h.rateRps.map { ", \(fmt($0, 3)) req/s" } ?? "") + ")"))
            facts.append(("spec digest", h.specDigest))
            let classes = h.classes.map { c in "\(c.name) (\(c.kind.rawValue)" + (c.share.map { ", share \(fmt($0, 2))" } ?? ", own arrivals") + "): \(c.sloRule)" }
            if !classes.isEmpty { facts.append(("classes", classes.joined(separator: "\n"))) }
        }
        facts.append(("window", "\(fmt(summary.windowS, 2)) s from \(fmt(summary.windowStartS, 2)) s"))
        facts.append(("metric options", "tbt-mode \(summary.options.tbtMode.rawValue), warm-up \(fmt(summary.options.warmupS, 1)) s, cool-down \(fmt(summary.options.cooldownS, 1)) s"))
        if let it = run.engineIterations { facts.append(("engine iterations", String(it))) }
        if let p = run.enginePreemptions { facts.append(("engine preemptions", String(p))) }
        if recovered || run.interrupted { facts.append(("status", "interrupted: the run did not finish; read from its journal")) }
        facts.append(("valid", summary.valid ? "yes" : "no: " + summary.invalidReasons.joined(separator: "; ")))

        let rows: [(String, GroupSummary)] = summary.classes + [("all", summary.overall)]
        // The columns of `Summary.table()`, so the page and the terminal agree.
        let main = table(header: ["class", "requests", "ok", "failed", "req/s", "out tok/s", "goodput req/s", "attain", "ttft", "tbt", "jct", "tbt tok"],
                         rows: rows.map { n, g in
                             [n, String(g.total), String(g.completed), String(g.failed), fmt(g.requestsPerS, 3), fmt(g.outputTokensPerS, 1),
                              fmt(g.goodputRequestsPerS, 3), pct(g.attainment.overall), pct(g.attainment.ttft), pct(g.attainment.tbt),
                              pct(g.attainment.jct), pct(g.attainment.tbtTokenLevel)]
                         })
        func lat(_ s: LatencyStats?) -> String {
            guard let s else { return "-" }
            return "\(fmt(s.mean, 1)) / \(fmt(s.p50, 1)) / \(fmt(s.p90, 1)) / \(fmt(s.p99, 1)) / \(fmt(s.max, 1))"
        }
        let latency = table(header: ["class", "TTFT", "TBT", "TPOT", "E2E", "fluidity"],
                            rows: rows.map { n, g in [n, lat(g.ttft), lat(g.tbt), lat(g.tpot), lat(g.e2e), fmt(g.fluidityMeanIndex, 3)] })
        var body = "<h1>accelbench report: \(esc(RunLabels.basename(directory)))</h1>\n"
        body += "<h2>Run</h2>\n" + factsTable(facts)
        body += "<h2>SLO attainment and rates</h2>\n" + main
        body += "<h2>Latency (ms): mean / p50 / p90 / p99 / max</h2>\n" + latency
        if let lag = summary.dispatchLagMs {
            body += "<p>dispatch lag (ms): p50 \(fmt(lag.p50, 3)), p99 \(fmt(lag.p99, 3)), max \(fmt(lag.max, 3))</p>\n"
        }
        body += figureSection(figures, notes: notes)
        return page(title: "accelbench report: \(RunLabels.basename(directory))", body: body)
    }

    /// The page for a sweep directory: its facts, a table of its points and the rate figures.
    public static func sweep(_ sweep: SweepInput, figures: [(name: String, svg: String)], notes: [String]) -> String {
        var facts: [(String, String)] = [("directory", sweep.directory), ("spec", sweep.spec), ("target", sweep.target)]
        if let seed = sweep.seed { facts.append(("seed", String(seed))) }
        if let count = sweep.count { facts.append(("requests per point", String(count))) }
        facts.append(("classes", sweep.classes.joined(separator: ", ")))
        if let s = sweep.search {
            var text = "capacity \(fmt(s.capacityRps, 3)) req/s at \(fmt(s.targetAttainment * 100, 1))% attainment"
            text += s.className.map { " of class \($0)" } ?? " overall"
            let byClass = sweep.classes.compactMap { c in s.classCapacityRps[c].map { "\(c) \(fmt($0, 3))" } }
            if !byClass.isEmpty { text += "; per class (req/s): " + byClass.joined(separator: ", ") }
            facts.append(("search", text))
        }
        let hasOracle = sweep.points.contains { $0.oracleAttainment != nil || $0.oracleGoodputRps != nil }
        var header = ["rate req/s", "dir", "attain", "goodput req/s", "goodput tok/s", "req/s", "out tok/s"]
        header += sweep.classes.map { "\($0) attain" }
        if hasOracle { header += ["oracle attain", "oracle goodput req/s"] }
        let rows = sweep.points.map { p -> [String] in
            var r = [fmt(p.rateRps, 3), p.dir, pct(p.attainment), fmt(p.goodputRps, 3), fmt(p.goodputTokensPerS, 1),
                     fmt(p.throughputRps, 3), fmt(p.outputTokensPerS, 1)]
            r += sweep.classes.map { pct(p.classAttainment[$0]) }
            if hasOracle { r += [pct(p.oracleAttainment), fmt(p.oracleGoodputRps, 3)] }
            return r
        }
        var body = "<h1>accelbench sweep: \(esc(sweep.label))</h1>\n"
        body += "<h2>Sweep</h2>\n" + factsTable(facts)
        body += "<h2>Points</h2>\n" + table(header: header, rows: rows)
        body += figureSection(figures, notes: notes)
        return page(title: "accelbench sweep: \(sweep.label)", body: body)
    }

    // MARK: pieces

    static func figureSection(_ figures: [(name: String, svg: String)], notes: [String]) -> String {
        var out = "<h2>Figures</h2>\n"
        for (name, svg) in figures {
            out += "<figure id=\"\(esc(name))\">\n\(svg)\n<figcaption>\(esc(name))</figcaption>\n</figure>\n"
        }
        if !notes.isEmpty {
            out += "<ul class=\"notes\">\n" + notes.map { "<li>\(esc($0))</li>\n" }.joined() + "</ul>\n"
        }
        return out
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="generator" content="accelbench">
        <title>\(esc(title))</title>
        <style>
        body { font-family: sans-serif; margin: 2em; color: #222; max-width: 1250px; }
        table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
        th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
        td { text-align: right; font-variant-numeric: tabular-nums; }
        td:first-child, table.facts td { text-align: left; }
        table.facts td { white-space: pre-wrap; }
        th { background: #f0f0f0; }
        figure { margin: 1em 0 2em; }
        figure svg { width: 100%; height: auto; }
        figcaption { font-size: 0.85em; color: #555; }
        ul.notes { color: #555; font-size: 0.9em; }
        </style>
        </head>
        <body>
        \(body)</body>
        </html>

        """
    }

    static func table(header: [String], rows: [[String]]) -> String {
        var out = "<table>\n<thead><tr>" + header.map { "<th>\(esc($0))</th>" }.joined() + "</tr></thead>\n<tbody>\n"
        for r in rows { out += "<tr>" + r.map { "<td>\(esc($0))</td>" }.joined() + "</tr>\n" }
        return out + "</tbody>\n</table>\n"
    }

    static func factsTable(_ facts: [(String, String)]) -> String {
        var out = "<table class=\"facts\">\n<tbody>\n"
        for (k, v) in facts { out += "<tr><th>\(esc(k))</th><td>\(esc(v))</td></tr>\n" }
        return out + "</tbody>\n</table>\n"
    }

    /// gnuplot's SVG without the XML prologue, with its ids (and references to them) prefixed:
    /// every gnuplot SVG defines the same ids (`gpPt0`, `gnuplot_canvas`, …), and ids must be
    /// unique in one HTML document.
    static func inlineSVG(_ svg: String, idPrefix: String) -> String {
        var s = svg
        if let start = s.range(of: "<svg") { s = String(s[start.lowerBound...]) }
        for (pattern, template) in [
            (#"id=(['"])"#, "id=$1\(idPrefix)"),
            (#"href=(['"])#"#, "href=$1#\(idPrefix)"),
            (#"url\(#"#, "url(#\(idPrefix)"),
        ] {
            s = s.replacingOccurrences(of: pattern, with: template, options: .regularExpression)
        }
        return s
    }

    static func esc(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.utf8.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            default: out.append(ch)
            }
        }
        return out
    }

    static func fmt(_ x: Double?, _ decimals: Int) -> String {
        guard let x, x.isFinite else { return "-" }
        return String(format: "%.\(decimals)f", x)
    }

    static func pct(_ x: Double?) -> String {
        x.map { String(format: "%.1f%%", $0 * 100) } ?? "-"
    }
}
