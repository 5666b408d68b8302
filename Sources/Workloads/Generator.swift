import BenchCore
import Foundation
import HeapModule

/// The version written into workload headers; bump when generation output changes.
public let generatorVersion = "accelbench 0.1.0"

/// How much to generate; command-line values override the spec's.
public struct GenerateOptions: Sendable {
    public var seed: UInt64?
    /// Total mean offered rate in requests/s; every arrival process is scaled by
    /// rate / (sum of the processes' nominal rates).
    public var rate: Double?
    public var count: Int?
    public var durationS: Double?

    public init(seed: UInt64? = nil, rate: Double? = nil, count: Int? = nil, durationS: Double? = nil) {
        self.seed = seed
        self.rate = rate
        self.count = count
        self.durationS = durationS
    }
}

/// Reads trace files once per generation (several classes may sample the same file).
struct TraceCache {
    let spec: WorkloadSpec
    let specFile: String
    var bytes: [String: [UInt8]] = [:]
    var traces: [String: Trace] = [:]
    var columns: [String: [Int]] = [:]
    /// Files read, in first-use order, for the digest.
    var order: [String] = []

    init(spec: WorkloadSpec, specFile: String) {
        self.spec = spec
        self.specFile = specFile
    }

    func resolve(_ path: String) -> String {
        path.hasPrefix("/") ? path : (spec.baseDirectory as NSString).appendingPathComponent(path)
    }

    mutating func load(_ path: String, field: String, line: Int? = nil) throws(BenchError) -> [UInt8] {
        if let b = bytes[path] { return b }
        let full = resolve(path)
        guard let data = FileManager.default.contents(atPath: full) else {
            let exists = FileManager.default.fileExists(atPath: full)
            throw BenchError.data(specFile, line: line, field: field,
                                  exists ? "cannot read trace file '\(full)'" : "trace file '\(full)' not found")
        }
        let b = [UInt8](data)
        bytes[path] = b
        order.append(path)
        return b
    }

    mutating func trace(_ t: TraceArrivalSpec, field: String) throws(BenchError) -> Trace {
        let key = "\(t.path)|\(t.format?.rawValue ?? "")"
        if let tr = traces[key] { return tr }
        let b = try load(t.path, field: field, line: t.line)
        let tr = try TraceReader.parse(b, file: resolve(t.path), format: t.format)
        traces[key] = tr
        return tr
    }

    mutating func column(_ path: String, _ name: String, field: String, line: Int? = nil) throws(BenchError) -> [Int] {
        let key = "\(path)|\(name)"
        if let c = columns[key] { return c }
        let b = try load(path, field: field, line: line)
        let values = try TraceReader.column(b, file: resolve(path), name: name)
        guard !values.isEmpty else { throw BenchError.data(resolve(path), field: name, "column has no values") }
        let ints = values.map { Int($0.rounded()) }
        columns[key] = ints
        return ints
    }
}

/// Turns a spec into a workload: every arrival, length and SLO fixed by (spec, seed, options).
public struct WorkloadGenerator {
    public let spec: WorkloadSpec
    /// File name used in error messages.
    public let specFile: String

    public init(spec: WorkloadSpec, specFile: String) {
        self.spec = spec
        self.specFile = specFile
    }

    /// One arrival process with the classes that draw from it.
    struct Process {
        var stream: ArrivalStream
        /// (class index, cumulative share upper bound)
        var classes: [(Int, Double)]
        var trace: Trace?
        var prefixGroups: [(group: Int, tokens: Int)?]?
    }

    struct ClassRuntime {
        let spec: ClassSpec
        let prompt: LengthSampler
        let output: LengthSampler
        let slo: SLOSampler
        let joint: Bool
        let groupOffset: Int
        /// Session classes: turns per session and think time (ms).
        var turns: LengthSampler? = nil
        var thinkMs: LengthSampler? = nil
    }

    /// Prefix groups of sessions start here, clear of the spec's and a trace's groups (our choice).
    public static let sessionGroupBase = 1 << 40

    /// The most requests one workload holds: 100 million. Our choice: about 10 GB of JSONL and of
    /// memory, far past the largest shipped run (721,213 requests), and a clear error instead of
    /// an allocation that cannot succeed.
    public static let maxRequests = 100_000_000

