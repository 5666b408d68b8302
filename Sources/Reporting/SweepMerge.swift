import BenchCore
import Foundation

/// Joins the shares of a sweep split over several processes or pods (`sweep --points i/N`) into
/// one sweep directory, as `SegmentMerge` joins a run's segments. Every rate's results directory
/// is copied whole and its summary recomputed from its records (the one metrics path, with the
/// options its summary.json names), so the merged `sweep.json` is what one process sweeping the
/// whole grid writes. A missing share, one that did not finish, or a rate that no share ran makes
/// the merge incomplete, with reasons naming them; every rate that did finish is kept.
public enum SweepMerge {
    public struct Outcome: Sendable {
        public var points: [SweepPoint]
        /// Why the merged sweep is incomplete (empty: complete).
        public var incomplete: [String]
        public var shares: Int
        public var classes: [String]
    }

    public static func merge(_ directories: [String], into output: String) throws(BenchError) -> Outcome {
        guard !directories.isEmpty else { throw .usage("sweep --merge: give the shares' sweep directories") }
        let parts = try readShares(directories, output: output)
        let first = parts[0].contents
        let share0 = first.share!
        var incomplete: [String] = []
        var seen: [Int: String] = [:]
        for p in parts {
            let s = p.contents.share!.segment
            if let other = seen[s.index] { throw .usage("sweep --merge: share \(s) is given twice (\(other) and \(p.dir))") }
            seen[s.index] = p.dir
        }
        for i in 0..<share0.segment.count where seen[i] == nil { incomplete.append("share \(i)/\(share0.segment.count) is missing") }

        try FileIO.makeDirectories(output)
        var points: [SweepPoint] = []
        for p in parts.sorted(by: { $0.contents.share!.segment.index < $1.contents.share!.segment.index }) {
            let share = p.contents.share!
            let done = try p.contents.points.map { (pt) throws(BenchError) in try point(pt, from: p.dir, into: output) }
            points += done
            if !p.contents.complete || done.count != share.ownRates.count {
                let missing = share.ownRates.filter { r in !done.contains { $0.rateRPS == r } }
                incomplete.append("share \(share.segment) (\(p.dir)) did not finish: \(done.count) of its \(share.ownRates.count) rates"
                                  + (missing.isEmpty ? "" : "; missing " + missing.map { String(format: "%g", $0) }.joined(separator: ", ")))
            }
        }
        let header = SweepFile.Header(spec: first.spec ?? "", target: first.target ?? "", seed: first.seed ?? 0, count: first.count ?? 0,
                                      classes: first.classes, complete: incomplete.isEmpty)
        try FileIO.writeAtomically(SweepFile.json(header, points: points, targetAttainment: nil, precision: 0, searches: []),
                                   to: output + "/" + SweepFile.name)
        return Outcome(points: points.sorted { $0.rateRPS < $1.rateRPS }, incomplete: incomplete, shares: parts.count, classes: first.classes)
    }

    /// Each directory's sweep.json, checked to be a share of the same sweep as the first.
    static func readShares(_ directories: [String], output: String) throws(BenchError) -> [(dir: String, contents: SweepFile.Contents)] {
        func same(_ a: String, _ b: String) -> Bool { FileIO.canonicalPath(a) == FileIO.canonicalPath(b) }
        var parts: [(dir: String, contents: SweepFile.Contents)] = []
        for d in directories {
            if same(d, output) { throw .usage("sweep --merge: the output \(output) is one of the shares") }
            let c = try SweepFile.read(path: d + "/" + SweepFile.name)
            guard c.share != nil else { throw .data(d, "not a share of a split sweep: its sweep.json has no 'share' (sweep --points i/N writes one)") }
            parts.append((d, c))
        }
        let a = parts[0]
        for p in parts.dropFirst() {
            let (x, y) = (p.contents, a.contents)
            guard x.share!.segment.count == y.share!.segment.count, x.share!.rates == y.share!.rates else {
                throw .usage("sweep --merge: \(p.dir) and \(a.dir) split different grids (rates or share counts differ)")
            }
            guard x.spec == y.spec, x.seed == y.seed, x.count == y.count, x.classes == y.classes else {
                throw .usage("sweep --merge: \(p.dir) and \(a.dir) swept different workloads (spec, seed, count or classes differ)")
            }
            guard x.target == y.target else { throw .usage("sweep --merge: \(p.dir) ran against \(x.target ?? "?"), \(a.dir) against \(y.target ?? "?")") }
        }
        return parts
    }

    /// One finished rate: its directory copied into the merged sweep, its summary recomputed.
    static func point(_ p: SweepFile.Contents.Point, from share: String, into output: String) throws(BenchError) -> SweepPoint {
        guard !p.dir.isEmpty, !p.dir.contains("/"), p.dir != ".", p.dir != ".." else {
            throw .data(share + "/" + SweepFile.name, "rate \(p.rateRps): 'dir' must name a directory inside the sweep, got '\(p.dir)'")
        }
        let source = share + "/" + p.dir, target = output + "/" + p.dir
        do {
            if FileIO.exists(target) { try FileManager.default.removeItem(atPath: target) }
            try FileManager.default.copyItem(atPath: source, toPath: target)
        } catch {
            throw .io(target, "cannot copy \(source): \(error.localizedDescription)")
        }
        let reader = try ResultsReader(directory: target)
        let summary = try reader.summarize(options: try options(ofSummaryIn: target))
        var bound: SweepPoint.OracleBound?
        if let met = p.oracleMet, let window = p.oracleWindowS {
            bound = SweepPoint.OracleBound(metRequests: met, byClass: p.oracleClassMet, lastArrivalS: window)
        }
        return SweepPoint(rateRPS: p.rateRps, directory: p.dir, summary: summary, oracle: bound)
    }

    /// The metrics options the run's summary.json was computed with (its `options`).
    static func options(ofSummaryIn directory: String) throws(BenchError) -> MetricsOptions {
        let path = directory + "/summary.json"
        var f = try JSONFields(try JSONParser.parse(file: path), file: path, line: nil)
        guard var o = try f.optionalObject("options") else { return MetricsOptions() }
        let modeText = try o.string("tbt_mode")
        guard let mode = TBTMode(rawValue: modeText) else { throw o.error("tbt_mode", "unknown mode '\(modeText)'") }
        let options = MetricsOptions(tbtMode: mode, warmupS: try o.optionalDouble("warmup_s") ?? 0, cooldownS: try o.optionalDouble("cooldown_s") ?? 0)
        try o.finish(allowingExtra: true)
        return options
    }
}
