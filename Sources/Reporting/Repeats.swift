import BenchCore
import Foundation

/// A directory of repeated runs of one workload (`run --repeat N`): `repeats.json` names the
/// runs' results directories, each a normal one. `gate` reads every run's summary and compares
/// them with a baseline through bootstrap intervals instead of exactly.
public struct RepeatSet {
    public static let file = "repeats.json"
    public static let schema = "accelbench.repeats/1"

    public let directory: String
    public let runs: [String]
    /// Each run's summary.json, in run order.
    public let summaries: [SummaryFile]

    /// Whether `directory` holds repeated runs rather than one.
    public static func isRepeated(_ directory: String) -> Bool { FileIO.exists(directory + "/" + file) }

    public init(directory: String) throws(BenchError) {
        self.directory = directory
        let path = directory + "/" + RepeatSet.file
        let v = try RepeatSet.parseJSON(path)
        guard case .string(RepeatSet.schema)? = v["schema"] else {
            throw BenchError.data(SourceLocation(file: path, field: "schema"), "not \(RepeatSet.schema)")
        }
        guard case .array(let items)? = v["runs"], !items.isEmpty else {
            throw BenchError.data(SourceLocation(file: path, field: "runs"), "missing, empty or not an array")
        }
        var runs: [String] = []
        var summaries: [SummaryFile] = []
        for (i, item) in items.enumerated() {
            guard case .string(let dir) = item, !dir.contains("/") else {
                throw BenchError.data(SourceLocation(file: path, field: "runs[\(i)]"), "not the name of a directory next to the file")
            }
            runs.append(dir)
            summaries.append(try SummaryFile.read(directory + "/" + dir + "/" + ResultsFiles.summary))
        }
        // Every repeat must be of the first one's workload (the baseline checks only the first).
        let first = summaries[0].workload
        for (i, s) in summaries.enumerated().dropFirst() {
            guard let a = first, let b = s.workload, a.matches(b) else {
                throw BenchError.data(SourceLocation(file: directory + "/" + runs[i] + "/summary.json", field: "workload"),
                                      "the repeats are of different workloads")
            }
        }
        self.runs = runs
        self.summaries = summaries
    }

    static func parseJSON(_ path: String) throws(BenchError) -> JSONValue {
        let text = String(decoding: try FileIO.readFile(path), as: UTF8.self)
        do { return try JSONParser.parse(text) } catch { throw BenchError.data(SourceLocation(file: path), "not valid JSON: \(error)") }
    }

    /// Writes `repeats.json` atomically (also after an interrupted repeat, naming the runs done).
    public static func write(directory: String, target: String, runs: [String]) throws(BenchError) {
        var w = JSONWriter()
        w.beginObject()
        w.key("schema"); w.string(schema)
        w.key("target"); w.string(target)
        w.key("runs")
        w.beginArray()
        for r in runs { w.string(r) }
        w.endArray()
        w.endObject()
        w.newline()
        try FileIO.writeAtomically(w.bytes, to: directory + "/" + file)
    }

    /// Mean, bootstrap 95% interval of the mean, min and max of the headline metrics.
    public static func table(_ summaries: [SummaryFile], bootstrap: Bootstrap = .init()) -> String {
        let metrics = ["slo_attainment.overall", "goodput.requests_per_s", "goodput.output_tokens_per_s",
                       "throughput.output_tokens_per_s", "latency_ms.ttft.p50", "latency_ms.ttft.p99",
                       "latency_ms.tbt.p50", "latency_ms.tbt.p99"]
        var rows: [[String]] = []
        for (i, path) in metrics.enumerated() {
            let xs = summaries.compactMap { $0.value(path) }
            guard !xs.isEmpty else { continue }
            let mean = xs.reduce(0, +) / Double(xs.count)
            let ci = bootstrap.meanDifferenceInterval(xs, [0], stream: UInt64(i))
            func f(_ x: Double) -> String { String(format: "%.4g", x) }
            rows.append([path, f(mean), "[\(f(ci.lowerBound)), \(f(ci.upperBound))]", f(xs.min()!), f(xs.max()!), "\(xs.count)"])
        }
        return TextTable.render(header: ["metric", "mean", "95% CI of mean", "min", "max", "runs"], rows: rows)
    }
}
