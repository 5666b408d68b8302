import BenchCore
import Histogram

/// Options that change how run records become numbers.
public struct MetricsOptions: Sendable, Equatable {
    public var tbtMode: TBTMode
    /// Seconds after run start whose arrivals are excluded (warm-up).
    public var warmupS: Double
    /// Seconds before the run's end whose arrivals are excluded (cool-down / drain).
    public var cooldownS: Double

    public init(tbtMode: TBTMode = .max, warmupS: Double = 0, cooldownS: Double = 0) {
        self.tbtMode = tbtMode
        self.warmupS = warmupS
        self.cooldownS = cooldownS
    }
}

/// Latency summary in milliseconds. Percentiles come from an HDR histogram at 3 significant
/// digits (microsecond units); mean and max are exact.
public struct LatencyStats: Sendable, Equatable {
    public var count: Int
    public var mean: Double
    public var p50: Double
    public var p90: Double
    public var p95: Double
    public var p99: Double
    public var p999: Double
    public var max: Double
}

/// Accumulates one latency quantity (seconds in; whole microseconds inside). Sums are kept in
/// integer microseconds so merging partial accumulators in any order gives the same bytes.
struct LatencyAccumulator {
    var hist: Histogram<UInt64>
    var sumMicros: UInt64 = 0
    var count = 0
    var maxMicros: UInt64 = 0
    /// Counts of values below `denseLimitMicros`, one per microsecond, kept apart from `hist`
    /// and added to it when read: a plain increment per value where the histogram's record
    /// costs several times more (per-token gaps: 590 M in a fleet hour). Allocated on first use.
    var dense: [UInt64] = []
    let denseLimitMicros: Int

    /// - Parameter denseLimitMicros: values below it are counted per microsecond first (0: none).
    ///   The histogram comes out the same either way.
    init(denseLimitMicros: Int = 0) {
        // 60 s tracked at first; grows on demand (long batch jobs).
        hist = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        hist.autoResize = true
        self.denseLimitMicros = denseLimitMicros
    }

    @inline(__always)
    mutating func record(_ seconds: Double) {
        recordMicros(seconds > 0 ? UInt64(JSONWriter.roundHalfAway(seconds * 1e6)) : 0)
    }

    @inline(__always)
    mutating func recordMicros(_ us: UInt64) {
        sumMicros &+= us
        count += 1
        if us > maxMicros { maxMicros = us }
        _ = hist.record(us)
    }

    /// Records many values through `body` (a request's token gaps): dense counts where they
    /// apply, the histogram for the rest.
    @inline(__always)
    mutating func tally<R>(_ body: (inout MicrosTally) -> R) -> R {
        if dense.isEmpty && denseLimitMicros > 0 { dense = [UInt64](repeating: 0, count: denseLimitMicros) }
        var large: [UInt64] = []
        var sum: UInt64 = 0, n = 0, top: UInt64 = 0
        let result = dense.withUnsafeMutableBufferPointer { counts in
            var t = MicrosTally(counts: counts)
            let r = body(&t)
            large = t.large
            sum = t.sum
            n = t.count
            top = t.max
            return r
        }
        sumMicros &+= sum
        count += n
        if top > maxMicros { maxMicros = top }
        for us in large { _ = hist.record(us) }
        return result
    }

    /// The histogram of every value recorded (the dense counts added).
    var fullHistogram: Histogram<UInt64> {
        var h = hist
        for (us, n) in dense.enumerated() where n > 0 { _ = h.record(UInt64(us), count: n) }
        return h
    }

    /// `t` in whole microseconds, rounded half away from zero as records are stored; non-finite
    /// or out-of-range values are clamped (they cannot come from a clock).
    @inline(__always)
    static func wholeMicros(_ t: Double) -> Int64 {
        let y = t * 1e6
        guard y.magnitude < 4.5e15 else { return y.isNaN ? 0 : (y > 0 ? 1 << 52 : -(1 << 52)) }
        return JSONWriter.roundedInt64(y)
    }

