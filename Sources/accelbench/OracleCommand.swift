import ArgumentParser
import BenchCore
import Engine
import Foundation
import Oracle
import Reporting

struct OracleCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oracle",
        abstract: "An upper bound on goodput for a workload on an engine profile, a feasible clairvoyant schedule, and the gap.",
        discussion: """
        upper_bound comes from a time-indexed linear relaxation of the engine model (solved by COIN-OR Clp): no \
        scheduler on the profile's iteration-time model can do better (docs/oracle.md lists what is relaxed and why). \
        feasible is the best simulated schedule with perfect knowledge: admission of the requests the relaxation \
        serves, then a deterministic policy; --schedule-out writes it, and `run --replay-schedule FILE` executes \
        it again with the same result. gap = (U − L) / U. --runs DIR... reports each run's efficiency = achieved / U.
        Goodput per second divides by the workload's last arrival for the bound (every run's window is at least \
        that long) and by the schedule's own window for the feasible schedule; gap and efficiency compare counts.
        """)

    @OptionGroup var source: WorkloadFlags
    @OptionGroup var engine: EngineFlags

    @Option(name: .long, help: "What to maximise: requests (meeting every SLO), tokens (their output tokens) or attainment (requests / total).")
    var objective = "requests"

    @Option(name: .customLong("class"), help: "Maximise for this class only (the others may be dropped).")
    var className: String?

    @Option(name: .long, parsing: .upToNextOption, help: "Results directories to rate against the bound.")
    var runs: [String] = []

    @Option(name: .long, help: "Base slot length of the relaxation, seconds (default: the finest of 0.01 s × 2^k that keeps it under --max-variables).")
    var slot: Double?

    @Option(name: .long, help: "Most nodes one request window spans at its finest level (our choice: windows are rounded out by at most about 1/16 of their length on each side).")
    var windowSlots = 32

    @Option(name: .long, help: "Largest relaxation, in variables (our choice: the 19,366-request Azure hour then solves in about 15 s here; coarser slots beyond).")
    var maxVariables = 250_000

    @Option(name: .long, help: "Split the requests by arrival into separately solved segments of about this many variables, solved on every core (a valid, looser bound; 0: no split).")
    var segmentVariables = 20_000

    @Option(name: .long, help: "Solver time limit, CPU seconds of the whole process (Clp counts every thread).")
    var timeLimit: Double = 600

    @Flag(name: .long, help: "Leave out the KV residency rows (each iteration's decodes hold their prompts' KV within the capacity): only to measure what they add to the bound.")
    var noKvResidency = false

    @Flag(name: .long, help: "Leave out prefill attention (each request's query-key pairs, charged to the nodes holding its first-token window): only to measure what it adds.")
    var noPrefillAttention = false

    @Flag(name: .long, help: "Solve every segment of the relaxation, even one that a schedule admitting every request already meets whole (whose optimum is then known: the same bound, more time; to check that).")
    var solveEverySegment = false

    @Option(name: .long, help: "Write the feasible schedule here (for `run --replay-schedule`).")
    var scheduleOut: String?

    @Option(name: .shortAndLong, help: "Output JSON file.")
    var output: String

    func validate() throws {
        guard ["requests", "tokens", "attainment"].contains(objective) else { throw ValidationError("--objective must be requests, tokens or attainment") }
        if let slot, !(slot > 0) { throw ValidationError("--slot must be > 0 seconds") }
        guard maxVariables >= 1000 else { throw ValidationError("--max-variables must be ≥ 1000") }
        guard timeLimit > 0 else { throw ValidationError("--time-limit must be > 0") }
        guard windowSlots >= 2 else { throw ValidationError("--window-slots must be ≥ 2") }
        if segmentVariables != 0 && segmentVariables < 100 { throw ValidationError("--segment-variables must be 0 (no split) or ≥ 100") }
    }

    func run() throws {
        try guarded {
            let profile = try engine.resolveProfile()
            let workload = try source.load()
            let requests = workload.requests
            guard !requests.isEmpty else { throw BenchError.data(source.label, "the workload has no requests") }
            if let c = className, !requests.contains(where: { $0.className == c }) {
                let names = Set(requests.map(\.className)).sorted().joined(separator: ", ")
                throw BenchError.usage("--class '\(c)' is not in the workload; classes: \(names)")
            }
            var q = OracleQuestion()
            q.objective = OracleQuestion.Objective(rawValue: objective)!
            q.className = className
            q.bound.slotS = slot
            q.bound.maxVariables = maxVariables
            q.bound.windowSlots = windowSlots
            q.bound.segmentVariables = segmentVariables == 0 ? Int.max : segmentVariables
            q.bound.timeLimitS = timeLimit
            q.bound.prefixCaching = engine.prefixCaching
            q.bound.kvResidency = !noKvResidency
            q.bound.prefillAttention = !noPrefillAttention
            q.attainedShortcut = !solveEverySegment
            let rated = try runs.map { dir throws(BenchError) in (dir, try ResultsReader(directory: dir).summarize(options: MetricsOptions())) }
            let report = try OracleReport.compute(workload, source: source.label, profile: profile, question: q, runs: rated)
            try FileIO.writeAtomically(report.json(), to: output)
            if let scheduleOut {
                try FileIO.writeAtomically(ScheduleFile(schedule: report.schedule, workload: workload.header, profile: profile.name).json(),
                                           to: scheduleOut)
            }
            for line in report.lines() { print(line) }
            print("written to \(output)")
        }
    }
}
