import BenchCore
import Engine
import Foundation
import Reporting

/// What `accelbench oracle` asks: maximise requests meeting their SLOs, their output tokens,
/// or attainment (requests / total: the same optimum as requests), over all classes or one.
public struct OracleQuestion: Sendable {
    public enum Objective: String, Sendable, CaseIterable {
        case requests, tokens, attainment
    }

    public var objective: Objective = .requests
    public var className: String?
    /// The relaxation's settings (its objective and class filter are set from the question).
    public var bound = RelaxationBound.Options()
    /// Skip the solve of a segment that a schedule admitting every request meets whole (its
    /// optimum is known; `SegmentProgram.attained(by:)`). Off only to check that.
    public var attainedShortcut = true

    public init() {}

    var countsTokens: Bool { objective == .tokens }

    /// The weight of a request in the objective.
    var weight: @Sendable (WorkloadRequest) -> Double {
        let cls = className, tokens = countsTokens
        return { r in
            if let cls, r.className != cls { return 0 }
            return tokens ? Double(r.outputTokens) : 1
        }
    }
}

/// The oracle's answer (oracle.json, schema accelbench.oracle/1): the relaxation's upper bound
/// U, the feasible clairvoyant schedule L, the gap (U − L) / U, and each rated run's
/// efficiency = achieved / U. Goodput per second divides by the workload's last arrival for
/// the bound (every run's window is at least that long) and by the schedule's own window for
/// the feasible schedule; gap and efficiency compare counts.
public struct OracleReport {
    public static let schema = "accelbench.oracle/1"

    public let question: OracleQuestion
    public let workload: WorkloadHeader
    public let requests: [WorkloadRequest]
    public let profile: String
    public let bound: RelaxationBound.Result
    public let schedule: FeasibleSchedule
    public let ratings: [RunRating]

    /// A results directory rated against the bound.
    public struct RunRating {
        public var directory: String
        public var target: String
        /// Requests met (or their output tokens) in the run, for the question's class.
        public var achieved: Double
        public var efficiency: Double
    }

    /// Solves the relaxation, searches the feasible schedule, and rates `runs` (directory and
    /// its summary). Throws when the solver does not prove an optimum (no bound is reported).
    /// - Parameter source: names the workload in errors.
    public static func compute(_ workload: Workload, source: String, profile: HardwareProfile, question: OracleQuestion,
                               runs: [(directory: String, summary: Summary)]) throws -> OracleReport {
        // The bound fixes every arrival in advance; a later turn's depends on the schedule.
        if let e = workload.sessionsUnsupported(by: "the oracle") { throw e }
        let requests = workload.requests
        var q = question
        q.bound.objective = q.countsTokens ? .tokens : .requests
        q.bound.classFilter = q.className
        let admittingAll = try FeasibleSchedule.admittingAll(requests, profile: profile, weight: q.weight)
        let bound = RelaxationBound.solve(requests, profile: profile, options: q.bound, attainedBy: q.attainedShortcut ? admittingAll.map { Set($0.metIDs) } : [])
        guard bound.solution.status == .optimal else {
            throw BenchError.data(source, "the solver (\(bound.solution.solver)) did not prove an optimum: \(bound.solution.status); no bound reported")
        }
        let upper = q.countsTokens ? bound.metTokens(for: q.className) : bound.metRequests(for: q.className)
        let schedule = try FeasibleSchedule.search(requests, profile: profile, served: bound.served, weight: q.weight, known: admittingAll,
                                                   upperBound: upper)
        let ratings = runs.map { run in
            let achieved = achievedValue(run.summary, question: q)
            return RunRating(directory: run.directory, target: run.summary.run.target, achieved: achieved,
                             efficiency: upper > 0 ? achieved / upper : 0)
        }
        return OracleReport(question: q, workload: workload.header, requests: requests, profile: profile.name, bound: bound,
                            schedule: schedule, ratings: ratings)
    }

    static func achievedValue(_ summary: Summary, question q: OracleQuestion) -> Double {
        if let cls = q.className {
            let g = summary.classes.first { $0.0 == cls }?.1
            return q.countsTokens ? ((g?.goodputOutputTokensPerS ?? 0) * summary.windowS).rounded() : Double(g?.met ?? 0)
        }
        return q.countsTokens ? (summary.overall.goodputOutputTokensPerS * summary.windowS).rounded() : Double(summary.overall.met)
    }

    // MARK: the figures

    public var lastArrivalS: Double { requests.map(\.arrivalS).max() ?? 0 }
    /// Requests of the question's class (all requests without one).
    public var total: Int { question.className.map { c in requests.filter { $0.className == c }.count } ?? requests.count }
    /// U in the objective's unit.
    public var upperValue: Double {
        question.countsTokens ? bound.metTokens(for: question.className) : bound.metRequests(for: question.className)
    }
    /// L in the objective's unit.
    public var feasibleValue: Double { schedule.value }
    public var gap: Double { upperValue > 0 ? (upperValue - feasibleValue) / upperValue : 0 }
    var feasibleMet: Double {
        question.className.map { Double(schedule.byClass[$0]?.requests ?? 0) } ?? Double(schedule.metRequests)
    }
    var feasibleTokens: Double {
        question.className.map { Double(schedule.byClass[$0]?.tokens ?? 0) } ?? Double(schedule.metTokens)
    }

    // MARK: oracle.json