    mutating func merge(_ o: LatencyAccumulator) {
        guard o.count > 0 else { return }
        sumMicros &+= o.sumMicros
        count += o.count
        maxMicros = Swift.max(maxMicros, o.maxMicros)
        hist.add(o.hist)
        if dense.count == o.dense.count {
            dense.withUnsafeMutableBufferPointer { d in o.dense.withUnsafeBufferPointer { od in
                for k in 0..<d.count { d[k] &+= od[k] }
            } }
        } else if dense.isEmpty && o.denseLimitMicros == denseLimitMicros {
            dense = o.dense
        } else {
            for (us, n) in o.dense.enumerated() where n > 0 { _ = hist.record(UInt64(us), count: n) }
        }
    }

    var stats: LatencyStats? {
        guard count > 0 else { return nil }
        let hist = fullHistogram
        func p(_ q: Double) -> Double { Double(hist.valueAtPercentile(q)) / 1000 }
        return LatencyStats(count: count, mean: Double(sumMicros) / Double(count) / 1000, p50: p(50), p90: p(90), p95: p(95),
                            p99: p(99), p999: p(99.9), max: Double(maxMicros) / 1000)
    }
}

/// Values being recorded into a `LatencyAccumulator` (see `tally`).
struct MicrosTally {
    let counts: UnsafeMutableBufferPointer<UInt64>
    var large: [UInt64] = []
    var sum: UInt64 = 0
    var count = 0
    var max: UInt64 = 0

    @inline(__always)
    mutating func add(_ us: UInt64) {
        sum &+= us
        count += 1
        if us > max { max = us }
        if us < UInt64(counts.count) { counts[Int(us)] &+= 1 } else { large.append(us) }
    }
}

/// Counters and distributions for one class (or, merged, for all).
struct GroupAccumulator {
    var total = 0
    var completed = 0
    var failed = 0
    /// Of the failed: never admitted (status `rejected`), and dropped by the engine's drop rule.
    var rejected = 0
    var dropped = 0
    var met = 0
    var ttftHave = 0, ttftMet = 0
    var tbtHave = 0, tbtMet = 0
    var jctHave = 0, jctMet = 0
    var gapsTotal = 0, gapsMet = 0
    var inputTokens = 0
    var outputTokens = 0
    var goodOutputTokens = 0
    var ttft = LatencyAccumulator()
    /// Token gaps under 0.25 s (2 MiB of counts per class; our choice) are counted densely.
    var tbt = LatencyAccumulator(denseLimitMicros: 1 << 18)
    var tpot = LatencyAccumulator()
    var e2e = LatencyAccumulator()
    var missRates: [Double] = []
    /// Completed requests that streamed reasoning, their reasoning tokens, and their times to
    /// the first token of any kind and to the first answer token.
    var reasoningRequests = 0
    var reasoningTokens = 0
    var firstAnyToken = LatencyAccumulator()
    var firstContent = LatencyAccumulator()

    mutating func merge(_ o: GroupAccumulator) {
        reasoningRequests += o.reasoningRequests; reasoningTokens += o.reasoningTokens
        firstAnyToken.merge(o.firstAnyToken); firstContent.merge(o.firstContent)
        total += o.total; completed += o.completed; failed += o.failed; met += o.met
        rejected += o.rejected; dropped += o.dropped
        ttftHave += o.ttftHave; ttftMet += o.ttftMet
        tbtHave += o.tbtHave; tbtMet += o.tbtMet
        jctHave += o.jctHave; jctMet += o.jctMet
        gapsTotal += o.gapsTotal; gapsMet += o.gapsMet
        inputTokens += o.inputTokens; outputTokens += o.outputTokens; goodOutputTokens += o.goodOutputTokens
        ttft.merge(o.ttft); tbt.merge(o.tbt); tpot.merge(o.tpot); e2e.merge(o.e2e)
        missRates.append(contentsOf: o.missRates)
    }
}

