import BenchCore
import Foundation
import Testing

/// The CPU engine as a user drives it: `run --engine cpu` and `serve --engine cpu` with the
/// shipped SmolLM2-135M (installed by ./run.sh test).
@Suite(.serialized) struct CPUEngineCLITests {
    @Test func runExecutesAWorkloadForReal() throws {
        let dir = CLI.tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("cpu").path
        let r = try CLI.run(["run", "--engine", "cpu", "--spec", "workloads/smoke.yaml", "--count", "4", "--policy", "sarathi",
                             "--kv-memory-gib", "0.25", "-o", out])
        #expect(r.status == 0 || r.status == 3, "\(r.stderr)")  // 3: invalid measurement is fine here
        #expect(r.stdout.contains("cpu engine: .models/SmolLM2-135M-Instruct.Q4_1.gguf"), "\(r.stdout)")
        let records = try String(contentsOfFile: out + "/requests.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(records.count == 4)
        for line in records {
            let v = try JSONParser.parse(String(line))
            #expect(v["status"] == .string("ok"), "\(line)")
        }
        let summary = try JSONParser.parse(try String(contentsOfFile: out + "/summary.json", encoding: .utf8))
        #expect(summary["target"] == .string("engine:cpu profile=cpu-smollm2-135m-instruct.q4_1 policy=sarathi"))
        // Every iteration was measured: durations are real and positive.
        let iterations = try String(contentsOfFile: out + "/iterations.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(!iterations.isEmpty)
        for line in iterations {
            guard case .number(let d)? = try JSONParser.parse(String(line))["duration_s"] else { Issue.record("no duration"); continue }
            #expect(d > 0)
        }
    }

    @Test func serveAnswersAChatWithTheModelsText() throws {
        let (server, port) = try CLI.startServer(["serve", "--engine", "cpu", "--port", "0", "--policy", "sarathi", "--kv-memory-gib", "0.25"])
        defer { server.terminate(); server.waitUntilExit() }
        let curl = try CLI.runTool("curl", ["-s", "-m", "120", "http://127.0.0.1:\(port)/v1/chat/completions", "-H", "content-type: application/json",
                                            "-d", #"{"messages":[{"role":"user","content":"What is the capital of France?"}],"max_tokens":24,"temperature":0}"#])
        let v = try JSONParser.parse(curl)
        guard case .string(let text)? = v["choices"]?.firstElement?["message"]?["content"] else {
            Issue.record("no content in \(curl)")
            return
        }
        #expect(text.contains("Paris"), "\(text)")
        #expect(v["choices"]?.firstElement?["finish_reason"] == .string("stop"))
        guard case .number(let prompt)? = v["usage"]?["prompt_tokens"] else { Issue.record("no usage in \(curl)"); return }
        // The ChatML prompt with SmolLM2's default system message (ReferenceTests checks its ids).
        #expect(prompt == 37)
    }
}

extension CLI {
    /// Runs a tool from PATH and returns its standard output.
    static func runTool(_ tool: String, _ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + args
        let out = Pipe()
        p.standardOutput = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }
}

extension JSONValue {
    var firstElement: JSONValue? { if case .array(let a) = self { return a.first } else { return nil } }
}
