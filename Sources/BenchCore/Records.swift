/// How a request's output token count was obtained (DESIGN.md: counts carry their provenance).
public enum TokenCountSource: String, Sendable, CaseIterable {
    /// Counted by the bundled engine itself.
    case engine
    /// From the server's `usage` field.
    case serverUsage = "server_usage"
    /// One token per streamed chunk (servers without usage reporting).
    case chunkCount = "chunk_count"
    /// Estimated by the client from the text.
    case clientEstimate = "client_estimate"
    /// Written by a test fixture or benchmark synthesiser.
    case synthetic
}

/// How `requests.jsonl` stores a record's token times. Both read back to the same times.
public enum TokenTimesEncoding: String, Sendable, CaseIterable {
    /// `token_times_s`: seconds since run start, to the microsecond.
    case absolute
    /// `token_deltas_us`: the first token's time in whole microseconds since run start, then
    /// each token's microseconds after the one before. The same values in about half the
    /// bytes, for very large runs (a 1-hour fleet emits hundreds of millions of tokens).
    case delta
}

/// What happened to one request in a run. All times are seconds since run start on a
/// monotonic clock; `intendedS` is the workload's arrival time.
public struct RequestRecord: Sendable, Equatable {
    public var id: Int
    public var className: String
    public var intendedS: Double
    public var sentS: Double?
    public var firstTokenS: Double?
    /// One entry per output token; a chunk carrying k tokens gives k equal entries.
    public var tokenTimesS: [Double]
    public var doneS: Double?
    /// "ok", or an error kind (`RecordStatus.known`, or "http_<code>").
    public var status: String
    public var error: String?
    public var promptTokens: Int
    public var outputTokens: Int
    public var tokenCountSource: TokenCountSource
    public var slo: SLO
    /// Whether the request met its SLO under the default rule (TBT mode `max`). Reports
    /// recompute this when another TBT mode is asked for.
    public var metSLO: Bool
    /// Closed-loop runs (`--max-concurrency`): seconds the request waited in the client for a
    /// free slot after its workload arrival. Its latencies count from when the slot was free
    /// (`intended_s`). nil (and not written) otherwise.
    public var queuedS: Double? = nil
    /// Of `outputTokens`, those a reasoning model streamed as reasoning (`reasoning_content`);
    /// 0 (and not written) for other streams.
    public var reasoningTokens = 0
    /// When the first answer (content) token arrived, for a stream with reasoning tokens (nil
    /// when it had none, or ended before its answer began). Written only with `reasoningTokens`.
    public var firstContentS: Double? = nil
    /// Multi-turn sessions: the session and turn (from the workload request), nil otherwise.
    public var session: Int? = nil
    public var turn: Int? = nil

    public init(id: Int, className: String, intendedS: Double, sentS: Double?, firstTokenS: Double?,
                tokenTimesS: [Double], doneS: Double?, status: String, error: String? = nil,
                promptTokens: Int, outputTokens: Int, tokenCountSource: TokenCountSource, slo: SLO, metSLO: Bool) {
        self.id = id
        self.className = className
        self.intendedS = intendedS
        self.sentS = sentS
        self.firstTokenS = firstTokenS
        self.tokenTimesS = tokenTimesS
        self.doneS = doneS
        self.status = status
        self.error = error
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.tokenCountSource = tokenCountSource
        self.slo = slo
        self.metSLO = metSLO
    }

    /// The largest time magnitude a record read from a file may hold (about 31 years). Larger
    /// ones are corrupt data, and would overflow the metrics path's microsecond histograms.
    public static let maxTimeS = 1e9

    /// The first time field beyond `maxTimeS`, if any (token times ascend, so their first and
    /// last stand for all of them). Readers reject such records.
    public var outOfRangeTime: (field: String, value: Double)? {
        func bad(_ t: Double?) -> Bool { t.map { !($0.magnitude <= RequestRecord.maxTimeS) } ?? false }
        if bad(intendedS) { return ("intended_s", intendedS) }
        if bad(sentS) { return ("sent_s", sentS!) }
        if bad(firstTokenS) { return ("first_token_s", firstTokenS!) }
        if bad(doneS) { return ("done_s", doneS!) }
        if bad(tokenTimesS.first) { return ("token_times_s[0]", tokenTimesS[0]) }
        if bad(tokenTimesS.last) { return ("token_times_s[\(tokenTimesS.count - 1)]", tokenTimesS[tokenTimesS.count - 1]) }
        return nil
    }

    public var isOK: Bool { status == "ok" }

    /// The time of the token that ends this request's TTFT, as its SLO chooses (`slo.ttftOf`):
    /// the first output token of any kind, or the first answer token (the first token when the
    /// stream had no reasoning).
    @inline(__always)
    public var ttftEndS: Double? { ttftEnd(firstTokenTime: tokenTimesS.first) }

