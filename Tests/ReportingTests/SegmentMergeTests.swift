import BenchCore
import Foundation
import Testing
@testable import Reporting

/// Writes segment `i` of `n` with `records` (a finished run unless `finished` is false).
private func writeSegment(_ dir: String, _ i: Int, of n: Int, ids: [Int], digest: String = "d", expected: Int? = nil) throws {
    var header = WorkloadHeader(generator: "t", specName: "s", specDigest: digest, seed: 1, rateRps: 2, count: expected ?? ids.count,
                                durationS: 10, classes: [WorkloadClassInfo(name: "chat", kind: .interactive, share: 1, sloRule: "")])
    header.segment = Segment(index: i, count: n)
    let w = try ResultsWriter(directory: dir, run: RunInfo(target: "endpoint:http://h:1 model=m", workload: header))
    for id in ids { try w.append(rec(id, intended: Double(id) * 0.5, times: [Double(id) * 0.5 + 0.1, Double(id) * 0.5 + 0.2], slo: SLO(ttftMs: 150))) }
    try w.finish(runEndS: 10)
}

@Suite struct SegmentMergeTests {
    @Test func mergedSummaryIsTheOneMetricsPathOverAllRecords() throws {
        let root = try TempDir()
        try writeSegment(root.file("a"), 0, of: 2, ids: [0, 2, 4])
        try writeSegment(root.file("b"), 1, of: 2, ids: [1, 3])
        let m = try SegmentMerge.merge([root.file("b"), root.file("a")], into: root.file("m"))
        #expect(m.incomplete.isEmpty && m.records == 5 && m.summary.valid)
        let all = try ResultsReader(directory: root.file("m"))
        #expect(try all.records().map(\.id) == [0, 1, 2, 3, 4] && all.run.workload?.count == 5 && all.run.workload?.segment == nil)
        #expect(try all.summarize(options: .init()) == m.summary)
    }

    /// A missing segment and one short of records: incomplete, each named; records kept.
    @Test func gapsAreNamedAndNothingIsLost() throws {
        let root = try TempDir()
        try writeSegment(root.file("a"), 0, of: 3, ids: [0, 3], expected: 3)
        try writeSegment(root.file("b"), 1, of: 3, ids: [1, 4])
        let m = try SegmentMerge.merge([root.file("a"), root.file("b")], into: root.file("m"))
        #expect(!m.summary.valid && m.records == 4)
        #expect(m.incomplete.contains("segment 2/3 is missing"))
        #expect(m.incomplete.contains { $0.hasPrefix("segment 0/3") && $0.contains("2 of its 3") })
    }

    @Test func segmentsOfOtherRunsAreRefused() throws {
        let root = try TempDir()
        try writeSegment(root.file("a"), 0, of: 2, ids: [0])
        try writeSegment(root.file("b"), 1, of: 2, ids: [1], digest: "other")
        try writeSegment(root.file("c"), 1, of: 2, ids: [0])
        #expect(throws: BenchError.self) { try SegmentMerge.merge([root.file("a"), root.file("b")], into: root.file("m")) }
        #expect(throws: BenchError.self) { try SegmentMerge.merge([root.file("a"), root.file("a")], into: root.file("m")) }
        #expect(throws: BenchError.self) { try SegmentMerge.merge([root.file("a"), root.file("c")], into: root.file("m")) }  // overlap
    }
}
