import ArgumentParser
import BenchCore
import Engine
import Foundation
import Harness
import Oracle
import Reporting
import Workloads

struct SweepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sweep",
        abstract: "Run one workload at a series of offered rates, and find the highest rate that meets an attainment target.",
        discussion: """
        Every rate gets the same draws (common random numbers): the generator keeps each request's class, \
        lengths and SLOs and scales only the arrival times, so the rates differ in load alone. Each rate is \
        a results directory OUTPUT/rate-R; OUTPUT/sweep.json (schema accelbench.sweep/1) lists them with \
        their headline metrics for `plot` and `report`.
        --search finds the highest rate whose SLO attainment (overall, or each --class's) reaches \
        --target-attainment: it brackets by doubling or halving from the highest passing grid rate (or \
        --start-rate), then bisects until the bracket is within --precision (2.5%) of its upper end, as \
        Sarathi-Serve's capacity search does. Engine sweeps run several rates at once (--jobs); endpoint sweeps \
        run one rate at a time. Ctrl-C or SIGTERM writes sweep.json with the rates done (exit 130 or 143); \
        sweep.json is rewritten after every rate, so a killed sweep leaves the rates it finished listed.
        A grid splits over several processes or machines: --points i/N runs share i (0-based) of N, the \
        k-th lowest rate going to share k mod N, and `sweep --merge DIR... -o OUT` joins the shares into \
        one sweep directory, the same as one process sweeping the whole grid writes (exit 3, with reasons, \
        when a share or a rate is missing). `accelbench k8s sweep` writes the Kubernetes manifests for it.
        """)

    @Option(name: .long, help: "Workload spec (YAML).")
    var spec: String?

    @Option(name: .long, help: "Run share i of N (0-based) of the --rates grid: the k-th lowest rate belongs to share k mod N.")
    var points: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Join these shares' sweep directories (sweep --points i/N) into -o; no other flag applies.")
    var merge: [String] = []

    @Option(name: .long, help: "Offered rates (requests/s): START:STOP:STEP (inclusive) or a comma list. Optional with --search.")
    var rates: String?

    @Option(name: .long, help: "Seed (default: the spec's).")
    var seed: UInt64?

    @Option(name: .long, help: "Requests per rate (default: the spec's).")
    var count: Int?

    @Flag(name: .long, help: "Find the highest rate meeting --target-attainment.")
    var search = false

    @Option(name: .long, help: "With --search: the fraction of requests that must meet their SLOs.")
    var targetAttainment = 0.9

    @Option(name: .customLong("class"), help: "With --search: search this class's attainment instead of the overall one (repeatable: one search per class).")
    var classes: [String] = []

    @Option(name: .long, help: "With --search: stop when the bracket is within this fraction of its upper end (Sarathi-Serve: 2.5%).")
    var precision = 0.025

    @Option(name: .long, help: "With --search and no --rates: the first rate probed (requests/s; our choice 1).")
    var startRate = 1.0

    @Option(name: .long, help: "With --search: do not probe above this rate (requests/s).")
    var maxRate = 10_000.0

    @Flag(name: .long, help: "Engine sweeps: also compute the oracle's upper bound at each rate (in sweep.json; a line in the plots).")
    var oracle = false

    @Option(name: .long, help: "Engine sweeps: rates simulated at once (default: the machine's cores).")
    var jobs: Int?

    @OptionGroup var engine: EngineFlags

    @Option(name: .long, help: "Scheduling policy (engine sweeps): \(PolicyName.list).")
    var policy = "accelgen"

    @OptionGroup var policyFlags: PolicyFlags
    @OptionGroup var remote: EndpointFlags
    @OptionGroup var metrics: MetricsFlags

    @Option(name: .shortAndLong, help: "Sweep directory.")
    var output: String

    @Flag(name: .long, help: "Print sweep.json instead of the table.")
    var json = false

    func validate() throws {
        if !merge.isEmpty {
            if spec != nil || points != nil || rates != nil || search || oracle { throw ValidationError("--merge joins finished shares: give only the directories and -o") }
            return
        }
        guard spec != nil else { throw ValidationError("give --spec (or --merge DIR...)") }
        if let points {
            do { _ = try Segment.parse(points, flag: "--points") } catch { throw ValidationError(error.description) }
            guard rates != nil, !search else { throw ValidationError("--points splits a --rates grid; a --search probes one rate after another and cannot be split") }
        }
        if rates == nil && !search { throw ValidationError("give --rates, --search, or both") }
        if let rates { _ = try SweepCommand.parseRates(rates) }
        guard targetAttainment > 0, targetAttainment <= 1 else { throw ValidationError("--target-attainment must be in (0, 1]") }
        guard precision > 0, precision < 1 else { throw ValidationError("--precision must be in (0, 1)") }
        guard startRate > 0, startRate.isFinite else { throw ValidationError("--start-rate must be > 0 requests/s") }
        guard maxRate >= startRate else { throw ValidationError("--max-rate must be ≥ --start-rate") }
        if let count, count <= 0 { throw ValidationError("--count must be > 0") }
        if let jobs, jobs <= 0 { throw ValidationError("--jobs must be > 0") }
        if !classes.isEmpty && !search { throw ValidationError("--class applies to --search") }
        if oracle && remote.endpoint != nil { throw ValidationError("--oracle applies to engine sweeps (the bound is for the simulated profile)") }
    }

    /// "1:20:1" → 1, 2, ..., 20; "1,2.5,4" → those. Errors name the flag.
    static func parseRates(_ text: String) throws -> [Double] {
        let bad = ValidationError("--rates: '\(text)' is not START:STOP:STEP or a comma list of rates > 0")
        if text.contains(":") {
            let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
            guard parts.count == 3, let a = parts[0], let b = parts[1], let s = parts[2], a > 0, b >= a, s > 0, a.isFinite, b.isFinite else { throw bad }
            let n = Int(((b - a) / s + 1e-9).rounded(.down))
            guard n < 10_000 else { throw ValidationError("--rates: more than 10,000 rates") }
            return (0...n).map { CapacitySearch.round(a + Double($0) * s) }
        }
        let xs = text.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !xs.isEmpty, xs.allSatisfy({ $0 != nil && $0! > 0 && $0!.isFinite }) else { throw bad }
        return Array(Set(xs.map { CapacitySearch.round($0!) })).sorted()
    }

    func run() throws {
        if !merge.isEmpty { return try runMerge() }
        guard let spec else { return }
        try guarded {
            let parsed = try WorkloadSpec.load(path: spec)
            let generator = WorkloadGenerator(spec: parsed, specFile: spec)
            func workload(at rate: Double) throws(BenchError) -> Workload {
                try generator.generate(GenerateOptions(seed: seed, rate: rate, count: count))
            }
            let first = try workload(at: try rates.map { try SweepCommand.parseRates($0)[0] } ?? startRate)
            let classNames = first.header.classes.map(\.name)
            for c in classes where !classNames.contains(c) {
                throw BenchError.usage("--class '\(c)' is not in the workload; classes: \(classNames.joined(separator: ", "))")
            }
            let target: Sweeper.Target
            if remote.endpoint == nil {
                let profile = try engine.resolveProfile()
                let policyName = try PolicyName.parse(policy)
                try policyFlags.check(policyName)
                target = .engine(engine.target(policyName, policyFlags.options, profile: profile))
            } else {
                target = .http(HTTPTarget(options: try remote.options(), warmupRequests: remote.warmupRequests))
            }
            Interrupt.install()
            var sweeper = Sweeper(target: target, output: output, workload: workload)
            sweeper.metrics = metrics.options
            if let jobs { sweeper.jobs = jobs }
            sweeper.oracle = oracle
            sweeper.share = try points.map { try Segment.parse($0, flag: "--points") }
            sweeper.shouldStop = { Interrupt.isRequested }
            sweeper.onWarning = { printError("accelbench: " + $0) }
            if !json {
                sweeper.onPoint = { p in
                    printError(String(format: "  rate %g req/s: attainment %.4f, goodput %.3f req/s", p.rateRPS,
                                      p.summary.overall.attainment.overall, p.summary.overall.goodputRequestsPerS))
                }
            }
            let searchSettings = Sweeper.Search(enabled: search, targetAttainment: targetAttainment, precision: precision,
                                                startRate: startRate, maxRate: maxRate, classes: classes.isEmpty ? [nil] : classes)
            let outcome = try sweeper.run(grid: try rates.map { try SweepCommand.parseRates($0) }, search: searchSettings, header: first.header)
            if json {
                FileHandleWriter.write(String(decoding: try FileIO.readFile(output + "/" + SweepFile.name), as: UTF8.self), fd: 1)
            } else {
                print(Sweeper.table(outcome.points, classes: classNames, searches: outcome.searches, target: targetAttainment), terminator: "")
                print("sweep in \(output)/\(SweepFile.name) (\(outcome.points.count) rates)")
            }
            if outcome.stopped { throw BenchExit(code: Interrupt.exitCode) }
        }
    }

    /// `--merge DIR...`: the shares joined into -o; exit 3 when some rate is missing.
    func runMerge() throws {
        try guarded {
            let m = try SweepMerge.merge(merge, into: output)
            if json {
                FileHandleWriter.write(String(decoding: try FileIO.readFile(output + "/" + SweepFile.name), as: UTF8.self), fd: 1)
            } else {
                print(Sweeper.table(m.points, classes: m.classes, searches: [], target: targetAttainment), terminator: "")
                print("merged \(m.shares) shares, \(m.points.count) rates into \(output)/\(SweepFile.name)")
                for r in m.incomplete { print("incomplete: \(r)") }
            }
            if !m.incomplete.isEmpty { throw BenchExit(code: ExitCodes.invalidRun) }
        }
    }
}
