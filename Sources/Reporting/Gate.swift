import Foundation
import BenchCore

/// A performance baseline: metrics of a run's summary.json, each with the direction that is
/// better and the tolerances a change must exceed to count (as package-benchmark's thresholds).
public struct Baseline: Sendable, Equatable {
    public enum Polarity: String, Sendable, Equatable { case higher, lower }

    public struct Metric: Sendable, Equatable {
        /// Dotted path into summary.json, e.g. `goodput.requests_per_s` or
        /// `by_class.chat.latency_ms.ttft.p99`.
        public var path: String
        public var polarity: Polarity
        /// A change counts only when it exceeds both tolerances: `relative` × |baseline| and
        /// `absolute` (in the metric's unit). Both 0: any change counts (deterministic runs).
        public var relative: Double
        public var absolute: Double
        public var value: Double
        /// Per-repeat values when the baseline came from `run --repeat N` (N ≥ 2); `value` is
        /// their mean. Empty for a single run.
        public var samples: [Double] = []

        public init(path: String, polarity: Polarity, relative: Double, absolute: Double, value: Double, samples: [Double] = []) {
            self.samples = samples
            self.path = path
            self.polarity = polarity
            self.relative = relative
            self.absolute = absolute
            self.value = value
        }
    }

    /// summary.json's `target` and workload identity when the baseline was taken.
    public var target: String
    public var specDigest: String
    public var seed: UInt64
    public var count: Int
    /// The offered rate the workload was generated at (nil: the spec's own).
    public var rateRPS: Double?
    public var metrics: [Metric]

    public init(target: String, specDigest: String, seed: UInt64, count: Int, rateRPS: Double?, metrics: [Metric]) {
        self.target = target
        self.specDigest = specDigest
        self.seed = seed
        self.count = count
        self.rateRPS = rateRPS
        self.metrics = metrics
    }

    /// The workload the baseline was taken on.
    public var workload: WorkloadIdentity {
        WorkloadIdentity(specDigest: specDigest, seed: seed, count: count, rateRPS: rateRPS)
    }

    init(target: String, workload id: WorkloadIdentity, metrics: [Metric]) {
        self.init(target: target, specDigest: id.specDigest, seed: id.seed, count: id.count, rateRPS: id.rateRPS, metrics: metrics)
    }

    /// Whether `summary` is a run of this baseline's workload.
    public func matchesWorkload(of summary: SummaryFile) -> Bool {
        summary.workload.map(workload.matches) ?? false
    }

    /// Metrics a new baseline gets (our choice: goodput, attainment, throughput and tail
    /// latencies overall, attainment and TTFT p99 per class). `classes` are the run's classes.
    public static func defaultMetrics(classes: [String]) -> [(path: String, polarity: Polarity)] {
        var out: [(String, Polarity)] = [
            ("goodput.requests_per_s", .higher), ("goodput.output_tokens_per_s", .higher),
            ("slo_attainment.overall", .higher), ("throughput.output_tokens_per_s", .higher),
            ("requests.met_slo", .higher), ("latency_ms.ttft.p99", .lower), ("latency_ms.tbt.p99", .lower),
        ]
        for c in classes {
            out.append(("by_class.\(c).slo_attainment.overall", .higher))
            out.append(("by_class.\(c).latency_ms.ttft.p99", .lower))
        }
        return out
    }