    public func write(to w: inout JSONWriter, tokenTimes encoding: TokenTimesEncoding = .absolute) {
        w.beginObject()
        w.key("id"); w.int(id)
        w.key("class"); w.string(className)
        w.key("intended_s"); w.fixed(intendedS, decimals: 6)
        w.key("sent_s"); w.optionalFixed(sentS, decimals: 6)
        w.key("first_token_s"); w.optionalFixed(firstTokenS, decimals: 6)
        if encoding == .delta, JSONWriter.fitsMicros(tokenTimesS) {
            w.key("token_deltas_us"); w.microsDeltaArray(tokenTimesS)
        } else {
            w.key("token_times_s"); w.fixedArray(tokenTimesS, decimals: 6)
        }
        w.key("done_s"); w.optionalFixed(doneS, decimals: 6)
        w.key("status"); w.string(status)
        if let error { w.key("error"); w.string(error) }
        w.key("prompt_tokens"); w.int(promptTokens)
        w.key("output_tokens"); w.int(outputTokens)
        w.key("token_count_source"); w.string(tokenCountSource.rawValue)
        w.key("slo"); slo.write(to: &w)
        w.key("met_slo"); w.bool(metSLO)
        if let queuedS { w.key("queued_s"); w.fixed(queuedS, decimals: 6) }
        if reasoningTokens > 0 {
            w.key("reasoning_tokens"); w.int(reasoningTokens)
            w.key("first_content_s"); w.optionalFixed(firstContentS, decimals: 6)
        }
        if let session, let turn {
            w.key("session"); w.int(session)
            w.key("turn"); w.int(turn)
        }
        w.endObject()
    }

    public static func read(_ value: JSONValue, file: String, line: Int) throws(BenchError) -> RequestRecord {
        var f = try JSONFields(value, file: file, line: line)
        let id = try f.int("id")
        let cls = try f.string("class")
        let intended = try f.double("intended_s")
        let sent = try f.optionalDouble("sent_s")
        let first = try f.optionalDouble("first_token_s")
        var times = try f.optionalDoubleArray("token_times_s") ?? []
        if let deltas = try f.optionalDoubleArray("token_deltas_us") {
            guard !f.has("token_times_s") else {
                throw f.error("token_deltas_us", "a record has token_times_s or token_deltas_us, not both")
            }
            times = try RequestRecord.timesFromDeltas(deltas) { i, message throws(BenchError) in f.error("token_deltas_us[\(i)]", message) }
        }
        let done = try f.optionalDouble("done_s")
        let status = try f.string("status")
        let err = try f.optionalString("error")
        let prompt = try f.int("prompt_tokens")
        let output = try f.int("output_tokens")
        let srcText = try f.string("token_count_source")
        guard let src = TokenCountSource(rawValue: srcText) else {
            throw f.error("token_count_source", "unknown source '\(srcText)'")
        }
        var slo = SLO()
        if var s = try f.optionalObject("slo") { slo = try SLO.read(&s) }
        let met = try f.optionalBool("met_slo") ?? false
        let queued = try f.optionalDouble("queued_s")
        let reasoning = try f.optionalInt("reasoning_tokens") ?? 0
        let firstContent = try f.optionalDouble("first_content_s")
        let session = try f.optionalInt("session")
        let turn = try f.optionalInt("turn")
        try f.finish()
        if (session == nil) != (turn == nil) || (turn ?? 0) < 0 {
            throw f.error(session == nil ? "turn" : "session", "a session's record has both session and turn (≥ 0)")
        }
        guard reasoning >= 0, reasoning <= output else {
            throw f.error("reasoning_tokens", "\(reasoning) is not between 0 and output_tokens (\(output))")
        }
        if firstContent != nil && reasoning == 0 {
            throw f.error("first_content_s", "is only recorded for a stream with reasoning_tokens > 0")
        }
        if status == "ok" {
            guard done != nil else { throw f.error("done_s", "an ok request needs done_s") }
        }
        for i in 1..<max(1, times.count) where times[i] < times[i - 1] {
            throw f.error("token_times_s", "token times go backwards at index \(i)")
        }
        var record = RequestRecord(id: id, className: cls, intendedS: intended, sentS: sent, firstTokenS: first,
                                   tokenTimesS: times, doneS: done, status: status, error: err, promptTokens: prompt,
                                   outputTokens: output, tokenCountSource: src, slo: slo, metSLO: met)
        record.queuedS = queued
        record.reasoningTokens = reasoning
        record.firstContentS = firstContent
        record.session = session
        record.turn = turn
        if let (name, t) = record.outOfRangeTime { throw f.error(name, "time \(t) s is out of range") }
        return record
    }

