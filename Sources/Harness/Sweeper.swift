import BenchCore
import Dispatch
import Engine
import Foundation
import Oracle
import Reporting

/// A rate sweep: one workload at a series of offered rates, each a results directory
/// `OUTPUT/rate-R`, optionally a capacity search per class, and `sweep.json` listing them.
/// Engine sweeps run several rates at once; endpoint sweeps one at a time.
public struct Sweeper {
    public enum Target {
        case engine(EngineTarget)
        case http(HTTPTarget)
    }

    public var target: Target
    /// The workload at an offered rate (the generator keeps every other draw: common random numbers).
    public var workload: (Double) throws(BenchError) -> Workload
    public var output: String
    public var metrics = MetricsOptions()
    /// Engine sweeps: rates simulated at once.
    public var jobs = ProcessInfo.processInfo.activeProcessorCount
    /// Engine sweeps: the oracle's upper bound at each rate too.
    public var oracle = false
    /// Each rate as it ends, and warnings (an oracle bound that could not be had).
    public var onPoint: (SweepPoint) -> Void = { _ in }
    public var onWarning: (String) -> Void = { _ in }
    /// Polled between rates and by every run (Ctrl-C).
    public var shouldStop: () -> Bool = { false }
    /// `sweep --points i/N`: run only this share of the grid (`SweepFile.Share`); no search.
    public var share: Segment?

    public init(target: Target, output: String, workload: @escaping (Double) throws(BenchError) -> Workload) {
        self.target = target
        self.output = output
        self.workload = workload
    }

    public static func directoryName(_ rate: Double) -> String {
        "rate-" + (rate == rate.rounded() ? String(Int(rate)) : String(format: "%g", rate))
    }

    /// The capacity search: the highest rate whose attainment (overall, or each class's)
    /// reaches `targetAttainment` (sweep.json records its settings even when it is off).
    public struct Search {
        public var enabled: Bool
        public var targetAttainment: Double
        public var precision: Double
        public var startRate: Double
        public var maxRate: Double
        /// nil: overall attainment; else one search per class.
        public var classes: [String?] = [nil]

        public init(enabled: Bool, targetAttainment: Double, precision: Double, startRate: Double, maxRate: Double,
                    classes: [String?] = [nil]) {
            self.enabled = enabled
            self.targetAttainment = targetAttainment
            self.precision = precision
            self.startRate = startRate
            self.maxRate = maxRate
            self.classes = classes
        }
    }

    public struct Outcome {
        /// In rate order.
        public var points: [SweepPoint]
        public var searches: [SweepSearch]
        /// Ctrl-C: the rates done are kept; an interrupted rate is left out.
        public var stopped: Bool
    }

    /// Runs the grid (or this share of it), then the searches (which reuse the grid's rates), and
    /// writes sweep.json. The file is rewritten, marked incomplete, after every point, so a sweep
    /// that is killed leaves the points it finished listed.
    public func run(grid: [Double]?, search: Search, header: WorkloadHeader) throws -> Outcome {
        precondition(share == nil || (grid != nil && !search.enabled), "a share runs a grid and no search")
        try FileIO.makeDirectories(output)
        let shareInfo = share.map { SweepFile.Share(segment: $0, rates: grid ?? []) }
        var fileHeader = SweepFile.Header(spec: header.specName, target: targetIdentity, seed: header.seed, count: header.count,
                                          classes: header.classes.map(\.name), share: shareInfo, complete: false)
        let progress = Progress()
        var sweeper = self
        sweeper.onPoint = { [onPoint, fileHeader] p in
            onPoint(p)
            progress.add(p) { done in
                // Best effort: the final write below reports a failure.
                try? FileIO.writeAtomically(SweepFile.json(fileHeader, points: done, targetAttainment: nil, precision: search.precision,
                                                           searches: []), to: output + "/" + SweepFile.name)
            }
        }
        var points: [Double: SweepPoint] = [:]
        var stopped = false
        if let grid {
            for p in try sweeper.runAll(shareInfo?.ownRates ?? grid) { points[p.rateRPS] = p }
            stopped = shouldStop()
        }
        var searches: [SweepSearch] = []
        if search.enabled && !stopped {
            stopped = try sweeper.runSearches(search, points: &points, into: &searches)
        }
        stopped = stopped || shouldStop()
        let all = points.values.sorted { $0.rateRPS < $1.rateRPS }
        fileHeader.complete = !stopped
        let bytes = SweepFile.json(fileHeader, points: all, targetAttainment: search.enabled ? search.targetAttainment : nil,
                                   precision: search.precision, searches: searches)
        try FileIO.writeAtomically(bytes, to: output + "/" + SweepFile.name)
        return Outcome(points: all, searches: searches, stopped: stopped)
    }

