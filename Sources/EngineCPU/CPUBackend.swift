import BenchCore
import Engine
import Models

/// The engine's real CPU backend: runs each `StepPlan` through the model and samples a token
/// for every item that emits one, timing the iteration on the monotonic clock.
///
/// Each plan item computes its request's tokens at positions `contextTokens ..< contextTokens +
/// newTokens`: a prefill chunk, a decode (the last generated token), or after a preemption the
/// recompute of prompt and output, whose ids `RequestTokens` keeps.
public struct CPUBackend: ExecutionBackend {
    public let model: LlamaCPU

    public init(model: LlamaCPU) { self.model = model }

    public mutating func execute(_ plan: StepPlan) -> StepResult {
        let start = monotonicSeconds()
        var chunks: [SequenceChunk] = []
        chunks.reserveCapacity(plan.items.count)
        for item in plan.items {
            let r = item.request
            guard let tokens = r.tokens else { preconditionFailure("request \(r.id) has no token ids; a real backend needs them") }
            let from = item.contextTokens, to = from + item.newTokens
            let emits = !item.isPrefill || to >= r.prefillTarget
            chunks.append(SequenceChunk(tokens: Array(tokens.ids[from..<to]), startPosition: from, blocks: r.blocks, wantsLogits: emits))
        }
        let logits = model.forward(chunks)
        var sampled = [Int32](repeating: -1, count: chunks.count)
        var row = 0
        for (k, chunk) in chunks.enumerated() where chunk.wantsLogits {
            let r = plan.items[k].request
            sampled[k] = Sampler.sample(logits[row], r.tokens!.sampling, draw: r.numOutputTokens)
            row += 1
        }
        return StepResult(durationS: monotonicSeconds() - start, sampledTokens: sampled)
    }
}

/// Prompt token ids for workload requests, which carry lengths and not text: seeded ids drawn
/// from the ordinary part of the vocabulary (no control tokens), the same for the same request
/// and seed. Requests of one `prefix_group` share their first `prefix_tokens` ids, so the
/// engine's prefix cache shares blocks whose contents really are the same.
public enum SyntheticPrompt {
    public static func tokenIDs(for w: WorkloadRequest, vocabSize: Int, reserved: Set<Int32> = [], seed: UInt64) -> [Int32] {
        var ids: [Int32] = []
        ids.reserveCapacity(w.promptTokens)
        func draw(_ rng: inout SeededRNG, _ n: Int) {
            var drawn = 0
            while drawn < n {
                let t = Int32(truncatingIfNeeded: rng.next() % UInt64(vocabSize))
                if reserved.contains(t) { continue }
                ids.append(t)
                drawn += 1
            }
        }
        let shared = w.prefixGroup.map { _ in min(w.prefixTokens ?? 0, w.promptTokens) } ?? 0
        if let g = w.prefixGroup, shared > 0 {
            var rng = SeededRNG(seed: seed, stream: 0x5052_4546, index: UInt64(truncatingIfNeeded: g))
            draw(&rng, shared)
        }
        var rng = SeededRNG(seed: seed, stream: 0x5052_4F4D, index: UInt64(truncatingIfNeeded: w.id))
        draw(&rng, w.promptTokens - shared)
        return ids
    }
}
