import BenchCore

/// A token-length distribution. Samples are rounded to integers, then `scale`d, then clipped to
/// `clip` (and never below 1 token).
public struct LengthSpec: Sendable, Equatable {
    /// The largest length a spec may state or a draw may give, tokens (or ms for think times):
    /// 10^9, a thousand times the longest context of any model today (our choice). It keeps every
    /// later sum and product of lengths far inside Int's range.
    public static let maxValue = 1_000_000_000
    public enum Kind: Sendable, Equatable {
        case fixed(Int)
        /// Inclusive integer range.
        case uniform(min: Int, max: Int)
        /// Normal truncated to [min, max] by rejection.
        case normal(mean: Double, sd: Double, min: Double, max: Double)
        /// exp(N(mu, sigma²)).
        case lognormal(mu: Double, sigma: Double)
        /// P(k) ∝ (k − min + 1)^(−s) on min...max.
        case zipf(s: Double, min: Int, max: Int)
        /// Values of one column of a trace file, drawn uniformly by row.
        case empirical(trace: String, column: String)
        /// The length recorded in the arrival trace's row (trace replay only).
        case fromTrace
    }

    public var kind: Kind
    public var scale: Double = 1
    public var clip: (lo: Int, hi: Int)? = nil
    /// Spec line of an empirical distribution's trace path, for errors found when reading it.
    public var line: Int? = nil

    public static func == (a: LengthSpec, b: LengthSpec) -> Bool {
        a.kind == b.kind && a.scale == b.scale && a.clip?.lo == b.clip?.lo && a.clip?.hi == b.clip?.hi
    }
}

/// A per-request SLO value drawn from a base and a uniform factor (AccelGen draws factors from a
/// range; the distribution is not published, uniform is our choice, seeds-spec §1.6).
public struct FactorRange: Sendable, Equatable {
    public var lo: Double
    public var hi: Double
    public static let one = FactorRange(lo: 1, hi: 1)
}

public enum TTFTRule: Sendable, Equatable {
    case fixed(ms: Double, factor: FactorRange)
    /// AccelGen: base TTFT per prompt-length bucket × factor. Prompts past the table extend it
    /// linearly with the last step (our choice).
    case perBucket(bucketTokens: Int, bucketMs: [Double], factor: FactorRange)
    /// Etalon: predicted prefill time (quadratic in prompt tokens) + slack.
    case predicted(fixedMs: Double, perTokenMs: Double, perTokenSqMs: Double, slackMs: Double)
}

public enum TBTRule: Sendable, Equatable {
    case fixed(ms: Double, factor: FactorRange)
}

public enum JCTRule: Sendable, Equatable {
    /// (base + per-output-token + per-prompt-token budgets) × factor, seconds.
    case budget(baseS: Double, perOutputTokenMs: Double, perPromptTokenMs: Double, factor: FactorRange)
}

public struct SLOSpec: Sendable, Equatable {
    public var ttft: TTFTRule?
    /// Which token the TTFT SLO is measured to (`ttft_of`; default: the first of any kind).
    public var ttftOf: TTFTPoint = .token
    public var tbt: TBTRule?
    public var jct: JCTRule?
}

public struct PrefixSpec: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// Each request picks one of `groups` shared prefixes of `tokens` tokens.
        case groups(count: Int, tokens: Int)
        /// Prefix groups derived from the arrival trace's block hashes (Mooncake).
        case fromTrace
        case none
    }
    public var mode: Mode
}

public enum ArrivalSpec: Sendable, Equatable {
    case poisson(rate: Double)
    /// Gamma-distributed gaps with the given coefficient of variation (CV 1 = Poisson).
    case gamma(rate: Double, cv: Double)
    case constant(rate: Double)
    /// Poisson whose rate moves linearly from `fromRate` to `toRate` over `rampS`, then stays.
    case ramp(fromRate: Double, toRate: Double, rampS: Double)
    /// Two-state Markov-modulated Poisson process: exponential on/off periods.
    case onOff(onRate: Double, offRate: Double, meanOnS: Double, meanOffS: Double)
    case trace(TraceArrivalSpec)

