import BenchCore
import Engine

/// The relaxation's program over one segment's requests (see `RelaxationBound`), built in
/// phases: each request's windows, the time grid, the LP's variables and constraints, and the
/// bound read off its solution.
struct SegmentProgram {
    /// What a request's SLOs ask of the program.
    enum Kind { case noSLO, impossible, scheduled(firstEnd: Double, lastEnd: Double?) }
    /// A dyadic interval of base slots: 2^level slots from index · 2^level.
    struct Node: Hashable { var level: Int; var index: Int }
    /// The nodes a request's prefill (or decode) work must fall in.
    struct Window {
        var request: Int
        var decode: Bool
        var nodes: [Node]
        /// A prefill window's smallest enclosing node, which carries its prefill attention (nil
        /// for decode windows and without prefill attention).
        var container: Node?
    }

    let requests: [WorkloadRequest]
    let options: RelaxationBound.Options
    let model: IterationTimeModel
    let lb: IterationTimeLowerBound
    let kinds: [Kind]
    /// The KV cache in tokens, for the residency rows; nil with prefix caching, where requests
    /// sharing a prefix hold one copy of it.
    let kvCapacityTokens: Int?
    static let eps = 1e-6

    init(_ requests: [WorkloadRequest], profile: HardwareProfile, options: RelaxationBound.Options) {
        self.requests = requests
        self.options = options
        model = IterationTimeModel(profile: profile)
        lb = IterationTimeLowerBound(model: model, maxTokens: profile.kvCapacityBlocks * profile.blockSizeTokens)
        kvCapacityTokens = options.prefixCaching || !options.kvResidency ? nil : profile.kvCapacityBlocks * profile.blockSizeTokens
        let (lb, prefixCaching) = (lb, options.prefixCaching)
        kinds = requests.map { Self.kind(of: $0, prefillTokens: Self.prefillWork($0, prefixCaching: prefixCaching), lb: lb) }
    }

    /// Prompt tokens a served request must compute (a shared prefix may come from the cache).
    static func prefillWork(_ r: WorkloadRequest, prefixCaching: Bool) -> Int {
        max(1, r.promptTokens - (prefixCaching ? (r.prefixTokens ?? 0) : 0))
    }

    func prefillWork(_ r: WorkloadRequest) -> Int { Self.prefillWork(r, prefixCaching: options.prefixCaching) }

    /// The request's windows: prefill must end by the first-token deadline, decode by the last.
    static func kind(of r: WorkloadRequest, prefillTokens prefill: Int, lb: IterationTimeLowerBound) -> Kind {
        let a = r.arrivalS
        let o = max(r.outputTokens, 1)
        let first = r.slo.ttftMs.map { a + $0 / 1000 + eps }
        var last: Double?
        if let j = r.slo.jctS { last = a + j + eps }
        if let t = r.slo.ttftMs, let g = r.slo.tbtMs { last = min(last ?? .infinity, a + t / 1000 + Double(o - 1) * g / 1000 + eps) }
        if first == nil && last == nil {
            // No deadline: met unless a TBT SLO is below the fastest possible iteration.
            if let g = r.slo.tbtMs, o > 1, g / 1000 + eps < lb.minIterationS { return .impossible }
            return .noSLO
        }
        // Without a last-token deadline (a TTFT SLO alone) the decode work may come at any
        // time after: it is left out.
        let firstEnd = min(first ?? .infinity, last ?? .infinity)
        let minFirst = lb.atLeast(tokens: prefill)
        let minLast = minFirst + Double(o - 1) * lb.minIterationS
        if a + minFirst > firstEnd || (last.map { a + minLast > $0 } ?? false)
            || (r.slo.tbtMs.map { o > 1 && $0 / 1000 + eps < lb.minIterationS } ?? false) {
            return .impossible
        }
        return .scheduled(firstEnd: firstEnd, lastEnd: last)
    }

    // MARK: the time grid

