import BenchCore
import Foundation

/// Multi-turn sessions, across the records of their turns: per session its span and whether
/// every turn succeeded and met its SLO, and per turn index the attainment and TTFT. Kept per
/// session (not per token), and mergeable, so records may be measured on several workers.
struct SessionAccumulator {
    struct Session {
        var firstIntendedS = Double.infinity
        var lastEndS = -Double.infinity
        var turns = 0
        var ok = true
        var met = true

        mutating func merge(_ o: Session) {
            firstIntendedS = min(firstIntendedS, o.firstIntendedS)
            lastEndS = max(lastEndS, o.lastEndS)
            turns += o.turns
            ok = ok && o.ok
            met = met && o.met
        }
    }

    struct Turn {
        var requests = 0
        var completed = 0
        var met = 0
        var ttft = LatencyAccumulator()

        mutating func merge(_ o: Turn) {
            requests += o.requests
            completed += o.completed
            met += o.met
            ttft.merge(o.ttft)
        }
    }

    var sessions: [Int: Session] = [:]
    var turns: [Int: Turn] = [:]

    var isEmpty: Bool { sessions.isEmpty }

    mutating func add(_ r: RequestRecord, session: Int, turn: Int, met: Bool, ttftS: Double?) {
        var s = sessions[session] ?? Session()
        s.firstIntendedS = min(s.firstIntendedS, r.intendedS)
        s.lastEndS = max(s.lastEndS, Metrics.lastInstant(of: r))
        s.turns += 1
        s.ok = s.ok && r.isOK
        s.met = s.met && met
        sessions[session] = s
        var t = turns[turn] ?? Turn()
        t.requests += 1
        if r.isOK {
            t.completed += 1
            if let ttftS { t.ttft.record(ttftS) }
        }
        if met { t.met += 1 }
        turns[turn] = t
    }

    mutating func merge(_ o: SessionAccumulator) {
        for (k, s) in o.sessions { sessions[k, default: Session()].merge(s) }
        for (k, t) in o.turns { turns[k, default: Turn()].merge(t) }
    }

    var summary: SessionSummary? {
        guard !sessions.isEmpty else { return nil }
        // Sorted by session id so the sums do not depend on how records were split.
        let all = sessions.sorted { $0.key < $1.key }.map(\.value)
        let durations = all.filter(\.ok).map { $0.lastEndS - $0.firstIntendedS }.sorted()
        return SessionSummary(
            count: all.count, completed: all.filter(\.ok).count, met: all.filter(\.met).count,
            meanTurns: Double(all.reduce(0) { $0 + $1.turns }) / Double(all.count),
            durationMeanS: durations.isEmpty ? nil : durations.reduce(0, +) / Double(durations.count),
            durationP50S: durations.isEmpty ? nil : nearestRank(durations, 0.5),
            durationP90S: durations.isEmpty ? nil : nearestRank(durations, 0.9),
            durationMaxS: durations.last,
            byTurn: turns.sorted { $0.key < $1.key }.map { k, t in
                SessionSummary.TurnSummary(turn: k, requests: t.requests, completed: t.completed, met: t.met, ttft: t.ttft.stats)
            })
    }
}

/// summary.json's `sessions` block: present only for a workload with multi-turn sessions.
public struct SessionSummary: Sendable, Equatable {
    public struct TurnSummary: Sendable, Equatable {
        public var turn: Int
        public var requests: Int
        public var completed: Int
        public var met: Int
        public var ttft: LatencyStats?
        public var attainment: Double { Double(met) / Double(max(requests, 1)) }
    }

    /// Sessions with a turn in the window; those whose every turn completed; those whose every
    /// turn met its SLO.
    public var count: Int
    public var completed: Int
    public var met: Int
    public var meanTurns: Double
    /// Session span (first turn's intended send → last turn's end), seconds, over completed sessions.
    public var durationMeanS: Double?
    public var durationP50S: Double?
    public var durationP90S: Double?
    public var durationMaxS: Double?
    public var byTurn: [TurnSummary]

    func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("count"); w.int(count)
        w.key("completed"); w.int(completed)
        w.key("met_slo"); w.int(met)
        w.key("attainment"); w.fixed(Double(met) / Double(max(count, 1)), decimals: 6)
        w.key("mean_turns"); w.fixed(meanTurns, decimals: 3)
        w.key("duration_s")
        w.beginObject()
        w.key("mean"); w.optionalFixed(durationMeanS, decimals: 3)
        w.key("p50"); w.optionalFixed(durationP50S, decimals: 3)
        w.key("p90"); w.optionalFixed(durationP90S, decimals: 3)
        w.key("max"); w.optionalFixed(durationMaxS, decimals: 3)
        w.endObject()
        w.key("by_turn")
        w.beginObject()
        for t in byTurn {
            w.key(String(t.turn))
            w.beginObject()
            w.key("requests"); w.int(t.requests)
            w.key("completed"); w.int(t.completed)
            w.key("met_slo"); w.int(t.met)
            w.key("attainment"); w.fixed(t.attainment, decimals: 6)
            w.key("ttft_ms_p50"); w.optionalFixed(t.ttft?.p50, decimals: 3)
            w.key("ttft_ms_p99"); w.optionalFixed(t.ttft?.p99, decimals: 3)
            w.endObject()
        }
        w.endObject()
        w.endObject()
    }

    /// Lines for the terminal table.
    var text: String {
        func f(_ x: Double?, _ d: Int) -> String { x.map { String(format: "%.\(d)f", $0) } ?? "-" }
        var out = "\nsessions: \(count) (\(completed) completed, \(met) met every turn's SLO: \(f(Double(met) / Double(max(count, 1)) * 100, 1))%), "
        out += "\(f(meanTurns, 2)) turns on average; span p50 \(f(durationP50S, 1)) s, p90 \(f(durationP90S, 1)) s\n"
        out += TextTable.render(header: ["turn", "requests", "attain", "TTFT p50", "TTFT p99"], rows: byTurn.map { t in
            [String(t.turn), String(t.requests), f(t.attainment * 100, 1) + "%", f(t.ttft?.p50, 1), f(t.ttft?.p99, 1)]
        })
        return out
    }
}
