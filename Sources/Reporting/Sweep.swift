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
/// `json` writes it; `read` (or `parse`) reads it back as `Contents`.
public enum SweepFile {
    public static let name = "sweep.json"
    public static let schema = "accelbench.sweep/1"

    /// What a sweep file says about the sweep as a whole.
    public struct Header: Sendable {
        public var spec: String
        public var target: String
        public var seed: UInt64
        public var count: Int
        public var classes: [String]
        /// `sweep --points i/N`: this file holds share i of the grid `rates` (every rate is a point of
        /// one share: the k-th lowest rate belongs to share k mod N).
        public var share: Share?
        /// false while the sweep runs (the file is rewritten after every point) and when it was
        /// stopped or killed: the points listed are then the ones that finished.
        public var complete = true

        public init(spec: String, target: String, seed: UInt64, count: Int, classes: [String], share: Share? = nil, complete: Bool = true) {
            self.spec = spec
            self.target = target
            self.seed = seed
            self.count = count
            self.classes = classes
            self.share = share
            self.complete = complete
        }
    }

    /// One share of a sweep split over several processes or pods, interleaved by rate order so
    /// that each share gets low and high rates alike.
    public struct Share: Sendable, Equatable {
        public var segment: Segment
        /// The whole grid, ascending.
        public var rates: [Double]

        public init(segment: Segment, rates: [Double]) {
            self.segment = segment
            self.rates = rates.sorted()
        }

        /// The share's rates, ascending.
        public var ownRates: [Double] { rates.enumerated().filter { $0.offset % segment.count == segment.index }.map(\.element) }
    }

    public static func json(_ header: Header, points: [SweepPoint], targetAttainment: Double?, precision: Double,
                            searches: [SweepSearch]) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 1024 + points.count * 512)
        w.beginObject()
        w.key("schema"); w.string(schema)
        w.key("spec"); w.string(header.spec)
        w.key("target"); w.string(header.target)
        w.key("seed"); w.uint64(header.seed)
        w.key("count"); w.int(header.count)
        w.key("classes")
        w.beginArray()
        for c in header.classes { w.string(c) }
        w.endArray()
        // Written only where they say something, so an ordinary finished sweep's file is as before.
        if !header.complete { w.key("complete"); w.bool(false) }
        if let share = header.share {
            w.key("share")
            w.beginObject()
            w.key("index"); w.int(share.segment.index)
            w.key("count"); w.int(share.segment.count)
            w.key("rates")
            w.beginArray()
            for r in share.rates { w.double(r) }
            w.endArray()
            w.endObject()
        }
        w.key("points")
        w.beginArray()
        for p in points.sorted(by: { $0.rateRPS < $1.rateRPS }) { writePoint(p, to: &w) }
        w.endArray()
        w.key("search")
        if let targetAttainment, !searches.isEmpty {
            writeSearch(searches, targetAttainment: targetAttainment, precision: precision, to: &w)
        } else {
            w.null()
        }
        w.endObject()
        w.newline()
        return w.bytes
    }

    static func writePoint(_ p: SweepPoint, to w: inout JSONWriter) {
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
        if let u = p.oracle { writeOracle(u, of: p.summary, to: &w) }
        w.endObject()
    }

    /// The bound's met requests and window are written exactly (shortest round-trip form), so a
    /// merge of split sweeps (`sweep --merge`) rebuilds the same file.
    static func writeOracle(_ u: SweepPoint.OracleBound, of summary: Summary, to w: inout JSONWriter) {
        // As `oracle` reports it: met over the arrivals' span. A run's window lasts until
        // its last completion, so its goodput (met / window) is below this at every rate,
        // and the line is the same for every policy of one workload.
        let window = u.lastArrivalS
        let o = summary.overall
        w.key("oracle")
        w.beginObject()
        w.key("upper_bound_met"); w.double(u.metRequests)
        w.key("window_s"); w.double(window)
        w.key("upper_bound_attainment"); w.fixed(o.total > 0 ? u.metRequests / Double(o.total) : 0, decimals: 6)
        w.key("upper_bound_goodput_rps"); w.fixed(window > 0 ? u.metRequests / window : 0, decimals: 6)
        w.key("by_class")
        w.beginObject()
        for (name, g) in summary.classes where g.total > 0 {
            w.key(name)
            w.beginObject()
            w.key("upper_bound_met"); w.double(u.byClass[name] ?? 0)
            w.key("upper_bound_attainment"); w.fixed((u.byClass[name] ?? 0) / Double(g.total), decimals: 6)
            w.endObject()
        }
        w.endObject()
        w.endObject()
    }

    static func writeSearch(_ searches: [SweepSearch], targetAttainment: Double, precision: Double, to w: inout JSONWriter) {
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
    }
}