    public func json() -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 4096)
        w.beginObject()
        w.key("schema"); w.string(OracleReport.schema)
        w.key("objective"); w.string(question.objective.rawValue)
        w.key("class"); w.optionalString(question.className)
        w.key("workload")
        w.beginObject()
        w.key("spec"); w.string(workload.specName)
        w.key("spec_digest"); w.string(workload.specDigest)
        w.key("requests"); w.int(requests.count)
        w.key("last_arrival_s"); w.fixed(lastArrivalS, decimals: 6)
        w.endObject()
        w.key("profile"); w.string(profile)
        w.key("upper_bound")
        writeBlock(&w, met: bound.metRequests(for: question.className), tokens: bound.metTokens(for: question.className), windowS: lastArrivalS)
        w.key("feasible")
        writeBlock(&w, met: feasibleMet, tokens: feasibleTokens, windowS: schedule.endS)
        w.key("gap"); w.fixed(gap, decimals: 6)
        writeSolver(&w)
        writeSchedule(&w)
        writeClasses(&w)
        w.key("runs")
        w.beginArray()
        for r in ratings {
            w.beginObject()
            w.key("dir"); w.string(r.directory)
            w.key("target"); w.string(r.target)
            w.key("achieved"); w.fixed(r.achieved, decimals: 2)
            w.key("efficiency"); w.fixed(r.efficiency, decimals: 6)
            w.endObject()
        }
        w.endArray()
        w.endObject()
        var bytes = w.bytes
        bytes.append(0x0A)
        return bytes
    }

    private func writeBlock(_ w: inout JSONWriter, met: Double, tokens: Double, windowS: Double) {
        w.beginObject()
        w.key("met_requests"); w.fixed(met, decimals: 4)
        w.key("met_output_tokens"); w.fixed(tokens, decimals: 2)
        w.key("window_s"); w.fixed(windowS, decimals: 6)
        w.key("goodput_rps"); w.fixed(windowS > 0 ? met / windowS : 0, decimals: 6)
        w.key("goodput_tokens_per_s"); w.fixed(windowS > 0 ? tokens / windowS : 0, decimals: 3)
        w.key("attainment"); w.fixed(total > 0 ? met / Double(total) : 0, decimals: 6)
        w.endObject()
    }

    private func writeSolver(_ w: inout JSONWriter) {
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
        w.key("segments"); w.int(bound.segments)
        w.key("segments_attained"); w.int(bound.attainedSegments)
        w.key("lazy_rows_added"); w.int(bound.lazyRowsAdded)
        w.endObject()
    }

    private func writeSchedule(_ w: inout JSONWriter) {
        w.key("schedule")
        w.beginObject()
        w.key("policy"); w.string(schedule.policy.rawValue)
        w.key("threshold"); w.fixed(schedule.threshold, decimals: 3)
        w.key("drop_missed"); w.bool(schedule.dropMissed)
        w.key("admitted"); w.int(schedule.admitted.count)
        w.key("iterations"); w.int(schedule.iterations)
        w.key("iterations_sha256"); w.string(schedule.iterationsSHA256)
        w.endObject()
    }

    private func writeClasses(_ w: inout JSONWriter) {
        w.key("by_class")
        w.beginObject()
        for name in Set(requests.map(\.className)).sorted() {
            let u = bound.byClass[name]
            let total = Double(max(1, u?.total ?? 0))
            w.key(name)
            w.beginObject()
            w.key("requests"); w.int(u?.total ?? 0)
            w.key("upper_bound_met"); w.fixed(u?.requests ?? 0, decimals: 4)
            w.key("upper_bound_attainment"); w.fixed((u?.requests ?? 0) / total, decimals: 6)
            w.key("feasible_met"); w.int(schedule.byClass[name]?.requests ?? 0)
            w.key("feasible_attainment"); w.fixed(Double(schedule.byClass[name]?.requests ?? 0) / total, decimals: 6)
            w.endObject()
        }
        w.endObject()
    }

    // MARK: text

    /// The report as `accelbench oracle` prints it (without the closing "written to" line).
    public func lines() -> [String] {
        let unit = question.countsTokens ? "output tokens" : "requests"
        let cls = question.className
        var out = [
            String(format: "upper bound: %.2f %@ meeting their SLOs (%.1f%% attainment); feasible: %.0f (%@, admission threshold %.2f%@); gap %.2f%%",
                   upperValue, unit, total > 0 ? bound.metRequests(for: cls) / Double(total) * 100 : 0, feasibleValue,
                   schedule.policy.rawValue, schedule.threshold, schedule.dropMissed ? ", dropping missed requests" : "", gap * 100),
            String(format: "solver %@: %@ in %.2f s (%d variables, %d constraints, base slots of %.3f s, %d nodes)",
                   bound.solution.solver, bound.solution.status.description, bound.solution.seconds, bound.variables,
                   bound.constraints, bound.slotS, bound.nodes),
        ]
        if bound.attainedSegments > 0 || bound.lazyRowsAdded > 0 {
            out[1] += String(format: "; %d of %d programs attained by a schedule admitting every request, not solved; %d KV residency rows added lazily",
                             bound.attainedSegments, bound.segments, bound.lazyRowsAdded)
        }
        for r in ratings { out.append(String(format: "  %@: %.0f (%.1f%% of the bound)", r.directory, r.achieved, r.efficiency * 100)) }
        return out
    }
}
