import BenchCore
import Foundation
@testable import LoadGen
import Testing

/// The native HTTP/1.1 client: its response parser on every split of a reply, and the records it
/// makes against libcurl's on the same replies (libcurl is the reference no one here wrote).
@Suite(.serialized) struct HTTP1ClientTests {
    static let chunkedSSE: [UInt8] = {
        let events = HostileServerTests.sse([HostileServerTests.chunk("a"), HostileServerTests.chunk("b"), "[DONE]"])
        let half = events.count / 2
        let body = String(half, radix: 16) + "\r\n" + String(decoding: events[..<half], as: UTF8.self) + "\r\n"
            + String(events.count - half, radix: 16) + ";ext=1\r\n" + String(decoding: events[half...], as: UTF8.self) + "\r\n0\r\nTrailer: x\r\n\r\n"
        return Array(("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" + body).utf8)
    }()

    struct Parsed: Equatable {
        var head: HTTP1Head?
        var body: [UInt8] = []
        var outcome: HTTP1ResponseParser.Outcome = .more
    }

    static func parse(_ reply: [UInt8], splits: [Int]) -> Parsed {
        var p = HTTP1ResponseParser()
        var out = Parsed()
        var start = 0
        for end in splits + [reply.count] where end > start {
            out.outcome = reply[start..<end].withUnsafeBytes { bytes in
                p.feed(bytes, onHead: { out.head = $0; return true }, onBody: { out.body += $0; return true })
            }
            start = end
            if case .complete = out.outcome { break }
            if case .invalid = out.outcome { break }
        }
        return out
    }

    @Test func everySplitOfAReplyParsesTheSame() {
        let reply = HTTP1ClientTests.chunkedSSE
        let whole = HTTP1ClientTests.parse(reply, splits: [])
        #expect(whole.head?.status == 200)
        #expect(whole.head?.value("content-type") == "text/event-stream")
        #expect(whole.outcome == .complete(extra: 0))
        #expect(whole.body == HostileServerTests.sse([HostileServerTests.chunk("a"), HostileServerTests.chunk("b"), "[DONE]"]))
        for cut in 1..<reply.count {
            #expect(HTTP1ClientTests.parse(reply, splits: [cut]) == whole, "split at \(cut)")
        }
        #expect(HTTP1ClientTests.parse(reply, splits: Array(1..<reply.count)) == whole, "byte by byte")
        var rng = SeededRNG(seed: 7)
        for trial in 0..<200 {
            let cuts = (0..<5).map { _ in rng.index(below: reply.count) }.sorted()
            #expect(HTTP1ClientTests.parse(reply, splits: cuts) == whole, "seed 7 trial \(trial): splits \(cuts)")
        }
    }

    @Test func framingFollowsRFC9112() {
        func parse(_ text: String) -> Parsed { HTTP1ClientTests.parse(Array(text.utf8), splits: []) }
        let sized = parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA")
        #expect(sized.body == Array("hello".utf8))
        #expect(sized.outcome == .complete(extra: 5))
        #expect(parse("HTTP/1.1 204 No Content\r\n\r\n").outcome == .complete(extra: 0))
        // Bare LF line ends, as lenient clients accept them.
        #expect(parse("HTTP/1.0 200 OK\nContent-Length: 2\n\nhi").body == Array("hi".utf8))
        // Framed by the close: more until the connection ends.
        var p = HTTP1ResponseParser()
        let open = Array("HTTP/1.1 200 OK\r\n\r\nabc".utf8).withUnsafeBytes { p.feed($0, onHead: { _ in true }, onBody: { _ in true }) }
        #expect(open == .more)
        let endsAtClose = p.finishAtClose()
        #expect(endsAtClose)
        for bad in ["SSH-2.0-OpenSSH\r\n\r\n", "HTTP/1.1 20 OK\r\n\r\n", "HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"] {
            guard case .invalid = parse(bad).outcome else { Issue.record("accepted \(bad.debugDescription)"); continue }
        }
        let head = { (v: String, c: String) in HTTP1Head(version: v, status: 200, headers: c.isEmpty ? [] : [("connection", c)]) }
        #expect(head("1.1", "").keepsAlive)
        #expect(!head("1.1", "Close").keepsAlive)
        #expect(!head("1.0", "").keepsAlive)
        #expect(head("1.0", "keep-alive").keepsAlive)
    }