    /// Time is cut into base slots of length `slot`; a node at level ℓ covers 2^ℓ consecutive
    /// base slots (a dyadic interval). Each window is rounded outward to whole base slots, then
    /// to the finest level ("floor") at which it spans at most `windowSlots` nodes, and that
    /// range is split into the fewest dyadic nodes (at most two per level, as in a segment
    /// tree), each with one variable. A window is thus described by O(log windowSlots)
    /// variables whatever its length; the capacity of every node counts the tokens of every
    /// node inside it.
    func windows(slot: Double) -> [Window] {
        let t0 = requests.map(\.arrivalS).min() ?? 0
        var out: [Window] = []
        out.reserveCapacity(2 * requests.count)
        func add(_ i: Int, _ decode: Bool, _ s: Double, _ e: Double) {
            let lo = max(0, Int(((s - t0) / slot).rounded(.down)))
            let hi = max(lo, Int(((e - t0) / slot).rounded(.up)) - 1)
            let nodes = RelaxationBound.dyadicCover(lo, hi, floorSpan: options.windowSlots).map { Node(level: $0.level, index: $0.index) }
            var container: Node?
            if !decode && options.prefillAttention {
                // The first level at which one node holds the window's first and last slot.
                var level = 0
                while lo >> level != hi >> level { level += 1 }
                container = Node(level: level, index: lo >> level)
            }
            out.append(Window(request: i, decode: decode, nodes: nodes, container: container))
        }
        for (i, r) in requests.enumerated() {
            guard case .scheduled(let firstEnd, let lastEnd) = kinds[i] else { continue }
            add(i, false, r.arrivalS, firstEnd)
            if max(r.outputTokens, 1) > 1, let lastEnd { add(i, true, r.arrivalS, lastEnd) }
        }
        return out
    }

    /// Variables of the program built on `ws`: per node M, T, C and A, per request y, per window node one.
    func size(_ ws: [Window]) -> Int {
        var nodes = Set<Node>()
        var count = 0
        for w in ws {
            nodes.formUnion(w.nodes)
            if let c = w.container { nodes.insert(c) }
            count += w.nodes.count
        }
        return count + 4 * nodes.count + requests.count
    }

    /// The base slot (the given one, or the finest whose program fits `maxVariables`) and its windows.
    func grid() -> (slot: Double, windows: [Window]) {
        var slot = options.slotS ?? options.minSlotS
        var ws = windows(slot: slot)
        if options.slotS == nil {
            while size(ws) > options.maxVariables {
                slot *= 2
                ws = windows(slot: slot)
            }
        }
        return (slot, ws)
    }

    // MARK: the program

    /// The LP and the variables its reading needs.
    struct Program {
        var lp = LinearProgram(sense: .maximize)
        var nodeIndex: [Node: Int] = [:]
        var nodes: [Node] = []
        /// Per node: its window variables, and the context (kilotokens) of its decode ones.
        var ownTokens: [[Int]] = []
        var ownContext: [[(Int, Double)]] = []
        /// Per node: (y_i, seconds) of the prefill attention of each request whose whole
        /// first-token window lies inside the node and inside none of its active descendants.
        var ownAttention: [[(Int, Double)]] = []
        /// Per node: iterations M, tokens T and context C attributed to it (its own and its descendants').
        var iterations: [Int] = []
        var tokens: [Int] = []
        var context: [Int] = []
        /// Prefill attention seconds attributed to it (its own requests' and its descendants').
        var attention: [Int] = []
        /// y per request (-1 for those without one), and the requests no schedule can serve.
        var y: [Int] = []
        var impossible = 0

