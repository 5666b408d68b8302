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
    /// steps of every running request, in running order, with no preemption or admission,
    /// provided nothing is added to the engine meanwhile. Only the last of them may finish
    /// requests (the stretch ends with the first finish). 0 when not settled.
    public func settledDecodeSteps(limit: Int) -> Int { settledDecodeStretch(limit: limit).steps }

    /// `settledDecodeSteps` and, in the same pass over the running requests, their context
    /// (Σ tokens in KV, the decode context of the next step), which the stretch's iteration
    /// times start from.
    public func settledDecodeStretch(limit: Int) -> (steps: Int, contextTokens: Int) {
        guard limit > 0, !running.isEmpty, policy.waitingCount == 0, policy.decodesEveryRunningRequest(runningCount: running.count) else { return (0, 0) }
        var steps = limit
        var context = 0
        let settled = running.withUnsafeBufferPointer { rb in
            for k in 0..<rb.count {
                // Unretained, as in `advanceSettledDecode`.
                let decoding = Unmanaged.passUnretained(rb[k])._withUnsafeGuaranteedRef { r in
                    steps = min(steps, r.maxOutputTokens - r.numOutputTokens)
                    context += r.numComputedTokens
                    return r.phase == .decoding
                }
                guard decoding else { return false }
            }
            return true
        }
        guard settled, steps > 0 else { return (0, 0) }
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
        return (steps, context)
    }

    /// Blocks the running requests need beyond what they hold after `steps` more decode tokens.
    func extraBlocksForDecodeSteps(_ steps: Int) -> Int {
        var extra = 0
        running.withUnsafeBufferPointer { rb in
            for k in 0..<rb.count {
                extra += Unmanaged.passUnretained(rb[k])._withUnsafeGuaranteedRef { r in
                    max(0, blocksFor(tokens: r.numComputedTokens + steps) - r.blocks.count)
                }
            }
        }
        return extra
    }

    /// The load of the `step`-th (1-based) of a stretch of settled decode steps, given the
    /// running context (`settledDecodeStretch`'s) and count before the stretch.
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
    /// nothing reads. Only valid for steps `settledDecodeSteps` counted. Returns the requests
    /// the last step finished, in running order (as `apply` does).
    ///
    /// - Parameter includingStart: the stretch's first step has not been started by an earlier
    ///   call (a driver may leave that to its first call that applies steps, saving a pass
    ///   over the running requests, provided nothing reads the engine in between).
    @discardableResult
    public func advanceSettledDecode(endingAt times: ArraySlice<Double>, nextInFlight: Bool, includingStart: Bool = false) -> [EngineRequest] {
        let m = times.count
        iterationCount += m
        // One scheduling step per iteration started: each applied one but the first (unless
        // its start is counted here), plus the one now starting.
        stepSerial += (includingStart ? m : max(0, m - 1)) + (nextInFlight ? 1 : 0)
        let bs = blockSizeTokens
        let rs = running
        let inFlight = nextInFlight ? 1 : 0
        let serial = stepSerial
        var finishes = 0
        times.withUnsafeBufferPointer { buf in rs.withUnsafeBufferPointer { rb in
            // The gaps between the stretch's own steps are every request's: their largest is
            // found once (max is exact, so the order does not matter).
            var innerGap = 0.0
            if m > 1 { for j in 1..<m { innerGap = max(innerGap, buf[j] - buf[j - 1]) } }
            // Unretained: `rs` holds every request for the loop, and reference counting each
            // one would touch a cache line of the object that the loop otherwise does not.
            for k in 0..<rb.count { Unmanaged.passUnretained(rb[k])._withUnsafeGuaranteedRef { r in
                if m > 0 {
                    r.numComputedTokens += m
                    r.numOutputTokens += m
                    let lead = r.lastTokenS.map { buf[0] - $0 } ?? 0
                    r.maxTokenGapS = max(r.maxTokenGapS, lead, innerGap)
                    r.lastTokenS = buf[m - 1]
                    r.tokenTimes.append(contentsOf: buf)
                    if r.numOutputTokens >= r.maxOutputTokens {
                        precondition(r.numOutputTokens == r.maxOutputTokens && !nextInFlight, "a settled decode step before the last finished a request")
                        finishes += 1
                        return
                    }
                }
                // Blocks for every token applied, and for the next one if its step is in flight
                // (those steps' starts would have reserved them). Divides only when short.
                if nextInFlight { r.mark = serial }
                let needTokens = r.numComputedTokens + inFlight
                if needTokens > r.blocks.count * bs {
                    let ok = kv.allocate((needTokens + bs - 1) / bs - r.blocks.count, appendingTo: &r.blocks)
                    precondition(ok, "a settled decode step ran out of KV blocks")
                }
            } }
        } }
        guard finishes > 0 else { return [] }
        // A finishing request frees all it holds, so the blocks its last tokens would have
        // taken were not allocated above: the free count comes out the same.
        let done = rs.filter { $0.numOutputTokens >= $0.maxOutputTokens }
        for r in done { finish(r, now: times[times.endIndex - 1]) }
        running.removeAll { $0.phase == .finished }
        return done
    }
}