    /// The same canned replies through libcurl and through the native client give the same
    /// status and token counts.
    @Test func bothClientsRecordTheSameReplies() throws {
        let ok = HostileServerTests.sse([HostileServerTests.chunk("a"), HostileServerTests.chunk("b"), "[DONE]"])
        let replies: [(String, [UInt8])] = [
            ("chunked", HTTP1ClientTests.chunkedSSE),
            ("close-framed", Array((HostileServerTests.sseHead + "\r\n\r\n").utf8) + ok),
            ("no [DONE]", Array((HostileServerTests.sseHead + "\r\n\r\n").utf8) + HostileServerTests.sse([HostileServerTests.chunk("a")])),
            ("cut mid-chunk", Array("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n400\r\ndata: {".utf8)),
            ("500", Array("HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: 27\r\n\r\n{\"error\":{\"message\":\"no\"}}\n".utf8)),
            ("not HTTP", Array("SSH-2.0-OpenSSH_9.2\r\n\r\n".utf8)),
            ("nothing", []),
        ]
        for (name, reply) in replies {
            var statuses: [HTTPClientKind: [String]] = [:]
            var tokens: [HTTPClientKind: [Int]] = [:]
            for client in [HTTPClientKind.curl, .native] {
                let server = try CannedServer(reply: reply)
                defer { server.stop() }
                let records = try HostileServerTests.run(server, count: 3) { $0.httpClient = client }
                statuses[client] = records.map(\.status)
                tokens[client] = records.map(\.outputTokens)
            }
            #expect(statuses[.curl] == statuses[.native], "\(name): curl \(statuses[.curl] ?? []), native \(statuses[.native] ?? [])")
            #expect(tokens[.curl] == tokens[.native], "\(name)")
        }
    }

    /// A kept-alive connection the server closes after each reply (without saying so): the next
    /// request on it is sent again on a fresh connection and succeeds.
    @Test func aStaleKeptAliveConnectionIsRetriedOnAFreshOne() throws {
        let body = HostileServerTests.sse([HostileServerTests.chunk("a"), "[DONE]"])
        let server = try CannedServer(head: "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: \(body.count)", body: body)
        defer { server.stop() }
        let records = try HostileServerTests.run(server, count: 20) { $0.httpClient = .native }
        #expect(records.count == 20)
        #expect(records.allSatisfy { $0.status == "ok" && $0.outputTokens == 1 }, "\(records.map { "\($0.status) \($0.error ?? "")" })")
    }

    @Test func aURLTheNativeClientCannotServeIsAUsageErrorOnlyWhenAskedFor() throws {
        var o = EndpointOptions(url: "https://127.0.0.1:1", request: OpenAIRequestOptions(model: "m"))
        #expect(HTTP1Endpoint.problem(o, url: o.url) != nil)
        o.httpClient = .native
        #expect(o.problem?.hasPrefix("--http-client native: it speaks plain http://") == true, "\(o.problem ?? "")")
        #expect(throws: BenchError.self) {
            _ = try EndpointRunner(options: o, requests: workload(count: 1, rate: 1)).run(onRecord: { _ in }, shouldStop: { false })
        }
        #expect(HTTP1Endpoint.problem(EndpointOptions(url: "http://u:p@h", request: OpenAIRequestOptions(model: "m")), url: "http://u:p@h") != nil)
        #expect(HTTP1Endpoint.problem(EndpointOptions(url: "http://h:1", request: OpenAIRequestOptions(model: "m")), url: "http://h:1/v1/completions") == nil)
    }
}