    /// What the results directories name as their target.
    var targetIdentity: String {
        switch target {
        case .engine(let t): return t.identity.description
        case .http(let t): return t.identity.description
        }
    }

    /// The points finished so far, from the workers that finish them; `write` runs under the
    /// lock, so one file write at a time (they share a temporary name).
    private final class Progress: @unchecked Sendable {
        private let lock = NSLock()
        private var points: [SweepPoint] = []
        func add(_ p: SweepPoint, write: ([SweepPoint]) -> Void) {
            lock.lock()
            defer { lock.unlock() }
            points.removeAll { $0.rateRPS == p.rateRPS }
            points.append(p)
            write(points)
        }
    }

    /// One capacity search per class; true when Ctrl-C stopped it (the rates done are kept).
    private func runSearches(_ search: Search, points: inout [Double: SweepPoint], into searches: inout [SweepSearch]) throws -> Bool {
        struct Interrupted: Error {}
        do {
            for c in search.classes {
                var s = CapacitySearch(targetAttainment: search.targetAttainment, precision: search.precision)
                s.maxRate = search.maxRate
                var known: [Double: Double] = [:]
                for (r, p) in points { if let a = p.attainment(className: c) { known[r] = a } }
                var probed: [Double: SweepPoint] = [:]
                defer { points.merge(probed) { $1 } }
                let result = try s.run(start: search.startRate, known: known) { rate in
                    guard !shouldStop(), let p = try runAll([rate]).first else { throw Interrupted() }
                    probed[rate] = p
                    // A class absent at this rate cannot miss: it counts as met.
                    return p.attainment(className: c) ?? 1
                }
                searches.append(SweepSearch(className: c, result: result))
            }
        } catch is Interrupted {
            return true
        }
        return false
    }

    /// Runs the rates: several at once on the engine, in order against an endpoint.
    public func runAll(_ rates: [Double]) throws -> [SweepPoint] {
        let workloads = try rates.map { r throws(BenchError) in try workload(r) }
        switch target {
        case .engine(let t): return try runEngine(t, rates, workloads)
        case .http(let t): return try runHTTP(t, rates, workloads)
        }
    }

    private func runEngine(_ t: EngineTarget, _ rates: [Double], _ workloads: [Workload]) throws -> [SweepPoint] {
        let slots = WorkerSlots<Result<SweepPoint?, Error>>(count: rates.count)
        let workers = min(jobs, rates.count)
        // The workers share the sweep's settings and callbacks (`shouldStop`, `onPoint` must be
        // thread-safe) and each builds its own engine.
        let shared = UncheckedSendable((self, t, workloads))
        // Each worker takes the next rate not yet taken, so a slow rate does not hold up others.
        DispatchQueue.concurrentPerform(iterations: max(1, workers)) { _ in
            let (sweeper, t, workloads) = shared.value
            while let i = slots.claimNext() {
                if sweeper.shouldStop() { return }
                let r = Result { try sweeper.enginePoint(t, workloads[i], rate: rates[i]) }
                if case .success(let p?) = r { sweeper.onPoint(p) }
                slots.set(i, r)
            }
        }
        var points: [SweepPoint] = []
        for i in 0..<rates.count {
            guard let r = slots.get(i), let p = try r.get() else { continue }
            points.append(p)
        }
        return points
    }