    public func generate(_ options: GenerateOptions = .init()) throws(BenchError) -> Workload {
        let seed = options.seed ?? spec.seed
        var cache = TraceCache(spec: spec, specFile: specFile)
        var count = options.count
        var duration = options.durationS
        if count == nil && duration == nil {
            count = spec.count
            duration = spec.durationS
        }
        let arrivals = try loadArrivals(&cache)
        if let count, count > WorkloadGenerator.maxRequests {
            throw BenchError.usage("\(count) requests asked for (--count or 'count' in \(specFile)); a workload holds at most \(WorkloadGenerator.maxRequests)")
        }
        if count == nil && duration == nil && !arrivals.traceDriven {
            throw BenchError.usage("give --count or --duration (or 'count' / 'duration_s' in \(specFile))")
        }
        var rateFactor = 1.0
        if let rate = options.rate {
            guard rate > 0, rate.isFinite else { throw BenchError.usage("--rate must be > 0") }
            guard arrivals.nominal > 0 else { throw BenchError.usage("--rate: the spec's arrival processes have no nominal rate to scale") }
            rateFactor = rate / arrivals.nominal
        }
        let runtimes = try classRuntimes(&cache)
        let processes = makeProcesses(arrivals, rateFactor: rateFactor, seed: seed)
        let requests = try merge(processes, runtimes: runtimes, count: count, duration: duration, seed: seed)
        let header = WorkloadHeader(generator: generatorVersion, specName: spec.name, specDigest: digest(cache), seed: seed,
                                    rateRps: arrivals.nominal > 0 ? arrivals.nominal * rateFactor : nil, count: requests.count,
                                    durationS: duration ?? requests.last!.arrivalS, classes: spec.classes.map {
                                        WorkloadClassInfo(name: $0.name, kind: $0.kind, share: $0.share, sloRule: $0.sloRuleText)
                                    })
        return Workload(header: header, requests: requests)
    }

    /// The spec's arrival processes (the shared one, then per class), with their traces read and
    /// prepared first: a trace-driven process's nominal rate is known only after reading.
    private struct Arrivals {
        var specs: [(spec: ArrivalSpec, members: [Int], field: String)] = []
        var prepared: [(times: [Double], rows: [Int])?] = []
        var traces: [Trace?] = []
        var nominal = 0.0
        var traceDriven = false
    }

    private func loadArrivals(_ cache: inout TraceCache) throws(BenchError) -> Arrivals {
        var a = Arrivals()
        if let shared = spec.arrival {
            a.specs.append((shared, spec.classes.indices.filter { spec.classes[$0].arrival == nil }, "arrival"))
        }
        for (i, c) in spec.classes.enumerated() {
            if let arrival = c.arrival { a.specs.append((arrival, [i], "classes[\(i)].arrival")) }
        }
        for (process, _, field) in a.specs {
            guard case .trace(let t) = process else {
                a.prepared.append(nil)
                a.traces.append(nil)
                a.nominal += process.nominalRate ?? 0
                continue
            }
            a.traceDriven = true
            let tr = try cache.trace(t, field: field + ".trace")
            let p = try t.prepare(tr, specFile: specFile)
            a.prepared.append(p)
            a.traces.append(tr)
            if p.times.count >= 2, let last = p.times.last, last > p.times[0] {
                a.nominal += Double(p.times.count - 1) / (last - p.times[0])
            }
        }
        return a
    }

    /// Each class's samplers, with their empirical tables loaded.
    private func classRuntimes(_ cache: inout TraceCache) throws(BenchError) -> [ClassRuntime] {
        var runtimes: [ClassRuntime] = []
        var groupOffset = 0
        for (i, c) in spec.classes.enumerated() {
            var promptTable: [Int]?
            var outputTable: [Int]?
            if case .empirical(let path, let col) = c.prompt.kind {
                promptTable = try cache.column(path, col, field: "classes[\(i)].prompt", line: c.prompt.line)
            }
            if case .empirical(let path, let col) = c.output.kind {
                outputTable = try cache.column(path, col, field: "classes[\(i)].output", line: c.output.line)
            }
            var joint = false
            if case .empirical(let p1, _) = c.prompt.kind, case .empirical(let p2, _) = c.output.kind, p1 == p2,
               promptTable!.count == outputTable!.count {
                joint = true
            }
            var rt = ClassRuntime(spec: c, prompt: LengthSampler(c.prompt, empirical: promptTable),
                                  output: LengthSampler(c.output, empirical: outputTable),
                                  slo: SLOSampler(spec: c.slo), joint: joint, groupOffset: groupOffset)
            if let session = c.session {
                rt.turns = LengthSampler(session.turns, empirical: nil)
                rt.thinkMs = LengthSampler(session.thinkMs, empirical: nil)
            }
            runtimes.append(rt)
            if case .groups(let n, _) = c.prefix.mode { groupOffset += n }
        }
        return runtimes
    }

