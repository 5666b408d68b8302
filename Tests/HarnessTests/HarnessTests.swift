import BenchCore
import Engine
import Foundation
import Reporting
import Testing
import Workloads
@testable import Harness

/// The repository root (for `workloads/`).
let repoRoot: String = {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path
}()

/// A fresh directory under the system temporary folder, removed when released.
final class TempDir {
    let path: String
    init() throws {
        path = FileManager.default.temporaryDirectory.path + "/accelbench-harness-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func exists(_ name: String) -> Bool { FileManager.default.fileExists(atPath: file(name)) }
    func read(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: file(name)))) }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// The shipped two-class smoke workload (`workloads/smoke.yaml`), `count` requests.
func smokeWorkload(count: Int, rate: Double? = nil) throws -> Workload {
    let path = repoRoot + "/workloads/smoke.yaml"
    let spec = try WorkloadSpec.load(path: path)
    return try WorkloadGenerator(spec: spec, specFile: path).generate(GenerateOptions(rate: rate, count: count))
}

func defaultProfile() throws -> HardwareProfile {
    try HardwareProfile.builtin(HardwareProfile.defaultName)
}

func parseFile(_ path: String) throws -> JSONValue {
    try JSONParser.parse(String(decoding: try FileIO.readFile(path), as: UTF8.self))
}

/// Non-blank lines of a file.
func lineCount(_ bytes: [UInt8]) -> Int {
    bytes.split(separator: 0x0A, omittingEmptySubsequences: true).count
}

/// The four files every finished results directory holds.
let resultsFiles = [ResultsFiles.summary, ResultsFiles.requests, ResultsFiles.iterations, ResultsFiles.run]

@Suite struct HarnessRunTests {
    /// `Harness.run` on the bundled engine writes the whole results directory, names the
    /// target by its typed identity, and a second run of the same inputs is the same bytes.
    @Test func anEngineRunWritesAReproducibleResultsDirectory() throws {
        let dir = try TempDir()
        let workload = try smokeWorkload(count: 20)
        let target = EngineTarget(profile: try defaultProfile(), policy: .accelgen, policyOptions: PolicyOptions())
        #expect(target.identity == .engine(.init(backend: "sim", profile: HardwareProfile.defaultName, policy: "accelgen",
                                                 ablations: [], jitterCV: nil)))
        #expect(target.writesIterations && target.recordWriting == .inline)

        let a = try Harness.run(workload, on: target, output: dir.file("a"))
        for name in resultsFiles { #expect(dir.exists("a/" + name), "\(name)") }
        #expect(!dir.exists("a/" + ResultsFiles.requests + ".partial") && !dir.exists("a/" + ResultsFiles.iterations + ".partial"))
        #expect(!a.run.stopped && a.run.invalidReasons.isEmpty)

        // summary.json is the summary returned, and names the target as its identity says.
        let summaryBytes = try dir.read("a/" + ResultsFiles.summary)
        #expect(summaryBytes == a.summary.json())
        let file = try SummaryFile.read(dir.file("a/" + ResultsFiles.summary))
        #expect(file.target == target.identity.description)
        #expect(TargetIdentity(parsing: try #require(file.target)).description == target.identity.description)
        #expect(a.summary.run.target == target.identity.description)
        #expect(file.workload.map { $0.matches(workload.header.identity) } == true)
        #expect(file.value("requests.total") == Double(workload.requests.count))
        #expect(a.summary.overall.total == workload.requests.count)

        // run.json: finished, not interrupted, the same target.
        let run = try parseFile(dir.file("a/" + ResultsFiles.run))
        #expect(run["target"] == .string(target.identity.description))
        #expect(run["finished"] == .bool(true) && run["interrupted"] == .bool(false))

        // One record per request, one line per engine iteration.
        let records = try ResultsReader(directory: dir.file("a")).records()
        #expect(records.map(\.id).sorted() == workload.requests.map(\.id).sorted())
        let iterations = try #require(a.run.engineIterations)
        #expect(iterations > 0)
        #expect(lineCount(try dir.read("a/" + ResultsFiles.iterations)) == iterations)
        #expect(a.summary.run.engineIterations == iterations)

        // Deterministic: a second run into another directory writes the same bytes.
        let b = try Harness.run(workload, on: target, output: dir.file("b"))
        for name in [ResultsFiles.summary, ResultsFiles.requests, ResultsFiles.iterations] {
            #expect(try dir.read("a/" + name) == dir.read("b/" + name), "\(name) differs between identical runs")
        }
        #expect(b.summary == a.summary)
        #expect(b.run.endS == a.run.endS && b.run.engineIterations == a.run.engineIterations)
    }

    /// The engine's `shouldStop` ends the run early: the target reports it stopped and the
    /// summary is marked interrupted.
    @Test func stoppingAnEngineRunMarksItsSummaryInterrupted() throws {
        let dir = try TempDir()
        let workload = try smokeWorkload(count: 40)
        let target = EngineTarget(profile: try defaultProfile(), policy: .sarathi, policyOptions: PolicyOptions())
        // Polled once per iteration: stop after a few.
        var polls = 0
        let r = try Harness.run(workload, on: target, output: dir.file("stopped"), shouldStop: {
            polls += 1
            return polls > 5
        })
        #expect(r.run.stopped)
        #expect(r.summary.run.interrupted)
        #expect(!r.summary.valid && r.summary.invalidReasons.contains("interrupted before all requests finished"))
        let run = try parseFile(dir.file("stopped/" + ResultsFiles.run))
        #expect(run["interrupted"] == .bool(true))
    }
}

