import BenchCore
import CCurlShim

/// How far this machine's wall clock may be from true time, as the kernel's clock discipline
/// reports it (`adjtimex`: the NTP or chrony daemon's estimated and maximum error). Segments on
/// several hosts start together at one wall-clock instant (`--start-at`), so their records share
/// a time axis only as well as their clocks agree: two clocks each within e of true time are
/// within 2e of each other.
public struct ClockSync: Sendable, Equatable {
    /// A daemon disciplines the clock (the kernel's STA_UNSYNC flag is clear).
    public var synchronized: Bool
    /// The daemon's estimated error and its bound on it, seconds.
    public var estimatedErrorS: Double
    public var maximumErrorS: Double

    /// Over this estimated error a segment warns: AIPerf's preflight warns at 10 ms.
    public static let warnAboveS = 0.010
    /// Over this estimated error a segment's run is invalid: 50 ms, our choice, several times the
    /// 10 ms TTFT differences a run is read for, so cross-host timing would say nothing.
    public static let invalidAboveS = 0.050

    public init(synchronized: Bool, estimatedErrorS: Double, maximumErrorS: Double) {
        self.synchronized = synchronized
        self.estimatedErrorS = estimatedErrorS
        self.maximumErrorS = maximumErrorS
    }

    /// The kernel's view now; nil where `adjtimex` fails.
    public static func read() -> ClockSync? {
        var sync: Int32 = 0
        var est = 0, max = 0
        guard accel_clock_sync(&sync, &est, &max) == 0 else { return nil }
        return ClockSync(synchronized: sync != 0, estimatedErrorS: Double(est) / 1e6, maximumErrorS: Double(max) / 1e6)
    }

    /// A warning for the terminal, when there is one.
    public var warning: String? {
        if !synchronized {
            return "the wall clock is not synchronised by NTP (the kernel reports STA_UNSYNC): segments on other hosts may start at other instants"
        }
        if estimatedErrorS > ClockSync.warnAboveS {
            return "the wall clock's estimated error is \(estimatedErrorS * 1000) ms (over \(ClockSync.warnAboveS * 1000) ms)"
        }
        return nil
    }

    /// Why the run is not a valid segment of a multi-host run, when it is not.
    public var invalidReason: String? {
        guard synchronized, estimatedErrorS > ClockSync.invalidAboveS else { return nil }
        return "the wall clock's estimated error \(estimatedErrorS * 1000) ms exceeds \(ClockSync.invalidAboveS * 1000) ms: segments would not share a time axis"
    }

    /// run.json's `clock` object, with the start instant.
    public func json(startAtUnixS: Double) -> JSONValue {
        .object([
            ("start_at_unix_s", .number(startAtUnixS)),
            ("synchronized", .bool(synchronized)),
            ("estimated_error_ms", .number(estimatedErrorS * 1000)),
            ("maximum_error_ms", .number(maximumErrorS * 1000)),
        ])
    }
}
