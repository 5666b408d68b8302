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
            let tokens = objective == "tokens"
            let cls = className
            let weight: @Sendable (WorkloadRequest) -> Double = { r in
                if let cls, r.className != cls { return 0 }
                return tokens ? Double(r.outputTokens) : 1
            }
            var o = RelaxationBound.Options()
            o.objective = tokens ? .tokens : .requests
            o.classFilter = cls
            o.slotS = slot
            o.maxVariables = maxVariables
            o.windowSlots = windowSlots
            o.segmentVariables = segmentVariables == 0 ? Int.max : segmentVariables
            o.timeLimitS = timeLimit
            o.prefixCaching = engine.prefixCaching
            let bound = RelaxationBound.solve(requests, profile: profile, options: o)
            guard bound.solution.status == .optimal else {
                throw BenchError.data(source.label, "the solver (\(bound.solution.solver)) did not prove an optimum: \(bound.solution.status); no bound reported")
            }
            let schedule = try FeasibleSchedule.search(requests, profile: profile, served: bound.served, weight: weight)
            let lastArrival = requests.map(\.arrivalS).max() ?? 0
            let total = cls.map { c in requests.filter { $0.className == c }.count } ?? requests.count
            let upperValue = tokens ? bound.metTokens(for: cls) : bound.metRequests(for: cls)
            let feasibleValue = schedule.value
            let gap = upperValue > 0 ? (upperValue - feasibleValue) / upperValue : 0

            var w = JSONWriter(reservingCapacity: 4096)
            w.beginObject()
            w.key("schema"); w.string("accelbench.oracle/1")
            w.key("objective"); w.string(objective)
            w.key("class"); w.optionalString(cls)
            w.key("workload")
            w.beginObject()
            w.key("spec"); w.string(workload.header.specName)
            w.key("spec_digest"); w.string(workload.header.specDigest)
            w.key("requests"); w.int(requests.count)
            w.key("last_arrival_s"); w.fixed(lastArrival, decimals: 6)
            w.endObject()
            w.key("profile"); w.string(profile.name)
            func block(met: Double, tok: Double, window: Double) {
                w.beginObject()
                w.key("met_requests"); w.fixed(met, decimals: 4)
                w.key("met_output_tokens"); w.fixed(tok, decimals: 2)
                w.key("window_s"); w.fixed(window, decimals: 6)
                w.key("goodput_rps"); w.fixed(window > 0 ? met / window : 0, decimals: 6)
                w.key("goodput_tokens_per_s"); w.fixed(window > 0 ? tok / window : 0, decimals: 3)
                w.key("attainment"); w.fixed(total > 0 ? met / Double(total) : 0, decimals: 6)
                w.endObject()
            }
            w.key("upper_bound")
            block(met: bound.metRequests(for: cls), tok: bound.metTokens(for: cls), window: lastArrival)
            w.key("feasible")
            let fMet = cls.map { Double(schedule.byClass[$0]?.requests ?? 0) } ?? Double(schedule.metRequests)
            let fTok = cls.map { Double(schedule.byClass[$0]?.tokens ?? 0) } ?? Double(schedule.metTokens)
            block(met: fMet, tok: fTok, window: schedule.endS)
            w.key("gap"); w.fixed(gap, decimals: 6)
            w.key("solver")
            w.beginObject()
            w.key("name"); w.string(bound.solution.solver)
            w.key("status"); w.string(bound.solution.status.description)
            w.key("seconds"); w.fixed(bound.solution.seconds, decimals: 3)
            w.key("slot_s"); w.fixed(bound.slotS, decimals: 6)
            w.key("nodes"); w.int(bound.nodes)
            w.key("variables"); w.int(bound.variables)
            w.key("constraints"); w.int(bound.constraints)
            w.key("impossible_requests"); w.int(bound.impossible)
            w.endObject()
            w.key("schedule")
            w.beginObject()
            w.key("policy"); w.string(schedule.policy.rawValue)
            w.key("threshold"); w.fixed(schedule.threshold, decimals: 3)
            w.key("drop_missed"); w.bool(schedule.dropMissed)
            w.key("admitted"); w.int(schedule.admitted.count)
            w.key("iterations"); w.int(schedule.iterations)
            w.key("iterations_sha256"); w.string(schedule.iterationsSHA256)
            w.endObject()
            w.key("by_class")
            w.beginObject()
            for name in Set(requests.map(\.className)).sorted() {
                let u = bound.byClass[name]
                w.key(name)
                w.beginObject()
                w.key("requests"); w.int(u?.total ?? 0)
                w.key("upper_bound_met"); w.fixed(u?.requests ?? 0, decimals: 4)
                w.key("upper_bound_attainment"); w.fixed((u?.requests ?? 0) / Double(max(1, u?.total ?? 0)), decimals: 6)
                w.key("feasible_met"); w.int(schedule.byClass[name]?.requests ?? 0)
                w.key("feasible_attainment"); w.fixed(Double(schedule.byClass[name]?.requests ?? 0) / Double(max(1, u?.total ?? 0)), decimals: 6)
                w.endObject()
            }
            w.endObject()
            w.key("runs")
            w.beginArray()
            var runLines: [String] = []
            for dir in runs {
                let summary = try ResultsReader(directory: dir).summarize(options: MetricsOptions())
                let achieved: Double
                if let cls {
                    let g = summary.classes.first { $0.0 == cls }?.1
                    achieved = tokens ? ((g?.goodputOutputTokensPerS ?? 0) * summary.windowS).rounded() : Double(g?.met ?? 0)
                } else {
                    achieved = tokens ? (summary.overall.goodputOutputTokensPerS * summary.windowS).rounded() : Double(summary.overall.met)
                }
                let eff = upperValue > 0 ? achieved / upperValue : 0
                w.beginObject()
                w.key("dir"); w.string(dir)
                w.key("target"); w.string(summary.run.target)
                w.key("achieved"); w.fixed(achieved, decimals: 2)
                w.key("efficiency"); w.fixed(eff, decimals: 6)
                w.endObject()
                runLines.append(String(format: "  %@: %.0f (%.1f%% of the bound)", dir, achieved, eff * 100))
            }
            w.endArray()
            w.endObject()
            var bytes = w.bytes
            bytes.append(0x0A)
            try FileIO.writeAtomically(bytes, to: output)
            if let scheduleOut {
                try FileIO.writeAtomically(ScheduleFile(schedule: schedule, workload: workload.header, profile: profile.name).json(), to: scheduleOut)
            }
            let unit = tokens ? "output tokens" : "requests"
            print(String(format: "upper bound: %.2f %@ meeting their SLOs (%.1f%% attainment); feasible: %.0f (%@, admission threshold %.2f%@); gap %.2f%%",
                         upperValue, unit, total > 0 ? bound.metRequests(for: cls) / Double(total) * 100 : 0, feasibleValue,
                         schedule.policy.rawValue, schedule.threshold, schedule.dropMissed ? ", dropping missed requests" : "", gap * 100))
            print(String(format: "solver %@: %@ in %.2f s (%d variables, %d constraints, base slots of %.3f s, %d nodes)",
                         bound.solution.solver, bound.solution.status.description, bound.solution.seconds, bound.variables,
                         bound.constraints, bound.slotS, bound.nodes))
            for l in runLines { print(l) }
            print("written to \(output)")
        }
    }
}

/// The feasible schedule as a file: everything `run --replay-schedule` needs to execute it again.
struct ScheduleFile {
    var schedule: FeasibleSchedule
    var workload: WorkloadHeader
    var profile: String

    func json() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 64 + schedule.admitted.count * 8)
        w.beginObject()
        w.key("schema"); w.string("accelbench.schedule/1")
        w.key("spec_digest"); w.string(workload.specDigest)
        w.key("seed"); w.int(Int(workload.seed))
        w.key("count"); w.int(workload.count)
        w.key("profile"); w.string(profile)
        w.key("policy"); w.string(schedule.policy.rawValue)
        w.key("drop_missed"); w.bool(schedule.dropMissed)
        w.key("met_requests"); w.int(schedule.metRequests)
        w.key("met_output_tokens"); w.int(schedule.metTokens)
        w.key("iterations"); w.int(schedule.iterations)
        w.key("iterations_sha256"); w.string(schedule.iterationsSHA256)
        w.key("admitted")
        w.beginArray()
        for id in schedule.admitted { w.int(id) }
        w.endArray()
        w.endObject()
        var b = w.bytes
        b.append(0x0A)
        return b
    }
}
