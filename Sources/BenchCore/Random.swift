#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64: used only to expand a seed into independent stream states.
/// Source: Steele, Lea & Flood, "Fast splittable pseudorandom number generators" (2014).
@inlinable
public func splitMix64(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}

/// A seeded xoshiro256** generator (Blackman & Vigna). Its output sequence is fixed by the
/// algorithm, unlike the standard library's generator, so workloads are reproducible
/// byte for byte on every platform and Swift version.
public struct SeededRNG: RandomNumberGenerator, Sendable {
    @usableFromInline var s0: UInt64
    @usableFromInline var s1: UInt64
    @usableFromInline var s2: UInt64
    @usableFromInline var s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        s0 = splitMix64(&sm)
        s1 = splitMix64(&sm)
        s2 = splitMix64(&sm)
        s3 = splitMix64(&sm)
    }

    /// An independent generator for `(seed, stream, index)`. Draws for request `index` of a
    /// stream come from their own generator, so changing how many draws another stream makes
    /// (e.g. a different arrival rate) leaves them untouched: common random numbers.
    public init(seed: UInt64, stream: UInt64, index: UInt64 = 0) {
        var sm = seed ^ (stream &* 0xD1B5_4A32_D192_ED03)
        _ = splitMix64(&sm)
        sm ^= index &* 0x8CB9_2BA7_2F3D_8DD7
        self.init(seed: splitMix64(&sm))
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = ((s1 &* 5) << 7 | (s1 &* 5) >> 57) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = (s3 << 45) | (s3 >> 19)
        return result
    }

    /// Uniform in [0, 1) with 53 random bits.
    @inlinable
    public mutating func uniform() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// Uniform in (0, 1]: safe to take the logarithm of.
    @inlinable
    public mutating func uniformPositive() -> Double {
        Double((next() >> 11) + 1) * 0x1.0p-53
    }

    @inlinable
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * uniform()
    }

    /// Exponential with mean 1.
    @inlinable
    public mutating func exponential() -> Double {
        -log(uniformPositive())
    }

    /// Standard normal by the Marsaglia polar method (deterministic, no cached spare so each
    /// call consumes a self-contained number of draws).
    @inlinable
    public mutating func normal() -> Double {
        while true {
            let u = 2 * uniform() - 1
            let v = 2 * uniform() - 1
            let s = u * u + v * v
            if s > 0 && s < 1 {
                return u * (-2 * log(s) / s).squareRoot()
            }
        }
    }

    /// Gamma(shape, 1) by Marsaglia & Tsang (2000); shape < 1 via the boost U^(1/shape).
    public mutating func gamma(shape: Double) -> Double {
        if shape < 1 {
            let g = gamma(shape: shape + 1)
            return g * pow(uniformPositive(), 1 / shape)
        }
        let d = shape - 1.0 / 3.0
        let c = 1 / (9 * d).squareRoot()
        while true {
            var x: Double
            var v: Double
            repeat {
                x = normal()
                v = 1 + c * x
            } while v <= 0
            v = v * v * v
            let u = uniformPositive()
            if u < 1 - 0.0331 * x * x * x * x { return d * v }
            if log(u) < 0.5 * x * x + d * (1 - v + log(v)) { return d * v }
        }
    }

    /// Uniform integer in 0..<n without modulo bias (Lemire's method).
    @inlinable
    public mutating func index(below n: Int) -> Int {
        precondition(n > 0)
        return Int(truncatingIfNeeded: next(upperBound: UInt64(n)))
    }
}

