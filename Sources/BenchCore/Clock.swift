#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The one monotonic clock of the program. The engine never reads it: real-time drivers are
/// handed one (`RealTimeClock`), and every other reader (load generator, benchmarks, wall
/// times of runs) calls `monotonicSeconds`.
@inline(__always)
public func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// What a real-time driver needs of time: the clock, and a wait until a moment on it.
public protocol RealTimeClock: Sendable {
    /// Seconds on a monotonic axis.
    func now() -> Double
    /// Returns at `target` (or at once if it has passed).
    func sleep(until target: Double)
}

/// The monotonic clock, with a sleep precise to a few microseconds.
public struct MonotonicClock: RealTimeClock {
    /// The last stretch of a sleep that is spun rather than slept, seconds. 100 µs: our choice
    /// (iterations last milliseconds; with the default 50 µs timer slack a plain sleep wakes up
    /// to that much late, and spinning 100 µs costs < 1% of a 20 ms step).
    public var spinS = 100e-6

    public init() {}

    public func now() -> Double { monotonicSeconds() }

    public func sleep(until target: Double) {
        var remaining = target - now()
        if remaining > spinS {
            let s = remaining - spinS
            var ts = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
            var rem = timespec()
            while nanosleep(&ts, &rem) != 0 && errno == EINTR { ts = rem }
        }
        remaining = target - now()
        while remaining > 0 { remaining = target - now() }
    }
}