    /// The record as it reads back from `requests.jsonl` (times at microsecond precision), so
    /// metrics computed during a run equal those recomputed from the file.
    public func quantized() -> RequestRecord {
        let q = RequestRecord.quantize
        var r = self
        r.intendedS = q(intendedS, 1e6)
        r.sentS = sentS.map { q($0, 1e6) }
        r.firstTokenS = firstTokenS.map { q($0, 1e6) }
        r.doneS = doneS.map { q($0, 1e6) }
        r.queuedS = queuedS.map { q($0, 1e6) }
        r.firstContentS = firstContentS.map { q($0, 1e6) }
        r.tokenTimesS = tokenTimesS.map { q($0, 1e6) }
        r.slo.ttftMs = slo.ttftMs.map { q($0, 1e3) }
        r.slo.tbtMs = slo.tbtMs.map { q($0, 1e3) }
        r.slo.jctS = slo.jctS.map { q($0, 1e6) }
        return r
    }

    @inlinable @inline(__always)
    public static func quantize(_ x: Double, _ scale: Double) -> Double { x.isFinite ? JSONWriter.roundHalfAway(x * scale) / scale : x }

    /// `SLOVerdict.evaluate(quantized())` in max mode, the verdict of the record as it reads back
    /// from `requests.jsonl`, without building the quantized copy of its token times.
    public func verdictAsStored() -> SLOVerdict {
        var head = self
        head.tokenTimesS = []
        head = head.quantized()
        let q = RequestRecord.quantize
        let times = tokenTimesS
        let first = head.ttftEnd(firstTokenTime: times.first.map { q($0, 1e6) })
        var stat: Double?
        if times.count >= 2 {
            var m = 0.0
            var prev = q(times[0], 1e6)
            for i in 1..<times.count {
                let t = q(times[i], 1e6)
                m = Swift.max(m, t - prev)
                prev = t
            }
            stat = m
        }
        return SLOVerdict.judge(head, ttftS: first.map { $0 - head.intendedS }, tbtStatS: stat, e2eS: head.doneS.map { $0 - head.intendedS })
    }

    /// `verdictAsStored().met`, faster: the per-token pass runs only when the request has a
    /// TBT SLO, and compares raw gaps, quantizing only when the largest one lies within 3 µs of
    /// the limit (quantizing moves a gap by at most 1 µs).
    public var metSLOAsStored: Bool {
        var head = self
        head.tokenTimesS = []
        head = head.quantized()
        let times = tokenTimesS
        var stat: Double?
        if let tbt = head.slo.tbtMs, times.count >= 2 {
            var m = 0.0
            times.withUnsafeBufferPointer { t in
                for i in 1..<t.count { m = Swift.max(m, t[i] - t[i - 1]) }
            }
            stat = m
            if (m - (tbt / 1000 + 5e-7)).magnitude <= 3e-6 { stat = verdictAsStored().tbtStatS }
        }
        let first = head.ttftEnd(firstTokenTime: times.first.map { RequestRecord.quantize($0, 1e6) })
        return SLOVerdict.judge(head, ttftS: first.map { $0 - head.intendedS }, tbtStatS: stat, e2eS: head.doneS.map { $0 - head.intendedS }).met
    }

    /// `ttftEndS` given the first token time separately (for a record whose token times were set
    /// aside, or are read quantized).
    @inline(__always)
    public func ttftEnd(firstTokenTime: Double?) -> Double? {
        if slo.ttftOf == .content && reasoningTokens > 0 { return firstContentS }
        return firstTokenS ?? firstTokenTime
    }

    public var jsonLine: [UInt8] { jsonLine(tokenTimes: .absolute) }

    public func jsonLine(tokenTimes encoding: TokenTimesEncoding) -> [UInt8] {
        var w = JSONWriter(reservingCapacity: 256 + (encoding == .delta ? 7 : 12) * tokenTimesS.count)
        write(to: &w, tokenTimes: encoding)
        w.newline()
        return w.bytes
    }

    /// Token times from `token_deltas_us` (whole microseconds: the first since run start, the
    /// rest since the previous token), exactly as `token_times_s` of the same times reads.
    static func timesFromDeltas(_ deltas: [Double], error: (Int, String) throws(BenchError) -> BenchError) throws(BenchError) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(deltas.count)
        var us: Int64 = 0
        for (i, d) in deltas.enumerated() {
            guard d == d.rounded(), d.magnitude < 9e15 else { throw try error(i, "expected a whole number of microseconds, got \(d)") }
            if i > 0 && d < 0 { throw try error(i, "token times go backwards (a negative delta)") }
            us += Int64(d)
            guard us.magnitude < 9_000_000_000_000_000 else { throw try error(i, "time out of range") }
            out.append(Double(us) / 1e6)
        }
        return out
    }
}
