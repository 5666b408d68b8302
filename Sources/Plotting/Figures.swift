import BenchCore
import Foundation

/// The figures `accelbench plot` draws; the raw value names the template (`plots/NAME.gp`) and
/// the files written (`NAME.dat`, `NAME.gp`, `NAME.png`).
public enum Figure: String, CaseIterable, Sendable {
    case ttftCDF = "ttft-cdf"
    case tbtCDF = "tbt-cdf"
    case attainmentVsRate = "attainment-vs-rate"
    case goodputVsRate = "goodput-vs-rate"
    case throughputVsRate = "throughput-vs-rate"
    case timeline
    case gantt
    case policyBars = "policy-bars"
    case serverMetrics = "server-metrics"

    public static var list: String { allCases.map(\.rawValue).joined(separator: ", ") }

    /// Figures drawn from sweep directories.
    public var needsSweep: Bool { self == .attainmentVsRate || self == .goodputVsRate || self == .throughputVsRate }
}

/// A figure ready to render: its data file and the values of its template's placeholders
/// (`TERMINAL`, `OUTPUT` and `DATA` are added by the renderer).
struct FigureJob {
    var figure: Figure
    /// File stem in the output directory: the figure's name, with `-RUN` for per-run figures
    /// when several runs are plotted.
    var name: String
    var data: String
    var values: [String: String]
    var width: Int
    var height: Int
}

/// Tunables of the figures (defaults are our choices).
public struct FigureOptions: Sendable {
    /// Seconds; nil: the whole run for the timeline, the first `ganttRequests` for the Gantt chart.
    public var window: ClosedRange<Double>?
    /// Requests the Gantt chart's default window holds: about a screenful of bars.
    public var ganttRequests = 100
    /// Most bars in a Gantt chart (a wide --window); later arrivals are left out and the title says so.
    public var ganttMaxRows = 400
    /// Most points per CDF line: finer steps than a figure's pixels show, and a small SVG.
    public var cdfPoints = 1000
    /// Most rows in the timeline; beyond that each row is the maximum over a run of iterations
    /// (maxima, because the timeline is read for spikes against the TBT SLO).
    public var timelineRows = 3000

    public init(window: ClosedRange<Double>? = nil) {
        self.window = window
    }
}

enum FigureBuilder {
    // MARK: CDFs

    /// TTFT (first token − intended arrival) or the gaps between consecutive tokens, in ms, of
    /// completed requests: the population of `report`'s latency table.
    static func cdf(_ figure: Figure, runs: [RunInput], options: FigureOptions) -> FigureJob? {
        let ttft = figure == .ttftCDF
        let classes = unionClasses(runs.map(\.classes))
        var kept: [String] = []
        var slo: [Double?] = []
        var blocks: [String] = []
        for cls in classes {
            var perRun: [[Double]] = []
            var sloValues: [Double] = []
            var requests = 0
            for run in runs {
                var values: [Double] = []
                for r in run.records where r.className == cls {
                    requests += 1
                    if let v = ttft ? r.slo.ttftMs : r.slo.tbtMs { sloValues.append(v) }
                    guard r.isOK else { continue }
                    if ttft {
                        if let first = r.ttftEndS { values.append((first - r.intendedS) * 1000) }
                    } else if r.tokenTimesS.count >= 2 {
                        for i in 1..<r.tokenTimesS.count { values.append((r.tokenTimesS[i] - r.tokenTimesS[i - 1]) * 1000) }
                    }
                }
                perRun.append(values)
            }
            // A log axis cannot show zero: a class whose values are all ≤ 0 has nothing to draw.
            guard perRun.contains(where: { $0.contains { $0 > 0 } }) else { continue }
            kept.append(cls)
            // The SLO marker only where every request of the class carries that SLO (one family
            // of values); their median stands for them, and the key says so.
            slo.append(sloValues.count == requests && !sloValues.isEmpty ? median(sloValues) : nil)
            for (run, values) in zip(runs, perRun) {
                var block = GP.string(run.label) + " " + GP.string("cdf") + "\n"
                let points = cdfPoints(values, max: options.cdfPoints)
                if points.isEmpty { block += "NaN NaN\n" }
                for (x, y) in points { block += GP.cell(x) + " " + GP.cell(y) + "\n" }
                blocks.append(block)
            }
        }
        guard !kept.isEmpty else { return nil }
        let (rows, cols) = grid(kept.count)
        let what = ttft ? "Time to first token" : "Time between tokens"
        let title = "\(what): CDF per class, one line per run (completed requests)"
        var data = "# \(figure.rawValue): blocks per (class, run), class-major; each: header, then value_ms cumulative_fraction\n"
        data += blocks.joined(separator: "\n\n")
        return FigureJob(figure: figure, name: figure.rawValue, data: data, values: [
            "NRUNS": String(runs.count),
            "NCLASSES": String(kept.count),
            "CLASSES": GP.list(kept.map(GP.string)),
            "SLO_MS": GP.list(slo.map(GP.number)),
            "LAYOUT": "\(rows),\(cols)",
            "TITLE": GP.string(title),
        ], width: cols == 1 ? 800 : 1100, height: 70 + 360 * rows)
    }

