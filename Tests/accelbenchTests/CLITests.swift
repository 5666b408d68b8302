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

    static func run(_ args: [String], environment: [String: String]? = nil) throws -> Result {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        if let environment { p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
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

    /// Starts the binary without waiting (its output discarded), for tests that run several at once.
    static func spawn(_ args: [String]) throws -> Process {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        p.currentDirectoryURL = repoRoot
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Starts a server subcommand that prints `... 127.0.0.1:PORT ...` on its first line.
    /// Starts a server subcommand and reads its port; `descriptorLimit` runs it under
    /// `ulimit -n`.
    static func startServer(_ args: [String], descriptorLimit: Int? = nil) throws -> (Process, Int) {
        let p = Process()
        if let limit = descriptorLimit {
            p.executableURL = URL(fileURLWithPath: "/bin/sh")
            p.arguments = ["-c", "ulimit -n \(limit) && exec \"$0\" \"$@\"", binary.path] + args
        } else {
            p.executableURL = binary
            p.arguments = args
        }
        p.currentDirectoryURL = repoRoot
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let r = text.range(of: "127.0.0.1:"), let port = Int(text[r.upperBound...].prefix { $0.isNumber }) else {
            p.terminate()
            throw BenchError.io(args[0], "no port in '\(text)'")
        }
        return (p, port)
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

@Suite struct EngineCLITests {
    @Test func runWritesAResultsDirectoryThatReportReproduces() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run").path
        let r = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--policy", "sarathi", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("chat") && r.stdout.contains("iterations"))
        for f in ["summary.json", "requests.jsonl", "iterations.jsonl", "run.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + f), "\(f)")
        }
        let json = try CLI.run(["report", out, "--json"])
        #expect(json.stdout == (try String(contentsOfFile: out + "/summary.json", encoding: .utf8)))
        let summary = try JSONParser.parse(json.stdout)
        #expect(summary["requests"]?["total"] == .number(20))
        #expect(summary["engine"]?["iterations"] != nil)
        // Deterministic: the same run gives the same records.
        let again = dir.appendingPathComponent("again").path
        _ = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--policy", "sarathi", "-o", again])
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/requests.jsonl")) == Data(contentsOf: URL(fileURLWithPath: again + "/requests.jsonl")))
        #expect(try Data(contentsOf: URL(fileURLWithPath: out + "/iterations.jsonl")) == Data(contentsOf: URL(fileURLWithPath: again + "/iterations.jsonl")))
    }

    @Test func compareRunsEachPolicy() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["compare", "--spec", "workloads/smoke.yaml", "--policies", "vllm,accelgen", "-o", dir.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("vllm") && r.stdout.contains("accelgen") && r.stdout.contains("preempt"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/vllm/summary.json"))
        #expect(FileManager.default.fileExists(atPath: dir.path + "/accelgen/summary.json"))
    }

    /// The SLO rules: refused with vllm and sarathi (and by cluster); with edf they reject and
    /// drop, the summary counts each apart, and the run's target names them.
    @Test func sloRulesRejectAndDropAndAreCounted() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let refused = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--policy", "sarathi", "--drop-lost", "-o", dir.path + "/x"])
        #expect(refused.status == 64 && refused.stderr.contains("--reject-hopeless and --drop-lost apply to edf and accelgen, not sarathi"), "\(refused.stderr)")
        let cluster = try CLI.run(["cluster", "--spec", "workloads/smoke.yaml", "--reject-hopeless", "-o", dir.path + "/c"])
        #expect(cluster.status == 64, "\(cluster.stderr)")
        // Each rule alone on an overloaded run: the summary counts what the records say.
        for (policy, rule, status) in [("edf", "--reject-hopeless", "rejected"), ("accelgen", "--drop-lost", "dropped")] {
            let out = dir.appendingPathComponent(policy).path
            let r = try CLI.run(["run", "--spec", "workloads/mixed-slo-short.yaml", "--profile", "h100-llama2-7b", "--count", "300", "--rate", "12",
                                 "--policy", policy, rule, "-o", out])
            #expect(r.status == 0, "\(r.stderr)")
            let summary = try JSONParser.parse(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
            let records = try String(contentsOfFile: out + "/requests.jsonl", encoding: .utf8).split(separator: "\n")
            let rejected = records.filter { $0.contains(#""status":"rejected""#) }.count
            let dropped = records.filter { $0.contains(#""status":"dropped""#) }.count
            #expect((status == "rejected" ? rejected : dropped) > 0 && (status == "rejected" ? dropped : rejected) == 0, "\(rule)")
            #expect(summary["requests"]?["rejected"] == .number(Double(rejected)) && summary["requests"]?["dropped"] == .number(Double(dropped)))
            #expect(summary["target"] == .string("engine:sim profile=h100-llama2-7b policy=\(policy) ablations=\(rule.dropFirst(2))"),
                    "\(String(describing: summary["target"]))")
        }
    }

    @Test func badEngineSettingsAreUsageErrorsThatNameTheFlagOrListNames() throws {
        let p = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--policy", "fifo", "-o", "/tmp/x"])
        #expect(p.status == 64)
        #expect(p.stderr.contains("vllm, sarathi, edf, accelgen"))
        let prof = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--profile", "tpu-v9", "-o", "/tmp/x"])
        #expect(prof.status == 64)
        #expect(prof.stderr.contains("h100-llama2-7b"))
        let budget = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--token-budget", "0", "-o", "/tmp/x"])
        #expect(budget.status == 64)
        #expect(budget.stderr.contains("--token-budget"))
        let block = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--block-size", "0", "-o", "/tmp/x"])
        #expect(block.status == 64)
        #expect(block.stderr.contains("--block-size"))
        let engine = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--engine", "tpu", "-o", "/tmp/x"])
        #expect(engine.status == 64)
        #expect(engine.stderr.contains("--engine: 'tpu' is not available; valid engines: sim, cpu, cuda"), "\(engine.stderr)")
    }

    @Test func profilesListAndShow() throws {
        let list = try CLI.run(["profile", "list"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("h100-llama3.1-8b (default)") && list.stdout.contains("a100-llama3-70b-tp8")
                && list.stdout.contains("h100-llama3.1-70b-tp8") && list.stdout.contains("a100-llama3.1-8b"))
        let show = try CLI.run(["profile", "show", "a100-llama3-8b", "--json"])
        #expect(show.status == 0)
        #expect(try JSONParser.parse(show.stdout)["name"] == .string("a100-llama3-8b"))
    }

    @Test func ctrlCWritesTheResultsGatheredSoFar() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("run").path
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["run", "--spec", "workloads/azure-conv.yaml", "--policy", "sarathi", "-o", out]
        p.currentDirectoryURL = CLI.repoRoot
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until the run has started writing records, then interrupt it.
        let journal = out + "/requests.jsonl.partial"
        var waited = 0.0
        while waited < 60, !FileManager.default.fileExists(atPath: journal) {
            Thread.sleep(forTimeInterval: 0.02)
            waited += 0.02
        }
        Thread.sleep(forTimeInterval: 0.2)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        let run = try JSONParser.parse(try String(contentsOfFile: out + "/run.json", encoding: .utf8))
        #expect(run["interrupted"] == .bool(true))
        let summary = try JSONParser.parse(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        #expect(summary["valid"] == .bool(false))
        if case .number(let n)? = summary["requests"]?["total"] { #expect(n > 0 && n < 19_366) } else { Issue.record("no request count") }
        #expect(!FileManager.default.fileExists(atPath: journal))
    }
}

@Suite struct EndpointCLITests {
    /// Starts `accelbench mock-server --port 0` and returns it with its port.
    func startMockServer(_ extra: [String] = []) throws -> (Process, Int) {
        try CLI.startServer(["mock-server", "--port", "0", "--ttft", "0.01", "--tbt", "0.002"] + extra)
    }

    @Test func runAgainstTheMockServerWritesTheSameResultsLayoutAndNoSecrets() throws {
        let (server, port) = try startMockServer()
        defer { server.terminate(); server.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("remote").path
        let secret = "sk-cli-secret-\(UUID().uuidString)"
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--spec", "workloads/smoke.yaml",
                       "--server-kind", "vllm", "--api-key-env", "ACCELBENCH_TEST_KEY",
                       // A loaded test machine may lag the schedule; validity is not what this checks.
                       "--max-lag", "1000", "-o", out]
        p.environment = ProcessInfo.processInfo.environment.merging(["ACCELBENCH_TEST_KEY": secret]) { $1 }
        p.currentDirectoryURL = CLI.repoRoot
        let so = Pipe(), se = Pipe()
        p.standardOutput = so
        p.standardError = se
        try p.run()
        let stdout = String(decoding: so.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let stderr = String(decoding: se.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0, "\(stderr)")
        for f in ["summary.json", "requests.jsonl", "run.json"] {
            let text = try String(contentsOfFile: out + "/" + f, encoding: .utf8)
            #expect(!text.contains(secret), "\(f) holds the API key")
        }
        #expect(!stdout.contains(secret) && !stderr.contains(secret))
        let summary = try JSONParser.parse(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        #expect(summary["requests"]?["completed"] == .number(20))
        #expect(summary["dispatch_lag_ms"]?["p99"] != nil)
        let report = try CLI.run(["report", out, "--json"])
        #expect(report.stdout == (try String(contentsOfFile: out + "/summary.json", encoding: .utf8)))
    }

    /// A reasoning stream end to end: the mock sends the first half of each chat reply as
    /// `reasoning_content`. Every record splits its tokens (10 of 20 reasoning) and has its
    /// first answer token at its 11th token time; the class
    /// whose SLO says `ttft_of: content` measures TTFT to that answer token, the other to the
    /// first token; `report` recomputes the same summary from the records.
    @Test func reasoningStreamsAreRecordedAndTTFTFollowsTheSLO() throws {
        let (server, port) = try startMockServer(["--reasoning", "0.5"])
        defer { server.terminate(); server.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("think.yaml").path
        try """
        name: think
        seed: 5
        count: 16
        arrival: {process: poisson, rate: 40}
        classes:
          - {name: answer, kind: interactive, share: 0.5, prompt: 32, output: 20, slo: {ttft: 2000, ttft_of: content}}
          - {name: stream, kind: interactive, share: 0.5, prompt: 32, output: 20, slo: {ttft: 2000}}
        """.write(toFile: spec, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("r").path
        let r = try CLI.run(["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--api", "chat", "--spec", spec,
                             "--max-lag", "1000", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("reasoning: 16 requests, 160 reasoning tokens"))
        let lines = try String(contentsOfFile: out + "/requests.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 16)
        for line in lines {
            let rec = try RequestRecord.read(try JSONParser.parse(String(line)), file: "requests.jsonl", line: 1)
            #expect(rec.isOK && rec.outputTokens == 20 && rec.reasoningTokens == 10)
            // The answer begins with the 11th token (the stored times are both microsecond-rounded).
            #expect(rec.tokenTimesS.count == 20 && rec.firstContentS == rec.tokenTimesS[10] && rec.tokenTimesS[10] > rec.tokenTimesS[0])
            #expect(rec.slo.ttftOf == (rec.className == "answer" ? .content : .token))
        }
        let summary = try JSONParser.parse(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        #expect(summary["reasoning"]?["reasoning_tokens"] == .number(160))
        guard case .number(let answer)? = summary["by_class"]?["answer"]?["latency_ms"]?["ttft"]?["mean"],
              case .number(let firstContent)? = summary["by_class"]?["answer"]?["reasoning"]?["latency_ms"]?["first_content"]?["mean"],
              case .number(let stream)? = summary["by_class"]?["stream"]?["latency_ms"]?["ttft"]?["mean"],
              case .number(let firstToken)? = summary["by_class"]?["stream"]?["reasoning"]?["latency_ms"]?["first_token"]?["mean"],
              case .number(let answerFirst)? = summary["by_class"]?["answer"]?["reasoning"]?["latency_ms"]?["first_token"]?["mean"] else {
            Issue.record("summary lacks the TTFT means")
            return
        }
        #expect(answer == firstContent && stream == firstToken && answer > answerFirst)
        let report = try CLI.run(["report", out, "--json"])
        #expect(report.stdout == (try String(contentsOfFile: out + "/summary.json", encoding: .utf8)))
    }

    @Test func endpointFlagsAreValidated() throws {
        let noModel = try CLI.run(["run", "--endpoint", "http://127.0.0.1:9", "--spec", "workloads/smoke.yaml", "-o", "/tmp/x"])
        #expect(noModel.status == 64)
        #expect(noModel.stderr.contains("--model"))
        let badHeader = try CLI.run(["run", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--header", "nocolon",
                                     "--spec", "workloads/smoke.yaml", "-o", "/tmp/x"])
        #expect(badHeader.status == 64)
        #expect(badHeader.stderr.contains("--header"))
    }
}

@Suite struct ServeCLITests {
    /// Attainment per class from a summary.json.
    func attainment(_ dir: String) throws -> [String: Double] {
        let s = try JSONParser.parse(try String(contentsOfFile: dir + "/summary.json", encoding: .utf8))
        var out: [String: Double] = [:]
        if case .number(let a)? = s["slo_attainment"]?["overall"] { out["all"] = a }
        if case .object(let classes)? = s["slo_attainment"]?["by_class"] {
            for (name, v) in classes { if case .number(let a)? = v["overall"] { out[name] = a } }
        }
        return out
    }

    func latency(_ dir: String, _ metric: String) throws -> Double {
        let s = try JSONParser.parse(try String(contentsOfFile: dir + "/summary.json", encoding: .utf8))
        guard case .number(let v)? = s["latency_ms"]?[metric]?["p50"] else { return .nan }
        return v
    }

    /// Per-class attainment of the in-process run's records with every latency (TTFT, each
    /// token gap, JCT) multiplied by `k`.
    func scaledAttainment(_ dir: String, k: Double) throws -> [String: Double] {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/requests.jsonl")))
        var met: [String: Int] = [:], total: [String: Int] = [:]
        for line in bytes.split(separator: 0x0A) {
            guard let r = line.withUnsafeBufferPointer({ RequestRecord.decodeFast($0) }) else { continue }
            var s = r
            let t0 = r.intendedS
            func scale(_ t: Double) -> Double { t0 + (t - t0) * k }
            s.firstTokenS = r.firstTokenS.map(scale)
            s.tokenTimesS = r.tokenTimesS.map(scale)
            s.doneS = r.doneS.map(scale)
            total[r.className, default: 0] += 1
            total["all", default: 0] += 1
            if SLOVerdict.evaluate(s.quantized()).met {
                met[r.className, default: 0] += 1
                met["all", default: 0] += 1
            }
        }
        var out: [String: Double] = [:]
        for (c, n) in total { out[c] = Double(met[c] ?? 0) / Double(n) }
        return out
    }

    /// The same workload through `accelbench serve` (real time, HTTP, the client in another
    /// process) and in process (simulated time), on h100-llama2-7b. The tolerance, per class: the
    /// served attainment must lie between the in-process run's with every latency stretched by
    /// k (minus 5 points) and the in-process run's own (plus 5 points), where k is 1.2 times the
    /// served/in-process TTFT median ratio (at least 1.3); medians may grow up to threefold (a
    /// gross slowdown is a bug) and not shrink by more than 5%. Why: the real-time path only adds time, the
    /// driver's per-iteration overhead and loopback HTTP and client time (release build, idle
    /// machine: TTFT p50 +2.5 ms of 50 ms, TBT p50 +0.15 ms of 9 ms, identical attainment). A
    /// debug build under CI's parallel tests on a 2-core VM added up to 51% to the TTFT
    /// median, and at 14 req/s the extra time compounds in the queue: with a 60 ms TTFT SLO near
    /// the 50 ms median, served chat attainment ranged from 21% to 60% between runs, so the
    /// floor follows the slowdown measured in the same run. The 5 points absorb the few requests
    /// whose queueing order the extra time changes.
    @Test func runAgainstServeReproducesTheInProcessAttainment() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("e2e.yaml").path
        try """
        name: serve-e2e
        seed: 7
        count: 80
        arrival: {process: poisson, rate: 14}
        classes:
          - name: chat
            kind: interactive
            share: 0.7
            prompt: {dist: uniform, min: 64, max: 1536}
            output: {dist: uniform, min: 16, max: 64}
            slo:
              ttft: 60
              tbt: {ms: 25, factor: [0.8, 1.2]}
          - name: batch
            kind: batch
            share: 0.3
            prompt: {dist: uniform, min: 512, max: 2048}
            output: {dist: fixed, value: 32}
            slo:
              jct: {s: 1.5}
        """.write(toFile: spec, atomically: true, encoding: .utf8)
        let (server, port) = try CLI.startServer(["serve", "--port", "0", "--policy", "sarathi", "--model", "tiny", "--profile", "h100-llama2-7b"])
        defer { server.terminate(); server.waitUntilExit() }
        let local = dir.appendingPathComponent("local").path, remote = dir.appendingPathComponent("remote").path
        let a = try CLI.run(["run", "--spec", spec, "--policy", "sarathi", "--profile", "h100-llama2-7b", "-o", local])
        #expect(a.status == 0, "\(a.stderr)")
        let b = try CLI.run(["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "tiny", "--spec", spec,
                             "--prompt-format", "tokens", "--max-lag", "1000", "-o", remote])
        #expect(b.status == 0, "\(b.stderr)")
        let (x, y) = (try attainment(local), try attainment(remote))
        let (t1, t2) = (try latency(local, "ttft"), try latency(remote, "ttft"))
        let (g1, g2) = (try latency(local, "tbt"), try latency(remote, "tbt"))
        let k = max(1.3, 1.2 * t2 / t1)
        let stretched = try scaledAttainment(local, k: k)
        let unscaled = try scaledAttainment(local, k: 1)
        for (k, v) in x { #expect(abs((unscaled[k] ?? -1) - v) < 1e-5, "recomputed attainment of \(k)") }
        print("serve vs in-process attainment: \(y) vs \(x); in process with latencies ×\(k): \(stretched)")
        #expect(Set(x.keys) == Set(y.keys) && x.count == 3)
        for (k, v) in x {
            let served = y[k] ?? -1
            #expect(served <= v + 0.05 && served >= (stretched[k] ?? 0) - 0.05, "class \(k): \(served) served vs \(v) in process")
        }
        print("TTFT p50 \(t2) vs \(t1) ms; TBT p50 \(g2) vs \(g1) ms")
        // A loaded 2-core machine delays the served run (up to 51% on the TTFT median in CI,
        // measured), which the attainment floor above already follows. The bound here only
        // catches a gross slowdown (a serve bug, not load), and a run faster than simulated time.
        #expect(t2 <= 3 * t1 && t2 >= 0.95 * t1)
        #expect(g2 <= 3 * g1 && g2 >= 0.95 * g1)
    }

    /// `--server-metrics` against serve: the scrapes land in server_metrics.jsonl on the
    /// records' time axis, serve's vLLM names are read (running reaches at least 1 while 3
    /// requests overlap), the line is printed, and `plot` draws the figure. Against the mock
    /// server, which has no /metrics, each scrape is recorded failed and the run still succeeds.
    @Test func serverMetricsAreScrapedBesideTheRecords() throws {
        let (server, port) = try CLI.startServer(["serve", "--port", "0", "--model", "tiny", "--profile", "h100-llama2-7b"])
        defer { server.terminate(); server.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("m.yaml").path
        try """
        name: scrape
        seed: 2
        count: 12
        arrival: {process: constant, rate: 20}
        classes:
          - {name: chat, kind: interactive, share: 1, prompt: 256, output: 100, slo: {ttft: 1000}}
        """.write(toFile: spec, atomically: true, encoding: .utf8)
        let out = dir.appendingPathComponent("r").path
        let r = try CLI.run(["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "tiny", "--spec", spec, "--prompt-format", "tokens",
                             "--server-metrics", "--server-metrics-interval", "50", "--max-lag", "1000", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("server metrics: ") && r.stdout.contains("running mean"), "\(r.stdout)")
        let scrapes = try ServerMetricsScrape.readFile(out + "/server_metrics.jsonl")
        #expect(scrapes.count >= 5 && scrapes.allSatisfy { $0.error == nil })
        #expect(scrapes.first!.tS < 0 && scrapes.contains { $0.tS > 0 })
        #expect(zip(scrapes, scrapes.dropFirst()).allSatisfy { $0.tS < $1.tS })
        #expect((scrapes.compactMap { $0.values[.running] }.max() ?? 0) >= 1)
        #expect(scrapes.allSatisfy { $0.values[.kvUsage] != nil && $0.values[.preemptions] != nil })
        let plot = try CLI.run(["plot", out, "--figures", "server-metrics", "-o", dir.appendingPathComponent("fig").path])
        #expect(plot.status == 0 && FileManager.default.fileExists(atPath: dir.appendingPathComponent("fig/server-metrics.png").path), "\(plot.stderr)")

        let (mock, mockPort) = try CLI.startServer(["mock-server", "--port", "0"])
        defer { mock.terminate(); mock.waitUntilExit() }
        let noMetrics = dir.appendingPathComponent("m").path
        let m = try CLI.run(["run", "--endpoint", "http://127.0.0.1:\(mockPort)", "--model", "mock", "--spec", spec,
                             "--server-metrics", "--max-lag", "1000", "-o", noMetrics])
        #expect(m.status == 0, "\(m.stderr)")
        #expect(m.stdout.contains("failed: http://127.0.0.1:\(mockPort)/metrics: HTTP 404"), "\(m.stdout)")
        #expect(try ServerMetricsScrape.readFile(noMetrics + "/server_metrics.jsonl").allSatisfy { $0.error != nil })
    }

    /// `--gpu-metrics` with an `nvidia-smi` on PATH (a stand-in script printing two GPUs' CSV
    /// lines, one with power `[N/A]`) gives gpu_metrics.jsonl under DCGM's names: utilisation
    /// averaged over the GPUs, memory and power summed. Without nvidia-smi the run says so and
    /// succeeds.
    @Test func gpuTelemetryFromNvidiaSMIOrANote() throws {
        let (mock, port) = try CLI.startServer(["mock-server", "--port", "0", "--ttft", "0.01", "--tbt", "0.005"])
        defer { mock.terminate(); mock.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let bin = dir.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let smi = bin.appendingPathComponent("nvidia-smi").path
        try "#!/bin/sh\nwhile true; do echo '0, 35, 1024, 150.5'; echo '1, 45, 2048, [N/A]'; sleep 0.05; done\n"
            .write(toFile: smi, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: smi)
        let out = dir.appendingPathComponent("g").path
        let args = ["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--spec", "workloads/smoke.yaml",
                    "--gpu-metrics", "--server-metrics-interval", "50", "--max-lag", "1000", "-o", out]
        let r = try CLI.run(args, environment: ["PATH": bin.path + ":/usr/bin:/bin"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("GPU metrics: ") && r.stdout.contains("GPU utilisation mean 40"), "\(r.stdout)")
        let samples = try ServerMetricsScrape.readFile(out + "/gpu_metrics.jsonl")
        #expect(samples.count >= 3)
        for s in samples {
            #expect(s.error == nil && s.values[.gpuUtilization] == 40 && s.values[.gpuMemoryUsed] == 3072 && s.values[.gpuPower] == 150.5)
        }
        let none = try CLI.run(args.dropLast() + [out + "-none"], environment: ["PATH": "/usr/bin:/bin"])
        #expect(none.status == 0 && none.stdout.contains("GPU telemetry: none here"), "\(none.stdout)")
        #expect(!FileManager.default.fileExists(atPath: out + "-none/gpu_metrics.jsonl"))
    }

    /// A multi-turn workload through `serve --prefix-caching` (tokens) and the in-process engine:
    /// per-turn metrics in both, every later turn sent at least its think time after the previous
    /// answer ended (the client's clock), and the server's own prefix-cache counters scraped: the
    /// later turns hit. Against the mock server (no /metrics) the sessions run the same way.
    @Test func multiTurnSessionsRunInProcessAndAgainstEndpoints() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let spec = dir.appendingPathComponent("mt.yaml").path
        try """
        name: mt
        seed: 3
        count: 6
        arrival: {process: poisson, rate: 4}
        classes:
          - name: chat
            kind: interactive
            share: 1
            prompt: {dist: uniform, min: 60, max: 200}
            output: {dist: uniform, min: 10, max: 30}
            session: {turns: 3, think_ms: 200}
            slo: {ttft: 2000}
        """.write(toFile: spec, atomically: true, encoding: .utf8)
        let local = try CLI.run(["run", "--spec", spec, "--profile", "h100-llama2-7b", "--prefix-caching", "-o", dir.appendingPathComponent("local").path])
        #expect(local.status == 0 && local.stdout.contains("sessions: 6 (6 completed"), "\(local.stdout) \(local.stderr)")
        let (server, port) = try CLI.startServer(["serve", "--port", "0", "--model", "tiny", "--profile", "h100-llama2-7b", "--prefix-caching"])
        defer { server.terminate(); server.waitUntilExit() }
        let (mock, mockPort) = try CLI.startServer(["mock-server", "--port", "0", "--ttft", "0.01", "--tbt", "0.002"])
        defer { mock.terminate(); mock.waitUntilExit() }
        for (name, url, model) in [("serve", "http://127.0.0.1:\(port)", "tiny"), ("mock", "http://127.0.0.1:\(mockPort)", "mock")] {
            let out = dir.appendingPathComponent(name).path
            let r = try CLI.run(["run", "--endpoint", url, "--model", model, "--spec", spec, "--prompt-format", "tokens",
                                 "--server-metrics", "--max-lag", "1000", "-o", out])
            #expect(r.status == 0, "\(name): \(r.stderr)")
            let records = try String(contentsOfFile: out + "/requests.jsonl", encoding: .utf8).split(separator: "\n").map {
                try RequestRecord.read(try JSONParser.parse(String($0)), file: name, line: 1)
            }
            #expect(records.count == 18 && records.allSatisfy(\.isOK), "\(name)")
            let byTurn = Dictionary(uniqueKeysWithValues: records.map { ("\($0.session!)/\($0.turn!)", $0) })
            for r in records where r.turn! > 0 {
                let prev = byTurn["\(r.session!)/\(r.turn! - 1)"]!
                #expect(r.intendedS >= prev.doneS! + 0.2 - 1e-6 && r.sentS! >= r.intendedS, "\(name) session \(r.session!) turn \(r.turn!)")
            }
            let summary = try JSONParser.parse(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
            #expect(summary["sessions"]?["count"] == .number(6) && summary["sessions"]?["by_turn"]?["2"]?["requests"] == .number(6), "\(name)")
            if name == "serve" {
                #expect(r.stdout.contains("prefix-cache hit rate") && !r.stdout.contains("hit rate 0%"), "\(r.stdout)")
                let last = try ServerMetricsScrape.readFile(out + "/server_metrics.jsonl").last!
                #expect((last.values[.prefixCacheHits] ?? 0) > 0)
            }
        }
    }

    /// Local proof of the split (issue 22): three processes play three hosts against one mock
    /// server, each running its share from one wall-clock start; merged, they hold the same
    /// request ids as one process on the same workload, deliver its aggregate rate within 2%, and
    /// their summary equals `report`'s recomputation from the merged records.
    @Test func segmentsMergeIntoWhatOneProcessRuns() throws {
        let (mock, port) = try CLI.startServer(["mock-server", "--port", "0", "--ttft", "0.01", "--tbt", "0.002"])
        defer { mock.terminate(); mock.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = ["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--spec", "workloads/smoke.yaml",
                    "--count", "90", "--rate", "30", "--max-lag", "1000"]
        // 5 s ahead: on a loaded test machine three processes take a while to come up.
        let start = String(Date().timeIntervalSince1970 + 5)
        let procs = try (0..<3).map { i in
            try CLI.spawn(base + ["--segment", "\(i)/3", "--start-at", start, "-o", dir.appendingPathComponent("s\(i)").path])
        }
        for p in procs { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        let merged = dir.appendingPathComponent("merged").path
        let m = try CLI.run(["merge"] + (0..<3).map { dir.appendingPathComponent("s\($0)").path } + ["-o", merged])
        #expect(m.status == 0 && m.stdout.contains("merged 3 segments, 90 requests"), "\(m.stdout) \(m.stderr)")
        let single = dir.appendingPathComponent("single").path
        #expect(try CLI.run(base + ["-o", single]).status == 0)
        func records(_ d: String) throws -> [RequestRecord] {
            try String(contentsOfFile: d + "/requests.jsonl", encoding: .utf8).split(separator: "\n").map {
                try RequestRecord.read(try JSONParser.parse(String($0)), file: d, line: 1)
            }
        }
        let (a, b) = (try records(merged), try records(single))
        #expect(a.map(\.id) == b.map(\.id).sorted())
        func rate(_ rs: [RequestRecord]) -> Double {
            let sent = rs.compactMap(\.sentS)
            return Double(sent.count - 1) / (sent.max()! - sent.min()!)
        }
        #expect(abs(rate(a) / rate(b) - 1) < 0.02, "merged \(rate(a)) req/s, single \(rate(b))")
        let report = try CLI.run(["report", merged, "--json"])
        #expect(report.stdout == (try String(contentsOfFile: merged + "/summary.json", encoding: .utf8)))
        let run = try JSONParser.parse(try String(contentsOfFile: merged + "/run.json", encoding: .utf8))
        if case .array(let clocks)? = run["clock"] { #expect(clocks.count == 3) } else { Issue.record("no clock in run.json") }
    }

    /// A segment killed mid-run: the merge is incomplete (exit 3, the reason names it) and keeps
    /// every record that arrived, the other segment's all and the killed one's journal.
    @Test func aKilledSegmentMakesTheMergeIncompleteAndLosesNothing() throws {
        let (mock, port) = try CLI.startServer(["mock-server", "--port", "0", "--ttft", "0.01", "--tbt", "0.002"])
        defer { mock.terminate(); mock.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let start = String(Date().timeIntervalSince1970 + 3)
        let procs = try (0..<2).map { i in
            try CLI.spawn(["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--spec", "workloads/smoke.yaml",
                           "--count", "200", "--rate", "25", "--max-lag", "1000", "--segment", "\(i)/2", "--start-at", start,
                           "-o", dir.appendingPathComponent("s\(i)").path])
        }
        Thread.sleep(forTimeInterval: 7)  // 4 s into the segments' 8 s
        kill(procs[1].processIdentifier, SIGKILL)
        for p in procs { p.waitUntilExit() }
        #expect(procs[0].terminationStatus == 0)
        let merged = dir.appendingPathComponent("merged").path
        let m = try CLI.run(["merge", dir.appendingPathComponent("s0").path, dir.appendingPathComponent("s1").path, "-o", merged])
        #expect(m.status == 3 && m.stdout.contains("incomplete: segment 1/2"), "\(m.stdout) \(m.stderr)")
        let lines = try String(contentsOfFile: merged + "/requests.jsonl", encoding: .utf8).split(separator: "\n")
        let partial = try String(contentsOfFile: dir.appendingPathComponent("s1/requests.jsonl.partial").path, encoding: .utf8)
        #expect(lines.count == 100 + partial.split(separator: "\n").count && lines.count > 100 && lines.count < 200)
    }

    /// `k8s run` writes manifests whose pod scripts work: run here with /bin/sh (the volume a
    /// folder, JOB_COMPLETION_INDEX set as Kubernetes sets it), three segment pods pass the start
    /// barrier, run their shares against a mock server, and the merge job merges all requests. The
    /// Job has the properties a load generator needs; bad run flags are refused before any pod.
    @Test func kubernetesManifestsRunTheirSegmentsAndMerge() throws {
        let (mock, port) = try CLI.startServer(["mock-server", "--port", "0", "--ttft", "0.01", "--tbt", "0.002"])
        defer { mock.terminate(); mock.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let k8s = dir.appendingPathComponent("k8s").path
        // A 5 s start delay: on a loaded test machine three processes take a while to come up.
        let r = try CLI.run(["k8s", "run", "--name", "t1", "--segments", "3", "--image", "img", "--start-delay", "5", "-o", k8s, "--",
                             "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--spec", "workloads/smoke.yaml", "--max-lag", "100000"])
        #expect(r.status == 0, "\(r.stderr)")
        let job = try String(contentsOfFile: k8s + "/segments-job.yaml", encoding: .utf8)
        for needle in ["completionMode: \"Indexed\"", "completions: 3", "parallelism: 3", "backoffLimit: 0", "podAntiAffinity",
                       "topologyKey: \"kubernetes.io/hostname\"", "claimName: \"t1-results\""] {
            #expect(job.contains(needle), "segments-job.yaml lacks \(needle)")
        }
        let pods = try (0..<3).map { try Pod.start(k8s, "segments-job.yaml", volume: dir, index: $0) }
        let merge = try Pod.start(k8s, "merge-job.yaml", volume: dir, index: nil)
        for p in pods + [merge] { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        let summary = try JSONParser.parse(try String(contentsOfFile: dir.path + "/volume/t1/merged/summary.json", encoding: .utf8))
        #expect(summary["requests"]?["total"] == .number(20) && summary["valid"] == .bool(true))
        let bad = try CLI.run(["k8s", "run", "--segments", "2", "--image", "i", "-o", k8s, "--", "--endpoint", "http://h", "--model", "m", "--bogus"])
        #expect(bad.status == 64 && bad.stderr.contains("--bogus"))
    }

    /// `k8s sweep` writes manifests whose pods (run here as in the test above) sweep their shares
    /// of the grid on the bundled engine; the merge job joins them into the sweep one process
    /// writes, byte for byte. Endpoint sweeps and searches are refused.
    @Test func kubernetesSweepManifestsRunTheirSharesAndMerge() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let k8s = dir.appendingPathComponent("k8s").path
        let flags = ["--spec", "workloads/smoke.yaml", "--rates", "1:5:1", "--policy", "sarathi", "--oracle", "--jobs", "1"]
        let r = try CLI.run(["k8s", "sweep", "--name", "s1", "--points", "2", "--image", "img", "-o", k8s, "--"] + flags)
        #expect(r.status == 0, "\(r.stderr)")
        let job = try String(contentsOfFile: k8s + "/points-job.yaml", encoding: .utf8)
        for needle in ["completionMode: \"Indexed\"", "completions: 2", "backoffLimit: 0", "podAntiAffinity", "name: \"s1-points\""] {
            #expect(job.contains(needle), "points-job.yaml lacks \(needle)")
        }
        let pods = try (0..<2).map { try Pod.start(k8s, "points-job.yaml", volume: dir, index: $0) }
        for p in pods { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
        let merge = try Pod.start(k8s, "merge-job.yaml", volume: dir, index: nil)
        merge.waitUntilExit()
        #expect(merge.terminationStatus == 0)
        let whole = dir.appendingPathComponent("whole").path
        #expect(try CLI.run(["sweep"] + flags + ["-o", whole]).status == 0)
        let merged = try String(contentsOfFile: dir.path + "/volume/s1/merged/sweep.json", encoding: .utf8)
        #expect(merged == (try String(contentsOfFile: whole + "/sweep.json", encoding: .utf8)))
        for bad in [["--endpoint", "http://h", "--model", "m", "--spec", "s", "--rates", "1"], ["--spec", "s", "--rates", "1", "--search"]] {
            let b = try CLI.run(["k8s", "sweep", "--points", "2", "--image", "i", "-o", k8s, "--"] + bad)
            #expect(b.status == 64, "\(bad): \(b.stderr)")
        }
    }

    @Test func sigtermDrainsAndExitsZero() throws {
        let (server, port) = try CLI.startServer(["serve", "--port", "0", "--drain", "0.5"])
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        curl.arguments = ["curl", "-sN", "-m", "20", "http://127.0.0.1:\(port)/v1/completions",
                          "-d", #"{"prompt":[1,2,3],"max_tokens":4000,"stream":true}"#]
        let out = Pipe()
        curl.standardOutput = out
        try curl.run()
        Thread.sleep(forTimeInterval: 0.5)
        let t0 = Date()
        server.terminate()  // SIGTERM
        server.waitUntilExit()
        #expect(server.terminationStatus == 0)
        #expect(Date().timeIntervalSince(t0) < 10)
        let body = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        curl.waitUntilExit()
        #expect(body.contains("\"text\""))
        #expect(body.contains("drain time ran out"))
        #expect(body.hasSuffix("data: [DONE]\n\n"))
    }
}

@Suite struct OracleCLITests {
    @Test func oracleBoundsARunAndItsScheduleReplays() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let run = dir.appendingPathComponent("run").path
        let out = dir.appendingPathComponent("oracle.json").path
        let sched = dir.appendingPathComponent("schedule.json").path
        #expect(try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--policy", "sarathi", "-o", run]).status == 0)
        let r = try CLI.run(["oracle", "--spec", "workloads/smoke.yaml", "--runs", run, "--schedule-out", sched, "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let v = try JSONParser.parse(try String(contentsOfFile: out, encoding: .utf8))
        for key in ["objective", "upper_bound", "feasible", "gap", "solver", "by_class", "runs"] { #expect(v[key] != nil, "\(key)") }
        for key in ["goodput_rps", "goodput_tokens_per_s", "attainment"] {
            #expect(v["upper_bound"]?[key] != nil && v["feasible"]?[key] != nil, "\(key)")
        }
        #expect(v["solver"]?["status"] == .string("optimal"))
        guard case .number(let u)? = v["upper_bound"]?["met_requests"], case .number(let l)? = v["feasible"]?["met_requests"],
              case .array(let runs)? = v["runs"], case .number(let eff)? = runs.first?["efficiency"] else {
            Issue.record("missing numbers in \(v)")
            return
        }
        #expect(l <= u + 1e-9)
        #expect(eff <= 1 + 1e-9)
        let replay = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--replay-schedule", sched, "-o", dir.appendingPathComponent("replay").path])
        #expect(replay.status == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("identical iterations"))
        // Another workload's schedule is refused.
        let other = try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--seed", "5", "--replay-schedule", sched, "-o", dir.appendingPathComponent("x").path])
        #expect(other.status == 65)
        // A solver that stops early is reported by its status, not as a number.
        let early = try CLI.run(["oracle", "--spec", "workloads/smoke.yaml", "--time-limit", "0.0000001", "--solve-every-segment",
                                 "-o", dir.appendingPathComponent("o2.json").path])
        #expect(early.status == 65)
        #expect(early.stderr.contains("did not prove an optimum"))
        // Unless a schedule admitting every request meets them all: then the bound needs no solve.
        let attained = try CLI.run(["oracle", "--spec", "workloads/smoke.yaml", "--time-limit", "0.0000001", "-o", dir.appendingPathComponent("o3.json").path])
        #expect(attained.status == 0, "\(attained.stderr)")
        #expect(attained.stdout.contains("1 of 1 programs attained"), "\(attained.stdout)")
    }

    @Test func gateExitCodesOnRealRuns() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a").path, b = dir.appendingPathComponent("b").path
        let base = dir.appendingPathComponent("base.json").path
        #expect(try CLI.run(["run", "--spec", "workloads/mixed-slo.yaml", "--count", "60", "--rate", "12", "--policy", "accelgen", "-o", a]).status == 0)
        #expect(try CLI.run(["run", "--spec", "workloads/mixed-slo.yaml", "--count", "60", "--rate", "12", "--policy", "vllm", "-o", b]).status == 0)
        #expect(try CLI.run(["gate", a, "--baseline", base]).status == 5)
        #expect(try CLI.run(["gate", a, "--baseline", base, "--update"]).status == 0)
        let same = try CLI.run(["gate", a, "--baseline", base, "--junit", dir.appendingPathComponent("j.xml").path])
        #expect(same.status == 0, "\(same.stdout)")
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("j.xml").path))
        // vllm misses more SLOs than accelgen on this load: a regression against accelgen's
        // baseline, and accelgen an improvement against vllm's.
        // Another target is refused unless asked for.
        #expect(try CLI.run(["gate", b, "--baseline", base]).status == 65)
        #expect(try CLI.run(["gate", b, "--baseline", base, "--any-target"]).status == 2)
        let vbase = dir.appendingPathComponent("vllm.json").path
        #expect(try CLI.run(["gate", b, "--baseline", vbase, "--update"]).status == 0)
        let better = try CLI.run(["gate", a, "--baseline", vbase, "--any-target"])
        #expect(better.status == 2 || better.status == 4, "\(better.stdout)")
        // Another workload is refused.
        let c = dir.appendingPathComponent("c").path
        #expect(try CLI.run(["run", "--spec", "workloads/mixed-slo.yaml", "--count", "60", "--rate", "6", "-o", c]).status == 0)
        #expect(try CLI.run(["gate", c, "--baseline", base]).status == 65)
    }

    @Test func repeatedRunsAreGatedWithBootstrapIntervals() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a").path, b = dir.appendingPathComponent("b").path
        let base = dir.appendingPathComponent("base.json").path
        let common = ["run", "--spec", "workloads/smoke.yaml", "--count", "40", "--policy", "sarathi", "--jitter-cv", "0.05", "--repeat", "3"]
        let r = try CLI.run(common + ["-o", a])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("95% CI of mean"))
        for i in 1...3 { #expect(FileManager.default.fileExists(atPath: "\(a)/repeat-\(i)/summary.json")) }
        #expect(try CLI.run(["gate", a, "--baseline", base, "--update"]).status == 0)
        let stored = try Baseline.parse(String(decoding: try FileIO.readFile(base), as: UTF8.self), file: base)
        #expect(stored.metrics.allSatisfy { $0.samples.count == 3 && $0.relative == 0.05 })
        // Other jitter draws of the same workload: within the noise.
        #expect(try CLI.run(common + ["--jitter-seed", "11", "-o", b]).status == 0)
        let g = try CLI.run(["gate", b, "--baseline", base])
        #expect(g.status == 0, "\(g.stdout)")
        #expect(g.stdout.contains("95% CI of change"))
        // A deterministic engine gives identical repeats: refused as a usage error.
        #expect(try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--count", "10", "--repeat", "2", "-o", b]).status == 64)
    }

    @Test func sweepRunsEachRateAndSearchFindsACapacityThatPasses() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("sw").path
        let r = try CLI.run(["sweep", "--spec", "workloads/mixed-slo.yaml", "--count", "80", "--rates", "4:12:4", "--search",
                             "--target-attainment", "0.9", "--policy", "vllm", "--jobs", "2", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        let sweep = try JSONParser.parse(String(decoding: try FileIO.readFile(out + "/sweep.json"), as: UTF8.self))
        guard case .array(let points)? = sweep["points"], case .number(let cap)? = sweep["search"]?["capacity_rps"],
              case .array(let searches)? = sweep["search"]?["searches"], case .number(let fail)? = searches.first?["failing_rps"] else {
            Issue.record("sweep.json lacks points or a capacity: \(r.stdout)"); return
        }
        var attainment: [Double: Double] = [:]
        for p in points {
            guard case .number(let rate)? = p["rate_rps"], case .number(let a)? = p["attainment"], case .string(let d)? = p["dir"] else {
                Issue.record("bad point \(p)"); continue
            }
            attainment[rate] = a
            #expect(FileManager.default.fileExists(atPath: "\(out)/\(d)/summary.json"))
        }
        #expect([4.0, 8, 12].allSatisfy { attainment[$0] != nil })
        // The capacity passes, the rate just above it fails, and they are within 2.5%.
        #expect(attainment[cap]! >= 0.9 && attainment[fail]! < 0.9 && (fail - cap) / fail <= 0.025)
        #expect(r.stdout.contains("capacity (overall attainment"))
        // Same draws at every rate: each point has the same requests.
        #expect(points.allSatisfy { $0["requests"] == .number(80) })
    }

    @Test func clusterWritesResultsWithAClusterSectionAndATimeline() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("c").path
        let r = try CLI.run(["cluster", "--spec", "workloads/interactive-batch.yaml", "--duration", "60", "--autoscaler", "chiron",
                             "--min-instances", "1", "--max-instances", "3", "--startup-delay", "20", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("GPU-hours"))
        let summary = try JSONParser.parse(String(decoding: try FileIO.readFile(out + "/summary.json"), as: UTF8.self))
        for key in ["gpu_hours", "scale_events", "peak_instances"] {
            #expect(summary["cluster"]?[key] != nil, "summary.cluster.\(key)")
        }
        // report recomputes the same summary, cluster section included.
        let report = try CLI.run(["report", out, "--json"])
        #expect(report.stdout == String(decoding: try FileIO.readFile(out + "/summary.json"), as: UTF8.self))
        let timeline = String(decoding: try FileIO.readFile(out + "/timeline.jsonl"), as: UTF8.self)
        #expect(timeline.contains("\"event\":\"scale_out\"") && timeline.contains("\"event\":\"sample\""))
        #expect(try CLI.run(["cluster", "--spec", "workloads/smoke.yaml", "--autoscaler", "magic", "-o", out]).status == 64)
        #expect(try CLI.run(["cluster", "--spec", "workloads/smoke.yaml", "--min-instances", "3", "--max-instances", "2", "-o", out]).status == 64)
        // The default delta encoding of token times, absolute on request: the same summary.
        #expect(String(decoding: try FileIO.readFile(out + "/requests.jsonl"), as: UTF8.self).contains("\"token_deltas_us\":["))
        let absolute = dir.appendingPathComponent("abs").path
        let a = try CLI.run(["cluster", "--spec", "workloads/interactive-batch.yaml", "--duration", "60", "--autoscaler", "chiron",
                             "--min-instances", "1", "--max-instances", "3", "--startup-delay", "20", "--token-times", "absolute", "-o", absolute])
        #expect(a.status == 0, "\(a.stderr)")
        #expect(String(decoding: try FileIO.readFile(absolute + "/requests.jsonl"), as: UTF8.self).contains("\"token_times_s\":["))
        func withoutSource(_ path: String) throws -> String {
            String(decoding: try FileIO.readFile(path + "/summary.json"), as: UTF8.self).replacingOccurrences(of: path, with: "DIR")
        }
        #expect(try withoutSource(absolute) == withoutSource(out))
        // --summary-only: the same summary, no records.
        let only = dir.appendingPathComponent("only").path
        let o = try CLI.run(["cluster", "--spec", "workloads/interactive-batch.yaml", "--duration", "60", "--autoscaler", "chiron",
                             "--min-instances", "1", "--max-instances", "3", "--startup-delay", "20", "--summary-only", "-o", only])
        #expect(o.status == 0, "\(o.stderr)")
        #expect(!FileIO.exists(only + "/requests.jsonl") && !FileIO.exists(only + "/requests.jsonl.partial"))
        #expect(try withoutSource(only) == withoutSource(out))
        #expect(try CLI.run(["cluster", "--spec", "workloads/smoke.yaml", "--summary-only", "--cooldown", "5", "-o", only]).status == 64)
    }
}

/// A pod of `k8s` manifests run here: its script under /bin/sh, the results volume a folder of
/// `volume`, JOB_COMPLETION_INDEX set as Kubernetes sets it, accelbench on the PATH.
enum Pod {
    static func script(_ manifests: String, _ file: String, volume: URL) throws -> String {
        let text = try String(contentsOfFile: manifests + "/" + file, encoding: .utf8)
        let line = try #require(text.split(separator: "\n").first { $0.contains("\"set -u") })
        guard case .string(let s) = try JSONParser.parse(String(line.drop { $0 != "\"" })) else { throw BenchError.data(file, "no script") }
        return s.replacingOccurrences(of: "/results/", with: volume.path + "/volume/")
    }

    static func start(_ manifests: String, _ file: String, volume: URL, index: Int?) throws -> Process {
        let env = ProcessInfo.processInfo.environment.merging(["PATH": CLI.binary.deletingLastPathComponent().path + ":/usr/bin:/bin"]) { $1 }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", try script(manifests, file, volume: volume)]
        p.environment = index.map { env.merging(["JOB_COMPLETION_INDEX": String($0)]) { $1 } } ?? env
        p.currentDirectoryURL = CLI.repoRoot
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }
}
