import BenchCore
@testable import Engine
import Testing

/// The engine's one step (`EngineCore.step`, `beginStep`, `finishStep`, `StepOutcome.record`).
@Suite struct StepTests {
    /// Drives `engine` through `requests` in simulated time, as `SimulationDriver` does, with
    /// `step` standing for one iteration at `now`; returns every iteration record's JSON.
    func drive(_ requests: [EngineRequest], engine: EngineCore, step: (Double) -> StepOutcome?) -> [[UInt8]] {
        var now = 0.0
        var next = 0
        var records: [[UInt8]] = []
        for _ in 0..<1_000_000 {
            while next < requests.count, requests[next].arrivalS <= now {
                _ = engine.add(requests[next], now: max(now, requests[next].arrivalS))
                next += 1
            }
            if !engine.hasWork {
                if next >= requests.count { break }
                now = requests[next].arrivalS
                continue
            }
            guard let s = step(now) else {
                if next < requests.count { now = max(now, requests[next].arrivalS); continue }
                break
            }
            now = s.endS
            records.append(s.record.json())
        }
        return records
    }

    /// With `predictsEveryIteration` (real backends), every record carries the profile's
    /// prediction for its plan, even under a policy that predicts nothing (sarathi); without it,
    /// sarathi's records carry none.
    @Test func predictsEveryIterationFillsThePrediction() {
        let profile = testProfile(kvBlocks: 600)
        for predicts in [false, true] {
            let engine = EngineCore(profile: profile, policy: PolicyName.sarathi.make(PolicyOptions(), profile: profile))
            engine.predictsEveryIteration = predicts
            var backend = SimulatedBackend(profile: profile, jitterCV: 0.2, seed: 3)
            var outcomes: [StepOutcome] = []
            _ = drive(randomRequests(seed: 5, count: 20, rate: 4), engine: engine) { now in
                let s = engine.step(now: now, backend: &backend)
                if let s { outcomes.append(s) }
                return s
            }
            #expect(!outcomes.isEmpty)
            for o in outcomes {
                #expect(o.record.predictedS == (predicts ? engine.timeModel.seconds(o.plan.load) : nil))
            }
        }
    }

