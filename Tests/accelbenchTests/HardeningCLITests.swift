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

/// Issue 16, item 15: every reader of a results directory refuses inconsistent records with
/// exit 65, naming the file, line and field; `gate` reads the records too.
@Suite(.serialized) struct ResultReadersCLITests {
    /// A small engine run to corrupt, and a baseline taken from it.
    static func freshRun(_ dir: URL) throws -> (results: String, baseline: String) {
        let results = dir.appendingPathComponent("r").path
        let baseline = dir.appendingPathComponent("b.json").path
        #expect(try CLI.run(["run", "--spec", "workloads/smoke.yaml", "--count", "20", "-o", results]).status == 0)
        #expect(try CLI.run(["gate", results, "--baseline", baseline, "--update"]).status == 0)
        return (results, baseline)
    }

    static func edit(_ results: String, line: Int, _ change: (String) -> String) throws {
        let path = results + "/requests.jsonl"
        var lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[line - 1] = change(lines[line - 1])
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    static func replacing(_ pattern: String, with new: String) -> (String) -> String {
        { line in line.replacingOccurrences(of: pattern, with: new, options: .regularExpression) }
    }

    @Test func inconsistentRecordsAreRefusedByEveryReader() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let cases: [(String, (String) -> String, String)] = [
            ("class", Self.replacing(#""class":"[^"]*""#, with: #""class":"nonesuch""#), "requests.jsonl:3: field 'class'"),
            ("status", Self.replacing(#""status":"ok""#, with: #""status":"weird""#), "requests.jsonl:3: field 'status'"),
            ("done", Self.replacing(#""done_s":[0-9.]+"#, with: #""done_s":-5"#), "requests.jsonl:3: field 'done_s'"),
            ("first token", Self.replacing(#""first_token_s":[0-9.]+"#, with: #""first_token_s":0.000001"#), "requests.jsonl:3: field 'first_token_s'"),
            ("output tokens", Self.replacing(#""output_tokens":[0-9]+"#, with: #""output_tokens":999"#), "requests.jsonl:3: field 'output_tokens'"),
        ]
        for (name, change, expected) in cases {
            let (results, baseline) = try Self.freshRun(dir.appendingPathComponent(name.replacingOccurrences(of: " ", with: "-")))
            try Self.edit(results, line: 3, change)
            for args in [["report", results], ["export", results, "--format", "csv", "-o", results + "/x.csv"],
                         ["plot", results, "-o", results + "/plots"], ["gate", results, "--baseline", baseline]] {
                let r = try CLI.run(args)
                #expect(r.status == 65, "\(name): \(args[0]) exited \(r.status): \(r.stderr)")
                #expect(r.stderr.contains(expected), "\(name): \(args[0]): \(r.stderr)")
            }
        }
    }

    @Test func duplicateIDsAndMissingRecordsAreRefused() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let (results, baseline) = try Self.freshRun(dir)
        let path = results + "/requests.jsonl"
        let original = try String(contentsOfFile: path, encoding: .utf8)
        let second = original.split(separator: "\n")[1]
        try (original + second + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        for args in [["report", results], ["export", results, "--format", "csv", "-o", results + "/x.csv"], ["gate", results, "--baseline", baseline]] {
            let r = try CLI.run(args)
            #expect(r.status == 65, "\(args[0]): \(r.stderr)")
            #expect(r.stderr.contains("requests.jsonl:21: field 'id'"), "\(args[0]): \(r.stderr)")
        }
        // gate counts the records against summary.json, and needs them.
        try original.split(separator: "\n").dropLast().joined(separator: "\n").appending("\n").write(toFile: path, atomically: true, encoding: .utf8)
        var r = try CLI.run(["gate", results, "--baseline", baseline])
        #expect(r.status == 65 && r.stderr.contains("19 records") && r.stderr.contains("20"), "\(r.stderr)")
        try FileManager.default.removeItem(atPath: path)
        r = try CLI.run(["gate", results, "--baseline", baseline])
        #expect(r.status == 65 && r.stderr.contains("requests.jsonl"), "\(r.stderr)")
    }
}

/// One HTTP/1.1 exchange over a plain socket, for what URLSession cannot do (half-close).
enum RawHTTP {
    static func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        let r = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard r == 0 else { close(fd); throw BenchError.io("127.0.0.1:\(port)", "connect failed") }
        return fd
    }

    static func send(_ fd: Int32, _ text: String) {
        _ = text.withCString { write(fd, $0, strlen($0)) }
    }

    static func setReadTimeout(_ fd: Int32, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Everything the server sends until it closes (or `timeoutS` passes with nothing).
    static func readAll(_ fd: Int32, timeoutS: Int) -> String {
        setReadTimeout(fd, seconds: timeoutS)
        var out = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buf, buf.count)
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func completion(port: Int, halfClose: Bool, timeoutS: Int = 60) throws -> String {
        let fd = try connect(port: port)
        defer { close(fd) }
        let body = #"{"model":"tiny","prompt":[1,2,3,4],"max_tokens":4}"#
        send(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n" + body)
        if halfClose { shutdown(fd, Int32(SHUT_WR)) }
        return readAll(fd, timeoutS: timeoutS)
    }
}

/// Issue 16, items 13 and 14: `serve` closes connections that never finish a request head,
/// caps the connections it holds below its descriptor limit, and answers a client that
/// half-closed after sending its request.
@Suite(.serialized) struct ServeConnectionTests {
    @Test func aHalfClosedClientIsAnswered() throws {
        let (server, port) = try CLI.startServer(["serve", "--port", "0", "--model", "tiny"])
        defer { server.terminate(); server.waitUntilExit() }
        let reply = try RawHTTP.completion(port: port, halfClose: true)
        #expect(reply.hasPrefix("HTTP/1.1 200"), "\(reply.prefix(300))")
        #expect(reply.contains("\"completion_tokens\":4"), "\(reply.prefix(600))")
    }

    @Test func slowHeadsTimeOutAndTheCapKeepsDescriptorsFree() throws {
        let (server, port) = try CLI.startServer(["serve", "--port", "0", "--model", "tiny", "--connection-idle-timeout", "1"],
                                                 descriptorLimit: 128)
        defer { server.terminate(); server.waitUntilExit() }
        // More half-sent request heads than the server has descriptors.
        var held: [Int32] = []
        defer { for fd in held { close(fd) } }
        for _ in 0..<150 {
            let fd = try RawHTTP.connect(port: port)
            RawHTTP.send(fd, "POST /v1/completions HTTP/1.1\r\nHost: x\r\n")
            held.append(fd)
        }
        let reply = try RawHTTP.completion(port: port, halfClose: false, timeoutS: 30)
        #expect(reply.hasPrefix("HTTP/1.1 200"), "a request after 150 slow heads: '\(reply.prefix(300))'")
        // The server closed the slow connections (a read sees the end, not a timeout).
        var closed = 0
        for fd in held.prefix(20) {
            RawHTTP.setReadTimeout(fd, seconds: 10)
            var buf = [UInt8](repeating: 0, count: 4096)
            var n = read(fd, &buf, buf.count)
            while n > 0 { n = read(fd, &buf, buf.count) }
            if n == 0 || errno == ECONNRESET { closed += 1 }
        }
        #expect(closed == 20)
    }
}

/// Issue 16, item 17: the documented status table names every status a record may carry.
@Suite struct StatusTableTests {
    @Test func everyKnownStatusIsDocumented() throws {
        let text = try String(contentsOf: CLI.repoRoot.appendingPathComponent("docs/endpoints.md"), encoding: .utf8)
        let rows = Set(text.split(separator: "\n").filter { $0.hasPrefix("| `") }.compactMap { $0.split(separator: "`").dropFirst().first.map(String.init) })
        for status in RecordStatus.known.subtracting(["ok"]).sorted() {
            #expect(rows.contains(status), "docs/endpoints.md has no row for '\(status)'")
        }
        #expect(rows.contains("http_<code>"))
    }
}