    public func json() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256 + metrics.count * 128)
        w.beginObject()
        w.key("schema"); w.string("accelbench.baseline/1")
        w.key("target"); w.string(target)
        w.key("workload")
        w.beginObject()
        workload.write([.specDigest, .seed, .count, .rateRPS], to: &w)
        w.endObject()
        w.key("metrics")
        w.beginArray()
        // One metric per line, so a refreshed baseline's diff shows which metrics moved.
        for m in metrics {
            var mw = JSONWriter()
            mw.beginObject()
            mw.key("path"); mw.string(m.path)
            mw.key("polarity"); mw.string(m.polarity.rawValue)
            mw.key("relative"); mw.double(m.relative)
            mw.key("absolute"); mw.double(m.absolute)
            mw.key("value"); mw.double(m.value)
            if !m.samples.isEmpty {
                mw.key("samples")
                mw.beginArray()
                for x in m.samples { mw.double(x) }
                mw.endArray()
            }
            mw.endObject()
            w.raw([0x0A] + mw.bytes)
        }
        w.endArray()
        w.endObject()
        var b = w.bytes
        b.append(0x0A)
        return b
    }

    /// Parses a baseline file; errors name the file and the field.
    public static func parse(_ text: String, file: String) throws(BenchError) -> Baseline {
        let v: JSONValue
        do { v = try JSONParser.parse(text) } catch { throw BenchError.data(SourceLocation(file: file), "not valid JSON: \(error)") }
        func fail(_ field: String, _ what: String) -> BenchError { BenchError.data(SourceLocation(file: file, field: field), what) }
        guard case .string("accelbench.baseline/1")? = v["schema"] else { throw fail("schema", "not accelbench.baseline/1") }
        guard case .string(let target)? = v["target"] else { throw fail("target", "missing or not a string") }
        guard let id = WorkloadIdentity(json: v["workload"]) else { throw fail("workload", "needs spec_digest, seed and count") }
        switch v["workload"]?["rate_rps"] {
        case .number?, .null?, nil: break
        default: throw fail("workload.rate_rps", "not a number or null")
        }
        guard case .array(let items)? = v["metrics"] else { throw fail("metrics", "missing or not an array") }
        var metrics: [Metric] = []
        for (i, item) in items.enumerated() {
            let field = "metrics[\(i)]"
            guard case .string(let path)? = item["path"] else { throw fail(field + ".path", "missing or not a string") }
            guard case .string(let pol)? = item["polarity"], let polarity = Polarity(rawValue: pol) else {
                throw fail(field + ".polarity", "must be \"higher\" or \"lower\"")
            }
            func number(_ k: String, default d: Double?) throws(BenchError) -> Double {
                switch item[k] {
                case .number(let x)?: return x
                case nil where d != nil: return d!
                default: throw fail(field + "." + k, "missing or not a number")
                }
            }
            let relative = try number("relative", default: 0)
            let absolute = try number("absolute", default: 0)
            guard relative >= 0, absolute >= 0 else { throw fail(field, "tolerances must be ≥ 0") }
            var samples: [Double] = []
            switch item["samples"] {
            case nil, .null?: break
            case .array(let xs)?:
                for x in xs {
                    guard case .number(let d) = x else { throw fail(field + ".samples", "not an array of numbers") }
                    samples.append(d)
                }
            default: throw fail(field + ".samples", "not an array of numbers")
            }
            metrics.append(Metric(path: path, polarity: polarity, relative: relative, absolute: absolute,
                                  value: try number("value", default: nil), samples: samples))
        }
        return Baseline(target: target, workload: id, metrics: metrics)
    }
}

/// The verdict of a run against a baseline.
public struct GateReport: Sendable {
    public enum Verdict: String, Sendable { case unchanged, regression, improvement, missing }

    public struct Row: Sendable {
        public var metric: Baseline.Metric
        /// nil when the run's summary lacks the metric (a regression: it cannot be checked).
        public var current: Double?
        public var verdict: Verdict
        /// With repeated runs: the bootstrap confidence interval of (current − baseline) mean
        /// change, in the metric's unit; nil for single runs (compared exactly).
        public var changeInterval: ClosedRange<Double>?
        /// Runs the current value is the mean of.
        public var runs = 1
        /// current − baseline, in the metric's unit.
        public var delta: Double? { current.map { $0 - metric.value } }
    }

    public var rows: [Row]

    public var regressions: Int { rows.filter { $0.verdict == .regression || $0.verdict == .missing }.count }
    public var improvements: Int { rows.filter { $0.verdict == .improvement }.count }

    /// 0 pass, 2 regression, 4 improvements only (the baseline may be refreshed with --update).
    public var exitCode: Int32 {
        regressions > 0 ? ExitCodes.regression : (improvements > 0 ? ExitCodes.improvementOnly : ExitCodes.ok)
    }

    /// Compares `summary` (a parsed summary.json) with `baseline`.
    public static func evaluate(_ baseline: Baseline, summary: SummaryFile) -> GateReport {
        evaluate(baseline, repeats: [summary])
    }

    /// Compares repeated runs of one workload (`run --repeat N`) with `baseline`. One run whose
    /// baseline has no samples is compared exactly (simulated runs are deterministic). Otherwise
    /// the change of the mean gets a percentile bootstrap interval (`Bootstrap`), resampling the
    /// run's repeats and the baseline's samples; a metric regresses or improves only when the
    /// whole interval lies beyond the tolerance, so noise between repeats does not fail a gate.
    public static func evaluate(_ baseline: Baseline, repeats: [SummaryFile], bootstrap: Bootstrap = .init()) -> GateReport {
        GateReport(rows: baseline.metrics.enumerated().map { (i, m) in
            let values = repeats.compactMap { $0.value(m.path) }
            guard !values.isEmpty else { return Row(metric: m, current: nil, verdict: .missing) }
            let cur = values.reduce(0, +) / Double(values.count)
            // Positive: better.
            func gain(_ change: Double) -> Double { m.polarity == .higher ? change : -change }
            let allowed = max(m.absolute, m.relative * abs(m.value))
            if values.count == 1 && m.samples.count < 2 {
                let g = gain(cur - m.value)
                let verdict: Verdict = abs(g) <= allowed || g == 0 ? .unchanged : (g > 0 ? .improvement : .regression)
                return Row(metric: m, current: cur, verdict: verdict)
            }
            let base = m.samples.count >= 2 ? m.samples : [m.value]
            // A stream per metric, so adding a metric does not move another's interval.
            let ci = bootstrap.meanDifferenceInterval(values, base, stream: UInt64(i))
            let worst = min(gain(ci.lowerBound), gain(ci.upperBound)), best = max(gain(ci.lowerBound), gain(ci.upperBound))
            let verdict: Verdict = best < -allowed ? .regression : (worst > allowed ? .improvement : .unchanged)
            var row = Row(metric: m, current: cur, verdict: verdict)
            row.changeInterval = ci
            row.runs = values.count
            return row
        })
    }