    /// One seeded arrival stream per process, with its members' cumulative shares.
    private func makeProcesses(_ arrivals: Arrivals, rateFactor: Double, seed: UInt64) -> [Process] {
        var processes: [Process] = []
        for (pi, (a, members, _)) in arrivals.specs.enumerated() {
            var cum = 0.0
            var table: [(Int, Double)] = []
            for m in members {
                cum += spec.classes[m].share ?? 1
                table.append((m, cum))
            }
            table[table.count - 1].1 = .infinity  // guard against rounding in the share sum
            let impl = ArrivalStream.Impl.make(a, rateFactor: rateFactor, traceTimes: arrivals.prepared[pi])
            var groups: [(group: Int, tokens: Int)?]?
            if let tr = arrivals.traces[pi], members.contains(where: { spec.classes[$0].prefix.mode == .fromTrace }) {
                groups = TraceReader.prefixGroups(tr)
            }
            processes.append(Process(stream: ArrivalStream(impl, seed: seed, stream: UInt64(pi)), classes: table,
                                     trace: arrivals.traces[pi], prefixGroups: groups))
        }
        return processes
    }

    /// An arrival not yet taken, ordered by time, then process, then its index in the process.
    private struct Pending: Comparable {
        var time: Double
        var process: Int
        var local: Int
        var row: Int?
        static func < (a: Pending, b: Pending) -> Bool {
            (a.time, a.process, a.local) < (b.time, b.process, b.local)
        }
        static func == (a: Pending, b: Pending) -> Bool { a.time == b.time && a.process == b.process && a.local == b.local }
    }

    /// The processes merged in time order into requests, up to `count` or `duration`.
    private func merge(_ processes: [Process], runtimes: [ClassRuntime], count: Int?, duration: Double?,
                       seed: UInt64) throws(BenchError) -> [WorkloadRequest] {
        var processes = processes
        var heap = Heap<Pending>()
        var localCounts = [Int](repeating: 0, count: processes.count)
        for pi in processes.indices {
            if let (t, row) = processes[pi].stream.next() {
                heap.insert(Pending(time: t, process: pi, local: 0, row: row))
                localCounts[pi] = 1
            }
        }
        var requests: [WorkloadRequest] = []
        if let count { requests.reserveCapacity(count) }
        // An arrival is one request, or the start of a session of several (`count` counts arrivals).
        var arrivalsTaken = 0
        var sessions = 0
        while let p = heap.popMin() {
            if let count, arrivalsTaken >= count { break }
            let time = SLOSampler.round(p.time, decimals: 1e6)
            if let duration, time >= duration { break }
            if requests.count >= WorkloadGenerator.maxRequests {
                throw BenchError.usage("--duration (or 'duration_s' in \(specFile)) at this rate makes more than \(WorkloadGenerator.maxRequests) requests, the most a workload holds")
            }
            let r = makeRequest(id: requests.count, time: time, pending: (p.process, p.local, p.row),
                                processes: processes, runtimes: runtimes, seed: seed)
            if let session = runtimes.first(where: { $0.spec.name == r.className })?.spec.session {
                requests += sessionTurns(of: r, session: session, id: sessions, pending: (p.process, p.local),
                                         runtime: runtimes.first { $0.spec.name == r.className }!, seed: seed)
                sessions += 1
            } else {
                requests.append(r)
            }
            arrivalsTaken += 1
            if let (t, row) = processes[p.process].stream.next() {
                heap.insert(Pending(time: t, process: p.process, local: localCounts[p.process], row: row))
                localCounts[p.process] += 1
            }
        }
        if let count, arrivalsTaken < count {
            throw BenchError.usage("the trace(s) in \(specFile) hold only \(arrivalsTaken) arrivals; asked for \(count) requests (--count or the spec's count)")
        }
        guard !requests.isEmpty else {
            throw BenchError.usage("the spec produced no requests (duration shorter than the first arrival?)")
        }
        if sessions > 0 {
            // Later turns go where their nominal times put them; ids follow that order.
            requests = requests.enumerated().sorted { ($0.element.arrivalS, $0.offset) < ($1.element.arrivalS, $1.offset) }.map(\.element)
            for i in requests.indices { requests[i].id = i }
        }
        return requests
    }

