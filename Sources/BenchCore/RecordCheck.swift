/// The statuses a record may carry: `ok`, the engine's and fleet's failures, the load
/// generator's fault kinds (docs/endpoints.md), and `http_<3 digits>`. Readers refuse others, so
/// a typo or a foreign file does not slip into the failure counts as a kind of its own.
public enum RecordStatus {
    public static let known: Set<String> = [
        "ok", "failed", "rejected", "aborted", "dropped", "client_error", "connection", "disconnected", "transport",
        "timeout_connect", "timeout_first_token", "timeout_idle", "timeout_total",
        "malformed_stream", "malformed_response", "oversized_event", "oversized_response", "unsupported_encoding",
        "server_error", "incomplete_stream",
    ]

    public static func isKnown(_ status: String) -> Bool {
        if known.contains(status) { return true }
        let u = Array(status.utf8)
        return u.count == 8 && status.hasPrefix("http_") && u[5...].allSatisfy { $0 >= 0x30 && $0 <= 0x39 }
    }
}

extension RequestRecord {
    /// How far apart two times that should be equal or ordered may be (10 µs, our choice: files
    /// keep microseconds, and the delta encoding rounds each token to its own microsecond).
    public static let timeTolerance = 1e-5

    /// The first way this record contradicts itself or its run, as the field and what is wrong;
    /// nil when it is consistent. `classes` are the run's workload classes (nil: not known).
    /// Token counts must match the token times when the count came from the tokens themselves
    /// (`engine`, `chunk_count`); a server's usage or a client estimate may differ.
    public func consistencyProblem(classes: Set<String>?) -> (field: String, message: String)? {
        if !RecordStatus.isKnown(status) { return ("status", "unknown status '\(status)'") }
        if let classes, !classes.contains(className) { return ("class", "'\(className)' is not a class of the run's workload") }
        if promptTokens < 0 { return ("prompt_tokens", "negative (\(promptTokens))") }
        if outputTokens < 0 { return ("output_tokens", "negative (\(outputTokens))") }
        if isOK && doneS == nil { return ("done_s", "missing on an ok record") }
        return timeOrderProblem() ?? tokenCountProblem()
    }

    /// Every instant comes at or after the intended send, tokens ascend, and the request is done
    /// after its last token.
    func timeOrderProblem() -> (field: String, message: String)? {
        let tol = RequestRecord.timeTolerance
        let floor = intendedS - tol
        func before(_ t: Double) -> String { "\(t) is before intended_s (\(intendedS))" }
        if let s = sentS, s < floor { return ("sent_s", before(s)) }
        if let f = firstTokenS, f < floor { return ("first_token_s", before(f)) }
        if let d = doneS, d < floor { return ("done_s", before(d)) }
        if let d = doneS, d < 0 { return ("done_s", "negative (\(d))") }
        var previous = floor
        for (i, t) in tokenTimesS.enumerated() {
            if t < previous - (i == 0 ? 0 : tol) {
                return ("token_times_s[\(i)]", i == 0 ? before(t) : "\(t) is before the token before it (\(previous))")
            }
            previous = max(previous, t)
        }
        if let first = tokenTimesS.first {
            guard let f = firstTokenS, (f - first).magnitude <= tol else {
                return ("first_token_s", "\(firstTokenS.map { "\($0)" } ?? "null") is not the first token's time (\(first))")
            }
            if let d = doneS, d < previous - tol { return ("done_s", "\(d) is before the last token (\(previous))") }
        }
        if let c = firstContentS {
            if let f = firstTokenS, c < f - tol { return ("first_content_s", "\(c) is before first_token_s (\(f))") }
            if let d = doneS, c > d + tol { return ("first_content_s", "\(c) is after done_s (\(d))") }
        }
        return nil
    }

    func tokenCountProblem() -> (field: String, message: String)? {
        guard tokenCountSource == .engine || tokenCountSource == .chunkCount, outputTokens != tokenTimesS.count else { return nil }
        return ("output_tokens", "\(outputTokens), but the record has \(tokenTimesS.count) token times (token_count_source \(tokenCountSource.rawValue))")
    }
}