    /// A Markdown table of every metric.
    public func markdown(title: String) -> String {
        let repeated = rows.contains { $0.changeInterval != nil }
        var s = "### \(title)\n\n| metric | better | baseline | current | change |\(repeated ? " 95% CI of change |" : "") verdict |\n"
        s += "|---|---|---|---|---|\(repeated ? "---|" : "")---|\n"
        for r in rows {
            let cur = r.current.map { fmt($0) + (r.runs > 1 ? " (mean of \(r.runs))" : "") } ?? "—"
            func change(_ d: Double) -> String {
                r.metric.value != 0 ? String(format: "%+.2f%%", d / abs(r.metric.value) * 100) : fmt(d)
            }
            s += "| `\(r.metric.path)` | \(r.metric.polarity.rawValue) | \(fmt(r.metric.value)) | \(cur) | \(r.delta.map(change) ?? "—") |"
            if repeated { s += r.changeInterval.map { " [\(change($0.lowerBound)), \(change($0.upperBound))] |" } ?? " — |" }
            s += " \(r.verdict.rawValue) |\n"
        }
        return s
    }

    /// JUnit XML: one test case per metric, a failure for each regression or missing metric.
    public func junit(suite: String) -> String {
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<testsuite name=\"\(esc(suite))\" tests=\"\(rows.count)\" failures=\"\(regressions)\">\n"
        for r in rows {
            s += "  <testcase classname=\"\(esc(suite))\" name=\"\(esc(r.metric.path))\""
            switch r.verdict {
            case .regression:
                s += "><failure message=\"\(esc("regressed: \(fmt(r.metric.value)) → \(r.current.map(fmt) ?? "?") (\(r.metric.polarity.rawValue) is better)"))\"/></testcase>\n"
            case .missing:
                s += "><failure message=\"not in the run's summary\"/></testcase>\n"
            case .improvement, .unchanged:
                s += "/>\n"
            }
        }
        s += "</testsuite>\n"
        return s
    }

    private func fmt(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : String(format: "%.6g", v)
    }
}


/// Percentile bootstrap of a difference of means, seeded so a gate's verdict is reproducible.
public struct Bootstrap: Sendable {
    /// Two-sided confidence level. 0.95: our choice (the usual one).
    public var confidence = 0.95
    /// Resamples. 10,000: our choice; the interval's ends move by well under 1% of its width
    /// between seeds at this count.
    public var resamples = 10_000
    public var seed: UInt64 = 0x5EED

    public init(confidence: Double = 0.95, resamples: Int = 10_000, seed: UInt64 = 0x5EED) {
        self.confidence = confidence
        self.resamples = resamples
        self.seed = seed
    }

    /// Interval of mean(a) − mean(b), resampling each sample with replacement (a sample of one
    /// value is a constant).
    public func meanDifferenceInterval(_ a: [Double], _ b: [Double], stream: UInt64 = 0) -> ClosedRange<Double> {
        precondition(!a.isEmpty && !b.isEmpty && resamples > 0)
        var rng = SeededRNG(seed: seed, stream: stream)
        func resampledMean(_ x: [Double]) -> Double {
            if x.count == 1 { return x[0] }
            var sum = 0.0
            for _ in 0..<x.count { sum += x[Int(rng.next() % UInt64(x.count))] }
            return sum / Double(x.count)
        }
        var diffs = [Double](repeating: 0, count: resamples)
        for k in 0..<resamples { diffs[k] = resampledMean(a) - resampledMean(b) }
        diffs.sort()
        let tail = (1 - confidence) / 2
        let lo = diffs[min(resamples - 1, Int((tail * Double(resamples)).rounded(.down)))]
        let hi = diffs[min(resamples - 1, max(0, Int(((1 - tail) * Double(resamples)).rounded(.up)) - 1))]
        return lo...hi
    }
}