    /// Points of the empirical CDF: (value, fraction ≤ value), at most `max` of them, evenly
    /// spaced in rank and always with the largest value. Values ≤ 0 count in the fractions but
    /// are not drawn (log axis).
    static func cdfPoints(_ values: [Double], max: Int) -> [(Double, Double)] {
        let sorted = values.sorted()
        let n = sorted.count
        guard n > 0 else { return [] }
        var out: [(Double, Double)] = []
        let step = Swift.max(1, (n + max - 1) / max)
        var i = step - 1
        var ranks: [Int] = [0]
        while i < n { ranks.append(i); i += step }
        if ranks.last != n - 1 { ranks.append(n - 1) }
        var last = -1
        for r in ranks where r != last {
            last = r
            // Ties: the fraction at a value counts every copy of it.
            var k = r
            while k + 1 < n && sorted[k + 1] == sorted[r] { k += 1 }
            if sorted[r] > 0 && (out.last?.0 ?? -1) != sorted[r] { out.append((sorted[r], Double(k + 1) / Double(n))) }
        }
        return out
    }

    // MARK: timeline

    static func timeline(_ run: RunInput, name: String, options: FigureOptions) -> FigureJob? {
        guard let all = run.iterations, !all.isEmpty else { return nil }
        let rows = options.window.map { w in all.filter { w.contains($0.startS) } } ?? all
        guard !rows.isEmpty else { return nil }
        let per = Swift.max(1, (rows.count + options.timelineRows - 1) / options.timelineRows)
        var data = "# start_s batch_tokens largest_chunk decode_count kv_fraction iteration_ms"
        data += per > 1 ? " (maximum of each column over \(per) iterations)\n" : "\n"
        var i = 0
        while i < rows.count {
            let bin = rows[i..<Swift.min(rows.count, i + per)]
            data += GP.cell(bin.first!.startS)
            data += " " + GP.cell(Double(bin.map { $0.prefillTokens + $0.decodeCount }.max()!))
            data += " " + GP.cell(Double(bin.map(\.largestChunk).max()!))
            data += " " + GP.cell(Double(bin.map(\.decodeCount).max()!))
            data += " " + GP.cell(bin.compactMap(\.kvFraction).max())
            data += " " + GP.cell(bin.map(\.durationS).max()! * 1000) + "\n"
            i += per
        }
        let tightest = run.records.compactMap(\.slo.tbtMs).min()
        var title = "Engine iterations: \(run.label), \(rows.count) iterations"
        title += String(format: " from %.1f s to %.1f s", rows.first!.startS, rows.last!.startS + rows.last!.durationS)
        if per > 1 { title += " (each point: the maximum over \(per) iterations)" }
        let xrange = options.window.map { "[\(GP.number($0.lowerBound)):\(GP.number($0.upperBound))]" } ?? "[*:*]"
        return FigureJob(figure: .timeline, name: name, data: data, values: [
            "TBT_SLO_MS": GP.number(tightest),
            "XRANGE": xrange,
            "TITLE": GP.string(title),
        ], width: 1100, height: 1100)
    }

