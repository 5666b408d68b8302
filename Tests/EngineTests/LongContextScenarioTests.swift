import BenchCore
@testable import Engine
import Testing

/// What long prompts cost in the simulation, on a long-context profile (h100-llama3.1-8b):
/// a prefill chunk attends to the whole cached prefix, and one 100K-token request holds a large
/// share of the KV cache.
@Suite struct LongContextScenarioTests {
    let profile = try! HardwareProfile.builtin("h100-llama3.1-8b")

    /// A 100K-token prompt alone under Sarathi's 512-token chunks: each chunk's iteration costs
    /// its linear time plus attention over every cached token before it, so the last chunk takes
    /// several times the first, and each iteration is exactly the model's time for its load.
    @Test func aLateChunkAttendsToTheWholeCachedPrefix() throws {
        let prompt = 100_000
        let r = EngineRequest(id: 0, className: "doc", arrivalS: 0, promptTokens: prompt, maxOutputTokens: 2, slo: SLO())
        let out = try simulate(.sarathi, requests: [r], profile: profile)
        let chunks = out.iterations.filter { $0.prefillTokens > 0 }
        #expect(chunks.reduce(0) { $0 + $1.prefillTokens } == prompt)
        let model = IterationTimeModel(profile: profile)
        var context = 0
        for it in chunks {
            var load = IterationLoad()
            load.addPrefill(newTokens: it.prefillTokens, contextTokens: context)
            #expect(abs(it.durationS - model.seconds(load)) < 1e-9, "chunk at \(context)")
            context += it.prefillTokens
        }
        // The last full-size chunk (the final one holds the remainder) against the first.
        let first = try #require(chunks.first), last = try #require(chunks.last { $0.prefillTokens == first.prefillTokens })
        #expect(last.durationS > 3 * first.durationS, "first \(first.durationS) s, last \(last.durationS) s")
        // The time to first token is the sum of the chunks: quadratic in the prompt, several
        // seconds at 100K, and far above the same tokens' linear time alone.
        let ttft = try #require(out.records.first?.firstTokenS)  // arrival 0
        #expect(ttft > 1.5 * model.linearSeconds(tokens: 512) * Double(chunks.count))
    }

    /// Five 100K-token requests at once: each holds ⌈100,200 / 32⌉ blocks, 22% of the pool, so
    /// at most four fit. Under every policy the pool is never over-committed, the invariants
    /// hold after every step, and every request still completes.
    @Test(arguments: PolicyName.allCases)
    func hundredThousandTokenRequestsShareTheCache(policy: PolicyName) throws {
        let perRequest = (100_200 + profile.blockSizeTokens - 1) / profile.blockSizeTokens
        #expect(Double(perRequest) / Double(profile.kvCapacityBlocks) > 0.2)
        let requests = (0..<5).map {
            EngineRequest(id: $0, className: "doc", arrivalS: 0.01 * Double($0), promptTokens: 100_000, maxOutputTokens: 200, slo: SLO(jctS: 600))
        } + (5..<25).map {
            EngineRequest(id: $0, className: "chat", arrivalS: 0.5 * Double($0 - 5), promptTokens: 800, maxOutputTokens: 100,
                          slo: SLO(ttftMs: 2000, tbtMs: 200))
        }
        var violations: [String] = []
        let out = try simulate(policy, requests: requests, profile: profile) { engine, _ in
            if violations.isEmpty { violations = engine.invariantViolations() }
        }
        #expect(violations.isEmpty, "\(policy): \(violations.prefix(2))")
        #expect(out.records.count == 25 && out.records.allSatisfy { $0.status == "ok" }, "\(policy)")
        #expect(out.iterations.allSatisfy { $0.kvUsedBlocks <= profile.kvCapacityBlocks })
        let peak = out.iterations.map(\.kvUsedBlocks).max() ?? 0
        // Blocks are taken chunk by chunk, so the pool holds more than two long requests' worth.
        #expect(peak > 2 * perRequest, "\(policy): the pool never held more than two long requests (peak \(peak) blocks)")
    }
}
