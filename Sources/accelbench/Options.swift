import ArgumentParser
import BenchCore
import Reporting

/// Flags that change how records become metrics; shared by `report` and (later) `run`.
struct MetricsFlags: ParsableArguments {
    @Option(name: .long, help: "How a request's token gaps are compared with its TBT SLO: max (every gap), p99 or mean.")
    var tbtMode: TBTModeArgument = .max

    @Option(name: .long, help: "Exclude requests that arrive in the first S seconds (warm-up).")
    var warmup: Double = 0

    @Option(name: .long, help: "Exclude requests that arrive in the last S seconds before the run's end (cool-down).")
    var cooldown: Double = 0

    func validate() throws {
        guard warmup >= 0, warmup.isFinite else { throw ValidationError("--warmup must be ≥ 0 seconds") }
        guard cooldown >= 0, cooldown.isFinite else { throw ValidationError("--cooldown must be ≥ 0 seconds") }
    }

    var options: MetricsOptions {
        MetricsOptions(tbtMode: tbtMode.mode, warmupS: warmup, cooldownS: cooldown)
    }
}

enum TBTModeArgument: String, ExpressibleByArgument, CaseIterable {
    case max, p99, mean
    var mode: TBTMode { TBTMode(rawValue: rawValue)! }
}

enum TokenTimesArgument: String, ExpressibleByArgument, CaseIterable {
    case absolute, delta
    var encoding: TokenTimesEncoding { TokenTimesEncoding(rawValue: rawValue)! }
}
