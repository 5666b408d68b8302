import BenchCore
import Foundation
import Reporting

/// One engine iteration from `iterations.jsonl`, reduced to what the timeline draws.
public struct IterationRow: Sendable, Equatable {
    public var startS: Double
    public var durationS: Double
    public var prefillTokens: Int
    public var decodeCount: Int
    public var largestChunk: Int
    public var kvUsed: Int
    public var kvFree: Int

    public init(startS: Double, durationS: Double, prefillTokens: Int, decodeCount: Int, largestChunk: Int, kvUsed: Int, kvFree: Int) {
        self.startS = startS
        self.durationS = durationS
        self.prefillTokens = prefillTokens
        self.decodeCount = decodeCount
        self.largestChunk = largestChunk
        self.kvUsed = kvUsed
        self.kvFree = kvFree
    }

    public var kvFraction: Double? {
        let total = kvUsed + kvFree
        return total > 0 ? Double(kvUsed) / Double(total) : nil
    }

    /// Reads `iterations.jsonl` (or the journal an interrupted run left, whose torn last line is
    /// dropped); nil when the directory has neither (endpoint runs write none).
    public static func read(directory: String) throws(BenchError) -> [IterationRow]? {
        var path = directory + "/" + ResultsFiles.iterations
        var journal = false
        if !FileIO.exists(path) {
            path += ".partial"
            journal = true
            guard FileIO.exists(path) else { return nil }
        }
        let bytes = try FileIO.readFile(path)
        var rows: [IterationRow] = []
        var lineNo = 0
        var start = 0
        while start < bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            lineNo += 1
            let torn = end == bytes.count
            defer { start = end + 1 }
            if end == start { continue }
            let value: JSONValue
            do {
                value = try bytes[start..<end].withUnsafeBufferPointer { (b: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> JSONValue in
                    try JSONParser.parse(b)
                }
            } catch {
                if journal && torn { break }
                throw BenchError.data(path, line: lineNo, "\(error)")
            }
            var f = try JSONFields(value, file: path, line: lineNo)
            let chunks = try f.optionalDoubleArray("chunks") ?? []
            rows.append(IterationRow(startS: try f.double("start_s"), durationS: try f.double("duration_s"),
                                     prefillTokens: try f.int("prefill_tokens"), decodeCount: try f.int("decode_count"),
                                     largestChunk: Int(chunks.max() ?? 0), kvUsed: try f.int("kv_used"), kvFree: try f.int("kv_free")))
            // The engine writes more fields (waiting, budget, prediction); the timeline needs these.
            try f.finish(allowingExtra: true)
        }
        return rows
    }
}

/// A results directory as the figures use it.
public struct RunInput: Sendable {
    public var directory: String
    /// The short name on keys and bars (see `RunLabels`).
    public var label: String
    public var run: RunInfo
    public var records: [RequestRecord]
    public var iterations: [IterationRow]?
    /// `server_metrics.jsonl` of an endpoint run with `--server-metrics`.
    public var serverMetrics: [ServerMetricsScrape]?
    /// The workload's classes in its order, then any class seen only in the records.
    public var classes: [String]
    /// The run's summary.json; nil when the run never finished (no summary written).
    public var summary: SummaryFile?
    public var recovered: Bool

    public static func load(_ directory: String) throws(BenchError) -> RunInput {
        let reader = try ResultsReader(directory: directory)
        let records = try reader.records()
        var classes = reader.run.workload?.classes.map(\.name) ?? []
        var seen = Set(classes)
        for r in records where seen.insert(r.className).inserted { classes.append(r.className) }
        let summaryPath = directory + "/" + ResultsFiles.summary
        let summary = FileIO.exists(summaryPath) ? try SummaryFile.read(summaryPath) : nil
        var input = RunInput(directory: directory, label: RunLabels.basename(directory), run: reader.run, records: records,
                             iterations: try IterationRow.read(directory: directory), classes: classes,
                             summary: summary, recovered: reader.recovered)
        let scrapes = directory + "/" + ResultsFiles.serverMetrics
        if FileIO.exists(scrapes) { input.serverMetrics = try ServerMetricsScrape.readFile(scrapes) }
        return input
    }
}

