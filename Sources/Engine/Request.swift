import BenchCore

/// Where a request is in the engine.
public enum RequestPhase: String, Sendable {
    /// Not admitted: no KV blocks (new, or preempted and waiting to recompute).
    case waiting
    /// Admitted; its prefill (prompt, or prompt + generated tokens after a preemption) is
    /// partly computed.
    case prefilling
    /// Prefill done; one token per iteration.
    case decoding
    case finished
}

public enum FinishReason: String, Sendable {
    case completed
    /// Never admitted: longer than the model's context or the KV capacity.
    case rejected
    case aborted
    /// Never admitted: the SLO admission rule predicted its first token too late (`SLORules`).
    case shed
    /// Aborted by the drop rule: a deadline passed, so it could no longer meet its SLO.
    case dropped

    /// The record's `status`: a shed request is one of the rejected.
    public var recordStatus: String { self == .shed ? "rejected" : rawValue }
}

/// One request inside the engine. A reference type: policies keep it in several queues and
/// update it in place every iteration.
public final class EngineRequest {
    // The fields the per-step loops touch come first, together (fields are laid out in
    // declaration order): a settled decode stretch visits every running request and reads or
    // writes only these, so each visit touches two cache lines of the object, not four.
    /// Tokens whose KV is cached (prompt, then generated tokens as decoding proceeds).
    public internal(set) var numComputedTokens = 0
    public internal(set) var numOutputTokens = 0
    /// The output length the request will produce (max_tokens with ignore_eos, as the workload says).
    public let maxOutputTokens: Int
    public internal(set) var phase: RequestPhase = .waiting
    /// Largest gap between consecutive output tokens so far, seconds.
    public internal(set) var maxTokenGapS = 0.0
    /// Emission time of the latest token (kept apart from `tokenTimes` so hot loops need not
    /// touch the array).
    public internal(set) var lastTokenS: Double?
    /// Emission time of every output token, seconds since run start.
    public internal(set) var tokenTimes: [Double] = []
    public internal(set) var blocks: [Int32] = []
    /// KV is allocated chunk by chunk as the prefill advances, not whole on admission
    /// (AccelGen's long prompts under multi-resource batching): `blocks` cover the tokens
    /// computed and the chunk about to run, not yet the whole prefill.
    public internal(set) var kvByChunk = false
    /// The scheduling step that last marked this request (policies mark what they place in the
    /// batch; cheaper than a set per step).
    public internal(set) var mark = 0
    /// Tokens the current prefill must compute: the prompt, or after a preemption (recompute)
    /// the prompt plus every token generated so far.
    public internal(set) var prefillTarget: Int

    public let id: Int
    public let className: String
    /// Seconds since run start. A later session turn's is set when it becomes due (its previous
    /// turn's end plus the think time; `ArrivalSchedule`).
    public internal(set) var arrivalS: Double
    /// Multi-turn sessions: the session and turn, nil otherwise.
    public var session: SessionTurn?
    public let promptTokens: Int
    public let slo: SLO
    public let prefixGroup: Int?
    public let prefixTokens: Int?
    /// How many leading tokens the prefix cache keeps for the group once this request's prefill
    /// has computed them, when more than `prefixTokens` (the part it may reuse): a request that
    /// extends its group's prefix (a session's next turn) leaves the longer prefix behind.
    public var prefixRegisterTokens: Int?

    /// Token ids, for backends that run a real model (nil on the simulated GPU).
    public var tokens: RequestTokens?

    public internal(set) var finishReason: FinishReason?
    public internal(set) var rejectReason: String?
    public internal(set) var preemptions = 0
    public internal(set) var firstScheduledS: Double?
    public internal(set) var doneS: Double?

    /// Free for policies: a cached priority key and the sequence number of its last update.
    public var policyKey: Double = 0
    public var policyStamp: Int = 0
    /// Admission order (monotonic); "newest" for preemption means the largest value.
    public internal(set) var admissionSeq = 0

    public init(id: Int, className: String, arrivalS: Double, promptTokens: Int, maxOutputTokens: Int, slo: SLO,
                prefixGroup: Int? = nil, prefixTokens: Int? = nil) {
        self.id = id
        self.className = className
        self.arrivalS = arrivalS
        self.promptTokens = promptTokens
        self.maxOutputTokens = maxOutputTokens
        self.slo = slo
        self.prefixGroup = prefixGroup
        self.prefixTokens = prefixTokens
        prefillTarget = promptTokens
        // Every token time has its place from the start: no regrowth while decoding.
        tokenTimes.reserveCapacity(min(maxOutputTokens, 1 << 16))
    }

    public convenience init(_ w: WorkloadRequest) {
        self.init(id: w.id, className: w.className, arrivalS: w.arrivalS, promptTokens: w.promptTokens,
                  maxOutputTokens: w.outputTokens, slo: w.slo, prefixGroup: w.prefixGroup, prefixTokens: w.prefixTokens)
        session = w.session
    }

    /// A released session turn: due at `dueS`, not at its nominal arrival.
    public func setDue(_ dueS: Double) { arrivalS = dueS }

    public var remainingPrefill: Int { prefillTarget - numComputedTokens }
    public var isFinished: Bool { phase == .finished }
    /// Offline work: a JCT SLO and no per-token latency SLO.
    public var isOffline: Bool { slo.jctS != nil && slo.ttftMs == nil && slo.tbtMs == nil }
    /// Total tokens the request will hold in KV at its end.
    public var peakTokens: Int { promptTokens + maxOutputTokens }

    /// True when a deadline has passed at `now` without the token it was for, so the request can
    /// no longer meet its SLOs (checked as `SLOVerdict` judges them: TTFT, the largest gap, JCT).
    public func hasMissedSLO(now: Double) -> Bool {
        let eps = 5e-7
        if let j = slo.jctS, now - arrivalS > j + eps { return true }
        if let last = lastTokenS {
            if let g = slo.tbtMs, numOutputTokens < maxOutputTokens, now - last > g / 1000 + eps { return true }
        } else if let t = slo.ttftMs, now - arrivalS > t / 1000 + eps {
            return true
        }
        return false
    }

    /// True when the request can no longer meet its SLOs at `now`: a deadline has passed
    /// without its token (`hasMissedSLO`), or a token already came late (the first after the
    /// TTFT, a gap over the TBT: the verdict's default max-gap rule).
    public func hasLostSLO(now: Double) -> Bool {
        if hasMissedSLO(now: now) { return true }
        let eps = 5e-7
        if let t = slo.ttftMs, let first = tokenTimes.first, first - arrivalS > t / 1000 + eps { return true }
        if let g = slo.tbtMs, maxTokenGapS > g / 1000 + eps { return true }
        return false
    }

    /// The run record for this request (in-process engine: sent = intended = arrival).
    public func record() -> RequestRecord {
        let ok = finishReason == .completed
        var r = RequestRecord(id: id, className: className, intendedS: arrivalS, sentS: arrivalS,
                              firstTokenS: tokenTimes.first, tokenTimesS: tokenTimes, doneS: doneS,
                              status: ok ? "ok" : (finishReason?.recordStatus ?? "aborted"), error: rejectReason,
                              promptTokens: promptTokens, outputTokens: numOutputTokens, tokenCountSource: .engine,
                              slo: slo, metSLO: false)
        r.session = session?.id
        r.turn = session?.turn
        r.metSLO = r.metSLOAsStored
        return r
    }
}
