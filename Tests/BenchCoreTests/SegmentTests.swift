import Testing
@testable import BenchCore

@Suite struct SegmentTests {
    /// Requests are dealt round-robin by position; a session's turns all go where its id puts
    /// them; every request is in exactly one segment; the header says which share it is.
    @Test func segmentsPartitionTheWorkloadAndKeepSessionsWhole() throws {
        var reqs = (0..<20).map { WorkloadRequest(id: $0, arrivalS: Double($0), className: "c", promptTokens: 10, outputTokens: 2) }
        for i in [3, 8, 13] { reqs[i].session = SessionTurn(id: 5, turn: (i - 3) / 5, thinkS: i == 3 ? 0 : 1) }
        let header = WorkloadHeader(generator: "t", specName: "s", specDigest: "d", seed: 1, rateRps: 1, count: 20, durationS: 20, classes: [])
        let w = Workload(header: header, requests: reqs)
        let parts = (0..<3).map { w.segment(Segment(index: $0, count: 3)) }
        #expect(parts.flatMap { $0.requests.map(\.id) }.sorted() == Array(0..<20))
        #expect(parts[2].requests.filter { $0.session != nil }.count == 3)  // session 5 → 5 % 3 = 2
        #expect(parts[0].requests.map(\.id) == [0, 6, 9, 12, 15, 18])
        #expect(parts[1].header.segment == Segment(index: 1, count: 3) && parts[1].header.count == parts[1].requests.count)
        let back = try WorkloadHeader.read(try JSONParser.parse(String(decoding: parts[1].header.jsonBytes, as: UTF8.self)), file: "h", line: 1)
        #expect(back.segment == Segment(index: 1, count: 3) && back.count == parts[1].header.count)
    }

    @Test(arguments: ["3/3", "-1/2", "1", "a/b", "0/0", "1/2/3"])
    func badSegmentsAreUsageErrors(_ text: String) {
        #expect(throws: BenchError.self) { try Segment.parse(text) }
    }
}
