import BenchCore
import Engine

/// A schedule built with perfect knowledge of the workload: clairvoyant admission (serve only
/// the requests the relaxation serves at least `threshold` of), then a deterministic policy on
/// the simulated engine, optionally dropping each request the moment it can no longer meet its
/// SLOs (`dropMissed`). Its value L is what that simulation achieves, so it is feasible by
/// construction; replaying it (same workload, profile, policy and admitted set) reproduces the
/// same iterations, which `iterationsSHA256` pins down.
public struct FeasibleSchedule: Sendable {
    public var policy: PolicyName
    public var threshold: Double
    /// Requests that can no longer meet their SLOs are aborted (`SimulationDriver.dropMissed`).
    public var dropMissed: Bool
    /// Request ids served; every other request is rejected on arrival.
    public var admitted: [Int]
    /// Request ids that met their SLOs.
    public var metIDs: [Int]
    public var metRequests: Int
    public var metTokens: Int
    /// Per class: requests and tokens that met their SLOs.
    public var byClass: [String: (requests: Int, tokens: Int)]
    public var endS: Double
    public var iterations: Int
    /// SHA-256 of the iterations' JSON lines (`IterationRecord.json()` + "\n"), as in iterations.jsonl.
    public var iterationsSHA256: String
    /// Objective value (weighted) of this schedule.
    public var value: Double

    /// Reason given to the requests a schedule does not serve.
    public static let notAdmitted = "not admitted by the oracle's schedule"

