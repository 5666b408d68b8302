import BenchCore
import Engine
import Foundation
import Hummingbird
import HummingbirdTesting
import OpenAIWire
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Server

/// A server on h100-llama2-7b, whose 4K context the cases are built around (or a profile changed
/// by `adjust`), its engine checking its invariants after every iteration.
func makeServer(policy: PolicyName = .accelgen, adjust: (inout HardwareProfile) -> Void = { _ in },
                configure: (inout ServeConfig) -> Void = { _ in }) throws -> ServeServer {
    var p = try HardwareProfile.resolve("h100-llama2-7b")
    adjust(&p)
    var c = ServeConfig(modelNames: ["tiny"])
    c.drainS = 5
    configure(&c)
    return ServeServer(profile: p, policy: policy.make(PolicyOptions(), profile: p), backend: SimulatedBackend(profile: p),
                       config: c, checkInvariants: true)
}

func json(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

func errorParam(_ body: ByteBuffer) -> String? {
    guard let v = try? JSONParser.parse(String(buffer: body)), case .string(let p)? = v["error"]?["param"] else { return nil }
    return p
}

/// Parsed `data:` payloads of an SSE body.
func sseData(_ body: ByteBuffer) -> [String] {
    String(buffer: body).components(separatedBy: "\n\n").compactMap { ev in
        ev.hasPrefix("data: ") ? String(ev.dropFirst(6)) : nil
    }
}

/// Waits (up to `seconds`) until `cond` holds.
func eventually(_ seconds: Double = 60, _ cond: () -> Bool) async -> Bool {
    let end = Date().addingTimeInterval(seconds)
    while Date() < end {
        if cond() { return true }
        try? await Task.sleep(nanoseconds: 5_000_000)
    }
    return cond()
}

@Suite(.serialized) struct ServerRouterTests {
    @Test func modelsHealthAndMetrics() async throws {
        let server = try makeServer()
        defer { server.loop.stop() }
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/v1/models", method: .get) { r in
                #expect(r.status == .ok)
                let v = try JSONParser.parse(String(buffer: r.body))
                #expect(v["data"]?.arrayValue?.first?["id"] == .string("tiny"))
                #expect(v["data"]?.arrayValue?.first?["max_model_len"] == .number(4096))
            }
            try await client.execute(uri: "/health", method: .get) { r in #expect(r.status == .ok) }
            try await client.execute(uri: "/v1/completions", method: .post,
                                     body: json(#"{"prompt":[1,2,3,4],"max_tokens":4,"slo":{"ttft_ms":500,"tbt_ms":100,"class":"chat"}}"#)) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get) { r in
                #expect(r.status == .ok)
                let text = String(buffer: r.body)
                for name in ["accelbench_num_requests_running", "accelbench_num_requests_waiting", "accelbench_kv_cache_usage_ratio",
                             "accelbench_num_preemptions_total", "accelbench_time_to_first_token_seconds_bucket{class=\"chat\"",
                             "accelbench_time_between_tokens_seconds_count{class=\"chat\"}", "accelbench_iteration_duration_seconds_count",
                             "accelbench_iteration_budget_tokens", "accelbench_slo_requests_total{class=\"chat\",outcome=\"met\"} 1"] {
                    #expect(text.contains(name), "missing \(name)")
                }
            }
        }
    }

    /// The vLLM-named samples after one completion of 4 prompt and 4 output tokens (names
    /// without labels get the `model_name` label).
    static let vllmExpected: [String: Double] = [
        "vllm:num_requests_running": 0, "vllm:num_requests_waiting": 0, "vllm:kv_cache_usage_perc": 0,
        "vllm:prompt_tokens_total": 4, "vllm:generation_tokens_total": 4, "vllm:num_preemptions_total": 0,
        #"vllm:request_success_total{model_name="tiny",finished_reason="length"}"#: 1,
        #"vllm:request_success_total{model_name="tiny",finished_reason="abort"}"#: 0,
        "vllm:time_to_first_token_seconds_count": 1, "vllm:inter_token_latency_seconds_count": 3,
        "vllm:e2e_request_latency_seconds_count": 1, "vllm:request_queue_time_seconds_count": 1,
        "vllm:request_prompt_tokens_sum": 4, "vllm:request_generation_tokens_sum": 4,
    ]

    /// Issue 21 §3: `/metrics` also carries vLLM's names, with a `model_name` label, and every
    /// line is valid text exposition (a strict reading of the format: comments, or
    /// `name{labels} value` with Prometheus' name and label rules).
    @Test func vllmNamesAreExportedInValidExposition() async throws {
        let server = try makeServer()
        defer { server.loop.stop() }
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/v1/completions", method: .post, body: json(#"{"prompt":[1,2,3,4],"max_tokens":4}"#)) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/metrics", method: .get) { r in
                let samples = try parseExposition(String(buffer: r.body))
                let m = #"{model_name="tiny"}"#
                for (name, value) in Self.vllmExpected.sorted(by: { $0.key < $1.key }) {
                    let key = name.contains("{") ? name : name + m
                    #expect(samples[key] == value, "\(key): \(samples[key].map { String($0) } ?? "missing")")
                }
                #expect((samples["vllm:iteration_tokens_total_count" + m] ?? 0) >= 1)
                #expect(samples["accelbench_num_requests_running"] == 0, "the accelbench names stay")
            }
        }
    }

    /// The shipped Grafana dashboard (dashboards/accelbench-serve.json) reads only metric names
    /// that `serve` exports: every `vllm:*` and `accelbench_*` name in its queries is a family of
    /// the exposition once a request with an SLO has completed and one was refused.
    @Test func theGrafanaDashboardReadsOnlyExportedNames() async throws {
        var root = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { root.deleteLastPathComponent() }
        let dashboard = try String(contentsOf: root.appendingPathComponent("dashboards/accelbench-serve.json"), encoding: .utf8)
        let panels = try JSONParser.parse(dashboard)["panels"]?.arrayValue ?? []
        let exprs = panels.flatMap { $0["targets"]?.arrayValue ?? [] }.compactMap { $0["expr"]?.stringValue }
        #expect(exprs.count >= 20)
        var referenced = Set<String>()
        for e in exprs {
            var name = ""
            for c in e + " " {
                if c.isLetter || c.isNumber || c == "_" || c == ":" {
                    name.append(c)
                    continue
                }
                if name.hasPrefix("vllm:") || name.hasPrefix("accelbench_") { referenced.insert(name) }
                name = ""
            }
        }
        let names = referenced.sorted()
        let server = try makeServer()
        defer { server.loop.stop() }
        try await Application(router: server.router()).test(.router) { client in
            try await client.execute(uri: "/v1/completions", method: .post,
                                     body: json(#"{"prompt":[1,2,3,4],"max_tokens":4,"slo":{"ttft_ms":500,"tbt_ms":100,"class":"chat"}}"#)) { r in
                #expect(r.status == .ok)
            }
            try await client.execute(uri: "/v1/completions", method: .post, body: json(#"{"max_tokens":4}"#)) { r in
                #expect(r.status == .badRequest)
            }
            try await client.execute(uri: "/metrics", method: .get) { r in
                let samples = try parseExposition(String(buffer: r.body))
                let exported = Set(samples.keys.map { String($0.prefix { $0 != "{" }) })
                for name in names {
                    #expect(exported.contains(name), "the dashboard reads \(name), which serve does not export")
                }
            }
        }
        #expect(referenced.count >= 20, "\(referenced.sorted())")
    }

    @Test func completionsAndChatShapes() async throws {
        let server = try makeServer()
        defer { server.loop.stop() }
        try await Application(router: server.router()).test(.router) { client in
            // Streamed completion with usage: max_tokens chunks, the last with finish_reason length.
            try await client.execute(uri: "/v1/completions", method: .post, headers: [.init("x-request-id")!: "abc"],
                                     body: json(#"{"model":"tiny","prompt":"one two three four five","max_tokens":6,"stream":true,"stream_options":{"include_usage":true}}"#)) { r in
                #expect(r.status == .ok)
                #expect(r.headers[.contentType]?.hasPrefix("text/event-stream") == true)
                #expect(r.headers[.init("x-request-id")!] == "abc")
                let data = sseData(r.body)
                #expect(data.last == "[DONE]")
                let chunks = data.dropLast().compactMap { try? JSONParser.parse($0) }
                #expect(chunks.count == 7)
                let texts = chunks.prefix(6).compactMap { $0["choices"]?.arrayValue?.first?["text"]?.stringValue }
                #expect(texts.count == 6)
                #expect(chunks[5]["choices"]?.arrayValue?.first?["finish_reason"] == .string("length"))
                #expect(chunks[6]["usage"]?["completion_tokens"] == .number(6))
                #expect(chunks[6]["usage"]?["prompt_tokens"] == .number(5))
            }
            // Chat, not streamed: the same words as text, usage counted.
            try await client.execute(uri: "/v1/chat/completions", method: .post,
                                     body: json(#"{"messages":[{"role":"user","content":"say three words"}],"max_completion_tokens":3}"#)) { r in
                #expect(r.status == .ok)
                let v = try JSONParser.parse(String(buffer: r.body))
                #expect(v["object"] == .string("chat.completion"))
                let content = v["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue ?? ""
                #expect(content.split(separator: " ").count == 3)
                #expect(v["usage"]?["completion_tokens"] == .number(3))
            }
            // Chat streamed: a role delta first, continuous usage on every chunk.
            try await client.execute(uri: "/v1/chat/completions", method: .post,
                                     body: json(#"{"messages":[{"role":"user","content":"hi"}],"max_tokens":2,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true},"ignore_eos":true}"#)) { r in
                let chunks = sseData(r.body).dropLast().compactMap { try? JSONParser.parse($0) }
                #expect(chunks.first?["choices"]?.arrayValue?.first?["delta"]?["role"] == .string("assistant"))
                #expect(chunks.count == 4)
                #expect(chunks.allSatisfy { $0["usage"] != nil && $0["usage"] != .null })
            }
            // The same prompt gives the same output.
            var outputs: [String] = []
            for _ in 0..<2 {
                try await client.execute(uri: "/v1/completions", method: .post, body: json(#"{"prompt":[5,6,7],"max_tokens":5}"#)) { r in
                    let v = try JSONParser.parse(String(buffer: r.body))
                    outputs.append(v["choices"]?.arrayValue?.first?["text"]?.stringValue ?? "")
                }
            }
            #expect(outputs[0] == outputs[1] && !outputs[0].isEmpty)
        }
    }

    @Test func badRequestsNameTheField() async throws {
        let server = try makeServer(configure: { $0.maxBodyBytes = 2048 })
        defer { server.loop.stop() }
        let cases: [(String, String, Int, String?)] = [
            ("/v1/completions", "{not json", 400, nil),
            ("/v1/completions", "[1,2]", 400, nil),
            ("/v1/completions", #"{"max_tokens":4}"#, 400, "prompt"),
            ("/v1/completions", #"{"prompt":"hi","max_tokens":"4"}"#, 400, "max_tokens"),
            ("/v1/completions", #"{"prompt":"hi","max_tokens":0}"#, 400, "max_tokens"),
            ("/v1/completions", #"{"prompt":"hi","max_tokens":-3}"#, 400, "max_tokens"),
            ("/v1/completions", #"{"prompt":"hi","max_tokens":4,"n":2}"#, 400, "n"),
            ("/v1/completions", #"{"prompt":"hi","max_tokens":4,"model":"gpt-4"}"#, 400, "model"),
            ("/v1/completions", #"{"prompt":"hi","max_tokens":4,"stream":"yes"}"#, 400, "stream"),
            ("/v1/completions", #"{"prompt":"hi","max_tokens":4000,"stream":false,"model":"tiny","x":1,"slo":{"ttft_ms":-1}}"#, 400, "slo.ttft_ms"),
            ("/v1/completions", #"{"prompt":"hi","max_tokens":4096}"#, 400, "max_tokens"),
            ("/v1/completions", #"{"prompt":[1,2],"max_tokens":4,"min_tokens":9}"#, 400, "min_tokens"),
            ("/v1/chat/completions", #"{"messages":"hi","max_tokens":4}"#, 400, "messages"),
            ("/v1/chat/completions", #"{"messages":[{"content":"hi"}],"max_tokens":4}"#, 400, "messages[0].role"),
        ]
        try await Application(router: server.router()).test(.router) { client in
            for (path, body, status, param) in cases {
                try await client.execute(uri: path, method: .post, body: json(body)) { r in
                    #expect(Int(r.status.code) == status, "\(body)")
                    let v = try? JSONParser.parse(String(buffer: r.body))
                    #expect(v?["error"]?["message"]?.stringValue?.isEmpty == false, "\(body)")
                    #expect(errorParam(r.body) == param, "\(body)")
                }
            }
            // A prompt over the context length.
            let long = "[" + Array(repeating: "1", count: 4096).joined(separator: ",") + "]"
            let big = try await makeServer().router()
            try await Application(router: big).test(.router) { c2 in
                try await c2.execute(uri: "/v1/completions", method: .post, body: json(#"{"prompt":\#(long),"max_tokens":1}"#)) { r in
                    #expect(r.status == .badRequest)
                    #expect(errorParam(r.body) == "prompt")
                }
            }
            // Headers with a bad SLO.
            try await client.execute(uri: "/v1/completions", method: .post, headers: [.init("x-slo-ttft-ms")!: "soon"],
                                     body: json(#"{"prompt":"hi","max_tokens":2}"#)) { r in
                #expect(r.status == .badRequest)
                #expect(errorParam(r.body) == "x-slo-ttft-ms")
            }
            // Too large a body.
            try await client.execute(uri: "/v1/completions", method: .post, body: json(#"{"prompt":"\#(String(repeating: "a ", count: 2000))","max_tokens":1}"#)) { r in
                #expect(r.status == .contentTooLarge)
                #expect(String(buffer: r.body).contains("exceeds 2048 bytes"))
            }
            // Unknown route and wrong method.
            try await client.execute(uri: "/v2/nothing", method: .get) { r in
                #expect(r.status == .notFound)
                #expect(String(buffer: r.body).contains("\"error\""))
            }
            try await client.execute(uri: "/v1/chat/completions", method: .get) { r in
                #expect(r.status == .methodNotAllowed)
                #expect(r.headers[.allow] == "POST")
            }
            // The server still works after all that.
            try await client.execute(uri: "/v1/completions", method: .post, body: json(#"{"prompt":"hi","max_tokens":2}"#)) { r in
                #expect(r.status == .ok)
            }
        }
        #expect(server.loop.snapshot.invariantViolations.isEmpty)
    }

    @Test func aFullQueueGets429WithRetryAfter() async throws {
        // KV for exactly one request of 100 + 220 tokens (10 blocks of 32): the second waits.
        let server = try makeServer(adjust: { $0.kvCapacityBlocks = 10 }, configure: { $0.maxWaiting = 1; $0.retryAfterS = 2 })
        defer { server.loop.stop() }
        let prompt = "[" + Array(repeating: "7", count: 100).joined(separator: ",") + "]"
        let body = #"{"prompt":\#(prompt),"max_tokens":220}"#
        try await Application(router: server.router()).test(.router) { client in
            async let first = client.execute(uri: "/v1/completions", method: .post, body: json(body)) { $0.status }
            #expect(await eventually { server.loop.snapshot.running == 1 })
            async let second = client.execute(uri: "/v1/completions", method: .post, body: json(body)) { $0.status }
            #expect(await eventually { server.loop.snapshot.waiting == 1 })
            try await client.execute(uri: "/v1/completions", method: .post, body: json(body)) { r in
                #expect(r.status == .tooManyRequests)
                #expect(r.headers[.retryAfter] == "2")
            }
            #expect(try await first == .ok)
            #expect(try await second == .ok)
        }
        #expect(server.loop.snapshot.invariantViolations.isEmpty)
    }
}

/// A bare TCP client for live-server tests that must misbehave (disconnect mid-stream).
final class RawClient {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard rc == 0 else { throw BenchError.io("127.0.0.1:\(port)", "connect failed") }
    }

    func post(_ path: String, _ body: String) {
        let req = "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
        _ = Array(req.utf8).withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until `needle` appears (or 90 s pass); returns what was read.
    func read(until needle: String) -> String {
        var got: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        // Generous: on a loaded 2-core machine other suites can hold the cooperative pool that
        // serves the live server for many seconds; the loop stops as soon as the needle arrives.
        let end = Date().addingTimeInterval(90)
        var tv = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        while Date() < end {
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { got += buf[0..<n] }
            if n == 0 { break }
            if String(decoding: got, as: UTF8.self).contains(needle) { break }
        }
        return String(decoding: got, as: UTF8.self)
    }

    func close() { Glibc.close(fd) }
}

@Suite(.serialized) struct ServerLiveTests {
    /// Runs a live server on a free port for `body`, then shuts it down.
    func withLiveServer(_ server: ServeServer, _ body: @Sendable (Int) async throws -> Void) async throws {
        let (ports, cont) = AsyncStream.makeStream(of: Int.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.run(host: "127.0.0.1", port: 0) { cont.yield($0) } }
            var it = ports.makeAsyncIterator()
            guard let port = await it.next() else { return }
            do {
                try await body(port)
            } catch {
                await server.shutdown()
                throw error
            }
            await server.shutdown()
            try await group.waitForAll()
        }
    }

    @Test func aClientThatDisconnectsMidStreamFreesItsKVBlocks() async throws {
        let server = try makeServer()
        try await withLiveServer(server) { port in
            let c = try RawClient(port: port)
            c.post("/v1/completions", #"{"prompt":[1,2,3,4,5,6,7,8],"max_tokens":3000,"stream":true}"#)
            let got = c.read(until: "\"text\"")
            #expect(got.contains("200 OK"))
            #expect(await eventually { server.loop.snapshot.running == 1 && server.loop.snapshot.kvUsedBlocks > 0 })
            c.close()
            #expect(await eventually { server.loop.snapshot.running == 0 && server.loop.snapshot.kvUsedBlocks == 0 })
            let s = server.loop.snapshot
            #expect(s.aborted == 1)
            #expect(s.invariantViolations.isEmpty)
            // Other requests are unaffected.
            let d = try RawClient(port: port)
            d.post("/v1/completions", #"{"prompt":[1,2,3],"max_tokens":3,"stream":true}"#)
            #expect(d.read(until: "[DONE]").contains("data: [DONE]"))
            d.close()
        }
    }

    @Test func shutdownDrainsThenAbortsWhatIsLeft() async throws {
        let server = try makeServer(configure: { $0.drainS = 2 })
        let start = Date()
        try await withLiveServer(server) { port in
            let short = try RawClient(port: port)
            short.post("/v1/completions", #"{"prompt":[1,2,3],"max_tokens":40,"stream":true}"#)
            let long = try RawClient(port: port)
            long.post("/v1/completions", #"{"prompt":[1,2,3],"max_tokens":3000,"stream":true}"#)
            // Both in the engine (the short one may already be done on a fast machine).
            #expect(await eventually { server.loop.snapshot.submitted == 2 })
            Task { await server.shutdown() }
            #expect(short.read(until: "[DONE]").contains("data: [DONE]"))
            let tail = long.read(until: "[DONE]")
            #expect(tail.contains("drain time ran out"))
            short.close()
            long.close()
        }
        #expect(Date().timeIntervalSince(start) < 15)
        #expect(server.loop.snapshot.invariantViolations.isEmpty)
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? { if case .array(let a) = self { return a } else { return nil } }
    var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
}

/// Samples of a Prometheus text exposition, keyed by `name{labels}` as written; throws on any
/// line that is not a comment or a valid sample.
func parseExposition(_ text: String) throws -> [String: Double] {
    // The library's strict reader (what `run --server-metrics` uses): an error names the line.
    var out: [String: Double] = [:]
    for s in try PrometheusText.parse(text, source: "/metrics") { out[s.key] = s.value }
    return out
}
