/// The fast path of a simulated engine (our design): when nothing waits and every running
/// request is decoding, a policy that batches every running decode repeats the same kind of
/// iteration until a request finishes, KV blocks run short or something arrives. A driver
/// that knows nothing will arrive can then compute a stretch of iteration times at once and
/// apply its steps without forming plans. The steps do what `schedule` + `apply` do for those
/// decode-only iterations (same token times, counters and free block count; only the block ids
/// a request holds may differ, which nothing reads), so records are identical with and without
/// the fast path; tests check this.
extension EngineCore {
    /// The number of upcoming iterations (at most `limit`) that are certain to be plain decode
    /// steps of every running request, in running order, with no finish, preemption or
    /// admission, provided nothing is added to the engine meanwhile. The step that finishes a
    /// request is not counted: it goes through `schedule`/`apply` as usual. 0 when not settled.
    public func settledDecodeSteps(limit: Int) -> Int {
        guard limit > 0, !running.isEmpty, policy.waitingCount == 0, policy.decodesEveryRunningRequest(self) else { return 0 }
        var steps = limit
        let settled = running.withUnsafeBufferPointer { rb in
            for k in 0..<rb.count {
                let r = rb[k]
                guard r.phase == .decoding else { return false }
                steps = min(steps, r.maxOutputTokens - r.numOutputTokens - 1)
            }
            return true
        }
        guard settled else { return 0 }
        guard steps > 0 else { return 0 }
        // Blocks the stretch allocates must all be free now (nothing is freed meanwhile), so no
        // step can preempt or touch the prefix cache.
        let free = kv.freeBlocks
        if extraBlocksForDecodeSteps(steps) > free {
            var lo = 0, hi = steps  // extra(lo) fits, extra(hi) does not
            while hi - lo > 1 {
                let mid = (lo + hi) / 2
                if extraBlocksForDecodeSteps(mid) <= free { lo = mid } else { hi = mid }
            }
            steps = lo
        }
        return steps
    }

    /// Blocks the running requests need beyond what they hold after `steps` more decode tokens.
    func extraBlocksForDecodeSteps(_ steps: Int) -> Int {
        var extra = 0
        running.withUnsafeBufferPointer { rb in
            for k in 0..<rb.count {
                let r = rb[k]
                extra += max(0, blocksFor(tokens: r.numComputedTokens + steps) - r.blocks.count)
            }
        }
        return extra
    }

    /// Σ over running requests of the tokens in KV (the decode context of the next step).
    public var runningContextTokens: Int { running.reduce(0) { $0 + $1.numComputedTokens } }

    /// The load of the `step`-th (1-based) of a stretch of settled decode steps, given the
    /// running context (`runningContextTokens`) and count before the stretch.
    public static func settledDecodeLoad(step: Int, contextTokens: Int, sequences: Int) -> IterationLoad {
        var load = IterationLoad()
        load.tokens = sequences
        load.numSequences = sequences
        load.decodeContextTokens = contextTokens + (step - 1) * sequences
        return load
    }

    /// Applies settled decode steps that ended at `times` (possibly none), then, if
    /// `nextInFlight`, starts the step after them: what `apply` and `schedule` do for those
    /// iterations, request by request rather than step by step. The tokens, counters and free
    /// block count come out the same; only which block ids a request holds may differ, which
    /// nothing reads. Only valid for steps `settledDecodeSteps` counted.
    public func advanceSettledDecode(endingAt times: ArraySlice<Double>, nextInFlight: Bool) {
        let m = times.count
        iterationCount += m
        // One scheduling step per iteration started: each applied one but the first (already
        // started), plus the one now starting.
        stepSerial += max(0, m - 1) + (nextInFlight ? 1 : 0)
        let bs = blockSizeTokens
        let rs = running
        times.withUnsafeBufferPointer { buf in rs.withUnsafeBufferPointer { rb in
            for k in 0..<rb.count {
                let r = rb[k]
                if m > 0 {
                    r.numComputedTokens += m
                    r.numOutputTokens += m
                    var gap = r.maxTokenGapS
                    var last = r.lastTokenS ?? buf[0]
                    for t in buf {
                        gap = max(gap, t - last)
                        last = t
                    }
                    r.maxTokenGapS = gap
                    r.lastTokenS = last
                    r.tokenTimes.append(contentsOf: buf)
                    precondition(r.numOutputTokens < r.maxOutputTokens, "a settled decode step finished a request")
                }
                // Blocks for every token applied, and for the next one if its step is in flight
                // (those steps' starts would have reserved them).
                if nextInFlight { r.mark = stepSerial }
                let extra = (r.numComputedTokens + (nextInFlight ? 1 : 0) + bs - 1) / bs - r.blocks.count
                if extra > 0 {
                    let ok = kv.allocate(extra, appendingTo: &r.blocks)
                    precondition(ok, "a settled decode step ran out of KV blocks")
                }
            }
        } }
    }
}