    // MARK: server metrics

    /// The server's scrapes (running, waiting, KV use) beside the client's requests in flight
    /// and each request's TTFT at its first token, on the run's one time axis.
    static func serverMetrics(_ run: RunInput, name: String, options: FigureOptions) -> FigureJob? {
        guard let scrapes = run.serverMetrics?.filter({ $0.error == nil }) else { return nil }
        let inWindow = { (t: Double) in options.window?.contains(t) ?? (t >= 0) }
        let rows = scrapes.filter { inWindow($0.tS) }
        guard !rows.isEmpty else { return nil }
        // In flight at t: sent at or before t, not done by t.
        let sent = run.records.compactMap(\.sentS).sorted()
        let done = run.records.compactMap { r in r.sentS != nil ? (r.doneS ?? .infinity) : nil }.sorted()
        func count(_ xs: [Double], atOrBefore t: Double) -> Int {
            var lo = 0, hi = xs.count
            while lo < hi { let m = (lo + hi) / 2; if xs[m] <= t { lo = m + 1 } else { hi = m } }
            return lo
        }
        var data = "# t_s running waiting kv_percent client_in_flight\n"
        for s in rows {
            data += GP.cell(s.tS) + " " + GP.cell(s.values[.running]) + " " + GP.cell(s.values[.waiting])
            data += " " + GP.cell(s.values[.kvUsage].map { $0 * 100 })
            data += " " + GP.cell(Double(count(sent, atOrBefore: s.tS) - count(done, atOrBefore: s.tS))) + "\n"
        }
        data += "\n\n# first_token_s ttft_ms\n"
        for r in run.records where r.isOK {
            guard let first = r.ttftEndS, inWindow(first) else { continue }
            data += GP.cell(first) + " " + GP.cell((first - r.intendedS) * 1000) + "\n"
        }
        let failed = (run.serverMetrics?.count ?? 0) - scrapes.count
        var title = "Server metrics: \(run.label), \(rows.count) scrapes"
        if failed > 0 { title += " (\(failed) failed)" }
        let xrange = options.window.map { "[\(GP.number($0.lowerBound)):\(GP.number($0.upperBound))]" } ?? "[0:*]"
        return FigureJob(figure: .serverMetrics, name: name, data: data, values: [
            "XRANGE": xrange,
            "TITLE": GP.string(title),
        ], width: 1100, height: 900)
    }

    // MARK: Gantt

    static func gantt(_ run: RunInput, name: String, options: FigureOptions) -> FigureJob? {
        let sorted = run.records.sorted { ($0.intendedS, $0.id) < ($1.intendedS, $1.id) }
        guard !sorted.isEmpty else { return nil }
        func end(_ r: RequestRecord) -> Double { r.doneS ?? r.tokenTimesS.last ?? r.firstTokenS ?? r.sentS ?? r.intendedS }
        var shown: [RequestRecord]
        var range: (Double, Double)
        var title: String
        if let w = options.window {
            // Every request active at some time in the window.
            shown = sorted.filter { $0.intendedS <= w.upperBound && end($0) >= w.lowerBound }
            range = (w.lowerBound, w.upperBound)
            title = String(format: "Requests of %@ active from %g s to %g s", run.label, w.lowerBound, w.upperBound)
        } else {
            // The first arrivals, each to its end.
            shown = Array(sorted.prefix(options.ganttRequests))
            range = (shown.first!.intendedS, shown.map(end).max()!)
            title = "The first \(shown.count) requests of \(run.label)"
        }
        guard !shown.isEmpty else { return nil }
        if shown.count > options.ganttMaxRows {
            title += " (the first \(options.ganttMaxRows) of \(shown.count))"
            shown = Array(shown.prefix(options.ganttMaxRows))
        }
        if range.1 <= range.0 { range.1 = range.0 + 1 }
        let missed = shown.filter { !$0.metSLO || !$0.isOK }.count
        title += ": \(missed) missed their SLOs"
        let classIndex = Dictionary(uniqueKeysWithValues: run.classes.enumerated().map { ($1, $0 + 1) })
        var data = "# row intended_s first_token_s end_s class missed id\n"
        for (row, r) in shown.enumerated() {
            let e = end(r)
            let first = Swift.min(r.firstTokenS ?? e, e)
            data += "\(row + 1) \(GP.cell(r.intendedS)) \(GP.cell(first)) \(GP.cell(e)) \(classIndex[r.className] ?? 0)"
            data += " \(!r.metSLO || !r.isOK ? 1 : 0) \(r.id)\n"
        }
        return FigureJob(figure: .gantt, name: name, data: data, values: [
            "NROWS": String(shown.count),
            "NCLASSES": String(run.classes.count),
            "CLASSES": GP.list(run.classes.map(GP.string)),
            "XRANGE": "[\(GP.number(range.0)):\(GP.number(range.1))]",
            "TITLE": GP.string(title),
        ], width: 1200, height: Swift.min(2400, Swift.max(500, 150 + 9 * shown.count)))
    }

