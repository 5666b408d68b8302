import BenchCore
import Engine
@testable import EngineCPU
import Models
import Testing

/// The engine with the real CPU backend: what the scheduler does to a request (preempting it,
/// sharing its prefix's blocks, batching it with others) never changes its greedy tokens.
struct EngineIdentityTests {
    static let weights = ForwardIdentityTests.weights
    static let config = ForwardIdentityTests.config

    /// A sarathi engine over `blocks` KV blocks of 4 tokens, and its CPU backend.
    static func engine(blocks: Int = 64, prefixCaching: Bool = false) throws -> (EngineCore, CPUBackend) {
        var p = try HardwareProfile.resolve(HardwareProfile.defaultName)
        p.model = ModelShape(name: "synthetic", numLayers: config.numLayers, hiddenSize: config.hiddenSize, numHeads: config.numHeads,
                             numKVHeads: config.numKVHeads, intermediateSize: config.intermediateSize, vocabSize: config.vocabSize,
                             maxContextTokens: config.contextLength)
        p.blockSizeTokens = 4
        p.kvCapacityBlocks = blocks
        var options = PolicyOptions()
        options.tokenBudget = 16  // prompts of up to 40 tokens take several chunks
        let engine = EngineCore(profile: p, policy: PolicyName.sarathi.make(options, profile: p), prefixCaching: prefixCaching)
        let cache = PagedKVCache(numBlocks: blocks, blockSize: 4, numLayers: config.numLayers, numKVHeads: config.numKVHeads,
                                 headDim: config.headDim)
        return (engine, CPUBackend(model: LlamaCPU(weights: weights, cache: cache)))
    }

    static func request(id: Int, prompt: [Int32], output: Int, group: Int? = nil, prefix: Int? = nil) -> EngineRequest {
        let r = EngineRequest(id: id, className: "c", arrivalS: 0, promptTokens: prompt.count, maxOutputTokens: output, slo: SLO(),
                              prefixGroup: group, prefixTokens: prefix)
        r.tokens = RequestTokens(prompt: prompt)
        return r
    }

    /// Steps until every request finishes; `between` runs after each step.
    static func run(_ requests: [EngineRequest], engine: EngineCore, backend: inout CPUBackend,
                    between: (Int) -> Void = { _ in }) -> [[Int32]] {
        var now = 0.0
        for r in requests { #expect(engine.add(r, now: now) == nil) }
        var step = 0
        while engine.hasWork {
            guard let o = engine.step(now: now, backend: &backend) else { Issue.record("nothing planned"); break }
            now = o.endS
            #expect(engine.invariantViolations().isEmpty)
            between(step)
            step += 1
        }
        return requests.map { Array($0.tokens!.outputIDs) }
    }

    @Test func preemptAndRecomputeEqualsUninterrupted() throws {
        let prompt = ForwardIdentityTests.tokens(23, seed: 9)
        var (e1, b1) = try Self.engine()
        let alone = Self.run([Self.request(id: 0, prompt: prompt, output: 12)], engine: e1, backend: &b1)[0]
        var (e2, b2) = try Self.engine()
        let r = Self.request(id: 0, prompt: prompt, output: 12)
        var preempted = 0
        let interrupted = Self.run([r], engine: e2, backend: &b2) { step in
            // Preempt twice: once mid-prefill, once mid-decode.
            if (step == 1 || step == 6) && (r.phase == .prefilling || r.phase == .decoding) {
                e2.preempt(r, now: Double(step))
                preempted += 1
            }
        }
        #expect(preempted == 2)
        #expect(r.preemptions == 2)
        #expect(interrupted == [alone])
        #expect(alone.count == 12)
    }

    @Test func prefixCachedEqualsUncached() throws {
        let shared = ForwardIdentityTests.tokens(16, seed: 21)
        let prompts = [shared + ForwardIdentityTests.tokens(7, seed: 22), shared + ForwardIdentityTests.tokens(11, seed: 23)]
        func outputs(caching: Bool) throws -> ([[Int32]], Int) {
            var (e, b) = try Self.engine(prefixCaching: caching)
            let rs = prompts.enumerated().map { Self.request(id: $0.offset, prompt: $0.element, output: 8, group: 1, prefix: 16) }
            // The first request alone first, so the second finds its prefix cached.
            var out = Self.run([rs[0]], engine: e, backend: &b)
            out += Self.run([rs[1]], engine: e, backend: &b)
            return (out, e.prefixHitTokens)
        }
        let (cached, hits) = try outputs(caching: true)
        let (uncached, none) = try outputs(caching: false)
        #expect(hits == 16 && none == 0)
        #expect(cached == uncached)
    }

    @Test func batchedEqualsAlone() throws {
        let prompts = [ForwardIdentityTests.tokens(30, seed: 31), ForwardIdentityTests.tokens(5, seed: 32), ForwardIdentityTests.tokens(17, seed: 33)]
        var alone: [[Int32]] = []
        for (i, p) in prompts.enumerated() {
            var (e, b) = try Self.engine()
            alone.append(Self.run([Self.request(id: i, prompt: p, output: 10)], engine: e, backend: &b)[0])
        }
        var (e, b) = try Self.engine()
        let together = Self.run(prompts.enumerated().map { Self.request(id: $0.offset, prompt: $0.element, output: 10) }, engine: e, backend: &b)
        #expect(together == alone)
    }

    @Test func aStopTokenEndsTheRequestUnlessIgnoreEOS() throws {
        let prompt = ForwardIdentityTests.tokens(9, seed: 41)
        var (e1, b1) = try Self.engine()
        let free = Self.run([Self.request(id: 0, prompt: prompt, output: 8)], engine: e1, backend: &b1)[0]
        // Make the third generated token a stop token.
        var (e2, b2) = try Self.engine()
        let r = EngineRequest(id: 0, className: "c", arrivalS: 0, promptTokens: prompt.count, maxOutputTokens: 8, slo: SLO())
        r.tokens = RequestTokens(prompt: prompt, stopIDs: [free[2]], ignoreEOS: false)
        let stopped = Self.run([r], engine: e2, backend: &b2)[0]
        let firstStop = free.firstIndex(of: free[2])!
        #expect(stopped == Array(free[...firstStop]))
        #expect(r.finishReason == .completed && r.tokens!.stopped)
        #expect(r.record().outputTokens == firstStop + 1)
    }
}