/// Turns run records into a `Summary`, streaming: memory is per class, not per token, so a
/// million requests of hundreds of tokens fit easily. Accumulators over disjoint record sets
/// can be merged (used to spread the work over cores).
public struct MetricsAccumulator {
    public let options: MetricsOptions
    /// Arrivals at or after this (and, if set, before `windowEndS`) are measured.
    let windowStartS: Double
    let windowEndS: Double?
    var classIndex: [String: Int] = [:]
    var classNames: [String] = []
    var groups: [GroupAccumulator] = []
    var lag = LatencyAccumulator()
    var lagCount = 0
    /// Latest instant seen in any record (the run's end when the driver does not say).
    public private(set) var lastInstantS = 0.0
    /// Multi-turn sessions (records with `session`).
    var sessions = SessionAccumulator()
    var excluded = 0

    /// - Parameters:
    ///   - classes: class names in display order (e.g. the workload header's); others are added as seen.
    ///   - windowEndS: the run's end minus the cool-down, when a cool-down is asked for (it needs
    ///     the run's end, hence a first pass: see `Metrics.runEnd`).
    public init(options: MetricsOptions, classes: [String] = [], windowEndS: Double? = nil) {
        self.options = options
        windowStartS = options.warmupS
        self.windowEndS = windowEndS
        for c in classes { _ = index(of: c) }
    }

    mutating func index(of name: String) -> Int {
        if let i = classIndex[name] { return i }
        let i = classNames.count
        classIndex[name] = i
        classNames.append(name)
        groups.append(GroupAccumulator())
        return i
    }

    /// `add(r.quantized())` without the quantized copy of the token times (each is quantized
    /// as it is read): what a results writer measures.
    public mutating func addQuantizing(_ r: RequestRecord) {
        var head = r
        head.tokenTimesS = []
        head = head.quantized()
        let last = r.tokenTimesS.last.map { RequestRecord.quantize($0, 1e6) }
        head.tokenTimesS = r.tokenTimesS
        add(head, lastTokenS: last, quantizeTimes: true)
    }

    public mutating func add(_ r: RequestRecord) {
        add(r, lastTokenS: r.tokenTimesS.last, quantizeTimes: false)
    }

    @inline(__always)
    mutating func add(_ r: RequestRecord, lastTokenS: Double?, quantizeTimes: Bool) {
        let end = Metrics.lastInstant(of: r, lastTokenS: lastTokenS)
        if end > lastInstantS { lastInstantS = end }
        let ci = index(of: r.className)
        if r.intendedS < windowStartS || (windowEndS.map { r.intendedS > $0 } ?? false) {
            excluded += 1
            return
        }
        if let sent = r.sentS {
            lag.record(sent - r.intendedS)
            lagCount += 1
        }
        let v = groups[ci].add(r, mode: options.tbtMode, quantizeTimes: quantizeTimes)
        if let session = r.session, let turn = r.turn {
            sessions.add(r, session: session, turn: turn, met: v.met, ttftS: v.ttftS)
        }
    }

    public mutating func merge(_ other: MetricsAccumulator) {
        for (i, name) in other.classNames.enumerated() {
            let ci = index(of: name)
            groups[ci].merge(other.groups[i])
        }
        lag.merge(other.lag)
        lagCount += other.lagCount
        sessions.merge(other.sessions)
        lastInstantS = Swift.max(lastInstantS, other.lastInstantS)
        excluded += other.excluded
    }

    /// - Parameter runEndS: the run's end (seconds since start) if the driver knows it;
    ///   otherwise the latest instant in any record.
    public func finish(runEndS: Double? = nil, run: RunInfo = RunInfo()) throws(BenchError) -> Summary {
        let end = runEndS ?? lastInstantS
        let windowEnd = windowEndS ?? (end - options.cooldownS)
        let window = windowEnd - windowStartS
        var all = GroupAccumulator()
        for g in groups { all.merge(g) }
        guard all.total > 0 else {
            throw BenchError.data(run.source, "no requests in the measurement window [\(windowStartS), \(windowEnd)] s (\(excluded) excluded by --warmup/--cooldown)")
        }
        guard window > 0 else {
            throw BenchError.data(run.source, "the measurement window [\(windowStartS), \(windowEnd)] s is empty")
        }
        var byClass: [(String, GroupSummary)] = []
        for (i, name) in classNames.enumerated() where groups[i].total > 0 {
            byClass.append((name, GroupSummary(groups[i], windowS: window)))
        }
        var reasons = run.invalidReasons
        if run.interrupted { reasons.append("interrupted before all requests finished") }
        var summary = Summary(run: run, options: options, windowStartS: windowStartS, windowS: window, excluded: excluded,
                              overall: GroupSummary(all, windowS: window), classes: byClass,
                              dispatchLagMs: lag.stats, valid: reasons.isEmpty, invalidReasons: reasons)
        summary.sessions = sessions.summary
        return summary
    }
}