// MARK: reading

extension SweepFile {
    /// `sweep.json` as read back: each point's headline numbers as the file records them (what
    /// plots, reports and tables use without opening the points' results directories).
    public struct Contents: Sendable, Equatable {
        /// nil where the file has none (hand-made files): the reader picks its own default.
        public var spec: String?
        public var target: String?
        public var seed: UInt64?
        public var count: Int?
        /// false: the sweep was stopped or killed, or is still running (`SweepFile.Header.complete`).
        public var complete = true
        /// `sweep --points i/N`: the share this file holds.
        public var share: Share?
        /// The file's classes in its order, then any class seen only in a point's `by_class`.
        public var classes: [String]
        /// Sorted by rate.
        public var points: [Point]
        public var search: Search?

        public init(spec: String? = nil, target: String? = nil, seed: UInt64? = nil, count: Int? = nil, classes: [String] = [],
                    points: [Point] = [], search: Search? = nil) {
            self.spec = spec
            self.target = target
            self.seed = seed
            self.count = count
            self.classes = classes
            self.points = points
            self.search = search
        }

        /// One offered rate: `points[i]`.
        public struct Point: Sendable, Equatable {
            public var rateRps: Double
            /// The results directory, relative to the sweep directory ("" where the file has none).
            public var dir: String
            public var attainment: Double
            public var goodputRps: Double
            public var goodputTokensPerS: Double?
            public var throughputRps: Double
            public var outputTokensPerS: Double?
            /// Per class (`by_class`); a class with no requests has no attainment.
            public var classAttainment: [String: Double]
            public var classGoodputRps: [String: Double]
            /// The oracle's upper bound (`oracle`), where the sweep computed one.
            public var oracleAttainment: Double?
            public var oracleGoodputRps: Double?
            /// The bound exactly as the sweep had it (`upper_bound_met`, `window_s`, by class), for merges.
            public var oracleMet: Double?
            public var oracleWindowS: Double?
            public var oracleClassMet: [String: Double] = [:]

            public init(rateRps: Double, dir: String, attainment: Double, goodputRps: Double, goodputTokensPerS: Double? = nil,
                        throughputRps: Double, outputTokensPerS: Double? = nil, classAttainment: [String: Double] = [:],
                        classGoodputRps: [String: Double] = [:], oracleAttainment: Double? = nil, oracleGoodputRps: Double? = nil) {
                self.rateRps = rateRps
                self.dir = dir
                self.attainment = attainment
                self.goodputRps = goodputRps
                self.goodputTokensPerS = goodputTokensPerS
                self.throughputRps = throughputRps
                self.outputTokensPerS = outputTokensPerS
                self.classAttainment = classAttainment
                self.classGoodputRps = classGoodputRps
                self.oracleAttainment = oracleAttainment
                self.oracleGoodputRps = oracleGoodputRps
            }
        }

        /// The capacity search (`search`), when the sweep ran one.
        public struct Search: Sendable, Equatable {
            public var targetAttainment: Double
            /// The class whose attainment the search held at the target; nil for overall attainment.
            public var className: String?
            public var capacityRps: Double?
            public var classCapacityRps: [String: Double]

            public init(targetAttainment: Double, className: String? = nil, capacityRps: Double? = nil, classCapacityRps: [String: Double] = [:]) {
                self.targetAttainment = targetAttainment
                self.className = className
                self.capacityRps = capacityRps
                self.classCapacityRps = classCapacityRps
            }
        }
    }

    /// Reads a `sweep.json`. Errors name the file and the field.
    public static func read(path: String) throws(BenchError) -> Contents {
        try parse(try JSONParser.parse(file: path), file: path)
    }

