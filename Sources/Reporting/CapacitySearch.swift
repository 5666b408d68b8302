import Foundation

/// The highest offered rate at which a workload still meets an attainment target, found as
/// Sarathi-Serve's capacity search does: bracket (double the rate until it fails, or halve it
/// until it passes), then bisect until the bracket is narrower than `precision` of its upper end.
/// It assumes attainment falls with the rate; where it does not (noise), the bracket is always the
/// lowest failing rate and the highest passing rate below it, so the answer stays conservative.
/// No I/O: `probe` runs the workload at a rate and returns its attainment.
public struct CapacitySearch: Sendable {
    /// Attainment (fraction of requests meeting their SLOs) a rate must reach to pass.
    public var targetAttainment: Double
    /// Stop when (fail − pass) / fail ≤ this. 0.025: the (as Sarathi-Serve's search).
    public var precision = 0.025
    /// Bracketing stops here (requests/s): the capacity is reported as "at least" / "below".
    public var minRate = 0.01
    public var maxRate = 100_000.0
    /// Probes at most (a safety net; bisection to 2.5% from a doubled bracket needs about 6).
    public var maxProbes = 64

    public enum Outcome: String, Sendable { case found, aboveRange = "above_range", belowRange = "below_range", probeLimit = "probe_limit" }

    public struct Result: Sendable, Equatable {
        public var outcome: Outcome
        /// Highest passing rate below the lowest failing one (nil when none passes).
        public var capacityRPS: Double?
        /// Lowest failing rate (nil when none fails).
        public var failingRPS: Double?
        /// Every rate probed by this search (grid points given in are not counted), in order.
        public var probed: [Double]
    }

    public init(targetAttainment: Double, precision: Double = 0.025) {
        self.targetAttainment = targetAttainment
        self.precision = precision
    }

    /// Rates are rounded to 4 significant digits, so the results directories have short names;
    /// 0.1% is far below the 2.5% precision.
    public static func round(_ rate: Double) -> Double {
        guard rate > 0, rate.isFinite else { return rate }
        let scale = pow(10, 3 - floor(log10(rate)))
        return (rate * scale).rounded() / scale
    }

    /// `known`: attainments already measured (e.g. a sweep's grid); `start`: the first probe when
    /// nothing is known.
    public func run(start: Double, known: [Double: Double] = [:], probe: (Double) throws -> Double) rethrows -> Result {
        var seen = known
        var probed: [Double] = []
        func bracket() -> (lo: Double?, hi: Double?) {
            let hi = seen.filter { $0.value < targetAttainment }.keys.min()
            let lo = seen.filter { $0.value >= targetAttainment && (hi == nil || $0.key < hi!) }.keys.max()
            return (lo, hi)
        }
        func measure(_ rate: Double) throws {
            let r = CapacitySearch.round(rate)
            guard seen[r] == nil else { return }
            seen[r] = try probe(r)
            probed.append(r)
        }
        if seen.isEmpty { try measure(start) }
        while probed.count < maxProbes {
            let (lo, hi) = bracket()
            switch (lo, hi) {
            case (let lo?, nil):
                if lo >= maxRate { return Result(outcome: .aboveRange, capacityRPS: lo, failingRPS: nil, probed: probed) }
                try measure(min(lo * 2, maxRate))
            case (nil, let hi?):
                if hi <= minRate { return Result(outcome: .belowRange, capacityRPS: nil, failingRPS: hi, probed: probed) }
                try measure(max(hi / 2, minRate))
            case (let lo?, let hi?):
                let mid = CapacitySearch.round((lo + hi) / 2)
                if (hi - lo) / hi <= precision || mid <= lo || mid >= hi {
                    return Result(outcome: .found, capacityRPS: lo, failingRPS: hi, probed: probed)
                }
                try measure(mid)
            case (nil, nil):
                try measure(start)
            }
        }
        let (lo, hi) = bracket()
        return Result(outcome: .probeLimit, capacityRPS: lo, failingRPS: hi, probed: probed)
    }
}
