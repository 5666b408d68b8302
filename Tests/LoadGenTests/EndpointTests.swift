import BenchCore
import Foundation
import Tokenizer
@testable import LoadGen
import MockServer
import Testing

/// Loopback runs of the load generator against the in-process mock server.
func startMock(_ configure: (inout MockServerConfig) -> Void = { _ in }) throws -> MockServer {
    var c = MockServerConfig()
    configure(&c)
    let s = MockServer(c)
    _ = try s.start()
    return s
}

func workload(count: Int, rate: Double, prompt: Int = 32, output: Int = 8, slo: SLO = SLO()) -> [WorkloadRequest] {
    (0..<count).map { i in
        WorkloadRequest(id: i, arrivalS: Double(i) / rate, className: i % 2 == 0 ? "a" : "b", promptTokens: prompt,
                        outputTokens: output, slo: slo)
    }
}

func runAgainst(_ server: MockServer, _ reqs: [WorkloadRequest], api: APIKind = .completions, format: PromptFormat = .tokens,
                configure: (inout EndpointOptions) -> Void = { _ in }, stopAfter: Int? = nil) throws -> ([RequestRecord], EndpointOutcome) {
    var r = OpenAIRequestOptions(model: "mock")
    r.api = api
    var o = EndpointOptions(url: "http://127.0.0.1:\(server.port)", request: r)
    o.promptFormat = format
    configure(&o)
    var records: [RequestRecord] = []
    let runner = EndpointRunner(options: o, requests: reqs)
    let outcome = try runner.run(onRecord: { records.append($0) }, shouldStop: { stopAfter.map { records.count >= $0 } ?? false })
    records.sort { $0.id < $1.id }
    return (records, outcome)
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s[s.count / 2]
}

@Suite(.serialized) struct EndpointTests {
    @Test(arguments: [APIKind.completions, .chat])
    func measuredLatenciesFollowTheServer(api: APIKind) throws {
        let server = try startMock { $0.ttft = .fixed(0.05); $0.tbt = .fixed(0.01) }
        defer { server.stop() }
        let (records, outcome) = try runAgainst(server, workload(count: 30, rate: 20, output: 10), api: api,
                                                format: api == .chat ? .text : .tokens)
        #expect(records.count == 30)
        #expect(records.allSatisfy { $0.status == "ok" }, "\(records.first { $0.status != "ok" }.map { "\($0.status) \($0.error ?? "")" } ?? "")")
        #expect(records.allSatisfy { $0.outputTokens == 10 && $0.tokenTimesS.count == 10 })
        #expect(records.allSatisfy { $0.tokenCountSource == .serverUsage })
        let ttft = median(records.map { $0.firstTokenS! - $0.intendedS })
        var gaps: [Double] = []
        for r in records { for (a, b) in zip(r.tokenTimesS, r.tokenTimesS.dropFirst()) { gaps.append(b - a) } }
        let tbt = median(gaps)
        print("configured TTFT 50 ms, TBT 10 ms; measured median TTFT \(ttft * 1000) ms, TBT \(tbt * 1000) ms; lag p99 \(outcome.lagP99Ms) ms")
        // Loopback adds under a millisecond on an idle machine (printed above); the bounds leave
        // room for a loaded 2-core CI machine running other suites in parallel.
        #expect(ttft >= 0.05 && ttft < 0.05 + 0.005)
        #expect(abs(tbt - 0.01) < 0.003)
    }

    @Test func faultsAreRecordedAndTheRunGoesOn() throws {
        let server = try startMock {
            $0.tbt = .fixed(0.002)
            $0.faults.dropConnection = 0.2
            $0.faults.http500 = 0.2
            $0.faults.malformedSSE = 0.2
            $0.seed = 3
        }
        defer { server.stop() }
        let (records, _) = try runAgainst(server, workload(count: 60, rate: 50, output: 20))
        #expect(records.count == 60)
        let kinds = Set(records.map(\.status))
        #expect(kinds.contains("ok"))
        #expect(kinds.contains("http_500"))
        #expect(kinds.contains("malformed_stream"))
        #expect(kinds.contains { $0 == "disconnected" || $0 == "incomplete_stream" }, "\(kinds)")
        let http500 = records.first { $0.status == "http_500" }!
        #expect(http500.error?.contains("error") == true, "the body excerpt is kept")
        // A broken stream keeps the tokens it got.
        #expect(records.contains { $0.status != "ok" && !$0.tokenTimesS.isEmpty })
    }

