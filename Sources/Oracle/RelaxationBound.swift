import BenchCore
import Engine
import Foundation

/// A lower bound on any iteration's duration as a function of its new-token count n:
/// `T(n) ≥ max_j (fixed_j + perToken_j · n)`, valid for every n from 1 to `maxTokens`.
///
/// Why it holds: the engine model's time is linear(n) + all-reduce(n) + attention + overhead,
/// attention ≥ 0, so T(n) ≥ f(n) := seconds of a load with n tokens and no attention. f is
/// piecewise linear in n (interpolated tables plus a constant), so for any slope c the minimum of
/// f(n) − c·n over [1, maxTokens] is reached at n = 1, a table breakpoint or maxTokens; taking
/// that minimum as `fixed` makes the line lie under f everywhere on the range. One line per
/// slope of the table's segments (and slope 0, whose line is f(1), the cheapest iteration).
/// `maxTokens` is the KV capacity in tokens: an iteration writes the KV of every new token.
public struct IterationTimeLowerBound: Sendable {
    public let lines: [(fixed: Double, perToken: Double)]
    /// f(1): no non-empty iteration is faster.
    public let minIterationS: Double
    public let maxTokens: Int

    public init(model: IterationTimeModel, maxTokens maxTokensIn: Int) {
        let cap = max(1, maxTokensIn)
        maxTokens = cap
        func f(_ n: Int) -> Double {
            var load = IterationLoad()
            load.tokens = n
            load.numSequences = 1
            return model.seconds(load)
        }
        var points = [1] + model.profile.linearTokens.filter { $0 > 1 && $0 < cap } + [cap]
        // All-reduce breakpoints, in tokens.
        if model.profile.tensorParallel > 1 {
            let bytesPerToken = Double(model.profile.model.hiddenSize) * 2
            for bytes in model.profile.allReduceBytes {
                // A breakpoint between two token counts: both neighbours.
                let t = bytes / bytesPerToken
                points += [Int(t.rounded(.down)), Int(t.rounded(.up))].filter { $0 > 1 && $0 < cap }
            }
        }
        points = Array(Set(points)).sorted()
        let values = points.map(f)
        var slopes: Set<Double> = [0]
        for i in 1..<points.count where points[i] > points[i - 1] {
            slopes.insert(max(0, (values[i] - values[i - 1]) / Double(points[i] - points[i - 1])))
        }
        var found: [(fixed: Double, perToken: Double)] = []
        for c in slopes.sorted() {
            var fixed = Double.infinity
            for (n, v) in zip(points, values) { fixed = min(fixed, v - c * Double(n)) }
            found.append((fixed, c))
        }
        // Keep only lines that are the highest at some token count (powers of two up to the
        // cap): the others never bind, and each line is a dense row per slot in the program.
        var keep = Set<Int>()
        var n = 1
        while true {
            let best = found.indices.max { found[$0].fixed + found[$0].perToken * Double(n) < found[$1].fixed + found[$1].perToken * Double(n) }!
            keep.insert(best)
            if n >= cap { break }
            n = min(cap, n * 2)
        }
        lines = keep.sorted().map { found[$0] }
        minIterationS = values[0]
    }

    /// The bound on one iteration of `tokens` new tokens.
    public func atLeast(tokens: Int) -> Double {
        lines.reduce(0) { max($0, $1.fixed + $1.perToken * Double(tokens)) }
    }
}

public enum OracleObjective: String, Sendable, CaseIterable {
    /// Requests that meet every SLO (goodput in requests).
    case requests
    /// Output tokens of requests that meet every SLO (goodput in tokens).
    case tokens
}

