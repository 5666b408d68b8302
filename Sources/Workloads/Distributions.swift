import BenchCore
import Foundation

/// A length distribution made ready to sample (tables built once).
struct LengthSampler: Sendable {
    enum Impl: Sendable {
        case fixed(Int)
        case uniform(Int, Int)
        case normal(mean: Double, sd: Double, lo: Double, hi: Double)
        case lognormal(mu: Double, sigma: Double)
        /// Cumulative probabilities for min...max.
        case zipf(cdf: [Double], min: Int)
        case empirical([Int])
        case fromTrace

        var isFromTrace: Bool { if case .fromTrace = self { return true } else { return false } }
    }

    let impl: Impl
    let scale: Double
    let clip: (lo: Int, hi: Int)?

    init(_ spec: LengthSpec, empirical: [Int]? = nil) {
        scale = spec.scale
        clip = spec.clip
        switch spec.kind {
        case .fixed(let v): impl = .fixed(v)
        case .uniform(let a, let b): impl = .uniform(a, b)
        case .normal(let m, let s, let lo, let hi): impl = .normal(mean: m, sd: s, lo: lo, hi: hi)
        case .lognormal(let mu, let sigma): impl = .lognormal(mu: mu, sigma: sigma)
        case .zipf(let s, let lo, let hi):
            var cdf = [Double](repeating: 0, count: hi - lo + 1)
            var total = 0.0
            for k in 0..<cdf.count {
                total += pow(Double(k + 1), -s)
                cdf[k] = total
            }
            for k in 0..<cdf.count { cdf[k] /= total }
            impl = .zipf(cdf: cdf, min: lo)
        case .empirical: impl = .empirical(empirical ?? [1])
        case .fromTrace: impl = .fromTrace
        }
    }

    var isEmpirical: Bool { if case .empirical = impl { return true } else { return false } }

    /// `row` is the pre-drawn row for jointly sampled empirical pairs; `traceValue` is the
    /// length from the arrival trace's row.
    func sample(_ rng: inout SeededRNG, row: Int?, traceValue: Int?) -> Int {
        var x: Double
        switch impl {
        case .fixed(let v): x = Double(v)
        case .uniform(let a, let b): x = Double(a + rng.index(below: b - a + 1))
        case .normal(let m, let s, let lo, let hi):
            x = m
            if s > 0 {
                var tries = 0
                repeat {
                    x = m + s * rng.normal()
                    tries += 1
                } while (x < lo || x > hi) && tries < 1000
                x = Swift.min(Swift.max(x, lo), hi)
            }
        case .lognormal(let mu, let sigma): x = exp(mu + sigma * rng.normal())
        case .zipf(let cdf, let lo):
            let u = rng.uniform()
            var a = 0, b = cdf.count - 1
            while a < b {
                let mid = (a + b) / 2
                if cdf[mid] <= u { a = mid + 1 } else { b = mid }
            }
            x = Double(lo + a)
        case .empirical(let values):
            x = Double(values[row ?? rng.index(below: values.count)])
        case .fromTrace:
            x = Double(traceValue ?? 1)
        }
        // A far tail draw (a lognormal's, say) can be huge or infinite: lengths stop at the cap.
        let y = (x * scale).rounded()
        var v = y >= 1 ? Int(Swift.min(y, Double(LengthSpec.maxValue))) : 1
        if let clip { v = Swift.min(Swift.max(v, clip.lo), clip.hi) }
        return Swift.max(v, 1)
    }
}

/// SLO rules made ready to draw per request.
struct SLOSampler: Sendable {
    let spec: SLOSpec

    static func factor(_ r: FactorRange, _ rng: inout SeededRNG) -> Double {
        r.lo == r.hi ? r.lo : rng.uniform(r.lo, r.hi)
    }

    /// Rounds to the precision written in workload files, so in-memory and re-read values agree.
    static func round(_ x: Double, decimals: Double) -> Double { (x * decimals).rounded() / decimals }

    func sample(prompt: Int, output: Int, _ rng: inout SeededRNG) -> SLO {
        var slo = SLO(ttftOf: spec.ttftOf)
        switch spec.ttft {
        case .fixed(let ms, let f)?:
            slo.ttftMs = ms * SLOSampler.factor(f, &rng)
        case .perBucket(let tokens, let table, let f)?:
            let b = (prompt - 1) / tokens
            let base: Double
            if b < table.count {
                base = table[b]
            } else {
                let step = table.count >= 2 ? Swift.max(0, table[table.count - 1] - table[table.count - 2]) : 0
                base = table[table.count - 1] + Double(b - table.count + 1) * step
            }
            slo.ttftMs = base * SLOSampler.factor(f, &rng)
        case .predicted(let fixed, let per, let sq, let slack)?:
            let p = Double(prompt)
            slo.ttftMs = fixed + per * p + sq * p * p + slack
        case nil: break
        }
        if case .fixed(let ms, let f)? = spec.tbt {
            slo.tbtMs = ms * SLOSampler.factor(f, &rng)
        }
        if case .budget(let base, let perOut, let perIn, let f)? = spec.jct {
            slo.jctS = (base + perOut * Double(output) / 1000 + perIn * Double(prompt) / 1000) * SLOSampler.factor(f, &rng)
        }
        slo.ttftMs = slo.ttftMs.map { SLOSampler.round($0, decimals: 1e3) }
        slo.tbtMs = slo.tbtMs.map { SLOSampler.round($0, decimals: 1e3) }
        slo.jctS = slo.jctS.map { SLOSampler.round($0, decimals: 1e6) }
        return slo
    }
}