/// A sweep directory: `sweep.json` (read by Reporting's `SweepFile`) plus one results directory
/// per rate.
public struct SweepInput: Sendable {
    public var directory: String
    public var label: String
    public var contents: SweepFile.Contents

    public init(directory: String, contents: SweepFile.Contents) {
        self.directory = directory
        self.label = RunLabels.basename(directory)
        self.contents = contents
    }

    /// The file's spec, else the directory's name.
    public var spec: String { contents.spec ?? RunLabels.basename(directory) }
    public var target: String { contents.target ?? "unknown" }
    public var seed: UInt64? { contents.seed }
    public var count: Int? { contents.count }
    public var classes: [String] { contents.classes }
    /// Sorted by rate.
    public var points: [SweepFile.Contents.Point] { contents.points }
    public var search: SweepFile.Contents.Search? { contents.search }

    public static func isSweep(_ directory: String) -> Bool { FileIO.exists(directory + "/" + SweepFile.name) }

    public static func load(_ directory: String) throws(BenchError) -> SweepInput {
        SweepInput(directory: directory, contents: try SweepFile.read(path: directory + "/" + SweepFile.name))
    }
}

/// Short names for runs on keys and bars: the policy and ablations from the target string
/// (`engine:sim profile=… policy=accelgen ablations=no-dynamic-chunking` gives
/// `accelgen (no-dynamic-chunking)`), else the directory's name. Runs whose names would collide
/// (e.g. an ablation from before targets named their ablations) get their directory names.
public enum RunLabels {
    public static func fromTarget(_ target: String) -> String? {
        var policy: String?
        var ablations: String?
        for token in target.split(separator: " ") {
            if token.hasPrefix("policy=") { policy = String(token.dropFirst("policy=".count)) }
            if token.hasPrefix("ablations=") { ablations = String(token.dropFirst("ablations=".count)) }
        }
        guard let policy, !policy.isEmpty else { return nil }
        guard let ablations, !ablations.isEmpty, ablations != "none" else { return policy }
        return policy + " (" + ablations.split(separator: ",").joined(separator: ", ") + ")"
    }

    public static func basename(_ path: String) -> String {
        var p = Substring(path)
        while p.count > 1 && p.hasSuffix("/") { p = p.dropLast() }
        if let slash = p.lastIndex(of: "/") { p = p[p.index(after: slash)...] }
        return p.isEmpty || p == "." ? "results" : String(p)
    }

    /// Labels for (target, directory) pairs, unique among themselves.
    public static func assign(_ items: [(target: String, directory: String)]) -> [String] {
        var labels = items.map { fromTarget($0.target) ?? basename($0.directory) }
        var counts: [String: Int] = [:]
        for l in labels { counts[l, default: 0] += 1 }
        for i in labels.indices where counts[labels[i]]! > 1 { labels[i] = basename(items[i].directory) }
        // Same directory names under different parents: number them.
        var seen: [String: Int] = [:]
        for i in labels.indices {
            let n = seen[labels[i], default: 0] + 1
            seen[labels[i]] = n
            if n > 1 { labels[i] += " #\(n)" }
        }
        return labels
    }
}

extension SweepInput {
    /// The sweep as `report` prints it: its spec and target, a row per rate, and the capacity.
    public func table() -> String {
        var s = "sweep \(spec)  target \(target)\n"
        s += TextTable.render(header: ["rate req/s", "attain", "goodput req/s", "req/s"], rows: points.map { p in
            [String(format: "%.3f", p.rateRps), String(format: "%.1f%%", p.attainment * 100), String(format: "%.3f", p.goodputRps),
             String(format: "%.3f", p.throughputRps)]
        })
        if let search, let c = search.capacityRps {
            s += String(format: "capacity %.3f req/s at %.1f%% attainment", c, search.targetAttainment * 100)
                + (search.className.map { " of \($0)" } ?? "") + "\n"
        }
        return s
    }
}
