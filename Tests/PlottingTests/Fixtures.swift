import BenchCore
import Engine
import Foundation
import Reporting
import Testing
import Workloads
@testable import Plotting

/// The repository root (for `plots/` and `workloads/`).
let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A fresh directory under the system temporary folder, removed when released.
final class TempDir: @unchecked Sendable {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/accelbench-plot-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Results and sweep directories made by running the shipped mixed-slo workload through the
/// bundled engine (small counts: seconds in a debug build), once per test process.
struct Fixtures: @unchecked Sendable {
    let root: TempDir
    /// Results directories of accelgen and vllm.
    let runs: [String]
    /// Sweep directories (accelgen with an oracle bound and a search; sarathi with neither).
    let sweeps: [String]

    static let shared: Result<Fixtures, any Error> = Result { try Fixtures() }

    static func get() throws -> Fixtures { try shared.get() }

    /// A `server_metrics.jsonl` as a vLLM scrape every 0.25 s would give for this engine run:
    /// the last iteration's decodes as `running`, its KV fraction as KV usage (vLLM's names, so
    /// the name mapping is on the path).
    static func writeServerMetrics(from dir: String) throws {
        let rows = try #require(try IterationRow.read(directory: dir))
        var raw: [(tS: Double, durationS: Double, result: Result<[PrometheusSample], BenchError>)] = []
        var t = 0.0, i = 0
        while t <= rows.last!.startS {
            while i + 1 < rows.count && rows[i + 1].startS <= t { i += 1 }
            raw.append((t, 0.004, .success([
                PrometheusSample(name: "vllm:num_requests_running", labels: [PrometheusLabel("model_name", "m")], value: Double(rows[i].decodeCount)),
                PrometheusSample(name: "vllm:num_requests_waiting", labels: [PrometheusLabel("model_name", "m")], value: 0),
                PrometheusSample(name: "vllm:kv_cache_usage_perc", labels: [PrometheusLabel("model_name", "m")], value: rows[i].kvFraction ?? 0),
            ])))
            t += 0.25
        }
        var bytes: [UInt8] = []
        for s in ServerMetricsScrape.series(raw) { bytes += s.jsonLine() }
        try FileIO.writeAtomically(bytes, to: dir + "/" + ResultsFiles.serverMetrics)
    }

    private init() throws {
        root = try TempDir()
        let specPath = repoRoot + "/workloads/mixed-slo.yaml"
        let spec = try WorkloadSpec.load(path: specPath)
        let profile = try HardwareProfile.resolve(HardwareProfile.defaultName)
        func simulate(_ policy: PolicyName, count: Int, rate: Double?, into dir: String) throws -> Summary {
            let workload = try WorkloadGenerator(spec: spec, specFile: specPath).generate(GenerateOptions(rate: rate, count: count))
            let engine = EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile))
            var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile))
            let writer = try ResultsWriter(directory: dir, run: RunInfo(target: "engine:sim profile=\(profile.name) policy=\(policy.rawValue)",
                                                                        workload: workload.header), withIterations: true)
            let outcome = try driver.run(workload.requests.map(EngineRequest.init), onIteration: { try writer.appendIteration($0.json()) },
                                         onDone: { try writer.append($0.record()) })
            return try writer.finish(runEndS: outcome.endS, engineIterations: outcome.iterations, enginePreemptions: outcome.preemptions)
        }
        var runs: [String] = []
        for policy in [PolicyName.accelgen, .vllm] {
            let dir = root.file("runs/\(policy.rawValue)")
            _ = try simulate(policy, count: 60, rate: nil, into: dir)
            try Fixtures.writeServerMetrics(from: dir)
            runs.append(dir)
        }
        var sweeps: [String] = []
        for (policy, extras) in [(PolicyName.accelgen, true), (.sarathi, false)] {
            let dir = root.file("sweeps/\(policy.rawValue)")
            var w = JSONWriter()
            w.beginObject()
            w.key("schema"); w.string("accelbench.sweep/1")
            w.key("spec"); w.string("mixed-slo")
            w.key("target"); w.string("engine:sim profile=\(profile.name) policy=\(policy.rawValue)")
            w.key("seed"); w.int(42)
            w.key("count"); w.int(40)
            w.key("classes"); w.beginArray(); for c in ["chat", "summarization", "code", "translation"] { w.string(c) }; w.endArray()
            w.key("points"); w.beginArray()
            for rate in [2.0, 6.0, 12.0] {
                let name = "rate-\(Int(rate))"
                let s = try simulate(policy, count: 40, rate: rate, into: dir + "/" + name)
                w.beginObject()
                w.key("rate_rps"); w.double(rate)
                w.key("dir"); w.string(name)
                w.key("attainment"); w.double(s.overall.attainment.overall)
                w.key("goodput_rps"); w.double(s.overall.goodputRequestsPerS)
                w.key("goodput_tokens_per_s"); w.double(s.overall.goodputOutputTokensPerS)
                w.key("throughput_rps"); w.double(s.overall.requestsPerS)
                w.key("output_tokens_per_s"); w.double(s.overall.outputTokensPerS)
                w.key("by_class"); w.beginObject()
                for (c, g) in s.classes {
                    w.key(c); w.beginObject()
                    w.key("attainment"); w.double(g.attainment.overall)
                    w.key("goodput_rps"); w.double(g.goodputRequestsPerS)
                    w.endObject()
                }
                w.endObject()
                if extras {
                    // An upper bound by construction (≥ what the policy got), standing in for the
                    // oracle, whose LP is not what these tests exercise.
                    w.key("oracle"); w.beginObject()
                    w.key("upper_bound_attainment"); w.double(min(1, s.overall.attainment.overall + 0.05))
                    w.key("upper_bound_goodput_rps"); w.double(min(rate, s.overall.goodputRequestsPerS * 1.1))
                    w.endObject()
                }
                w.endObject()
            }
            w.endArray()
            w.key("search")
            if extras {
                w.beginObject()
                w.key("target_attainment"); w.double(0.9)
                w.key("class"); w.null()
                w.key("capacity_rps"); w.double(7.3)
                w.key("by_class"); w.beginObject(); w.key("chat"); w.double(8.1); w.key("code"); w.double(5.5); w.endObject()
                w.endObject()
            } else {
                w.null()
            }
            w.endObject()
            w.newline()
            try FileIO.writeAtomically(w.bytes, to: dir + "/sweep.json")
            sweeps.append(dir)
        }
        self.runs = runs
        self.sweeps = sweeps
    }
}

/// Width and height from a PNG's IHDR chunk, or nil if the bytes are not a PNG.
func pngSize(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
    let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
    guard bytes.count > 24, Array(bytes[0..<8]) == signature, Array(bytes[12..<16]) == Array("IHDR".utf8) else { return nil }
    func be32(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
    return (be32(16), be32(20))
}

/// The size of a PNG gnuplot writes for empty axes at this size: a figure must be larger.
func emptyPlotBytes(width: Int, height: Int) throws -> Int {
    let dir = try TempDir()
    let script = "set terminal \(PlotFormat.png.terminal(width: width, height: height))\nset output 'empty.png'\nplot [0:1][0:1] NaN notitle\n"
    _ = try GnuplotRunner().run(script: script, in: dir.path, scriptPath: dir.file("empty.gp"))
    return try FileIO.readFile(dir.file("empty.png")).count
}

/// Runs a program and returns its exit status and stderr.
func runProcess(_ executable: String, _ args: [String], in directory: String) throws -> (status: Int32, stderr: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    p.currentDirectoryURL = URL(fileURLWithPath: directory)
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    try p.run()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: e, as: UTF8.self))
}
