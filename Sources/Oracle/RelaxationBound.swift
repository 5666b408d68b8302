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
/// Variables: for each request i, y_i ∈ [0, 1] (the fraction of it served within its SLOs); for
/// each time slot k of length Δ, p_ik and d_ik (its prefill and decode tokens attributed to slot
/// k) and m_k (iterations attributed to slot k). An iteration is attributed to the slots it
/// overlaps in proportion to the overlap, and so are its tokens.
///
/// Constraints, and why every schedule of the engine model that meets request i's SLOs
/// satisfies them with y_i = 1 (and a request it does not serve with y_i = 0, all its tokens 0):
/// - Σ_k p_ik = P_i·y_i and Σ_k d_ik = (O_i − 1)·y_i: a served request computes its prompt
///   (less a shared prefix, which prefix caching may skip) and then O_i − 1 decode tokens (the
///   first output token comes with the iteration that ends its prefill). Recomputation after a
///   preemption only adds work.
/// - p_ik = 0 outside the slots overlapping [a_i, first-token deadline], d_ik = 0 outside those
///   overlapping [a_i, last-token deadline]: the engine only schedules requests that have
///   arrived, and the iteration that produces a token ends when the token is emitted. The
///   first-token deadline is a + TTFT (or the last-token deadline without a TTFT SLO); the
///   last-token deadline is the smaller of a + JCT and a + TTFT + (O − 1)·TBT (a TBT SLO bounds
///   every gap). Edge slots are allowed whole (a relaxation). Deadlines get 1 µs of slack for
///   the microsecond rounding of run records.
/// - d_ik ≤ m_k: a request gets at most one decode token per iteration.
/// - for every line j of `IterationTimeLowerBound`: fixed_j·m_k + perToken_j·Σ_i (p_ik + d_ik) ≤ Δ:
///   iterations never overlap in time, each lasts at least fixed_j + perToken_j·n, and the
///   attribution splits every iteration's time and tokens over slots in the same proportions.
/// - per request, y_i = 0 when even an empty engine could not meet its SLOs: the prefill needs
///   at least one iteration (≥ the bound at P_i tokens) and then O_i − 1 more (≥ f(1) each).
/// Relaxed (left out, so the bound can only be higher): KV capacity, the attention term, the
/// exact order of tokens within a request, TBT gaps other than through the last-token deadline,
/// policy limits (budgets, max sequences), and integrality.
/// Requests without any SLO count as met and their work is left out (also a relaxation).
public struct RelaxationBound: Sendable {
    public struct Options: Sendable {
        public var objective: OracleObjective = .requests
        /// Slot length, seconds; nil chooses the smallest of `minSlotS`·2^k that keeps the
        /// program under `maxVariables` (our choice: coarser slots keep the bound valid, only looser).
        public var slotS: Double?
        public var minSlotS = 0.01
        public var maxVariables = 400_000
        /// Split the requests by arrival into segments of about this many variables at the
        /// finest slot, each solved on its own (default: no split). Valid but looser; on
        /// mixed-slo (300 requests) 50,000 gave 88 segments and took 63 s against 11 s unsplit,
        /// so it is off until segments also coarsen their slots together.
        public var segmentVariables = Int.max
        public var timeLimitS = 600.0
        /// Solve with integral y (Cbc) instead of the LP (Clp): small instances only.
        public var integral = false
        /// Leave out shared prefixes from prefill work (set when runs may use prefix caching).
        public var prefixCaching = false
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
        public var slotS: Double
        public var slots: Int
        public var variables: Int
        public var constraints: Int
        /// Requests no schedule can serve within their SLOs even on an empty engine.
        public var impossible: Int

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
    public static func solve(_ requests: [WorkloadRequest], profile: HardwareProfile, options: Options = Options()) -> Result {
        let order = requests.indices.sorted { (requests[$0].arrivalS, $0) < (requests[$1].arrivalS, $1) }
        // Variables a request brings at the finest slot length: its windows over the slot, twice
        // for decode (the variable and its row), plus one.
        func estimate(_ r: WorkloadRequest) -> Double {
            let ttft = r.slo.ttftMs.map { $0 / 1000 } ?? r.slo.jctS ?? 0
            let last = max(r.slo.jctS ?? 0, (r.slo.ttftMs ?? 0) / 1000 + Double(max(r.outputTokens, 1) - 1) * (r.slo.tbtMs ?? 0) / 1000)
            return (ttft + 2 * last) / options.minSlotS + 1
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
        if segments.count <= 1 { return solveSegment(requests, profile: profile, options: options) }

        var served = [Double](repeating: 0, count: requests.count)
        var byClass: [String: (requests: Double, tokens: Double, total: Int)] = [:]
        var metRequests = 0.0, metTokens = 0.0, seconds = 0.0
        var slotS = 0.0
        var slots = 0, variables = 0, constraints = 0, impossible = 0
        var failed: LPSolution?
        var solverName = ""
        for seg in segments {
            let part = solveSegment(seg.map { requests[$0] }, profile: profile, options: options)
            seconds += part.solution.seconds
            solverName = part.solution.solver
            slotS = max(slotS, part.slotS)
            slots += part.slots
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
                                  values: [], bound: .nan, solver: solverName + " (\(segments.count) segments)", seconds: seconds)
        if let failed {
            solution = failed
            solution.solver += " (\(segments.count) segments)"
            solution.seconds = seconds
            metRequests = .nan
            metTokens = .nan
        }
        return Result(solution: solution, metRequests: metRequests, metTokens: metTokens, byClass: byClass, served: served,
                      slotS: slotS, slots: slots, variables: variables, constraints: constraints, impossible: impossible)
    }

    /// One program over `requests` (see the type's doc comment).
    static func solveSegment(_ requests: [WorkloadRequest], profile: HardwareProfile, options: Options) -> Result {
        let model = IterationTimeModel(profile: profile)
        let lb = IterationTimeLowerBound(model: model, maxTokens: profile.kvCapacityBlocks * profile.blockSizeTokens)
        let eps = 1e-6
        /// Prompt tokens a served request must compute (a shared prefix may come from the cache).
        func prefillWork(_ r: WorkloadRequest) -> Int {
            max(1, r.promptTokens - (options.prefixCaching ? (r.prefixTokens ?? 0) : 0))
        }

        // Windows per request: (kind, prefill window end, decode window end).
        enum Kind { case noSLO, impossible, scheduled(firstEnd: Double, lastEnd: Double?) }
        var kinds: [Kind] = []
        for r in requests {
            let a = r.arrivalS
            let o = max(r.outputTokens, 1)
            let prefill = prefillWork(r)
            let first = r.slo.ttftMs.map { a + $0 / 1000 + eps }
            var last: Double?
            if let j = r.slo.jctS { last = a + j + eps }
            if let t = r.slo.ttftMs, let g = r.slo.tbtMs { last = min(last ?? .infinity, a + t / 1000 + Double(o - 1) * g / 1000 + eps) }
            if first == nil && last == nil {
                // No deadline: met unless a TBT SLO is below the fastest possible iteration.
                if let g = r.slo.tbtMs, o > 1, g / 1000 + eps < lb.minIterationS { kinds.append(.impossible) } else { kinds.append(.noSLO) }
                continue
            }
            // Without a last-token deadline (a TTFT SLO alone) the decode work may come at any
            // time after: it is left out.
            let firstEnd = min(first ?? .infinity, last ?? .infinity)
            let minFirst = lb.atLeast(tokens: prefill)
            let minLast = minFirst + Double(o - 1) * lb.minIterationS
            if a + minFirst > firstEnd || (last.map { a + minLast > $0 } ?? false)
                || (r.slo.tbtMs.map { o > 1 && $0 / 1000 + eps < lb.minIterationS } ?? false) {
                kinds.append(.impossible)
            } else {
                kinds.append(.scheduled(firstEnd: firstEnd, lastEnd: last))
            }
        }

        // Slot length: the smallest that keeps the program under the variable budget.
        let t0 = requests.map(\.arrivalS).min() ?? 0
        var windowTotal = 0.0
        var horizon = t0
        for (r, k) in zip(requests, kinds) {
            if case .scheduled(let fe, let le) = k {
                windowTotal += (fe - r.arrivalS) + ((le ?? r.arrivalS) - r.arrivalS)
                horizon = max(horizon, le ?? fe)
            }
        }
        var slot = options.slotS ?? options.minSlotS
        if options.slotS == nil {
            while windowTotal / slot + 2 * Double(requests.count) + (horizon - t0) / slot > Double(options.maxVariables) { slot *= 2 }
        }
        let numSlots = max(1, Int(((horizon - t0) / slot).rounded(.up)) + 1)
        func slotRange(_ s: Double, _ e: Double) -> ClosedRange<Int> {
            let lo = max(0, Int(((s - t0) / slot).rounded(.down)))
            let hi = min(numSlots - 1, max(lo, Int(((e - t0) / slot).rounded(.up)) - 1))
            return lo...hi
        }

        var lp = LinearProgram(sense: .maximize)
        let m = (0..<numSlots).map { _ in lp.addVariable() }
        var slotTokens: [[(Int, Double)]] = Array(repeating: [], count: numSlots)
        var y = [Int](repeating: -1, count: requests.count)
        var impossible = 0
        for (i, r) in requests.enumerated() {
            var weight = options.objective == .requests ? 1.0 : Double(r.outputTokens)
            if let c = options.classFilter, r.className != c { weight = 0 }
            switch kinds[i] {
            case .noSLO:
                break
            case .impossible:
                impossible += 1
            case .scheduled(let firstEnd, let lastEnd):
                let yi = lp.addVariable(upper: 1, objective: weight, integer: options.integral)
                y[i] = yi
                let prefill = prefillWork(r)
                var terms: [(Int, Double)] = [(yi, -Double(prefill))]
                for k in slotRange(r.arrivalS, firstEnd) {
                    let p = lp.addVariable()
                    terms.append((p, 1))
                    slotTokens[k].append((p, 1))
                }
                lp.addConstraint(terms, lower: 0, upper: 0)
                let decodes = max(r.outputTokens, 1) - 1
                if decodes > 0, let lastEnd {
                    var dterms: [(Int, Double)] = [(yi, -Double(decodes))]
                    for k in slotRange(r.arrivalS, lastEnd) {
                        let d = lp.addVariable()
                        dterms.append((d, 1))
                        slotTokens[k].append((d, 1))
                        lp.addConstraint([(d, 1), (m[k], -1)], upper: 0)
                    }
                    lp.addConstraint(dterms, lower: 0, upper: 0)
                }
            }
        }
        for k in 0..<numSlots where !slotTokens[k].isEmpty {
            for line in lb.lines {
                lp.addConstraint([(m[k], line.fixed)] + slotTokens[k].map { ($0.0, line.perToken) }, upper: slot)
            }
        }

        let solution = options.integral ? lp.solveMILP(timeLimitS: options.timeLimitS) : lp.solveLP(timeLimitS: options.timeLimitS)
        var served = [Double](repeating: 0, count: requests.count)
        var byClass: [String: (requests: Double, tokens: Double, total: Int)] = [:]
        var metRequests = Double.nan, metTokens = Double.nan
        if solution.status == .optimal {
            metRequests = 0
            metTokens = 0
            for (i, r) in requests.enumerated() {
                let v: Double
                switch kinds[i] {
                case .noSLO: v = 1
                case .impossible: v = 0
                case .scheduled: v = min(1, max(0, solution.values[y[i]]))
                }
                served[i] = v
                metRequests += v
                metTokens += v * Double(r.outputTokens)
                var c = byClass[r.className] ?? (0, 0, 0)
                c.requests += v
                c.tokens += v * Double(r.outputTokens)
                c.total += 1
                byClass[r.className] = c
            }
        }
        return Result(solution: solution, metRequests: metRequests, metTokens: metTokens, byClass: byClass, served: served,
                      slotS: slot, slots: numSlots, variables: lp.numVariables, constraints: lp.numConstraints, impossible: impossible)
    }
}