    /// The turns of the session that `first` (a session class's arrival) starts. Turn k's prompt
    /// is the history (turns 0..<k: prompts and answers) plus new user tokens drawn from the
    /// class's `prompt`; every turn's whole prompt is its session's prefix group, so turn k
    /// shares turn k − 1's prompt tokens (its answer is only a stand-in: a server's cache holds
    /// the real one). Draws come from the arrival's own generator, after `makeRequest`'s.
    private func sessionTurns(of first: WorkloadRequest, session: SessionSpec, id sid: Int, pending: (process: Int, local: Int),
                              runtime rt: ClassRuntime, seed: UInt64) -> [WorkloadRequest] {
        var rng = SeededRNG(seed: seed, stream: 0x5E55_1000 &+ UInt64(pending.process), index: UInt64(pending.local))
        let turns = rt.turns!.sample(&rng, row: nil, traceValue: nil)
        var out: [WorkloadRequest] = []
        var history = 0
        var t = first.arrivalS
        for k in 0..<turns {
            let user = k == 0 ? first.promptTokens : rt.prompt.sample(&rng, row: nil, traceValue: nil)
            var output = k == 0 ? first.outputTokens : rt.output.sample(&rng, row: nil, traceValue: nil)
            let think = k == 0 ? 0 : SLOSampler.round(Double(rt.thinkMs!.sample(&rng, row: nil, traceValue: nil)) / 1000, decimals: 1e6)
            t = SLOSampler.round(t + think, decimals: 1e6)
            var prompt = history + user
            var shared = true
            if let limit = session.maxContext, prompt + output > limit {
                if session.onOverflow == .end && k > 0 { break }
                output = min(output, limit - 1)
                prompt = limit - output
                shared = false
            }
            let slo = k == 0 ? first.slo : rt.slo.sample(prompt: prompt, output: output, &rng)
            var r = WorkloadRequest(id: first.id + k, arrivalS: t, className: first.className, promptTokens: prompt, outputTokens: output,
                                    slo: slo, prefixGroup: shared ? WorkloadGenerator.sessionGroupBase + sid : nil,
                                    prefixTokens: shared ? prompt : nil)
            r.session = SessionTurn(id: sid, turn: k, thinkS: think)
            out.append(r)
            history = prompt + output
        }
        return out
    }

    /// Digest of the spec text and every trace file it read.
    private func digest(_ cache: TraceCache) -> String {
        var sha = SHA256()
        sha.update("accelbench-spec\u{0}")
        sha.update(spec.text)
        for path in cache.order {
            sha.update("\u{0}\(path)\u{0}")
            sha.update(cache.bytes[path]!)
        }
        return "sha256:" + sha.hexDigest()
    }

    private func makeRequest(id: Int, time: Double, pending: (process: Int, local: Int, row: Int?),
                             processes: [Process], runtimes: [ClassRuntime], seed: UInt64) -> WorkloadRequest {
        let proc = processes[pending.process]
        // Per-arrival attribute generator: depends on (seed, process, index) only, not on the rate.
        var rng = SeededRNG(seed: seed, stream: 0x1000 &+ UInt64(pending.process), index: UInt64(pending.local))
        var classIndex = proc.classes[0].0
        if proc.classes.count > 1 {
            let u = rng.uniform()
            for (ci, upper) in proc.classes where u < upper {
                classIndex = ci
                break
            }
        }
        let rt = runtimes[classIndex]
        let traceRow = pending.row.flatMap { proc.trace?.rows[$0] }
        var row: Int?
        if rt.joint, case .empirical(let values) = rt.prompt.impl {
            row = rng.index(below: values.count)
        }
        var prompt = rt.prompt.sample(&rng, row: row, traceValue: traceRow?.promptTokens)
        var output = rt.output.sample(&rng, row: row, traceValue: traceRow?.outputTokens)
        if let limit = rt.spec.maxTotalTokens, prompt + output > limit {
            let fixedByTrace = rt.prompt.impl.isFromTrace && rt.output.impl.isFromTrace
            var tries = 0
            while !fixedByTrace, prompt + output > limit, tries < 100 {
                if rt.joint, case .empirical(let values) = rt.prompt.impl { row = rng.index(below: values.count) }
                prompt = rt.prompt.sample(&rng, row: row, traceValue: traceRow?.promptTokens)
                output = rt.output.sample(&rng, row: row, traceValue: traceRow?.outputTokens)
                tries += 1
            }
            if prompt + output > limit {
                output = min(output, limit - 1)
                prompt = limit - output
            }
        }
        let slo = rt.slo.sample(prompt: prompt, output: output, &rng)
        var group: Int?
        var prefixTokens: Int?
        switch rt.spec.prefix.mode {
        case .groups(let n, let tokens):
            group = rt.groupOffset + rng.index(below: n)
            prefixTokens = min(tokens, prompt)
        case .fromTrace:
            if let r = pending.row, let g = proc.prefixGroups?[r] {
                group = g.group
                prefixTokens = min(g.tokens, prompt)
            }
        case .none:
            break
        }
        return WorkloadRequest(id: id, arrivalS: time, className: rt.spec.name, promptTokens: prompt, outputTokens: output,
                               slo: slo, prefixGroup: group, prefixTokens: prefixTokens)
    }
}