    /// Mean offered rate in requests/s (nil for a trace without `rate`, known only after reading).
    public var nominalRate: Double? {
        switch self {
        case .poisson(let r), .gamma(let r, _), .constant(let r): return r
        case .ramp(let a, let b, _): return max(a, b)
        case .onOff(let on, let off, let mOn, let mOff): return (on * mOn + off * mOff) / (mOn + mOff)
        case .trace(let t): return t.rate
        }
    }
}

public struct TraceArrivalSpec: Sendable, Equatable {
    public var path: String
    public var format: TraceFormat?
    /// Multiply trace times by this (2 = half the rate).
    public var timeScale: Double = 1
    /// Keep rows with time in [start, end) seconds (before scaling), then shift to start at 0.
    public var windowS: (Double, Double)? = nil
    /// Rescale times so the mean rate over the kept rows is this (requests/s).
    public var rate: Double? = nil
    /// Compress idle gaps longer than this many seconds to this length (nil: keep as is).
    public var maxGapS: Double? = nil
    /// Spec line of the trace path, for errors found when reading the file.
    public var line: Int? = nil

    public static func == (a: TraceArrivalSpec, b: TraceArrivalSpec) -> Bool {
        a.path == b.path && a.format == b.format && a.timeScale == b.timeScale && a.windowS?.0 == b.windowS?.0
            && a.windowS?.1 == b.windowS?.1 && a.rate == b.rate && a.maxGapS == b.maxGapS
    }
}

public struct ClassSpec: Sendable, Equatable {
    public var name: String
    public var kind: RequestKind
    public var share: Double?
    public var arrival: ArrivalSpec?
    public var prompt: LengthSpec
    public var output: LengthSpec
    public var slo: SLOSpec
    public var prefix: PrefixSpec
    /// Largest prompt + output a request may have (e.g. the model's context). Sampled lengths
    /// over it are redrawn (up to 100 times, then the prompt is cut); lengths from a trace row
    /// have their prompt cut. nil: no limit.
    public var maxTotalTokens: Int? = nil
    public var sloRuleText: String
    /// A conversation class: each arrival starts a session of several turns (`prompt` is then
    /// the new user tokens of a turn, `output` a turn's answer). nil: one request per arrival.
    public var session: SessionSpec? = nil
}

/// Multi-turn sessions (a class's `session:`). Turn k's prompt is the history (every earlier
/// turn's prompt and answer) plus its new user tokens; it is sent `think` after turn k − 1's
/// answer ends.
public struct SessionSpec: Sendable, Equatable {
    public enum Overflow: String, Sendable, CaseIterable {
        /// Keep the newest `maxContext − output` tokens of the prompt (the oldest history is
        /// dropped, as chat front ends do); the shared prefix is lost from there on.
        case truncate
        /// The session ends before the turn that would not fit.
        case end
    }

    /// Turns per session (≥ 1).
    public var turns: LengthSpec
    /// Think time between a turn's answer and the next turn's send, milliseconds.
    public var thinkMs: LengthSpec
    /// Largest prompt + output of a turn (the model's context, say); nil: no limit.
    public var maxContext: Int?
    public var onOverflow: Overflow = .truncate
}

/// A parsed workload spec (YAML). See docs/workloads.md for the format.
public struct WorkloadSpec: Sendable, Equatable {
    public var name: String
    public var description: String?
    public var seed: UInt64
    public var count: Int?
    public var durationS: Double?
    public var arrival: ArrivalSpec?
    public var classes: [ClassSpec]
    /// Directory relative paths in the spec are resolved against.
    public var baseDirectory: String
    /// The spec's own text, for the digest.
    public var text: String
}
