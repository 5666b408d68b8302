import BenchCore
@testable import Engine
import Testing

/// The SLO-aware admission and drop rules of edf and accelgen (issue 20): who is turned away on
/// arrival, who is dropped when, how their records read, and that vllm and sarathi never apply
/// them.
@Suite struct SLORulesTests {
    func engine(_ policy: PolicyName, _ rules: SLORules) -> EngineCore {
        let profile = testProfile()
        var o = PolicyOptions()
        o.sloRules = rules
        return EngineCore(profile: profile, policy: policy.make(o, profile: profile))
    }

    /// A request is rejected exactly when one iteration holding its prefill and the prefill of
    /// every request ahead of it (an earlier TTFT deadline) ends after its own TTFT deadline.
    /// Requests with later deadlines, or none, are not counted as ahead.
    @Test(arguments: SLORules.policies)
    func admissionRejectsOnlyWhatCannotMakeItsFirstToken(policy: PolicyName) throws {
        for marginMs in [-1.0, 1.0] {
            let e = engine(policy, SLORules(rejectHopeless: true))
            // Deadlines: ahead 1 s, the new request about 1.04 s, behind 60 s, offline none.
            let ahead = EngineRequest(id: 0, className: "long", arrivalS: 0, promptTokens: 3000, maxOutputTokens: 4, slo: SLO(ttftMs: 1000))
            let behind = EngineRequest(id: 1, className: "later", arrivalS: 0, promptTokens: 3000, maxOutputTokens: 4, slo: SLO(ttftMs: 60_000))
            let offline = EngineRequest(id: 2, className: "batch", arrivalS: 0, promptTokens: 3000, maxOutputTokens: 4, slo: SLO(jctS: 600))
            for r in [ahead, behind, offline] { #expect(e.add(r, now: 0) == nil) }
            var load = IterationLoad()
            load.addPrefill(newTokens: 500, contextTokens: 0)
            load.addPrefill(newTokens: 3000, contextTokens: 0)
            let predictedMs = e.timeModel.seconds(load) * 1000
            let r = EngineRequest(id: 3, className: "tight", arrivalS: 0.95, promptTokens: 500, maxOutputTokens: 4,
                                  slo: SLO(ttftMs: predictedMs + marginMs))
            let reason = e.add(r, now: 0.95)
            if marginMs < 0 {
                #expect(reason?.hasPrefix("rejected: its first token could not come before") == true, "\(policy): \(reason ?? "admitted")")
                #expect(r.finishReason == .shed && r.record().status == "rejected" && r.record().error == reason)
            } else {
                #expect(reason == nil && r.phase == .waiting, "\(policy): \(reason ?? "")")
            }
        }
    }

    /// Only a TTFT SLO is judged: requests without one are admitted however long the queue,
    /// and best-effort requests in the queue are not counted as ahead of anyone.
    @Test func onlyTTFTSLOsAreJudged() {
        let e = engine(.accelgen, SLORules(rejectHopeless: true))
        for i in 0..<20 {
            #expect(e.add(EngineRequest(id: i, className: "best-effort", arrivalS: 0, promptTokens: 3000, maxOutputTokens: 4, slo: SLO()), now: 0) == nil)
        }
        #expect(e.add(EngineRequest(id: 20, className: "batch", arrivalS: 0, promptTokens: 3000, maxOutputTokens: 4, slo: SLO(jctS: 1)), now: 0) == nil)
        #expect(e.add(EngineRequest(id: 21, className: "chat", arrivalS: 0, promptTokens: 100, maxOutputTokens: 4, slo: SLO(ttftMs: 500)), now: 0) == nil)
        #expect(e.add(EngineRequest(id: 22, className: "chat", arrivalS: 0, promptTokens: 3000, maxOutputTokens: 4, slo: SLO(ttftMs: 1)), now: 0) != nil)
    }

    /// With the drop rule, the driver drops a request the moment its first-token deadline passes
    /// behind a long prefill (status `dropped`), and serves the rest; vllm and sarathi ignore the
    /// rules (they are not in `SLORules.policies`).
    @Test(arguments: PolicyName.allCases)
    func theDropRuleDropsAtTheDeadline(policy: PolicyName) throws {
        let e = engine(policy, SLORules(dropLost: true))
        let requests = [
            EngineRequest(id: 0, className: "long", arrivalS: 0, promptTokens: 4000, maxOutputTokens: 4, slo: SLO(ttftMs: 5000)),
            EngineRequest(id: 1, className: "tight", arrivalS: 0.001, promptTokens: 100, maxOutputTokens: 50, slo: SLO(ttftMs: 1, tbtMs: 200)),
            EngineRequest(id: 2, className: "easy", arrivalS: 0.002, promptTokens: 100, maxOutputTokens: 8, slo: SLO(ttftMs: 5000, tbtMs: 500)),
        ]
        var driver = SimulationDriver(engine: e, backend: SimulatedBackend(profile: e.profile))
        var violations: [String] = []
        driver.afterStep = { if violations.isEmpty { violations = $0.invariantViolations() } }
        var records: [Int: RequestRecord] = [:]
        _ = try driver.run(requests, onIteration: { _ in }, onDone: { records[$0.id] = $0.record() })
        #expect(violations.isEmpty, "\(policy): \(violations.prefix(2))")
        #expect(records[0]?.metSLO == true && records[2]?.metSLO == true, "\(policy)")
        let tight = try #require(records[1])
        if SLORules.policies.contains(policy) {
            #expect(tight.status == "dropped" && tight.error == EngineCore.droppedReason && tight.tokenTimesS.isEmpty, "\(policy)")
        } else {
            #expect(tight.status == "ok", "\(policy)")
        }
    }
}
