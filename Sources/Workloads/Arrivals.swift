import BenchCore
import Foundation

/// Produces arrival times (seconds since run start) in increasing order.
///
/// Every process runs on unit-rate draws that are then divided by the rate, so scaling the rate
/// (`rateFactor`) moves each arrival in time but keeps every draw: a rate sweep compares the
/// same requests (common random numbers).
struct ArrivalStream {
    enum Impl {
        case poisson(rate: Double)
        case gamma(rate: Double, shape: Double)
        case constant(rate: Double)
        case ramp(r0: Double, r1: Double, rampS: Double)
        case onOff(onRate: Double, offRate: Double, meanOnS: Double, meanOffS: Double)
        /// Prepared trace times (already windowed and scaled) and their row indices.
        case trace(times: [Double], rows: [Int])
    }

    let impl: Impl
    var rng: SeededRNG
    /// Separate stream for on/off period lengths, so burst timing does not depend on rate.
    var phaseRNG: SeededRNG
    var index = 0
    var t = 0.0
    /// Cumulative unit-rate "operational time" for inhomogeneous processes.
    var operational = 0.0
    // on/off state
    var phaseOn = true
    var phaseEnd = 0.0
    var phaseStartOperational = 0.0
    var phaseStart = 0.0

    init(_ impl: Impl, seed: UInt64, stream: UInt64) {
        self.impl = impl
        rng = SeededRNG(seed: seed, stream: stream)
        phaseRNG = SeededRNG(seed: seed, stream: stream &+ 0x5151)
        if case .onOff(_, _, let meanOn, _) = impl {
            phaseEnd = phaseRNG.exponential() * meanOn
        }
    }

    /// Next arrival, with the trace row it came from (trace replay only); nil when exhausted.
    mutating func next() -> (time: Double, row: Int?)? {
        defer { index += 1 }
        switch impl {
        case .poisson(let rate):
            t += rng.exponential() / rate
            return (t, nil)
        case .gamma(let rate, let shape):
            t += rng.gamma(shape: shape) / shape / rate
            return (t, nil)
        case .constant(let rate):
            return (Double(index) / rate, nil)
        case .ramp(let r0, let r1, let rampS):
            operational += rng.exponential()
            let e = operational
            // Λ(t) = r0·t + (r1 − r0)·t²/(2·T) for t ≤ T, then linear at r1.
            let a = (r1 - r0) / (2 * rampS)
            let lambdaT = r0 * rampS + a * rampS * rampS
            if e <= lambdaT {
                if abs(a) < 1e-15 {
                    t = e / r0
                } else {
                    // Stable root of a·t² + r0·t − e = 0.
                    t = 2 * e / (r0 + (r0 * r0 + 4 * a * e).squareRoot())
                }
            } else {
                t = rampS + (e - lambdaT) / r1
            }
            return (t, nil)
        case .onOff(let onRate, let offRate, let meanOn, let meanOff):
            operational += rng.exponential()
            while true {
                let rate = phaseOn ? onRate : offRate
                let phaseCapacity = rate * (phaseEnd - phaseStart)
                if rate > 0, operational - phaseStartOperational <= phaseCapacity {
                    t = phaseStart + (operational - phaseStartOperational) / rate
                    return (t, nil)
                }
                phaseStartOperational += phaseCapacity
                phaseStart = phaseEnd
                phaseOn.toggle()
                phaseEnd = phaseStart + phaseRNG.exponential() * (phaseOn ? meanOn : meanOff)
            }
        case .trace(let times, let rows):
            guard index < times.count else { return nil }
            return (times[index], rows[index])
        }
    }
}

extension ArrivalStream.Impl {
    /// Builds the process for a spec, its rates multiplied by `rateFactor`.
    static func make(_ spec: ArrivalSpec, rateFactor f: Double, traceTimes: (times: [Double], rows: [Int])?) -> Self {
        switch spec {
        case .poisson(let r): return .poisson(rate: r * f)
        case .gamma(let r, let cv): return .gamma(rate: r * f, shape: 1 / (cv * cv))
        case .constant(let r): return .constant(rate: r * f)
        case .ramp(let a, let b, let s): return .ramp(r0: a * f, r1: b * f, rampS: s)
        case .onOff(let on, let off, let mOn, let mOff): return .onOff(onRate: on * f, offRate: off * f, meanOnS: mOn, meanOffS: mOff)
        case .trace:
            let tt = traceTimes ?? ([], [])
            return .trace(times: tt.times.map { $0 / f }, rows: tt.rows)
        }
    }
}

extension TraceArrivalSpec {
    /// Applies window, gap compression, time scale and rate rescale to a trace's timestamps.
    /// Returns times (first kept row at 0) and the indices of the rows kept.
    func prepare(_ trace: Trace, specFile: String) throws(BenchError) -> (times: [Double], rows: [Int]) {
        guard trace.hasTimestamps else {
            throw BenchError.data(specFile, field: "arrival.trace", "'\(path)' has no timestamps (a length-only file cannot drive arrivals)")
        }
        var times: [Double] = []
        var rows: [Int] = []
        for (i, row) in trace.rows.enumerated() {
            guard let ts = row.timestampS else { continue }
            if let (a, b) = windowS, ts < a || ts >= b { continue }
            times.append(ts)
            rows.append(i)
        }
        guard !times.isEmpty else {
            throw BenchError.data(specFile, field: "arrival.window_s", "no trace rows of '\(path)' fall in the window")
        }
        let origin = windowS?.0 ?? times[0]
        var shifted = [Double](repeating: 0, count: times.count)
        var prevRaw = origin
        var acc = 0.0
        for i in 0..<times.count {
            var gap = times[i] - prevRaw
            if let maxGapS, gap > maxGapS { gap = maxGapS }
            acc += gap
            shifted[i] = acc
            prevRaw = times[i]
        }
        var scale = timeScale
        if let rate, shifted.count >= 2 {
            let span = (shifted[shifted.count - 1] - shifted[0]) * timeScale
            if span > 0 { scale *= (Double(shifted.count - 1) / span) / rate }
        }
        return (shifted.map { $0 * scale }, rows)
    }
}