    /// `step(now:backend:)` is `beginStep` at `now` then `finishStep` at the predicted end: two
    /// engines with the same workload (and the same jittered backend) give the same records.
    @Test(arguments: PolicyName.allCases)
    func stepEqualsBeginThenFinishAtThePredictedEnd(policy: PolicyName) {
        for seed: UInt64 in 31...32 {
            let profile = testProfile(kvBlocks: 600)  // tight: preemptions happen
            func make() -> (EngineCore, [EngineRequest]) {
                (EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile)),
                 randomRequests(seed: seed, count: 60, rate: 6))
            }
            let (a, ra) = make()
            let (b, rb) = make()
            var backendA = SimulatedBackend(profile: profile, jitterCV: 0.05, seed: seed)
            var backendB = SimulatedBackend(profile: profile, jitterCV: 0.05, seed: seed)
            let recordsA = drive(ra, engine: a) { now in a.step(now: now, backend: &backendA) }
            let recordsB = drive(rb, engine: b) { now in
                guard let s = b.beginStep(now: now, backend: &backendB, startS: { now }) else { return nil }
                return b.finishStep(s, endS: s.predictedEndS)
            }
            #expect(!recordsA.isEmpty, "seed \(seed)")
            #expect(recordsA == recordsB, "seed \(seed) policy \(policy)")
            #expect(ra.map(\.tokenTimes) == rb.map(\.tokenTimes), "seed \(seed) policy \(policy)")
            #expect(ra.map { $0.record() } == rb.map { $0.record() }, "seed \(seed) policy \(policy)")
            #expect(ra.allSatisfy { $0.finishReason == .completed }, "seed \(seed) policy \(policy)")
            #expect(a.iterationCount == recordsA.count && b.iterationCount == recordsB.count, "seed \(seed)")
        }
    }

    /// Nothing to plan: `step` returns nil and no iteration is counted; `beginStep` neither
    /// starts (reads `startS`) nor executes anything.
    @Test(arguments: PolicyName.allCases)
    func nothingToPlanIsNoStep(policy: PolicyName) {
        let profile = testProfile()
        let engine = EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile))
        var backend = SimulatedBackend(profile: profile)
        #expect(engine.step(now: 0, backend: &backend) == nil)
        #expect(engine.iterationCount == 0)

        let log = StepCallLog()
        var logging = LoggingBackend(log: log, durationS: 0.01)
        let begun = engine.beginStep(now: 1, backend: &logging, startS: { log.calls.append("startS"); return 1 })
        #expect(begun == nil)
        #expect(log.calls.isEmpty, "\(log.calls)")
        #expect(engine.iterationCount == 0)
    }

    /// `StepOutcome.record` reports the plan (chunks, decodes, budget, prediction, preemptions)
    /// and the engine right after the iteration (KV, waiting queue, iteration index).
    @Test(arguments: [PolicyName.accelgen, .sarathi])
    func recordMatchesThePlanAndTheEngineAfterIt(policy: PolicyName) {
        let seed: UInt64 = 41
        let profile = testProfile(kvBlocks: 300)
        let engine = EngineCore(profile: profile, policy: policy.make(PolicyOptions(), profile: profile))
        var backend = SimulatedBackend(profile: profile)
        let reqs = randomRequests(seed: seed, count: 80, rate: 8)
        var steps = 0
        var sawWaiting = false
        var sawMixed = false
        var mismatches: [String] = []
        _ = drive(reqs, engine: engine) { now in
            guard let s = engine.step(now: now, backend: &backend) else { return nil }
            let r = s.record
            let chunks = s.plan.items.filter(\.isPrefill).map(\.newTokens)
            let ok = r.index == steps && r.index == engine.iterationCount - 1
                && r.startS == now && s.startS == now && r.durationS == s.result.durationS && s.endS == now + s.result.durationS
                && r.prefillTokens == s.plan.prefillTokens && r.prefillTokens == chunks.reduce(0, +)
                && r.decodeCount == s.plan.decodeCount && r.chunkSizes == chunks && r.numRequests == s.plan.items.count
                && r.kvUsedBlocks == engine.kv.usedBlocks && r.kvFreeBlocks == engine.kv.freeBlocks
                && r.kvUsedBlocks + r.kvFreeBlocks == engine.kv.totalBlocks
                && r.waiting == engine.policy.waitingCount
                && r.budgetTokens == s.plan.budgetTokens && r.predictedS == s.plan.predictedS && r.preempted == s.plan.preempted
                && s.finished.map(\.id) == s.plan.items.map(\.request).filter(\.isFinished).map(\.id)
            if !ok && mismatches.count < 3 { mismatches.append("iteration \(steps): \(String(decoding: r.json(), as: UTF8.self))") }
            sawWaiting = sawWaiting || r.waiting > 0
            sawMixed = sawMixed || (r.prefillTokens > 0 && r.decodeCount > 0)
            steps += 1
            return s
        }
        #expect(mismatches.isEmpty, "seed \(seed) policy \(policy): \(mismatches)")
        #expect(steps > 0 && sawWaiting && sawMixed, "seed \(seed) policy \(policy): the workload should queue and mix")
    }

    /// `beginStep` forms the plan, then reads `startS`, then executes; the iteration counts
    /// (and its tokens appear) only in `finishStep`, at the `endS` it is given.
    @Test func beginStepReadsStartAfterPlanningAndBeforeExecuting() throws {
        let profile = testProfile()
        let log = StepCallLog()
        let policy = LoggingPolicy(PolicyName.sarathi.make(PolicyOptions(), profile: profile), log: log)
        let engine = EngineCore(profile: profile, policy: policy)
        let r = EngineRequest(id: 0, className: "c", arrivalS: 0, promptTokens: 10, maxOutputTokens: 3, slo: SLO())
        _ = engine.add(r, now: 0)
        var backend = LoggingBackend(log: log, durationS: 0.25)
        var admittedAtStart: Bool?
        let begun = try #require(engine.beginStep(now: 1, backend: &backend, startS: {
            log.calls.append("startS")
            admittedAtStart = engine.running.contains { $0 === r }
            return 5
        }))
        #expect(log.calls == ["schedule", "startS", "execute"])
        #expect(admittedAtStart == true, "the plan (and its admission) exists when startS is read")
        #expect(begun.startS == 5 && begun.result.durationS == 0.25 && begun.predictedEndS == 5.25)
        #expect(engine.iterationCount == 0 && r.tokenTimes.isEmpty, "nothing is applied before finishStep")

        let out = engine.finishStep(begun, endS: 7)
        #expect(log.calls == ["schedule", "startS", "execute"])
        #expect(out.startS == 5 && out.endS == 7 && out.index == 0 && engine.iterationCount == 1)
        #expect(out.record.startS == 5 && out.record.durationS == 0.25 && out.record.chunkSizes == [10])
        #expect(r.tokenTimes == [7], "tokens are stamped with the end the driver reached")
    }
}

/// Calls, in order, seen by the logging policy and backend and the test's `startS` closure.
final class StepCallLog {
    var calls: [String] = []
}

/// A backend that logs each execution and reports a fixed duration.
struct LoggingBackend: ExecutionBackend {
    let log: StepCallLog
    let durationS: Double

    mutating func execute(_ plan: StepPlan) -> StepResult {
        log.calls.append("execute")
        return StepResult(durationS: durationS)
    }
}

/// A policy that logs each `schedule` and otherwise is `inner`.
final class LoggingPolicy: SchedulingPolicy {
    let inner: SchedulingPolicy
    let log: StepCallLog

    init(_ inner: SchedulingPolicy, log: StepCallLog) {
        self.inner = inner
        self.log = log
    }

    var name: String { inner.name }
    func enqueue(_ r: EngineRequest, now: Double) { inner.enqueue(r, now: now) }
    func schedule(_ view: SchedulerView) -> StepPlan {
        log.calls.append("schedule")
        return inner.schedule(view)
    }
    func removed(_ r: EngineRequest) { inner.removed(r) }
    func removeWaiting(_ r: EngineRequest) -> Bool { inner.removeWaiting(r) }
    var waitingCount: Int { inner.waitingCount }
    var waitingRequests: [EngineRequest] { inner.waitingRequests }
    func decodesEveryRunningRequest(runningCount: Int) -> Bool { inner.decodesEveryRunningRequest(runningCount: runningCount) }
}
