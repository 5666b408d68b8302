import BenchCore
import Foundation
import LoadGen
import MockServer
import Reporting
import Testing
@testable import Harness

/// `HTTPTarget` against the in-process mock server. Nothing here asserts a latency: the
/// tests run beside other suites on small machines.
@Suite(.serialized) struct HTTPTargetTests {
    func startMock() throws -> MockServer {
        var c = MockServerConfig()
        c.ttft = .fixed(0.005)
        c.tbt = .fixed(0.002)
        let s = MockServer(c)
        _ = try s.start()
        return s
    }

    func target(_ server: MockServer, warmup: Int) -> HTTPTarget {
        var o = EndpointOptions(url: "http://127.0.0.1:\(server.port)", request: OpenAIRequestOptions(model: "mock"))
        // Generous: a loaded machine may be slow to accept a connection.
        o.connectTimeoutS = 60
        return HTTPTarget(options: o, warmupRequests: warmup)
    }

    /// The warm-up requests are sent but not recorded; every other request has one record,
    /// written through the writer's timed flusher (`.flushedEvery`).
    @Test func warmUpRequestsAreSentButNotRecorded() throws {
        let server = try startMock()
        defer { server.stop() }
        let dir = try TempDir()
        let workload = try smokeWorkload(count: 12, rate: 40)
        let t = target(server, warmup: 2)
        #expect(t.recordWriting == .flushedEvery(seconds: HTTPTarget.flushIntervalS))
        #expect(!t.writesIterations)
        #expect(t.identity == .endpoint(url: "http://127.0.0.1:\(server.port)", model: "mock", api: "completions"))

        let r = try Harness.run(workload, on: t, output: dir.file("run"))
        #expect(!r.run.stopped)
        #expect(r.run.details.dispatched == workload.requests.count)
        #expect(server.stats.requests == workload.requests.count, "the warm-up requests reach the server too")

        let records = try ResultsReader(directory: dir.file("run")).records()
        #expect(records.count == workload.requests.count - 2)
        #expect(records.map(\.id).sorted() == workload.requests.dropFirst(2).map(\.id).sorted())
        #expect(records.allSatisfy { $0.status == "ok" }, "\(records.filter { $0.status != "ok" }.map { "\($0.id): \($0.status) \($0.error ?? "")" })")
        #expect(lineCount(try dir.read("run/" + ResultsFiles.requests)) == workload.requests.count - 2)
        #expect(!dir.exists("run/" + ResultsFiles.requests + ".partial"))
        #expect(!dir.exists("run/" + ResultsFiles.iterations), "endpoint runs have no iterations")
        #expect(r.summary.overall.total == workload.requests.count - 2)

        let file = try SummaryFile.read(dir.file("run/" + ResultsFiles.summary))
        #expect(file.target == t.identity.description)
        #expect(TargetIdentity(parsing: t.identity.description) == t.identity)
        #expect(file.value("requests.total") == Double(workload.requests.count - 2))
    }

    /// `shouldStop` ends dispatching early: the run reports it stopped, the summary is marked
    /// interrupted, and every request that was dispatched still has its record (the ones in
    /// flight are drained, none is lost in the writer).
    @Test func stoppingEarlyKeepsEveryDispatchedRequest() throws {
        let server = try startMock()
        defer { server.stop() }
        let dir = try TempDir()
        // 200 requests over about 10 s: far more than are sent before the stop.
        let workload = try smokeWorkload(count: 200, rate: 20)
        let t = target(server, warmup: 0)
        // Stop once the server has accepted a few requests (polled by the sender's loop).
        let r = try Harness.run(workload, on: t, output: dir.file("run"), shouldStop: { server.stats.requests >= 3 })
        #expect(r.run.stopped)
        let dispatched = r.run.details.dispatched
        #expect(dispatched >= 3 && dispatched < workload.requests.count)

        let records = try ResultsReader(directory: dir.file("run")).records()
        #expect(records.count == dispatched, "every dispatched request has a record")
        #expect(records.map(\.id).sorted() == workload.requests.prefix(dispatched).map(\.id).sorted())
        #expect(Set(records.map(\.id)).count == records.count, "no record twice")

        #expect(r.summary.run.interrupted)
        #expect(!r.summary.valid && r.summary.invalidReasons.contains("interrupted before all requests finished"))
        #expect(r.summary.overall.total == dispatched)
        let run = try parseFile(dir.file("run/" + ResultsFiles.run))
        #expect(run["interrupted"] == .bool(true) && run["finished"] == .bool(true))
        let summary = try parseFile(dir.file("run/" + ResultsFiles.summary))
        #expect(summary["valid"] == .bool(false))
    }
}