    /// The contents of a parsed `sweep.json`; `file` names it in errors. Fields this reader does
    /// not use are allowed (later producers may add some); those it uses are checked.
    public static func parse(_ value: JSONValue, file: String) throws(BenchError) -> Contents {
        var f = try JSONFields(value, file: file, line: nil)
        let found = try f.string("schema")
        guard found == schema else { throw f.error("schema", "expected '\(schema)', got '\(found)'") }
        var seed: UInt64?
        if let d = try f.optionalDouble("seed") {
            guard let s = UInt64(exactly: d) else { throw f.error("seed", "must be an integer from 0 to 2^64 − 1") }
            seed = s
        }
        var contents = Contents(spec: try f.optionalString("spec"), target: try f.optionalString("target"),
                                seed: seed, count: try f.optionalInt("count"))
        contents.complete = try f.optionalBool("complete") ?? true
        contents.share = try parseShare(&f)
        if let raw = f.raw("classes"), !raw.isNull {
            guard case .array(let items) = raw else { throw f.error("classes", "expected an array of class names") }
            for (i, item) in items.enumerated() {
                guard case .string(let s) = item else { throw f.error("classes[\(i)]", "expected a string") }
                contents.classes.append(s)
            }
        }
        guard case .array(let rawPoints)? = f.raw("points") else { throw f.error("points", "missing array of points") }
        for (i, raw) in rawPoints.enumerated() {
            var p = try JSONFields(raw, file: file, line: nil, prefix: "points[\(i)]")
            var point = Contents.Point(rateRps: try p.double("rate_rps"), dir: try p.optionalString("dir") ?? "",
                                       attainment: try p.double("attainment"), goodputRps: try p.double("goodput_rps"),
                                       goodputTokensPerS: try p.optionalDouble("goodput_tokens_per_s"),
                                       throughputRps: try p.double("throughput_rps"),
                                       outputTokensPerS: try p.optionalDouble("output_tokens_per_s"))
            if let raw = p.raw("by_class"), !raw.isNull {
                guard case .object(let pairs) = raw else { throw p.error("by_class", "expected an object") }
                for (name, v) in pairs {
                    var c = try JSONFields(v, file: file, line: nil, prefix: "points[\(i)].by_class.\(name)")
                    point.classAttainment[name] = try c.optionalDouble("attainment")
                    point.classGoodputRps[name] = try c.optionalDouble("goodput_rps")
                    try c.finish(allowingExtra: true)
                    if !contents.classes.contains(name) { contents.classes.append(name) }
                }
            }
            if var o = try p.optionalObject("oracle") { try parseOracle(&o, into: &point, file: file, at: "points[\(i)].oracle") }
            try p.finish(allowingExtra: true)
            contents.points.append(point)
        }
        if var s = try f.optionalObject("search") {
            var byClass: [String: Double] = [:]
            if let raw = s.raw("by_class"), !raw.isNull {
                guard case .object(let pairs) = raw else { throw s.error("by_class", "expected an object") }
                for (name, v) in pairs {
                    if case .number(let d) = v { byClass[name] = d } else if !v.isNull { throw s.error("by_class.\(name)", "expected a number") }
                }
            }
            contents.search = Contents.Search(targetAttainment: try s.double("target_attainment"), className: try s.optionalString("class"),
                                              capacityRps: try s.optionalDouble("capacity_rps"), classCapacityRps: byClass)
            try s.finish(allowingExtra: true)
        }
        try f.finish(allowingExtra: true)
        contents.points.sort { $0.rateRps < $1.rateRps }
        return contents
    }

    static func parseShare(_ f: inout JSONFields) throws(BenchError) -> Share? {
        guard var s = try f.optionalObject("share") else { return nil }
        let index = try s.int("index"), count = try s.int("count")
        guard count >= 1, index >= 0, index < count else { throw s.error("index", "need 0 ≤ index < count, got \(index)/\(count)") }
        guard let rates = try s.optionalDoubleArray("rates"), !rates.isEmpty, rates.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw s.error("rates", "expected the sweep's rates (> 0 requests/s)")
        }
        try s.finish(allowingExtra: true)
        return Share(segment: Segment(index: index, count: count), rates: rates)
    }

    static func parseOracle(_ o: inout JSONFields, into point: inout Contents.Point, file: String, at path: String) throws(BenchError) {
        point.oracleAttainment = try o.optionalDouble("upper_bound_attainment")
        point.oracleGoodputRps = try o.optionalDouble("upper_bound_goodput_rps")
        point.oracleMet = try o.optionalDouble("upper_bound_met")
        point.oracleWindowS = try o.optionalDouble("window_s")
        if let raw = o.raw("by_class"), !raw.isNull {
            guard case .object(let pairs) = raw else { throw o.error("by_class", "expected an object") }
            for (name, v) in pairs {
                var c = try JSONFields(v, file: file, line: nil, prefix: "\(path).by_class.\(name)")
                if let met = try c.optionalDouble("upper_bound_met") { point.oracleClassMet[name] = met }
                try c.finish(allowingExtra: true)
            }
        }
        try o.finish(allowingExtra: true)
    }
}
