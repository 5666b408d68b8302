import BenchCore

/// How the next token is drawn from a row of logits. Temperature 0 is greedy (argmax, lowest id
/// on ties); otherwise logits are divided by the temperature, cut to the `topK` most likely
/// (0: no cut), then to the smallest set whose probability reaches `topP` (1: no cut), and one
/// token is drawn with the request's own seeded generator, so a request's text does not depend
/// on what it was batched with. Backends that produce no text ignore it.
public struct SamplingParams: Sendable, Equatable {
    public var temperature: Double
    public var topK: Int
    public var topP: Double
    public var seed: UInt64

    public init(temperature: Double = 0, topK: Int = 0, topP: Double = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }

    public static let greedy = SamplingParams()

    /// The uniform number in [0, 1) a sampler draws for a request's `index`-th generated token,
    /// seeded by the request's seed and the index: a preempted and recomputed request draws the
    /// same numbers again, and every backend draws the same ones.
    public func uniform(forToken index: Int) -> Double {
        var rng = SeededRNG(seed: seed, stream: 0x5A4D_504C, index: UInt64(index))
        return rng.uniform()
    }
}

/// A request's token ids, for backends that run a real model: the prompt, then every token
/// generated so far. The engine appends what the backend samples; a preempted request's
/// recompute reads the same ids back, so it rebuilds exactly the KV it lost.
public final class RequestTokens: @unchecked Sendable {
    public private(set) var ids: [Int32]
    public let promptCount: Int
    public let sampling: SamplingParams
    /// Tokens that end the request early (EOS, end of turn) unless `ignoreEOS`.
    public let stopIDs: Set<Int32>
    /// Generate exactly the request's `maxOutputTokens` (benchmark runs fix output lengths, as
    /// vLLM's `ignore_eos` does).
    public let ignoreEOS: Bool
    /// Stop tokens count only once this many tokens are out (vLLM's `min_tokens`).
    public let minTokens: Int
    /// Whether a stop token ended the request (an OpenAI `finish_reason` of "stop").
    public private(set) var stopped = false

    public init(prompt: [Int32], sampling: SamplingParams = .greedy, stopIDs: Set<Int32> = [], ignoreEOS: Bool = true,
                minTokens: Int = 0) {
        ids = prompt
        promptCount = prompt.count
        self.sampling = sampling
        self.stopIDs = stopIDs
        self.ignoreEOS = ignoreEOS
        self.minTokens = minTokens
    }

    public var outputIDs: ArraySlice<Int32> { ids[promptCount...] }

    /// Appends a sampled token; true when it ends the request.
    func append(_ token: Int32) -> Bool {
        ids.append(token)
        stopped = !ignoreEOS && ids.count - promptCount - 1 >= minTokens && stopIDs.contains(token)
        return stopped
    }
}
