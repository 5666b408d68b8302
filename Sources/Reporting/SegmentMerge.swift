import BenchCore

/// Joins the results directories of a split run (`run --segment i/N`, one per load generator)
/// into one results directory. The records are written through `ResultsWriter`, so the merged
/// summary comes from the one metrics path over all records, as a single process's would. A
/// segment that is missing, did not finish, or holds fewer records than its workload share makes
/// the merge incomplete, with a reason naming it; every record that did arrive is kept.
public enum SegmentMerge {
    public struct Outcome: Sendable {
        public var summary: Summary
        /// Why the merged run is incomplete (empty: complete).
        public var incomplete: [String]
        public var segments: Int
        public var records: Int
    }

    public static func merge(_ directories: [String], into output: String, options: MetricsOptions = .init()) throws(BenchError) -> Outcome {
        guard !directories.isEmpty else { throw .usage("merge: give the segments' results directories") }
        func same(_ a: String, _ b: String) -> Bool { FileIO.canonicalPath(a) == FileIO.canonicalPath(b) }
        if let d = directories.first(where: { same($0, output) }) { throw .usage("merge: the output \(output) is one of the segments (\(d))") }
        var parts: [(dir: String, reader: ResultsReader, segment: Segment)] = []
        for d in directories {
            let reader = try ResultsReader(directory: d)
            guard let header = reader.run.workload, let s = header.segment else {
                throw .data(d, "not a segment's results: its run.json has no workload segment (run --segment i/N writes one)")
            }
            parts.append((d, reader, s))
        }
        let first = parts[0]
        let total = first.segment.count
        var incomplete: [String] = []
        try checkSameRun(parts.map { ($0.dir, $0.reader.run, $0.segment) }, total: total)
        var seen: [Int: String] = [:]
        for p in parts {
            if let other = seen[p.segment.index] { throw .usage("merge: segment \(p.segment) is given twice (\(other) and \(p.dir))") }
            seen[p.segment.index] = p.dir
        }
        for i in 0..<total where seen[i] == nil { incomplete.append("segment \(i)/\(total) is missing") }

        // Records, each id once; the time axis is shared (every segment started at --start-at).
        var records: [RequestRecord] = []
        var owner: [Int: String] = [:]
        var segmentReasons: [String] = []
        var endS = 0.0
        var clocks: [JSONValue] = []
        for p in parts.sorted(by: { $0.segment.index < $1.segment.index }) {
            let rs = try p.reader.records()
            for r in rs {
                if let o = owner[r.id] { throw .data(p.dir, "request \(r.id) is also in \(o): the segments overlap") }
                owner[r.id] = p.dir
            }
            records += rs
            let expected = p.reader.run.workload!.count
            if p.reader.run.interrupted {
                incomplete.append("segment \(p.segment) (\(p.dir)) did not finish (interrupted or killed): \(rs.count) of its \(expected) requests recorded")
            } else if rs.count != expected {
                incomplete.append("segment \(p.segment) (\(p.dir)) recorded \(rs.count) of its \(expected) requests")
            }
            segmentReasons += p.reader.run.invalidReasons.map { "segment \(p.segment): \($0)" }
            endS = max(endS, p.reader.runEndS ?? records.map(Metrics.lastInstant(of:)).max() ?? 0)
            if let c = p.reader.run.clock { clocks.append(.object([("segment", .string(p.segment.description)), ("clock", c)])) }
        }
        records.sort { $0.id < $1.id }

        var header = first.reader.run.workload!
        header.segment = nil
        header.count = parts.reduce(0) { $0 + $1.reader.run.workload!.count }
        let writer = try ResultsWriter(directory: output, run: RunInfo(target: first.reader.run.target, workload: header), options: options)
        for r in records { try writer.append(r) }
        let summary = try writer.finish(runEndS: endS, interrupted: false, invalidReasons: incomplete + segmentReasons,
                                        clock: clocks.isEmpty ? nil : .array(clocks))
        return Outcome(summary: summary, incomplete: incomplete, segments: parts.count, records: records.count)
    }

    /// Every segment ran the same workload (spec, digest, seed, rate, split) against the same target.
    static func checkSameRun(_ parts: [(dir: String, run: RunInfo, segment: Segment)], total: Int) throws(BenchError) {
        let a = parts[0]
        for p in parts.dropFirst() {
            let (h, g) = (p.run.workload!, a.run.workload!)
            guard p.segment.count == total else {
                throw .usage("merge: \(p.dir) is segment \(p.segment), \(a.dir) is \(a.segment): different splits")
            }
            guard h.specDigest == g.specDigest, h.seed == g.seed, h.rateRps == g.rateRps, h.specName == g.specName else {
                throw .usage("merge: \(p.dir) and \(a.dir) ran different workloads (spec, digest, seed or rate differ)")
            }
            guard p.run.target == a.run.target else {
                throw .usage("merge: \(p.dir) ran against \(p.run.target), \(a.dir) against \(a.run.target)")
            }
        }
    }
}