    /// Runs `policy` on the simulated engine serving only `admitted`.
    public static func simulate(_ requests: [WorkloadRequest], profile: HardwareProfile, policy: PolicyName,
                                policyOptions: PolicyOptions = PolicyOptions(), admitted: Set<Int>, dropMissed: Bool = false,
                                weight: (WorkloadRequest) -> Double) throws -> FeasibleSchedule {
        let engine = EngineCore(profile: profile, policy: policy.make(policyOptions, profile: profile))
        engine.admissionFilter = { admitted.contains($0.id) ? nil : FeasibleSchedule.notAdmitted }
        var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile))
        driver.dropMissed = dropMissed
        var sha = SHA256()
        var met = 0, tokens = 0
        var value = 0.0
        var byClass: [String: (requests: Int, tokens: Int)] = [:]
        var metIDs: [Int] = []
        let byID = Dictionary(requests.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let outcome = try driver.run(requests.map(EngineRequest.init), onIteration: { rec in
            sha.update(rec.json())
            sha.update([0x0A])
        }, onDone: { r in
            let rec = r.record()
            guard rec.metSLO else { return }
            met += 1
            metIDs.append(r.id)
            tokens += rec.outputTokens
            if let w = byID[r.id] { value += weight(w) }
            var c = byClass[r.className] ?? (0, 0)
            c.requests += 1
            c.tokens += rec.outputTokens
            byClass[r.className] = c
        })
        return FeasibleSchedule(policy: policy, threshold: 0, dropMissed: dropMissed, admitted: admitted.sorted(), metIDs: metIDs.sorted(), metRequests: met, metTokens: tokens,
                                byClass: byClass, endS: outcome.endS, iterations: outcome.iterations,
                                iterationsSHA256: sha.hexDigest(), value: value)
    }

    /// Thresholds on the relaxation's y tried by `search` (our choice: a coarse sweep; 0 admits all).
    public static let thresholds: [Double] = [0.999, 0.9, 0.75, 0.5, 0.25, 0.0]
    /// Policies tried by `search`: deadline order and AccelGen's slack order (our choice).
    public static let policies: [PolicyName] = [.edf, .accelgen, .sarathi]

    /// Rounds of `search`'s refinement (our choice; it usually settles in two or three).
    public static let refinementRounds = 6

    /// Simulations `search`'s local search may spend on `n` requests: about 40,000 simulated
    /// requests, between 8 and 64 simulations (our choice: on 7-request workloads it tries every
    /// single move; on 2,000 requests 20 simulations, about 25 s of this machine).
    public static func localSearchSimulations(requests n: Int) -> Int { min(64, max(8, 40_000 / max(n, 1))) }

    /// The schedules of `search` that admit every request (each policy, dropping or not). They
    /// need no bound, so the oracle runs them first: one that meets every request of a segment
    /// of the relaxation spares that segment's solve (`RelaxationBound.solve(attainedBy:)`).
    public static func admittingAll(_ requests: [WorkloadRequest], profile: HardwareProfile,
                                    weight: @escaping @Sendable (WorkloadRequest) -> Double) throws -> [FeasibleSchedule] {
        let all = Set(requests.map(\.id))
        return try simulateAll(policies.flatMap { p in [true, false].map { Job(policy: p, admitted: all, dropMissed: $0) } },
                               requests, profile: profile, weight: weight)
    }

    /// One simulation of `search`: a policy, the requests it admits, and whether it drops.
    struct Job: Sendable {
        var policy: PolicyName
        var admitted: Set<Int>
        var dropMissed: Bool
    }

    /// Simulates the jobs on every core (each simulation is deterministic and shares nothing),
    /// in the jobs' order.
    static func simulateAll(_ jobs: [Job], _ requests: [WorkloadRequest], profile: HardwareProfile,
                            weight: @escaping @Sendable (WorkloadRequest) -> Double) throws -> [FeasibleSchedule] {
        try ConcurrentSlots<Result<FeasibleSchedule, any Error>>.map(jobs) { j in
            Result { try simulate(requests, profile: profile, policy: j.policy, admitted: j.admitted, dropMissed: j.dropMissed, weight: weight) }
        }.map { try $0.get() }
    }

    /// The best of `policies` × `thresholds` × dropping or not by weighted value (ties: the first
    /// found), then refined: admit only the requests that met their SLOs in the best schedule
    /// so far (the others only took capacity) and simulate again, while that improves it.
    /// The grid's simulations run on every core.
    /// - Parameters:
    ///   - known: schedules already simulated (`admittingAll`), reused where `search` would
    ///     simulate the same policy, dropping and admission again.
    ///   - upperBound: the relaxation's bound on the value; the search stops at a schedule that
    ///     reaches it.
    public static func search(_ requests: [WorkloadRequest], profile: HardwareProfile, served: [Double],
                              weight: @escaping @Sendable (WorkloadRequest) -> Double, known: [FeasibleSchedule] = [],
                              upperBound: Double = .infinity) throws -> FeasibleSchedule {
        // Every (threshold, policy, dropping) whose admission is new, in this order.
        var grid: [(threshold: Double, job: Job)] = []
        var seen = Set<[Int]>()
        for threshold in thresholds {
            var admitted = Set<Int>()
            for (r, y) in zip(requests, served) where threshold == 0 || y >= threshold - 1e-9 { admitted.insert(r.id) }
            guard seen.insert(admitted.sorted()).inserted else { continue }
            for policy in policies {
                for drop in [true, false] { grid.append((threshold, Job(policy: policy, admitted: admitted, dropMissed: drop))) }
            }
        }
        func knownRun(_ j: Job) -> FeasibleSchedule? {
            known.first { $0.policy == j.policy && $0.dropMissed == j.dropMissed && $0.admitted.count == j.admitted.count && Set($0.admitted) == j.admitted }
        }
        let missing = grid.map(\.job).filter { knownRun($0) == nil }
        var simulated = try simulateAll(missing, requests, profile: profile, weight: weight)[...]
        var best: FeasibleSchedule?
        for (threshold, job) in grid {
            var s = knownRun(job) ?? simulated.popFirst()!
            s.threshold = threshold
            if best == nil || s.value > best!.value + 1e-9 { best = s }
        }
        guard var current = best else { preconditionFailure("no schedule simulated") }
        // A schedule that reaches the upper bound is optimal: no search can raise it.
        if current.value >= upperBound - 1e-6 { return current }
        for _ in 0..<refinementRounds where current.metIDs.count < current.admitted.count {
            var s = try simulate(requests, profile: profile, policy: current.policy, admitted: Set(current.metIDs),
                                 dropMissed: current.dropMissed, weight: weight)
            s.threshold = current.threshold
            guard s.value > current.value + 1e-9 else { break }
            current = s
        }
        return try improveLocally(current, requests, profile: profile, weight: weight, upperBound: upperBound)
    }

    /// A clairvoyant local search over admission: admit one more request (smallest work first:
    /// the likeliest to fit in what the others leave), or turn away one that met its SLOs
    /// (largest work first: its capacity may let several others meet theirs); keep the first
    /// move that raises the value and start again, until no move does or the budget is spent.
    static func improveLocally(_ start: FeasibleSchedule, _ requests: [WorkloadRequest], profile: HardwareProfile,
                               weight: @escaping @Sendable (WorkloadRequest) -> Double, upperBound: Double = .infinity) throws -> FeasibleSchedule {
        var current = start, budget = localSearchSimulations(requests: requests.count)
        func work(_ r: WorkloadRequest) -> Int { r.promptTokens + r.outputTokens }
        search: while budget > 0 {
            let admitted = Set(current.admitted), met = Set(current.metIDs)
            let adds = requests.filter { !admitted.contains($0.id) }.sorted { (work($0), $0.id) < (work($1), $1.id) }
            let removes = requests.filter { met.contains($0.id) }.sorted { (work($0), $0.id) > (work($1), $1.id) }
            for (r, adding) in adds.map({ ($0, true) }) + removes.map({ ($0, false) }) {
                guard budget > 0 else { break search }
                budget -= 1
                var next = admitted
                if adding { next.insert(r.id) } else { next.remove(r.id) }
                var s = try simulate(requests, profile: profile, policy: current.policy, admitted: next, dropMissed: current.dropMissed, weight: weight)
                s.threshold = current.threshold
                if s.value > current.value + 1e-9 {
                    current = s
                    if current.value >= upperBound - 1e-6 { break search }
                    continue search
                }
            }
            break
        }
        return current
    }
}
