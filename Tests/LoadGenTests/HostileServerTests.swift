import BenchCore
import Foundation
@testable import LoadGen
import Testing

/// Replies a hostile or odd server sends, and the record each must get (issue 16, items 9, 10
/// and 19): a fault of its own with a message that says what happened, never `ok` after
/// buffering without bound and never a misleading kind.
@Suite(.serialized) struct HostileServerTests {
    static func run(_ server: CannedServer, count: Int = 2, configure: (inout EndpointOptions) -> Void = { _ in }) throws -> [RequestRecord] {
        var o = EndpointOptions(url: "http://127.0.0.1:\(server.port)", request: OpenAIRequestOptions(model: "m"))
        o.connectTimeoutS = 60
        configure(&o)
        var records: [RequestRecord] = []
        _ = try EndpointRunner(options: o, requests: workload(count: count, rate: 50)).run(onRecord: { records.append($0) }, shouldStop: { false })
        return records.sorted { $0.id < $1.id }
    }

    static func sse(_ events: [String]) -> [UInt8] {
        Array(events.map { "data: \($0)\n\n" }.joined().utf8)
    }

    static let sseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close"

    static func chunk(_ text: String) -> String {
        #"{"choices":[{"index":0,"text":"\#(text)","finish_reason":null}]}"#
    }

    @Test func anEventOverTheCapIsItsOwnFault() throws {
        let big = String(repeating: "x", count: 3 << 20)
        let server = try CannedServer(head: HostileServerTests.sseHead, body: HostileServerTests.sse([HostileServerTests.chunk("a"), HostileServerTests.chunk(big), "[DONE]"]))
        defer { server.stop() }
        let records = try HostileServerTests.run(server) { $0.maxEventBytes = 1 << 20 }
        #expect(records.count == 2)
        for r in records {
            #expect(r.status == "oversized_event", "\(r.status) \(r.error ?? "")")
            #expect(r.error?.contains("--max-event-bytes (1048576 bytes)") == true)
            #expect(r.outputTokens == 1, "the token before the oversized event is kept")
        }
        // The same stream under a cap it fits is read in full.
        #expect(try HostileServerTests.run(server) { $0.maxEventBytes = 4 << 20 }.allSatisfy { $0.status == "ok" && $0.outputTokens == 2 })
    }

    @Test func aLineWithoutAnEndIsCappedToo() throws {
        let body = Array("data: \(HostileServerTests.chunk("a"))\n\ndata: ".utf8) + [UInt8](repeating: 0x41, count: 2 << 20)
        let server = try CannedServer(head: HostileServerTests.sseHead, body: body)
        defer { server.stop() }
        let records = try HostileServerTests.run(server) { $0.maxEventBytes = 64 << 10 }
        #expect(records.allSatisfy { $0.status == "oversized_event" }, "\(records.map(\.status))")
    }

    static func completion(textBytes: Int) -> [UInt8] {
        let text = String(repeating: "y", count: textBytes)
        return Array(#"{"choices":[{"index":0,"text":"\#(text)","finish_reason":"length"}],"usage":{"prompt_tokens":32,"completion_tokens":8}}"#.utf8)
    }

    /// A valid 3 MiB JSON reply used to be cut at 1 MiB and called malformed.
    @Test func aLargeJSONReplyIsReadWhole() throws {
        let body = HostileServerTests.completion(textBytes: 3 << 20)
        let head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\nConnection: close"
        let server = try CannedServer(head: head, body: body)
        defer { server.stop() }
        let records = try HostileServerTests.run(server)
        #expect(records.allSatisfy { $0.status == "ok" && $0.outputTokens == 8 }, "\(records.map { "\($0.status) \($0.error ?? "")" })")
        let capped = try HostileServerTests.run(server) { $0.maxBodyBytes = 1 << 20 }
        for r in capped {
            #expect(r.status == "oversized_response")
            #expect(r.error?.contains("--max-body-bytes (1048576 bytes)") == true, "\(r.error ?? "")")
        }
    }

    @Test func aRedirectSaysWhereItPointed() throws {
        let head = "HTTP/1.1 302 Found\r\nLocation: http://elsewhere.invalid/v1/completions\r\nContent-Length: 0\r\nConnection: close"
        let server = try CannedServer(head: head, body: [])
        defer { server.stop() }
        for r in try HostileServerTests.run(server) {
            #expect(r.status == "http_302")
            #expect(r.error?.contains("redirected to http://elsewhere.invalid/v1/completions") == true, "\(r.error ?? "")")
            #expect(r.error?.contains("--endpoint") == true)
        }
    }

    @Test func aCompressedStreamIsNamedAsSuch() throws {
        let gz: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03] + [UInt8](repeating: 0x5A, count: 200)
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\nConnection: close"
        let server = try CannedServer(head: head, body: gz)
        defer { server.stop() }
        for r in try HostileServerTests.run(server) {
            #expect(r.status == "unsupported_encoding", "\(r.status) \(r.error ?? "")")
            #expect(r.error?.contains("Content-Encoding: gzip") == true, "\(r.error ?? "")")
        }
    }
}