    // MARK: policy bars

    /// Attainment and goodput from each run's summary.json, as the run recorded them.
    static func policyBars(_ runs: [RunInput]) -> FigureJob? {
        guard runs.count >= 2 else { return nil }
        let classes = unionClasses(runs.map(\.classes))
        let header = GP.string("group") + " " + runs.map { GP.string($0.label) }.joined(separator: " ") + "\n"
        var attain = header
        var goodput = header
        for group in classes + ["overall"] {
            attain += GP.string(group)
            goodput += GP.string(group)
            for run in runs {
                let cls = group == "overall" ? nil : group
                let a = run.summary?.attainment(className: cls)
                let g = run.summary?.goodputRequestsPerS(className: cls)
                attain += " " + GP.cell(a.map { $0 * 100 })
                goodput += " " + GP.cell(g)
            }
            attain += "\n"
            goodput += "\n"
        }
        let data = "# policy-bars: block 0 SLO attainment (%), block 1 goodput (req/s); one column per run\n" + attain + "\n\n" + goodput
        return FigureJob(figure: .policyBars, name: Figure.policyBars.rawValue, data: data, values: [
            "NRUNS": String(runs.count),
            "NGROUPS": String(classes.count + 1),
            "TITLE": GP.string("SLO attainment and goodput per class, one bar per run"),
        ], width: 1100, height: 850)
    }

    // MARK: rate sweeps

    static func attainmentVsRate(_ sweeps: [SweepInput]) -> FigureJob? {
        let sweeps = sweeps.filter { !$0.points.isEmpty }
        guard !sweeps.isEmpty else { return nil }
        let classes = unionClasses(sweeps.map(\.classes))
        let panels = ["overall"] + classes
        var blocks: [String] = []
        var capacity: [Double?] = []
        for s in sweeps {
            var block = "# \(s.label): rate_rps overall \(classes.joined(separator: " ")) oracle_upper_bound\n"
            for p in s.points {
                block += GP.cell(p.rateRps) + " " + GP.cell(p.attainment)
                for c in classes { block += " " + GP.cell(p.classAttainment[c]) }
                block += " " + GP.cell(p.oracleAttainment) + "\n"
            }
            blocks.append(block)
            for panel in panels {
                guard let search = s.search else { capacity.append(nil); continue }
                if panel == "overall" {
                    capacity.append(search.className == nil ? search.capacityRps : nil)
                } else {
                    capacity.append(search.classCapacityRps[panel] ?? (search.className == panel ? search.capacityRps : nil))
                }
            }
        }
        let (rows, cols) = grid(panels.count)
        return FigureJob(figure: .attainmentVsRate, name: Figure.attainmentVsRate.rawValue,
                         data: blocks.joined(separator: "\n\n"), values: [
            "NSWEEPS": String(sweeps.count),
            "NPANELS": String(panels.count),
            "PANELS": GP.list(panels.map(GP.string)),
            "LABELS": GP.list(sweeps.map { GP.string($0.label) }),
            "HAS_ORACLE": GP.list(sweeps.map { $0.points.contains { $0.oracleAttainment != nil } ? "1" : "0" }),
            "CAPACITY": GP.list(capacity.map(GP.number)),
            "TARGET": GP.number(sweeps.lazy.compactMap(\.search).first?.targetAttainment),
            "LAYOUT": "\(rows),\(cols)",
            "TITLE": GP.string("SLO attainment against offered rate" + specNote(sweeps)),
        ], width: cols == 1 ? 800 : 1100, height: 70 + 340 * rows)
    }

