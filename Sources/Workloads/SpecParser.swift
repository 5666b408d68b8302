import BenchCore
import Foundation

extension WorkloadSpec {
    /// Reads and validates a spec file. Relative trace paths resolve against the spec's folder.
    public static func load(path: String) throws(BenchError) -> WorkloadSpec {
        // FileIO names what went wrong (no such file, a directory, permission) in plain words.
        let bytes = try FileIO.readFile(path)
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw BenchError.data(path, "the spec is not UTF-8 text")
        }
        let base = (path as NSString).deletingLastPathComponent
        let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
        return try parse(yaml: text, file: path, baseDirectory: base.isEmpty ? "." : base, defaultName: stem)
    }

    public static func parse(yaml: String, file: String, baseDirectory: String = ".", defaultName: String = "workload") throws(BenchError) -> WorkloadSpec {
        let root = try SpecNode.parse(yaml: yaml, file: file)
        var f = try root.fields()
        let name = try f.optional("name")?.string() ?? defaultName
        let description = try f.optional("description")?.string()
        var seed: UInt64 = 0
        if let s = f.optional("seed") {
            let v = try s.int()
            guard v >= 0 else { throw s.error("seed must be ≥ 0") }
            seed = UInt64(v)
        }
        var count: Int?
        if let c = f.optional("count") {
            count = try c.int()
            guard count! > 0 else { throw c.error("count must be > 0") }
        }
        var duration: Double?
        let durationNode = f.optional("duration_s")
        if let d = durationNode {
            duration = try d.double()
            guard duration! > 0 else { throw d.error("duration_s must be > 0") }
        }
        if count != nil, duration != nil, let durationNode {
            throw durationNode.error("give either 'count' or 'duration_s', not both")
        }
        let arrival = try f.optional("arrival").map { n throws(BenchError) in try parseArrival(n) }
        let classesNode = try f.required("classes")
        let classNodes = try classesNode.list()
        guard !classNodes.isEmpty else { throw root.error("'classes' is empty") }
        var classes: [ClassSpec] = []
        for n in classNodes {
            let c = try parseClass(n, sharedArrival: arrival)
            if classes.contains(where: { $0.name == c.name }) { throw n.error("duplicate class name '\(c.name)'") }
            classes.append(c)
        }
        try f.finish()

        let sharing = classes.filter { $0.arrival == nil }
        if !sharing.isEmpty {
            guard arrival != nil else {
                throw classNodes[0].error("class '\(sharing[0].name)' has no arrival process and the spec has no top-level 'arrival'")
            }
            let total = sharing.reduce(0.0) { $0 + ($1.share ?? 0) }
            if abs(total - 1) > 1e-6 {
                let parts = sharing.map { "\($0.name)=\($0.share ?? 0)" }.joined(separator: " + ")
                throw classesNode.error("shares of the classes on the shared arrival process must sum to 1 (\(parts) = \(total))")
            }
        } else if arrival != nil {
            throw root.error("top-level 'arrival' is unused: every class has its own arrival process")
        }
        let usesTrace = arrival.map { if case .trace = $0 { return true } else { return false } } ?? false
        for (i, c) in classes.enumerated() {
            let own = c.arrival.map { if case .trace = $0 { return true } else { return false } } ?? false
            if c.prompt.kind == .fromTrace || c.output.kind == .fromTrace || c.prefix.mode == .fromTrace {
                if !(own || (c.arrival == nil && usesTrace)) {
                    throw classNodes[i].error("class '\(c.name)' takes lengths or prefixes from the trace, but its arrival process is not a trace")
                }
            }
        }
        return WorkloadSpec(name: name, description: description, seed: seed, count: count, durationS: duration,
                            arrival: arrival, classes: classes, baseDirectory: baseDirectory, text: yaml)
    }

    static func positive(_ n: SpecNode) throws(BenchError) -> Double {
        let v = try n.double()
        guard v > 0 else { throw n.error("must be > 0, got \(v)") }
        return v
    }

    static func nonNegative(_ n: SpecNode) throws(BenchError) -> Double {
        let v = try n.double()
        guard v >= 0 else { throw n.error("must be ≥ 0, got \(v)") }
        return v
    }

    static func parseArrival(_ node: SpecNode) throws(BenchError) -> ArrivalSpec {
        var f = try node.fields()
        let process = try f.required("process").string()
        let result: ArrivalSpec
        switch process {
        case "poisson":
            result = .poisson(rate: try positive(try f.required("rate")))
        case "gamma":
            result = .gamma(rate: try positive(try f.required("rate")), cv: try positive(try f.required("cv")))
        case "constant":
            result = .constant(rate: try positive(try f.required("rate")))
        case "ramp":
            let from = try nonNegative(try f.required("from_rate"))
            let to = try nonNegative(try f.required("to_rate"))
            guard from > 0 || to > 0 else { throw node.error("ramp needs from_rate or to_rate > 0") }
            guard to > 0 else { throw node.error("to_rate must be > 0 (the rate it settles at)") }
            result = .ramp(fromRate: from, toRate: to, rampS: try positive(try f.required("ramp_s")))
        case "onoff", "mmpp":
            let on = try positive(try f.required("on_rate"))
            let off = try nonNegative(try f.required("off_rate"))
            result = .onOff(onRate: on, offRate: off, meanOnS: try positive(try f.required("mean_on_s")),
                            meanOffS: try positive(try f.required("mean_off_s")))
        case "trace":
            let pathNode = try f.required("trace")
            var t = TraceArrivalSpec(path: try pathNode.string())
            t.line = pathNode.line
            if let fmt = f.optional("format") {
                let s = try fmt.string()
                guard let tf = TraceFormat(rawValue: s) else {
                    throw fmt.error("unknown trace format '\(s)' (azure, mooncake, burstgpt, lengths)")
                }
                guard tf != .lengths else { throw fmt.error("a length-only file has no arrival times; use it in an 'empirical' length distribution") }
                t.format = tf
            }
            if let n = f.optional("time_scale") { t.timeScale = try positive(n) }
            if let n = f.optional("window_s") {
                let (a, b) = try n.doublePair()
                guard a >= 0, b > a else { throw n.error("window_s must be [start, end) with 0 ≤ start < end") }
                t.windowS = (a, b)
            }
            if let n = f.optional("rate") { t.rate = try positive(n) }
            if let n = f.optional("max_gap_s") { t.maxGapS = try positive(n) }
            result = .trace(t)
        default:
            throw try f.required("process").error("unknown arrival process '\(process)' (poisson, gamma, constant, ramp, onoff, trace)")
        }
        try f.finish("arrival '\(process)'")
        return result
    }

    static func parseClass(_ node: SpecNode, sharedArrival: ArrivalSpec?) throws(BenchError) -> ClassSpec {
        var f = try node.fields()
        let name = try f.required("name").string()
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) else {
            throw node.error("class name '\(name)' must be letters, digits, '-', '_' or '.'")
        }
        let kindNode = try f.required("kind")
        guard let kind = RequestKind(rawValue: try kindNode.string()) else {
            throw kindNode.error("kind must be 'interactive' or 'batch'")
        }
        let arrival = try f.optional("arrival").map { n throws(BenchError) in try parseArrival(n) }
        var share: Double?
        if let s = f.optional("share") {
            let v = try s.double()
            guard v > 0, v <= 1 else { throw s.error("share must be in (0, 1], got \(v)") }
            guard arrival == nil else { throw s.error("a class with its own 'arrival' takes no 'share'") }
            share = v
        } else if arrival == nil {
            throw node.error("class '\(name)' needs a 'share' of the shared arrival process or its own 'arrival'")
        }
        let traceArrival: Bool = {
            let a = arrival ?? sharedArrival
            if case .trace = a { return true }
            return false
        }()
        let prompt = try f.optional("prompt").map { n throws(BenchError) in try parseLength(n) }
            ?? (traceArrival ? LengthSpec(kind: .fromTrace) : nil)
        let output = try f.optional("output").map { n throws(BenchError) in try parseLength(n) }
            ?? (traceArrival ? LengthSpec(kind: .fromTrace) : nil)
        guard let prompt else { throw node.error("class '\(name)' needs a 'prompt' length distribution") }
        guard let output else { throw node.error("class '\(name)' needs an 'output' length distribution") }
        var slo = SLOSpec()
        var ruleText: [String] = []
        if let s = f.optional("slo") {
            (slo, ruleText) = try parseSLO(s)
        }
        var prefix = PrefixSpec(mode: .none)
        if let p = f.optional("prefix") {
            prefix = try parsePrefix(p)
        } else if traceArrival, prompt.kind == .fromTrace {
            prefix = PrefixSpec(mode: .fromTrace)
        }
        var maxTotal: Int?
        if let m = f.optional("max_total_tokens") {
            maxTotal = try m.int()
            guard maxTotal! >= 2 else { throw m.error("max_total_tokens must be ≥ 2 (one prompt and one output token)") }
        }
        var session: SessionSpec?
        if let sn = f.optional("session") {
            guard !f.has("prefix") else { throw sn.error("a session class shares its own history; it takes no 'prefix'") }
            guard prompt.kind != .fromTrace, output.kind != .fromTrace else {
                throw sn.error("a session class draws its turns' lengths; 'trace' lengths do not apply")
            }
            session = try parseSession(sn)
            ruleText.append("sessions of \(describeTurns(session!.turns)) turns")
        }
        try f.finish("class '\(name)'")
        var c = ClassSpec(name: name, kind: kind, share: share, arrival: arrival, prompt: prompt, output: output,
                          slo: slo, prefix: session == nil ? prefix : PrefixSpec(mode: .none), sloRuleText: ruleText.joined(separator: "; "))
        c.maxTotalTokens = maxTotal
        c.session = session
        return c
    }

    /// `session: {turns: LENGTH, think_ms: LENGTH, max_context: N, on_overflow: truncate|end}`.
    static func parseSession(_ node: SpecNode) throws(BenchError) -> SessionSpec {
        var f = try node.fields()
        let turnsNode = try f.required("turns")
        let turns = try parseLength(turnsNode)
        let thinkNode = try f.required("think_ms")
        let think = try parseLength(thinkNode)
        for (n, spec) in [(turnsNode, turns), (thinkNode, think)] {
            switch spec.kind {
            case .fromTrace, .empirical: throw n.error("session lengths are drawn from a distribution, not a trace")
            default: break
            }
        }
        var maxContext: Int?
        if let m = f.optional("max_context") {
            maxContext = try m.int()
            guard maxContext! >= 2 else { throw m.error("max_context must be ≥ 2 tokens (one prompt and one output token)") }
        }
        var overflow = SessionSpec.Overflow.truncate
        if let o = f.optional("on_overflow") {
            let v = try o.string()
            guard let ov = SessionSpec.Overflow(rawValue: v) else { throw o.error("on_overflow must be 'truncate' or 'end', got '\(v)'") }
            overflow = ov
        }
        try f.finish("session")
        return SessionSpec(turns: turns, thinkMs: think, maxContext: maxContext, onOverflow: overflow)
    }

    static func describeTurns(_ l: LengthSpec) -> String {
        switch l.kind {
        case .fixed(let n): return String(n)
        case .uniform(let lo, let hi): return "\(lo)-\(hi)"
        default: return "a distribution of"
        }
    }

    static func parseLength(_ node: SpecNode) throws(BenchError) -> LengthSpec {
        if case .scalar = node.node, !node.isNull {
            if (try? node.string()) == "trace" { return LengthSpec(kind: .fromTrace) }
            let v = try node.int()
            guard v >= 1, v <= LengthSpec.maxValue else { throw node.error("a fixed length must be ≥ 1 token and ≤ 10^9") }
            return LengthSpec(kind: .fixed(v))
        }
        var f = try node.fields()
        let dist = try f.required("dist").string()
        let kind: LengthSpec.Kind
        var traceLine: Int?
        switch dist {
        case "fixed":
            let n = try f.required("value")
            let v = try n.int()
            guard v >= 1, v <= LengthSpec.maxValue else { throw n.error("must be ≥ 1 token and ≤ 10^9") }
            kind = .fixed(v)
        case "uniform":
            let lo = try f.required("min").int(), hiNode = try f.required("max"), hi = try hiNode.int()
            guard lo >= 1, hi >= lo, hi <= LengthSpec.maxValue else { throw hiNode.error("need 1 ≤ min ≤ max ≤ 10^9") }
            kind = .uniform(min: lo, max: hi)
        case "normal":
            let mean = try f.required("mean").double()
            let sd = try nonNegative(try f.required("sd"))
            let lo = try f.optional("min")?.double() ?? 1
            let hiNode = f.optional("max")
            let hi = try hiNode?.double() ?? Double.infinity
            guard hi >= lo else { throw node.error("normal: max is below min") }
            guard hi.isInfinite || (mean - lo) / max(sd, 1e-9) > -8 && (hi - mean) / max(sd, 1e-9) > -8 else {
                throw node.error("normal: truncation range [\(lo), \(hi)] is far in the tail; rejection sampling would not end")
            }
            kind = .normal(mean: mean, sd: sd, min: lo, max: hi)
        case "lognormal":
            if f.has("mu") || f.has("sigma") {
                kind = .lognormal(mu: try f.required("mu").double(), sigma: try nonNegative(try f.required("sigma")))
            } else {
                // Convenience form: mean and coefficient of variation of the length itself.
                let mean = try positive(try f.required("mean"))
                let cv = try nonNegative(try f.required("cv"))
                let sigma2 = log(1 + cv * cv)
                kind = .lognormal(mu: log(mean) - sigma2 / 2, sigma: sigma2.squareRoot())
            }
        case "zipf":
            let s = try positive(try f.required("s"))
            let lo = try f.required("min").int(), hiNode = try f.required("max"), hi = try hiNode.int()
            guard lo >= 1, hi >= lo, hi <= LengthSpec.maxValue else { throw hiNode.error("need 1 ≤ min ≤ max ≤ 10^9") }
            guard hi - lo < 10_000_000 else { throw hiNode.error("zipf range is limited to 10,000,000 values") }
            kind = .zipf(s: s, min: lo, max: hi)
        case "empirical":
            let traceNode = try f.required("trace")
            kind = .empirical(trace: try traceNode.string(), column: try f.required("column").string())
            traceLine = traceNode.line
        case "trace":
            kind = .fromTrace
        default:
            throw try f.required("dist").error("unknown distribution '\(dist)' (fixed, uniform, normal, lognormal, zipf, empirical, trace)")
        }
        var spec = LengthSpec(kind: kind)
        spec.line = traceLine
        if let s = f.optional("scale") { spec.scale = try positive(s) }
        if let c = f.optional("clip") {
            let (lo, hi) = try c.doublePair()
            guard lo >= 1, hi <= Double(LengthSpec.maxValue) else { throw c.error("clip bounds must be from 1 to 10^9") }
            spec.clip = (Int(lo), Int(hi))
        }
        try f.finish("distribution '\(dist)'")
        return spec
    }

    static func parseFactor(_ f: inout SpecFields) throws(BenchError) -> FactorRange {
        guard let n = f.optional("factor") else { return .one }
        let (lo, hi) = try n.doublePair()
        guard lo > 0 else { throw n.error("factors must be > 0") }
        return FactorRange(lo: lo, hi: hi)
    }

    static func describe(_ x: Double) -> String {
        x == x.rounded() && abs(x) < 1e15 ? String(Int(x)) : String(x)
    }

    static func describe(_ r: FactorRange) -> String {
        r == .one ? "" : " x U[\(describe(r.lo)),\(describe(r.hi))]"
    }

    static func parseSLO(_ node: SpecNode) throws(BenchError) -> (SLOSpec, [String]) {
        var f = try node.fields()
        var slo = SLOSpec()
        var text: [String] = []
        if let n = f.optional("ttft") {
            if case .scalar = n.node {
                let ms = try positive(n)
                slo.ttft = .fixed(ms: ms, factor: .one)
                text.append("ttft \(describe(ms))ms")
            } else {
                var t = try n.fields()
                if let ms = t.optional("ms") {
                    let v = try positive(ms)
                    let factor = try parseFactor(&t)
                    slo.ttft = .fixed(ms: v, factor: factor)
                    text.append("ttft \(describe(v))ms\(describe(factor))")
                } else if let b = t.optional("bucket_ms") {
                    let tokensNode = t.optional("bucket_tokens")
                    let tokens = try tokensNode?.int() ?? 512
                    guard tokens > 0 else { throw tokensNode!.error("bucket_tokens must be > 0") }
                    var values: [Double] = []
                    for item in try b.list() { values.append(try positive(item)) }
                    guard !values.isEmpty else { throw b.error("bucket_ms is empty") }
                    let factor = try parseFactor(&t)
                    slo.ttft = .perBucket(bucketTokens: tokens, bucketMs: values, factor: factor)
                    text.append("ttft per-\(tokens)-token bucket\(describe(factor))")
                } else if let p = t.optional("predicted") {
                    var pf = try p.fields()
                    let fixed = try nonNegative(try pf.required("fixed_ms"))
                    let per = try nonNegative(try pf.required("per_token_ms"))
                    let sq = try pf.optional("per_token_sq_ms").map { n throws(BenchError) in try nonNegative(n) } ?? 0
                    try pf.finish("predicted")
                    let slack = try nonNegative(try t.required("slack_ms"))
                    slo.ttft = .predicted(fixedMs: fixed, perTokenMs: per, perTokenSqMs: sq, slackMs: slack)
                    text.append("ttft predicted prefill + \(describe(slack))ms")
                } else {
                    throw n.error("ttft needs 'ms', 'bucket_ms' or 'predicted'")
                }
                try t.finish("ttft")
            }
        }
        if let n = f.optional("ttft_of") {
            let v = try n.string()
            guard let point = TTFTPoint(rawValue: v) else { throw n.error("ttft_of must be 'token' or 'content', got '\(v)'") }
            guard slo.ttft != nil else { throw n.error("ttft_of needs a ttft SLO in the same class") }
            slo.ttftOf = point
            if point != .token { text.append("ttft to the first \(v) token") }
        }
        if let n = f.optional("tbt") {
            if case .scalar = n.node {
                let ms = try positive(n)
                slo.tbt = .fixed(ms: ms, factor: .one)
                text.append("tbt \(describe(ms))ms")
            } else {
                var t = try n.fields()
                let ms = try positive(try t.required("ms"))
                let factor = try parseFactor(&t)
                try t.finish("tbt")
                slo.tbt = .fixed(ms: ms, factor: factor)
                text.append("tbt \(describe(ms))ms\(describe(factor))")
            }
        }
        if let n = f.optional("jct") {
            if case .scalar = n.node {
                let s = try positive(n)
                slo.jct = .budget(baseS: s, perOutputTokenMs: 0, perPromptTokenMs: 0, factor: .one)
                text.append("jct \(describe(s))s")
            } else {
                var t = try n.fields()
                let base = try t.optional("s").map { n throws(BenchError) in try nonNegative(n) } ?? 0
                let perOut = try t.optional("per_output_token_ms").map { n throws(BenchError) in try nonNegative(n) } ?? 0
                let perIn = try t.optional("per_prompt_token_ms").map { n throws(BenchError) in try nonNegative(n) } ?? 0
                guard base > 0 || perOut > 0 || perIn > 0 else { throw n.error("jct needs 's', 'per_output_token_ms' or 'per_prompt_token_ms' > 0") }
                let factor = try parseFactor(&t)
                try t.finish("jct")
                slo.jct = .budget(baseS: base, perOutputTokenMs: perOut, perPromptTokenMs: perIn, factor: factor)
                var parts: [String] = []
                if base > 0 { parts.append("\(describe(base))s") }
                if perOut > 0 { parts.append("\(describe(perOut))ms/output token") }
                if perIn > 0 { parts.append("\(describe(perIn))ms/prompt token") }
                text.append("jct (\(parts.joined(separator: " + ")))\(describe(factor))")
            }
        }
        try f.finish("slo")
        return (slo, text)
    }

    static func parsePrefix(_ node: SpecNode) throws(BenchError) -> PrefixSpec {
        if case .scalar = node.node {
            switch try node.string() {
            case "trace": return PrefixSpec(mode: .fromTrace)
            case "none": return PrefixSpec(mode: .none)
            default: throw node.error("prefix must be 'trace', 'none' or a mapping {groups, tokens}")
            }
        }
        var f = try node.fields()
        let gNode = try f.required("groups"), tNode = try f.required("tokens")
        let groups = try gNode.int(), tokens = try tNode.int()
        guard groups >= 1 else { throw gNode.error("groups must be ≥ 1") }
        guard tokens >= 1 else { throw tNode.error("tokens must be ≥ 1") }
        try f.finish("prefix")
        return PrefixSpec(mode: .groups(count: groups, tokens: tokens))
    }
}
