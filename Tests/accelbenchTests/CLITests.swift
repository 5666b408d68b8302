import BenchCore
import Foundation
import Reporting
import Testing

/// End-to-end: run the built `accelbench` binary as a user would.
struct CLI {
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The binary next to the test bundle (same build folder and configuration).
    static let binary: URL = {
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for dir in [bundleDir, bundleDir.deletingLastPathComponent()] {
            let candidate = dir.appendingPathComponent("accelbench")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        }
        return repoRoot.appendingPathComponent(".build/debug/accelbench")
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static func run(_ args: [String]) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.currentDirectoryURL = repoRoot
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return Result(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self), stderr: String(decoding: e, as: UTF8.self))
    }

    static func tempDir() -> URL {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("accelbench-cli-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        return d
    }
}

@Suite struct CLITests {
    @Test func generateIsDeterministicAndStatsRead() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.jsonl").path, b = dir.appendingPathComponent("b.jsonl").path
        let r1 = try CLI.run(["generate", "workloads/smoke.yaml", "-o", a, "--seed", "9"])
        #expect(r1.status == 0, "\(r1.stderr)")
        let r2 = try CLI.run(["generate", "workloads/smoke.yaml", "-o", b, "--seed", "9"])
        #expect(r2.status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)))
        let stats = try CLI.run(["workload", "stats", a])
        #expect(stats.status == 0)
        #expect(stats.stdout.contains("chat") && stats.stdout.contains("offline"))
        let json = try CLI.run(["workload", "stats", a, "--json"])
        #expect(json.status == 0)
        let parsed = try JSONParser.parse(json.stdout)
        #expect(parsed["overall"]?["count"] == .number(20))
    }

    @Test func rateAndCountOverrides() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("w.jsonl").path
        let r = try CLI.run(["generate", "workloads/smoke.yaml", "-o", out, "--rate", "50", "--count", "200"])
        #expect(r.status == 0, "\(r.stderr)")
        let w = try Workload.decode([UInt8](try Data(contentsOf: URL(fileURLWithPath: out))), file: out)
        #expect(w.requests.count == 200)
        #expect(w.header.rateRps == 50)
    }

    @Test func badSpecIsADataErrorNamingFileLineAndFieldAndWritesNothing() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("bad.yaml")
        try """
        name: bad
        count: 10
        arrival:
          process: poisson
          rate: -3
        classes:
          - {name: a, kind: interactive, share: 1, prompt: 10, output: 5}
        """.write(to: spec, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("out.jsonl").path
        let r = try CLI.run(["generate", spec.path, "-o", out])
        #expect(r.status == 65)
        #expect(r.stderr.contains("bad.yaml:5"), "\(r.stderr)")
        #expect(r.stderr.contains("rate"))
        #expect(r.stderr.split(separator: "\n").count == 1, "one-line error: \(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    @Test func usageErrorsExit64() throws {
        let r = try CLI.run(["generate", "workloads/smoke.yaml", "-o", "/tmp/x.jsonl", "--count", "5", "--duration", "3"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--count") || r.stderr.contains("--duration"))
        let r2 = try CLI.run(["generate", "workloads/smoke.yaml", "-o", "/tmp/x.jsonl", "--rate", "0"])
        #expect(r2.status == 64)
        #expect(r2.stderr.contains("--rate"))
    }

    @Test func missingSpecFileIsAnIOError() throws {
        let r = try CLI.run(["generate", "workloads/does-not-exist.yaml", "-o", "/tmp/x.jsonl"])
        #expect(r.status == 74)
        #expect(r.stderr.contains("does-not-exist.yaml"))
    }

    @Test func reportReproducesSummaryAndHandlesEmptyDirectories() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let results = dir.appendingPathComponent("run").path
        let writer = try ResultsWriter(directory: results, run: RunInfo(target: "fixture"))
        for i in 0..<10 {
            let t0 = Double(i)
            let times = (0..<5).map { t0 + 0.2 + 0.05 * Double($0) }
            let r = RequestRecord(id: i, className: i % 2 == 0 ? "chat" : "batch", intendedS: t0, sentS: t0 + 0.001,
                                  firstTokenS: times[0], tokenTimesS: times, doneS: times[4], status: i == 3 ? "http_500" : "ok",
                                  promptTokens: 100, outputTokens: 5, tokenCountSource: .synthetic,
                                  slo: SLO(ttftMs: 250, tbtMs: 60), metSLO: i != 3)
            try writer.append(i == 3 ? RequestRecord(id: 3, className: "batch", intendedS: t0, sentS: t0, firstTokenS: nil, tokenTimesS: [],
                                                     doneS: nil, status: "http_500", promptTokens: 100, outputTokens: 0,
                                                     tokenCountSource: .synthetic, slo: SLO(ttftMs: 250, tbtMs: 60), metSLO: false) : r)
        }
        try writer.finish()
        let json = try CLI.run(["report", results, "--json"])
        #expect(json.status == 0, "\(json.stderr)")
        let stored = try String(contentsOfFile: results + "/summary.json", encoding: .utf8)
        #expect(json.stdout == stored)
        let table = try CLI.run(["report", results])
        #expect(table.status == 0)
        #expect(table.stdout.contains("chat") && table.stdout.contains("90.0%"))
        let p99 = try CLI.run(["report", results, "--json", "--tbt-mode", "p99", "--warmup", "2"])
        #expect(p99.status == 0)
        #expect(try JSONParser.parse(p99.stdout)["requests"]?["total"] == .number(8))

        let empty = dir.appendingPathComponent("empty").path
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let e = try CLI.run(["report", empty])
        #expect(e.status == 65)
        #expect(e.stderr.contains("empty results"))
    }
}
