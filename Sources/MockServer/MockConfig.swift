import BenchCore

/// A latency distribution in seconds, sampled once per token gap (or once per request for TTFT).
public struct MockLatency: Sendable, Equatable, CustomStringConvertible {
    enum Kind: Sendable, Equatable {
        case fixed(Double)
        case uniform(Double, Double)
        case exponential(Double)
    }

    let kind: Kind

    public static func fixed(_ s: Double) -> MockLatency { MockLatency(kind: .fixed(s)) }
    public static func uniform(_ lo: Double, _ hi: Double) -> MockLatency { MockLatency(kind: .uniform(lo, hi)) }
    public static func exponential(mean: Double) -> MockLatency { MockLatency(kind: .exponential(mean)) }

    /// Parses "0.05", "fixed:0.05", "uniform:0.02:0.08", "exp:0.05" (seconds). Errors: BenchError.usage naming the text.
    public static func parse(_ text: String) throws(BenchError) -> MockLatency {
        func bad(_ why: String) -> BenchError {
            .usage("invalid latency '\(text)': \(why) (expected SECONDS, fixed:S, uniform:LO:HI or exp:MEAN)")
        }
        func number(_ s: Substring) throws(BenchError) -> Double {
            let t = s.trimmingCharacters(in: " ")
            guard let v = Double(t) else { throw bad("'\(t)' is not a number") }
            guard v.isFinite, v >= 0 else { throw bad("'\(t)' must be a finite number of seconds >= 0") }
            return v
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            return .fixed(try number(parts[0]))
        case 2 where parts[0] == "fixed":
            return .fixed(try number(parts[1]))
        case 2 where parts[0] == "exp" || parts[0] == "exponential":
            return .exponential(mean: try number(parts[1]))
        case 3 where parts[0] == "uniform":
            let lo = try number(parts[1]), hi = try number(parts[2])
            guard lo <= hi else { throw bad("low bound \(lo) exceeds high bound \(hi)") }
            return .uniform(lo, hi)
        default:
            throw bad("unknown form")
        }
    }

    /// The text `parse` reads back.
    public var description: String {
        switch kind {
        case .fixed(let s): return "fixed:\(s)"
        case .uniform(let lo, let hi): return "uniform:\(lo):\(hi)"
        case .exponential(let m): return "exp:\(m)"
        }
    }

    /// The distribution's mean in seconds.
    public var mean: Double {
        switch kind {
        case .fixed(let s): return s
        case .uniform(let lo, let hi): return (lo + hi) / 2
        case .exponential(let m): return m
        }
    }

    var isValid: Bool {
        switch kind {
        case .fixed(let s): return s.isFinite && s >= 0
        case .uniform(let lo, let hi): return lo.isFinite && hi.isFinite && lo >= 0 && lo <= hi
        case .exponential(let m): return m.isFinite && m >= 0
        }
    }

    /// One sample in nanoseconds. A fixed latency draws nothing from `rng`; the others draw one number.
    @inline(__always)
    func sampleNanos(_ rng: inout SeededRNG) -> UInt64 {
        let s: Double
        switch kind {
        case .fixed(let v): s = v
        case .uniform(let lo, let hi): s = rng.uniform(lo, hi)
        case .exponential(let m): s = m * rng.exponential()
        }
        return s > 0 ? UInt64(min(s, 1e6) * 1e9) : 0
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> Substring {
        var s = self[...]
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return s
    }
}

/// Faults injected per request, decided by the request's own seeded generator so that a given
/// request counter always gets the same faults.
public struct MockFaults: Sendable, Equatable {
    /// Probability per request: close the connection mid-stream (after half the token chunks).
    public var dropConnection = 0.0
    /// Probability per request: reply 500 with an OpenAI-style JSON error body.
    public var http500 = 0.0
    /// Probability per request: send a `data:` line that is not JSON, mid-stream (an extra
    /// event; the token chunks are all still sent). A non-streaming reply gets a non-JSON body.
    public var malformedSSE = 0.0
    /// With probability `stall`, stop sending for this long mid-stream.
    public var stallSeconds = 0.0
    public var stall = 0.0

    public init() {}

    var any: Bool { dropConnection > 0 || http500 > 0 || malformedSSE > 0 || (stall > 0 && stallSeconds > 0) }
}

public struct MockServerConfig: Sendable {
    public var host = "127.0.0.1"
    /// 0 = pick a free port.
    public var port = 0
    /// From the request being fully read to the first token's chunk.
    public var ttft = MockLatency.fixed(0.02)
    /// Between chunks.
    public var tbt = MockLatency.fixed(0.01)
    public var tokensPerChunk = 1
    /// Share of each streamed chat reply's tokens sent first as reasoning (`delta.reasoning_content`,
    /// vLLM's reasoning-parser shape), the rest as content. 0 (the default): no reasoning.
    public var reasoningFraction = 0.0
    /// Honour stream_options.include_usage (and continuous_usage_stats).
    public var usage = true
    public var defaultMaxTokens = 16
    public var faults = MockFaults()
    /// Per-request randomness: SeededRNG(seed:, stream: 0, index: request counter).
    public var seed: UInt64 = 0
    public var models = ["mock"]
    public var maxBodyBytes = 4 << 20

    public init() {}

    func validate() throws(BenchError) {
        func prob(_ name: String, _ p: Double) throws(BenchError) {
            guard p.isFinite, p >= 0, p <= 1 else { throw .usage("mock-server: \(name) must be a probability in [0, 1], got \(p)") }
        }
        guard port >= 0, port <= 65535 else { throw .usage("mock-server: port \(port) out of range") }
        guard ttft.isValid else { throw .usage("mock-server: invalid ttft \(ttft)") }
        guard tbt.isValid else { throw .usage("mock-server: invalid tbt \(tbt)") }
        guard tokensPerChunk >= 1 else { throw .usage("mock-server: tokens per chunk must be >= 1, got \(tokensPerChunk)") }
        guard defaultMaxTokens >= 1 else { throw .usage("mock-server: default max tokens must be >= 1, got \(defaultMaxTokens)") }
        guard !models.isEmpty else { throw .usage("mock-server: at least one model name is needed") }
        guard maxBodyBytes >= 1 else { throw .usage("mock-server: max body bytes must be >= 1") }
        try prob("reasoning", reasoningFraction)
        try prob("drop-connection", faults.dropConnection)
        try prob("http500", faults.http500)
        try prob("malformed-sse", faults.malformedSSE)
        try prob("stall", faults.stall)
        guard faults.stallSeconds.isFinite, faults.stallSeconds >= 0 else {
            throw .usage("mock-server: stall seconds must be >= 0, got \(faults.stallSeconds)")
        }
    }
}

/// Counters since `start()`.
public struct MockServerStats: Sendable, Equatable {
    /// Completion and chat-completion requests accepted (valid JSON and fields); each one
    /// advances the request counter that seeds its randomness.
    public var requests = 0
    /// Token-carrying chunks sent (a chat stream's role-only first chunk, usage-only chunks and
    /// `[DONE]` are not counted).
    public var chunksSent = 0
    /// Faults actually applied (a request whose client left before the fault point is not counted).
    public var faultsInjected = 0
    /// Client connections open now, and accepted since the start.
    public var openConnections = 0
    public var connectionsAccepted = 0
    /// Bytes accepted by the kernel for sending.
    public var bytesSent = 0

    public init() {}
}