extension GroupAccumulator {
    /// A completed reasoning stream: its token split and both first-token times.
    mutating func addReasoning(_ r: RequestRecord, firstTokenTime: Double?) {
        reasoningRequests += 1
        reasoningTokens += r.reasoningTokens
        if let t = r.firstTokenS ?? firstTokenTime { firstAnyToken.record(t - r.intendedS) }
        if let t = r.firstContentS { firstContent.record(t - r.intendedS) }
    }

    /// Counts `r`; returns its verdict and TTFT (for the session view).
    @inline(__always) @discardableResult
    mutating func add(_ r: RequestRecord, mode: TBTMode, quantizeTimes: Bool = false) -> (met: Bool, ttftS: Double?) {
        total += 1
        let ok = r.isOK
        if ok {
            completed += 1
        } else {
            failed += 1
            if r.status == "rejected" { rejected += 1 } else if r.status == "dropped" { dropped += 1 }
        }
        let times = r.tokenTimesS
        @inline(__always) func at(_ i: Int) -> Double { quantizeTimes ? RequestRecord.quantize(times[i], 1e6) : times[i] }
        let first = r.ttftEnd(firstTokenTime: times.isEmpty ? nil : at(0))
        let ttftS = first.map { $0 - r.intendedS }
        let e2eS = r.doneS.map { $0 - r.intendedS }
        let tbtSLO = r.slo.tbtMs.map { $0 / 1000 + 5e-7 }
        var fluid: EtalonDeadlineCounter?
        if ok, let ttftS, let t = r.slo.ttftMs, let b = r.slo.tbtMs {
            fluid = EtalonDeadlineCounter(ttftDeadline: t / 1000, tbtDeadline: b / 1000)
            fluid!.observe(ttftS)
        }
        var maxGap = 0.0
        let n = times.count
        if n >= 2 {
            // Gaps are whole microseconds between token times rounded to the microsecond, as
            // they are stored, so a record measures the same before it is written and after it is
            // read back, and the per-token loop stays in integers (590 M tokens in a fleet hour).
            // `gapUs <= limitUs` is `gap <= tbtSLO` for a gap of whole microseconds.
            let limitUs = tbtSLO.map { s in
                let y = (s * 1e6).rounded(.down)
                return y.magnitude < 4.5e15 ? Int64(y) : (y > 0 ? Int64.max : Int64.min)
            } ?? .max
            var prevUs = LatencyAccumulator.wholeMicros(times[0])
            var maxGapUs: Int64 = 0
            var met = 0
            func scan(measured: Bool, _ gapsInto: (UInt64) -> Void) {
                for i in 1..<n {
                    let us = LatencyAccumulator.wholeMicros(times[i])
                    let gapUs = us - prevUs
                    if gapUs > maxGapUs { maxGapUs = gapUs }
                    if gapUs <= limitUs { met += 1 }
                    if measured {
                        gapsInto(UInt64(Swift.max(gapUs, 0)))
                        // Fluidity sums slack in seconds: the same differences of stored times.
                        fluid?.observe(Double(us) / 1e6 - Double(prevUs) / 1e6)
                    }
                    prevUs = us
                }
            }
            if ok {
                tbt.tally { t in scan(measured: true) { t.add($0) } }
            } else {
                scan(measured: false) { _ in }
            }
            maxGap = Double(maxGapUs) / 1e6
            if ok, tbtSLO != nil {
                gapsTotal += n - 1
                gapsMet += met
            }
        }
        var stat: Double?
        if n >= 2 {
            switch mode {
            case .max: stat = maxGap
            case .mean: stat = (at(n - 1) - at(0)) / Double(n - 1)
            case .p99: stat = SLOVerdict.p99Gap(quantizeTimes ? times.map { RequestRecord.quantize($0, 1e6) } : times)
            }
        }
        let v = SLOVerdict.judge(r, ttftS: ttftS, tbtStatS: stat, e2eS: e2eS)
        if r.slo.ttftMs != nil { ttftHave += 1; if v.ttftMet { ttftMet += 1 } }
        if r.slo.tbtMs != nil { tbtHave += 1; if v.tbtMet { tbtMet += 1 } }
        if r.slo.jctS != nil { jctHave += 1; if v.jctMet { jctMet += 1 } }
        if let fluid { missRates.append(fluid.missRate) }
        if ok {
            inputTokens += r.promptTokens
            outputTokens += r.outputTokens
            if let ttftS { ttft.record(ttftS) }
            if r.reasoningTokens > 0 { addReasoning(r, firstTokenTime: times.isEmpty ? nil : at(0)) }
            if let e2eS { e2e.record(e2eS) }
            if n >= 2 { tpot.record((at(n - 1) - at(0)) / Double(n - 1)) }
        }
        if v.met {
            met += 1
            goodOutputTokens += r.outputTokens
        }
        return (v.met, ttftS)
    }
}