extension Baseline {
    /// `gate --update`: the baseline of these runs (one, or `run --repeat N`'s: the mean, with
    /// every run's value kept for the next bootstrap). A stored baseline keeps its metrics and
    /// tolerances and takes the new values; a new one gets the default metrics, with zero
    /// tolerance for targets that reproduce exactly (`TargetIdentity.hasExactBaseline`) and
    /// `relative` for the others.
    /// - Parameter source: the summary file, for errors.
    public static func updated(_ stored: Baseline?, from summaries: [SummaryFile], relative: Double,
                               source: String) throws(BenchError) -> Baseline {
        let summary = summaries[0]
        guard let target = summary.target, let id = summary.workload else {
            throw BenchError.data(SourceLocation(file: source), "not an accelbench summary (target, workload.spec_digest, seed, count)")
        }
        func measured(_ path: String) -> (Double, [Double])? {
            let xs = summaries.compactMap { $0.value(path) }
            guard !xs.isEmpty else { return nil }
            return (xs.reduce(0, +) / Double(xs.count), xs.count > 1 ? xs : [])
        }
        var metrics: [Metric] = []
        if let stored {
            for m in stored.metrics {
                guard let (v, xs) = measured(m.path) else {
                    throw BenchError.data(SourceLocation(file: source, field: m.path), "the baseline's metric is not in this run")
                }
                var n = m
                n.value = v
                n.samples = xs
                metrics.append(n)
            }
        } else {
            let classes = summary.classes
            let exact = TargetIdentity(parsing: target).hasExactBaseline
            for (path, polarity) in defaultMetrics(classes: classes) {
                guard let (v, xs) = measured(path) else { continue }
                metrics.append(Metric(path: path, polarity: polarity, relative: exact ? 0 : relative, absolute: 0, value: v, samples: xs))
            }
        }
        return Baseline(target: target, workload: id, metrics: metrics)
    }
}

/// The run a gate judges: one results directory, or repeated runs (`run --repeat N`:
/// repeats.json and a directory per run).
public struct GatedRuns: Sendable {
    public let summaries: [SummaryFile]
    /// The file named in errors (summary.json or repeats.json).
    public let source: String
    public let repeated: Bool
    public let target: String

    public init(directory: String) throws(BenchError) {
        repeated = RepeatSet.isRepeated(directory)
        source = directory + "/" + (repeated ? RepeatSet.file : ResultsFiles.summary)
        let set = repeated ? try RepeatSet(directory: directory) : nil
        if let set { summaries = set.summaries } else { summaries = [try SummaryFile.read(source)] }
        guard let target = summaries[0].target, summaries[0].workload != nil else {
            throw BenchError.data(SourceLocation(file: source), "not an accelbench summary (target, workload.spec_digest, seed, count)")
        }
        self.target = target
        let runs = set.map { s in s.runs.map { directory + "/" + $0 } } ?? [directory]
        for (run, summary) in zip(runs, summaries) { try GatedRuns.checkRecords(run, summary: summary) }
    }

    /// Reads every record of `directory`, checked as `report` reads them, and counts them
    /// against its summary.json: a gate must not pass on a summary whose records are corrupt or
    /// gone.
    static func checkRecords(_ directory: String, summary: SummaryFile) throws(BenchError) {
        let reader = try ResultsReader(directory: directory)
        var count = 0
        try reader.forEachRecord { _ in count += 1 }
        guard let total = summary.numbers["requests.total"] else { return }
        let expected = total + (summary.numbers["requests.excluded_by_window"] ?? 0)
        guard Double(count) == expected else {
            throw BenchError.data(SourceLocation(file: reader.requestsPath), "holds \(count) records, but \(ResultsFiles.summary) counts \(expected == expected.rounded() && expected.magnitude < 1e15 ? String(Int(expected)) : String(expected)) requests")
        }
    }
}

extension Baseline {
    /// Throws unless `runs` are of this baseline's workload and (unless `anyTarget`) target.
    public func checkComparable(with runs: GatedRuns, baselinePath: String, anyTarget: Bool) throws(BenchError) {
        guard matchesWorkload(of: runs.summaries[0]) else {
            throw BenchError.data(SourceLocation(file: baselinePath, field: "workload"),
                                  "the baseline is for another workload (spec digest, seed, count or rate differ from \(runs.source))")
        }
        guard anyTarget || target == runs.target else {
            throw BenchError.data(SourceLocation(file: baselinePath, field: "target"),
                                  "the baseline is for '\(target)', the run is of '\(runs.target)' (--any-target compares anyway)")
        }
    }
}

extension GateReport {
    /// The closing line `gate` prints.
    public var verdictLine: String {
        switch exitCode {
        case ExitCodes.regression: return "gate: \(regressions) regression(s)"
        case ExitCodes.improvementOnly: return "gate: \(improvements) improvement(s), no regression; refresh the baseline with --update"
        default: return "gate: pass"
        }
    }
}