@Suite struct RepeatedRunTests {
    func jittered(_ profile: HardwareProfile, repeat i: Int) -> EngineTarget {
        var t = EngineTarget(profile: profile, policy: .sarathi, policyOptions: PolicyOptions())
        t.jitterCV = 0.1
        t.jitterSeed = 11 &+ UInt64(i - 1)
        return t
    }

    /// `RepeatedRun` with jittered engine targets: repeat-1..N and repeats.json, which
    /// `RepeatSet` reads back; the repeats differ from each other (each its own jitter seed)
    /// and each is reproducible.
    @Test func repeatsAreWrittenReadBackDifferAndReproduce() throws {
        let dir = try TempDir()
        let profile = try defaultProfile()
        let workload = try smokeWorkload(count: 20)
        let n = 3
        let runs = RepeatedRun<EngineTarget>(count: n) { i in jittered(profile, repeat: i) }
        var seen: [Int] = []
        let outcome = try runs.run(workload, output: dir.file("first"), shouldStop: { false }) { i, result, path in
            seen.append(i)
            #expect(path.hasSuffix("/repeat-\(i)"))
            #expect(!result.run.stopped)
        }
        #expect(seen == Array(1...n))
        #expect(!outcome.stopped)
        #expect(outcome.directories == (1...n).map { "repeat-\($0)" })
        #expect(outcome.summaries.count == n)
        for i in 1...n {
            for name in resultsFiles { #expect(dir.exists("first/repeat-\(i)/" + name), "repeat \(i): \(name)") }
        }

        let set = try RepeatSet(directory: dir.file("first"))
        #expect(set.runs == outcome.directories)
        #expect(set.summaries.count == n)
        let identity = jittered(profile, repeat: 1).identity
        #expect(identity.description.hasSuffix(" jitter_cv=0.1"))
        #expect(set.summaries.allSatisfy { $0.target == identity.description })
        #expect(set.summaries.allSatisfy { $0.workload.map { $0.matches(workload.header.identity) } == true })
        let repeats = try parseFile(dir.file("first/" + RepeatSet.file))
        #expect(repeats["schema"] == .string(RepeatSet.schema))
        #expect(repeats["target"] == .string(identity.description))

        // Each repeat has its own jitter: no two have the same records.
        let records = try (1...n).map { try dir.read("first/repeat-\($0)/" + ResultsFiles.requests) }
        for i in 0..<n {
            for j in (i + 1)..<n { #expect(records[i] != records[j], "repeats \(i + 1) and \(j + 1) are identical") }
        }

        // The same repeats again: the same bytes, repeat by repeat.
        _ = try runs.run(workload, output: dir.file("second"), shouldStop: { false })
        for i in 1...n {
            for name in [ResultsFiles.summary, ResultsFiles.requests, ResultsFiles.iterations] {
                #expect(try dir.read("first/repeat-\(i)/" + name) == dir.read("second/repeat-\(i)/" + name), "repeat \(i): \(name)")
            }
        }
        #expect(try dir.read("first/" + RepeatSet.file) == dir.read("second/" + RepeatSet.file))
    }
}