/// Facts about the run that records alone do not carry.
public struct RunInfo: Sendable, Equatable {
    /// "engine:sim", "endpoint:http://…", "fixture", …
    public var target: String
    /// Used in error messages (the results directory).
    public var source: String
    public var interrupted: Bool
    public var invalidReasons: [String]
    public var workload: WorkloadHeader?
    /// Engine runs: iterations executed and preemptions (nil for endpoint runs).
    public var engineIterations: Int?
    public var enginePreemptions: Int?
    /// Fleet runs (`accelbench cluster`): GPU-hours, scale events, peak instances. Kept in
    /// run.json so a recomputed summary carries it too.
    public var cluster: JSONValue?
    /// Segments started at a wall-clock instant (`run --start-at`): the start and the clock's state.
    public var clock: JSONValue?

    public init(target: String = "unknown", source: String = "results", interrupted: Bool = false,
                invalidReasons: [String] = [], workload: WorkloadHeader? = nil) {
        self.target = target
        self.source = source
        self.interrupted = interrupted
        self.invalidReasons = invalidReasons
        self.workload = workload
    }
}

public enum Metrics {
    /// The latest instant a record mentions: its completion, else its last token, else its send.
    @inline(__always)
    public static func lastInstant(of r: RequestRecord) -> Double {
        lastInstant(of: r, lastTokenS: r.tokenTimesS.last)
    }

    /// The same, given the last token time (quantized apart from the record's others).
    @inline(__always)
    static func lastInstant(of r: RequestRecord, lastTokenS: Double?) -> Double {
        r.doneS ?? lastTokenS ?? r.sentS ?? r.intendedS
    }

    /// Computes a summary over records that can be iterated (twice when a cool-down is asked for).
    public static func summarize<S: Sequence>(_ records: S, classes: [String] = [], options: MetricsOptions = .init(),
                                              runEndS: Double? = nil, run: RunInfo = RunInfo()) throws(BenchError) -> Summary
    where S.Element == RequestRecord {
        var windowEnd: Double?
        if options.cooldownS > 0 {
            let end = runEndS ?? records.reduce(0.0) { Swift.max($0, lastInstant(of: $1)) }
            windowEnd = end - options.cooldownS
        }
        var acc = MetricsAccumulator(options: options, classes: classes, windowEndS: windowEnd)
        for r in records { acc.add(r) }
        return try acc.finish(runEndS: runEndS, run: run)
    }
}