    /// nil when Ctrl-C stopped the run (an interrupted rate is left out of the sweep).
    private func enginePoint(_ t: EngineTarget, _ workload: Workload, rate: Double) throws -> SweepPoint? {
        let dir = Sweeper.directoryName(rate)
        let r = try Harness.run(workload, on: t, output: output + "/" + dir, metrics: metrics, shouldStop: shouldStop)
        if r.run.stopped { return nil }
        var bound: SweepPoint.OracleBound?
        if oracle {
            var o = RelaxationBound.Options()
            o.prefixCaching = t.prefixCaching
            let b = RelaxationBound.solve(workload.requests, profile: t.profile, options: o)
            if b.solution.status == .optimal {
                bound = SweepPoint.OracleBound(metRequests: b.metRequests, byClass: b.byClass.mapValues(\.requests),
                                               lastArrivalS: workload.requests.map(\.arrivalS).max() ?? 0)
            } else {
                onWarning("rate \(rate): the oracle's solver stopped without an optimum (\(b.solution.status)); no bound for this rate")
            }
        }
        return SweepPoint(rateRPS: rate, directory: dir, summary: r.summary, oracle: bound)
    }

    private func runHTTP(_ t: HTTPTarget, _ rates: [Double], _ workloads: [Workload]) throws -> [SweepPoint] {
        var points: [SweepPoint] = []
        for (i, rate) in rates.enumerated() {
            if shouldStop() { break }
            let dir = Sweeper.directoryName(rate)
            let r = try Harness.run(workloads[i], on: t, output: output + "/" + dir, metrics: metrics, shouldStop: shouldStop)
            // An interrupted rate is not a measurement of that rate: its directory stays, the sweep leaves it out.
            if r.run.stopped { break }
            let p = SweepPoint(rateRPS: rate, directory: dir, summary: r.summary)
            points.append(p)
            onPoint(p)
        }
        return points
    }
}

extension Sweeper {
    /// The sweep as `accelbench sweep` prints it: a row per rate, then each search's capacity.
    public static func table(_ points: [SweepPoint], classes: [String], searches: [SweepSearch], target: Double) -> String {
        func f(_ x: Double?, _ d: Int) -> String { x.map { String(format: "%.\(d)f", $0) } ?? "-" }
        let withOracle = points.contains { $0.oracle != nil }
        var header = ["rate req/s", "attainment"] + classes + ["goodput req/s", "throughput req/s", "output tok/s", "TTFT p99 ms"]
        if withOracle { header.append("oracle U attainment") }
        let rows: [[String]] = points.map { p in
            let o = p.summary.overall
            var row = [f(p.rateRPS, 3), f(o.attainment.overall, 4)]
            row += classes.map { f(p.attainment(className: $0), 4) }
            row += [f(o.goodputRequestsPerS, 3), f(o.requestsPerS, 3), f(o.outputTokensPerS, 1), f(o.ttft?.p99, 1)]
            if withOracle { row.append(f(p.oracle.map { o.total > 0 ? $0.metRequests / Double(o.total) : 0 }, 4)) }
            return row
        }
        var s = TextTable.render(header: header, rows: rows)
        for search in searches {
            let what = search.className.map { "class \($0)" } ?? "overall"
            let r = search.result
            switch r.outcome {
            case .found:
                s += String(format: "capacity (%@ attainment ≥ %.3g): %@ req/s (fails at %@ req/s; %d probes)\n", what, target,
                            f(r.capacityRPS, 3), f(r.failingRPS, 3), r.probed.count)
            case .aboveRange:
                s += "capacity (\(what)): at least \(f(r.capacityRPS, 3)) req/s (--max-rate reached)\n"
            case .belowRange:
                s += "capacity (\(what)): below \(f(r.failingRPS, 3)) req/s (no rate tried passes)\n"
            case .probeLimit:
                s += "capacity (\(what)): between \(f(r.capacityRPS, 3)) and \(f(r.failingRPS, 3)) req/s (probe limit)\n"
            }
        }
        return s
    }
}
