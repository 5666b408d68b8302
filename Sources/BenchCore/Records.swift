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
    /// "ok", or an error kind such as "http_500", "timeout", "connection", "aborted", "rejected".
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

    public func write(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.int(id)
        w.key("class"); w.string(className)
        w.key("intended_s"); w.fixed(intendedS, decimals: 6)
        w.key("sent_s"); w.optionalFixed(sentS, decimals: 6)
        w.key("first_token_s"); w.optionalFixed(firstTokenS, decimals: 6)
        w.key("token_times_s"); w.fixedArray(tokenTimesS, decimals: 6)
        w.key("done_s"); w.optionalFixed(doneS, decimals: 6)
        w.key("status"); w.string(status)
        if let error { w.key("error"); w.string(error) }
        w.key("prompt_tokens"); w.int(promptTokens)
        w.key("output_tokens"); w.int(outputTokens)
        w.key("token_count_source"); w.string(tokenCountSource.rawValue)
        w.key("slo"); slo.write(to: &w)
        w.key("met_slo"); w.bool(metSLO)
        if let queuedS { w.key("queued_s"); w.fixed(queuedS, decimals: 6) }
        w.endObject()
    }

    public static func read(_ value: JSONValue, file: String, line: Int) throws(BenchError) -> RequestRecord {
        var f = try JSONFields(value, file: file, line: line)
        let id = try f.int("id")
        let cls = try f.string("class")
        let intended = try f.double("intended_s")
        let sent = try f.optionalDouble("sent_s")
        let first = try f.optionalDouble("first_token_s")
        let times = try f.optionalDoubleArray("token_times_s") ?? []
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
        try f.finish()
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
        if let (name, t) = record.outOfRangeTime { throw f.error(name, "time \(t) s is out of range") }
        return record
    }

    /// The record as it reads back from `requests.jsonl` (times at microsecond precision), so
    /// metrics computed during a run equal those recomputed from the file.
    public func quantized() -> RequestRecord {
        func q(_ x: Double, _ scale: Double) -> Double { x.isFinite ? (x * scale).rounded() / scale : x }
        var r = self
        r.intendedS = q(intendedS, 1e6)
        r.sentS = sentS.map { q($0, 1e6) }
        r.firstTokenS = firstTokenS.map { q($0, 1e6) }
        r.doneS = doneS.map { q($0, 1e6) }
        r.queuedS = queuedS.map { q($0, 1e6) }
        r.tokenTimesS = tokenTimesS.map { q($0, 1e6) }
        r.slo = SLO(ttftMs: slo.ttftMs.map { q($0, 1e3) }, tbtMs: slo.tbtMs.map { q($0, 1e3) }, jctS: slo.jctS.map { q($0, 1e6) })
        return r
    }

    public var jsonLine: [UInt8] {
        var w = JSONWriter(reservingCapacity: 256 + 10 * tokenTimesS.count)
        write(to: &w)
        w.newline()
        return w.bytes
    }
}
