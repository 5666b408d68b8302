#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import BenchCore
import Foundation
import MockServer
import Testing

/// Starts a server with `configure` applied to a quiet default config (no latency), runs `body`,
/// stops the server.
func withServer(_ configure: (inout MockServerConfig) -> Void = { _ in },
                _ body: (MockServer, Int) throws -> Void) throws {
    var config = MockServerConfig()
    config.ttft = .fixed(0)
    config.tbt = .fixed(0)
    configure(&config)
    let server = MockServer(config)
    let port = try server.start()
    defer { server.stop() }
    try body(server, port)
}

func completionBody(prompt: String = "[1,2,3,4,5]", maxTokens: Int, stream: Bool, usage: Bool = false, continuous: Bool = false, extra: String = "") -> String {
    var s = "{\"model\":\"mock\",\"prompt\":\(prompt),\"max_tokens\":\(maxTokens),\"stream\":\(stream)"
    if usage || continuous {
        s += ",\"stream_options\":{\"include_usage\":\(usage),\"continuous_usage_stats\":\(continuous)}"
    }
    return s + extra + "}"
}

func chatBody(maxTokens: Int, stream: Bool, usage: Bool = false) -> String {
    var s = "{\"model\":\"mock\",\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"say three words\"}],\"max_completion_tokens\":\(maxTokens),\"stream\":\(stream)"
    if usage { s += ",\"stream_options\":{\"include_usage\":true}" }
    return s + "}"
}

func wordCount(_ s: String) -> Int { s.split(separator: " ").count }

func text(of chunk: JSONValue) -> String {
    guard case .array(let choices)? = chunk["choices"], let c = choices.first else { return "" }
    if case .string(let t)? = c["text"] { return t }
    if case .string(let t)? = c["delta"]?["content"] { return t }
    return ""
}

func usage(_ v: JSONValue?) -> (prompt: Int, completion: Int, total: Int)? {
    guard let u = v?["usage"], case .number(let p)? = u["prompt_tokens"], case .number(let c)? = u["completion_tokens"],
          case .number(let t)? = u["total_tokens"] else { return nil }
    return (Int(p), Int(c), Int(t))
}

/// The data lines must end with a usage-only chunk (if asked) and `[DONE]`.
func expectStreamTail(_ reply: HTTPReply, usage expected: (Int, Int)?) {
    #expect(reply.complete)
    #expect(reply.events.last?.data == "[DONE]")
    if let (p, c) = expected {
        let usageChunk = reply.events.dropLast().last?.json
        #expect(usageChunk?["choices"] == .array([]))
        let u = usage(usageChunk)
        #expect(u?.prompt == p)
        #expect(u?.completion == c)
        #expect(u?.total == p + c)
    }
}

@Suite(.serialized) struct MockServerTests {
    @Test func healthAndModels() throws {
        try withServer({ $0.models = ["mock", "other"] }) { _, port in
            let c = try TestConnection(port: port)
            try c.request("GET", "/health")
            let h = try c.readResponse()
            #expect(h.status == 200)
            #expect(h.complete)
            try c.request("GET", "/v1/models")
            let m = try c.readResponse()
            #expect(m.status == 200)
            #expect(m.headers["content-type"] == "application/json")
            #expect(m.json?["object"] == .string("list"))
            guard case .array(let data)? = m.json?["data"] else {
                Issue.record("no data array: \(m.bodyText)")
                return
            }
            #expect(data.map { $0["id"] } == [.string("mock"), .string("other")])
            #expect(data.first?["object"] == .string("model"))
        }
    }

    @Test func nonStreamingCompletionAndChat() throws {
        try withServer { server, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 7, stream: false))
            let r = try c.readResponse()
            #expect(r.status == 200)
            let j = try #require(r.json)
            #expect(j["object"] == .string("text_completion"))
            #expect(j["model"] == .string("mock"))
            guard case .array(let choices)? = j["choices"], let choice = choices.first else {
                Issue.record("no choices: \(r.bodyText)")
                return
            }
            #expect(wordCount(text(of: j)) == 7)
            #expect(choice["finish_reason"] == .string("length"))
            #expect(usage(j)! == (5, 7, 12))