    @Test func timeoutsAreRecorded() throws {
        let server = try startMock { $0.ttft = .fixed(0.5) }
        defer { server.stop() }
        let (records, _) = try runAgainst(server, workload(count: 3, rate: 10)) { $0.firstTokenTimeoutS = 0.1 }
        #expect(records.allSatisfy { $0.status == "timeout_first_token" })
        let (refused, _) = try runAgainst(server, workload(count: 2, rate: 10)) { $0.url = "http://127.0.0.1:1" }
        #expect(refused.allSatisfy { $0.status == "connection" })
    }

    @Test func stoppingDrainsWhatIsInFlight() throws {
        let server = try startMock { $0.tbt = .fixed(0.005) }
        defer { server.stop() }
        let (records, outcome) = try runAgainst(server, workload(count: 200, rate: 100, output: 20), stopAfter: 10)
        #expect(outcome.stopped)
        #expect(records.count >= 10 && records.count < 200)
        #expect(records.allSatisfy { $0.status == "ok" }, "in-flight requests finish within the drain")
    }

    @Test func theAPIKeyIsSentButNeverRecorded() throws {
        let server = try startMock()
        defer { server.stop() }
        let secret = "sk-accelbench-test-\(UUID().uuidString)"
        let (records, _) = try runAgainst(server, workload(count: 5, rate: 50)) { $0.apiKey = secret }
        #expect(records.allSatisfy { $0.status == "ok" })
        var w = JSONWriter()
        for r in records { r.write(to: &w); w.newline() }
        #expect(!w.string.contains(secret))
    }

    @Test func promptsAreDeterministicAndShareTheirPrefix() {
        let a = WorkloadRequest(id: 1, arrivalS: 0, className: "c", promptTokens: 100, outputTokens: 1, prefixGroup: 7, prefixTokens: 40)
        let b = WorkloadRequest(id: 2, arrivalS: 0, className: "c", promptTokens: 80, outputTokens: 1, prefixGroup: 7, prefixTokens: 40)
        let ta = PromptBuilder.tokenIDs(for: a, seed: 0), tb = PromptBuilder.tokenIDs(for: b, seed: 0)
        #expect(ta.count == 100 && tb.count == 80)
        #expect(Array(ta.prefix(40)) == Array(tb.prefix(40)))
        #expect(ta[40...].elementsEqual(tb[40...]) == false)
        #expect(ta == PromptBuilder.tokenIDs(for: a, seed: 0))
        #expect(PromptBuilder.text(for: a, seed: 0).split(separator: " ").count == 100)
        let u = PromptBuilder.uuid(requestID: 5, seed: 0)
        #expect(u.count == 36 && u == PromptBuilder.uuid(requestID: 5, seed: 0) && u != PromptBuilder.uuid(requestID: 6, seed: 0))
    }
}

extension EndpointTests {
    @Test func textPromptsShapedByATokenizerAreSent() throws {
        let server = try startMock()
        defer { server.stop() }
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../TokenizerTests/Fixtures/tokenizer.json").path
        let tok = try BPETokenizer(path: path)
        let (records, _) = try runAgainst(server, workload(count: 4, rate: 50, prompt: 57), format: .text) { $0.tokenizer = tok }
        #expect(records.allSatisfy { $0.status == "ok" })
        let r = WorkloadRequest(id: 0, arrivalS: 0, className: "a", promptTokens: 57, outputTokens: 8)
        #expect(tok.encode(PromptBuilder.text(for: r, seed: 0, tokenizer: tok)).count == 57)
    }
}

