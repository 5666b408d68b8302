import BenchCore
@testable import Engine
import Testing

/// Sessions of `turns` turns, each turn's prompt extending the previous turn's prompt and answer
/// (as the workload generator builds them), the whole prompt in the session's prefix group.
private func sessions(count: Int, turns: Int, user: Int, output: Int, thinkS: Double, gapS: Double) -> [EngineRequest] {
    var out: [EngineRequest] = []
    for s in 0..<count {
        var history = 0
        var t = Double(s) * gapS
        for k in 0..<turns {
            if k > 0 { t += thinkS }
            let prompt = history + user
            let r = EngineRequest(id: 0, className: "chat", arrivalS: t, promptTokens: prompt, maxOutputTokens: output,
                                  slo: SLO(ttftMs: 1000), prefixGroup: 1000 + s, prefixTokens: prompt)
            r.session = SessionTurn(id: s, turn: k, thinkS: k == 0 ? 0 : thinkS)
            out.append(r)
            history = prompt + output
        }
    }
    out.sort { ($0.arrivalS, $0.session!.id) < ($1.arrivalS, $1.session!.id) }
    return out.enumerated().map { i, r in
        let c = EngineRequest(id: i, className: r.className, arrivalS: r.arrivalS, promptTokens: r.promptTokens,
                              maxOutputTokens: r.maxOutputTokens, slo: r.slo, prefixGroup: r.prefixGroup, prefixTokens: r.prefixTokens)
        c.session = r.session
        return c
    }
}

@Suite struct SessionTests {
    /// In simulated time every later turn arrives exactly its think time after the previous
    /// turn's last token, whatever the nominal arrival said; with prefix caching each later turn
    /// reuses the previous turn's whole prompt (its full blocks) and the engine counts it.
    @Test(arguments: [false, true])
    func laterTurnsFollowThePreviousAnswer(prefixCaching: Bool) throws {
        let profile = testProfile()
        let reqs = sessions(count: 6, turns: 4, user: 300, output: 40, thinkS: 0.5, gapS: 0.2)
        let engine = EngineCore(profile: profile, policy: PolicyName.sarathi.make(PolicyOptions(), profile: profile), prefixCaching: prefixCaching)
        var driver = SimulationDriver(engine: engine, backend: SimulatedBackend(profile: profile))
        var violations: [String] = []
        driver.afterStep = { e in if violations.isEmpty { violations = e.invariantViolations() } }
        var records: [RequestRecord] = []
        _ = try driver.run(reqs, onIteration: { _ in }, onDone: { records.append($0.record()) })
        #expect(violations.isEmpty, "\(violations.prefix(3))")
        #expect(records.count == 24 && records.allSatisfy(\.isOK))
        let byTurn = Dictionary(uniqueKeysWithValues: records.map { (SessionTurn(id: $0.session!, turn: $0.turn!), $0) })
        var expectedHits = 0
        for s in 0..<6 {
            for k in 1..<4 {
                let prev = byTurn[SessionTurn(id: s, turn: k - 1)]!, r = byTurn[SessionTurn(id: s, turn: k)]!
                #expect(abs(r.intendedS - (prev.doneS! + 0.5)) < 1e-9, "session \(s) turn \(k)")
                expectedHits += prev.promptTokens / profile.blockSizeTokens * profile.blockSizeTokens
            }
        }
        #expect(engine.prefixHitTokens == (prefixCaching ? expectedHits : 0))
        if prefixCaching { #expect(engine.prefixQueryTokens == reqs.reduce(0) { $0 + $1.promptTokens }) }
    }

    /// A run cut short (the scheduler cannot progress) still gives every held-back turn a record.
    @Test func heldBackTurnsAreReportedWhenTheRunEnds() throws {
        let profile = testProfile(kvBlocks: 4)  // 128 tokens (32-token blocks): the second turn can never fit
        let reqs = sessions(count: 1, turns: 3, user: 60, output: 8, thinkS: 0.1, gapS: 1)
        let out = try simulate(.vllm, requests: reqs, profile: profile)
        #expect(out.records.count == 3)
        #expect(out.records[0].isOK && out.records[1].status == "rejected" && out.records[2].isOK == false)
    }
}
