import BenchCore
import Foundation

/// Summary statistics of a workload file (`accelbench workload stats`).
public struct WorkloadStats: Sendable {
    public struct Distribution: Sendable {
        public var mean: Double
        public var p50: Double
        public var p90: Double
        public var p99: Double
        public var min: Double
        public var max: Double

        /// Percentiles by linear interpolation between order statistics (numpy's default), so
        /// they can be compared with the trace README's figures.
        public init(_ values: [Double]) {
            guard !values.isEmpty else {
                self.init(mean: .nan, p50: .nan, p90: .nan, p99: .nan, min: .nan, max: .nan)
                return
            }
            let s = values.sorted()
            func q(_ p: Double) -> Double {
                let h = p * Double(s.count - 1)
                let lo = Int(h.rounded(.down))
                let hi = Swift.min(lo + 1, s.count - 1)
                return s[lo] + (h - Double(lo)) * (s[hi] - s[lo])
            }
            self.init(mean: s.reduce(0, +) / Double(s.count), p50: q(0.5), p90: q(0.9), p99: q(0.99), min: s[0], max: s[s.count - 1])
        }

        public init(mean: Double, p50: Double, p90: Double, p99: Double, min: Double, max: Double) {
            self.mean = mean
            self.p50 = p50
            self.p90 = p90
            self.p99 = p99
            self.min = min
            self.max = max
        }

        func write(to w: inout JSONWriter) {
            w.beginObject()
            for (k, v) in [("mean", mean), ("p50", p50), ("p90", p90), ("p99", p99), ("min", min), ("max", max)] {
                w.key(k); w.fixed(v, decimals: 3)
            }
            w.endObject()
        }
    }

    public struct Group: Sendable {
        public var name: String
        public var kind: String
        public var count: Int
        public var rateRps: Double
        public var interArrivalCV: Double
        public var prompt: Distribution
        public var output: Distribution
        public var ttftMs: Distribution?
        public var tbtMs: Distribution?
        public var jctS: Distribution?
        public var prefixShared: Int
    }

    /// Multi-turn sessions: how many, turns per session, think times (s); nil without sessions.
    public struct Sessions: Sendable {
        public var count: Int
        public var turns: Distribution
        public var thinkS: Distribution?
    }

    public var header: WorkloadHeader
    public var spanS: Double
    public var overall: Group
    public var classes: [Group]
    public var sessions: Sessions?

    public init(_ workload: Workload) {
        header = workload.header
        let reqs = workload.requests
        spanS = (reqs.last?.arrivalS ?? 0) - (reqs.first?.arrivalS ?? 0)
        overall = WorkloadStats.group(name: "all", kind: "", reqs)
        classes = workload.header.classes.map { c in
            WorkloadStats.group(name: c.name, kind: c.kind.rawValue, reqs.filter { $0.className == c.name })
        }
        let turns = reqs.compactMap(\.session)
        if !turns.isEmpty {
            let perSession = Dictionary(grouping: turns, by: \.id).values.map { Double($0.count) }
            let think = turns.filter { $0.turn > 0 }.map(\.thinkS)
            sessions = Sessions(count: perSession.count, turns: Distribution(perSession), thinkS: think.isEmpty ? nil : Distribution(think))
        }
    }

    static func group(name: String, kind: String, _ reqs: [WorkloadRequest]) -> Group {
        var gaps: [Double] = []
        for i in reqs.indices.dropFirst() { gaps.append(reqs[i].arrivalS - reqs[i - 1].arrivalS) }
        let meanGap = gaps.isEmpty ? .nan : gaps.reduce(0, +) / Double(gaps.count)
        let variance = gaps.isEmpty ? .nan : gaps.reduce(0) { $0 + ($1 - meanGap) * ($1 - meanGap) } / Double(gaps.count)
        let span = (reqs.last?.arrivalS ?? 0) - (reqs.first?.arrivalS ?? 0)
        func optional(_ xs: [Double]) -> Distribution? { xs.isEmpty ? nil : Distribution(xs) }
        return Group(name: name, kind: kind, count: reqs.count,
                     rateRps: span > 0 ? Double(reqs.count - 1) / span : .nan,
                     interArrivalCV: meanGap > 0 ? variance.squareRoot() / meanGap : .nan,
                     prompt: Distribution(reqs.map { Double($0.promptTokens) }),
                     output: Distribution(reqs.map { Double($0.outputTokens) }),
                     ttftMs: optional(reqs.compactMap(\.slo.ttftMs)), tbtMs: optional(reqs.compactMap(\.slo.tbtMs)),
                     jctS: optional(reqs.compactMap(\.slo.jctS)), prefixShared: reqs.filter { $0.prefixGroup != nil }.count)
    }