/// The time-indexed linear relaxation behind `accelbench oracle`'s upper bound.
///
/// Time is cut into base slots of length Δ, grouped into dyadic nodes: a node at level ℓ is an
/// interval of 2^ℓ base slots aligned to a multiple of 2^ℓ. Each request's windows (below) are
/// rounded outward to base slots, then to the finest level where they span at most
/// `windowSlots` nodes, and split into the fewest disjoint nodes (at most two per level). An
/// iteration is attributed to the base slots it overlaps in proportion to the overlap, and so are
/// its tokens; a node's share is the sum of its base slots' shares.
///
/// Variables: y_i ∈ [0, 1] per request (the fraction of it served within its SLOs); one token
/// variable per node of each of its windows (its prefill or decode tokens attributed to that
/// node); per node J, M_J (iterations attributed to J), T_J (tokens attributed to J from
/// variables on J or on nodes inside J) and C_J (the prompt lengths of those decode tokens).
///
/// Constraints, and why every schedule of the engine model that meets request i's SLOs
/// satisfies them with y_i = 1 (and a request it does not serve with y_i = 0, its tokens 0):
/// - the prefill variables of i sum to P_i·y_i and the decode ones to (O_i − 1)·y_i: a served
///   request computes its prompt (less a shared prefix, which prefix caching may skip) and then
///   O_i − 1 decode tokens (the first output token comes with the iteration that ends its
///   prefill). Recomputation after a preemption only adds work.
/// - windows: prefill tokens lie in [a_i, first-token deadline], decode tokens in [a_i,
///   last-token deadline]: the engine only schedules requests that have arrived, and the
///   iteration that produces a token ends when the token is emitted. The first-token deadline is
///   a + TTFT (or the last-token deadline without a TTFT SLO); the last-token deadline is the
///   smaller of a + JCT and a + TTFT + (O − 1)·TBT (a TBT SLO bounds every gap). Rounding the
///   windows outward only widens them. Deadlines get 1 µs of slack for the microsecond rounding
///   of run records.
/// - a decode variable on node J ≤ M_J: a request gets at most one decode token per iteration.
/// - M_J ≥ Σ M of the nearest nodes inside J that have variables (they are disjoint), and T_J,
///   C_J are sums over J's own variables and those nodes: attribution is additive.
/// - for every line j of `IterationTimeLowerBound` and every node J:
///   fixed_j·M_J + perToken_j·T_J + β·C_J + A_J ≤ |J|: iterations never overlap in time; each
///   lasts at least fixed_j + perToken_j·n plus its decode attention, which is β per token of
///   context a decode step reads (`decodeAttentionSecondsPerContextToken`), and a decode step of
///   i reads at least its P_i prompt tokens, plus its prefill attention; attribution splits every
///   iteration's time, tokens and context over slots in the same proportions, and a node's
///   variables count at most the tokens inside it.
/// - prefill attention, A_J = Σ α·W_i·y_i over the requests whose whole (rounded) first-token
///   window lies inside J (charged on the smallest node that holds it, summed upwards like C_J):
///   W_i is the number of query-key pairs of i's computed prompt tokens, Σ p over their
///   positions p, the same however the prefill is chunked (a chunk of n tokens after c pairs
///   n·c + n(n+1)/2, and the chunks' sums telescope), and α the model's prefill attention per
///   pair at its fastest (`prefillAttentionSecondsPerPair`; prefill attention is a term of its
///   own in the iteration time). All of a served request's prefill runs inside its window, so
///   inside J, and its iterations' time there includes α·W_i.
/// - KV residency, per node J: 1000·C_J ≤ K·M_J, K the KV capacity in tokens. In every
///   iteration each request taking a decode step holds the KV of its whole prompt (a decode
///   step follows the end of its prefill; a preempted request recomputes its prefill before it
///   decodes again), and the requests in one iteration hold at most K tokens between them, so
///   the prompts of one iteration's decode steps sum to at most K. Attribution splits an
///   iteration's decode context and the iteration itself in the same proportions, so the sum
///   over J's base slots keeps the inequality; C_J counts only the decode variables on J and
///   inside it, at most the context attributed to J. (Jaillet et al., arXiv 2502.07115, write
///   the same per-iteration memory constraint in their hindsight-optimal program, with the
///   output tokens held too.) Left out with prefix caching, where requests sharing a prefix
///   hold one copy of it.
/// - per request, y_i = 0 when even an empty engine could not meet its SLOs: the prefill needs
///   at least one iteration (≥ the bound at P_i tokens) and then O_i − 1 more (≥ f(1) each).
/// Relaxed (left out, so the bound can only be higher): KV residency between a request's
/// iterations and the KV of prefill chunks and of output tokens, prefill attention of windows
/// split over several nodes within their enclosing node, decode context beyond the prompt,
/// the exact order of tokens within a request, TBT gaps other than through the last-token
/// deadline, policy limits (budgets, max sequences), and integrality. Requests without any SLO
/// count as met and their work is left out (also a relaxation).
public struct RelaxationBound: Sendable {
    public struct Options: Sendable {
        public var objective: OracleObjective = .requests
        /// Base slot length, seconds; nil chooses the smallest of `minSlotS`·2^k that keeps the
        /// program under `maxVariables` (our choice: coarser slots keep the bound valid, only looser).
        public var slotS: Double?
        public var minSlotS = 0.01
        public var maxVariables = 400_000
        /// Most nodes one window spans: each window sits on the finest level where it spans at
        /// most this many (our choice: 32 rounds a window out by at most about 1/16 of its length
        /// on each side; `Int.max` gives one uniform slot length).
        public var windowSlots = 32
        /// Split the requests by arrival into segments of about this many variables at the
        /// finest slot, each solved on its own and on every core (`Int.max`: no split). Valid but
        /// looser (a slot shared by two segments counts twice). Our choice: 20,000 keeps each
        /// program at a few seconds of Clp: the 19,366-request Azure hour at 12 req/s took 17 s
        /// of wall time on 2 cores in 16 segments, 125 s in 8 segments of 40,000, and over 500 s
        /// unsplit at 16× coarser base slots.
        public var segmentVariables = 20_000
        public var timeLimitS = 600.0
        /// Solve with integral y (Cbc) instead of the LP (Clp): small instances only.
        public var integral = false
        /// Leave out shared prefixes from prefill work (set when runs may use prefix caching).
        public var prefixCaching = false
        /// The KV residency rows (C_J ≤ capacity·M_J) and the prefill attention terms; off only
        /// to measure what each adds.
        public var kvResidency = true
        public var prefillAttention = true
        /// Maximise for this class only: the others weigh 0 (they may be dropped to make room).
        public var classFilter: String?
        public init() {}
    }