            // A text prompt counts whitespace-separated words.
            try c.request("POST", "/v1/completions", body: completionBody(prompt: "\"hello big  world\"", maxTokens: 3, stream: false))
            let t = try c.readResponse()
            #expect(usage(t.json)! == (3, 3, 6))

            try c.request("POST", "/v1/chat/completions", body: chatBody(maxTokens: 4, stream: false))
            let chat = try c.readResponse()
            let cj = try #require(chat.json)
            #expect(cj["object"] == .string("chat.completion"))
            guard case .array(let cc)? = cj["choices"], let msg = cc.first?["message"] else {
                Issue.record("no message: \(chat.bodyText)")
                return
            }
            #expect(msg["role"] == .string("assistant"))
            if case .string(let content)? = msg["content"] { #expect(wordCount(content) == 4) } else { Issue.record("no content") }
            #expect(usage(cj)! == (5, 4, 9))
            #expect(server.stats.requests == 3)
            #expect(server.stats.chunksSent == 0)
        }
    }

    @Test func streamingCompletionExactTokensAndUsage() throws {
        try withServer({ $0.tbt = .fixed(0.001) }) { server, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 10, stream: true, usage: true),
                          headers: ["X-Request-Id: 0b9f3c1e-4a1d-4c55-9a55-7f1f0e2b6c11"])
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(r.headers["content-type"]?.hasPrefix("text/event-stream") == true)
            #expect(r.headers["transfer-encoding"] == "chunked")
            #expect(r.headers["x-request-id"] == "0b9f3c1e-4a1d-4c55-9a55-7f1f0e2b6c11")
            let chunks = r.tokenChunks
            #expect(chunks.count == 10)
            #expect(chunks.allSatisfy { wordCount(text(of: $0)) == 1 })
            #expect(chunks.allSatisfy { $0["object"] == .string("text_completion") })
            let finishes = chunks.map { chunk -> JSONValue? in
                guard case .array(let ch)? = chunk["choices"] else { return nil }
                return ch.first?["finish_reason"]
            }
            #expect(finishes.dropLast().allSatisfy { $0 == .null })
            #expect(finishes.last == .string("length"))
            // Same id on every chunk; no usage on token chunks without continuous stats.
            let ids = Set(r.events.compactMap { ev -> String? in
                if case .string(let id)? = ev.json?["id"] { return id } else { return nil }
            })
            #expect(ids.count == 1)
            #expect(ids.first?.hasPrefix("cmpl-") == true)
            #expect(chunks.allSatisfy { $0["usage"] == .null })  // as vLLM's completions chunks
            expectStreamTail(r, usage: (5, 10))
            #expect(server.stats.chunksSent == 10)

            // Several tokens per chunk on a second server; continuous usage on every chunk.
        }
        try withServer({ $0.tokensPerChunk = 3 }) { server, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 10, stream: true, usage: true, continuous: true))
            let r = try c.readResponse()
            let chunks = r.tokenChunks
            #expect(chunks.map { wordCount(text(of: $0)) } == [3, 3, 3, 1])
            #expect(chunks.map { usage($0)?.completion } == [3, 6, 9, 10])
            expectStreamTail(r, usage: (5, 10))
            #expect(server.stats.chunksSent == 4)

            // usage off: stream_options is ignored.
        }
        try withServer({ $0.usage = false }) { _, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 4, stream: true, usage: true))
            let r = try c.readResponse()
            #expect(r.tokenChunks.count == 4)
            #expect(r.events.compactMap { $0.json }.allSatisfy { $0["usage"] == nil || $0["usage"] == .null })
            expectStreamTail(r, usage: nil)
        }
    }

    @Test func chatStreamShape() throws {
        try withServer { _, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/chat/completions", body: chatBody(maxTokens: 5, stream: true, usage: true))
            let r = try c.readResponse()
            #expect(r.status == 200)
            let jsons = r.events.dropLast().compactMap { $0.json }
            #expect(jsons.count == r.events.count - 1)
            #expect(jsons.allSatisfy { $0["object"] == .string("chat.completion.chunk") })
            if case .string(let id)? = jsons.first?["id"] { #expect(id.hasPrefix("chatcmpl-")) } else { Issue.record("no id") }
            guard case .array(let first)? = jsons.first?["choices"] else {
                Issue.record("no first chunk")
                return
            }
            #expect(first.first?["delta"] == .object([("role", .string("assistant")), ("content", .string(""))]))
            #expect(first.first?["finish_reason"] == .null)
            let content = r.tokenChunks
            #expect(content.count == 5)
            #expect(content.allSatisfy { wordCount(text(of: $0)) == 1 })
            #expect(jsons.dropLast().allSatisfy { $0["usage"] == nil })  // chat chunks: no usage key (exclude_unset)
            guard case .array(let last)? = content.last?["choices"] else { return }
            #expect(last.first?["finish_reason"] == .string("length"))
            // Role chunk + 5 content chunks + usage + [DONE].
            #expect(r.events.count == 8)
            expectStreamTail(r, usage: (5, 5))
        }
    }

    @Test func keepAliveThreeRequestsOnOneConnection() throws {
        try withServer { server, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 3, stream: true, usage: true))
            let a = try c.readResponse()
            expectStreamTail(a, usage: (5, 3))
            try c.request("POST", "/v1/chat/completions", body: chatBody(maxTokens: 2, stream: false))
            let b = try c.readResponse()
            #expect(b.status == 200)
            #expect(usage(b.json)?.completion == 2)
            try c.request("POST", "/v1/chat/completions", body: chatBody(maxTokens: 4, stream: true, usage: true))
            let d = try c.readResponse()
            #expect(d.tokenChunks.count == 4)
            expectStreamTail(d, usage: (5, 4))
            #expect(server.stats.openConnections == 1)
            #expect(server.stats.requests == 3)
            // Connection: close is honoured after the reply.
            try c.request("GET", "/health", headers: ["Connection: close"])
            let e = try c.readResponse()
            #expect(e.status == 200)
            #expect(e.headers["connection"] == "close")
            #expect(c.waitForClose())
        }
    }

    @Test func expectContinueAndPipelinedRequests() throws {
        try withServer { _, port in
            let c = try TestConnection(port: port)
            let body = completionBody(maxTokens: 2, stream: false)
            try c.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\nExpect: 100-continue\r\n\r\n")
            // The interim 100 comes before the body is sent.
            while indexOf(c.buf, Array("\r\n\r\n".utf8)) == nil { #expect(c.readMore()) }
            #expect(String(decoding: c.buf, as: UTF8.self).hasPrefix("HTTP/1.1 100 Continue"))
            c.buf.removeAll()
            try c.send(body)
            #expect(try c.readResponse().status == 200)
            // Two requests in one write, bare LF line ends and lowercase header names.
            try c.send("GET /health HTTP/1.1\nhost: x\n\nGET /v1/models HTTP/1.1\r\nhost: x\r\n\r\n")
            #expect(try c.readResponse().status == 200)
            #expect(try c.readResponse().json?["object"] == .string("list"))
        }
    }

    @Test func requestArrivingByteByByte() throws {
        try withServer { _, port in
            let c = try TestConnection(port: port)
            let body = chatBody(maxTokens: 3, stream: true, usage: true)
            let req = Array("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
            for b in req {
                try c.sendBytes([b])
                usleep(50)
            }
            let r = try c.readResponse()
            #expect(r.tokenChunks.count == 3)
            expectStreamTail(r, usage: (5, 3))
        }
    }

    @Test func faultHTTP500() throws {
        try withServer({ $0.faults.http500 = 1 }) { server, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 4, stream: true))
            let r = try c.readResponse()
            #expect(r.status == 500)
            #expect(r.json?["error"]?["type"] == .string("server_error"))
            if case .string(let m)? = r.json?["error"]?["message"] { #expect(!m.isEmpty) } else { Issue.record("no message") }
            #expect(server.stats.faultsInjected == 1)
            // The connection stays usable.
            try c.request("GET", "/health")
            #expect(try c.readResponse().status == 200)
        }
    }

    @Test func faultDropConnection() throws {
        try withServer({ $0.faults.dropConnection = 1 }) { server, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 10, stream: true, usage: true))
            let r = try c.readResponse()
            #expect(r.status == 200)
            #expect(!r.complete)
            #expect(r.closedEarly)
            #expect(r.tokenChunks.count == 5)
            #expect(!r.events.contains { $0.data == "[DONE]" })
            #expect(server.stats.faultsInjected == 1)
            // Non-streaming: the connection closes with no reply.
            let d = try TestConnection(port: port)
            try d.request("POST", "/v1/completions", body: completionBody(maxTokens: 10, stream: false))
            #expect(throws: (any Error).self) { try d.readResponse() }
            #expect(server.stats.faultsInjected == 2)
        }
    }

    @Test func faultMalformedSSE() throws {
        try withServer({ $0.faults.malformedSSE = 1 }) { server, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 10, stream: true, usage: true))
            let r = try c.readResponse()
            let bad = r.events.filter { $0.data != "[DONE]" && $0.json == nil }
            #expect(bad.count == 1)
            #expect(bad.first?.data.isEmpty == false)
            // Every token still arrives, then usage and [DONE].
            #expect(r.tokenChunks.count == 10)
            expectStreamTail(r, usage: (5, 10))
            #expect(server.stats.faultsInjected == 1)
        }
    }

    @Test func faultStall() throws {
        let stall = 0.3
        try withServer({ $0.faults.stall = 1; $0.faults.stallSeconds = stall }) { server, port in
            let c = try TestConnection(port: port)
            let sent = nowSeconds()
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 8, stream: true))
            let r = try c.readResponse()
            let times = r.events.filter { $0.json != nil }.map(\.time)
            #expect(times.count == 8)
            // TTFT and TBT are zero: chunks 0-3 go at once, chunk 4 only after the stall.
            #expect(times[4] - sent >= stall)
            let gaps = zip(times.dropFirst(), times).map { $0 - $1 }
            let maxGap = gaps.max() ?? 0
            print("mock-server stall: configured \(stall) s, largest gap between chunks \(String(format: "%.4f", maxGap)) s, chunk 4 at +\(String(format: "%.4f", times[4] - sent)) s")
            expectStreamTail(r, usage: nil)
            #expect(server.stats.faultsInjected == 1)
        }
    }

    @Test func faultsAreSeededPerRequestCounter() throws {
        func pattern(seed: UInt64) throws -> [Int] {
            var statuses: [Int] = []
            try withServer({ $0.faults.http500 = 0.5; $0.seed = seed }) { _, port in
                let c = try TestConnection(port: port)
                for _ in 0..<24 {
                    try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 1, stream: false))
                    statuses.append(try c.readResponse().status)
                }
            }
            return statuses
        }
        let a = try pattern(seed: 7), b = try pattern(seed: 7), other = try pattern(seed: 8)
        #expect(a == b)
        #expect(a != other)
        #expect(a.contains(500) && a.contains(200))
    }

    @Test func badRequests() throws {
        try withServer({ $0.maxBodyBytes = 1024 }) { server, port in
            let c = try TestConnection(port: port)
            func expectError(_ method: String, _ path: String, _ body: String?, status: Int, param: String? = nil) throws {
                try c.request(method, path, body: body)
                let r = try c.readResponse()
                #expect(r.status == status, "\(method) \(path) \(body ?? "")")
                let err = r.json?["error"]
                #expect(err != nil, "error JSON for \(method) \(path): \(r.bodyText)")
                if case .string(let m)? = err?["message"] { #expect(!m.isEmpty) } else { Issue.record("no message") }
                if status == 400 {
                    #expect(err?["type"] == .string("invalid_request_error"))
                    #expect(err?["param"] == (param.map { JSONValue.string($0) } ?? .null), "\(body ?? "")")
                }
            }
            try expectError("POST", "/v1/completions", "{\"model\":", status: 400)
            try expectError("POST", "/v1/completions", "[1,2]", status: 400)
            try expectError("POST", "/v1/completions", "{\"model\":\"gpt-9\",\"prompt\":\"hi\"}", status: 400, param: "model")
            try expectError("POST", "/v1/completions", "{\"model\":\"mock\",\"prompt\":\"hi\",\"max_tokens\":0}", status: 400, param: "max_tokens")
            try expectError("POST", "/v1/completions", "{\"model\":\"mock\",\"prompt\":\"hi\",\"max_tokens\":2.5}", status: 400, param: "max_tokens")
            try expectError("POST", "/v1/completions", "{\"model\":\"mock\",\"max_tokens\":3}", status: 400, param: "prompt")
            try expectError("POST", "/v1/chat/completions", "{\"model\":\"mock\",\"prompt\":\"hi\"}", status: 400, param: "messages")
            try expectError("POST", "/v1/chat/completions", "{\"model\":\"mock\",\"messages\":[],\"max_completion_tokens\":-1}", status: 400, param: "max_completion_tokens")
            try expectError("GET", "/v1/completions", nil, status: 405)
            try expectError("POST", "/health", "{}", status: 405)
            try expectError("GET", "/v2/nothing", nil, status: 404)
            #expect(server.stats.requests == 0)
            // After all of those the connection is still usable.
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 2, stream: false))
            #expect(try c.readResponse().status == 200)

            // 413: over maxBodyBytes (the connection then closes).
            let big = try TestConnection(port: port)
            try big.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n")
            let r413 = try big.readResponse()
            #expect(r413.status == 413)
            #expect(r413.json?["error"] != nil)
            #expect(big.waitForClose())

            // Chunked request bodies: 411.
            let ch = try TestConnection(port: port)
            try ch.send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            let r411 = try ch.readResponse()
            #expect(r411.status == 411)
            #expect(r411.json?["error"] != nil)

            // A garbage request line: 400 and close.
            let g = try TestConnection(port: port)
            try g.send("HELLO\r\n\r\n")
            #expect(try g.readResponse().status == 400)
        }
    }

    @Test func clientDisconnectMidStream() throws {
        try withServer({ $0.tbt = .fixed(0.002) }) { server, port in
            for _ in 0..<5 {
                let c = try TestConnection(port: port)
                try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 500, stream: true))
                c.readMore()
                // deinit closes the socket mid-stream (an abortive close: SO_LINGER 0 for a reset on some)
                if Bool.random() {
                    var lg = linger(l_onoff: 1, l_linger: 0)
                    _ = setsockopt(c.fd, SOL_SOCKET, SO_LINGER, &lg, socklen_t(MemoryLayout<linger>.size))
                }
            }
            let limit = nowSeconds() + 5
            while server.stats.openConnections > 0 && nowSeconds() < limit { usleep(5000) }
            #expect(server.stats.openConnections == 0)
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 3, stream: true))
            #expect(try c.readResponse().tokenChunks.count == 3)
        }
    }

    @Test func slowReaderGetsTheWholeStream() throws {
        // 20k tokens at TBT 0 is several MB: more than the socket buffers, so the server must
        // stop at its high-water mark and resume when the client drains.
        try withServer { server, port in
            let c = try TestConnection(port: port)
            try c.request("POST", "/v1/completions", body: completionBody(maxTokens: 20000, stream: true, usage: true))
            usleep(300_000)
            #expect(server.stats.chunksSent < 20000)
            let terminator = Array("\r\n0\r\n\r\n".utf8)
            let limit = nowSeconds() + 20
            while nowSeconds() < limit && !(c.buf.count >= terminator.count && Array(c.buf.suffix(terminator.count)) == terminator) {
                guard c.readMore() else { break }
            }
            #expect(occurrences("\"text\":", in: c.buf) == 20000)
            #expect(occurrences("\"completion_tokens\":20000}", in: c.buf) == 1)
            #expect(occurrences("data: [DONE]", in: c.buf) == 1)
            #expect(server.stats.chunksSent == 20000)
        }
    }

    @Test func twoHundredConcurrentStreams() throws {
        try withServer({ $0.ttft = .fixed(0.005); $0.tbt = .uniform(0.0005, 0.0015) }) { server, port in
            let body = completionBody(maxTokens: 20, stream: true, usage: true)
            let req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            let (elapsed, replies) = try runConcurrent(port: port, count: 200, request: req)
            #expect(replies.allSatisfy { occurrences("\"text\":", in: $0) == 20 })
            #expect(replies.allSatisfy { occurrences("data: [DONE]", in: $0) == 1 })
            #expect(replies.allSatisfy { occurrences("\"completion_tokens\":20}", in: $0) == 1 })
            #expect(server.stats.requests == 200)
            #expect(server.stats.chunksSent == 4000)
            print("mock-server: 200 concurrent streams of 20 tokens in \(String(format: "%.3f", elapsed)) s")
        }
    }

    @Test func ttftIsRespected() throws {
        let ttft = 0.05, tbt = 0.01
        try withServer({ $0.ttft = .fixed(ttft); $0.tbt = .fixed(tbt) }) { _, port in
            let c = try TestConnection(port: port)
            var offsets: [Double] = []
            var tbts: [Double] = []
            for _ in 0..<3 {
                let sent = nowSeconds()
                try c.request("POST", "/v1/chat/completions", body: chatBody(maxTokens: 6, stream: true))
                let r = try c.readResponse()
                let times = r.events.dropLast().map(\.time)
                #expect(times.count == 7)  // role + 6 tokens
                let first = try #require(times.first)
                #expect(first - sent >= ttft)
                offsets.append(first - sent - ttft)
                // Chunk k goes no earlier than ttft + (k-1)·tbt after the request.
                for (k, t) in times.dropFirst().enumerated() {
                    #expect(t - sent >= ttft + Double(k) * tbt)
                }
                tbts.append((times.last! - times[1]) / 5)
            }
            print("mock-server TTFT: configured \(ttft * 1000) ms, measured offsets above it (ms): \(offsets.map { String(format: "%.3f", $0 * 1000) }); mean TBT (ms): \(tbts.map { String(format: "%.3f", $0 * 1000) })")
        }
    }

    @Test func throughput() throws {
        try withServer { server, port in
            let streams = 500, tokens = 200
            let body = completionBody(maxTokens: tokens, stream: true)
            let req = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body
            _ = try runConcurrent(port: port, count: 50, request: req)  // warm-up
            let before = server.stats.chunksSent
            let (elapsed, replies) = try runConcurrent(port: port, count: streams, request: req, timeout: 60)
            let chunks = server.stats.chunksSent - before
            #expect(chunks == streams * tokens)
            #expect(replies.allSatisfy { occurrences("data: [DONE]", in: $0) == 1 })
            let bytes = replies.reduce(0) { $0 + $1.count }
            print("mock-server throughput: \(streams) streams x \(tokens) tokens at tbt 0: \(chunks) chunks in \(String(format: "%.3f", elapsed)) s = \(Int(Double(chunks) / elapsed)) chunks/s (\(String(format: "%.1f", Double(bytes) / elapsed / 1e6)) MB/s)")
        }
    }

    @Test func latencyParsing() throws {
        #expect(try MockLatency.parse("0.05") == .fixed(0.05))
        #expect(try MockLatency.parse("fixed:0.05") == .fixed(0.05))
        #expect(try MockLatency.parse("uniform:0.02:0.08") == .uniform(0.02, 0.08))
        #expect(try MockLatency.parse("exp:0.05") == .exponential(mean: 0.05))
        for bad in ["", "abc", "uniform:0.08:0.02", "exp:-1", "fixed:", "normal:1", "uniform:1", "0.1:0.2", "nan"] {
            #expect(throws: BenchError.self) { try MockLatency.parse(bad) }
            do {
                _ = try MockLatency.parse(bad)
            } catch {
                #expect(error.description.contains("'\(bad)'"))
            }
        }
    }

    @Test func lifecycle() throws {
        var config = MockServerConfig()
        config.port = 0
        let server = MockServer(config)
        #expect(server.port == 0)
        let port = try server.start()
        #expect(port > 0 && server.port == port)
        #expect(throws: BenchError.self) { _ = try server.start() }
        // A second server cannot take the same port.
        var clash = MockServerConfig()
        clash.port = port
        #expect(throws: BenchError.self) { _ = try MockServer(clash).start() }
        server.stop()
        server.stop()
        #expect(throws: (any Error).self) { _ = try connectLoopback(port) }
        var invalid = MockServerConfig()
        invalid.tokensPerChunk = 0
        #expect(throws: BenchError.self) { _ = try MockServer(invalid).start() }
    }
}