    public func json() -> String {
        var w = JSONWriter()
        w.beginObject()
        w.key("workload"); w.raw(header.jsonBytes)
        w.key("span_s"); w.fixed(spanS, decimals: 6)
        w.key("overall"); write(overall, to: &w)
        w.key("classes")
        w.beginObject()
        for c in classes {
            w.key(c.name); write(c, to: &w)
        }
        w.endObject()
        if let sessions {
            w.key("sessions")
            w.beginObject()
            w.key("count"); w.int(sessions.count)
            w.key("turns"); sessions.turns.write(to: &w)
            w.key("think_s"); if let d = sessions.thinkS { d.write(to: &w) } else { w.null() }
            w.endObject()
        }
        w.endObject()
        return w.string
    }

    func write(_ g: Group, to w: inout JSONWriter) {
        w.beginObject()
        if !g.kind.isEmpty { w.key("kind"); w.string(g.kind) }
        w.key("count"); w.int(g.count)
        w.key("rate_rps"); w.fixed(g.rateRps, decimals: 6)
        w.key("interarrival_cv"); w.fixed(g.interArrivalCV, decimals: 6)
        w.key("prompt_tokens"); g.prompt.write(to: &w)
        w.key("output_tokens"); g.output.write(to: &w)
        w.key("slo")
        w.beginObject()
        w.key("ttft_ms"); if let d = g.ttftMs { d.write(to: &w) } else { w.null() }
        w.key("tbt_ms"); if let d = g.tbtMs { d.write(to: &w) } else { w.null() }
        w.key("jct_s"); if let d = g.jctS { d.write(to: &w) } else { w.null() }
        w.endObject()
        w.key("with_prefix_group"); w.int(g.prefixShared)
        w.endObject()
    }

    /// A plain-text table for terminals.
    public func table() -> String {
        func f(_ x: Double, _ d: Int = 1) -> String { x.isFinite ? String(format: "%.\(d)f", x) : "-" }
        func dist(_ d: Distribution?) -> String {
            guard let d else { return "-" }
            return "\(f(d.p50, 0))/\(f(d.p90, 0))/\(f(d.p99, 0)) (\(f(d.mean, 0)))"
        }
        func sloDist(_ d: Distribution?, _ unit: String) -> String {
            guard let d else { return "-" }
            return "\(f(d.min, 1))–\(f(d.max, 1))\(unit)"
        }
        // The rows present (a cut or edited file may hold fewer than its header's count).
        var out = "workload \(header.specName)  seed \(header.seed)  \(overall.count) requests over \(f(spanS, 1)) s"
        if overall.count != header.count { out += " (the header says \(header.count))" }
        if let r = header.rateRps { out += "  offered \(f(r, 3)) req/s" }
        out += "\n\(header.specDigest)\n\n"
        let cols = ["class", "kind", "count", "share", "rate/s", "CV", "prompt p50/p90/p99 (mean)", "output p50/p90/p99 (mean)", "TTFT SLO", "TBT SLO", "JCT SLO"]
        var rows: [[String]] = []
        for g in classes + [overall] {
            rows.append([g.name, g.kind, String(g.count), f(Double(g.count) / Double(max(overall.count, 1)), 3), f(g.rateRps, 3),
                         f(g.interArrivalCV, 2), dist(g.prompt), dist(g.output), sloDist(g.ttftMs, "ms"), sloDist(g.tbtMs, "ms"),
                         sloDist(g.jctS, "s")])
        }
        out += TextTable.render(header: cols, rows: rows)
        for c in header.classes where !c.sloRule.isEmpty {
            out += "\n  \(c.name): \(c.sloRule)"
        }
        if let s = sessions {
            out += "\n\nsessions: \(s.count); turns p50/p90/p99 (mean) \(dist(s.turns)); think time p50/p90/p99 (mean) "
            out += s.thinkS.map { "\(f($0.p50, 2))/\(f($0.p90, 2))/\(f($0.p99, 2)) (\(f($0.mean, 2))) s" } ?? "-"
        }
        return out + "\n"
    }
}