        init(nodesOf ws: [Window], requests: Int) {
            for w in ws {
                for n in w.nodes + (w.container.map { [$0] } ?? []) where nodeIndex[n] == nil {
                    nodeIndex[n] = nodes.count
                    nodes.append(n)
                }
            }
            ownTokens = Array(repeating: [], count: nodes.count)
            ownContext = Array(repeating: [], count: nodes.count)
            ownAttention = Array(repeating: [], count: nodes.count)
            iterations = nodes.map { _ in lp.addVariable() }
            tokens = nodes.map { _ in lp.addVariable() }
            // Context that decode steps attribute to the node read, in thousands of tokens
            // (Σ prompt × decode tokens / 1000: kilotokens keep the coefficients near 1 for the solver).
            context = nodes.map { _ in lp.addVariable() }
            attention = nodes.map { _ in lp.addVariable() }
            y = Array(repeating: -1, count: requests)
        }
    }

    func solve() -> RelaxationBound.Result {
        let (slot, ws) = grid()
        var p = Program(nodesOf: ws, requests: requests.count)
        addRequests(ws, to: &p)
        addNodeCapacities(slot: slot, to: &p)
        let solution = options.integral ? p.lp.solveMILP(timeLimitS: options.timeLimitS) : p.lp.solveLP(timeLimitS: options.timeLimitS)
        return result(solution, nodes: p.nodes.count, variables: p.lp.numVariables, constraints: p.lp.numConstraints, slot: slot,
                      impossible: p.impossible) { solution.values[p.y[$0]] }
    }

    /// The program's optimum without solving it, when one of `schedules` (the ids that a
    /// feasible schedule met the SLOs of) meets every request the program schedules.
    /// Why it is the optimum: that schedule restricted to these requests satisfies every
    /// constraint with y_i = 1 for each of them (the relaxation's validity argument), and no y
    /// exceeds 1, so y = 1 everywhere is optimal for any objective weights ≥ 0.
    func attained(by schedules: [Set<Int>]) -> RelaxationBound.Result? {
        let scheduled = requests.indices.filter { if case .scheduled = kinds[$0] { return true } else { return false } }
        guard schedules.contains(where: { met in scheduled.allSatisfy { met.contains(requests[$0].id) } }) else { return nil }
        let impossible = kinds.filter { if case .impossible = $0 { return true } else { return false } }.count
        let solution = LPSolution(status: .optimal, solver: "attained", attained: true)
        return result(solution, nodes: 0, variables: 0, constraints: 0, slot: 0, impossible: impossible) { _ in 1 }
    }

    /// Per scheduled request: y_i, and for each window, its work spread over the window's nodes.
    func addRequests(_ ws: [Window], to p: inout Program) {
        var windowsOf = [[Window]](repeating: [], count: requests.count)
        for w in ws { windowsOf[w.request].append(w) }
        for (i, r) in requests.enumerated() {
            var weight = options.objective == .requests ? 1.0 : Double(r.outputTokens)
            if let c = options.classFilter, r.className != c { weight = 0 }
            switch kinds[i] {
            case .noSLO: continue
            case .impossible:
                p.impossible += 1
                continue
            case .scheduled: break
            }
            let yi = p.lp.addVariable(upper: 1, objective: weight, integer: options.integral)
            p.y[i] = yi
            for w in windowsOf[i] {
                if !w.decode { addPrefillAttention(of: r, window: w, y: yi, to: &p) }
                let work = w.decode ? max(r.outputTokens, 1) - 1 : prefillWork(r)
                var terms: [(Int, Double)] = [(yi, -Double(work))]
                for n in w.nodes {
                    let k = p.nodeIndex[n]!
                    let v = p.lp.addVariable()
                    terms.append((v, 1))
                    p.ownTokens[k].append(v)
                    if w.decode { p.ownContext[k].append((v, Double(r.promptTokens) / 1000)) }
                    // One decode token per iteration and request.
                    if w.decode { p.lp.addConstraint([(v, 1), (p.iterations[k], -1)], upper: 0) }
                }
                p.lp.addConstraint(terms, lower: 0, upper: 0)
            }
        }
    }

