import BenchCore
import Foundation

/// One offered rate of a sweep: its results directory's summary, and the oracle's bound there.
public struct SweepPoint: Sendable {
    public var rateRPS: Double
    /// The results directory, relative to the sweep directory.
    public var directory: String
    public var summary: Summary
    public var oracle: OracleBound?

    /// The oracle's upper bound on requests meeting their SLOs at this rate (`sweep --oracle`).
    public struct OracleBound: Sendable {
        public var metRequests: Double
        public var byClass: [String: Double]
        /// The workload's last arrival (s): the bound's goodput window, as `oracle` reports it.
        public var lastArrivalS: Double

        public init(metRequests: Double, byClass: [String: Double], lastArrivalS: Double) {
            self.metRequests = metRequests
            self.byClass = byClass
            self.lastArrivalS = lastArrivalS
        }
    }

    public init(rateRPS: Double, directory: String, summary: Summary, oracle: OracleBound? = nil) {
        self.rateRPS = rateRPS
        self.directory = directory
        self.summary = summary
        self.oracle = oracle
    }

    /// Attainment overall (class nil) or of one class; nil when the class has no requests.
    public func attainment(className: String?) -> Double? {
        guard let c = className else { return summary.overall.attainment.overall }
        guard let g = summary.group(c), g.total > 0 else { return nil }
        return g.attainment.overall
    }
}

/// A capacity search's answer for one target (overall or a class).
public struct SweepSearch: Sendable {
    public var className: String?
    public var result: CapacitySearch.Result

    public init(className: String?, result: CapacitySearch.Result) {
        self.className = className
        self.result = result
    }
}

/// `sweep.json` (schema accelbench.sweep/1): the points in rate order, each with its headline
/// metrics so plots and tables need not open every results directory, and the searches.
public enum SweepFile {
    public static let name = "sweep.json"
    public static let schema = "accelbench.sweep/1"

    public static func json(spec: String, target: String, seed: UInt64, count: Int, classes: [String], points: [SweepPoint],
                            targetAttainment: Double?, precision: Double, searches: [SweepSearch]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 1024 + points.count * 512)
        w.beginObject()
        w.key("schema"); w.string(schema)
        w.key("spec"); w.string(spec)
        w.key("target"); w.string(target)
        w.key("seed"); w.int(Int(seed))
        w.key("count"); w.int(count)
        w.key("classes")
        w.beginArray()
        for c in classes { w.string(c) }
        w.endArray()
        w.key("points")
        w.beginArray()
        for p in points.sorted(by: { $0.rateRPS < $1.rateRPS }) {
            let o = p.summary.overall
            w.beginObject()
            w.key("rate_rps"); w.double(p.rateRPS)
            w.key("dir"); w.string(p.directory)
            w.key("requests"); w.int(o.total)
            w.key("met_slo"); w.int(o.met)
            w.key("attainment"); w.fixed(o.attainment.overall, decimals: 6)
            w.key("goodput_rps"); w.fixed(o.goodputRequestsPerS, decimals: 6)
            w.key("goodput_tokens_per_s"); w.fixed(o.goodputOutputTokensPerS, decimals: 3)
            w.key("throughput_rps"); w.fixed(o.requestsPerS, decimals: 6)
            w.key("output_tokens_per_s"); w.fixed(o.outputTokensPerS, decimals: 3)
            w.key("ttft_p99_ms"); w.optionalFixed(o.ttft?.p99, decimals: 3)
            w.key("tbt_p99_ms"); w.optionalFixed(o.tbt?.p99, decimals: 3)
            w.key("by_class")
            w.beginObject()
            for (name, g) in p.summary.classes {
                w.key(name)
                w.beginObject()
                w.key("requests"); w.int(g.total)
                w.key("attainment"); w.optionalFixed(g.total > 0 ? g.attainment.overall : nil, decimals: 6)
                w.key("goodput_rps"); w.fixed(g.goodputRequestsPerS, decimals: 6)
                w.endObject()
            }
            w.endObject()
            if let u = p.oracle {
                // As `oracle` reports it: met over the arrivals' span. A run's window lasts until
                // its last completion, so its goodput (met / window) is below this at every rate,
                // and the line is the same for every policy of one workload.
                let window = u.lastArrivalS
                w.key("oracle")
                w.beginObject()
                w.key("upper_bound_met"); w.fixed(u.metRequests, decimals: 4)
                w.key("upper_bound_attainment"); w.fixed(o.total > 0 ? u.metRequests / Double(o.total) : 0, decimals: 6)
                w.key("upper_bound_goodput_rps"); w.fixed(window > 0 ? u.metRequests / window : 0, decimals: 6)
                w.key("by_class")
                w.beginObject()
                for (name, g) in p.summary.classes where g.total > 0 {
                    w.key(name)
                    w.beginObject()
                    w.key("upper_bound_attainment"); w.fixed((u.byClass[name] ?? 0) / Double(g.total), decimals: 6)
                    w.endObject()
                }
                w.endObject()
                w.endObject()
            }
            w.endObject()
        }
        w.endArray()
        w.key("search")
        if let targetAttainment, !searches.isEmpty {
            let overall = searches.first { $0.className == nil }
            w.beginObject()
            w.key("target_attainment"); w.double(targetAttainment)
            w.key("precision"); w.double(precision)
            w.key("class"); w.optionalString(searches.count == 1 ? searches[0].className : nil)
            w.key("capacity_rps"); w.optionalDouble((overall ?? (searches.count == 1 ? searches[0] : nil))?.result.capacityRPS)
            w.key("by_class")
            w.beginObject()
            for s in searches { if let c = s.className { w.key(c); w.optionalDouble(s.result.capacityRPS) } }
            w.endObject()
            w.key("searches")
            w.beginArray()
            for s in searches {
                w.beginObject()
                w.key("class"); w.optionalString(s.className)
                w.key("outcome"); w.string(s.result.outcome.rawValue)
                w.key("capacity_rps"); w.optionalDouble(s.result.capacityRPS)
                w.key("failing_rps"); w.optionalDouble(s.result.failingRPS)
                w.key("probes"); w.int(s.result.probed.count)
                w.endObject()
            }
            w.endArray()
            w.endObject()
        } else {
            w.null()
        }
        w.endObject()
        w.newline()
        return w.bytes
    }
}