    public struct Result: Sendable {
        public var solution: LPSolution
        /// Upper bounds (when the solve is optimal): requests meeting their SLOs, and their output tokens.
        public var metRequests: Double
        public var metTokens: Double
        /// Per class: requests and tokens.
        public var byClass: [String: (requests: Double, tokens: Double, total: Int)]
        /// y_i per request, in the input order.
        public var served: [Double]
        /// Base slot length, seconds.
        public var slotS: Double
        /// Dyadic nodes with variables (summed over segments).
        public var nodes: Int
        public var variables: Int
        public var constraints: Int
        /// Requests no schedule can serve within their SLOs even on an empty engine.
        public var impossible: Int
        /// Programs (segments), those a feasible schedule attained without a solve, and the
        /// lazy KV residency rows the solves had to add.
        public var segments = 1
        public var attainedSegments = 0
        public var lazyRowsAdded = 0

        /// The bound on requests meeting their SLOs, overall or for one class.
        public func metRequests(for className: String?) -> Double {
            className.map { byClass[$0]?.requests ?? 0 } ?? metRequests
        }

        public func metTokens(for className: String?) -> Double {
            className.map { byClass[$0]?.tokens ?? 0 } ?? metTokens
        }
    }

    /// Solves the relaxation, split into segments by arrival when it is large.
    ///
    /// Why splitting keeps the bound valid: segment s holds the requests arriving in it, with
    /// slots covering their windows (which may reach into later segments), and each segment's
    /// program is solved on its own, so a slot shared by two segments has its capacity counted
    /// in both. A real schedule restricted to one segment's requests uses no more of any slot
    /// than the whole schedule does, so it is feasible for that segment's program; the sum of
    /// the segments' optima is therefore at least the whole schedule's value.
    /// - Parameter attainedBy: the ids each known feasible schedule met the SLOs of; a segment
    ///   one of them meets whole is not solved (`SegmentProgram.attained(by:)`: same optimum).
    public static func solve(_ requests: [WorkloadRequest], profile: HardwareProfile, options: Options = Options(),
                             attainedBy: [Set<Int>] = []) -> Result {
        let order = requests.indices.sorted { (requests[$0].arrivalS, $0) < (requests[$1].arrivalS, $1) }
        // Variables a request brings at the finest slot length: the nodes of its windows (twice
        // for decode: the variable and its row), plus its y and its share of nodes (our estimate).
        func estimate(_ r: WorkloadRequest) -> Double {
            let ttft = r.slo.ttftMs.map { $0 / 1000 } ?? r.slo.jctS ?? 0
            let last = max(r.slo.jctS ?? 0, (r.slo.ttftMs ?? 0) / 1000 + Double(max(r.outputTokens, 1) - 1) * (r.slo.tbtMs ?? 0) / 1000)
            func nodes(_ s: Double) -> Double {
                Double(dyadicCover(0, max(0, Int((s / options.minSlotS).rounded(.up)) - 1), floorSpan: options.windowSlots).count)
            }
            return 2 * nodes(ttft) + 3 * nodes(last) + 1
        }
        var segments: [[Int]] = []
        var current: [Int] = []
        var load = 0.0
        for i in order {
            let e = estimate(requests[i])
            if !current.isEmpty && load + e > Double(options.segmentVariables) {
                segments.append(current)
                current = []
                load = 0
            }
            current.append(i)
            load += e
        }
        if !current.isEmpty { segments.append(current) }
        if segments.count <= 1 { return solveSegment(requests, profile: profile, options: options, attainedBy: attainedBy) }

        var served = [Double](repeating: 0, count: requests.count)
        var byClass: [String: (requests: Double, tokens: Double, total: Int)] = [:]
        var metRequests = 0.0, metTokens = 0.0
        var slotS = 0.0
        var nodeCount = 0, variables = 0, constraints = 0, impossible = 0, attainedSegments = 0, lazyRows = 0
        var failed: LPSolution?
        var solverName = LinearProgram.clpName
        // Segments are independent programs: solve them on every core (Clp models share nothing).
        let parts = ConcurrentSlots<Result>(count: segments.count)
        let segs = segments
        let wallStart = Date()
        DispatchQueue.concurrentPerform(iterations: segs.count) { s in
            parts.set(s, solveSegment(segs[s].map { requests[$0] }, profile: profile, options: options, attainedBy: attainedBy))
        }
        let wallS = Date().timeIntervalSince(wallStart)
        for (seg, part) in zip(segments, parts.all) {
            if part.solution.attained { attainedSegments += 1 } else { solverName = part.solution.solver }
            lazyRows += part.lazyRowsAdded
            slotS = max(slotS, part.slotS)
            nodeCount += part.nodes
            variables += part.variables
            constraints += part.constraints
            impossible += part.impossible
            guard part.solution.status == .optimal else {
                failed = part.solution
                break
            }
            metRequests += part.metRequests
            metTokens += part.metTokens
            for (k, i) in seg.enumerated() { served[i] = part.served[k] }
            for (name, c) in part.byClass {
                var t = byClass[name] ?? (0, 0, 0)
                t.requests += c.requests
                t.tokens += c.tokens
                t.total += c.total
                byClass[name] = t
            }
        }
        var solution = LPSolution(status: .optimal, objective: options.objective == .requests ? metRequests : metTokens,
                                  values: [], bound: .nan, solver: solverName + " (\(segments.count) segments)", seconds: wallS)
        if let failed {
            solution = failed
            solution.solver += " (\(segments.count) segments)"
            solution.seconds = wallS
            metRequests = .nan
            metTokens = .nan
        }
        return Result(solution: solution, metRequests: metRequests, metTokens: metTokens, byClass: byClass, served: served,
                      slotS: slotS, nodes: nodeCount, variables: variables, constraints: constraints, impossible: impossible,
                      segments: segments.count, attainedSegments: attainedSegments, lazyRowsAdded: lazyRows)
    }

