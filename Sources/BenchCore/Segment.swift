/// One share of a workload run by one of N load generators (k6's execution segments): each takes
/// a deterministic part, interleaved by request index, so every segment offers 1/N of the load at
/// the same instants, with no coordination per request. A multi-turn session stays whole in one
/// segment (its later turns wait for its earlier ones), so sessions are dealt by session id.
public struct Segment: Sendable, Equatable, CustomStringConvertible {
    /// 0-based.
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// "i/N" with 0 ≤ i < N; `flag` names what gave it in errors.
    public static func parse(_ text: String, flag: String = "segment") throws(BenchError) -> Segment {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw .usage("\(flag) '\(text)': expected i/N (for example 0/4)")
        }
        guard n >= 1, n <= 1_000_000, i >= 0, i < n else {
            throw .usage("\(flag) '\(text)': need 0 ≤ i < N and 1 ≤ N ≤ 1,000,000")
        }
        return Segment(index: i, count: n)
    }

    public var description: String { "\(index)/\(count)" }

    /// Whether the request at `position` (its index in the workload) belongs to this segment.
    public func contains(_ r: WorkloadRequest, position: Int) -> Bool {
        let key = r.session.map(\.id) ?? position
        return key % count == index
    }

    /// This segment's requests, in the workload's order, ids unchanged.
    public func requests(of workload: Workload) -> [WorkloadRequest] {
        workload.requests.enumerated().filter { contains($0.element, position: $0.offset) }.map(\.element)
    }
}
