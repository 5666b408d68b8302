import BenchCore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 16's probes, run as a user would: bad input exits 64 or 65 with a message, SIGTERM
/// loses nothing, secrets stay out of everything written.
@Suite(.serialized) struct HardeningCLITests {
    func startMockServer(_ extra: [String] = []) throws -> (Process, Int) {
        try CLI.startServer(["mock-server", "--port", "0", "--ttft", "0.01", "--tbt", "0.002"] + extra)
    }

    @Test func negativeNumbersGetTheirOwnMessage() throws {
        let r = try CLI.run(["generate", "workloads/smoke.yaml", "-o", "/tmp/accelbench-neg.jsonl", "--rate", "-2"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("--rate must be > 0"), "\(r.stderr)")
        #expect(!r.stderr.contains("Missing value"))
    }

    @Test func aHugeCountIsAUsageErrorNotAnAllocation() throws {
        for args in [["generate", "workloads/smoke.yaml", "-o", "/tmp/accelbench-huge.jsonl", "--count", "1000000000000"],
                     ["run", "--spec", "workloads/smoke.yaml", "--count", "1000000000000", "-o", "/tmp/accelbench-huge"]] {
            let r = try CLI.run(args)
            #expect(r.status == 64, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("at most 100000000"), "\(r.stderr)")
        }
    }

    @Test func aSeedPast64BitsIsADataError() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("w.jsonl").path
        #expect(try CLI.run(["generate", "workloads/smoke.yaml", "-o", path]).status == 0)
        var text = try String(contentsOfFile: path, encoding: .utf8)
        text = text.replacingOccurrences(of: "\"seed\":1,", with: "\"seed\":18446744073709551616,")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        for args in [["workload", "stats", path], ["run", "--workload", path, "-o", dir.appendingPathComponent("r").path]] {
            let r = try CLI.run(args)
            #expect(r.status == 65, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("seed"), "\(r.stderr)")
        }
    }

    @Test func endpointURLsAndHeadersAreChecked() throws {
        let badURL = try CLI.run(["run", "--endpoint", "not a url", "--model", "m", "--spec", "workloads/smoke.yaml", "-o", "/tmp/x"])
        #expect(badURL.status == 64, "\(badURL.stderr)")
        #expect(badURL.stderr.contains("not an http:// or https:// URL"))
        for header in ["X-A: 1\r\nX-Injected: 2", "X-A: 1\nX-Injected: 2"] {
            let r = try CLI.run(["run", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--header", header,
                                 "--spec", "workloads/smoke.yaml", "-o", "/tmp/x"])
            #expect(r.status == 64, "\(r.stderr)")
            #expect(r.stderr.contains("CR or LF"))
        }
    }