extension EndpointTests {
    @Test func closedLoopRecordsTheClientQueueSeparately() throws {
        let server = try startMock { $0.ttft = .fixed(0.03); $0.tbt = .fixed(0.001) }
        defer { server.stop() }
        let (records, outcome) = try runAgainst(server, workload(count: 8, rate: 1000, output: 4)) { $0.maxConcurrency = 2 }
        #expect(records.allSatisfy { $0.status == "ok" })
        let queued = records.compactMap(\.queuedS)
        #expect(queued.count >= 5, "requests behind the cap record their wait")
        #expect(queued.max()! > 0.05)
        // Latency counts from the free slot, so TTFT stays near the server's 30 ms.
        #expect(records.allSatisfy { $0.firstTokenS! - $0.intendedS < 0.03 + 0.02 })
        #expect(!outcome.invalidReasons.contains { $0.contains("rate") }, "\(outcome.invalidReasons)")
        // queued_s survives the file round trip.
        var w = JSONWriter()
        records[7].write(to: &w)
        let back = try RequestRecord.read(try JSONParser.parse(w.string), file: "t", line: 1)
        #expect(back.queuedS == records[7].queuedS.map { ($0 * 1e6).rounded() / 1e6 })
        let fast = Array(w.string.utf8).withUnsafeBufferPointer { RequestRecord.decodeFast($0) }
        #expect(fast?.queuedS == back.queuedS)
    }

    @Test func tokenIDsStayInsideTheVocabulary() {
        let r = WorkloadRequest(id: 3, arrivalS: 0, className: "c", promptTokens: 5000, outputTokens: 1)
        let small = PromptBuilder.tokenIDs(for: r, seed: 0, vocab: 2048)
        #expect(small.allSatisfy { $0 >= 0 && $0 < 2048 })
        let llama = PromptBuilder.tokenIDs(for: r, seed: 0)
        #expect(llama.allSatisfy { $0 >= 1000 && $0 < 30_000 })
    }
}

/// Issue 16, item 27: the connection pool caps the requests in flight, its connections are
/// reused, and a load the server cannot absorb shows as lag that names the pool.
@Suite(.serialized) struct ConnectionPoolTests {
    @Test func pooledConnectionsAreReused() throws {
        let server = try startMock { $0.ttft = .fixed(0.001); $0.tbt = .fixed(0.001) }
        defer { server.stop() }
        let (records, outcome) = try runAgainst(server, workload(count: 200, rate: 400, output: 4)) { $0.maxConnections = 8 }
        #expect(records.allSatisfy { $0.status == "ok" })
        // About 2 requests are in flight at once, so waits for the pool are rare; a loaded
        // machine that stalls the server can still make a few wait (CI saw 7 of 200). What this
        // test checks is reuse: the count is reported, not required to be 0.
        #expect(outcome.poolWaits < records.count / 4, "\(outcome.poolWaits) of \(records.count) waited")
        let accepted = server.stats.connectionsAccepted
        #expect(accepted <= 8, "200 requests opened \(accepted) connections with a pool of 8")
    }

    @Test func aFullPoolMakesRequestsWaitAndSaysSo() throws {
        let server = try startMock { $0.ttft = .fixed(0.2); $0.tbt = .fixed(0.001) }
        defer { server.stop() }
        let (records, outcome) = try runAgainst(server, workload(count: 20, rate: 200, output: 2)) { $0.maxConnections = 4 }
        #expect(records.count == 20 && records.allSatisfy { $0.status == "ok" })
        #expect(server.stats.connectionsAccepted <= 4)
        // 16 when the thread keeps up; on a loaded machine a late wake-up can find a slot free.
        #expect((12...16).contains(outcome.poolWaits), "\(outcome.poolWaits)")
        // Each batch of 4 waits for the one before: the lag shows it, and the note names the pool.
        #expect(outcome.lagP99Ms > 500, "\(outcome.lagP99Ms)")
        #expect(outcome.lagNote.contains("\(outcome.poolWaits) requests waited for one of the 4 pooled connections (--max-connections)"), "\(outcome.lagNote)")
    }
}