    /// Dyadic nodes (level ℓ, index j: base slots j·2^ℓ ..< (j+1)·2^ℓ) covering base slots lo...hi:
    /// the range is first rounded outward to the finest level where it spans at most `floorSpan`
    /// nodes, then split into the fewest nodes, at most two per level. Disjoint, in no order.
    static func dyadicCover(_ loIn: Int, _ hiIn: Int, floorSpan: Int) -> [(level: Int, index: Int)] {
        var level = 0
        while (hiIn >> level) - (loIn >> level) + 1 > max(1, floorSpan) { level += 1 }
        var lo = loIn >> level, hi = hiIn >> level
        var out: [(level: Int, index: Int)] = []
        while lo <= hi {
            if lo & 1 == 1 {
                out.append((level, lo))
                lo += 1
            }
            if hi & 1 == 0 && lo <= hi {
                out.append((level, hi))
                hi -= 1
            }
            lo >>= 1
            hi = ((hi + 1) >> 1) - 1
            level += 1
        }
        return out
    }

    /// One program over `requests` (see the type's doc comment).
    static func solveSegment(_ requests: [WorkloadRequest], profile: HardwareProfile, options: Options, attainedBy: [Set<Int>] = []) -> Result {
        let program = SegmentProgram(requests, profile: profile, options: options)
        return program.attained(by: attainedBy) ?? program.solve()
    }
}

/// Results of work done concurrently (`DispatchQueue.concurrentPerform`), one slot per item, read
/// back in the items' order whatever order they finished in.
final class ConcurrentSlots<T: Sendable>: @unchecked Sendable {
    private var results: [T?]
    private let lock = NSLock()
    init(count: Int) { results = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ r: T) { lock.withLock { results[i] = r } }
    var all: [T] { lock.withLock { results.map { $0! } } }

    /// `work` on every item, on every core.
    static func map<S: Sendable>(_ items: [S], _ work: @Sendable (S) -> T) -> [T] {
        let slots = ConcurrentSlots(count: items.count)
        DispatchQueue.concurrentPerform(iterations: items.count) { slots.set($0, work(items[$0])) }
        return slots.all
    }
}