    static func goodputVsRate(_ sweeps: [SweepInput]) -> FigureJob? {
        let sweeps = sweeps.filter { !$0.points.isEmpty }
        guard !sweeps.isEmpty else { return nil }
        var blocks: [String] = []
        for s in sweeps {
            var block = "# \(s.label): rate_rps goodput_rps oracle_upper_bound_goodput_rps goodput_tokens_per_s\n"
            for p in s.points {
                block += [p.rateRps, p.goodputRps, p.oracleGoodputRps, p.goodputTokensPerS].map(GP.cell).joined(separator: " ") + "\n"
            }
            blocks.append(block)
        }
        return FigureJob(figure: .goodputVsRate, name: Figure.goodputVsRate.rawValue, data: blocks.joined(separator: "\n\n"), values: [
            "NSWEEPS": String(sweeps.count),
            "LABELS": GP.list(sweeps.map { GP.string($0.label) }),
            "HAS_ORACLE": GP.list(sweeps.map { $0.points.contains { $0.oracleGoodputRps != nil } ? "1" : "0" }),
            "CAPACITY": GP.list(sweeps.map { GP.number($0.search?.capacityRps) }),
            "TITLE": GP.string("Goodput against offered rate" + specNote(sweeps)),
        ], width: 900, height: 600)
    }

    static func throughputVsRate(_ sweeps: [SweepInput]) -> FigureJob? {
        let sweeps = sweeps.filter { !$0.points.isEmpty }
        guard !sweeps.isEmpty else { return nil }
        var blocks: [String] = []
        for s in sweeps {
            var block = "# \(s.label): rate_rps throughput_rps output_tokens_per_s\n"
            for p in s.points {
                block += [p.rateRps, p.throughputRps, p.outputTokensPerS].map(GP.cell).joined(separator: " ") + "\n"
            }
            blocks.append(block)
        }
        return FigureJob(figure: .throughputVsRate, name: Figure.throughputVsRate.rawValue, data: blocks.joined(separator: "\n\n"), values: [
            "NSWEEPS": String(sweeps.count),
            "LABELS": GP.list(sweeps.map { GP.string($0.label) }),
            "CAPACITY": GP.list(sweeps.map { GP.number($0.search?.capacityRps) }),
            "TITLE": GP.string("Throughput against offered rate" + specNote(sweeps)),
        ], width: 900, height: 850)
    }

    // MARK: helpers

    static func specNote(_ sweeps: [SweepInput]) -> String {
        let specs = Array(Set(sweeps.map(\.spec))).sorted()
        return specs.count == 1 ? " (\(specs[0]))" : ""
    }

    /// Names in first-seen order.
    static func unionClasses(_ lists: [[String]]) -> [String] {
        var out: [String] = []
        var seen = Set<String>()
        for l in lists { for c in l where seen.insert(c).inserted { out.append(c) } }
        return out
    }

    /// Panels in two columns (one when there is a single panel).
    static func grid(_ n: Int) -> (rows: Int, cols: Int) {
        n <= 1 ? (1, 1) : ((n + 1) / 2, 2)
    }

    static func median(_ values: [Double]) -> Double {
        let s = values.sorted()
        let n = s.count
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
    }
}
