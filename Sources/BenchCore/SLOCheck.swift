/// How the per-request TBT statistic compared with `tbt_ms` is formed.
public enum TBTMode: String, Sendable, CaseIterable {
    /// Every gap must meet the SLO (AccelGen's iteration-level SLO; the default).
    case max
    /// The request's 99th-percentile gap (nearest rank) must meet it.
    case p99
    /// The mean gap (TPOT-like) must meet it (DistServe's TPOT attainment).
    case mean
}

/// The verdict on one request, from its record and SLO. One definition, used by every driver
/// (to write `met_slo`) and by the metrics path.
public struct SLOVerdict: Sendable, Equatable {
    public var ttftS: Double?
    /// The TBT statistic for the chosen mode; nil when the request has fewer than two tokens.
    public var tbtStatS: Double?
    public var e2eS: Double?
    public var ttftMet: Bool
    public var tbtMet: Bool
    public var jctMet: Bool
    /// ok, and every SLO that is set is met. Failed requests never meet their SLO.
    public var met: Bool

    public static func evaluate(_ r: RequestRecord, mode: TBTMode = .max) -> SLOVerdict {
        let ttft = r.ttftEndS.map { $0 - r.intendedS }
        let e2e = r.doneS.map { $0 - r.intendedS }
        var stat: Double?
        let times = r.tokenTimesS
        if times.count >= 2 {
            switch mode {
            case .max:
                var m = 0.0
                for i in 1..<times.count { m = Swift.max(m, times[i] - times[i - 1]) }
                stat = m
            case .mean:
                stat = (times[times.count - 1] - times[0]) / Double(times.count - 1)
            case .p99:
                stat = p99Gap(times)
            }
        }
        return judge(r, ttftS: ttft, tbtStatS: stat, e2eS: e2e)
    }

    /// The SLO rule itself, given the request's measured TTFT, TBT statistic and E2E (seconds).
    @inline(__always)
    public static func judge(_ r: RequestRecord, ttftS ttft: Double?, tbtStatS stat: Double?, e2eS e2e: Double?) -> SLOVerdict {
        let ok = r.isOK
        // Tiny tolerance: times are stored at microsecond precision.
        let eps = 5e-7
        let ttftMet = r.slo.ttftMs.map { slo in ok && (ttft.map { $0 <= slo / 1000 + eps } ?? false) } ?? ok
        let tbtMet = r.slo.tbtMs.map { slo in ok && (stat.map { $0 <= slo / 1000 + eps } ?? true) } ?? ok
        let jctMet = r.slo.jctS.map { slo in ok && (e2e.map { $0 <= slo + eps } ?? false) } ?? ok
        return SLOVerdict(ttftS: ttft, tbtStatS: stat, e2eS: e2e, ttftMet: ttftMet, tbtMet: tbtMet, jctMet: jctMet,
                          met: ok && ttftMet && tbtMet && jctMet)
    }

    /// Nearest-rank 99th percentile of a request's gaps.
    public static func p99Gap(_ times: [Double]) -> Double? {
        guard times.count >= 2 else { return nil }
        var gaps = [Double](repeating: 0, count: times.count - 1)
        for i in 1..<times.count { gaps[i - 1] = times[i] - times[i - 1] }
        gaps.sort()
        return nearestRank(gaps, 0.99)
    }
}

/// Etalon's deadline-miss rate for one request (seeds-spec §3.3, the code's algorithm, kept for
/// parity): token deadlines are periodic, slack earned by early tokens carries forward, and a
/// long stall counts as several missed deadlines.
///
/// - Parameters:
///   - interTokenTimes: entry 0 is TTFT (from the intended send), then one gap per token.
///   - ttftDeadline: seconds. - tbtDeadline: seconds, > 0.
/// - Returns: (missed, total) deadline counts.
public func etalonDeadlineMisses(interTokenTimes: [Double], ttftDeadline: Double, tbtDeadline: Double) -> (missed: Int, total: Int) {
    var counter = EtalonDeadlineCounter(ttftDeadline: ttftDeadline, tbtDeadline: tbtDeadline)
    for itt in interTokenTimes { counter.observe(itt) }
    return (counter.missed, counter.total)
}

/// Streaming form of `etalonDeadlineMisses`: feed TTFT first, then each gap.
public struct EtalonDeadlineCounter: Sendable {
    public let ttftDeadline: Double
    public let tbtDeadline: Double
    public private(set) var missed = 0
    public private(set) var total = 0
    var slack = 0.0
    var first = true

    public init(ttftDeadline: Double, tbtDeadline: Double) {
        self.ttftDeadline = ttftDeadline
        self.tbtDeadline = tbtDeadline
    }

    public mutating func observe(_ itt: Double) {
        let deadline = first ? ttftDeadline : tbtDeadline
        if itt <= deadline + slack {
            slack += deadline - itt
            total += 1
        } else {
            let periods = ((first ? itt - slack - ttftDeadline : itt - slack) / tbtDeadline).rounded(.down)
            // Capped so that absurd input (a deadline of almost zero) cannot overflow Int.
            let k = (first ? 1 : 0) + Int(Swift.min(periods, 1e12))
            missed += k
            total += k
            slack = 0
        }
        first = false
    }

    public var missRate: Double { total > 0 ? Double(missed) / Double(total) : 0 }
}

/// Nearest-rank percentile (`q` in [0, 1]) of an ascending, non-empty array: the smallest value
/// with at least `q` of the values at or below it. The one rule every exact percentile here uses.
@inline(__always)
public func nearestRank(_ sorted: [Double], _ q: Double) -> Double {
    let rank = Swift.max(1, Int((q * Double(sorted.count)).rounded(.up)))
    return sorted[Swift.min(rank, sorted.count) - 1]
}
