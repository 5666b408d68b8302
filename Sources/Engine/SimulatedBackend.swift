import BenchCore
#if canImport(Glibc)
import Glibc
#endif

/// The simulated GPU: each iteration takes the profile's predicted time. Deterministic unless
/// `jitterCV` > 0, which multiplies each duration by a seeded log-normal factor with mean 1 and
/// that coefficient of variation (for robustness studies; measured GPUs vary by a few %).
public struct SimulatedBackend: ExecutionBackend {
    public let model: IterationTimeModel
    public let jitterCV: Double
    private var rng: SeededRNG
    private let sigma: Double
    /// The token terms of the last load's time, by token count: consecutive decode steps of
    /// the same batch differ only in context.
    private var memoTokens = -1
    private var memoTokenTermsS = 0.0

    public init(profile: HardwareProfile, jitterCV: Double = 0, seed: UInt64 = 0) {
        model = IterationTimeModel(profile: profile)
        self.jitterCV = jitterCV
        rng = SeededRNG(seed: seed, stream: 0x7177)
        sigma = (log(1 + jitterCV * jitterCV)).squareRoot()
    }

    public mutating func execute(_ plan: StepPlan) -> StepResult {
        StepResult(durationS: duration(of: plan.load))
    }

    /// The simulated time of an iteration with this load (one jitter draw when jitter is on).
    public mutating func duration(of load: IterationLoad) -> Double {
        var t = 0.0
        if load.tokens > 0 || load.numSequences > 0 {
            if load.tokens != memoTokens {
                memoTokens = load.tokens
                memoTokenTermsS = model.tokenTermsSeconds(tokens: load.tokens)
            }
            t = model.seconds(load, tokenTermsS: memoTokenTermsS)
        }
        if jitterCV > 0 {
            // exp(N(−σ²/2, σ²)) has mean 1 and CV `jitterCV`.
            t *= exp(sigma * rng.normal() - sigma * sigma / 2)
        }
        return t
    }
}