    /// The prefill attention of `r` (every query-key pair its computed prompt tokens form, the
    /// same whatever the chunking), charged to the smallest node that holds its whole
    /// first-token window (and through the sums to every node above it).
    /// (A row per prefill window over its own nodes would be tighter when the enclosing node is
    /// much longer than the window, but on mixed-slo.yaml, 1,000 requests at 10 req/s, it lowered
    /// U by 0.05 requests and tripled Clp's time, so it is left out.)
    func addPrefillAttention(of r: WorkloadRequest, window w: Window, y: Int, to p: inout Program) {
        guard let container = w.container, let k = p.nodeIndex[container] else { return }
        let computed = Double(prefillWork(r)), cached = Double(r.promptTokens) - computed
        let seconds = (computed * cached + computed * (computed + 1) / 2) * model.prefillAttentionSecondsPerPair
        if seconds > 0 { p.ownAttention[k].append((y, seconds)) }
    }

    /// Per node: tokens, context and iterations summed over its own windows and its nearest
    /// active descendants, and the lower-bound lines of iteration time kept within its length.
    func addNodeCapacities(slot: Double, to p: inout Program) {
        let nodes = p.nodes
        let maxLevel = nodes.map(\.level).max() ?? 0
        var children = [[Int]](repeating: [], count: nodes.count)
        for (k, n) in nodes.enumerated() where n.level < maxLevel {
            for level in (n.level + 1)...maxLevel {
                if let parent = p.nodeIndex[Node(level: level, index: n.index >> (level - n.level))] {
                    children[parent].append(k)
                    break
                }
            }
        }
        let attentionPerContextToken = model.decodeAttentionSecondsPerContextToken
        for k in nodes.indices {
            p.lp.addConstraint([(p.tokens[k], 1)] + p.ownTokens[k].map { ($0, -1.0) } + children[k].map { (p.tokens[$0], -1.0) },
                               lower: 0, upper: 0)
            p.lp.addConstraint([(p.context[k], 1)] + p.ownContext[k].map { ($0.0, -$0.1) } + children[k].map { (p.context[$0], -1.0) },
                               lower: 0, upper: 0)
            p.lp.addConstraint([(p.attention[k], 1)] + p.ownAttention[k].map { ($0.0, -$0.1) } + children[k].map { (p.attention[$0], -1.0) },
                               lower: 0, upper: 0)
            if !children[k].isEmpty {
                p.lp.addConstraint([(p.iterations[k], 1)] + children[k].map { (p.iterations[$0], -1.0) }, lower: 0)
            }
            // KV residency: each iteration's decodes hold at least their prompts' KV at once.
            // Lazy: the solver sees only the rows its solution would violate (few bind).
            if let cap = kvCapacityTokens { p.lp.addLazyConstraint([(p.context[k], 1), (p.iterations[k], -Double(cap) / 1000)], upper: 0) }
            let length = slot * Double(1 << nodes[k].level)
            for line in lb.lines {
                p.lp.addConstraint([(p.iterations[k], line.fixed), (p.tokens[k], line.perToken), (p.context[k], attentionPerContextToken * 1000),
                                    (p.attention[k], 1)], upper: length)
            }
        }
    }

    /// The bound: y per request (1 without an SLO, 0 when impossible, `y(i)` when scheduled),
    /// summed overall and per class.
    func result(_ solution: LPSolution, nodes: Int, variables: Int, constraints: Int, slot: Double, impossible: Int,
                y: (Int) -> Double) -> RelaxationBound.Result {
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
                case .scheduled: v = min(1, max(0, y(i)))
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
        return RelaxationBound.Result(solution: solution, metRequests: metRequests, metTokens: metTokens, byClass: byClass, served: served,
                                      slotS: slot, nodes: nodes, variables: variables, constraints: constraints, impossible: impossible,
                                      attainedSegments: solution.attained ? 1 : 0, lazyRowsAdded: solution.lazyRowsAdded)
    }
}