    @Test func aRunWithNoSuccessfulRequestIsInvalid() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Port 1: nothing listens, every connection is refused.
        let r = try CLI.run(["run", "--endpoint", "http://127.0.0.1:1", "--model", "m", "--spec", "workloads/smoke.yaml",
                             "--max-lag", "1000", "-o", dir.path])
        #expect(r.status == 3, "\(r.stderr)")
        let summary = try JSONParser.parse(try String(contentsOfFile: dir.path + "/summary.json", encoding: .utf8))
        #expect(summary["valid"] == .bool(false))
        #expect(r.stdout.contains("no request succeeded"))
    }

    @Test func urlCredentialsAreWrittenNowhere() throws {
        let (server, port) = try startMockServer()
        defer { server.terminate(); server.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let password = "pw-\(UUID().uuidString)"
        let out = dir.appendingPathComponent("creds").path
        let r = try CLI.run(["run", "--endpoint", "http://user:\(password)@127.0.0.1:\(port)", "--model", "mock",
                             "--spec", "workloads/smoke.yaml", "--max-lag", "1000", "-o", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains(password) && !r.stderr.contains(password))
        for f in try FileManager.default.contentsOfDirectory(atPath: out) {
            let text = try String(contentsOfFile: out + "/" + f, encoding: .utf8)
            #expect(!text.contains(password), "\(f) holds the URL's password")
        }
        let summary = try JSONParser.parse(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        guard case .string(let target)? = summary["target"] else { Issue.record("no target"); return }
        #expect(target.contains("http://[REDACTED]@127.0.0.1:\(port)"), "\(target)")
        for format in ["csv", "vllm-bench"] {
            let export = dir.appendingPathComponent("export-\(format)").path
            #expect(try CLI.run(["export", out, "--format", format, "-o", export]).status == 0)
            #expect(!(try String(contentsOfFile: export, encoding: .utf8)).contains(password), "\(format) export")
        }
    }

    /// SIGTERM is handled as Ctrl-C: requests in flight drain, every request gets a record,
    /// summary.json is written, and the exit code is 143.
    @Test func sigtermDrainsAndWritesEverything() throws {
        // Long streams: 20 requests of up to a few hundred tokens at 50 ms per token.
        let (server, port) = try CLI.startServer(["mock-server", "--port", "0", "--ttft", "0.05", "--tbt", "0.05"])
        defer { server.terminate(); server.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let p = Process()
        p.executableURL = CLI.binary
        p.arguments = ["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--spec", "workloads/smoke.yaml",
                       "--max-lag", "1000", "--drain", "1", "-o", dir.path]
        p.currentDirectoryURL = CLI.repoRoot
        let so = Pipe()
        p.standardOutput = so
        p.standardError = FileHandle.nullDevice
        try p.run()
        // Wait until some requests are in flight (the journal exists), then send SIGTERM.
        let journal = dir.path + "/requests.jsonl.partial"
        let deadline = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: journal) && Date() < deadline { usleep(20_000) }
        usleep(500_000)
        kill(p.processIdentifier, SIGTERM)
        let stdout = String(decoding: so.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 143)
        let summary = try JSONParser.parse(try String(contentsOfFile: dir.path + "/summary.json", encoding: .utf8))
        let records = try String(contentsOfFile: dir.path + "/requests.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(summary["requests"]?["total"] == .number(Double(records.count)))
        // Every request sent has its record (those in flight were drained or aborted).
        let sent = stdout.range(of: #"(\d+) requests sent"#, options: .regularExpression).map { Int(stdout[$0].split(separator: " ")[0]) ?? -1 }
        #expect(sent == records.count, "\(stdout)")
        #expect(records.count > 0)
        let run = try JSONParser.parse(try String(contentsOfFile: dir.path + "/run.json", encoding: .utf8))
        #expect(run["interrupted"] == .bool(true))
    }

    /// Timeouts have defaults (a holding server cannot stretch a run for ever), 0 disables them,
    /// and a timeout that passes is recorded as such.
    @Test func timeoutsHaveDefaultsAndZeroDisablesThem() throws {
        let help = try CLI.run(["run", "--help"])
        for flag in ["--first-token-timeout <first-token-timeout>", "--idle-timeout <idle-timeout>", "--timeout <timeout>"] {
            #expect(help.stdout.contains(flag), "\(flag)")
        }
        #expect(help.stdout.contains("default: 600.0") && help.stdout.contains("default: 300.0") && help.stdout.contains("default: 3600.0"))
        let negative = try CLI.run(["run", "--endpoint", "http://127.0.0.1:9", "--model", "m", "--timeout", "-1",
                                    "--spec", "workloads/smoke.yaml", "-o", "/tmp/x"])
        #expect(negative.status == 64 && negative.stderr.contains("--timeout must be ≥ 0"), "\(negative.stderr)")
        // A server slower to the first token than the timeout: every request is timeout_first_token.
        let (server, port) = try CLI.startServer(["mock-server", "--port", "0", "--ttft", "3", "--tbt", "0.002"])
        defer { server.terminate(); server.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try CLI.run(["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--spec", "workloads/smoke.yaml",
                             "--count", "3", "--first-token-timeout", "0.5", "--timeout", "0", "--idle-timeout", "0", "--max-lag", "1000",
                             "-o", dir.path])
        #expect(r.status == 3, "\(r.stderr)")
        let records = try String(contentsOfFile: dir.path + "/requests.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(records.count == 3 && records.allSatisfy { $0.contains("\"status\":\"timeout_first_token\"") }, "\(records)")
    }

    @Test func aDirectoryOrAHeaderOnlyWorkloadGetsAPlainError() throws {
        let dir = try CLI.run(["generate", "workloads", "-o", "/tmp/accelbench-dir.jsonl"])
        #expect(dir.status == 74 && dir.stderr.contains("workloads: is a directory") && !dir.stderr.contains("NSCocoaErrorDomain"), "\(dir.stderr)")
        let tmp = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: tmp) }
        let full = tmp.appendingPathComponent("w.jsonl").path
        #expect(try CLI.run(["generate", "workloads/smoke.yaml", "-o", full]).status == 0)
        let lines = try String(contentsOfFile: full, encoding: .utf8).split(separator: "\n")
        let headerOnly = tmp.appendingPathComponent("h.jsonl").path
        try (lines[0] + "\n").write(toFile: headerOnly, atomically: true, encoding: .utf8)
        let out = tmp.appendingPathComponent("run").path
        let r = try CLI.run(["run", "--workload", headerOnly, "-o", out])
        #expect(r.status == 65 && r.stderr.contains("no requests"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: out), "a results directory was left")
        // workload stats counts the rows present, and says when the header disagrees.
        let three = tmp.appendingPathComponent("3.jsonl").path
        try (lines[0...3].joined(separator: "\n") + "\n").write(toFile: three, atomically: true, encoding: .utf8)
        let stats = try CLI.run(["workload", "stats", three])
        #expect(stats.stdout.contains("3 requests over") && stats.stdout.contains("the header says 20"), "\(stats.stdout)")
    }

    /// The lag p99 that makes a run invalid is the one summary.json reports (one computation).
    @Test func theLagReasonQuotesTheSummarysP99() throws {
        let (server, port) = try startMockServer()
        defer { server.terminate(); server.waitUntilExit() }
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Any lag at all exceeds a limit of a nanosecond.
        let r = try CLI.run(["run", "--endpoint", "http://127.0.0.1:\(port)", "--model", "mock", "--spec", "workloads/smoke.yaml",
                             "--max-lag", "0.000001", "-o", dir.path])
        #expect(r.status == 3, "\(r.stderr)")
        let text = try String(contentsOfFile: dir.path + "/summary.json", encoding: .utf8)
        let summary = try JSONParser.parse(text)
        guard case .array(let reasons)? = summary["invalid_reasons"], case .string(let first)? = reasons.first,
              let p99 = text.range(of: #""dispatch_lag_ms":\{"p50":[0-9.]+,"p99":[0-9.]+"#, options: .regularExpression) else {
            Issue.record("no lag reason or lag p99: \(text.prefix(400))")
            return
        }
        let value = text[p99].split(separator: ":").last!
        #expect(first.hasPrefix("dispatch lag p99 \(value) ms exceeds --max-lag 1e-06 ms"), "\(first) vs \(value)")
    }
}
